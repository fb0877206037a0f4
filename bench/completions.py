"""The text-completion path's added latency beside chat's, and chat's before and after the work that
added it (samplers under each backend's names on every chat request), measured side by side in one
run of bench/run.py, arms interleaved in rotating order:

- non-streamed: the upstream's chat and completion endpoints called directly, and through the
  proxy: chat on this tree's server, completion on a second server of this tree, chat on a server
  of the code before (main at BEFORE, taken from git), each on one keep-alive connection. Each
  proxied arm has a server of its own because a server that answers more of the requests answers
  faster: with chat and completion on one server and the before chat on another, an A/A run (both
  servers of this tree) put the lone server's chat 0.45 ms (p50) behind;
- streamed: time to first token (short streams) and per-chunk delay (one long stream) on the same
  five routes.

For LM Studio the completion is forwarded as sent (`/v1/completions`); for Ollama it is translated
(`/api/generate` NDJSON into text_completion chunks), as chat is (`/api/chat` into chat chunks).
"""
from __future__ import annotations

import json
import subprocess
import tarfile
import time
from pathlib import Path

from clients import KeepAlive, chunk_delays, first_content_ns, interleaved_round_trips, summary

BEFORE = "cb60b87"  # main when text completion and the samplers began
MODEL = "bench-model"
PROMPT = "Once upon a time, a fox who wove stories"
CHAT, COMPLETIONS = "/proxy/llm/v1/chat/completions", "/proxy/llm/v1/completions"
# arm -> (server: "upstream" | "after" | "completion" | "before", what: "chat" | "completion")
ARMS = {
    "direct_chat": ("upstream", "chat"),
    "proxied_chat": ("after", "chat"),
    "proxied_chat_before": ("before", "chat"),
    "direct_completion": ("upstream", "completion"),
    "proxied_completion": ("completion", "completion"),
}
ADDED = {"chat": ("proxied_chat", "direct_chat"), "chat_before": ("proxied_chat_before", "direct_chat"),
         "completion": ("proxied_completion", "direct_completion")}


def before_backend(folder: Path) -> Path:
    """backend/ as it was at BEFORE, from git, in `folder`."""
    root = Path(__file__).resolve().parent.parent
    archive = folder / "before.tar"
    subprocess.run(["git", "archive", "-o", str(archive), BEFORE, "backend"], cwd=root, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "before", filter="data")
    return folder / "before" / "backend"


def _body(backend: str, what: str, direct: bool, stream: bool, script: dict | None = None) -> bytes:
    """A chat or completion request, to the proxy (OpenAI's format) or straight to the upstream."""
    text = json.dumps(script) if script else PROMPT
    if what == "chat":
        body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "stream": stream}
    else:
        body = {"model": MODEL, "prompt": text, "stream": stream}
    if direct and backend == "ollama":
        body["options"] = {"num_predict": 64, "temperature": 0.8}
        if what == "completion":
            body.update(raw=True, think=False)
    else:
        body.update(max_tokens=64, temperature=0.8)
    return json.dumps(body).encode()


def _path(backend: str, what: str, server: str) -> str:
    if server != "upstream":
        return CHAT if what == "chat" else COMPLETIONS
    if backend == "ollama":
        return "/api/chat" if what == "chat" else "/api/generate"
    return "/v1/chat/completions" if what == "chat" else "/v1/completions"


