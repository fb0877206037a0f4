"""Taleweaver's proxy benchmark: the real server (gunicorn, as ./run.sh starts it) and a fast
fake upstream, measured side by side on loopback. A benchmark, not a test: it reports figures
against targets and fails only when it cannot measure.

    .venv/bin/python bench/run.py           # full run, about 3 minutes: results/latest.*
    .venv/bin/python bench/run.py --quick   # smoke run, about 1 minute: results/quick.*

See bench/README.md for what each figure means.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from clients import (  # noqa: E402
    KeepAlive,
    OtherLoad,
    RequestsClient,
    Urllib3Client,
    RssSampler,
    ServerProbe,
    fetch,
    iter_body,
    now_ns,
    parse_stream_line,
    raw_request,
    read_head,
    sent_ns_of,
    summary,
)
from tests.support import TaleweaverServer  # noqa: E402

import report  # noqa: E402

PROXY_CHAT = "/proxy/llm/v1/chat/completions"
PROXY_MODELS = "/proxy/llm/v1/models"
STATUS = "/api/settings/llm/status"
HEALTH = "/api/health"
MODEL = "bench-model"
MESSAGES = [
    {"role": "system", "content": "You are a storyteller."},
    {"role": "user", "content": "Tell a short story about a fox who weaves."},
]
# The gunicorn settings the tests pin; ./run.sh leaves them to backend/gunicorn.conf.py.
TEST_ONLY_ENV = ("TALEWEAVER_WORKERS", "TALEWEAVER_THREADS", "TALEWEAVER_LOG_LEVEL",
                 "TALEWEAVER_ACCESS_LOG", "TALEWEAVER_WSL_FALLBACK")

FULL = {
    "latency_requests": 2000, "latency_warmup": 200, "latency_max_seconds": 150,
    "ttft_samples": 50, "stream_chunks": 500, "stream_interval_ms": 5.0,
    "concurrency": (50, 100, 200), "concurrent_chunks": 100, "concurrent_interval_ms": 20.0,
    "throughput_clients": (1, 8, 32), "throughput_seconds": 4.0,
    "big_stream_bytes": 10 * 1024 * 1024,
}
QUICK = {
    **FULL,
    "latency_requests": 300, "latency_warmup": 50, "ttft_samples": 10, "stream_chunks": 100,
    "concurrent_chunks": 25, "throughput_seconds": 1.0,
}
TARGETS = {
    "added_p50_ms": 1.0, "added_p99_ms": 5.0, "chunk_delay_p99_ms": 2.0,
    "streams": 200, "streams_rss_mb": 300.0, "models_rps": 1500.0,
    "big_stream_growth_mb": 5.0, "spec_100_models_s": 5.0,
}


def chat_body(backend: str, *, direct: bool, stream: bool, script: dict | None = None) -> bytes:
    """A chat request, to the proxy (OpenAI format) or straight to the upstream in its format."""
    messages = MESSAGES if script is None else [*MESSAGES[:1], {"role": "user", "content": json.dumps(script)}]
    if direct and backend == "ollama":
        return json.dumps({"model": MODEL, "messages": messages, "stream": stream,
                           "options": {"num_predict": 64, "temperature": 0.8}}).encode()
    return json.dumps({"model": MODEL, "messages": messages, "stream": stream,
                       "max_tokens": 64, "temperature": 0.8}).encode()


def direct_chat_path(backend: str) -> str:
    return "/api/chat" if backend == "ollama" else "/v1/chat/completions"


class Upstream:
    """bench/upstream.py in a process of its own, so it never shares the client's GIL."""

    def __enter__(self) -> "Upstream":
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH / "upstream.py"), "--port", "0"],
            stdout=subprocess.PIPE, text=True,
        )
        self.port = json.loads(self.process.stdout.readline())["port"]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_server() -> TaleweaverServer:
    """The real server with ./run.sh's gunicorn settings, on a free port with its own database."""
    server = TaleweaverServer()
    for name in TEST_ONLY_ENV:
        server.env.pop(name, None)
    return server.start()


