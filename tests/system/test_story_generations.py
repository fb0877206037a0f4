"""Never lose a word: stories and their generations through the real server (gunicorn, 2 workers)
and slow fake backends on loopback — reload, a client gone, Stop, SIGKILL, two tabs, restore,
a re-attach on the other worker."""
from __future__ import annotations

import concurrent.futures
import functools
import http.client
import json
import signal
import threading
import time

import psutil
import pytest
import requests

from tests import support
from tests.support import (
    TaleweaverServer,
    configure_fake,
    delta_text,
    kill_whole_server,
    sse_events_with_ids,
    wait_for,
)

WORDS = [f"w{i}" for i in range(60)]
REPLY = " ".join(WORDS)  # distinct words: a doubled or lost one shows
PIECES = [WORDS[0]] + [" " + word for word in WORDS[1:]]  # what the fake sends, one per chunk


@pytest.fixture
def slow_ollama(server, fake_factory):
    """The active backend: a fake Ollama writing REPLY one word every 0.1 s (about 6 s in all)."""
    fake = fake_factory("ollama", reply=REPLY, chunk_delay=0.1)
    configure_fake(server, fake, default_model=fake.models[0])
    return fake


new_story = functools.partial(support.new_story, premise="A fox who counts")


def start(server, story_id: int, stream: bool = True) -> requests.Response:
    return server.api(
        "POST", "/proxy/llm/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Count."}], "stream": stream,
              "taleweaver": {"story_id": story_id}},
        stream=stream,
    )


def follow(server, generation_id: int, after: int | None = None, session=None) -> requests.Response:
    query = "" if after is None else f"?after={after}"
    getter = session or requests
    return getter.get(f"{server.url}/proxy/llm/v1/generations/{generation_id}/events{query}", stream=True, timeout=30)


def generation(server, generation_id: int) -> dict:
    return server.api("GET", f"/proxy/llm/v1/generations/{generation_id}").json()


story = support.story_of


def ended(server, generation_id: int) -> dict:
    return wait_for(lambda: (lambda g: g if g["status"] != "running" else None)(generation(server, generation_id)))


def read_some(events, words: int):
    """Read (id, chunk) events until `words` words have arrived; the events and the last cursor."""
    seen = []
    for event_id, data in events:
        seen.append((event_id, data))
        if len(delta_text(seen).split()) >= words:
            return seen, event_id
    raise AssertionError("the stream ended early")


def test_a_reload_mid_generation_re_attaches_and_receives_exactly_the_remaining_text(server, slow_ollama):
    tale = new_story(server)
    first_tab = start(server, tale["id"])
    generation_id = int(first_tab.headers["X-Taleweaver-Generation"])
    before, cursor = read_some(sse_events_with_ids(first_tab), 10)
    first_tab.close()  # the page reloads

    reloaded = follow(server, generation_id, after=cursor)
    after = list(sse_events_with_ids(reloaded))

    assert after[-1][1] == "[DONE]"
    assert after[-2][1]["taleweaver"]["status"] == "finished"
    assert after[-2][1]["choices"][0]["finish_reason"] == "stop"
    assert delta_text(before) + delta_text(after) == REPLY  # nothing lost, nothing doubled
    assert delta_text(after)  # the generation was still running when the page came back
    assert story(server, tale["id"])["content"] == REPLY


def test_a_generation_whose_client_went_away_completes_and_the_story_is_whole(server, slow_ollama):
    tale = new_story(server, content="Title page. ")
    response = start(server, tale["id"])
    generation_id = int(response.headers["X-Taleweaver-Generation"])
    response.close()  # the browser is gone

    finished = ended(server, generation_id)

    assert finished["status"] == "finished" and finished["text_length"] == len(REPLY)
    assert slow_ollama.stats["streams_completed"] == 1 and slow_ollama.stats["client_disconnects"] == 0
    library = server.api("GET", "/api/stories").json()["stories"]
    listed = next(s for s in library if s["id"] == tale["id"])
    assert listed["generation_status"] == "finished" and listed["word_count"] == 2 + len(WORDS)
    assert story(server, tale["id"])["content"] == "Title page. " + REPLY


def test_a_generation_without_a_stream_answers_the_whole_completion(server, fake_factory):
    fake = fake_factory("lmstudio", reply=REPLY, chunk_delay=0.01)
    configure_fake(server, fake, default_model=fake.models[0])
    tale = new_story(server)

    response = start(server, tale["id"], stream=False)

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == REPLY
    assert story(server, tale["id"])["content"] == REPLY


