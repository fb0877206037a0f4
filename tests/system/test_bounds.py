"""One user never hurts another (issue 25), in multi-user mode against the real server (gunicorn,
gevent, one worker: whatever one request does, the others of that worker share it): a 10,000-story
import while another user saves, small edits of a story with large versions, an outside writer
holding SQLite's lock while streams run, a large backup's memory, bad input, and the quota."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time

import psutil
import pytest

from tests.support import TaleweaverServer, prose, sse_events
from tests.system.test_users_and_security import create_user, login

VERSION_CHARS = 490_000


@pytest.fixture(scope="module")
def bounded():
    server = TaleweaverServer(env={"TALEWEAVER_AUTH_MODE": "multi"}, workers=1).start()
    for name in ("ann", "bob", "cy"):
        create_user(server, name)
    yield server
    server.close()


def backup_of(stories: list) -> dict:
    return {"format": "taleweaver-library", "version": 1, "stories": stories}


def saves_in_a_loop(server, headers, story: dict, stop: threading.Event, outcomes: list) -> threading.Thread:
    """Another user's autosave: the story saved again and again until `stop` (at most 2,000 times)."""
    def run():
        revision = story["revision"]
        for number in range(2000):
            if stop.is_set():
                return
            started = time.monotonic()
            saved = server.api("PATCH", f"/api/stories/{story['id']}", headers=headers, timeout=60,
                               json={"base_revision": revision, "content": f"Draft {number}."})
            outcomes.append((saved.status_code, time.monotonic() - started))
            if saved.status_code == 200:
                revision = saved.json()["revision"]
            time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_10000_story_import_answers_while_another_users_saves_succeed(bounded):
    ann, bob = login(bounded, "ann"), login(bounded, "bob")
    bobs = bounded.api("POST", "/api/stories", headers=bob, json={"premise": "Bob writes on"}).json()
    stop, saves = threading.Event(), []
    saver = saves_in_a_loop(bounded, bob, bobs, stop, saves)
    time.sleep(0.3)
    imported = bounded.api("POST", "/api/stories/import", headers=ann, timeout=300,
                           json=backup_of([{"title": "Same", "content": f"Tale {n}."} for n in range(10_000)]))
    during = len(saves)
    stop.set()
    saver.join(timeout=60)
    assert imported.status_code == 201, imported.text
    titles = [story["title"] for story in imported.json()["stories"]]
    assert len(titles) == 10_000 and len(set(titles)) == 10_000 and titles[-1] == "Same (10000)"
    assert len(bounded.api("GET", "/api/stories", headers=ann).json()["stories"]) == 10_000
    assert during > 0 and all(status == 200 for status, _ in saves), saves
    assert bounded.api("GET", f"/api/stories/{bobs['id']}", headers=bob).json()["content"].startswith("Draft ")


def stored_size(server, but: str = "") -> int:
    """The database's size: the SQLite file after a checkpoint, or every table of the schema (with
    its indexes and TOAST) but the one named."""
    if server.on_postgres:
        return int(server.query("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname != ?",
                                (but,))[0][0])
    with sqlite3.connect(server.database) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(server.database)


