"""What asking for log-probabilities costs, on each backend's fake (tests/fakes, each sending its
server's own logprob format, in a process of its own): the same request with and without them,
measured side by side in one run, arms interleaved in rotating order, through the real server as
./run.sh starts it:

- non-streamed round trips of chat, chat with `logprobs: true, top_logprobs: 5`, text completion
  and text completion with `logprobs: 5` (GENERATED tokens each);
- streamed, the same four: the time to the stream's end (`[DONE]`);
- the bytes per 1,000 generated tokens with the top 5 alternatives in OpenAI's shapes (chat's
  `logprobs.content` as the later task stores it, the legacy completion object, and what the whole
  answer grows by), as the fakes' values give them and with OpenAI-like values (each logprob
  with 8 decimals, as OpenAI sends them: the fakes' are short, such as -0.25).

A benchmark, not a test: it prints the figures and writes results/logprobs.json.

    .venv/bin/python bench/logprobs.py                 # about 2 minutes
    .venv/bin/python bench/logprobs.py --requests 50   # a quick look
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from clients import KeepAlive, interleaved_round_trips, summary  # noqa: E402
from run import start_server  # noqa: E402
from tests.support import prose  # noqa: E402
import versions  # noqa: E402

# backend -> (arguments of `python -m tests.fakes`, backend type, chat model, completion model)
BACKENDS = {
    "chatgpt": (["chatgpt", "--models", "gpt-4o-mini,gpt-3.5-turbo-instruct"], "chatgpt",
                "gpt-4o-mini", "gpt-3.5-turbo-instruct"),
    "llama.cpp": (["openai_compatible"], "openai_compatible", None, None),
    "vllm": (["openai_compatible", "--server", "vllm"], "openai_compatible", None, None),
    "koboldcpp": (["openai_compatible", "--server", "koboldcpp"], "openai_compatible", None, None),
    "ollama": (["ollama", "--version", "0.12.11"], "ollama", None, None),
}
KEY = "sk-bench-logprobs-0123456789"  # the chatgpt backend needs one; its fake takes any
GENERATED = 64  # tokens of each timed answer
STORED = 1000  # tokens of the answer whose bytes are counted
TOP = 5
CHAT, COMPLETIONS = "/proxy/llm/v1/chat/completions", "/proxy/llm/v1/completions"
# arm -> (through the proxy, or straight to the fake in its own format; chat or completion; with logprobs)
ARMS = {f"{target}_{api}{'_logprobs' if asked else ''}": (target, api, asked)
        for target in ("proxied", "direct") for api in ("chat", "completion") for asked in (False, True)}
RESULTS = BENCH / "results" / "logprobs.json"
COMPACT = {"separators": (",", ":")}


class Fake:
    """A fake of one backend (python -m tests.fakes) in a process of its own, so that it never
    shares the client's GIL; its model writes STORED words (each a token), cut to max_tokens."""

    def __init__(self, arguments: list[str]):
        self.arguments = arguments

    def __enter__(self) -> "Fake":
        reply = " ".join(prose(STORED * 12, seed=24).split()[:STORED + 10])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes", *self.arguments, "--port", "0", "--reply", reply],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.url = self.process.stdout.readline().split(" listening on ")[1].strip()
        self.port = int(self.url.split(":")[2].split("/")[0])
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def request(backend: str, arm: str, models: tuple, tokens: int, stream: bool) -> tuple[str, bytes]:
    """(path, body) of an arm's request: OpenAI's to the proxy, the backend's own to its fake."""
    target, api, asked = ARMS[arm]
    native_ollama = target == "direct" and backend == "ollama"
    body: dict = {"model": models[api == "completion"], "stream": stream}
    if api == "chat":
        body["messages"] = [{"role": "user", "content": "Tell the story of the lighthouse."}]
    else:
        body["prompt"] = "The storm came at dusk, and the keeper "
    if native_ollama:
        body.update(options={"num_predict": tokens}, **({"raw": True, "think": False} if api == "completion" else {}))
        body.update({"logprobs": True, "top_logprobs": TOP} if asked else {})
        return ("/api/chat" if api == "chat" else "/api/generate"), json.dumps(body).encode()
    body["max_tokens"] = tokens
    if asked:
        body.update({"logprobs": True, "top_logprobs": TOP} if api == "chat" else {"logprobs": TOP})
    if target == "proxied":
        return (CHAT if api == "chat" else COMPLETIONS), json.dumps(body).encode()
    return ("/v1/chat/completions" if api == "chat" else "/v1/completions"), json.dumps(body).encode()


def _clients(ports: dict) -> dict:
    return {arm: KeepAlive(ports[target]) for arm, (target, _, _) in ARMS.items()}


