"""The floors under the 1,000-stream burst: the same burst as bench/burst.py, in interleaved
rounds (rotating order, so this VM's drift hits every arm alike), through
- the fake upstream directly (the reference of the target),
- a bare WSGI relay under ./run.sh's gunicorn gevent worker (bench/floor_apps.py `bare`),
- the same relay as a Flask view (`flask_relay`),
- Taleweaver as ./run.sh starts it (its checks, login, settings version, relay),
so that the time first tokens take over direct is split into what the server stack costs before
any of Taleweaver's own code runs and what Taleweaver adds. A benchmark, not a test.

    .venv/bin/python bench/floors.py                # 3 rounds, about 2 minutes
    .venv/bin/python bench/floors.py --rounds 5

Writes results/floors.json and results/floors.md (--results-dir elsewhere). Loopback only; every
burst is bounded (streams x chunks x interval) and has a time limit.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from burst import TARGETS, measured, request_bytes, start_server  # noqa: E402
from clients import ServerProbe  # noqa: E402
from run import MODEL, PROXY_CHAT, Upstream, chat_body, machine  # noqa: E402
from tests.support import free_port, wait_for  # noqa: E402

ARMS = ("direct", "bare", "flask", "taleweaver")
LABELS = {
    "direct": "straight to the fake upstream",
    "bare": "bare WSGI relay, gunicorn gevent worker",
    "flask": "the same relay as a Flask view",
    "taleweaver": "Taleweaver (./run.sh's server)",
}


class FloorServer:
    """gunicorn with ./run.sh's worker settings (backend/gunicorn.conf.py's) around one of
    bench/floor_apps.py's apps."""

    def __init__(self, app: str, upstream_url: str):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TALEWEAVER_")}
        env.update(FLOOR_UPSTREAM=upstream_url, GEVENT_RESOLVER="ares")
        # ./run.sh's worker settings, read from its config. Not with runpy, which would name the
        # config in sys.argv[0] while it runs: the config then takes itself for gunicorn's and
        # patches this process with gevent.
        config = ROOT / "backend" / "gunicorn.conf.py"
        conf: dict = {"__file__": str(config)}
        exec(compile(config.read_text(), str(config), "exec"), conf)  # noqa: S102 - our own config
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--worker-class", conf["worker_class"],
             "--workers", str(conf["workers"]), "--worker-connections", str(conf["worker_connections"]),
             "--backlog", str(conf["backlog"]), "--keep-alive", str(conf["keepalive"]),
             "--log-level", "warning", "--bind", f"127.0.0.1:{self.port}", "--chdir", str(BENCH),
             f"floor_apps:{app}"],
            env=env, stdout=subprocess.DEVNULL,
        )
        probe = json.dumps({"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "{}"}]})

        def answers() -> bool:
            try:
                return requests.post(f"http://127.0.0.1:{self.port}/v1/chat/completions", data=probe,
                                     timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(answers, timeout=30)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--interval-ms", type=float, default=250.0)
    parser.add_argument("--name", default="floors")
    parser.add_argument("--results-dir", default=str(BENCH / "results"))
    args = parser.parse_args()
    script = {"chunks": args.chunks, "interval_ms": args.interval_ms, "chunk_bytes": 16}
    limit = args.chunks * args.interval_ms / 1000 + 120
    body = chat_body("lmstudio", direct=False, stream=True, script=script)
    results: dict = {"settings": vars(args), "machine": machine(), "rounds": []}
    with Upstream() as upstream:
        servers = {"bare": FloorServer("bare", upstream.url), "flask": FloorServer("flask_relay", upstream.url)}
        taleweaver = start_server()
        try:
            taleweaver.configure("lmstudio", {"url": upstream.url}, MODEL)
            where = {
                "direct": (upstream.port, "/v1/chat/completions", None),
                "bare": (servers["bare"].port, "/v1/chat/completions", ServerProbe(servers["bare"].process.pid)),
                "flask": (servers["flask"].port, "/v1/chat/completions", ServerProbe(servers["flask"].process.pid)),
                "taleweaver": (taleweaver.port, PROXY_CHAT, ServerProbe(taleweaver.process.pid)),
            }
            for number in range(args.rounds):
                order = ARMS[number % len(ARMS):] + ARMS[:number % len(ARMS)]
                print(f"round {number + 1} of {args.rounds}", flush=True)
                row = {}
                for arm in order:
                    port, path, probe = where[arm]
                    row[arm] = measured(LABELS[arm], [(port, request_bytes(port, path, body))] * args.streams,
                                        args.chunks, limit, [probe] if probe else [])
                results["rounds"].append(row)
        finally:
            taleweaver.close()
            for server in servers.values():
                server.close()
    results["summary"] = summarise(results["rounds"])
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{args.name}.md").write_text(markdown(results))
    print(markdown(results))
    return 0 if all(r[a]["failed"] == 0 for r in results["rounds"] for a in ARMS if a != "direct") else 1


def summarise(rounds: list[dict]) -> dict:
    """Per arm: p99 over the same round's direct p99 (median and range over the rounds), server CPU."""
    summary = {}
    for arm in ARMS:
        over = [(r[arm]["ttft_ms"]["p99"] - r["direct"]["ttft_ms"]["p99"]) / 1000 for r in rounds]
        cpu = [r[arm]["server_cpu_seconds"] for r in rounds if "server_cpu_seconds" in r[arm]]
        summary[arm] = {
            "p99_ms": [r[arm]["ttft_ms"]["p99"] for r in rounds],
            "failed": sum(r[arm]["failed"] for r in rounds),
            "p99_over_direct_s": {"median": statistics.median(over), "min": min(over), "max": max(over)},
            "server_cpu_s": {"median": statistics.median(cpu), "min": min(cpu), "max": max(cpu)} if cpu else None,
        }
    return summary


def markdown(results: dict) -> str:
    info = results["machine"]
    lines = [
        f"Floors under a burst of {results['settings']['streams']} streams, {len(results['rounds'])} interleaved rounds, "
        f"{info['cpu_model']}, {info['logical_cores']} cores, Python {info['python']}.",
        "",
        "| path | failed | TTFT p99 per round, ms | p99 over direct, s: median (range) | server CPU, s: median (range) |",
        "|---|---:|---|---|---|",
    ]
    for arm in ARMS:
        s = results["summary"][arm]
        over = s["p99_over_direct_s"]
        cpu = s["server_cpu_s"]
        lines.append(
            f"| {LABELS[arm]} | {s['failed']} | {' / '.join(f'{v:.0f}' for v in s['p99_ms'])} | "
            + ("—" if arm == "direct" else f"{over['median']:+.2f} ({over['min']:+.2f} to {over['max']:+.2f})")
            + " | " + ("—" if cpu is None else f"{cpu['median']:.1f} ({cpu['min']:.1f}–{cpu['max']:.1f})") + " |")
    lines += ["", f"Target (issue 13): Taleweaver's p99 within {TARGETS['ttft_p99_over_direct_s']} s of direct.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
