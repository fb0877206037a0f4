"""How much text a SIGKILL of the whole server loses, and how soon a re-attached page shows the
next word (a benchmark, not a test: it prints figures and writes results/durability.json).

    .venv/bin/python bench/durability.py            # 5 kills, 20 re-attaches
    .venv/bin/python bench/durability.py --kills 10 --reattaches 50

The real server (gunicorn, 2 workers, as the system tests run it) and the fake Ollama of
tests/fakes writing one word every 50 ms, in this process, so that its send times and the
client's receive times share one clock (time.monotonic()).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes import FakeLLMServer  # noqa: E402
from tests.support import (  # noqa: E402
    TaleweaverServer,
    configure_fake,
    delta_text,
    kill_whole_server,
    sse_events_with_ids,
)

WORDS = [f"w{i}" for i in range(400)]
REPLY = " ".join(WORDS)
PIECES = [WORDS[0]] + [" " + word for word in WORDS[1:]]
ENDS = [len("".join(PIECES[: i + 1])) for i in range(len(PIECES))]  # text offset after each piece
CHUNK_DELAY = 0.05


def start_generation(server: TaleweaverServer) -> tuple[int, requests.Response]:
    story = server.api("POST", "/api/stories", json={"premise": "A counting fox"}).json()
    response = server.api(
        "POST", "/proxy/llm/v1/chat/completions", stream=True,
        json={"messages": [{"role": "user", "content": "Count."}], "stream": True,
              "taleweaver": {"story_id": story["id"]}},
    )
    return story["id"], response


def one_kill(fake: FakeLLMServer, run_for: float) -> dict:
    """Kill the server `run_for` seconds into a generation; what the restarted server kept."""
    server = TaleweaverServer().start()
    try:
        configure_fake(server, fake, default_model=fake.models[0])
        story_id, response = start_generation(server)
        response.close()
        time.sleep(run_for)
        killed_at = time.monotonic()
        kill_whole_server(server)
        times = list(fake.stats["chunk_times"])
        sent = sum(1 for t in times if t <= killed_at)
        server.start()
        story = server.api("GET", f"/api/stories/{story_id}").json()
        kept_text = story["content"]
        kept = 0
        while kept < len(PIECES) and kept_text.startswith("".join(PIECES[: kept + 1])):
            kept += 1
        assert "".join(PIECES[:kept]) == kept_text, "the kept text is not what the model wrote"
        last_kept_at = times[kept - 1] if kept else None
        return {
            "ran_s": run_for,
            "status": story["last_generation"]["status"],
            "chars_sent": len("".join(PIECES[:sent])),
            "chars_kept": len(kept_text),
            "chars_lost": len("".join(PIECES[:sent])) - len(kept_text),
            "words_lost": sent - kept,
            "seconds_lost": round(killed_at - last_kept_at, 3) if last_kept_at else None,
        }
    finally:
        server.close()


def reattaches(fake: FakeLLMServer, count: int) -> dict:
    """Re-attach `count` times during generations, at the end of the text so far: how long until
    the next word shows, and how far each shown word is behind the moment the model wrote it."""
    server = TaleweaverServer().start()
    next_word, word_delay = [], []
    try:
        configure_fake(server, fake, default_model=fake.models[0])
        story_id, response = start_generation(server)
        generation_id = int(response.headers["X-Taleweaver-Generation"])
        response.close()
        for _ in range(count):
            time.sleep(random.uniform(0.1, 0.4))
            status = server.api("GET", f"/proxy/llm/v1/generations/{generation_id}").json()
            if status["status"] != "running":
                story_id, response = start_generation(server)
                generation_id = int(response.headers["X-Taleweaver-Generation"])
                response.close()
                time.sleep(0.5)
                continue
            asked = time.monotonic()
            follower = requests.get(
                f"{server.url}/proxy/llm/v1/generations/{generation_id}/events?after={status['text_length']}",
                stream=True, timeout=30,
            )
            events = sse_events_with_ids(follower)
            for event_id, data in events:
                now = time.monotonic()
                text = delta_text([(event_id, data)])
                if text:
                    next_word.append(now - asked)
                    last_piece = ENDS.index(event_id)  # the event's text ends with this piece
                    word_delay.append(now - fake.stats["chunk_times"][last_piece])
                    break
            follower.close()
    finally:
        server.close()

    def summary(values):
        values = sorted(values)
        return {
            "n": len(values),
            "p50_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(values[int(0.95 * (len(values) - 1))] * 1000, 1),
            "max_ms": round(values[-1] * 1000, 1),
        }

    return {"next_word": summary(next_word),
            "word_behind_model": summary(word_delay)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--reattaches", type=int, default=20)
    args = parser.parse_args()
    with FakeLLMServer("ollama", reply=REPLY, chunk_delay=CHUNK_DELAY).start() as fake:
        kills = [one_kill(fake, random.uniform(1.5, 4.0)) for _ in range(args.kills)]
        attach = reattaches(fake, args.reattaches)
    lost = [k["chars_lost"] for k in kills]
    seconds = [k["seconds_lost"] for k in kills if k["seconds_lost"] is not None]
    result = {
        "model_speed": f"one word every {CHUNK_DELAY * 1000:.0f} ms",
        "kills": kills,
        "kill_summary": {
            "runs": len(kills),
            "all_interrupted": all(k["status"] == "interrupted" for k in kills),
            "chars_lost_median": statistics.median(lost),
            "chars_lost_max": max(lost),
            "seconds_lost_median": round(statistics.median(seconds), 3) if seconds else None,
            "seconds_lost_max": max(seconds) if seconds else None,
        },
        "reattach": attach,
    }
    out = ROOT / "bench" / "results" / "durability.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