class Phase:
    """The completion arms of one benchmark run: its upstream, this tree's two servers and the
    before one."""

    def __init__(self, settings: dict, ports: dict[str, int]):
        self.settings = settings
        self.ports = ports  # "upstream" | "after" | "completion" | "before" -> port

    def run(self, backend: str) -> dict:
        return {"latency": self.latency(backend), "streaming": self.streaming(backend)}

    def _clients(self) -> dict[str, KeepAlive]:
        return {name: KeepAlive(self.ports[server]) for name, (server, _) in ARMS.items()}

    def latency(self, backend: str) -> dict:
        """Non-streamed round trips of every arm, interleaved in rotating order."""
        clients = self._clients()
        arms = {name: (clients[name], "POST", _path(backend, what, server),
                       _body(backend, what, server == "upstream", False))
                for name, (server, what) in ARMS.items()}
        times = interleaved_round_trips(arms, self.settings)
        for client in clients.values():
            client.close()
        stats = {name: summary(values) for name, values in times.items()}
        added = {key: {q: stats[a][q] - stats[b][q] for q in ("p50", "p90", "p99", "max")}
                 for key, (a, b) in ADDED.items()}
        return {**stats, "added_ms": added}

    def _stream(self, client: KeepAlive, backend: str, name: str, script: dict) -> tuple[int, list]:
        server, what = ARMS[name]
        started = time.monotonic_ns()
        return started, list(client.stream(_path(backend, what, server), _body(backend, what, server == "upstream",
                                                                               True, script)))

    def streaming(self, backend: str) -> dict:
        """Time to first token of short streams (interleaved) and per-chunk delay of one long one."""
        s = self.settings
        clients, names = self._clients(), list(ARMS)
        first: dict[str, list[float]] = {name: [] for name in names}
        short = {"chunks": 5, "interval_ms": 0, "chunk_bytes": 16}
        for i in range(s["ttft_samples"] + 3):  # the first three warm up
            for name in names[i % len(names):] + names[: i % len(names)]:
                started, lines = self._stream(clients[name], backend, name, short)
                arrived = first_content_ns(lines, f"{name} {backend}")
                if i >= 3:
                    first[name].append((arrived - started) / 1e6)
        for client in clients.values():
            client.close()
        long = {"chunks": s["stream_chunks"], "interval_ms": s["stream_interval_ms"], "chunk_bytes": 16}
        delay = {}
        for name, (server, _) in ARMS.items():  # each on a fresh connection: the others' idle ones time out
            client = KeepAlive(self.ports[server])
            _, lines = self._stream(client, backend, name, long)
            client.close()
            delay[name] = summary(chunk_delays(lines, s["stream_chunks"], f"{name} {backend}"))
        ttft = {name: summary(values) for name, values in first.items()}
        return {"first_token_ms": ttft, "chunk_delay_ms": delay,
                "first_token_added_ms": {key: {q: ttft[a][q] - ttft[b][q] for q in ("p50", "p90", "max")}
                                         for key, (a, b) in ADDED.items()}}


def table(results: dict) -> list[str]:
    """The markdown rows of the completions phase, for bench/results/*.md and the README."""
    phase = results.get("completions") or {}
    if not phase:
        return []
    lines = ["", f"**Text completion beside chat, and chat before ({BEFORE}) and after, ms** (added = proxied − "
                 "direct at each percentile; arms interleaved in rotating order)", "",
             "| backend | figure | chat before | chat after | completion |", "|---|---|---:|---:|---:|"]
    for backend, result in phase.items():
        if "error" in result:
            lines.append(f"| {backend} | error: {result['error']} | | | |")
            continue
        added, stream = result["latency"]["added_ms"], result["streaming"]
        for q in ("p50", "p99"):
            lines.append(f"| {backend} | added, non-streamed {q} | {added['chat_before'][q]:.2f} | "
                         f"{added['chat'][q]:.2f} | {added['completion'][q]:.2f} |")
        ttft = stream["first_token_added_ms"]
        lines.append(f"| {backend} | added to the first token, p50 | {ttft['chat_before']['p50']:.2f} | "
                     f"{ttft['chat']['p50']:.2f} | {ttft['completion']['p50']:.2f} |")
        delay = stream["chunk_delay_ms"]
        lines.append(f"| {backend} | per-chunk delay p99 (direct chat {delay['direct_chat']['p99']:.2f}, direct "
                     f"completion {delay['direct_completion']['p99']:.2f}) | {delay['proxied_chat_before']['p99']:.2f} | "
                     f"{delay['proxied_chat']['p99']:.2f} | {delay['proxied_completion']['p99']:.2f} |")
    return lines
