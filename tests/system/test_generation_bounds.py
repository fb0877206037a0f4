"""Story generations and the relay keep their bounds (issue 25), in multi-user mode against the
real server (gunicorn, gevent): a backend that splits and cuts surrogates, a generation whose text
the database refuses, a story that reaches its length limit, the quota, one user's 150
generations, a 40 MB line, and what the log may say."""
from __future__ import annotations

import concurrent.futures
import threading

import pytest

from tests.support import TaleweaverServer, prose, sse_events
from tests.system.test_bounds import backup_of, bounded  # noqa: F401 - bounded: one worker, every user's jobs on it
from tests.system.test_users_and_security import create_user, login

# A Python-based OpenAI-compatible server may send half of an emoji in one chunk and the other
# half in the next, escaped as JSON writes them, and lone halves; and a NUL, which PostgreSQL's
# text cannot hold.
SURROGATE_PIECES = ["Hi ", "\ud83d", "\ude00 and ", "a lone \ud800 half", " and \udc00 one", " nul\x00 byte", " end\ud83d"]
SURROGATES_MADE_VALID = "Hi \U0001f600 and a lone \ufffd half and \ufffd one nul\ufffd byte end\ufffd"


def use_backend(server, headers: dict, fake) -> None:
    """The user's active backend is the fake, with its first model."""
    config = {"url": fake.url} if fake.kind in ("ollama", "lmstudio") else {"base_url": fake.url}
    saved = server.api("POST", "/api/settings/llm", headers=headers,
                       json={"backend_type": fake.kind, "config": config, "default_model": fake.models[0]})
    assert saved.status_code == 200, saved.text


def story_of(server, headers: dict, premise: str = "A fox who counts", **fields) -> dict:
    made = server.api("POST", "/api/stories", headers=headers, json={"premise": premise, **fields})
    assert made.status_code == 201, made.text
    return made.json()


def generate(server, headers: dict, story_id: int, stream: bool = True, **extra):
    return server.api("POST", "/proxy/llm/v1/chat/completions", headers=headers, stream=stream, timeout=120,
                      json={"messages": [{"role": "user", "content": "Go on."}], "stream": stream,
                            "taleweaver": {"story_id": story_id}, **extra})


def followed(response) -> tuple[str, dict]:
    """The text a generation's stream carried and its last chunk (the outcome)."""
    events = [event for event in sse_events(response) if event != "[DONE]"]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices"))
    return text, events[-1]


def in_background(work) -> tuple[threading.Thread, list]:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    return thread, result


def execute(server, sql: str) -> None:
    """A statement on the server's database, from outside the server."""
    if server.on_postgres:
        import psycopg

        with psycopg.connect(server.env["TALEWEAVER_DATABASE_URL"], autocommit=True) as conn:
            conn.execute(sql)
        return
    import sqlite3

    with sqlite3.connect(server.database) as conn:
        conn.execute(sql)


def test_a_backend_that_splits_and_cuts_surrogates_hurts_no_other_users_generation(bounded, fake_factory):
    ann, bob, cy = (login(bounded, name) for name in ("ann", "bob", "cy"))
    bobs_words = " ".join(f"b{n}" for n in range(60))
    cys_words = " ".join(f"c{n}" for n in range(60))
    for headers, fake in ((ann, fake_factory("openai_compatible", reply=SURROGATE_PIECES, chunk_delay=0.05)),
                          (bob, fake_factory("ollama", reply=bobs_words, chunk_delay=0.03)),
                          (cy, fake_factory("lmstudio", reply=cys_words, chunk_delay=0.03))):
        use_backend(bounded, headers, fake)
    stories = {name: story_of(bounded, headers) for name, headers in (("ann", ann), ("bob", bob), ("cy", cy))}
    runs = {name: in_background(lambda h=headers, s=stories[name]: followed(generate(bounded, h, s["id"])))
            for name, headers in (("bob", bob), ("cy", cy), ("ann", ann))}
    for thread, _ in runs.values():
        thread.join(timeout=60)
    outcome = {name: result[0] for name, (_, result) in runs.items()}

    for name, headers, words in (("bob", bob, bobs_words), ("cy", cy, cys_words)):
        text, last = outcome[name]
        assert text == words and last["taleweaver"]["status"] == "finished", (name, last)
        assert bounded.api("GET", f"/api/stories/{stories[name]['id']}", headers=headers).json()["content"] == words
    text, last = outcome["ann"]
    assert text == SURROGATES_MADE_VALID and last["taleweaver"]["status"] == "finished"
    anns = bounded.api("GET", f"/api/stories/{stories['ann']['id']}", headers=ann).json()
    assert anns["content"] == SURROGATES_MADE_VALID
    saved = bounded.api("PATCH", f"/api/stories/{anns['id']}", headers=ann,
                        json={"base_revision": anns["revision"], "content": anns["content"] + " The end."})
    assert saved.status_code == 200, saved.text
    assert "could not persist" not in bounded.log_text() and "could not be saved" not in bounded.log_text()


