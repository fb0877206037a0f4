"""Multi-user mode, SSRF limits, secrets and concurrency, through the real server over HTTP."""
from __future__ import annotations

import http.server
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support import GUNICORN, ROOT, TaleweaverServer, free_port

PASSWORD = "correct horse battery"


def create_user(server: TaleweaverServer, name: str) -> None:
    result = subprocess.run(
        [str(GUNICORN.with_name("flask")), "--app", "app", "create-user", name, "--password", PASSWORD],
        cwd=str(ROOT / "backend"), env=server.env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def multi():
    server = TaleweaverServer(env={"TALEWEAVER_AUTH_MODE": "multi", "TALEWEAVER_LOGIN_ATTEMPTS_PER_MINUTE": "6"}).start()
    for name in ("ann", "bob"):
        create_user(server, name)
    yield server
    server.close()


def login(server, name) -> dict:
    response = server.api("POST", "/api/auth/login", json={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_every_api_and_proxy_call_needs_a_login(multi):
    assert multi.api("GET", "/api/auth/mode").json() == {"mode": "multi"}
    for method, path in [("GET", "/api/settings/llm"), ("POST", "/api/settings/llm/test"),
                         ("GET", "/api/stories"), ("GET", "/proxy/llm/v1/models"),
                         ("POST", "/proxy/llm/v1/chat/completions"), ("POST", "/proxy/llm/v1/completions"),
                         ("GET", "/api/settings/llm/samplers"), ("POST", "/api/settings/llm/tokens")]:
        response = multi.api(method, path, json={})
        assert response.status_code == 401, (path, response.text)
    bad = multi.api("GET", "/api/settings/llm", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and "log in again" in bad.json()["error"]["message"]


def test_users_never_see_or_use_each_others_settings_keys_or_stories(multi, fake_factory):
    ann, bob = login(multi, "ann"), login(multi, "bob")
    secret = "sk-ann-private-key-0123456789"
    fake = fake_factory("chatgpt", api_key=secret)
    saved = multi.api("POST", "/api/settings/llm", headers=ann,
                      json={"backend_type": "chatgpt", "config": {"base_url": fake.url, "api_key": secret},
                            "default_model": fake.models[0]})
    assert saved.status_code == 200
    story = multi.api("POST", "/api/stories", headers=ann, json={"title": "Ann's", "content": "Once"}).json()

    bob_settings = multi.api("GET", "/api/settings/llm", headers=bob).json()
    assert bob_settings["backend_type"] is None and bob_settings["backends"] == {}
    assert saved.json()["config"]["api_key_masked"] not in str(bob_settings)
    bob_chat = multi.api("POST", "/proxy/llm/v1/chat/completions", headers=bob,
                         json={"messages": [{"role": "user", "content": "hi"}]})
    assert bob_chat.status_code == 400 and bob_chat.json()["error"]["code"] == "backend_not_configured"
    assert not [r for r in fake.requests if r["method"] == "POST"], "bob's call reached ann's backend"
    bob_test = multi.api("POST", "/api/settings/llm/test", headers=bob, json={"backend_type": "chatgpt"})
    assert bob_test.status_code == 400 and bob_test.json()["error"]["field"] == "config.api_key"
    assert multi.api("GET", f"/api/stories/{story['id']}", headers=bob).status_code == 404
    assert multi.api("DELETE", f"/api/stories/{story['id']}", headers=bob).status_code == 404
    assert multi.api("GET", "/api/stories", headers=bob).json()["stories"] == []
    assert multi.api("GET", f"/api/stories/{story['id']}", headers=ann).status_code == 200
    ann_chat = multi.api("POST", "/proxy/llm/v1/chat/completions", headers=ann,
                         json={"messages": [{"role": "user", "content": "hi"}]})
    assert ann_chat.status_code == 200


def test_logout_revokes_the_token(multi):
    headers = login(multi, "bob")
    assert multi.api("GET", "/api/auth/me", headers=headers).json()["username"] == "bob"
    assert multi.api("POST", "/api/auth/logout", headers=headers).status_code == 204
    assert multi.api("GET", "/api/auth/me", headers=headers).status_code == 401


def test_failed_logins_are_rate_limited(multi):
    create_user(multi, "carl")
    answers = [
        multi.api("POST", "/api/auth/login", json={"username": "carl", "password": "wrong"}).status_code
        for _ in range(16)
    ]
    assert answers[0] == 401
    assert answers[-1] == 429  # each worker process allows 6 failures a minute
    limited = multi.api("POST", "/api/auth/login", json={"username": "carl", "password": PASSWORD})
    assert limited.status_code == 429, "the right password must not get through once locked"
    assert int(limited.headers["Retry-After"]) > 0
    assert login(multi, "ann")  # other accounts are not locked out


@pytest.mark.parametrize("url", [
    "http://10.0.0.1:11434", "http://192.168.1.20:11434", "http://169.254.169.254", "http://example.com",
])
def test_backend_urls_outside_the_allowlist_are_refused_before_any_connection(multi, url):
    headers = login(multi, "ann")
    for path in ("/api/settings/llm", "/api/settings/llm/test"):
        response = multi.api("POST", path, headers=headers, json={"backend_type": "ollama", "config": {"url": url}})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["field"] == "config.url"
        assert "allowed" in response.json()["error"]["message"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70", "ftp://127.0.0.1"])
def test_only_http_and_https_urls_are_accepted(multi, url):
    headers = login(multi, "ann")
    response = multi.api("POST", "/api/settings/llm", headers=headers,
                         json={"backend_type": "lmstudio", "config": {"url": url}})
    assert response.status_code == 400 and response.json()["error"]["field"] == "config.url"


class _Redirector(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):
        pass


def test_redirects_to_another_host_are_not_followed(multi, fake_factory):
    headers = login(multi, "ann")
    other = fake_factory("ollama")
    redirector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    _Redirector.target = other.url
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{redirector.server_address[1]}"
        test = multi.api("POST", "/api/settings/llm/test", headers=headers,
                         json={"backend_type": "ollama", "config": {"url": url}}).json()
        assert test["status"] == "error"
        assert "redirect" in test["error"]
        assert other.requests == []
    finally:
        redirector.shutdown()
        redirector.server_close()


def test_an_upstream_error_echoing_the_key_never_reaches_logs_or_responses(server, fake_factory):
    secret = "sk-echoed-back-by-upstream-55555"
    fake = fake_factory("chatgpt", api_key=secret)
    server.configure("chatgpt", {"base_url": fake.url, "api_key": secret}, fake.models[0])
    fake.set_fault("status", code=500, message=f"internal error while using key {secret}")
    responses = [
        server.api("POST", "/proxy/llm/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}),
        server.api("POST", "/proxy/llm/v1/chat/completions",
                   json={"messages": [{"role": "user", "content": "x"}], "stream": True}),
        server.api("POST", "/api/settings/llm/test", json={"backend_type": "chatgpt"}),
        server.api("GET", "/api/settings/llm/models?refresh=1"),
        server.api("GET", "/api/settings/llm/status"),
    ]
    fake.set_fault("status", code=401, message=f"Incorrect API key provided: {secret}")
    responses.append(server.api("POST", "/api/settings/llm/test", json={"backend_type": "chatgpt"}))
    for response in responses:
        assert secret not in response.text
    assert responses[0].status_code == 502
    time.sleep(0.2)  # let the workers flush their log lines
    log = server.log_text()
    assert "internal error while using key" in log or "failed with HTTP 500" in log
    assert secret not in log
    assert secret.encode() not in server.database_bytes()


def test_parallel_saves_leave_exactly_one_active_backend(server):
    kinds = [("lmstudio", {"url": "http://127.0.0.1:1234"}), ("ollama", {"url": "http://127.0.0.1:11434"})]

    def save_many(worker: int) -> list[int]:
        session = requests.Session()
        codes = []
        for i in range(20):
            backend_type, config = kinds[(worker + i) % 2]
            response = session.post(server.url + "/api/settings/llm", timeout=60, json={
                "backend_type": backend_type, "config": config, "default_model": f"w{worker}-{i}"})
            codes.append(response.status_code)
        return codes

    with ThreadPoolExecutor(8) as pool:
        codes = [code for result in pool.map(save_many, range(8)) for code in result]
    assert codes == [200] * 160
    active = server.query("SELECT backend_type, config_json FROM settings WHERE is_active = 1")
    (versions,) = server.query("SELECT settings_version FROM users WHERE username = 'local'")
    assert len(active) == 1
    current = server.api("GET", "/api/settings/llm").json()
    assert current["backend_type"] == active[0][0]
    assert versions[0] >= 160  # no save was lost


def test_a_locked_database_makes_requests_wait_not_fail(server):
    if server.on_postgres:
        pytest.skip("SQLite's file lock; PostgreSQL's row locks are its own business")
    server.configure("ollama", {"url": "http://127.0.0.1:11434"}, "before")
    blocker = sqlite3.connect(server.database, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    results = {}

    def save():
        results["save"] = server.api("POST", "/api/settings/llm", json={
            "backend_type": "ollama", "config": {"url": "http://127.0.0.1:11434"}, "default_model": "after"})

    thread = threading.Thread(target=save)
    thread.start()
    time.sleep(1.5)
    blocker.execute("COMMIT")
    blocker.close()
    thread.join(60)
    assert results["save"].status_code == 200
    assert server.api("GET", "/api/settings/llm").json()["default_model"] == "after"


def test_single_user_mode_refuses_to_listen_beyond_loopback():
    server = TaleweaverServer(env={"TALEWEAVER_HOST": "0.0.0.0"})
    with pytest.raises(RuntimeError) as failure:
        server.start()
    server.close()
    assert "Refusing to listen on 0.0.0.0" in str(failure.value)
