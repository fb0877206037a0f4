"""Three instances on one PostgreSQL database behind a real nginx (the repository's
deploy/nginx config), serving as one: users, tokens, saves, stories and the login rate limit
are shared; the settings cache of each process follows a save made on another instance; one
instance killed, the others keep serving; the instance that runs a story generation killed (on
this machine, and as if on another one), its followers on the others end it as interrupted with
every persisted word. Runs in run_tests.sh's PostgreSQL pass."""
from __future__ import annotations

import itertools
import signal
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests

from tests import nginx
from tests.support import (
    GUNICORN,
    ROOT,
    TEST_DATABASE_URL,
    TaleweaverServer,
    can_run_as_another_host,
    delta_text,
    kill_whole_server,
    new_postgres_database,
    sse_events,
    sse_events_with_ids,
)

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL or not nginx.available(),
    reason="needs the PostgreSQL pass (TALEWEAVER_TEST_DATABASE_URL) and Debian's nginx",
)

PASSWORD = "a shared secret phrase"
PUBLIC_NAME = "taleweaver.test"
ATTEMPTS_PER_MINUTE = 4


def start_cluster(last_hostname: str | None = None):
    """Three instances (2 workers each) sharing one database and key, nginx in front, and the
    users ann and bob; with last_hostname the third runs as if on another machine."""
    database = new_postgres_database()
    env = {"TALEWEAVER_AUTH_MODE": "multi", "TALEWEAVER_ALLOWED_HOSTS": PUBLIC_NAME,
           "TALEWEAVER_LOGIN_ATTEMPTS_PER_MINUTE": str(ATTEMPTS_PER_MINUTE)}
    instances = [TaleweaverServer(env=env, database_url=database, hostname=hostname)
                 for hostname in (None, None, last_hostname)]
    proxy = nginx.Nginx([server.port for server in instances], server_name=PUBLIC_NAME)
    try:
        with ThreadPoolExecutor(3) as pool:  # started together: their first requests race to migrate
            list(pool.map(TaleweaverServer.start, instances))
            assert all(response.status_code == 200 for response in pool.map(
                lambda server: server.api("GET", "/api/auth/mode"), instances))
        proxy.start()
        for name in ("ann", "bob"):
            result = subprocess.run(
                [str(GUNICORN.with_name("flask")), "--app", "app", "create-user", name, "--password", PASSWORD],
                cwd=str(ROOT / "backend"), env=instances[0].env, capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
    except BaseException:
        stop_cluster(instances, proxy)
        raise
    return instances, proxy


def stop_cluster(instances, proxy) -> None:
    proxy.stop()
    for server in instances:
        server.close()


@pytest.fixture(scope="module")
def cluster():
    instances, proxy = start_cluster()
    yield instances, proxy
    stop_cluster(instances, proxy)


def public(proxy, method, path, **kwargs) -> requests.Response:
    """A request through nginx under the public name, as a browser of the deployment sends it."""
    headers = {"Host": f"{PUBLIC_NAME}:{proxy.port}", **kwargs.pop("headers", {})}
    return requests.request(method, proxy.url + path, headers=headers, timeout=30, **kwargs)


def login(server_or_proxy, name, password=PASSWORD) -> requests.Response:
    if isinstance(server_or_proxy, nginx.Nginx):
        return public(server_or_proxy, "POST", "/api/auth/login", json={"username": name, "password": password})
    return server_or_proxy.api("POST", "/api/auth/login", json={"username": name, "password": password})


def bearer(response) -> dict:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_a_token_from_one_instance_works_on_every_other(cluster):
    instances, proxy = cluster
    token = bearer(login(instances[0], "ann"))

    for server in instances:
        assert server.api("GET", "/api/auth/me", headers=token).json()["username"] == "ann"
    assert public(proxy, "GET", "/api/auth/me", headers=token).json()["username"] == "ann"

    assert instances[2].api("POST", "/api/auth/logout", headers=token).status_code in (200, 204)
    for server in instances:
        assert server.api("GET", "/api/auth/me", headers=token).status_code == 401


def test_nginx_passes_the_public_name_and_a_foreign_name_is_refused(cluster):
    _, proxy = cluster
    assert public(proxy, "GET", "/api/auth/mode").json() == {"mode": "multi"}
    foreign = requests.get(proxy.url + "/api/auth/mode", headers={"Host": "evil.example"}, timeout=30)
    assert foreign.status_code == 403


def test_a_save_on_one_instance_is_used_by_the_next_request_on_every_other(cluster, fake_factory):
    instances, proxy = cluster
    token = bearer(login(instances[1], "bob"))
    secret = "sk-bob-shared-across-instances-0123"
    first = fake_factory("chatgpt", api_key=secret, reply="From the first backend.")
    saved = instances[0].api("POST", "/api/settings/llm", headers=token, json={
        "backend_type": "chatgpt", "config": {"base_url": first.url, "api_key": secret},
        "default_model": first.models[0]})
    assert saved.status_code == 200, saved.text

    for server in instances:  # each decrypts the key the first stored, and caches the service
        for _ in range(2):
            answer = server.api(
                "POST", "/proxy/llm/v1/chat/completions", headers=token,
                json={"messages": [{"role": "user", "content": "Hello"}]})
            assert answer.status_code == 200, answer.text
            assert answer.json()["choices"][0]["message"]["content"] == "From the first backend."

    second = fake_factory("ollama", reply="From the second backend.")
    assert instances[2].api("POST", "/api/settings/llm", headers=token, json={
        "backend_type": "ollama", "config": {"url": second.url}, "default_model": second.models[0]}).status_code == 200
    for server in instances:
        answer = server.api("POST", "/proxy/llm/v1/chat/completions", headers=token,
                            json={"messages": [{"role": "user", "content": "Hello"}]})
        assert answer.json()["choices"][0]["message"]["content"] == "From the second backend."
    assert public(proxy, "GET", "/api/settings/llm", headers=token).json()["backend_type"] == "ollama"


def test_streams_through_nginx_arrive_whole(cluster, fake_factory):
    instances, proxy = cluster
    token = bearer(login(proxy, "ann"))
    fake = fake_factory("ollama", reply="one two three four five", chunk_delay=0.05)
    assert public(proxy, "POST", "/api/settings/llm", headers=token, json={
        "backend_type": "ollama", "config": {"url": fake.url}, "default_model": fake.models[0]}).status_code == 200

    response = public(proxy, "POST", "/proxy/llm/v1/chat/completions", headers=token, stream=True,
                      json={"messages": [{"role": "user", "content": "Count"}], "stream": True})
    events = list(sse_events(response))

    assert response.status_code == 200
    assert events[-1] == "[DONE]"
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == "one two three four five"


def test_a_story_saved_through_one_instance_is_listed_by_the_others(cluster):
    instances, proxy = cluster
    token = bearer(login(proxy, "ann"))
    story = public(proxy, "POST", "/api/stories", headers=token,
                   json={"title": "Shared", "content": "Written once, read everywhere."})
    assert story.status_code == 201, story.text

    for server in instances:
        titles = [s["title"] for s in server.api("GET", "/api/stories", headers=token).json()["stories"]]
        assert "Shared" in titles
    other = bearer(login(instances[2], "bob"))
    assert instances[1].api("GET", f"/api/stories/{story.json()['id']}", headers=other).status_code == 404


def test_the_login_rate_limit_counts_failures_on_every_instance(cluster):
    instances, proxy = cluster
    targets = itertools.cycle(instances)
    for _ in range(ATTEMPTS_PER_MINUTE):
        assert login(next(targets), "nobody-here", "wrong password").status_code == 401

    for server in instances:
        refused = login(server, "nobody-here", "wrong password")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0


def test_a_story_generation_started_on_one_instance_is_re_attached_from_another(cluster, fake_factory):
    instances, proxy = cluster
    token = bearer(login(instances[0], "ann"))
    words = [f"w{i}" for i in range(40)]
    fake = fake_factory("ollama", reply=" ".join(words), chunk_delay=0.1)
    assert instances[0].api("POST", "/api/settings/llm", headers=token, json={
        "backend_type": "ollama", "config": {"url": fake.url}, "default_model": fake.models[0]}).status_code == 200
    tale = instances[0].api("POST", "/api/stories", headers=token, json={"premise": "A fox who counts"}).json()

    started = instances[0].api("POST", "/proxy/llm/v1/chat/completions", headers=token, stream=True, json={
        "messages": [{"role": "user", "content": "Count."}], "stream": True, "taleweaver": {"story_id": tale["id"]}})
    generation_id = int(started.headers["X-Taleweaver-Generation"])
    before = []
    for event_id, data in sse_events_with_ids(started):
        before.append((event_id, data))
        if len(delta_text(before).split()) >= 8:
            break
    started.close()  # the browser goes away; its next request lands on another instance

    resumed = instances[1].api("GET", f"/proxy/llm/v1/generations/{generation_id}/events?after={event_id}",
                               headers=token, stream=True)
    after = list(sse_events_with_ids(resumed))

    assert after[-1][1] == "[DONE]"
    assert delta_text(after)  # it was still running when it was picked up on the other instance
    assert delta_text(before) + delta_text(after) == " ".join(words)  # nothing lost, nothing doubled
    assert instances[2].api("GET", f"/api/stories/{tale['id']}", headers=token).json()["content"] == " ".join(words)


def test_an_instance_stopped_for_a_restart_lets_its_readers_re_attach_elsewhere_at_once(cluster, fake_factory):
    """A rolling restart: SIGTERM to an instance whose worker is following a generation that runs
    on another instance. The reader's stream ends at once (no outcome: the generation goes on),
    the instance exits without waiting out its graceful timeout, and the reader re-attaches
    through another instance and gets the rest: nothing lost, nothing doubled."""
    instances, proxy = cluster
    runner, stopped, other = instances
    token = bearer(login(runner, "ann"))
    words = [f"w{i}" for i in range(80)]
    fake = fake_factory("ollama", reply=" ".join(words), chunk_delay=0.1)
    assert runner.api("POST", "/api/settings/llm", headers=token, json={
        "backend_type": "ollama", "config": {"url": fake.url}, "default_model": fake.models[0]}).status_code == 200
    tale = runner.api("POST", "/api/stories", headers=token, json={"premise": "A fox who counts"}).json()
    started = runner.api("POST", "/proxy/llm/v1/chat/completions", headers=token, stream=True, json={
        "messages": [{"role": "user", "content": "Count."}], "stream": True, "taleweaver": {"story_id": tale["id"]}})
    generation_id = int(started.headers["X-Taleweaver-Generation"])
    started.close()
    reader = stopped.api("GET", f"/proxy/llm/v1/generations/{generation_id}/events", headers=token, stream=True)
    events = sse_events_with_ids(reader)
    seen = []
    for event in events:
        seen.append(event)
        if len(delta_text(seen).split()) >= 10:
            break
    try:
        stopped.process.send_signal(signal.SIGTERM)
        seen += list(events)  # ends, not cut
        stopped.process.wait(timeout=30)
        log = stopped.log_text()
        cursor = max(event_id for event_id, _ in seen if event_id is not None)
        rest = list(sse_events_with_ids(other.api(
            "GET", f"/proxy/llm/v1/generations/{generation_id}/events?after={cursor}", headers=token, stream=True)))
    finally:
        stopped.start()  # the next tests use all three

    assert all(not (isinstance(data, dict) and "taleweaver" in data) and data != "[DONE]" for _, data in seen)
    assert "Worker graceful timeout" not in log
    assert rest[-1][1] == "[DONE]" and final_status(rest[-2]) == "finished"
    assert delta_text(seen) + delta_text(rest) == " ".join(words)


def test_with_one_instance_killed_the_others_keep_serving(cluster):
    instances, proxy = cluster
    token = bearer(login(proxy, "bob"))
    victim = psutil.Process(instances[2].process.pid)
    for process in [*victim.children(recursive=True), victim]:
        process.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)

    answers = [public(proxy, "GET", "/api/auth/me", headers=token) for _ in range(12)]
    assert [a.status_code for a in answers] == [200] * 12
    for server in instances[:2]:
        assert server.api("GET", "/api/auth/me", headers=token).json()["username"] == "bob"
    assert bearer(login(proxy, "ann"))


