"""/proxy/llm/v1: the OpenAI-compatible proxy in front of each saved backend, upstreams mocked."""
import json

import pytest
import requests

from taleweaver.llm import wsl

KEY = "sk-proj-ProxyKey0123456789abcdefXYZ"
HELLO = [{"role": "user", "content": "Tell me a story"}]

BACKENDS = {
    "lmstudio": {
        "config": {"url": "http://localhost:1234"},
        "chat": "http://localhost:1234/v1/chat/completions",
        "models": "http://localhost:1234/v1/models",
    },
    "ollama": {
        "config": {"url": "http://localhost:11434"},
        "chat": "http://localhost:11434/api/chat",
        "models": "http://localhost:11434/api/tags",
    },
    "chatgpt": {
        "config": {"api_key": KEY},
        "chat": "https://api.openai.com/v1/chat/completions",
        "models": "https://api.openai.com/v1/models",
    },
}


@pytest.fixture(autouse=True)
def _no_remembered_wsl_host():
    wsl.forget_resolved()
    yield
    wsl.forget_resolved()


def save(client, backend_type, default_model="story-model", **config):
    response = client.post("/api/settings/llm", json={
        "backend_type": backend_type,
        "config": {**BACKENDS[backend_type]["config"], **config},
        "default_model": default_model,
    })
    assert response.status_code == 200, response.get_json()
    return response


def chat(client, prefix="/proxy/llm/v1", **payload):
    payload.setdefault("messages", HELLO)
    return client.post(f"{prefix}/chat/completions", json=payload)


def openai_error(response, status, code):
    assert response.status_code == status
    assert response.is_json
    error = response.get_json()["error"]
    assert {"message", "type", "code", "param"} <= set(error)
    assert error["code"] == code
    assert error["message"]
    return error


def sse_events(response):
    text = response.get_data(as_text=True)
    assert text.endswith("\n\n")
    events = text[:-2].split("\n\n")
    assert all(e.startswith("data: ") for e in events), events
    return [e[len("data: "):] for e in events]


