"""Issue 25's bounds, before and after (a benchmark, not a test: it prints figures and writes
results/bounds.json). Each round runs the same steps against a server of the code before "Bounds"
(main at BEFORE, taken from git) and one of this tree, one after the other:

- the import of 10,000 stories of one title (multi-user, 2 gevent workers, as ./run.sh starts it):
  how long it takes to answer, while another user saves a story every 50 ms: each save's latency
  and status;
- 20 small edits of a story with 20 versions of 490,000 characters: how much the SQLite file grew;
- what reading a proxy request's body costs, Flask's get_json (before) against request_body's
  checked parse (after), interleaved in one process.

    .venv/bin/python bench/bounds.py              # 2 rounds
    .venv/bin/python bench/bounds.py --rounds 1
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "backend"))  # app, taleweaver (after ROOT: tests is the whole-system package)

from tests.support import GUNICORN, TaleweaverServer, prose  # noqa: E402
from versions import tree_at  # noqa: E402

BEFORE = "f08ac4d"  # main when "Bounds" began
PASSWORD = "bench password 1234"
RESULTS = ROOT / "bench" / "results" / "bounds.json"


def start(backend: Path) -> tuple[TaleweaverServer, dict, dict]:
    env = {"TALEWEAVER_AUTH_MODE": "multi", "TALEWEAVER_LOG_LEVEL": "WARNING", "TALEWEAVER_ACCESS_LOG": ""}
    server = TaleweaverServer(env=env, backend=backend).start()
    heads = []
    for name in ("ann", "bob"):
        subprocess.run([str(GUNICORN.with_name("flask")), "--app", "app", "create-user", name, "--password", PASSWORD],
                       cwd=str(backend), env=server.env, check=True, capture_output=True, timeout=60)
        token = server.api("POST", "/api/auth/login", json={"username": name, "password": PASSWORD}).json()["token"]
        heads.append({"Authorization": f"Bearer {token}"})
    return server, heads[0], heads[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def import_beside_saves(backend: Path) -> dict:
    server, ann, bob = start(backend)
    try:
        story = server.api("POST", "/api/stories", headers=bob, json={"premise": "Bob writes on"}).json()
        stop, saves = threading.Event(), []

        def save_loop():
            revision = story["revision"]
            for number in range(5000):
                if stop.is_set():
                    return
                began = time.monotonic()
                answer = server.api("PATCH", f"/api/stories/{story['id']}", headers=bob, timeout=120,
                                    json={"base_revision": revision, "content": f"Draft {number}."})
                saves.append((began, answer.status_code, time.monotonic() - began))
                if answer.status_code == 200:
                    revision = answer.json()["revision"]
                time.sleep(0.05)

        saver = threading.Thread(target=save_loop, daemon=True)
        saver.start()
        time.sleep(0.5)
        backup = {"format": "taleweaver-library", "version": 1,
                  "stories": [{"title": "Same", "content": f"Tale {n}."} for n in range(10_000)]}
        began = time.monotonic()
        answer = server.api("POST", "/api/stories/import", headers=ann, json=backup, timeout=600)
        ended = time.monotonic()
        stop.set()
        saver.join(timeout=150)
        # Every save sent before the import answered, those it held up until after included.
        during = [(status, latency) for start_at, status, latency in saves if began <= start_at + latency and start_at < ended]
        latencies = [latency for _, latency in during] or [0.0]
        return {"import_status": answer.status_code, "import_seconds": round(ended - began, 2),
                "saves_during_import": len(during), "saves_failed": sum(1 for status, _ in during if status != 200),
                "save_p50_ms": round(statistics.median(latencies) * 1000), "save_p95_ms": round(percentile(latencies, 0.95) * 1000),
                "save_max_ms": round(max(latencies) * 1000)}
    finally:
        server.close()


def file_size(server: TaleweaverServer) -> int:
    with sqlite3.connect(server.database) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(server.database)


def small_edits_growth(backend: Path, versions: list[str]) -> dict:
    server, ann, _ = start(backend)
    try:
        content = "An opening line.\n\n" + versions[-1]
        backup = {"format": "taleweaver-library", "version": 1, "stories": [
            {"title": "Large versions", "content": content,
             "alternatives": {"start": 18, "versions": versions, "chosen": len(versions) - 1}}]}
        story_id = server.api("POST", "/api/stories/import", headers=ann, json=backup, timeout=300).json()["stories"][0]["id"]
        story = server.api("GET", f"/api/stories/{story_id}", headers=ann).json()
        before, edited = file_size(server), 0
        for number in range(20):
            edit = f" (edit {number})"
            content = content[:2000] + edit + content[2000:]
            edited += len(edit)
            story = server.api("PATCH", f"/api/stories/{story_id}", headers=ann, timeout=300,
                               json={"base_revision": story["revision"], "content": content}).json()
        return {"edited_bytes": edited, "database_growth_bytes": file_size(server) - before}
    finally:
        server.close()


def parse_cost(rounds: int = 2000) -> dict:
    """Microseconds per parse of a chat request body (p50), before and after, interleaved."""
    from flask import request

    from app import create_app
    from taleweaver.web.request_body import json_object

    app = create_app({"TESTING": True, "DATABASE": os.path.join(tempfile.mkdtemp(), "parse.db")})
    message = {"role": "user", "content": "Tell me a story about a lighthouse keeper. " * 20}
    bodies = {"1 KiB": {"messages": [message], "stream": True, "temperature": 0.7},
              "1 MiB": {"messages": [message] * 1200, "stream": True},
              "emoji escapes": {"messages": [{"role": "user", "content": "\ud83d\ude00 " * 200}]}}
    figures = {}
    for name, body in bodies.items():
        raw = json.dumps(body).encode()
        times: dict[str, list[float]] = {"before": [], "after": []}
        for number in range(rounds if len(raw) < 100_000 else rounds // 20):
            for arm in (("before", "after") if number % 2 == 0 else ("after", "before")):
                with app.test_request_context("/proxy/llm/v1/chat/completions", method="POST", data=raw,
                                              content_type="application/json"):
                    began = time.perf_counter()
                    request.get_json(silent=True) if arm == "before" else json_object()
                    times[arm].append(time.perf_counter() - began)
        figures[name] = {arm: round(statistics.median(values) * 1e6, 1) for arm, values in times.items()}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--parse-only", action="store_true", help="only the body parsing figures")
    args = parser.parse_args()
    if args.parse_only:
        print(json.dumps(parse_cost(), indent=1))
        return
    versions = [prose(490_000, seed) for seed in range(20)]
    rounds = []
    with tempfile.TemporaryDirectory(prefix="taleweaver-bench-") as folder:
        arms = {"before": tree_at(BEFORE, Path(folder)) / "backend", "after": ROOT / "backend"}
        for number in range(args.rounds):
            order = list(arms) if number % 2 == 0 else list(reversed(arms))
            for arm in order:
                figures = {"round": number + 1, "arm": arm, **import_beside_saves(arms[arm]),
                           **small_edits_growth(arms[arm], versions)}
                print(json.dumps(figures), flush=True)
                rounds.append(figures)
    parsing = parse_cost()
    print(json.dumps({"parse_microseconds_p50": parsing}), flush=True)
    RESULTS.write_text(json.dumps({"before": BEFORE, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   "rounds": rounds, "parse_microseconds_p50": parsing}, indent=1) + "\n")


if __name__ == "__main__":
    main()