WORDS = [f"w{i}" for i in range(120)]
REPLY = " ".join(WORDS)  # distinct words, one a chunk every 0.05 s (about 6 s): a doubled or lost one shows
ELSEWHERE = "taleweaver-elsewhere"


@pytest.fixture(params=["on this machine", "on another machine"])
def doomed_cluster(request):
    """A cluster of its own whose third instance is killed by the test. On another machine (a
    host name of its own) the others cannot look its processes up: only its heartbeat going
    stale (generations.STALE_SECONDS, production's 10 s) tells them that its jobs died."""
    elsewhere = request.param == "on another machine"
    if elsewhere and not can_run_as_another_host():
        pytest.skip("needs a UTS namespace (unshare --uts) to give an instance a host name of its own")
    instances, proxy = start_cluster(ELSEWHERE if elsewhere else None)
    yield instances, proxy
    stop_cluster(instances, proxy)


def start_generation(server, token: dict, story_id: int) -> requests.Response:
    """A streamed story generation sent to one instance: that instance runs its job."""
    return server.api("POST", "/proxy/llm/v1/chat/completions", headers=token, stream=True, json={
        "messages": [{"role": "user", "content": "Count."}], "stream": True, "taleweaver": {"story_id": story_id}})


def final_status(event) -> str | None:
    """The generation's status that its stream's last chunk (before [DONE]) carries."""
    return event[1].get("taleweaver", {}).get("status") if isinstance(event[1], dict) else None