def round_trips(backend: str, ports: dict, models: tuple, settings: dict) -> dict:
    clients = _clients(ports)
    arms = {arm: (clients[arm], "POST", *request(backend, arm, models, GENERATED, False)) for arm in ARMS}
    times = interleaved_round_trips(arms, settings)
    for client in clients.values():
        client.close()
    return _with_added({arm: summary(values) for arm, values in times.items()})


def stream_times(arms: dict, settings: dict) -> dict[str, list[float]]:
    """Time (ms) to the last line of each arm's stream, `(client, path, body)`, after a warm-up,
    one of every arm a round in an order that rotates each round."""
    names = list(arms)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(settings["latency_warmup"] + settings["latency_requests"]):
        for name in names[i % len(names):] + names[: i % len(names)]:
            client, path, payload = arms[name]
            started = time.perf_counter_ns()
            lines = list(client.stream(path, payload))
            if i >= settings["latency_warmup"]:
                times[name].append((lines[-1][0] - started) / 1e6)
    return times


def streams(backend: str, ports: dict, models: tuple, settings: dict) -> dict:
    clients = _clients(ports)
    times = stream_times({arm: (clients[arm], *request(backend, arm, models, GENERATED, True)) for arm in ARMS},
                         settings)
    for client in clients.values():
        client.close()
    return _with_added({arm: summary(values) for arm, values in times.items()})


def relay_before_after(backend: str, before: Path, settings: dict) -> dict:
    """Requests without log-probabilities, relayed by this tree's server and by one of where this
    branch left main, in front of the same fake: chat and completion round trips, and chat
    streams, interleaved (ms)."""
    arguments, backend_type, chat_model, completion_model = BACKENDS[backend]
    with Fake(arguments) as fake:
        servers = {"after": start_server(), "before": start_server(before)}
        try:
            for server in servers.values():
                server.configure(backend_type, {"url": fake.url} if backend_type == "ollama" else {"base_url": fake.url},
                                 chat_model)
            first = servers["after"].api("GET", "/proxy/llm/v1/models").json()["data"][0]["id"]
            models = (chat_model or first, completion_model or first)
            clients = {(version, what): KeepAlive(server.port) for version, server in servers.items()
                       for what in ("chat", "completion", "stream")}
            whole = interleaved_round_trips(
                {f"{version}_{api}": (clients[version, api], "POST",
                                      *request(backend, f"proxied_{api}", models, GENERATED, False))
                 for version in servers for api in ("chat", "completion")}, settings)
            streamed = stream_times({f"{version}_chat_streamed": (clients[version, "stream"], *request(
                backend, "proxied_chat", models, GENERATED, True)) for version in servers}, settings)
            for client in clients.values():
                client.close()
        finally:
            for server in servers.values():
                server.stop()
    return {name: summary(values) for name, values in {**whole, **streamed}.items()}


def _with_added(stats: dict) -> dict:
    """What asking for them adds through the proxy and straight to the fake, and the proxy's part
    of it (the first less the second), at each percentile."""
    added = {}
    for api in ("chat", "completion"):
        for target in ("proxied", "direct"):
            with_them, without = stats[f"{target}_{api}_logprobs"], stats[f"{target}_{api}"]
            added[f"{target}_{api}"] = {q: with_them[q] - without[q] for q in ("p50", "p90", "p99")}
        added[f"taleweaver_{api}"] = {q: added[f"proxied_{api}"][q] - added[f"direct_{api}"][q]
                                      for q in ("p50", "p90", "p99")}
    return {**stats, "added_ms": added}


def _openai_like(shape, rnd: random.Random):
    """The same object with each logprob (its only floats) given 8 decimals, as OpenAI's are."""
    if isinstance(shape, float):
        return round(rnd.uniform(-12, 0), 8)
    if isinstance(shape, dict):
        return {key: _openai_like(value, rnd) for key, value in shape.items()}
    if isinstance(shape, list):
        return [_openai_like(value, rnd) for value in shape]
    return shape


def stored_bytes(backend: str, port: int, models: tuple) -> dict:
    """Bytes per 1,000 generated tokens with the top 5 alternatives, in OpenAI's shapes."""
    client = KeepAlive(port, timeout=120)
    figures = {}
    for api in ("chat", "completion"):
        _, plain = client.request("POST", *request(backend, f"proxied_{api}", models, STORED, False))
        _, asked = client.request("POST", *request(backend, f"proxied_{api}_logprobs", models, STORED, False))
        logprobs = json.loads(asked)["choices"][0]["logprobs"]
        shape = logprobs["content"] if api == "chat" else logprobs
        per_1000 = 1000 / len(logprobs["content"] if api == "chat" else logprobs["tokens"])
        figures[api] = {
            "tokens": round(1000 / per_1000),
            "logprobs_bytes_per_1000": round(len(json.dumps(shape, **COMPACT)) * per_1000),
            "openai_like_bytes_per_1000": round(
                len(json.dumps(_openai_like(shape, random.Random(0)), **COMPACT)) * per_1000),
            "answer_growth_bytes_per_1000": round((len(asked) - len(plain)) * per_1000),
        }
    client.close()
    return figures