def mock_answer(requests_mock, backend_type, content="Once upon a time", status_code=200):
    url = BACKENDS[backend_type]["chat"]
    if backend_type == "ollama":
        body = {"model": "story-model", "message": {"role": "assistant", "content": content}, "done": True,
                "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 4}
    else:
        body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "story-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}
    return requests_mock.post(url, json=body, status_code=status_code)


def mock_stream(requests_mock, backend_type, pieces=("Once", " upon", " a time")):
    url = BACKENDS[backend_type]["chat"]
    if backend_type == "ollama":
        lines = [{"model": "m", "message": {"role": "assistant", "content": p}, "done": False} for p in pieces]
        lines.append({"model": "m", "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"})
        return requests_mock.post(url, text="".join(json.dumps(line) + "\n" for line in lines))
    chunks = [{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
    chunks.append({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return requests_mock.post(url, text=body, headers={"Content-Type": "text/event-stream"})


def streamed_text(events):
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# ---- chat through each backend --------------------------------------------------------------

@pytest.mark.parametrize("backend_type", list(BACKENDS))
def test_chat_through_each_backend(client, requests_mock, backend_type):
    save(client, backend_type)
    upstream = mock_answer(requests_mock, backend_type)

    response = chat(client, model="story-model", temperature=0.8)

    assert response.status_code == 200
    body = response.get_json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Once upon a time"}
    assert body["usage"]["total_tokens"] == 9
    assert response.headers["X-Taleweaver-Backend"] == backend_type
    assert response.headers["X-Taleweaver-Model"] == "story-model"
    assert upstream.call_count == 1
    assert upstream.last_request.json()["model"] == "story-model"


@pytest.mark.parametrize("backend_type", list(BACKENDS))
def test_streamed_chat_through_each_backend(client, requests_mock, backend_type):
    save(client, backend_type)
    mock_stream(requests_mock, backend_type)

    response = chat(client, model="story-model", stream=True)

    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["X-Taleweaver-Backend"] == backend_type
    assert response.headers["X-Taleweaver-Model"] == "story-model"
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert events.count("[DONE]") == 1
    assert streamed_text(events) == "Once upon a time"
    finishes = [json.loads(e)["choices"][0]["finish_reason"] for e in events[:-1]]
    assert finishes[-1] == "stop"


@pytest.mark.parametrize("backend_type", list(BACKENDS))
def test_missing_model_uses_the_saved_default(client, requests_mock, backend_type):
    save(client, backend_type, default_model="house-favourite")
    upstream = mock_answer(requests_mock, backend_type)

    response = chat(client)

    assert response.status_code == 200
    assert upstream.last_request.json()["model"] == "house-favourite"
    assert response.headers["X-Taleweaver-Model"] == "house-favourite"


def test_no_model_and_no_default_is_400_without_calling_upstream(client, requests_mock):
    save(client, "ollama", default_model=None)
    upstream = mock_answer(requests_mock, "ollama")

    response = chat(client)

    error = openai_error(response, 400, "model_required")
    assert "default model" in error["message"]
    assert upstream.call_count == 0


def test_alias_path_chats_like_the_main_path(client, requests_mock):
    save(client, "lmstudio")
    mock_answer(requests_mock, "lmstudio")

    response = chat(client, prefix="/proxy/lmstudio/v1")

    assert response.status_code == 200
    assert response.get_json()["choices"][0]["message"]["content"] == "Once upon a time"


def test_large_image_request_fits_under_the_proxy_limit(client, requests_mock):
    save(client, "ollama")
    upstream = mock_answer(requests_mock, "ollama")
    image = "data:image/png;base64," + "A" * (3 * 1024 * 1024)

    response = chat(client, messages=[{"role": "user", "content": [
        {"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": {"url": image}}]}])

    assert response.status_code == 200
    assert len(upstream.last_request.json()["messages"][0]["images"][0]) == 3 * 1024 * 1024


# ---- requests refused before the backend ----------------------------------------------------

def test_no_backend_configured_is_400_in_openai_shape(client):
    response = chat(client, model="x")

    error = openai_error(response, 400, "backend_not_configured")
    assert error["type"] == "invalid_request_error"
    assert "Settings" in error["message"]


def test_models_without_backend_is_400_in_openai_shape(client):
    openai_error(client.get("/proxy/llm/v1/models"), 400, "backend_not_configured")


def test_bad_json_is_400_invalid_json(client):
    save(client, "ollama")

    response = client.post("/proxy/llm/v1/chat/completions", data="{'messages': []", content_type="application/json")

    openai_error(response, 400, "invalid_json")


def test_json_that_is_not_an_object_is_400_invalid_json(client):
    save(client, "ollama")

    openai_error(client.post("/proxy/llm/v1/chat/completions", json=HELLO), 400, "invalid_json")


@pytest.mark.parametrize("payload, param", [
    ({"model": "m"}, "messages"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": "Tell me a story"}, "messages"),
    ({"model": "m", "messages": ["Tell me a story"]}, "messages[0]"),
    ({"model": "m", "messages": [{"role": "user", "content": "a"}, {"content": "no role"}]}, "messages[1]"),
    ({"model": "m", "messages": HELLO, "stream": "true"}, "stream"),
    ({"model": "m", "messages": HELLO, "stream": 1}, "stream"),
    ({"model": 7, "messages": HELLO}, "model"),
    ({"messages": HELLO, "top_p": []}, "top_p"),
    ({"messages": HELLO, "temperature": "hot"}, "temperature"),
    ({"messages": HELLO, "temperature": True}, "temperature"),
    ({"messages": HELLO, "max_tokens": "[Filtered]"}, "max_tokens"),
    ({"messages": HELLO, "max_tokens": 1.5}, "max_tokens"),
    ({"messages": HELLO, "seed": False}, "seed"),
    ({"messages": HELLO, "stop": ["end", 3]}, "stop"),
    ({"messages": HELLO, "stop": {"at": "end"}}, "stop"),
    ({"messages": HELLO, "stream": True, "top_p": [], "taleweaver": {"story_id": 1}}, "top_p"),
])
def test_malformed_chat_request_is_400_naming_the_param(client, requests_mock, payload, param):
    save(client, "ollama")
    upstream = mock_answer(requests_mock, "ollama")

    response = client.post("/proxy/llm/v1/chat/completions", json=payload)

    assert openai_error(response, 400, response.get_json()["error"]["code"])["param"] == param
    assert upstream.call_count == 0


@pytest.mark.parametrize("params", [
    {"temperature": 0, "top_p": 1, "max_tokens": 64, "seed": 7, "stop": "THE END"},
    {"temperature": 0.7, "top_p": 0.95, "stop": ["\n\n", "THE END"]},
    {"temperature": None, "top_p": None, "max_tokens": None, "seed": None, "stop": None},
])
def test_sampling_parameters_of_the_right_type_or_null_go_to_the_backend(client, requests_mock, params):
    save(client, "ollama")
    upstream = mock_answer(requests_mock, "ollama")

    response = client.post("/proxy/llm/v1/chat/completions", json={"messages": HELLO, **params})

    assert response.status_code == 200, response.get_json()
    assert upstream.call_count == 1


def test_unknown_proxy_path_and_wrong_method_answer_in_openai_shape(client):
    openai_error(client.post("/proxy/llm/v1/embeddings", json={}), 404, "not_found")
    openai_error(client.get("/proxy/llm/v1/chat/completions"), 405, "method_not_allowed")


# ---- upstream failures mapped to HTTP ---------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_upstream_refused_is_502_backend_unreachable(client, requests_mock, stream):
    save(client, "ollama")
    requests_mock.post(BACKENDS["ollama"]["chat"], exc=requests.exceptions.ConnectionError)

    error = openai_error(chat(client, stream=stream), 502, "backend_unreachable")
    assert "ollama serve" in error["hint"]


@pytest.mark.parametrize("exc", [requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout])
def test_upstream_timeout_is_504(client, requests_mock, exc):
    save(client, "lmstudio")
    requests_mock.post(BACKENDS["lmstudio"]["chat"], exc=exc)

    error = openai_error(chat(client), 504, "backend_timeout")
    assert error["type"] == "timeout_error"


def test_upstream_401_is_502_backend_auth_failed(client, requests_mock):
    save(client, "chatgpt")
    requests_mock.post(BACKENDS["chatgpt"]["chat"], status_code=401, json={"error": {"message": "Incorrect API key provided"}})

    response = chat(client)

    error = openai_error(response, 502, "backend_auth_failed")
    assert "API key" in error["hint"]
    assert KEY not in response.get_data(as_text=True)


def test_upstream_unknown_model_is_404_model_not_found(client, requests_mock):
    save(client, "ollama")
    requests_mock.post(BACKENDS["ollama"]["chat"], status_code=404, json={"error": 'model "llama9" not found, try pulling it first'})

    error = openai_error(chat(client, model="llama9", stream=True), 404, "model_not_found")
    assert "llama9" in error["message"]


def test_upstream_429_is_429_with_retry_after(client, requests_mock):
    save(client, "chatgpt")
    requests_mock.post(BACKENDS["chatgpt"]["chat"], status_code=429, headers={"Retry-After": "20"},
                       json={"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}})

    response = chat(client)

    openai_error(response, 429, "rate_limited")
    assert response.headers["Retry-After"] == "20"


def test_upstream_400_keeps_its_status_and_message(client, requests_mock):
    save(client, "lmstudio")
    requests_mock.post(BACKENDS["lmstudio"]["chat"], status_code=400, json={"error": "Context length exceeded"})

    error = openai_error(chat(client), 400, "invalid_request")
    assert "Context length exceeded" in error["message"]


def test_upstream_500_is_502_backend_error(client, requests_mock):
    save(client, "lmstudio")
    requests_mock.post(BACKENDS["lmstudio"]["chat"], status_code=500, text="CUDA error: out of memory")

    error = openai_error(chat(client), 502, "backend_error")
    assert "CUDA error" in error["message"]


@pytest.mark.parametrize("backend_type, body", [
    ("ollama", json.dumps({"model": "m", "message": {"role": "assistant", "content": "Once"}, "done": False})
     + "\n" + json.dumps({"error": "llama runner process has terminated"}) + "\n"),
    ("lmstudio", 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Once"},"finish_reason":null}]}\n\n'
     'data: {"error": {"message": "llama runner process has terminated"}}\n\n'),
    ("chatgpt", 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Once"},"finish_reason":null}]}\n\n'
     "data: {llama runner process has terminated\n\n"),
])
def test_failure_in_the_middle_of_a_stream_ends_with_one_error_event_and_done(client, requests_mock, backend_type, body):
    save(client, backend_type)
    requests_mock.post(BACKENDS[backend_type]["chat"], text=body)

    response = chat(client, stream=True)

    assert response.status_code == 200
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert streamed_text(events[:-1]) == "Once"
    error = json.loads(events[-2])["error"]
    assert error["code"] == "backend_error"
    if backend_type == "chatgpt":  # a line that is not JSON is named as such, not shown raw
        assert "not JSON" in error["message"] and "{llama" not in error["message"]
    else:
        assert "llama runner process has terminated" in error["message"]
    assert sum('"error"' in e for e in events) == 1


# ---- model list -------------------------------------------------------------------------------

@pytest.mark.parametrize("backend_type, upstream_body, ids", [
    ("lmstudio", {"data": [{"id": "qwen2.5-7b"}, {"id": "llama-3.2-3b"}]}, ["qwen2.5-7b", "llama-3.2-3b"]),
    ("ollama", {"models": [{"name": "llama2:7b"}, {"name": "mistral:latest"}]}, ["llama2:7b", "mistral:latest"]),
    ("chatgpt", {"data": [{"id": "gpt-4o"}, {"id": "text-embedding-3-large"}]}, ["gpt-4o"]),
])
def test_models_in_openai_list_format(client, requests_mock, backend_type, upstream_body, ids):
    save(client, backend_type)
    requests_mock.get(BACKENDS[backend_type]["models"], json=upstream_body)

    body = client.get("/proxy/llm/v1/models").get_json()

    assert body == {"object": "list", "data": [
        {"id": model_id, "object": "model", "created": 0, "owned_by": backend_type} for model_id in ids]}


def test_lmstudio_alias_lists_models_like_the_main_path(client, requests_mock):
    save(client, "lmstudio")
    requests_mock.get(BACKENDS["lmstudio"]["models"], json={"data": [{"id": "qwen"}]})

    alias = client.get("/proxy/lmstudio/v1/models")
    main = client.get("/proxy/llm/v1/models")

    assert alias.status_code == 200
    assert alias.get_json() == main.get_json()
    assert [m["id"] for m in alias.get_json()["data"]] == ["qwen"]


def test_model_list_is_cached_and_refetched_after_a_settings_save(client, requests_mock):
    save(client, "ollama")
    tags = requests_mock.get(BACKENDS["ollama"]["models"], json={"models": [{"name": "llama2:7b"}]})

    first = client.get("/proxy/llm/v1/models").get_json()
    second = client.get("/proxy/llm/v1/models").get_json()
    assert tags.call_count == 1
    assert first == second

    tags = requests_mock.get(BACKENDS["ollama"]["models"], json={"models": [{"name": "mixtral:8x7b"}]})
    save(client, "ollama", default_model="mixtral:8x7b")
    third = client.get("/proxy/llm/v1/models").get_json()

    assert tags.call_count == 1
    assert [m["id"] for m in third["data"]] == ["mixtral:8x7b"]


def test_upstream_down_on_model_list_is_502(client, requests_mock):
    save(client, "lmstudio")
    requests_mock.get(BACKENDS["lmstudio"]["models"], exc=requests.exceptions.ConnectionError)

    error = openai_error(client.get("/proxy/llm/v1/models"), 502, "backend_unreachable")
    assert "LM Studio" in error["hint"]


def test_chat_follows_a_backend_switch_immediately(client, requests_mock):
    save(client, "ollama")
    ollama = mock_answer(requests_mock, "ollama", content="from ollama")
    lmstudio = mock_answer(requests_mock, "lmstudio", content="from lmstudio")
    assert chat(client).get_json()["choices"][0]["message"]["content"] == "from ollama"

    save(client, "lmstudio")
    response = chat(client)

    assert response.get_json()["choices"][0]["message"]["content"] == "from lmstudio"
    assert response.headers["X-Taleweaver-Backend"] == "lmstudio"
    assert (ollama.call_count, lmstudio.call_count) == (1, 1)
