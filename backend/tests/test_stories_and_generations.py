"""Stories as documents (revisions, optimistic concurrency) and generations as server-side jobs,
through the Flask test client with a scripted LLM service (the whole-system tests in tests/system
run the same paths against the real server and fake backends)."""
import json
import os
import threading
import time

import pytest

import db
import llm_service
from taleweaver.generations import ending, followers, job, registry, rows, shutdown, writer
from taleweaver.llm.errors import BackendError, BackendUnreachable
from taleweaver.stories import store as stories_store
from taleweaver.storage import texts
from app import create_app
from db import init_db
from tests.database import connection

REPLY = ["Once", " upon", " a", " time", " there", " was", " a", " fox."]


class ScriptedService:
    """An LLM service whose stream is a list of pieces; it can wait at a piece, or fail there."""

    backend_type = "ollama"
    default_model = "llama3.2:3b"

    def __init__(self, pieces=REPLY, hold_at=None, fail_at=None):
        self.pieces, self.hold_at, self.fail_at = list(pieces), hold_at, fail_at
        self.release = threading.Event()
        self.reached_hold = threading.Event()
        self.closed = threading.Event()
        self.payloads = []

    def chat_completion(self, payload, stream=False):
        assert stream is True
        self.payloads.append(payload)
        return self._chunks()

    def _chunks(self, pieces=None):
        try:
            for index, piece in enumerate(self.pieces if pieces is None else pieces):
                if index == self.hold_at:
                    self.reached_hold.set()
                    self.release.wait(10)
                if index == self.fail_at:
                    raise BackendError(
                        "Ollama closed the connection in the middle of the answer.",
                        hint="The backend may have crashed or run out of memory; check it and try again.",
                    )
                yield {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 5, "completion_tokens": len(self.pieces), "total_tokens": 5 + len(self.pieces)}}
        finally:
            self.closed.set()


@pytest.fixture
def story_app(tmp_path):
    app = create_app({"DATABASE": str(tmp_path / "stories.db"), "TESTING": True})
    with app.app_context():
        init_db()
    yield app
    for running in registry.live_jobs():
        running.upstream.stop()
        running.join(5)


@pytest.fixture
def web(story_app):
    return story_app.test_client()


@pytest.fixture
def service(monkeypatch, web):
    """The scripted service in place of the active one, which the user's settings say is Ollama
    with its default model."""
    scripted = ScriptedService()
    web.post("/api/settings/llm", json={"backend_type": "ollama", "config": {}, "default_model": scripted.default_model})
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: scripted)
    return scripted