def test_stop_closes_the_upstream_request_and_keeps_the_text(server, slow_ollama):
    tale = new_story(server)
    response = start(server, tale["id"])
    generation_id = int(response.headers["X-Taleweaver-Generation"])
    events = sse_events_with_ids(response)
    read_some(events, 5)

    stopped = server.api("POST", f"/proxy/llm/v1/generations/{generation_id}/stop")

    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    wait_for(lambda: slow_ollama.stats["client_disconnects"] >= 1)  # the LLM was told to stop
    assert slow_ollama.stats["streams_completed"] == 0
    rest = list(events)
    assert rest[-2][1]["taleweaver"]["status"] == "stopped" and rest[-1][1] == "[DONE]"
    kept = story(server, tale["id"])["content"]
    assert kept and REPLY.startswith(kept) and len(kept) < len(REPLY)
    assert kept == delta_text(list(sse_events_with_ids(follow(server, generation_id))))
    time.sleep(0.5)
    assert story(server, tale["id"])["content"] == kept  # nothing is appended after Stop


def test_stop_sent_to_the_other_worker_closes_the_upstream_while_the_backend_is_silent(server, slow_ollama):
    slow_ollama.set_fault("stall_after_chunks", chunks=5, seconds=60)
    tale = new_story(server)
    response = start(server, tale["id"])
    generation_id = int(response.headers["X-Taleweaver-Generation"])
    response.close()
    wait_for(lambda: generation(server, generation_id)["text_length"] == len(" ".join(WORDS[:5])))
    other_worker = connection_avoiding(server, job_worker(server, generation_id))

    other_worker.request("POST", f"/proxy/llm/v1/generations/{generation_id}/stop")
    stopped = json.loads(other_worker.getresponse().read())

    assert stopped["status"] == "stopped"
    # The fake would stay silent for a minute: the disconnect it sees is the stop, which reached
    # the job's worker through the database.
    wait_for(lambda: slow_ollama.stats["client_disconnects"] >= 1, timeout=10)
    assert story(server, tale["id"])["content"] == " ".join(WORDS[:5])
    other_worker.close()


def test_a_second_generation_of_the_same_story_is_409_while_one_runs(server, slow_ollama):
    tale = new_story(server)
    response = start(server, tale["id"])
    generation_id = int(response.headers["X-Taleweaver-Generation"])
    response.close()

    second = start(server, tale["id"], stream=False)

    assert second.status_code == 409
    error = second.json()["error"]
    assert error["code"] == "generation_running" and str(generation_id) in error["message"]
    assert slow_ollama.stats["streams_started"] == 1
    server.api("POST", f"/proxy/llm/v1/generations/{generation_id}/stop")


def test_a_backend_failure_mid_stream_keeps_the_text_and_says_what_to_do(server, slow_ollama):
    slow_ollama.set_fault("die_after_chunks", chunks=4)
    tale = new_story(server)

    events = list(sse_events_with_ids(start(server, tale["id"])))

    final = events[-2][1]["taleweaver"]
    assert final["status"] == "failed"
    assert final["error"]["code"] == "backend_error" and final["error"]["hint"]
    assert delta_text(events) == " ".join(WORDS[:4])
    assert story(server, tale["id"])["content"] == " ".join(WORDS[:4])
    assert story(server, tale["id"])["last_generation"]["error"]["message"] == final["error"]["message"]


def worker_serving(server: TaleweaverServer, response: requests.Response) -> int | None:
    """The pid of the gunicorn worker holding the server side of a client's connection."""
    client_port = response.raw._connection.sock.getsockname()[1]
    for worker in psutil.Process(server.process.pid).children():
        for connection in worker.net_connections(kind="tcp"):
            if connection.raddr and connection.raddr.port == client_port:
                return worker.pid
    return None


def connection_avoiding(server: TaleweaverServer, pid: int) -> http.client.HTTPConnection:
    """A keep-alive connection that a worker other than `pid` has accepted (so it serves every
    request sent on it)."""
    for _ in range(40):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/api/health")
        connection.getresponse().read()
        client_port = connection.sock.getsockname()[1]
        for worker in psutil.Process(server.process.pid).children():
            if worker.pid != pid and any(
                c.raddr and c.raddr.port == client_port for c in worker.net_connections(kind="tcp")
            ):
                return connection
        connection.close()
    raise AssertionError("no connection reached the other worker")


def job_worker(server: TaleweaverServer, generation_id: int) -> int:
    ((owner,),) = server.query("SELECT owner FROM generations WHERE id = ?", (generation_id,))
    return int(owner.split(":")[1])