def test_small_edits_of_a_story_with_large_versions_grow_the_database_by_about_their_own_size(bounded):
    ann = login(bounded, "ann")
    versions = [prose(VERSION_CHARS, seed) for seed in range(20)]
    content = "An opening line.\n\n" + versions[19]
    imported = bounded.api("POST", "/api/stories/import", headers=ann, timeout=120, json=backup_of([
        {"title": "Large versions", "content": content,
         "alternatives": {"start": 18, "versions": versions, "chosen": 19}}]))
    assert imported.status_code == 201, imported.text
    story = bounded.api("GET", f"/api/stories/{imported.json()['stories'][0]['id']}", headers=ann).json()
    before, kept_before, edited = stored_size(bounded), stored_size(bounded, but="stories"), 0
    for number in range(20):
        edit = f" (edit {number})"
        content = content[:2000] + edit + content[2000:]
        edited += len(edit)
        saved = bounded.api("PATCH", f"/api/stories/{story['id']}", headers=ann,
                            json={"base_revision": story["revision"], "content": content})
        assert saved.status_code == 200, saved.text
        story = saved.json()
    growth, kept = stored_size(bounded) - before, stored_size(bounded, but="stories") - kept_before
    beside = f" ({kept:,} bytes beside the stories table)" if bounded.on_postgres else ""
    print(f"20 edits of {edited} bytes in all grew the database by {growth:,} bytes{beside}")
    assert story["alternatives"]["count"] == 20 and story["history"]["steps"] == 21
    # Each edit keeps one new chunk (at most 16 KiB) and the references: never a copy of the
    # 20 versions (10 MB a step before) nor of the text. On PostgreSQL the stories table also
    # holds each replaced working copy of the text as a dead row until autovacuum reclaims it.
    assert kept < 20 * 40_000, kept
    assert growth < 20 * 40_000 + (20 * (VERSION_CHARS + 20_000) if bounded.on_postgres else 0), growth


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(5)
conn.execute("COMMIT")
"""


def test_a_writer_holding_sqlites_lock_outside_does_not_stop_the_other_users_streams_or_reads(bounded, fake_factory):
    if bounded.on_postgres:
        pytest.skip("SQLite's file lock: PostgreSQL's writers wait on the server, not in the worker")
    ann, bob, cy = login(bounded, "ann"), login(bounded, "bob"), login(bounded, "cy")
    fake = fake_factory("openai_compatible", chunk_delay=0.05, reply=" ".join(f"w{n}" for n in range(160)))
    configure_fake_for(bounded, ann, fake)
    bobs = bounded.api("POST", "/api/stories", headers=bob, json={"premise": "Waiting"}).json()
    arrivals: list[float] = []

    def stream():
        with bounded.api("POST", "/proxy/llm/v1/chat/completions", headers=ann, stream=True, timeout=60,
                         json={"messages": [{"role": "user", "content": "Go"}], "stream": True}) as response:
            for _ in sse_events(response):
                arrivals.append(time.monotonic())

    streamer = threading.Thread(target=stream, daemon=True)
    streamer.start()
    assert wait_until(lambda: len(arrivals) >= 5)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, bounded.database], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    held_from = time.monotonic()
    saved: list = []
    saver = threading.Thread(target=lambda: saved.append(bounded.api(
        "PATCH", f"/api/stories/{bobs['id']}", headers=bob, json={"base_revision": bobs["revision"], "content": "Later."})),
        daemon=True)
    saver.start()
    time.sleep(0.5)  # bob's save is waiting for the lock now
    read = bounded.api("GET", "/api/stories", headers=cy)
    read_while_held = holder.poll() is None
    holder.wait(timeout=30)
    held_until = time.monotonic()
    saver.join(timeout=60)
    streamer.join(timeout=60)
    assert read.status_code == 200 and read_while_held
    flowing = [t for t in arrivals if held_from + 0.5 < t < held_until - 0.5]
    assert len(flowing) >= 20, (len(flowing), len(arrivals))  # one every 0.05 s from the fake
    assert saved and saved[0].status_code == 200 and saved[0].json()["content"] == "Later."


def configure_fake_for(server, headers, fake) -> None:
    config = {"base_url": fake.url}
    saved = server.api("POST", "/api/settings/llm", headers=headers,
                       json={"backend_type": fake.kind, "config": config, "default_model": fake.models[0]})
    assert saved.status_code == 200, saved.text


def wait_until(condition, timeout=20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def worker_of(server) -> psutil.Process:
    (worker,) = psutil.Process(server.process.pid).children()
    return worker


def test_a_large_backup_streams_with_flat_server_memory_and_imports_again(bounded):
    cy = login(bounded, "cy")
    text = prose(VERSION_CHARS, 99)
    for part in range(2):
        made = bounded.api("POST", "/api/stories/import", headers=cy, timeout=300, json=backup_of(
            [{"title": f"Long {part}.{n}", "content": f"Story {part}.{n}.\n\n" + text} for n in range(40)]))
        assert made.status_code == 201, made.text
    worker = worker_of(bounded)
    resting, peak, stop = worker.memory_info().rss, [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], worker.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    size, body = 0, bytearray()
    with bounded.api("GET", "/api/stories/backup", headers=cy, stream=True, timeout=300) as response:
        assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
        for piece in response.iter_content(chunk_size=1 << 16):
            size += len(piece)
            body += piece
    stop.set()
    sampler.join()
    grown = peak[0] - resting
    print(f"backup of {size:,} bytes; the worker's memory grew by {grown:,} bytes at most")
    assert size > 35_000_000 and grown < size / 4, (size, grown)
    again = bounded.api("POST", "/api/stories/import", data=bytes(body), timeout=300,
                        headers={**login(bounded, "bob"), "Content-Type": "application/json"})
    assert again.status_code == 201 and again.json()["imported"] == 80, again.text[:300]


BAD = {
    "a lone surrogate in a title": '{"premise": "p", "title": "a\\ud800b"}',
    "a lone surrogate in the memory": '{"premise": "p", "memory": "a\\ud800b"}',
    "a lone surrogate in the author's note": '{"premise": "p", "authors_note": "a\\ud800b"}',
    "JSON nested 50,000 deep": '{"premise": "p", "settings": {"x": ' + "[" * 50_000 + "]" * 50_000 + "}}",
    "NaN in the settings": '{"premise": "p", "settings": {"temperature": NaN}}',
    "Infinity in the settings": '{"premise": "p", "settings": {"temperature": Infinity}}',
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_bad_input_is_a_400_on_the_api_and_the_proxy_and_nothing_is_stored(bounded, body):
    bob = {**login(bounded, "bob"), "Content-Type": "application/json"}
    before = len(bounded.api("GET", "/api/stories", headers=bob).json()["stories"])
    refused = bounded.api("POST", "/api/stories", headers=bob, data=body.encode())
    assert refused.status_code == 400 and refused.json()["error"]["message"], refused.text
    proxied = bounded.api("POST", "/proxy/llm/v1/chat/completions", headers=bob, data=body.replace(
        '"premise": "p"', '"messages": [{"role": "user", "content": "hi"}]').encode())
    assert proxied.status_code == 400 and proxied.json()["error"]["type"] == "invalid_request_error"
    assert len(bounded.api("GET", "/api/stories", headers=bob).json()["stories"]) == before
    assert bounded.api("GET", "/api/health").status_code == 200


def test_an_imported_time_stamp_with_a_trailing_newline_is_not_taken(bounded):
    bob = login(bounded, "bob")
    imported = bounded.api("POST", "/api/stories/import", headers=bob, json=backup_of(
        [{"title": "Stamped", "content": "x", "created_at": "2026-01-02T03:04:05Z\n"}]))
    assert imported.status_code == 201
    story = bounded.api("GET", f"/api/stories/{imported.json()['stories'][0]['id']}", headers=bob).json()
    assert "\n" not in story["created_at"] and not story["created_at"].startswith("2026-01-02T03:04")


def test_a_user_past_the_quota_gets_507_and_another_user_saves_on():
    server = TaleweaverServer(env={"TALEWEAVER_AUTH_MODE": "multi", "TALEWEAVER_STORAGE_QUOTA": "2MB"}, workers=1).start()
    try:
        for name in ("ann", "bob"):
            create_user(server, name)
        ann, bob = login(server, "ann"), login(server, "bob")
        text = prose(400_000, 1)
        kept = server.api("POST", "/api/stories", headers=ann, json={"premise": "First", "content": text})
        assert kept.status_code == 201
        refused = server.api("POST", "/api/stories", headers=ann, json={"premise": "Second", "content": prose(480_000, 2)})
        assert refused.status_code == 507, refused.text
        error = refused.json()["error"]
        assert error["code"] == "quota_exceeded" and "TALEWEAVER_STORAGE_QUOTA" in error["hint"]
        assert "2.0 MB" in error["message"] and error["quota_bytes"] == 2_000_000
        assert server.api("POST", "/api/stories", headers=bob, json={"premise": "Bob's", "content": text}).status_code == 201
        use = server.api("GET", "/api/stories/storage", headers=ann).json()
        assert use["quota_bytes"] == 2_000_000 and use["stories"] == 1 and use["used_bytes"] > 800_000
    finally:
        server.close()
