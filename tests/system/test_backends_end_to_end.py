"""Each backend type driven through the real server: connection test, models, chat, streaming."""
from __future__ import annotations

import time

import openai
import pytest
import requests

from tests.support import TaleweaverServer, configure_fake, sse_events

KINDS = ["ollama", "lmstudio", "chatgpt", "openai_compatible"]
REPLY = "The lighthouse keeper counted the waves until the ships came home."


@pytest.fixture(params=KINDS)
def backend(request, server, fake_factory):
    """A fake LLM of each kind, saved as the server's active backend with a default model."""
    options = {"reply": REPLY}
    if request.param == "chatgpt":
        options["api_key"] = "sk-e2e-secret-key-1234567890"
    fake = fake_factory(request.param, **options)
    model = fake.models[0]
    configure_fake(server, fake, default_model=model)
    return fake


def test_connection_test_reports_connected_with_the_fakes_models(server, backend):
    result = server.api(
        "POST", "/api/settings/llm/test", json={"backend_type": backend.kind}
    ).json()
    assert result["status"] == "connected", result
    assert backend.models[0] in result["models"]
    assert [step["status"] for step in result["steps"] if step["name"] != "generate"] == [
        "ok"
    ] * (len(result["steps"]) - 1)


def test_connection_test_with_generation_runs_one_token(server, backend):
    result = server.api(
        "POST",
        "/api/settings/llm/test",
        json={"backend_type": backend.kind, "generate": True},
    ).json()
    generate = [step for step in result["steps"] if step["name"] == "generate"][0]
    assert generate["status"] == "ok", result
    chat_requests = [r for r in backend.requests if r["method"] == "POST"]
    assert chat_requests, "the fake saw no generation request"


def test_models_endpoint_lists_the_backends_models(server, backend):
    body = server.api("GET", "/api/settings/llm/models?refresh=1").json()
    assert body["backend_type"] == backend.kind
    expected = [m for m in backend.models if not m.startswith("text-embedding")]
    assert body["models"] == expected
    assert body["default_model"] == backend.models[0]


def test_status_shows_connected(server, backend):
    body = server.api("GET", "/api/settings/llm/status").json()
    assert body["backend_type"] == backend.kind
    assert body["status"] == "connected", body
    assert body["active_model"] == backend.models[0]


def test_non_streamed_chat_returns_the_backends_text(server, backend):
    response = server.api(
        "POST",
        "/proxy/llm/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Tell me a story"}]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"] == REPLY
    assert response.headers["X-Taleweaver-Backend"] == backend.kind
    assert response.headers["X-Taleweaver-Model"] == backend.models[0]


def test_streamed_chat_arrives_as_openai_chunks_ending_in_done(server, backend):
    response = server.api(
        "POST",
        "/proxy/llm/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Tell me a story"}], "stream": True},
        stream=True,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = list(sse_events(response))
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == REPLY
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_is_forwarded_while_the_backend_is_still_writing(server, fake_factory):
    fake = fake_factory("ollama", reply="one two three four five six seven eight", chunk_delay=0.3)
    configure_fake(server, fake, default_model=fake.models[0])
    response = server.chat("go", stream=True)
    events = sse_events(response)
    next(events)  # the role chunk
    first_text = next(events)
    assert first_text["choices"][0]["delta"]["content"].strip() == "one"
    # The first words reached the client while the backend had not finished the answer.
    assert fake.stats["streams_completed"] == 0
    assert list(events)[-1] == "[DONE]"