class Follower(threading.Thread):
    """A browser tab reading a generation's event stream (already opened) in the background."""

    def __init__(self, response: requests.Response):
        super().__init__(daemon=True)
        assert response.status_code == 200, response.text
        self.response = response
        self.events: list = []

    def run(self) -> None:
        for event in sse_events_with_ids(self.response):
            self.events.append(event)

    def ended(self, timeout: float = 60) -> list:
        """Its events once the stream has ended (a stream still open after the timeout fails)."""
        self.join(timeout)
        assert not self.is_alive(), "a follower is still waiting for a generation whose instance was killed"
        return self.events


def test_killing_the_instance_that_runs_a_generation_ends_it_as_interrupted_everywhere_with_its_words_kept(
        doomed_cluster, fake_factory):
    instances, proxy = doomed_cluster
    first, second, victim = instances
    token = bearer(login(proxy, "ann"))
    fake = fake_factory("ollama", reply=REPLY, chunk_delay=0.05)
    assert public(proxy, "POST", "/api/settings/llm", headers=token, json={
        "backend_type": "ollama", "config": {"url": fake.url}, "default_model": fake.models[0]}).status_code == 200
    tale, *theirs = [public(proxy, "POST", "/api/stories", headers=token, json={"premise": premise}).json()
                     for premise in ("A fox who counts", "An owl who counts", "A hare who counts")]
    their_streams = [start_generation(server, token, story["id"]) for server, story in zip((first, second), theirs)]
    their_ids = [int(response.headers["X-Taleweaver-Generation"]) for response in their_streams]

    started = start_generation(victim, token, tale["id"])
    generation_id = int(started.headers["X-Taleweaver-Generation"])
    # A tab attached through another instance, following from the first word.
    follower = Follower(first.api("GET", f"/proxy/llm/v1/generations/{generation_id}/events",
                                  headers=token, stream=True))
    follower.start()
    before = []
    for event_id, data in sse_events_with_ids(started):
        before.append((event_id, data))
        if len(delta_text(before).split()) >= 20:
            break
    assert [public(proxy, "GET", f"/proxy/llm/v1/generations/{i}", headers=token).json()["status"]
            for i in their_ids] == ["running", "running"]  # the others' jobs run through the kill

    kill_whole_server(victim)
    started.close()
    text, owner = victim.query("SELECT text, owner FROM generations WHERE id = ?", (generation_id,))[0]
    # A running generation's text is its appended pieces (migration 009); the column holds it once it ends.
    persisted = text + "".join(piece for (piece,) in victim.query(
        "SELECT text FROM generation_pieces WHERE generation_id = ? ORDER BY seq", (generation_id,)))
    assert owner.partition(":")[0].split("~")[0] == (victim.hostname or socket.gethostname())
    # The tab whose stream the kill cut reconnects through nginx from its last event.
    resumed = Follower(public(proxy, "GET", f"/proxy/llm/v1/generations/{generation_id}/events?after={event_id}",
                              headers=token, stream=True))
    resumed.start()
    after, followed = resumed.ended(), follower.ended()

    kept = public(proxy, "GET", f"/api/stories/{tale['id']}", headers=token).json()
    assert kept["content"] == persisted  # every word persisted before the kill, and nothing else
    assert persisted.startswith(delta_text(before)) and REPLY.startswith(persisted)
    assert kept["last_generation"]["status"] == "interrupted" and kept["active_generation"] is None
    assert kept["last_generation"]["error"]["code"] == "interrupted"
    for events in (followed, after):  # both tabs end cleanly, neither doubles a word
        assert events[-1][1] == "[DONE]" and final_status(events[-2]) == "interrupted"
    assert delta_text(followed) == persisted
    assert delta_text(before) + delta_text(after) == persisted

    # The story is the survivors' to read, edit and write on again.
    edited = first.api("PATCH", f"/api/stories/{tale['id']}", headers=token, json={
        "base_revision": kept["revision"], "content": persisted + " The fox slept."})
    assert edited.status_code == 200, edited.text
    assert second.api("GET", f"/api/stories/{tale['id']}", headers=token).json()["content"] == \
        persisted + " The fox slept."
    again = public(proxy, "POST", "/proxy/llm/v1/chat/completions", headers=token, json={
        "messages": [{"role": "user", "content": "Count."}], "max_tokens": 3,
        "taleweaver": {"story_id": tale["id"]}})
    assert again.status_code == 200, again.text
    assert again.json()["taleweaver"]["status"] == "finished"
    assert first.api("GET", f"/api/stories/{tale['id']}", headers=token).json()["content"].startswith(
        persisted + " The fox slept.")

    # The other instances' own generations were untouched: every word, finished.
    for response, story in zip(their_streams, theirs):
        events = list(sse_events_with_ids(response))
        assert delta_text(events) == REPLY and final_status(events[-2]) == "finished"
        assert second.api("GET", f"/api/stories/{story['id']}", headers=token).json()["content"] == REPLY

    # New plain streams through nginx keep working, whichever instance it picks.
    bob = bearer(login(proxy, "bob"))
    quick = fake_factory("ollama", reply="one two three")
    assert public(proxy, "POST", "/api/settings/llm", headers=bob, json={
        "backend_type": "ollama", "config": {"url": quick.url}, "default_model": quick.models[0]}).status_code == 200
    for _ in range(6):
        response = public(proxy, "POST", "/proxy/llm/v1/chat/completions", headers=bob, stream=True,
                          json={"messages": [{"role": "user", "content": "Count"}], "stream": True})
        assert response.status_code == 200
        assert delta_text((None, e) for e in sse_events(response)) == "one two three"


def test_an_instance_on_postgresql_without_shared_keys_refuses_to_start():
    server = TaleweaverServer(database_url=new_postgres_database())
    server.env.pop("TALEWEAVER_SECRET_KEYS")
    with pytest.raises(RuntimeError) as refused:
        server.start()
    server.close()
    assert "set TALEWEAVER_SECRET_KEYS to the same Fernet key on every instance" in str(refused.value)
