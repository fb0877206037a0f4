"""What persisting running story generations costs per second, in a story of 1,000 characters and
in one of 495,000, before (where this branch left main, or --before COMMIT, from git: the writer
rewrote the story's and the generation's whole text at every round) and after (this tree: each round appends the new text
as a piece). A benchmark, not a test: it prints figures and writes results/appends.json.

Each round, for each version (alternating which goes first) and each story size: a server as
./run.sh starts it (single-user, SQLite, 2 gevent workers), GENERATIONS stories of that size, and
as many generations at once from the fake upstream (bench/upstream.py), each a 16-byte chunk every
50 ms for SECONDS; measured while they run (the writer's rounds alone) and from their start to
their end: the server's CPU milliseconds and the kilobytes its processes wrote to disk
(/proc/<pid>/io), per generation-second; and whether every generation ended with all its text.

    .venv/bin/python bench/appends.py                 # 2 rounds, about 3 minutes
    .venv/bin/python bench/appends.py --rounds 3
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from clients import ServerProbe  # noqa: E402
from run import MODEL, PROXY_CHAT, TEST_ONLY_ENV, Upstream  # noqa: E402
from tests.support import TaleweaverServer, prose  # noqa: E402
import versions  # noqa: E402

SIZES = (1_000, 495_000)  # the larger with room for what the generations write, below the limit
GENERATIONS = 10
SECONDS = 10.0
# While running: from STEADY_FROM s after the generations start to STEADY_TO s before they end,
# so that only the writer's rounds are measured (start: the prompt, the first text; end: the
# whole text written once into the story, its revision and undo step).
STEADY_FROM, STEADY_TO = 2.0, 2.0
INTERVAL_MS = 50.0
CHUNK_BYTES = 16
RESULTS = BENCH / "results" / "appends.json"


def generate_in(server: TaleweaverServer, story_id: int, chunks: int) -> bool:
    """One generation into the story, awaited to its end; whether all its chunks' text arrived."""
    script = {"chunks": chunks, "interval_ms": INTERVAL_MS, "chunk_bytes": CHUNK_BYTES}
    answer = requests.post(server.url + PROXY_CHAT, timeout=SECONDS + 120, json={
        "model": MODEL, "stream": False, "taleweaver": {"story_id": story_id},
        "messages": [{"role": "user", "content": json.dumps(script)}]}).json()
    if "choices" not in answer:
        raise RuntimeError(f"the generation did not run: {answer}")
    text = answer["choices"][0]["message"]["content"] or ""
    return answer["taleweaver"]["status"] == "finished" and text.count(";") >= chunks


def measure(backend: Path, upstream: Upstream, size: int) -> dict:
    server = TaleweaverServer(backend=backend)
    for name in TEST_ONLY_ENV:
        server.env.pop(name, None)
    server.start()
    try:
        server.configure("lmstudio", {"url": upstream.url}, MODEL)
        text = prose(size, 3)
        story_ids = [server.api("POST", "/api/stories", json={"premise": f"Tale {n}", "content": text}).json()["id"]
                     for n in range(GENERATIONS + 1)]
        generate_in(server, story_ids.pop(), 5)  # warm-up: connections, the writer, the upstream
        chunks = int(SECONDS * 1000 / INTERVAL_MS)
        probe = ServerProbe(server.process.pid)
        marks = [(time.monotonic(), probe.cpu_seconds(), probe.written_bytes())]
        with concurrent.futures.ThreadPoolExecutor(max_workers=GENERATIONS) as pool:
            running = pool.map(lambda story_id: generate_in(server, story_id, chunks), story_ids)
            for pause in (STEADY_FROM, SECONDS - STEADY_FROM - STEADY_TO):  # the steady state's window
                time.sleep(pause)
                marks.append((time.monotonic(), probe.cpu_seconds(), probe.written_bytes()))
            complete = sum(running)
        marks.append((time.monotonic(), probe.cpu_seconds(), probe.written_bytes()))

        def per_generation_second(first: tuple, last: tuple) -> dict:
            generation_seconds = GENERATIONS * (last[0] - first[0])
            return {"server_cpu_ms": round((last[1] - first[1]) * 1000 / generation_seconds, 2),
                    "written_kb": round((last[2] - first[2]) / 1000 / generation_seconds, 1)}

        return {"story_chars": size, "generations": GENERATIONS, "seconds": round(marks[-1][0] - marks[0][0], 1),
                "complete": complete, "while_running": per_generation_second(marks[1], marks[2]),
                "start_to_end": per_generation_second(marks[0], marks[3])}
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", help="the commit to measure against (default: where this branch left main)")
    args = parser.parse_args()
    commit = versions.commit_of(args.before)
    rounds = []
    with tempfile.TemporaryDirectory(prefix="taleweaver-bench-") as folder, Upstream() as upstream:
        arms = {"before": versions.tree_at(commit, Path(folder)) / "backend", "after": ROOT / "backend"}
        for number in range(args.rounds):
            for arm in (list(arms) if number % 2 == 0 else list(reversed(arms))):
                for size in SIZES:
                    figures = {"round": number + 1, "arm": arm, **measure(arms[arm], upstream, size)}
                    print(json.dumps(figures), flush=True)
                    rounds.append(figures)
    RESULTS.write_text(json.dumps({"before": commit, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   "rounds": rounds}, indent=1) + "\n")


if __name__ == "__main__":
    main()