def new_story(web, **fields):
    response = web.post("/api/stories", json={"premise": "A fox who reads", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def generate(web, story_id, stream=True, **extra):
    return web.post("/proxy/llm/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "Write."}], "stream": stream,
        "taleweaver": {"story_id": story_id}, **extra})


def sse(body: bytes):
    """(id, data) of each SSE event of a body."""
    events = []
    for block in body.decode().split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        event_id = next((int(line[4:]) for line in lines if line.startswith("id: ")), None)
        data = next(line[6:] for line in lines if line.startswith("data: "))
        events.append((event_id, data if data == "[DONE]" else json.loads(data)))
    return events


def text_of(events):
    return "".join(data["choices"][0]["delta"].get("content") or "" for _, data in events if data != "[DONE]")


def wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def wait_until_ended(web, generation_id):
    return wait_for(lambda: (lambda g: g if g["status"] != "running" else None)(
        web.get(f"/proxy/llm/v1/generations/{generation_id}").get_json()))


# ---- stories as documents ----------------------------------------------------------------------

def test_a_story_is_created_from_its_premise_alone_with_a_title_derived_from_it(web):
    story = new_story(web, premise="A lighthouse keeper finds a letter\nthat was never sent.")

    assert story["title"] == "A lighthouse keeper finds a letter"
    assert story["premise"] == story["prompt"] == "A lighthouse keeper finds a letter\nthat was never sent."
    assert story["content"] == "" and story["revision"] == 1 and story["word_count"] == 0
    assert story["active_generation"] is None and story["last_generation"] is None
    assert story["generation_status"] is None and story["settings"] == {}


def test_prompt_is_accepted_as_the_older_name_of_premise(web):
    story = web.post("/api/stories", json={"prompt": "A storm", "content": "It rained."}).get_json()

    assert story["premise"] == story["prompt"] == "A storm"


def test_a_save_on_the_current_revision_is_kept_and_counts_up(web):
    story = new_story(web)

    response = web.patch(f"/api/stories/{story['id']}", json={
        "base_revision": 1, "content": "The fox opened the book.", "genre": "fable", "settings": {"temperature": 0.7}})

    assert response.status_code == 200
    saved = web.get(f"/api/stories/{story['id']}").get_json()
    assert saved["revision"] == 2 and saved["content"] == "The fox opened the book."
    assert saved["word_count"] == 5 and saved["genre"] == "fable" and saved["settings"] == {"temperature": 0.7}


def test_a_save_on_an_older_revision_is_refused_with_409_and_nothing_is_written(web):
    story = new_story(web)
    assert web.patch(f"/api/stories/{story['id']}", json={"base_revision": 1, "content": "Tab A's text."}).status_code == 200

    response = web.patch(f"/api/stories/{story['id']}", json={"base_revision": 1, "content": "Tab B's text.", "title": "B"})

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "revision_conflict" and error["current_revision"] == 2 and error["message"]
    kept = web.get(f"/api/stories/{story['id']}").get_json()
    assert kept["content"] == "Tab A's text." and kept["revision"] == 2 and kept["title"] != "B"


def test_a_save_that_changes_nothing_keeps_the_revision(web):
    story = new_story(web, content="Same.")

    response = web.patch(f"/api/stories/{story['id']}", json={"base_revision": 1, "content": "Same."})

    assert response.status_code == 200 and response.get_json()["revision"] == 1
    assert len(web.get(f"/api/stories/{story['id']}/revisions").get_json()["revisions"]) == 1


@pytest.mark.parametrize("body, field", [
    ({"content": "x"}, "base_revision"),
    ({"base_revision": "1", "content": "x"}, "base_revision"),
    ({"base_revision": True, "content": "x"}, "base_revision"),
    ({"base_revision": 0, "content": "x"}, "base_revision"),
    ({"base_revision": 1, "content": 7}, "content"),
    ({"base_revision": 1, "title": "   "}, "title"),
    ({"base_revision": 1, "settings": [1]}, "settings"),
    ({"base_revision": 1, "premise": "a", "prompt": "b"}, "premise"),
])
def test_an_invalid_save_is_refused_naming_the_field(web, body, field):
    story = new_story(web)

    response = web.patch(f"/api/stories/{story['id']}", json=body)

    assert response.status_code == 400 and response.get_json()["error"]["field"] == field
    assert web.get(f"/api/stories/{story['id']}").get_json()["revision"] == 1


def test_the_library_lists_the_most_recently_edited_story_first(web):
    older = new_story(web, premise="Older")
    newer = new_story(web, premise="Newer")
    assert [s["id"] for s in web.get("/api/stories").get_json()["stories"]] == [newer["id"], older["id"]]

    web.patch(f"/api/stories/{older['id']}", json={"base_revision": 1, "content": "Edited now."})

    stories = web.get("/api/stories").get_json()["stories"]
    assert [s["id"] for s in stories] == [older["id"], newer["id"]]
    assert stories[0]["word_count"] == 2 and stories[0]["revision"] == 2 and "content" not in stories[0]


def test_revisions_are_listed_newest_first_and_a_restore_keeps_the_text_it_replaces(web):
    story = new_story(web, content="First draft.")
    web.patch(f"/api/stories/{story['id']}", json={"base_revision": 1, "content": "Second draft, longer."})

    revisions = web.get(f"/api/stories/{story['id']}/revisions").get_json()["revisions"]
    assert [(r["revision"], r["reason"], r["word_count"]) for r in revisions] == [(2, "edit", 3), (1, "edit", 2)]
    assert web.get(f"/api/stories/{story['id']}/revisions/1").get_json()["content"] == "First draft."

    response = web.post(f"/api/stories/{story['id']}/revisions/1/restore", json={"base_revision": 2})

    assert response.status_code == 200
    restored = response.get_json()
    assert restored["content"] == "First draft." and restored["revision"] == 3
    revisions = web.get(f"/api/stories/{story['id']}/revisions").get_json()["revisions"]
    assert [(r["revision"], r["reason"]) for r in revisions] == [(3, "restore"), (2, "edit"), (1, "edit")]
    assert web.get(f"/api/stories/{story['id']}/revisions/2").get_json()["content"] == "Second draft, longer."


def test_a_restore_on_an_older_revision_is_refused(web):
    story = new_story(web, content="One.")
    web.patch(f"/api/stories/{story['id']}", json={"base_revision": 1, "content": "Two."})

    response = web.post(f"/api/stories/{story['id']}/revisions/1/restore", json={"base_revision": 1})

    assert response.status_code == 409 and response.get_json()["error"]["current_revision"] == 2
    assert web.get(f"/api/stories/{story['id']}").get_json()["content"] == "Two."


def test_an_unknown_revision_is_404(web):
    story = new_story(web)

    assert web.get(f"/api/stories/{story['id']}/revisions/7").status_code == 404
    assert web.post(f"/api/stories/{story['id']}/revisions/7/restore", json={"base_revision": 1}).status_code == 404


def test_revisions_are_thinned_to_the_newest_fifty_plus_one_per_older_hour(story_app, web):
    story = new_story(web, content="v1")
    with connection(story_app) as conn:
        # 120 old revisions, 4 in each of 30 past hours, as if written long ago.
        for number in range(2, 122):
            hour, minute = divmod(number - 2, 4)
            conn.execute(
                "INSERT INTO story_revisions (story_id, revision, title, premise, text_id, reason, created_at) "
                "VALUES (?, ?, 't', '', ?, 'edit', ?)",
                (story["id"], number, texts.keep(conn, story["id"], f"v{number}")[0],
                 f"2025-01-{1 + hour // 24:02d}T{hour % 24:02d}:{minute * 10:02d}:00.000Z"),
            )
        conn.execute("UPDATE stories SET revision = 121 WHERE id = ?", (story["id"],))

    web.patch(f"/api/stories/{story['id']}", json={"base_revision": 121, "content": "v122"})

    kept = [r["revision"] for r in web.get(f"/api/stories/{story['id']}/revisions").get_json()["revisions"]]
    assert kept[:50] == list(range(122, 72, -1))
    older = kept[50:]
    # Revisions 2..121 lie 4 to an hour (hour (r - 2) // 4); of the 71 older than the newest 50,
    # each hour keeps its last: 72 (hour 17, whose 73 is among the newest), 69, 65, ... 5, and
    # revision 1, written in an hour of its own.
    assert older == [72] + [r for r in range(69, 1, -1) if (r - 2) % 4 == 3] + [1]


def test_a_story_of_another_user_cannot_be_saved_or_its_revisions_read(tmp_path):
    from taleweaver.web import auth

    app = create_app({"DATABASE": str(tmp_path / "multi.db"), "AUTH_MODE": "multi", "TESTING": True})
    with app.app_context():
        init_db()
        auth.create_user("ann", "ann-password")
        auth.create_user("bob", "bob-password")
    client = app.test_client()

    def token(name):
        return {"Authorization": "Bearer " + client.post(
            "/api/auth/login", json={"username": name, "password": f"{name}-password"}).get_json()["token"]}

    ann, bob = token("ann"), token("bob")
    story = client.post("/api/stories", headers=ann, json={"premise": "Ann's"}).get_json()

    assert client.patch(f"/api/stories/{story['id']}", headers=bob, json={"base_revision": 1, "content": "x"}).status_code == 404
    assert client.get(f"/api/stories/{story['id']}/revisions", headers=bob).status_code == 404
    assert client.get(f"/api/stories/{story['id']}/revisions/1", headers=bob).status_code == 404
    assert client.post(f"/api/stories/{story['id']}/revisions/1/restore", headers=bob,
                       json={"base_revision": 1}).status_code == 404
    assert client.get(f"/api/stories/{story['id']}", headers=ann).get_json()["content"] == ""


# ---- generations ---------------------------------------------------------------------------

def test_a_streamed_generation_appends_its_text_to_the_story_with_resumable_event_ids(web, service):
    story = new_story(web, content="Prologue. ")

    response = generate(web, story["id"])

    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    generation_id = int(response.headers["X-Taleweaver-Generation"])
    events = sse(response.get_data())
    assert events[-1] == (None, "[DONE]")
    final = events[-2][1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["taleweaver"] == {"status": "finished", "error": None,
                                   "usage": {"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13}}
    assert text_of(events) == "".join(REPLY)
    offsets = [event_id for event_id, data in events[:-2]]
    assert offsets == sorted(offsets) and offsets[-1] == len("".join(REPLY))
    running_total = 0
    for event_id, data in events[:-2]:
        running_total += len(data["choices"][0]["delta"]["content"])
        assert event_id == running_total
    saved = web.get(f"/api/stories/{story['id']}").get_json()
    assert saved["content"] == "Prologue. " + "".join(REPLY)
    assert saved["revision"] == 2 and saved["generation_status"] == "finished"
    assert saved["backend_type"] == "ollama" and saved["model"] == "llama3.2:3b"
    assert saved["last_generation"]["id"] == generation_id and saved["active_generation"] is None
    assert web.get(f"/api/stories/{story['id']}/revisions").get_json()["revisions"][0]["reason"] == "generation"
    assert "taleweaver" not in service.payloads[0] and service.payloads[0]["model"] == "llama3.2:3b"


def test_the_generation_records_backend_model_params_outcome_and_usage(web, service):
    story = new_story(web)
    generation_id = int(generate(web, story["id"], temperature=0.4, max_tokens=64).headers["X-Taleweaver-Generation"])

    generation = wait_until_ended(web, generation_id)

    assert generation["status"] == "finished" and generation["finish_reason"] == "stop"
    assert generation["backend_type"] == "ollama" and generation["model"] == "llama3.2:3b"
    assert generation["params"] == {"temperature": 0.4, "max_tokens": 64}
    assert generation["usage"]["completion_tokens"] == 8 and generation["text_length"] == len("".join(REPLY))
    assert generation["started_at"] <= generation["finished_at"] and generation["error"] is None
    assert generation["story_id"] == story["id"]


def test_following_a_finished_generation_replays_from_the_cursor_and_ends(web, service):
    story = new_story(web)
    generation_id = int(generate(web, story["id"]).headers["X-Taleweaver-Generation"])
    wait_until_ended(web, generation_id)
    cursor = len("Once upon")

    by_query = sse(web.get(f"/proxy/llm/v1/generations/{generation_id}/events?after={cursor}").get_data())
    by_header = sse(web.get(f"/proxy/llm/v1/generations/{generation_id}/events",
                            headers={"Last-Event-ID": str(cursor)}).get_data())

    for events in (by_query, by_header):
        assert text_of(events) == "".join(REPLY)[cursor:]
        assert events[-2][1]["taleweaver"]["status"] == "finished" and events[-1][1] == "[DONE]"


def test_a_follower_attached_mid_generation_gets_exactly_the_remaining_text(story_app, web, monkeypatch):
    held = ScriptedService(hold_at=4)
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: held)
    story = new_story(web)
    first = story_app.test_client().post("/proxy/llm/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "Write."}], "stream": True,
        "taleweaver": {"story_id": story["id"]}}, buffered=False)
    generation_id = int(first.headers["X-Taleweaver-Generation"])
    first.close()  # the first "tab" goes away
    assert held.reached_hold.wait(5)
    persisted = wait_for(lambda: (lambda n: n if n == len("Once upon a time") else None)(
        web.get(f"/proxy/llm/v1/generations/{generation_id}").get_json()["text_length"]))

    def release_later():
        time.sleep(0.3)
        held.release.set()

    threading.Thread(target=release_later).start()
    events = sse(web.get(f"/proxy/llm/v1/generations/{generation_id}/events?after={persisted}").get_data())

    assert text_of(events) == " there was a fox."
    assert events[-2][1]["taleweaver"]["status"] == "finished"
    assert web.get(f"/api/stories/{story['id']}").get_json()["content"] == "".join(REPLY)


def test_a_second_generation_of_the_same_story_is_409_while_one_runs(web, monkeypatch):
    held = ScriptedService(hold_at=2)
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: held)
    story = new_story(web)
    started = web.post("/proxy/llm/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "Write."}], "stream": True,
        "taleweaver": {"story_id": story["id"]}}, buffered=False)
    generation_id = int(started.headers["X-Taleweaver-Generation"])
    started.close()
    assert held.reached_hold.wait(5)

    second = web.post("/proxy/llm/v1/chat/completions", headers={"X-Taleweaver-Story": str(story["id"])},
                      json={"messages": [{"role": "user", "content": "Again."}]})

    assert second.status_code == 409
    error = second.get_json()["error"]
    assert error["code"] == "generation_running" and error["type"] == "invalid_request_error"
    assert str(generation_id) in error["message"]
    assert len(held.payloads) == 1
    held.release.set()
    wait_until_ended(web, generation_id)