class Bench:
    """The measurements, one method per phase, against one server and one upstream."""

    def __init__(self, server: TaleweaverServer, upstream: Upstream, settings: dict):
        self.server = server
        self.upstream = upstream
        self.settings = settings
        self.probe = ServerProbe(server.process.pid)
        self.results: dict = {}
        self.samples: dict = {}  # raw samples for the plot only

    def configure(self, backend: str) -> None:
        self.server.configure(backend, {"url": self.upstream.url}, MODEL)

    # -- non-streamed latency -----------------------------------------------------------
    def latency(self, backend: str) -> dict:
        """Direct, proxied and reference arms, interleaved in rotating order to cancel drift.

        The references say where the proxy's time goes: an empty Flask endpoint is the price of
        gunicorn and Flask alone, and the upstream called through requests and through urllib3
        (from this process) is the price of the HTTP client library the proxy uses.
        """
        s = self.settings
        upstream, proxy = KeepAlive(self.upstream.port), KeepAlive(self.server.port)
        library_clients = [RequestsClient(self.upstream.port), Urllib3Client(self.upstream.port)]
        direct_path, direct_body = direct_chat_path(backend), chat_body(backend, direct=True, stream=False)
        arms = {
            "direct": (upstream, "POST", direct_path, direct_body),
            "proxied": (proxy, "POST", PROXY_CHAT, chat_body(backend, direct=False, stream=False)),
            "empty_endpoint": (proxy, "GET", HEALTH, None),
            "direct_requests": (library_clients[0], "POST", direct_path, direct_body),
            "direct_urllib3": (library_clients[1], "POST", direct_path, direct_body),
        }
        names = list(arms)
        times: dict[str, list[float]] = {name: [] for name in names}
        deadline = time.monotonic() + s["latency_max_seconds"]
        for i in range(s["latency_warmup"] + s["latency_requests"]):
            if time.monotonic() > deadline:
                break
            for name in names[i % len(names):] + names[: i % len(names)]:
                client, method, path, body = arms[name]
                started = time.perf_counter_ns()
                status, data = client.request(method, path, body)
                elapsed_ms = (time.perf_counter_ns() - started) / 1e6
                if status != 200:
                    raise RuntimeError(f"{method} {path} answered {status}: {data[:300]!r}")
                if i >= s["latency_warmup"]:
                    times[name].append(elapsed_ms)
        for client in (upstream, proxy, *library_clients):
            client.close()
        self.samples[f"latency_{backend}"] = times
        stats = {name: summary(values) for name, values in times.items()}
        added = {q: stats["proxied"][q] - stats["direct"][q] for q in ("p50", "p90", "p99", "max")}
        return {**stats, "added_ms": added}

    # -- streaming: time to first token and per-chunk delay --------------------------------
    def _stream(self, client: KeepAlive, path: str, body: bytes) -> tuple[int, list[tuple[int, bytes]]]:
        started = now_ns()
        return started, list(client.stream(path, body))

    @staticmethod
    def _stamps(lines: list[tuple[int, bytes]]) -> tuple[list[float], bool, str | None]:
        """Per-chunk delays (ms), whether the stream ended properly, and an error event if any."""
        delays, finished, error = [], False, None
        for arrived, line in lines:
            event = parse_stream_line(line)
            if event == "[DONE]" or (isinstance(event, dict) and event.get("done") is True):
                finished = True
            elif isinstance(event, dict):
                if "error" in event:
                    error = json.dumps(event["error"])[:300]
                sent = sent_ns_of(event)
                if sent is not None:
                    delays.append((arrived - sent) / 1e6)
        return delays, finished, error

    def streaming(self, backend: str) -> dict:
        s = self.settings
        upstream, proxy = KeepAlive(self.upstream.port), KeepAlive(self.server.port)
        routes = {
            "direct": (upstream, direct_chat_path(backend), True),
            "proxied": (proxy, PROXY_CHAT, False),
        }
        first_token: dict[str, list[float]] = {name: [] for name in routes}
        short = {"chunks": 5, "interval_ms": 0, "chunk_bytes": 16}
        for i in range(s["ttft_samples"] + 3):  # the first three warm up
            for name in (list(routes) if i % 2 == 0 else list(routes)[::-1]):
                client, path, direct = routes[name]
                body = chat_body(backend, direct=direct, stream=True, script=short)
                started, lines = self._stream(client, path, body)
                first = next((arrived for arrived, line in lines
                              if isinstance(event := parse_stream_line(line), dict) and sent_ns_of(event)), None)
                if first is None:
                    raise RuntimeError(f"{name} stream of {backend} carried no content: {lines[:3]!r}")
                if i >= 3:
                    first_token[name].append((first - started) / 1e6)
        long = {"chunks": s["stream_chunks"], "interval_ms": s["stream_interval_ms"], "chunk_bytes": 16}
        chunk_delay, received = {}, {}
        for name, (client, path, direct) in routes.items():
            _, lines = self._stream(client, path, chat_body(backend, direct=direct, stream=True, script=long))
            delays, finished, error = self._stamps(lines)
            if error or not finished or len(delays) != s["stream_chunks"]:
                raise RuntimeError(f"{name} {backend} stream: {len(delays)} of {s['stream_chunks']} chunks, "
                                   f"finished={finished}, error={error}")
            chunk_delay[name] = delays
            received[name] = len(delays)
        upstream.close()
        proxy.close()
        self.samples[f"chunk_delay_{backend}"] = chunk_delay
        ttft = {name: summary(values) for name, values in first_token.items()}
        delay = {name: summary(values) for name, values in chunk_delay.items()}
        return {
            "first_token_ms": {
                **ttft, "added_ms": {q: ttft["proxied"][q] - ttft["direct"][q] for q in ("p50", "p90", "max")},
            },
            "chunk_delay_ms": delay,
            "chunks": s["stream_chunks"],
            "interval_ms": s["stream_interval_ms"],
        }

    # -- concurrent streams -------------------------------------------------------------
    @staticmethod
    async def _one_stream(port: int, request: bytes, chunks: int) -> dict:
        started = time.monotonic()
        delays, content, finished, error = [], 0, False, None
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            status, headers = await read_head(reader)
            if status != 200:
                error = f"HTTP {status}"
            else:
                buffer = b""
                async for piece in iter_body(reader, headers):
                    arrived = now_ns()
                    *lines, buffer = (buffer + piece).split(b"\n")
                    for line in lines:
                        event = parse_stream_line(line)
                        if event == "[DONE]":
                            finished = True
                        elif isinstance(event, dict):
                            if "error" in event:
                                error = json.dumps(event["error"])[:200]
                            sent = sent_ns_of(event)
                            if sent is not None:
                                content += 1
                                delays.append((arrived - sent) / 1e6)
        except Exception as exc:  # noqa: BLE001 - every way a stream fails is counted
            error = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            if writer is not None:
                writer.close()
        ok = finished and content == chunks and error is None
        if not ok and error is None:
            error = f"incomplete: {content} of {chunks} chunks, finished={finished}"
        return {"ok": ok, "error": error, "seconds": time.monotonic() - started, "delays": delays}

    async def _streams(self, port: int, request: bytes, count: int, chunks: int, limit: float) -> list[dict]:
        tasks = [asyncio.create_task(self._one_stream(port, request, chunks)) for _ in range(count)]
        done, pending = await asyncio.wait(tasks, timeout=limit)
        for task in pending:
            task.cancel()
        return [task.result() for task in done] + [
            {"ok": False, "error": f"not finished within {limit:.0f} s", "seconds": limit, "delays": []}
            for _ in pending
        ]

    @staticmethod
    def _tally(outcomes: list[dict]) -> dict:
        errors: dict[str, int] = {}
        for outcome in outcomes:
            if outcome["error"]:
                errors[outcome["error"]] = errors.get(outcome["error"], 0) + 1
        return {
            "completed": sum(outcome["ok"] for outcome in outcomes),
            "failed": sum(not outcome["ok"] for outcome in outcomes),
            "errors": dict(sorted(errors.items(), key=lambda item: -item[1])[:5]),
            "stream_seconds": summary([outcome["seconds"] for outcome in outcomes]),
            "chunk_delay_ms": summary([d for outcome in outcomes for d in outcome["delays"]]),
        }

    def concurrency(self) -> dict:
        """N streams opened at once through the proxy, and the same N straight to the upstream.

        The direct run is the control: it shows what this client and upstream manage alone on
        the same cores, so a delay seen only through the proxy is the proxy's.
        """
        s = self.settings
        chunks, interval = s["concurrent_chunks"], s["concurrent_interval_ms"]
        body = chat_body("lmstudio", direct=False, stream=True,
                         script={"chunks": chunks, "interval_ms": interval, "chunk_bytes": 16})
        proxied = raw_request("POST", PROXY_CHAT, self.server.port, body)
        direct = raw_request("POST", "/v1/chat/completions", self.upstream.port, body)
        limit = chunks * interval / 1000 + 60
        levels = {}
        for count in s["concurrency"]:
            cpu_before = self.probe.cpu_seconds()
            with RssSampler(self.probe) as sampler:
                outcomes = asyncio.run(self._streams(self.server.port, proxied, count, chunks, limit))
            level = {"streams": count, **self._tally(outcomes), "server_rss_mb": sampler.report(),
                     "server_cpu_seconds": self.probe.cpu_seconds() - cpu_before}
            self.samples[f"rss_streams_{count}"] = sampler.samples
            time.sleep(0.5)
            control = self._tally(asyncio.run(self._streams(self.upstream.port, direct, count, chunks, limit)))
            level["direct"] = {key: control[key] for key in ("completed", "failed", "stream_seconds", "chunk_delay_ms")}
            levels[str(count)] = level
            time.sleep(0.5)
        return {"chunks_per_stream": chunks, "interval_ms": interval, "levels": levels}

    # -- throughput ---------------------------------------------------------------------
    @staticmethod
    async def _hammer(port: int, request: bytes, clients: int, seconds: float) -> tuple[int, int]:
        ok = failed = 0
        deadline = time.monotonic() + seconds

        async def client() -> None:
            nonlocal ok, failed
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                while time.monotonic() < deadline:
                    status, _, headers = await fetch(reader, writer, request)
                    if status == 200:
                        ok += 1
                    else:
                        failed += 1
                    if headers.get("connection", "").lower() == "close":
                        writer.close()
                        reader, writer = await asyncio.open_connection("127.0.0.1", port)
            finally:
                writer.close()

        await asyncio.gather(*(client() for _ in range(clients)))
        return ok, failed

    def throughput(self) -> dict:
        """Requests per second of N keep-alive clients, with the server's CPU time per request."""
        s = self.settings
        endpoints = {
            "proxy_chat": (self.server.port, PROXY_CHAT),
            "proxy_models": (self.server.port, PROXY_MODELS),
            "settings_status": (self.server.port, STATUS),
            "empty_endpoint": (self.server.port, HEALTH),
            "upstream_direct": (self.upstream.port, "/v1/models"),
        }
        table: dict = {}
        chat = chat_body("lmstudio", direct=False, stream=False)
        for name, (port, path) in endpoints.items():
            request = raw_request("POST", path, port, chat) if path == PROXY_CHAT else raw_request("GET", path, port)
            table[name] = {}
            for clients in s["throughput_clients"]:
                asyncio.run(self._hammer(port, request, clients, 0.3))  # warm-up: caches, connections
                server_cpu, client_cpu = self.probe.cpu_seconds(), time.process_time()
                started = time.monotonic()
                ok, failed = asyncio.run(self._hammer(port, request, clients, s["throughput_seconds"]))
                elapsed = time.monotonic() - started
                server_cpu = self.probe.cpu_seconds() - server_cpu
                client_cpu = time.process_time() - client_cpu
                table[name][str(clients)] = {
                    "requests_per_second": ok / elapsed,
                    "requests": ok,
                    "failed": failed,
                    # the upstream is not the server: its row shows the client's own ceiling
                    "server_cpu_us_per_request": server_cpu / ok * 1e6 if ok and port == self.server.port else None,
                    "client_cpu_us_per_request": client_cpu / ok * 1e6 if ok else None,
                }
        return {"seconds": s["throughput_seconds"], "endpoints": table}

    # -- one large answer ---------------------------------------------------------------
    def _big_answer(self, backend: str, stream: bool) -> tuple[dict, list, float, int]:
        """Server RSS while one ~10 MB answer passes through, read as fast as it comes."""
        chunk_bytes = 1024
        chunks = self.settings["big_stream_bytes"] // chunk_bytes
        body = chat_body(backend, direct=False, stream=stream,
                         script={"chunks": chunks, "interval_ms": 0, "chunk_bytes": chunk_bytes})
        client = KeepAlive(self.server.port, timeout=120)
        total, tail = 0, b""
        with RssSampler(self.probe) as sampler:
            time.sleep(0.3)
            started = time.monotonic()
            client.conn.request("POST", PROXY_CHAT, body=body, headers={"Content-Type": "application/json"})
            response = client.conn.getresponse()
            while piece := response.read1(65536):
                total += len(piece)
                tail = (tail + piece)[-64:]
            elapsed = time.monotonic() - started
            time.sleep(0.5)
        client.close()
        ended = tail.endswith(b"data: [DONE]\n\n") if stream else tail.rstrip().endswith(b"}")
        if response.status != 200 or not ended or b'"error"' in tail or total < chunks * chunk_bytes:
            raise RuntimeError(f"10 MB answer failed: HTTP {response.status}, {total} bytes, ended with {tail!r}")
        return sampler.report(), sampler.samples, elapsed, total

    def big_stream(self, backend: str) -> dict:
        """One ~10 MB streamed answer; for LM Studio also the same answer non-streamed, which the
        proxy must hold whole: the rise that shows is what buffering would look like."""
        rss, samples, elapsed, total = self._big_answer(backend, stream=True)
        self.samples[f"rss_big_{backend}"] = samples
        result = {"received_bytes": total, "seconds": elapsed, "mb_per_second": total / elapsed / 1e6,
                  "server_rss_mb": rss}
        if backend == "lmstudio":
            rss, samples, _, _ = self._big_answer(backend, stream=False)
            result["non_streamed_reference_rss_mb"] = rss
            self.samples[f"rss_big_{backend}_non_streamed"] = samples
        return result

    # -- the spec's §6.8 performance test -----------------------------------------------
    def spec_models_100(self) -> dict:
        """100 sequential GET /proxy/llm/v1/models, each a plain requests.get as in the spec."""
        url = self.server.url + PROXY_MODELS
        started = time.perf_counter()
        for _ in range(100):
            response = requests.get(url, timeout=10)
            if response.status_code != 200:
                raise RuntimeError(f"GET {PROXY_MODELS} answered {response.status_code}")
        return {"requests": 100, "seconds": time.perf_counter() - started}

    def run(self, name: str, phase, *args) -> None:
        label = name if not args else f"{name}[{','.join(args)}]"
        print(f"==> {label}", flush=True)
        started = time.monotonic()
        try:
            result = phase(*args)
        except Exception as exc:  # noqa: BLE001 - one failed phase must not lose the others
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result["phase_seconds"] = round(time.monotonic() - started, 1)
        target = self.results.setdefault(name, {})
        if args:
            target[args[0]] = result
        else:
            self.results[name] = result


