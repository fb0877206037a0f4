"""Clients, clocks and statistics for the benchmark: keep-alive HTTP/1.1, sync and asyncio."""
from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time

import psutil
import requests
import urllib3


def now_ns() -> int:
    """CLOCK_MONOTONIC, the clock the fake upstream stamps its chunks with."""
    return time.monotonic_ns()


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of sorted values, linearly interpolated as numpy does."""
    if not sorted_values:
        return float("nan")
    position = (len(sorted_values) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def summary(values_ms: list[float]) -> dict:
    """p50/p90/p99/max/mean of a sample, in the sample's unit (milliseconds here)."""
    ordered = sorted(values_ms)
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p99": percentile(ordered, 99),
        "max": ordered[-1] if ordered else float("nan"),
        "mean": sum(ordered) / len(ordered) if ordered else float("nan"),
    }


def sent_ns_of(event: dict) -> int | None:
    """The upstream's send time carried by a chunk (OpenAI SSE or Ollama NDJSON, chat or text
    completion), if any."""
    if "x_sent_ns" in event:
        return event["x_sent_ns"]
    message = event.get("message")
    if isinstance(message, dict):
        content = message.get("content")
    elif "response" in event:
        content = event.get("response")
    else:
        choice = (event.get("choices") or [{}])[0]
        content = (choice.get("delta") or {}).get("content") or choice.get("text")
    if content and ";" in content:
        stamp = content.split(";", 1)[0]
        if stamp.isdigit():
            return int(stamp)
    return None


def parse_stream_line(line: bytes) -> dict | str | None:
    """One SSE ``data:`` line or NDJSON line as JSON, ``"[DONE]"``, or None for framing."""
    line = line.strip()
    if line.startswith(b"data:"):
        line = line[5:].strip()
        if line == b"[DONE]":
            return "[DONE]"
    if not line.startswith(b"{"):
        return None
    return json.loads(line)


def stream_stamps(lines: list[tuple[int, bytes]]) -> tuple[list[float], bool, str | None]:
    """Per-chunk delays (ms) of a stream's (arrival ns, line)s, whether it ended properly, and an
    error event if any."""
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


def interleaved_round_trips(arms: dict, settings: dict) -> dict[str, list[float]]:
    """Round-trip times (ms) of each arm, `(client, method, path, body)`, after a warm-up: one
    request of every arm a round, in an order that rotates each round, so that drift hits all alike."""
    names = list(arms)
    times: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.monotonic() + settings["latency_max_seconds"]
    for i in range(settings["latency_warmup"] + settings["latency_requests"]):
        if time.monotonic() > deadline:
            break
        for name in names[i % len(names):] + names[: i % len(names)]:
            client, method, path, body = arms[name]
            started = time.perf_counter_ns()
            status, data = client.request(method, path, body)
            elapsed_ms = (time.perf_counter_ns() - started) / 1e6
            if status != 200:
                raise RuntimeError(f"{name}: {method} {path} answered {status}: {data[:300]!r}")
            if i >= settings["latency_warmup"]:
                times[name].append(elapsed_ms)
    return times


def first_content_ns(lines: list[tuple[int, bytes]], label: str) -> int:
    """When the first chunk that carries content arrived (ns)."""
    arrived = next((at for at, line in lines
                    if isinstance(event := parse_stream_line(line), dict) and sent_ns_of(event)), None)
    if arrived is None:
        raise RuntimeError(f"{label} stream carried no content: {lines[:3]!r}")
    return arrived


def chunk_delays(lines: list[tuple[int, bytes]], chunks: int, label: str) -> list[float]:
    """Per-chunk delays (ms) of a stream that must carry `chunks` content chunks and end properly."""
    delays, finished, error = stream_stamps(lines)
    if error or not finished or len(delays) != chunks:
        raise RuntimeError(f"{label} stream: {len(delays)} of {chunks} chunks, finished={finished}, error={error}")
    return delays


class KeepAlive:
    """One keep-alive HTTP/1.1 connection (http.client): the lightest sequential client."""

    def __init__(self, port: int, timeout: float = 30):
        self.port = port
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def stream(self, path: str, body: bytes):
        """(arrival ns, line) for each non-empty line of a streamed answer, as it arrives."""
        self.conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"POST {path} answered {response.status}: {response.read()[:300]!r}")
        while True:
            line = response.readline()
            if not line:
                return
            arrived = now_ns()
            if line.strip():
                yield arrived, line

    def close(self) -> None:
        self.conn.close()