def test_the_text_cannot_be_edited_while_a_generation_writes_it_but_the_title_can(web, monkeypatch):
    held = ScriptedService(hold_at=2)
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: held)
    story = new_story(web)
    started = web.post("/proxy/llm/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "Write."}], "stream": True,
        "taleweaver": {"story_id": story["id"]}}, buffered=False)
    generation_id = int(started.headers["X-Taleweaver-Generation"])
    started.close()
    assert held.reached_hold.wait(5)

    edit = web.patch(f"/api/stories/{story['id']}", json={"base_revision": 1, "content": "Mine."})
    retitle = web.patch(f"/api/stories/{story['id']}", json={"base_revision": 1, "title": "The Reading Fox"})
    during = web.get(f"/api/stories/{story['id']}").get_json()

    assert edit.status_code == 409 and edit.get_json()["error"]["code"] == "generation_running"
    assert retitle.status_code == 200 and retitle.get_json()["revision"] == 2
    assert during["active_generation"]["id"] == generation_id and during["generation_status"] == "running"
    held.release.set()
    wait_until_ended(web, generation_id)
    final = web.get(f"/api/stories/{story['id']}").get_json()
    assert final["content"] == "".join(REPLY) and final["title"] == "The Reading Fox" and final["revision"] == 3


def held_at_once_upon_a(web, monkeypatch):
    """A streamed generation whose backend waits after "Once upon a", persisted; its client gone."""
    held = ScriptedService(hold_at=3)
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: held)
    story = new_story(web)
    started = web.post("/proxy/llm/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "Write."}], "stream": True,
        "taleweaver": {"story_id": story["id"]}}, buffered=False)
    generation_id = int(started.headers["X-Taleweaver-Generation"])
    started.close()
    assert held.reached_hold.wait(5)
    wait_for(lambda: web.get(f"/proxy/llm/v1/generations/{generation_id}").get_json()["text_length"] == len("Once upon a"))
    return held, story, generation_id


