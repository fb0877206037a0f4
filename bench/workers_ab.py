"""Non-streamed added latency of gunicorn's gevent worker against its gthread worker, measured
in one interleaved loop so that other work on the machine hits both arms alike: the upstream
directly, a server with gevent workers (./run.sh's default) and one with gthread workers, side
by side on loopback. A benchmark, not a test; it prints a table and writes results/workers_ab.json.

    .venv/bin/python bench/workers_ab.py [--requests 2000]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from burst import start_server  # noqa: E402
from clients import KeepAlive, summary  # noqa: E402
from run import MODEL, PROXY_CHAT, Upstream, chat_body, machine  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    results = {"machine": machine(), "requests": args.requests}
    with Upstream() as upstream:
        servers = {"gevent": start_server(), "gthread": start_server({"TALEWEAVER_WORKER_CLASS": "gthread"})}
        try:
            for server in servers.values():
                server.configure("lmstudio", {"url": upstream.url}, MODEL)
            proxied = chat_body("lmstudio", direct=False, stream=False)
            direct = chat_body("lmstudio", direct=True, stream=False)
            arms = {"direct": (KeepAlive(upstream.port), "/v1/chat/completions", direct)}
            for name, server in servers.items():
                arms[name] = (KeepAlive(server.port), PROXY_CHAT, proxied)
            names = list(arms)
            times: dict[str, list[float]] = {name: [] for name in names}
            for i in range(args.warmup + args.requests):
                for name in names[i % len(names):] + names[: i % len(names)]:
                    client, path, body = arms[name]
                    started = time.perf_counter_ns()
                    status, data = client.request("POST", path, body)
                    if status != 200:
                        raise RuntimeError(f"{name} answered {status}: {data[:200]!r}")
                    if i >= args.warmup:
                        times[name].append((time.perf_counter_ns() - started) / 1e6)
        finally:
            for server in servers.values():
                server.close()
    stats = {name: summary(values) for name, values in times.items()}
    results["round_trip_ms"] = stats
    results["added_ms"] = {name: {q: stats[name][q] - stats["direct"][q] for q in ("p50", "p90", "p99")}
                           for name in servers}
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / "workers_ab.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"load average at start {results['machine']['load_average_at_start']}")
    print("| worker | added p50, ms | p90 | p99 |\n|---|---:|---:|---:|")
    for name, added in results["added_ms"].items():
        print(f"| {name} | {added['p50']:.2f} | {added['p90']:.2f} | {added['p99']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