def test_client_going_away_closes_the_upstream_request(server, fake_factory):
    fake = fake_factory("lmstudio", reply=" ".join(["word"] * 200), chunk_delay=0.05)
    configure_fake(server, fake, default_model=fake.models[0])
    response = server.chat("go", stream=True)
    events = sse_events(response)
    next(events), next(events)
    response.close()
    deadline = time.monotonic() + 10
    while fake.stats["client_disconnects"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.stats["client_disconnects"] == 1
    assert fake.stats["streams_completed"] == 0


@pytest.mark.parametrize("kind", KINDS)
def test_official_openai_client_works_unchanged(server, fake_factory, kind):
    fake = fake_factory(kind, reply=REPLY, api_key="sk-e2e-secret-key-1234567890" if kind == "chatgpt" else None)
    configure_fake(server, fake, default_model=fake.models[0])
    client = openai.OpenAI(base_url=server.url + "/proxy/llm/v1", api_key="unused-by-taleweaver", max_retries=0)
    listed = [model.id for model in client.models.list()]
    assert fake.models[0] in listed
    completion = client.chat.completions.create(
        model=fake.models[0], messages=[{"role": "user", "content": "Tell me a story"}]
    )
    assert completion.choices[0].message.content == REPLY
    stream = client.chat.completions.create(
        model=fake.models[0], messages=[{"role": "user", "content": "Tell me a story"}], stream=True
    )
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert streamed == REPLY


def test_openai_client_sees_a_missing_model_as_not_found(server, fake_factory):
    fake = fake_factory("ollama")
    configure_fake(server, fake, default_model=fake.models[0])
    client = openai.OpenAI(base_url=server.url + "/proxy/llm/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert "no-such-model" in str(caught.value)


def test_saved_api_key_is_nowhere_in_the_database_file_or_the_log(server, fake_factory):
    secret = "sk-never-stored-plain-9f8e7d6c5b4a"
    fake = fake_factory("chatgpt", api_key=secret)
    saved = configure_fake(server, fake, default_model=fake.models[0])
    assert secret not in str(saved)
    assert saved["config"]["api_key_masked"] == secret[:3] + "*" * (len(secret) - 4) + secret[-1]
    chat = server.api("POST", "/proxy/llm/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code == 200
    assert fake.requests[-1]["headers"].get("Authorization") == f"Bearer {secret}"
    # A wrong key makes the upstream echo (a masked form of) the key: still never in plain text.
    server.api("POST", "/api/settings/llm/test", json={"backend_type": "chatgpt", "config": {"api_key": secret + "x"}})
    assert secret.encode() not in server.database_bytes()
    assert secret not in server.log_text()
    for path in ("/api/settings/llm", "/api/settings/llm/status", "/api/settings/llm/models"):
        assert secret not in server.api("GET", path).text


def test_legacy_lmstudio_proxy_path_still_answers(server, fake_factory):
    fake = fake_factory("lmstudio")
    configure_fake(server, fake, default_model=fake.models[0])
    listed = server.api("GET", "/proxy/lmstudio/v1/models").json()
    assert [m["id"] for m in listed["data"]] == fake.models


def test_requests_from_the_vite_dev_origin_are_allowed_by_cors(server):
    response = server.api(
        "OPTIONS",
        "/api/settings/llm",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )
    assert response.headers.get("Access-Control-Allow-Origin") == "http://localhost:3000"
    other = server.api("GET", "/api/settings/llm", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_wsl_localhost_falls_back_to_the_windows_host(fake_factory):
    """Under WSL, LM Studio on Windows is not at localhost: the server finds it on the Windows
    host (127.0.0.2 stands in for it) and says so."""
    windows = fake_factory("lmstudio", host="127.0.0.2", reply=REPLY)
    wsl_server = TaleweaverServer(env={
        "TALEWEAVER_WSL_FALLBACK": "1", "TALEWEAVER_WSL": "1", "TALEWEAVER_WSL_HOSTS": "127.0.0.3,127.0.0.2",
    }).start()
    try:
        wsl_server.configure("lmstudio", {"url": f"http://localhost:{windows.port}"}, windows.models[0])
        test = wsl_server.api("POST", "/api/settings/llm/test", json={"backend_type": "lmstudio"}).json()
        assert test["status"] == "connected", test
        assert test["resolved_url"] == f"http://127.0.0.2:{windows.port}"
        assert "127.0.0.2" in test["hint"]
        chat = wsl_server.api("POST", "/proxy/llm/v1/chat/completions",
                              json={"messages": [{"role": "user", "content": "hi"}]})
        assert chat.json()["choices"][0]["message"]["content"] == REPLY
        windows.stop()
        down = wsl_server.api("POST", "/api/settings/llm/test", json={"backend_type": "lmstudio"}).json()
        assert down["status"] == "error"
        assert "Windows host" in down["error"] and "Serve on Local Network" in down["hint"]
    finally:
        wsl_server.close()


def test_a_refreshed_model_list_is_what_every_worker_answers(server, fake_factory):
    """Each gunicorn worker caches model lists; a refresh in one must reach the others, so the
    proxy answers the pulled model at once whichever worker serves it."""
    fake = fake_factory("ollama")
    configure_fake(server, fake, default_model=fake.models[0])
    for _ in range(12):  # new connections: both workers cache the list
        assert [m["id"] for m in requests.get(server.url + "/proxy/llm/v1/models", timeout=10).json()["data"]] == fake.models
    fake.models.append("qwen3:8b")  # `ollama pull qwen3:8b`
    refreshed = server.api("GET", "/api/settings/llm/models?refresh=1").json()["models"]
    assert "qwen3:8b" in refreshed
    for _ in range(12):
        listed = requests.get(server.url + "/proxy/llm/v1/models", timeout=10).json()["data"]
        assert [m["id"] for m in listed] == refreshed