def test_stop_ends_the_generation_keeps_the_text_and_closes_the_upstream(web, monkeypatch):
    held, story, generation_id = held_at_once_upon_a(web, monkeypatch)

    stopped = web.post(f"/proxy/llm/v1/generations/{generation_id}/stop")

    assert stopped.status_code == 200
    generation = stopped.get_json()
    assert generation["status"] == "stopped" and generation["finish_reason"] is None
    held.release.set()
    assert held.closed.wait(5)  # the upstream stream was closed, not read to its end
    assert web.get(f"/api/stories/{story['id']}").get_json()["content"] == "Once upon a"
    again = web.post(f"/proxy/llm/v1/generations/{generation_id}/stop")
    assert again.status_code == 200 and again.get_json()["status"] == "stopped"
    events = sse(web.get(f"/proxy/llm/v1/generations/{generation_id}/events").get_data())
    assert text_of(events) == "Once upon a"
    assert events[-2][1]["choices"][0]["finish_reason"] is None
    assert events[-2][1]["taleweaver"]["status"] == "stopped"


def test_a_stopping_server_ends_its_running_generations_as_interrupted_with_their_text(web, monkeypatch):
    monkeypatch.setattr(shutdown, "stopping", threading.Event())  # this process goes on after the test
    held, story, generation_id = held_at_once_upon_a(web, monkeypatch)

    assert shutdown.interrupt_jobs() == 1
    assert shutdown.wait_until_quiet(10)

    generation = web.get(f"/proxy/llm/v1/generations/{generation_id}").get_json()
    assert generation["status"] == "interrupted" and generation["error"]["code"] == "interrupted"
    held.release.set()
    assert held.closed.wait(5)  # the upstream was closed
    assert web.get(f"/api/stories/{story['id']}").get_json()["content"] == "Once upon a"
    events = sse(web.get(f"/proxy/llm/v1/generations/{generation_id}/events").get_data())
    assert text_of(events) == "Once upon a" and events[-2][1]["taleweaver"]["status"] == "interrupted"
    assert shutdown.interrupt_jobs() == 0  # nothing left running


def test_a_generation_whose_stream_had_just_ended_when_the_server_stops_is_finished(web, service, monkeypatch):
    story = new_story(web)
    ends = []
    run = job.Job._run

    def run_after_shutdown(this):  # the upstream ends, then the stop arrives before the outcome is written
        this.upstream._run()
        this.decide("shutdown")
        ends.append(this.verdict)
        this.upstream.start = lambda: None
        return run(this)

    monkeypatch.setattr(job.Job, "_run", run_after_shutdown)
    answer = generate(web, story["id"], stream=False)

    assert answer.status_code == 200 and ends == ["shutdown"]
    generation = web.get(f"/api/stories/{story['id']}").get_json()["last_generation"]
    assert generation["status"] == "finished"