def git_revision() -> str:
    try:
        revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                  text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "backend", ":!backend/tests"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return revision + (" (backend/ has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    import psutil

    versions = {}
    for package in ("gunicorn", "flask", "werkzeug", "requests", "urllib3"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "revision": git_revision(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark Taleweaver's LLM proxy on loopback.")
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run; writes results/quick.*")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    name = "quick" if args.quick else "latest"
    started = time.monotonic()
    info = machine()
    if info["load_average_at_start"][0] > 0.5:
        print(f"warning: load average {info['load_average_at_start'][0]}: other work is running, "
              "the figures will be noisy", flush=True)
    other_load = OtherLoad()
    with Upstream() as upstream:
        server = start_server()
        try:
            bench = Bench(server, upstream, settings)
            # The 10 MB streams come before the concurrent ones: those grow the workers' heaps,
            # and a heap with room to spare would hide a buffered answer.
            for backend in ("lmstudio", "ollama"):
                bench.configure(backend)
                bench.run("latency", bench.latency, backend)
                bench.run("streaming", bench.streaming, backend)
                bench.run("big_stream", bench.big_stream, backend)
            bench.configure("lmstudio")
            bench.run("spec_6_8", bench.spec_models_100)
            bench.run("concurrency", bench.concurrency)
            bench.run("throughput", bench.throughput)
            info["during_run"] = other_load.report()
        finally:
            server.close()
    results = {
        "run": {"mode": name, "seconds": round(time.monotonic() - started, 1), "settings": settings},
        "machine": info,
        **bench.results,
    }
    results["targets"] = report.evaluate(results, TARGETS)
    report.write(results, bench.samples, BENCH / "results", name, readme=not args.quick)
    failed_phases = [key for key, value in bench.results.items()
                     if "error" in value or any(isinstance(v, dict) and "error" in v for v in value.values())]
    return 1 if failed_phases else 0


if __name__ == "__main__":
    sys.exit(main())
