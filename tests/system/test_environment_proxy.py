"""The real server behind a company proxy: started with HTTPS_PROXY / HTTP_PROXY naming a recording
proxy on loopback (with a user name and password) and SSL_CERT_FILE trusting a throwaway
certificate authority. Remote backends live at `api.example.test`, a name that resolves nowhere
but in the proxy, which maps it to fakes on 127.0.0.1: their connection test, model list and
streamed chat can only work through it. A loopback backend never goes through it, whatever
NO_PROXY says; a proxy that wants credentials or refuses is told apart; its password never shows."""
from __future__ import annotations

import base64
import tempfile

import pytest

from tests.fakes import CertificateAuthority, FakeLLMServer, RecordingProxy
from tests.support import TaleweaverServer, delta_text, sse_events

REMOTE = "api.example.test"
USER, PASSWORD = "taleweaver", "Pr0xy-s3cret!"
API_KEY = "sk-behind-the-proxy-0001"
REPLY = "The fox reached the far bank by a bridge of reeds."


@pytest.fixture(scope="module")
def setup():
    """The proxy, the fakes (https ChatGPT and http llama-server on api.example.test, Ollama on
    127.0.0.1) and the server started with the proxy in its environment."""
    with tempfile.TemporaryDirectory() as folder:
        authority = CertificateAuthority(folder)
        fakes = {
            "chatgpt": FakeLLMServer("chatgpt", api_key=API_KEY, reply=REPLY,
                                     tls=authority.server_context([REMOTE])).start(),
            "openai_compatible": FakeLLMServer("openai_compatible", reply=REPLY).start(),
            "ollama": FakeLLMServer("ollama", reply=REPLY).start(),
        }
        proxy = RecordingProxy({REMOTE: "127.0.0.1"}, credentials=(USER, PASSWORD)).start()
        address = f"http://{USER}:{PASSWORD.replace('!', '%21')}@127.0.0.1:{proxy.port}"
        server = TaleweaverServer(env={
            "HTTPS_PROXY": address, "HTTP_PROXY": address, "NO_PROXY": "intranet.example",
            "SSL_CERT_FILE": authority.ca_file,
        }).start()
        try:
            yield server, proxy, fakes
        finally:
            server.close()
            proxy.stop()
            for fake in fakes.values():
                fake.stop()


def remote_config(kind: str, fake: FakeLLMServer) -> dict:
    if kind == "chatgpt":
        return {"base_url": f"https://{REMOTE}:{fake.port}/v1", "api_key": API_KEY}
    return {"base_url": f"http://{REMOTE}:{fake.port}/v1"}


def connection_test(server: TaleweaverServer, backend_type: str, config: dict) -> dict:
    response = server.api("POST", "/api/settings/llm/test", json={"backend_type": backend_type, "config": config})
    assert response.status_code == 200, response.text
    return response.json()


PROXY_AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.mark.parametrize("kind, first_line", [
    ("chatgpt", "CONNECT {host}:{port} HTTP/1.0"),                   # https: a tunnel, TLS inside
    ("openai_compatible", "GET http://{host}:{port}/v1/models HTTP/1.1"),  # http: absolute-form
])
def test_a_remote_backends_test_models_and_streamed_chat_go_through_the_proxy(setup, kind, first_line):
    server, proxy, fakes = setup
    fake = fakes[kind]
    config = remote_config(kind, fake)
    seen_before = len(proxy.requests)

    tested = connection_test(server, kind, config)
    server.configure(kind, config, fake.models[0])
    models = server.api("GET", "/api/settings/llm/models").json()["models"]
    listed = [m["id"] for m in server.api("GET", "/proxy/llm/v1/models").json()["data"]]
    with server.chat(stream=True) as streamed:
        text = delta_text((None, event) for event in sse_events(streamed))

    assert tested["status"] == "connected", tested
    assert fake.models[0] in models and listed == models
    assert text == REPLY
    through = proxy.requests[seen_before:]
    assert through[0]["line"] == first_line.format(host=REMOTE, port=fake.port)
    assert all(f"{REMOTE}:{fake.port}" in r["line"] for r in through)
    assert {r["proxy_authorization"] for r in through} == {PROXY_AUTHORIZATION}


def test_a_loopback_backend_does_not_go_through_the_proxy(setup):
    server, proxy, fakes = setup
    fake = fakes["ollama"]
    seen_before = len(proxy.requests)

    tested = connection_test(server, "ollama", {"url": fake.url})
    server.configure("ollama", {"url": fake.url}, fake.models[0])
    answer = server.chat()

    assert tested["status"] == "connected" and answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == REPLY
    assert proxy.requests[seen_before:] == []


@pytest.mark.parametrize("mode, code, words", [
    ("auth_required", "proxy_auth_required", "(from HTTPS_PROXY) refused the user name and password"),
    ("refuse", "proxy_refused", f"refused to connect to {REMOTE} (HTTP 403 Forbidden)"),
])
def test_a_proxy_that_wants_credentials_or_refuses_is_named_with_the_variable_to_check(setup, mode, code, words):
    server, proxy, fakes = setup
    config = remote_config("chatgpt", fakes["chatgpt"])
    server.configure("chatgpt", config, fakes["chatgpt"].models[0])
    proxy.set_mode(mode)
    try:
        tested = connection_test(server, "chatgpt", config)
        chat = server.chat()
    finally:
        proxy.set_mode("forward")

    assert tested["status"] == "error" and tested["error_code"] == code
    assert words in tested["error"] and "HTTPS_PROXY" in tested["hint"]
    assert chat.status_code == 502 and chat.json()["error"]["code"] == code
    for shown in (tested, chat.text):
        assert PASSWORD not in str(shown) and PROXY_AUTHORIZATION not in str(shown)


def test_the_proxy_password_never_reaches_the_server_log(setup):
    server, proxy, fakes = setup
    config = remote_config("chatgpt", fakes["chatgpt"])
    assert connection_test(server, "chatgpt", config)["status"] == "connected"
    proxy.set_mode("auth_required")
    try:
        assert connection_test(server, "chatgpt", config)["error_code"] == "proxy_auth_required"
    finally:
        proxy.set_mode("forward")

    log = server.log_text()
    assert "POST /api/settings/llm/test" in log  # the access log is written to it
    for secret in (PASSWORD, PASSWORD.replace("!", "%21"), PROXY_AUTHORIZATION.split()[1]):
        assert secret not in log