def test_a_backend_failure_mid_stream_keeps_the_text_and_records_what_to_do(web, monkeypatch):
    failing = ScriptedService(fail_at=3)
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: failing)
    story = new_story(web)

    events = sse(generate(web, story["id"]).get_data())

    final = events[-2][1]["taleweaver"]
    assert final["status"] == "failed"
    assert final["error"]["code"] == "backend_error" and "middle of the answer" in final["error"]["message"]
    assert "try again" in final["error"]["hint"]
    assert text_of(events) == "Once upon a"
    saved = web.get(f"/api/stories/{story['id']}").get_json()
    assert saved["content"] == "Once upon a" and saved["last_generation"]["status"] == "failed"
    assert saved["last_generation"]["error"]["message"] == final["error"]["message"]


def test_a_generation_without_a_stream_answers_the_finished_chat_completion(web, service):
    story = new_story(web)

    response = generate(web, story["id"], stream=False)

    assert response.status_code == 200
    body = response.get_json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "".join(REPLY)}
    assert body["choices"][0]["finish_reason"] == "stop" and body["usage"]["completion_tokens"] == 8
    assert body["taleweaver"]["status"] == "finished"
    assert web.get(f"/api/stories/{story['id']}").get_json()["content"] == "".join(REPLY)


def test_a_generation_that_fails_before_any_text_answers_the_backends_error(web, monkeypatch):
    class Unreachable:
        backend_type, default_model = "ollama", "llama3.2:3b"

        def chat_completion(self, payload, stream=False):
            raise BackendUnreachable("Ollama did not answer at http://127.0.0.1:9.",
                                                 hint="Is `ollama serve` running?")

    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: Unreachable())
    story = new_story(web)

    response = generate(web, story["id"], stream=False)

    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "backend_unreachable"
    assert web.get(f"/api/stories/{story['id']}").get_json()["last_generation"]["status"] == "failed"


@pytest.mark.parametrize("extension, headers, status, param", [
    ("nope", {}, 400, "taleweaver"),
    ({"story_id": "twelve"}, {}, 400, "taleweaver.story_id"),
    ({"story_id": 0}, {}, 400, "taleweaver.story_id"),
    ({"story_id": True}, {}, 400, "taleweaver.story_id"),
    (None, {"X-Taleweaver-Story": "-3"}, 400, "X-Taleweaver-Story"),
    ({"story_id": 1}, {"X-Taleweaver-Story": "2"}, 400, "taleweaver.story_id"),
    ({"story_id": 999}, {}, 404, None),
])
def test_a_bad_story_reference_is_a_clear_error_in_openais_shape(web, service, extension, headers, status, param):
    new_story(web)
    body = {"messages": [{"role": "user", "content": "x"}]}
    if extension is not None:
        body["taleweaver"] = extension

    response = web.post("/proxy/llm/v1/chat/completions", json=body, headers=headers)

    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["message"] and error["param"] == param and "type" in error
    assert service.payloads == []


@pytest.mark.parametrize("query, headers", [
    ("?after=abc", {}), ("?after=-1", {}), ("?after=9999", {}), ("", {"Last-Event-ID": "x"}),
])
def test_a_bad_cursor_is_400(web, service, query, headers):
    story = new_story(web)
    generation_id = int(generate(web, story["id"]).headers["X-Taleweaver-Generation"])

    response = web.get(f"/proxy/llm/v1/generations/{generation_id}/events{query}", headers=headers)

    assert response.status_code == 400 and response.get_json()["error"]["message"]


@pytest.mark.parametrize("method, path", [
    ("GET", "/proxy/llm/v1/generations/4242"),
    ("GET", "/proxy/llm/v1/generations/4242/events"),
    ("POST", "/proxy/llm/v1/generations/4242/stop"),
])
def test_an_unknown_generation_is_404(web, method, path):
    response = web.open(path, method=method)

    assert response.status_code == 404 and response.get_json()["error"]["code"] == "generation_not_found"


# ---- crash recovery --------------------------------------------------------------------------

def insert_running(app, story_id, owner, heartbeat_age=0.0, text="Half a sto"):
    now = time.time()
    with connection(app) as conn:
        conn.execute("UPDATE stories SET content = content || ? WHERE id = ?", (text, story_id))
        cursor = conn.execute(
            "INSERT INTO generations (story_id, user_id, backend_type, model, owner, text, started_at, heartbeat_at) "
            "SELECT id, user_id, 'ollama', 'llama3.2:3b', ?, ?, ?, ? FROM stories WHERE id = ?",
            (owner, text, now - 5, now - heartbeat_age, story_id),
        )
        return cursor.lastrowid


def dead_pid():
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_a_story_read_while_its_job_writes_shows_text_that_ends_exactly_at_text_length(story_app, web, monkeypatch):
    """A page shows `content` and follows from `active_generation.text_length`: they must agree
    even when the job persists more text between the reads of the generation and the story."""
    story = new_story(web, content="Once. ")
    insert_running(story_app, story["id"], f"{registry.process_view()}:{os.getppid()}:beef")
    read_last = rows.last_for_story

    def persist_in_between(conn, story_id):
        with connection(story_app) as writer:  # the job, another connection
            writer.execute("UPDATE generations SET text = text || 'ry' WHERE story_id = ?", (story_id,))
            writer.execute("UPDATE stories SET content = content || 'ry' WHERE id = ?", (story_id,))
        return read_last(conn, story_id)

    monkeypatch.setattr(rows, "last_for_story", persist_in_between)
    seen = web.get(f"/api/stories/{story['id']}").get_json()

    assert seen["content"] == "Once. Half a story"
    assert seen["active_generation"]["text_length"] == len("Half a story")
    assert seen["last_generation"]["text_length"] == len("Half a story")