def test_the_proxy_relays_a_split_pair_joined_and_a_lone_surrogate_as_u_fffd(bounded, fake_factory):
    ann = login(bounded, "ann")
    use_backend(bounded, ann, fake_factory("openai_compatible", reply=SURROGATE_PIECES))
    with bounded.api("POST", "/proxy/llm/v1/chat/completions", headers=ann, stream=True,
                     json={"messages": [{"role": "user", "content": "Go."}], "stream": True}) as response:
        events = list(sse_events(response))
    assert events[-1] == "[DONE]" and not [e for e in events[:-1] if "error" in e]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e["choices"])
    assert text == SURROGATES_MADE_VALID.replace("nul\ufffd", "nul\x00")  # a NUL is text for a client
    assert events[-2]["choices"] == [] or events[-2]["choices"][0]["finish_reason"] == "stop"


REFUSE_POISON_SQLITE = """CREATE TRIGGER refuse_poison BEFORE INSERT ON generation_pieces
    WHEN NEW.text LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"""
REFUSE_POISON_POSTGRES = [
    """CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN
         IF NEW.text LIKE '%poison%' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER refuse_poison BEFORE INSERT ON generation_pieces FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
]


def test_a_generation_whose_text_the_database_refuses_fails_alone_and_the_log_says_so_once(bounded, fake_factory):
    ann, bob, cy = (login(bounded, name) for name in ("ann", "bob", "cy"))
    for sql in REFUSE_POISON_POSTGRES if bounded.on_postgres else [REFUSE_POISON_SQLITE]:
        execute(bounded, sql)
    try:
        anns_words = " ".join(f"a{n}" for n in range(20)) + " poison " + " ".join(f"z{n}" for n in range(10))
        others = {"bob": " ".join(f"b{n}" for n in range(50)), "cy": " ".join(f"c{n}" for n in range(50))}
        use_backend(bounded, ann, fake_factory("openai_compatible", reply=anns_words, chunk_delay=0.05))
        use_backend(bounded, bob, fake_factory("ollama", reply=others["bob"], chunk_delay=0.04))
        use_backend(bounded, cy, fake_factory("openai_compatible", reply=others["cy"], chunk_delay=0.04))
        stories = {name: story_of(bounded, headers) for name, headers in (("ann", ann), ("bob", bob), ("cy", cy))}
        runs = {name: in_background(lambda h=headers, s=stories[name]: followed(generate(bounded, h, s["id"])))
                for name, headers in (("bob", bob), ("cy", cy), ("ann", ann))}
        for thread, _ in runs.values():
            thread.join(timeout=60)
    finally:
        execute(bounded, "DROP TRIGGER refuse_poison" + (" ON generation_pieces" if bounded.on_postgres else ""))
    for name, headers in (("bob", bob), ("cy", cy)):
        text, last = runs[name][1][0]
        assert text == others[name] and last["taleweaver"]["status"] == "finished"
    text, last = runs["ann"][1][0]
    assert last["taleweaver"]["status"] == "failed" and last["taleweaver"]["error"]["code"] == "not_saved"
    assert "could not save" in last["taleweaver"]["error"]["message"] and last["taleweaver"]["error"]["hint"]
    kept = bounded.api("GET", f"/api/stories/{stories['ann']['id']}", headers=ann).json()["content"]
    assert kept == text and anns_words.startswith(kept) and "poison" not in kept and kept.startswith("a0 a1")
    log = bounded.log_text()
    assert log.count("its new text could not be saved") == 1 and "could not persist" not in log


def test_a_generation_reaching_the_story_limit_ends_length_and_the_story_saves_and_imports_again(bounded, fake_factory):
    ann = login(bounded, "ann")
    fake = fake_factory("openai_compatible")
    use_backend(bounded, ann, fake)
    fake.set_fault("large_reply", bytes=600_000, times=1)
    story = story_of(bounded, ann, content="An opening line.\n\n")
    answer = generate(bounded, ann, story["id"], stream=False).json()
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["taleweaver"]["status"] == "finished"
    assert answer["taleweaver"]["error"]["code"] == "story_length_limit"
    assert "500,000 characters" in answer["taleweaver"]["error"]["message"]
    full = bounded.api("GET", f"/api/stories/{story['id']}", headers=ann).json()
    assert len(full["content"]) == 500_000 and full["content"].startswith("An opening line.\n\nThe lantern")
    saved = bounded.api("PATCH", f"/api/stories/{story['id']}", headers=ann,
                        json={"base_revision": full["revision"], "content": full["content"][:-1] + "!"})
    assert saved.status_code == 200, saved.text
    backup = bounded.api("GET", "/api/stories/backup", headers=ann, timeout=120)
    mine = [s for s in backup.json()["stories"] if s["content"] == saved.json()["content"]]
    again = bounded.api("POST", "/api/stories/import", headers=ann, json=backup_of(mine), timeout=120)
    assert again.status_code == 201, again.text
    imported = bounded.api("GET", f"/api/stories/{again.json()['stories'][0]['id']}", headers=ann).json()
    assert imported["content"] == saved.json()["content"]
    asked = len(fake.requests)
    refused = generate(bounded, ann, story["id"], stream=False)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "story_length_limit"
    assert "new story" in refused.json()["error"]["hint"] and len(fake.requests) == asked


def test_the_quota_refuses_a_generation_before_it_starts_and_stops_one_that_reaches_it(fake_factory):
    server = TaleweaverServer(env={"TALEWEAVER_AUTH_MODE": "multi", "TALEWEAVER_STORAGE_QUOTA": "2MB"}, workers=1).start()
    try:
        for name in ("ann", "bob"):
            create_user(server, name)
        ann, bob = login(server, "ann"), login(server, "bob")
        fake = fake_factory("openai_compatible")
        use_backend(server, ann, fake)
        use_backend(server, bob, fake)
        story_of(server, ann, content=prose(400_000, 7))  # about 0.8 MB kept of ann's 2 MB
        story = story_of(server, ann, premise="A long one")
        worst = generate(server, ann, story["id"], stream=False, max_tokens=1_000_000)
        assert worst.status_code == 507 and worst.json()["error"]["code"] == "quota_exceeded"
        assert worst.json()["error"]["needed_bytes"] == 4_000_000 and not fake.requests

        fake.set_fault("large_reply", bytes=450_000, times=1)
        answer = generate(server, ann, story["id"], stream=False).json()
        assert answer["choices"][0]["finish_reason"] == "length"
        assert answer["taleweaver"]["error"]["code"] == "quota_exceeded"
        assert "TALEWEAVER_STORAGE_QUOTA" in answer["taleweaver"]["error"]["hint"]
        written = len(server.api("GET", f"/api/stories/{story['id']}", headers=ann).json()["content"])
        assert 100_000 < written < 450_000, written
        asked = len(fake.requests)
        refused = generate(server, ann, story["id"], stream=False)
        assert refused.status_code == 507 and "TALEWEAVER_STORAGE_QUOTA" in refused.json()["error"]["hint"]
        assert len(fake.requests) == asked

        bobs = story_of(server, bob)
        assert generate(server, bob, bobs["id"], stream=False).json()["taleweaver"]["status"] == "finished"
    finally:
        server.close()


def test_one_user_starting_150_generations_gets_429_beyond_the_cap_and_another_user_is_unaffected(fake_factory):
    server = TaleweaverServer(env={"TALEWEAVER_AUTH_MODE": "multi"}, workers=2).start()
    try:
        for name in ("ann", "bob"):
            create_user(server, name)
        ann, bob = login(server, "ann"), login(server, "bob")
        slow = fake_factory("openai_compatible", reply=" ".join(f"w{n}" for n in range(100)), chunk_delay=0.2)
        use_backend(server, ann, slow)
        bobs_words = " ".join(f"b{n}" for n in range(30))
        use_backend(server, bob, fake_factory("ollama", reply=bobs_words, chunk_delay=0.02))
        made = server.api("POST", "/api/stories/import", headers=ann, timeout=120,
                          json=backup_of([{"title": f"Tale {n}", "content": ""} for n in range(150)]))
        story_ids = [story["id"] for story in made.json()["stories"]]

        def start(story_id: int):
            with generate(server, ann, story_id) as response:
                return response.status_code, response.headers.get("Retry-After"), (
                    response.json() if response.status_code != 200 else response.headers["X-Taleweaver-Generation"])

        with concurrent.futures.ThreadPoolExecutor(max_workers=150) as pool:
            answers = list(pool.map(start, story_ids))
        started = [answer for status, _, answer in answers if status == 200]
        refused = [(retry, answer["error"]) for status, retry, answer in answers if status == 429]
        assert len(started) == 8 and len(refused) == 142, [a[0] for a in answers]
        retry, error = refused[0]
        assert int(retry) > 0 and error["code"] == "too_many_streams"
        assert "8 story generations and streams" in error["message"] and "TALEWEAVER_USER_STREAMS" in error["hint"]
        plain = server.api("POST", "/proxy/llm/v1/chat/completions", headers=ann, stream=True,
                           json={"messages": [{"role": "user", "content": "Go."}], "stream": True})
        assert plain.status_code == 429 and plain.json()["error"]["code"] == "too_many_streams"

        bobs = story_of(server, bob)
        text, last = followed(generate(server, bob, bobs["id"]))
        assert text == bobs_words and last["taleweaver"]["status"] == "finished"

        for generation_id in started:
            server.api("POST", f"/proxy/llm/v1/generations/{generation_id}/stop", headers=ann)
        with server.api("POST", "/proxy/llm/v1/chat/completions", headers=ann, stream=True,
                        json={"messages": [{"role": "user", "content": "Go."}], "stream": True}) as again:
            assert again.status_code == 200 and list(sse_events(again))[-1] == "[DONE]"
    finally:
        server.close()


def peak_memory(server) -> int:
    """The high-water mark of the server's one worker's resident memory, bytes."""
    import psutil

    (worker,) = psutil.Process(server.process.pid).children()
    with open(f"/proc/{worker.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


LINE_BYTES = 40 * 1024 * 1024


def test_a_40_mb_line_without_a_break_is_a_clear_backend_error_and_the_worker_stays_small(fake_factory):
    server = TaleweaverServer(env={"TALEWEAVER_AUTH_MODE": "multi"}, workers=1).start()
    try:
        create_user(server, "ann")
        ann = login(server, "ann")
        fake = fake_factory("openai_compatible")
        use_backend(server, ann, fake)
        story = story_of(server, ann)
        followed(generate(server, ann, story["id"]))  # warm-up: the worker at its working size
        before = peak_memory(server)
        fake.set_fault("unbroken_line", chunks=3, bytes=LINE_BYTES, times=2)
        with server.api("POST", "/proxy/llm/v1/chat/completions", headers=ann, stream=True,
                        json={"messages": [{"role": "user", "content": "Go."}], "stream": True}) as response:
            events = list(sse_events(response))
        text, last = followed(generate(server, ann, story["id"]))
        grown = peak_memory(server) - before
        print(f"two answers with a line of {LINE_BYTES:,} bytes: the worker's peak memory grew by {grown:,} bytes")
        (error,) = [e["error"] for e in events if "error" in e]
        assert error["code"] == "backend_error" and "without a line break" in error["message"]
        assert events[-1] == "[DONE]"
        assert last["taleweaver"]["status"] == "failed" and last["taleweaver"]["error"]["code"] == "backend_error"
        assert "1 MiB" in last["taleweaver"]["error"]["message"] and text.startswith("Once upon")
        assert grown < LINE_BYTES / 8, grown
    finally:
        server.close()


def test_the_server_log_never_carries_the_storys_text(bounded, fake_factory):
    ann = login(bounded, "ann")
    word = "Quillwhistle"
    fake = fake_factory("ollama", reply=f"The {word} sang. " * 20)
    use_backend(bounded, ann, fake)
    story = story_of(bounded, ann, premise=f"A {word} in the attic", content=f"{word} woke up.")
    assert followed(generate(bounded, ann, story["id"]))[1]["taleweaver"]["status"] == "finished"
    fake.set_fault("malformed_after_chunks", chunks=3, text=f"and the {word} said", times=2)
    assert followed(generate(bounded, ann, story["id"]))[1]["taleweaver"]["status"] == "failed"
    with bounded.api("POST", "/proxy/llm/v1/chat/completions", headers=ann, stream=True,
                     json={"messages": [{"role": "user", "content": f"More {word}"}], "stream": True}) as response:
        assert [e for e in sse_events(response) if "error" in e]
    log = bounded.log_text()
    assert "is not JSON" in log and "Ollama sent a line of" in log
    assert word not in log