def test_a_re_attach_landing_on_the_other_worker_reads_the_persisted_text(server, slow_ollama):
    tale = new_story(server)
    response = start(server, tale["id"])
    generation_id = int(response.headers["X-Taleweaver-Generation"])
    before, cursor = read_some(sse_events_with_ids(response), 8)
    response.close()
    owner = job_worker(server, generation_id)

    elsewhere = None
    for _ in range(40):  # new connections until the kernel hands one to the other worker
        session = requests.Session()
        candidate = follow(server, generation_id, after=cursor, session=session)
        if worker_serving(server, candidate) not in (None, owner):
            elsewhere = candidate
            break
        candidate.close()
        session.close()
    assert elsewhere is not None, "no connection reached the second worker"
    after = list(sse_events_with_ids(elsewhere))

    assert delta_text(before) + delta_text(after) == REPLY
    assert after[-2][1]["taleweaver"]["status"] == "finished"


def test_two_tabs_saving_on_the_same_revision_get_409_and_nothing_is_overwritten(server):
    tale = new_story(server, content="Draft zero.")
    tab_a = server.api("PATCH", f"/api/stories/{tale['id']}", json={"base_revision": 1, "content": "Tab A wrote this."})
    assert tab_a.status_code == 200 and tab_a.json()["revision"] == 2

    tab_b = server.api("PATCH", f"/api/stories/{tale['id']}", json={"base_revision": 1, "content": "Tab B's version."})

    assert tab_b.status_code == 409
    assert tab_b.json()["error"]["code"] == "revision_conflict" and tab_b.json()["error"]["current_revision"] == 2
    assert story(server, tale["id"])["content"] == "Tab A wrote this."
    revisions = server.api("GET", f"/api/stories/{tale['id']}/revisions").json()["revisions"]
    assert "Tab B's version." not in [
        server.api("GET", f"/api/stories/{tale['id']}/revisions/{r['revision']}").json()["content"] for r in revisions
    ]


def test_a_revision_is_restored_and_the_replaced_text_is_kept(server):
    tale = new_story(server, content="The first telling.")
    server.api("PATCH", f"/api/stories/{tale['id']}", json={"base_revision": 1, "content": "A worse telling."})

    restored = server.api("POST", f"/api/stories/{tale['id']}/revisions/1/restore", json={"base_revision": 2})

    assert restored.status_code == 200 and restored.json()["content"] == "The first telling."
    assert story(server, tale["id"])["content"] == "The first telling."
    revisions = server.api("GET", f"/api/stories/{tale['id']}/revisions").json()["revisions"]
    assert [(r["revision"], r["reason"]) for r in revisions] == [(3, "restore"), (2, "edit"), (1, "edit")]
    assert server.api("GET", f"/api/stories/{tale['id']}/revisions/2").json()["content"] == "A worse telling."


def sent_before(fake, moment: float) -> str:
    """The text the fake had written to the socket before a moment (time.monotonic())."""
    count = sum(1 for sent in fake.stats["chunk_times"] if sent <= moment)
    return "".join(PIECES[:count])


def followed_to(server, fake, words: int):
    """A story generation on the fake, followed until `words` words have arrived: the story,
    the generation's id, the rest of its event stream and the events read."""
    configure_fake(server, fake, default_model=fake.models[0])
    tale = new_story(server)
    response = start(server, tale["id"])
    events = sse_events_with_ids(response)
    seen, _ = read_some(events, words)
    return tale, int(response.headers["X-Taleweaver-Generation"]), events, seen


def test_after_a_sigkill_of_the_whole_server_the_text_up_to_a_second_before_is_kept_as_interrupted(fake_factory):
    fake = fake_factory("ollama", reply=REPLY, chunk_delay=0.1)
    server = TaleweaverServer().start()
    try:
        tale, generation_id, _, _ = followed_to(server, fake, 25)
        killed_at = time.monotonic()
        kill_whole_server(server)
        sent = sent_before(fake, killed_at)

        server.start()
        after = story(server, tale["id"])

        assert after["last_generation"]["id"] == generation_id
        assert after["last_generation"]["status"] == "interrupted"
        assert after["last_generation"]["error"]["code"] == "interrupted"
        assert after["active_generation"] is None
        kept = after["content"]
        assert sent.startswith(kept)  # what is kept is what the model wrote, in order
        assert kept.startswith(sent_before(fake, killed_at - 1.0))  # at most ~1 s lost
        replay = list(sse_events_with_ids(follow(server, generation_id)))
        assert delta_text(replay) == kept and replay[-2][1]["taleweaver"]["status"] == "interrupted"
        # The story can be written on again.
        again = start(server, tale["id"], stream=False)
        assert again.status_code == 200, again.text
    finally:
        server.close()