def test_a_generation_whose_process_died_is_interrupted_and_keeps_its_text(story_app, web):
    story = new_story(web)
    generation_id = insert_running(story_app, story["id"], f"{registry.process_view()}:{dead_pid()}:abcd")

    seen = web.get(f"/api/stories/{story['id']}").get_json()

    assert seen["active_generation"] is None
    assert seen["last_generation"]["id"] == generation_id and seen["last_generation"]["status"] == "interrupted"
    assert seen["last_generation"]["error"]["code"] == "interrupted" and seen["last_generation"]["error"]["hint"]
    assert seen["content"] == "Half a sto" and seen["revision"] == 2


def test_a_stopping_server_ends_its_readers_of_a_generation_running_elsewhere_without_an_outcome(story_app, web, monkeypatch):
    """The generation runs in another instance and goes on there: the reader's stream ends (no
    outcome, no [DONE]), so the page re-attaches through another instance, instead of holding
    this one in its graceful wait until it is killed."""
    story = new_story(web)
    generation_id = insert_running(story_app, story["id"], "another-machine:4242:cafe")
    monkeypatch.setattr(shutdown, "stopping", threading.Event())
    monkeypatch.setattr(followers, "STOPPING_FOLLOW_SECONDS", 0.2)
    shutdown.interrupt_jobs()

    events = sse(web.get(f"/proxy/llm/v1/generations/{generation_id}/events").get_data())

    assert text_of(events) == "Half a sto"
    assert all(data != "[DONE]" and not (isinstance(data, dict) and "taleweaver" in data) for _, data in events)
    assert web.get(f"/proxy/llm/v1/generations/{generation_id}").get_json()["status"] == "running"  # left alone


def test_a_container_with_the_same_host_name_is_not_probed_by_process_id(story_app, web):
    """Two containers of one service may share a host name, each with a PID namespace of its own:
    a process id written by the other means nothing here, so only its heartbeat tells (a fresh one:
    running), where the same id from this namespace is probed (dead: interrupted)."""
    import socket as socket_module

    view = registry.process_view()
    assert view.split("~")[0] == socket_module.gethostname()
    if "~" not in view:
        pytest.skip("no /proc here: processes are told apart by host name alone")
    other_container = "~".join([socket_module.gethostname(), "0badb007", "4026531836"])
    assert other_container != view
    story_a, story_b = new_story(web, premise="A"), new_story(web, premise="B")
    elsewhere = insert_running(story_app, story_a["id"], f"{other_container}:{dead_pid()}:beef")
    here = insert_running(story_app, story_b["id"], f"{view}:{dead_pid()}:beef")

    seen = [web.get(f"/api/stories/{story['id']}").get_json()["last_generation"] for story in (story_a, story_b)]

    assert [(g["id"], g["status"]) for g in seen] == [(elsewhere, "running"), (here, "interrupted")]


def test_heartbeats_are_judged_by_the_databases_clock_not_this_instances(story_app, web, monkeypatch):
    """Instances on one PostgreSQL judge each other's jobs by their heartbeats: an instance whose
    own clock is a minute ahead must not take another's fresh heartbeat for a dead job, and one a
    minute behind must not write heartbeats that look a minute old."""
    real_time = time.time
    story = new_story(web)
    elsewhere = insert_running(story_app, story["id"], "another-machine:4242:beef")  # heartbeat: now

    monkeypatch.setattr(time, "time", lambda: real_time() + 60)
    assert web.get(f"/proxy/llm/v1/generations/{elsewhere}").get_json()["status"] == "running"
    with story_app.app_context():
        from db import connect, database_path

        conn = connect(database_path(story_app))
        assert registry.recover(conn) == 0
        conn.close()

    monkeypatch.setattr(time, "time", lambda: real_time() - 60)
    with connection(story_app) as conn:
        conn.execute("UPDATE generations SET status = 'interrupted' WHERE id = ?", (elsewhere,))
    held = ScriptedService(hold_at=2)
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: held)
    started = generate(web, story["id"])
    generation_id = int(started.headers["X-Taleweaver-Generation"])
    started.close()
    assert held.reached_hold.wait(5)
    with connection(story_app) as conn:
        heartbeat = conn.execute("SELECT heartbeat_at FROM generations WHERE id = ?", (generation_id,)).fetchone()[0]
    assert abs(heartbeat - real_time()) < 30  # written by the database's clock, not a minute behind
    held.release.set()
    assert wait_until_ended(web, generation_id)["status"] == "finished"


def test_an_interrupted_generation_ends_at_its_last_heartbeat_on_the_clock_it_started_by(story_app, web, monkeypatch):
    """The database (PostgreSQL on another machine) may keep another time than this instance: a
    job that died here ends at its last heartbeat, told on this instance's clock, which its start
    was measured by; never before it started."""
    real_time = time.time
    story = new_story(web)
    ahead = 3600.0  # this instance's clock, an hour ahead of the database's
    monkeypatch.setattr(time, "time", lambda: real_time() + ahead)
    generation_id = insert_running(story_app, story["id"], f"{registry.process_view()}:{dead_pid()}:abcd",
                                   heartbeat_age=60)
    with connection(story_app) as conn:  # it started 70 s ago here; its heartbeat stopped 60 s ago
        conn.execute("UPDATE generations SET started_at = ?, heartbeat_at = ? WHERE id = ?",
                     (real_time() + ahead - 70, real_time() - 60, generation_id))

    seen = web.get(f"/proxy/llm/v1/generations/{generation_id}").get_json()

    assert seen["status"] == "interrupted"
    assert 9_000 <= seen["stats"]["elapsed_ms"] <= 20_000  # about 10 s: from its start to its last heartbeat


