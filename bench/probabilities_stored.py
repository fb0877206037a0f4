"""What a story's token probabilities keep (issue 24): the bytes stored per 1,000 generated tokens
with the top 5 alternatives, measured from the database of the real server (./run.sh's gunicorn
settings) after story generations of 1,000 tokens from llama.cpp's fake with and without "Show
probabilities" (token_probabilities' rows: top_json and 48 bytes a row, as the stored size counts
them; and what the story's stored size grew by beyond the same generation without them).

The fakes' log-probabilities are short (-0.25, -1.5); a real server's have many decimals, kept to 4
(`generations/probabilities.py`): the same tokens with OpenAI-like values (random, 8 decimals) are
lined up and measured as they would be stored, beside the database's figure.

    .venv/bin/python bench/probabilities_stored.py     # about 10 seconds
"""
from __future__ import annotations

import json
import random
import sqlite3
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "backend"))

from run import start_server  # noqa: E402
from taleweaver.generations import probabilities  # noqa: E402
from taleweaver.storage.texts import REFERENCE_BYTES  # noqa: E402
from tests.fakes.server import FakeLLMServer  # noqa: E402
from tests.support import configure_fake, new_story  # noqa: E402

TOKENS = 1000
ROUNDS = 3
RESULTS = BENCH / "results" / "probabilities_stored.json"


def reply(seed: int) -> str:
    rnd = random.Random(seed)
    words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9))) for _ in range(TOKENS)]
    return " ".join(words)


def generate(server, shown: bool, seed: int) -> int:
    story = new_story(server, "A benchmark", content="Once",
                      settings={"max_tokens": 4 * TOKENS, **({"show_probabilities": True} if shown else {})})
    answer = server.api("POST", "/proxy/llm/v1/chat/completions", timeout=120,
                        json={"stream": False, "taleweaver": {"story_id": story["id"], "action": "continue"}})
    assert answer.status_code == 200, answer.text
    return story["id"]


def measured(server, with_id: int, without_id: int) -> dict:
    with sqlite3.connect(server.database) as conn:
        rows, top_bytes, tokens = conn.execute(
            """SELECT count(*), sum(length(CAST(top_json AS BLOB))), sum(json_array_length(top_json))
               FROM token_probabilities WHERE text_id IN (SELECT id FROM texts WHERE story_id = ?)""",
            (with_id,)).fetchone()
        sizes = dict(conn.execute("SELECT id, stored_bytes FROM stories WHERE id IN (?, ?)", (with_id, without_id)))
    per_1000 = 1000 / tokens
    return {"tokens": tokens, "rows": rows,
            "token_probabilities_bytes_per_1000": round((top_bytes + rows * REFERENCE_BYTES) * per_1000),
            "stored_size_growth_per_1000": round((sizes[with_id] - sizes[without_id]) * per_1000)}


def openai_like(seed: int) -> int:
    """Bytes per 1,000 tokens of the same runs with 8-decimal log-probabilities, as stored."""
    rnd = random.Random(seed)
    words = reply(seed).split(" ")
    pieces = [words[0]] + [" " + word for word in words[1:]]
    entries = [{"token": piece, "logprob": -rnd.random() * 3,
                "top_logprobs": [{"token": piece if n == 0 else f" {words[rnd.randrange(len(words))]}",
                                  "logprob": -rnd.random() * 12} for n in range(5)]} for piece in pieces]
    runs = probabilities.line_up(entries, "".join(pieces))
    stored = sum(len(json.dumps(tokens, separators=(",", ":"))) + REFERENCE_BYTES for _, _, tokens in runs)
    return round(stored * 1000 / len(entries))


def main() -> None:
    fake = FakeLLMServer("openai_compatible", reply=reply(0)).start()
    server = start_server()
    try:
        configure_fake(server, fake, default_model=fake.models[0])
        rounds = []
        for seed in range(ROUNDS):
            fake.reply = reply(seed)
            with_id, without_id = generate(server, True, seed), generate(server, False, seed)
            rounds.append(measured(server, with_id, without_id))
    finally:
        server.close()
        fake.stop()
    result = {"rounds": rounds, "openai_like_bytes_per_1000": openai_like(0),
              "note": "llama.cpp's fake, top 5, 1,000 tokens a generation; the stored size counts token_probabilities' "
                      "top_json and 48 bytes a row"}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