def stop_orderly(server: TaleweaverServer, how: str) -> None:
    """Stop the server as its user does: `kill`, `docker stop` or systemd send SIGTERM to the
    gunicorn master; Ctrl+C in the terminal of ./run.sh sends SIGINT to every process of it."""
    master = psutil.Process(server.process.pid)
    for process in [master, *master.children()] if how == "ctrl-c" else [master]:
        process.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGTERM)
    server.process.wait(timeout=30)


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_an_orderly_stop_ends_a_followed_generation_as_interrupted_with_every_word_kept(fake_factory, how):
    """A reader is following the generation when the server is stopped: the reader gets the
    outcome (interrupted) and a clean end, and the story keeps all the model wrote before the
    stop, marked interrupted at once (before the SIGTERM fix, the worker waited for the stream
    until the master's SIGKILL: the last words lost, the stream cut, the generation `running`)."""
    words = [f"w{i}" for i in range(300)]  # 30 s of writing: longer than the graceful wait
    pieces = [words[0]] + [" " + word for word in words[1:]]
    fake = fake_factory("ollama", reply=" ".join(words), chunk_delay=0.1)
    server = TaleweaverServer().start()
    try:
        tale, generation_id, events, seen = followed_to(server, fake, 25)
        stopped_at = time.monotonic()
        stop_orderly(server, how)
        seen += list(events)  # the rest of the stream: it must end, not break
        log = server.log_text()

        status, error_json, kept_text = server.query(
            "SELECT status, error_json, text FROM generations WHERE id = ?", (generation_id,))[0]
        content = server.query("SELECT content FROM stories WHERE id = ?", (tale["id"],))[0][0]
    finally:
        server.close()

    chunk_times = fake.stats["chunk_times"]
    sent = "".join(pieces[:len(chunk_times)])
    before = "".join(pieces[:sum(1 for moment in chunk_times if moment <= stopped_at)])
    assert status == "interrupted" and json.loads(error_json)["code"] == "interrupted"
    assert content == kept_text  # the story holds the generation's text
    assert sent.startswith(content) and content.startswith(before)  # every word written before the stop
    assert delta_text(seen) == content  # the reader saw exactly what is kept
    assert seen[-1][1] == "[DONE]" and seen[-2][1]["taleweaver"]["status"] == "interrupted"
    assert "Worker graceful timeout" not in log


BURST = 100


def burst_reply(messages) -> str:
    """Each story's own text: the fake writes words named after the story its prompt names."""
    name = str(messages[-1]["content"]) if isinstance(messages, list) and messages else "?"
    return " ".join(f"{name}-w{i}" for i in range(30))


def database_connections(server) -> int:
    """Connections the server's processes hold to its database: PostgreSQL backends of the
    test cluster's database, or open handles of the SQLite file in the gunicorn processes."""
    if server.on_postgres:
        return server.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                            " AND backend_type = 'client backend'")[0][0]
    processes = [psutil.Process(server.process.pid), *psutil.Process(server.process.pid).children()]
    return sum(1 for process in processes for handle in process.open_files() if handle.path == server.database)


def test_a_hundred_story_generations_at_once_each_get_their_whole_text(server, fake_factory):
    """A burst of story generations at once, each followed over SSE to its end: every follower
    gets its own story's whole text, every story holds it and every generation finished; and
    the server holds far fewer database connections than it runs generations (a job borrows
    one for each write)."""
    fake = fake_factory("lmstudio", reply=burst_reply, chunk_delay=0.1)  # 30 words: about 3 s each
    configure_fake(server, fake, default_model=fake.models[0])
    stories = [new_story(server, premise=f"Story {number}")["id"] for number in range(BURST)]
    before = database_connections(server)
    started = threading.Barrier(BURST + 1, timeout=120)

    def run(story_id: int) -> tuple[str, dict | None]:
        response = server.api("POST", "/proxy/llm/v1/chat/completions", stream=True, timeout=120, json={
            "messages": [{"role": "user", "content": f"s{story_id}"}], "stream": True,
            "taleweaver": {"story_id": story_id}})
        assert response.status_code == 200, response.text
        events, final = [], None
        try:
            for event_id, data in sse_events_with_ids(response):
                if data == "[DONE]":
                    break
                events.append((event_id, data))
                if len(events) == 1:
                    started.wait()  # all streams are open and writing
                if data.get("taleweaver"):
                    final = data["taleweaver"]
        finally:
            response.close()
        return delta_text(events), final

    with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
        outcomes = [pool.submit(run, story_id) for story_id in stories]
        started.wait()
        during = max(database_connections(server) for _ in range(10))  # while all of them run
        results = [outcome.result(timeout=180) for outcome in outcomes]

    for story_id, (text, final) in zip(stories, results):
        assert text == burst_reply([{"content": f"s{story_id}"}])
        assert final is not None and final["status"] == "finished"
        assert story(server, story_id)["content"] == text
        assert story(server, story_id)["last_generation"]["status"] == "finished"
    # PostgreSQL: at most the two workers' pools (DATABASE_POOL_SIZE 10 each), where a connection
    # per job would be one per generation; SQLite: the idle connections plus the few in use.
    assert during - before <= (2 * 10 if server.on_postgres else BURST // 4), (before, during)