def test_the_owner_of_a_job_names_this_processs_view_and_id():
    host, pid, token = registry.owner_id().split(":")
    assert host == registry.process_view() and int(pid) == os.getpid() and len(token) == 8


def test_start_up_interrupts_stale_generations_but_leaves_a_live_workers_job_alone(story_app, web):
    host = registry.process_view()
    story_a, story_b = new_story(web, premise="A"), new_story(web, premise="B")
    stale = insert_running(story_app, story_a["id"], f"{host}:{os.getpid()}:0000", heartbeat_age=60)
    live = insert_running(story_app, story_b["id"], f"{host}:{os.getppid()}:beef")

    with story_app.app_context():
        from db import connect, database_path

        conn = connect(database_path(story_app))
        assert registry.recover(conn) == 1
        statuses = dict(conn.execute("SELECT id, status FROM generations").fetchall())
        conn.close()

    assert statuses == {stale: "interrupted", live: "running"}


def test_the_story_and_its_generations_go_when_it_is_deleted(story_app, web, service):
    story = new_story(web)
    generation_id = int(generate(web, story["id"]).headers["X-Taleweaver-Generation"])

    assert web.delete(f"/api/stories/{story['id']}").status_code == 204

    assert web.get(f"/proxy/llm/v1/generations/{generation_id}").status_code == 404
    with connection(story_app) as conn:
        assert conn.execute("SELECT count(*) FROM story_revisions").fetchone()[0] == 0


def test_only_the_newest_ended_generations_of_a_story_are_kept(story_app, web, service, monkeypatch):
    monkeypatch.setattr(ending, "KEEP_ENDED_PER_STORY", 3)
    story = new_story(web)
    ids = []
    for _ in range(5):
        ids.append(generate(web, story["id"], stream=False).get_json()["taleweaver"]["generation_id"])

    with connection(story_app) as conn:
        kept = [row[0] for row in conn.execute("SELECT id FROM generations ORDER BY id")]
    assert kept == ids[-3:]


def test_title_from_cuts_a_long_first_line_at_a_word():
    title = stories_store.title_from("word " * 40, "")

    assert len(title) <= 81 and title.endswith("…") and not title.startswith(" ")


def test_users_never_see_follow_or_stop_each_others_generations(tmp_path, service):
    from taleweaver.web import auth

    app = create_app({"DATABASE": str(tmp_path / "multi.db"), "AUTH_MODE": "multi", "TESTING": True})
    with app.app_context():
        init_db()
        auth.create_user("ann", "ann-password")
        auth.create_user("bob", "bob-password")
    client = app.test_client()

    def token(name):
        return {"Authorization": "Bearer " + client.post(
            "/api/auth/login", json={"username": name, "password": f"{name}-password"}).get_json()["token"]}

    ann, bob = token("ann"), token("bob")
    story = client.post("/api/stories", headers=ann, json={"premise": "Ann's"}).get_json()
    started = client.post("/proxy/llm/v1/chat/completions", headers=ann, json={
        "messages": [{"role": "user", "content": "x"}], "taleweaver": {"story_id": story["id"]}})
    generation_id = started.get_json()["taleweaver"]["generation_id"]

    for method, path in (("GET", f"/proxy/llm/v1/generations/{generation_id}"),
                         ("GET", f"/proxy/llm/v1/generations/{generation_id}/events"),
                         ("POST", f"/proxy/llm/v1/generations/{generation_id}/stop")):
        assert client.open(path, method=method, headers=bob).status_code == 404
        assert client.open(path, method=method).status_code == 401
    bobs_try = client.post("/proxy/llm/v1/chat/completions", headers=bob, json={
        "messages": [{"role": "user", "content": "x"}], "taleweaver": {"story_id": story["id"]}})
    assert bobs_try.status_code == 404 and bobs_try.get_json()["error"]["code"] == "story_not_found"
    assert client.get("/api/stories", headers=bob).get_json()["stories"] == []
    assert client.get(f"/proxy/llm/v1/generations/{generation_id}", headers=ann).get_json()["status"] == "finished"


# ---- followers under load: connections of their own, text from the job's memory -------------------

class PromptNamedService(ScriptedService):
    """Writes each request a text of its own, named after its prompt (so one follower getting
    another's text shows); every stream waits at `hold_at` until `release` is set."""

    def chat_completion(self, payload, stream=False):
        assert stream is True
        self.payloads.append(payload)
        return self._chunks(self.text_for(payload["messages"][-1]["content"]))

    @staticmethod
    def text_for(name):
        return [f"{name}-{i} " for i in range(6)]


def read_in_background(response):
    """Collect a streamed response's body in a thread of its own, piece by piece."""
    pieces = []
    reader = threading.Thread(target=lambda: pieces.extend(response.response), daemon=True)
    reader.start()
    return pieces, reader


def test_a_follower_never_uses_the_requests_connection_once_it_has_been_given_back(web, service, monkeypatch):
    """With no idle SQLite connection kept, every connection given back is closed: a follower still
    querying on its request's connection after the view returned would fail ("Cannot operate on
    a closed database") instead of streaming."""
    monkeypatch.setattr(db, "SQLITE_IDLE_CONNECTIONS", 0)
    story = new_story(web)

    response = generate(web, story["id"])
    events = sse(response.get_data())
    generation_id = int(response.headers["X-Taleweaver-Generation"])
    replay = sse(web.get(f"/proxy/llm/v1/generations/{generation_id}/events?after=4").get_data())

    assert response.status_code == 200 and text_of(events) == "".join(REPLY)
    assert events[-2][1]["taleweaver"]["status"] == "finished"
    assert text_of(replay) == "".join(REPLY)[4:] and replay[-2][1]["taleweaver"]["status"] == "finished"
    assert web.get(f"/api/stories/{story['id']}").get_json()["content"] == "".join(REPLY)