def measure(backend: str, settings: dict) -> dict:
    arguments, backend_type, chat_model, completion_model = BACKENDS[backend]
    with Fake(arguments) as fake:
        server = start_server()
        try:
            config = {"base_url": fake.url} if backend_type in ("chatgpt", "openai_compatible") else {"url": fake.url}
            if backend_type == "chatgpt":
                config["api_key"] = KEY
            server.configure(backend_type, config, chat_model)
            first = server.api("GET", "/proxy/llm/v1/models").json()["data"][0]["id"]
            models = (chat_model or first, completion_model or first)
            ports = {"proxied": server.port, "direct": fake.port}
            return {"whole_ms": round_trips(backend, ports, models, settings),
                    "streamed_ms": streams(backend, ports, models, settings),
                    "bytes": stored_bytes(backend, server.port, models)}
        finally:
            server.stop()


def table(results: dict) -> list[str]:
    lines = [f"Added by asking for log-probabilities (top {TOP}), ms, p50 / p99: through the proxy "
             f"(with − without), straight to the fake, and Taleweaver's part (the first less the second); "
             f"{GENERATED} tokens an answer, all arms interleaved", "",
             "| backend | answer | through the proxy | to the fake | Taleweaver's part | proxied without, p50 |",
             "|---|---|---:|---:|---:|---:|"]
    for backend, result in results.get("backends", {}).items():
        for api in ("chat", "completion"):
            for kind, label in (("whole_ms", "whole"), ("streamed_ms", "streamed")):
                added = result[kind]["added_ms"]
                cells = [f"{added[f'{part}_{api}']['p50']:+.2f} / {added[f'{part}_{api}']['p99']:+.2f}"
                         for part in ("proxied", "direct", "taleweaver")]
                lines.append(f"| {backend} | {api}, {label} | {' | '.join(cells)} | "
                             f"{result[kind][f'proxied_{api}']['p50']:.2f} |")
    lines += ["", f"Bytes per 1,000 generated tokens with the top {TOP} alternatives (compact JSON; "
                  "the fakes' values / OpenAI-like values with 8 decimals; what the whole answer grows by)", "",
              "| backend | chat `logprobs.content` | legacy completion `logprobs` | chat answer grows | "
              "completion answer grows |", "|---|---:|---:|---:|---:|"]
    for backend, result in results.get("backends", {}).items():
        chat, completion = result["bytes"]["chat"], result["bytes"]["completion"]
        lines.append(f"| {backend} | {chat['logprobs_bytes_per_1000']:,} / {chat['openai_like_bytes_per_1000']:,} | "
                     f"{completion['logprobs_bytes_per_1000']:,} / {completion['openai_like_bytes_per_1000']:,} | "
                     f"{chat['answer_growth_bytes_per_1000']:,} | {completion['answer_growth_bytes_per_1000']:,} |")
    relay = results["relay_without_logprobs"]
    lines += ["", f"The relay without log-probabilities, before ({relay['before']}) and after, ms p50 / p99, interleaved",
              "", "| backend | arm | before | after |", "|---|---|---:|---:|"]
    for backend in ("llama.cpp", "ollama"):
        for arm in ("chat", "completion", "chat_streamed"):
            before, after = relay[backend][f"before_{arm}"], relay[backend][f"after_{arm}"]
            lines.append(f"| {backend} | {arm} | {before['p50']:.2f} / {before['p99']:.2f} | "
                         f"{after['p50']:.2f} / {after['p99']:.2f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per arm (after a warm-up)")
    parser.add_argument("--relay-only", action="store_true", help="only the relay without log-probabilities, "
                        "before (where this branch left main) and after")
    args = parser.parse_args()
    settings = {"latency_requests": args.requests, "latency_warmup": max(args.requests // 10, 5),
                "latency_max_seconds": 600}
    results = {"generated_tokens": GENERATED, "top": TOP, "requests": args.requests}
    if not args.relay_only:
        results["backends"] = {backend: measure(backend, settings) for backend in BACKENDS}
    commit = versions.commit_of(None)
    with tempfile.TemporaryDirectory() as folder:
        before = versions.tree_at(commit, Path(folder)) / "backend"
        results["relay_without_logprobs"] = {"before": commit, **{
            backend: relay_before_after(backend, before, settings) for backend in ("llama.cpp", "ollama")}}
    RESULTS.with_name("logprobs_relay.json" if args.relay_only else RESULTS.name).write_text(
        json.dumps(results, indent=1) + "\n")
    print("\n".join(table(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
