"""Issue 8 through the real server: what a hostile web page can send gets nothing done.

The user's Taleweaver (gunicorn, single-user mode, no login) has ChatGPT saved with a key,
pointed at a fake OpenAI server. An attacker's server on another loopback port records every
request it receives. Each attack below is sent as the browser would send it for the attacker's
page: a "simple" request (text/plain, form-encoded: no CORS preflight) with the attacker's Origin,
an `Origin: null` (sandboxed frame), or a DNS-rebinding request whose Host is the attacker's name.
"""
from __future__ import annotations

import json

import openai
import pytest
import requests

from tests.attacker import AttackerServer
from tests.fakes import FakeLLMServer
from tests.support import TaleweaverServer, configure_fake

KEY = "sk-user-private-key-cross-site-0123456789"


@pytest.fixture(scope="module")
def setup():
    server = TaleweaverServer().start()
    backend = FakeLLMServer("chatgpt", api_key=KEY).start()
    attacker = AttackerServer().start()
    configure_fake(server, backend, default_model=backend.models[0], api_key=KEY)
    yield server, backend, attacker
    attacker.stop()
    backend.stop()
    server.close()


def state_of(server: TaleweaverServer) -> tuple:
    """What an attack could change: the settings and the stories."""
    return server.api("GET", "/api/settings/llm").json(), server.api("GET", "/api/stories").json()


def hostile_settings_body(attacker: AttackerServer) -> str:
    return json.dumps({"backend_type": "chatgpt", "config": {"base_url": attacker.url + "/v1"}})


def send(server, method, path, body, content_type, origin=None, host=None):
    headers = {"Content-Type": content_type}
    if origin is not None:
        headers["Origin"] = origin
    if host is not None:
        headers["Host"] = host
    return requests.request(method, server.url + path, data=body, headers=headers, timeout=30)


def attacks(attacker: AttackerServer):
    """(name, method, path, body, content type, Origin, Host) of every cross-site request tried."""
    evil = attacker.url
    settings = hostile_settings_body(attacker)
    chat = json.dumps({"messages": [{"role": "user", "content": "spend the user's money"}]})
    completion = json.dumps({"prompt": "spend the user's money", "model": "gpt-3.5-turbo-instruct"})
    story = json.dumps({"title": "pwned", "prompt": "p", "content": "c"})
    rebind = f"evil.example:{attacker.port}"
    return [
        ("test with the key, text/plain", "POST", "/api/settings/llm/test", settings, "text/plain", evil, None),
        ("save attacker url, text/plain", "POST", "/api/settings/llm", settings, "text/plain;charset=UTF-8", evil, None),
        ("save attacker url, form", "POST", "/api/settings/llm", "backend_type=chatgpt", "application/x-www-form-urlencoded", evil, None),
        ("spend via proxy, text/plain", "POST", "/proxy/llm/v1/chat/completions", chat, "text/plain", evil, None),
        ("spend via legacy proxy, form", "POST", "/proxy/lmstudio/v1/chat/completions", "a=b", "application/x-www-form-urlencoded", evil, None),
        ("spend via completions, text/plain", "POST", "/proxy/llm/v1/completions", completion, "text/plain", evil, None),
        ("spend via completions, Origin null", "POST", "/proxy/llm/v1/completions", completion, "application/json", "null", None),
        ("rebinding: spend via completions", "POST", "/proxy/llm/v1/completions", completion, "application/json", None, rebind),
        ("completions without Origin, text/plain", "POST", "/proxy/llm/v1/completions", completion, "text/plain", None, None),
        ("write a story, text/plain", "POST", "/api/stories", story, "text/plain", evil, None),
        ("test with the key, Origin null", "POST", "/api/settings/llm/test", settings, "application/json", "null", None),
        ("spend via proxy, Origin null", "POST", "/proxy/llm/v1/chat/completions", chat, "application/json", "null", None),
        ("rebinding: test with the key", "POST", "/api/settings/llm/test", settings, "application/json", None, rebind),
        ("rebinding: save", "POST", "/api/settings/llm", settings, "application/json", None, rebind),
        ("rebinding: spend", "POST", "/proxy/llm/v1/chat/completions", chat, "application/json", None, rebind),
        ("rebinding: story", "POST", "/api/stories", story, "application/json", None, rebind),
        ("text/plain without Origin", "POST", "/api/settings/llm/test", settings, "text/plain", None, None),
    ]


@pytest.mark.parametrize("index", range(17))
def test_a_cross_site_request_is_refused_and_changes_nothing(setup, index):
    server, backend, attacker = setup
    name, method, path, body, content_type, origin, host = attacks(attacker)[index]
    before = state_of(server)
    chats_before = len([r for r in backend.requests if r["path"].endswith("/completions")])

    response = send(server, method, path, body, content_type, origin, host)

    expected = 415 if origin is None and host is None else 403
    assert response.status_code == expected, (name, response.text)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert KEY not in response.text
    assert attacker.received == []
    assert state_of(server) == before
    assert len([r for r in backend.requests if r["path"].endswith("/completions")]) == chats_before


@pytest.mark.parametrize("path", ["/", "/settings", "/api/settings/llm", "/api/stories", "/proxy/llm/v1/models", "/favicon.svg"])
def test_a_rebinding_page_cannot_read_anything(setup, path):
    server, _, attacker = setup

    response = requests.get(server.url + path, headers={"Host": f"evil.example:{server.port}"}, timeout=30)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "host_not_allowed"
    assert "api_key_masked" not in response.text and "gpt" not in response.text


def test_a_json_test_of_a_new_address_with_the_key_left_blank_sends_no_key(setup):
    server, _, attacker = setup

    result = server.api("POST", "/api/settings/llm/test", json=json.loads(hostile_settings_body(attacker))).json()
    save = server.api("POST", "/api/settings/llm", json=json.loads(hostile_settings_body(attacker)))

    assert result["status"] == "error" and result["error_code"] == "api_key_required"
    assert save.status_code == 400 and save.json()["error"]["field"] == "config.api_key"
    assert attacker.received == []


def test_the_legitimate_clients_keep_working(setup):
    server, backend, attacker = setup

    same_origin = server.api("POST", "/api/settings/llm/test", json={"backend_type": "chatgpt"},
                             headers={"Origin": server.url})
    dev_origin = server.api("GET", "/api/settings/llm", headers={"Origin": "http://localhost:3000"})
    localhost_name = requests.get(f"http://localhost:{server.port}/api/health", timeout=30)
    client = openai.OpenAI(base_url=server.url + "/proxy/llm/v1", api_key="unused", max_retries=0)
    completion = client.chat.completions.create(model=backend.models[0], messages=[{"role": "user", "content": "Hi"}])
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(
            model=backend.models[0], messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        if chunk.choices
    )

    assert same_origin.status_code == 200 and same_origin.json()["status"] == "connected"
    assert dev_origin.status_code == 200
    assert dev_origin.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert localhost_name.status_code == 200
    assert completion.choices[0].message.content
    assert streamed
    assert attacker.received == []


def test_a_server_bound_beyond_loopback_names_the_setting_at_start_up():
    server = TaleweaverServer(env={"TALEWEAVER_HOST": "0.0.0.0", "TALEWEAVER_ALLOW_REMOTE_SINGLE_USER": "1"})
    try:
        server.start()
        assert "TALEWEAVER_ALLOWED_HOSTS=" in server.log_text()
    finally:
        server.close()