def test_many_followers_of_different_generations_each_get_their_own_whole_text(story_app, web, monkeypatch):
    monkeypatch.setattr(db, "SQLITE_IDLE_CONNECTIONS", 1)  # connections are reused, never shared
    named = PromptNamedService(hold_at=3)
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: named)
    stories = [new_story(web, premise=f"Story {number}")["id"] for number in range(20)]
    followers = {}
    for story_id in stories:
        response = story_app.test_client().post("/proxy/llm/v1/chat/completions", json={
            "messages": [{"role": "user", "content": f"s{story_id}"}], "stream": True,
            "taleweaver": {"story_id": story_id}})
        assert response.status_code == 200
        followers[story_id] = read_in_background(response)

    try:
        # Every generation runs at once, each stream held after its first three pieces.
        for story_id, (pieces, _) in followers.items():
            wait_for(lambda: text_of(sse(b"".join(pieces))) == "".join(named.text_for(f"s{story_id}")[:3]))
    finally:
        named.release.set()
    for pieces, reader in followers.values():
        reader.join(10)

    for story_id, (pieces, _) in followers.items():
        events = sse(b"".join(pieces))
        assert text_of(events) == "".join(named.text_for(f"s{story_id}"))
        assert events[-2][1]["taleweaver"]["status"] == "finished" and events[-1][1] == "[DONE]"
        assert web.get(f"/api/stories/{story_id}").get_json()["content"] == "".join(named.text_for(f"s{story_id}"))


def test_a_cursor_a_little_ahead_of_the_persisted_text_waits_for_it(story_app, web, monkeypatch):
    """A follower on another worker reads the job's memory, so its cursor can be ahead of the
    database for a moment; a re-attach here with that cursor gets the rest once it is persisted."""
    story = new_story(web)
    generation_id = insert_running(story_app, story["id"], "elsewhere:1:abcd", text="Half a sto")
    read_generation = rows.get_row

    def the_other_job_writes_once_it_was_read(conn, *args):
        row = read_generation(conn, *args)  # the request sees 'Half a sto', behind its cursor
        with connection(story_app) as other_worker:
            other_worker.execute("UPDATE generations SET text = 'Half a story, told.' WHERE id = ?", (generation_id,))
            other_worker.execute("UPDATE generations SET status = 'finished', finished_at = heartbeat_at WHERE id = ?",
                                 (generation_id,))
        return row

    monkeypatch.setattr(rows, "get_row", the_other_job_writes_once_it_was_read)

    events = sse(web.get(f"/proxy/llm/v1/generations/{generation_id}/events?after={len('Half a story, ')}").get_data())

    assert text_of(events) == "told." and events[0][0] == len("Half a story, told.")
    assert events[-2][1]["taleweaver"]["status"] == "finished"


def test_a_continuation_keeps_the_storys_word_count_right_as_it_is_written(web, monkeypatch):
    held = ScriptedService(pieces=["fox", "es ran", " far"], hold_at=2)
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: held)
    story = new_story(web, content="Two small")
    generate(web, story["id"])

    try:
        wait_for(lambda: web.get(f"/api/stories/{story['id']}").get_json()["content"] == "Two smallfoxes ran")
        during = web.get(f"/api/stories/{story['id']}").get_json()
    finally:
        held.release.set()
    wait_until_ended(web, int(web.get(f"/api/stories/{story['id']}").get_json()["last_generation"]["id"]))

    assert during["word_count"] == 3
    assert web.get(f"/api/stories/{story['id']}").get_json()["word_count"] == 4


@pytest.fixture
def no_round_for_an_hour(monkeypatch):
    """The process's writer with its next round of every job an hour away (the round in progress
    is let finish first), and back to FLUSH_SECONDS afterwards."""
    process_writer = writer.process_writer()
    process_writer.ensure_running()
    monkeypatch.setattr(writer, "FLUSH_SECONDS", 3600.0)
    process_writer.next_round = 0.0
    process_writer.first_text.set()
    wait_for(lambda: process_writer.next_round - time.monotonic() > 3000)
    yield process_writer
    monkeypatch.undo()
    process_writer.next_round = 0.0
    process_writer.first_text.set()
    wait_for(lambda: process_writer.next_round - time.monotonic() < 3000)


def test_the_first_words_are_persisted_and_sent_without_waiting_for_the_writers_round(web, monkeypatch, no_round_for_an_hour):
    held = ScriptedService(hold_at=1)
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: held)
    story = new_story(web)
    started = generate(web, story["id"])
    generation_id = int(started.headers["X-Taleweaver-Generation"])
    started.close()
    assert held.reached_hold.wait(5)

    # The backend has sent "Once" and is silent; no round is due for an hour.
    assert wait_for(lambda: web.get(f"/proxy/llm/v1/generations/{generation_id}").get_json()["text_length"] == 4)
    assert web.get(f"/api/stories/{story['id']}").get_json()["content"] == "Once"
    follower = web.get(f"/proxy/llm/v1/generations/{generation_id}/events?after=0", buffered=False)
    first = next(piece for piece in follower.response if b"delta" in piece)
    assert json.loads(first.decode().split("data: ", 1)[1])["choices"][0]["delta"]["content"] == "Once"

    held.release.set()
    assert text_of(sse(b"".join(follower.response))) == "".join(REPLY[1:])
    follower.close()
    assert wait_until_ended(web, generation_id)["status"] == "finished"
    assert web.get(f"/api/stories/{story['id']}").get_json()["content"] == "".join(REPLY)