class RequestsClient:
    """The upstream through requests, set up as the proxy sets up its pooled session."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.session = requests.Session()
        self.session.trust_env = False

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else None
        response = self.session.request(method, self.base + path, data=body, headers=headers, timeout=30)
        return response.status_code, response.content

    def close(self) -> None:
        self.session.close()


class Urllib3Client:
    """The upstream through urllib3's connection pool, without requests on top."""

    def __init__(self, port: int):
        self.pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1, timeout=30, retries=False)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else None
        response = self.pool.request(method, path, body=body, headers=headers)
        return response.status, response.data

    def close(self) -> None:
        self.pool.close()


# -- asyncio: many connections from one thread ----------------------------------------------
def raw_request(method: str, path: str, port: int, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if body or method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), headers


async def iter_body(reader: asyncio.StreamReader, headers: dict):
    """The pieces of a response body as they arrive (chunked or Content-Length)."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readline()).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readline()
                return
            data = await reader.readexactly(size)
            await reader.readexactly(2)
            yield data
    else:
        length = int(headers.get("content-length", "0"))
        if length:
            yield await reader.readexactly(length)


async def fetch(reader, writer, request: bytes) -> tuple[int, bytes, dict]:
    writer.write(request)
    status, headers = await read_head(reader)
    body = b"".join([piece async for piece in iter_body(reader, headers)])
    return status, body, headers


class ServerProbe:
    """Memory and CPU time of a gunicorn server: the master plus all its workers."""

    def __init__(self, pid: int):
        self.master = psutil.Process(pid)

    def processes(self) -> list[psutil.Process]:
        return [self.master, *self.master.children(recursive=True)]

    def rss(self) -> int:
        total = 0
        for process in self.processes():
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.processes())

    def written_bytes(self) -> int:
        """Bytes the processes have written to disk (or to the page cache, to be written)."""
        total = 0
        for process in self.processes():
            try:
                total += process.io_counters().write_bytes
            except psutil.NoSuchProcess:
                pass
        return total


def cpu_seconds(processes) -> float:
    """User plus system CPU time of the processes that still exist."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


class OtherLoad:
    """How much CPU processes outside this benchmark (and the server and upstream it started)
    used while it ran: anything much above zero makes every figure noisier."""

    def __init__(self):
        self.me = psutil.Process()
        self.started = time.monotonic()
        self.busy, self.steal = self._machine()
        self.own = self._own()

    @staticmethod
    def _machine() -> tuple[float, float]:
        times = psutil.cpu_times()
        busy = times.user + times.nice + times.system + getattr(times, "irq", 0) + getattr(times, "softirq", 0)
        return busy, getattr(times, "steal", 0.0)

    def _own(self) -> float:
        return cpu_seconds([self.me, *self.me.children(recursive=True)])

    def report(self) -> dict:
        """Call while the server still runs: its CPU time counts as the benchmark's own."""
        elapsed = time.monotonic() - self.started
        busy, steal = self._machine()
        other = (busy - self.busy) - (self._own() - self.own)
        return {"other_processes_cores": max(other, 0.0) / elapsed, "steal_cores": (steal - self.steal) / elapsed}


class RssSampler:
    """Samples the server's RSS on a background thread while the ``with`` block runs."""

    def __init__(self, probe: ServerProbe, interval: float = 0.05):
        self.probe = probe
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while True:
            self.samples.append((time.monotonic() - started, self.probe.rss()))
            if self._stop.wait(self.interval):
                self.samples.append((time.monotonic() - started, self.probe.rss()))
                return

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> dict:
        """Start, peak and end RSS in MB, and the peak's rise over the start."""
        values = [rss for _, rss in self.samples]
        mb = 1024 * 1024
        return {
            "start_mb": values[0] / mb,
            "peak_mb": max(values) / mb,
            "end_mb": values[-1] / mb,
            "growth_mb": (max(values) - values[0]) / mb,
            "samples": len(values),
        }
