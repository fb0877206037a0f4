"""The LLM services: request/response translation, stream handling, error mapping, WSL fallback."""
import json

import pytest
import requests

from taleweaver.llm import wsl
from llm_service import LMStudioService, OllamaService, OpenAIService
from taleweaver.llm.errors import BackendAuthError, BackendError, BackendRejected, BackendTimeout, BackendUnreachable, ModelNotFound, RateLimited

OLLAMA = "http://localhost:11434"
LMSTUDIO = "http://localhost:1234"
OPENAI = "https://api.openai.com/v1"
KEY = "sk-proj-Secret0123456789abcdefXYZ"
HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture(autouse=True)
def _no_remembered_wsl_host():
    wsl.forget_resolved()
    yield
    wsl.forget_resolved()


def ndjson(*parts):
    return "".join(json.dumps(p) + "\n" for p in parts)


def ollama_part(content, done=False, **extra):
    return {"model": "llama2", "created_at": "2026-11-28T07:40:00Z",
            "message": {"role": "assistant", "content": content}, "done": done, **extra}


def sse(*events):
    return "".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events)


def chunk(content=None, finish=None):
    delta = {} if content is None else {"content": content}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


# ---- Ollama: request translation ------------------------------------------------------------

def test_ollama_request_carries_messages_images_and_options(requests_mock):
    chat = requests_mock.post(f"{OLLAMA}/api/chat", json=ollama_part("ok", done=True, done_reason="stop"))
    payload = {
        "model": "llava",
        "messages": [
            {"role": "system", "content": "You tell stories."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "text", "text": "Make it a story."},
            ]},
        ],
        "temperature": 0.7, "top_p": 0.9, "max_tokens": 200, "stop": "THE END", "seed": 42,
        "response_format": {"type": "json_object"},
    }

    OllamaService(OLLAMA).chat_completion(payload)

    sent = chat.last_request.json()
    assert sent["model"] == "llava"
    assert sent["stream"] is False
    assert sent["messages"] == [
        {"role": "system", "content": "You tell stories."},
        {"role": "user", "content": "What is in this picture?\nMake it a story.", "images": ["iVBORw0KGgo="]},
    ]
    assert sent["options"] == {"temperature": 0.7, "top_p": 0.9, "num_predict": 200, "stop": ["THE END"], "seed": 42}
    assert sent["format"] == "json"


def test_ollama_request_without_options_sends_none_and_keeps_stop_lists(requests_mock):
    chat = requests_mock.post(f"{OLLAMA}/api/chat", json=ollama_part("ok", done=True))

    OllamaService(OLLAMA, default_model="llama2").chat_completion({"messages": HELLO})
    sent = chat.last_request.json()
    assert sent["model"] == "llama2"
    assert "options" not in sent and "format" not in sent

    OllamaService(OLLAMA).chat_completion({"model": "llama2", "messages": HELLO, "stop": ["\n\n", "END"]})
    assert chat.last_request.json()["options"] == {"stop": ["\n\n", "END"]}


def test_ollama_without_any_model_refuses_before_calling(requests_mock):
    chat = requests_mock.post(f"{OLLAMA}/api/chat", json=ollama_part("ok", done=True))

    with pytest.raises(BackendRejected) as caught:
        OllamaService(OLLAMA).chat_completion({"messages": HELLO})

    assert caught.value.code == "model_required"
    assert chat.call_count == 0


# ---- Ollama: answers ------------------------------------------------------------------------

def test_ollama_answer_becomes_an_openai_completion_with_usage(requests_mock):
    requests_mock.post(f"{OLLAMA}/api/chat", json=ollama_part(
        "Once upon a time", done=True, done_reason="length", prompt_eval_count=26, eval_count=4))

    answer = OllamaService(OLLAMA).chat_completion({"model": "llama2", "messages": HELLO})

    assert answer["object"] == "chat.completion"
    assert answer["id"].startswith("chatcmpl-")
    assert answer["model"] == "llama2"
    assert answer["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Once upon a time"},
                                  "finish_reason": "length"}]
    assert answer["usage"] == {"prompt_tokens": 26, "completion_tokens": 4, "total_tokens": 30}


def test_ollama_answer_with_an_error_field_raises(requests_mock):
    requests_mock.post(f"{OLLAMA}/api/chat", json={"error": "llama runner process has terminated"})

    with pytest.raises(BackendError, match="llama runner process has terminated"):
        OllamaService(OLLAMA).chat_completion({"model": "llama2", "messages": HELLO})


def test_ollama_stream_becomes_openai_chunks(requests_mock):
    requests_mock.post(f"{OLLAMA}/api/chat", text=ndjson(
        ollama_part("Once"), ollama_part(" upon"), ollama_part(" a time"),
        ollama_part("", done=True, done_reason="stop", prompt_eval_count=10, eval_count=3),
    ))

    chunks = list(OllamaService(OLLAMA).chat_completion({"model": "llama2", "messages": HELLO}, stream=True))

    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:4]] == ["Once", " upon", " a time"]
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert len(chunks) == 5


def test_ollama_stream_cut_by_length_finishes_with_length_and_usage_when_asked(requests_mock):
    requests_mock.post(f"{OLLAMA}/api/chat", text=ndjson(
        ollama_part("Once"),
        ollama_part("", done=True, done_reason="length", prompt_eval_count=10, eval_count=1),
    ))

    chunks = list(OllamaService(OLLAMA).chat_completion(
        {"model": "llama2", "messages": HELLO, "stream_options": {"include_usage": True}}, stream=True))

    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}


def test_ollama_stream_sends_stream_true(requests_mock):
    chat = requests_mock.post(f"{OLLAMA}/api/chat", text=ndjson(ollama_part("", done=True)))

    list(OllamaService(OLLAMA).chat_completion({"model": "llama2", "messages": HELLO}, stream=True))

    assert chat.last_request.json()["stream"] is True


def test_ollama_error_in_the_middle_of_a_stream_raises(requests_mock):
    requests_mock.post(f"{OLLAMA}/api/chat", text=ndjson(ollama_part("Once"), {"error": "out of memory"}))
    stream = OllamaService(OLLAMA).chat_completion({"model": "llama2", "messages": HELLO}, stream=True)

    received = []
    with pytest.raises(BackendError, match="out of memory"):
        for c in stream:
            received.append(c)
    assert received[-1]["choices"][0]["delta"] == {"content": "Once"}


def test_ollama_malformed_stream_line_raises_saying_so_and_logs_where_not_what(requests_mock, caplog):
    requests_mock.post(f"{OLLAMA}/api/chat", text=ndjson(ollama_part("Once")) + "{not json at all\n")

    with pytest.raises(BackendError) as caught:
        list(OllamaService(OLLAMA).chat_completion({"model": "llama2", "messages": HELLO}, stream=True))

    assert "not JSON" in caught.value.message and "is kept" in caught.value.message
    assert "{not json at all" not in caught.value.message
    assert "Ollama server" in caught.value.hint
    # The log says how long the line is and where it breaks, never what it holds (story text).
    assert "{not json at all" not in caplog.text and "not json" not in caplog.text
    assert "16 bytes" in caplog.text and "character 1" in caplog.text
    assert caught.value.step == "generate"


def test_ollama_stream_that_ends_without_done_raises(requests_mock):
    requests_mock.post(f"{OLLAMA}/api/chat", text=ndjson(ollama_part("Once"), ollama_part(" upon")))

    with pytest.raises(BackendError, match="without finishing"):
        list(OllamaService(OLLAMA).chat_completion({"model": "llama2", "messages": HELLO}, stream=True))


# ---- LM Studio / OpenAI: SSE relay ----------------------------------------------------------

@pytest.mark.parametrize("make, url", [
    (lambda: LMStudioService(LMSTUDIO), f"{LMSTUDIO}/v1/chat/completions"),
    (lambda: OpenAIService(KEY), f"{OPENAI}/chat/completions"),
])
def test_sse_relay_yields_each_data_event_raw_and_stops_at_done(requests_mock, make, url):
    first, second = json.dumps(chunk("Once")), json.dumps(chunk(" upon", "stop"))
    body = f": keep-alive\n\ndata: {first}\r\n\r\nevent: message\ndata:{second}\n\ndata: [DONE]\n\ndata: {json.dumps(chunk('late'))}\n\n"
    chat = requests_mock.post(url, text=body)

    relayed = list(make().chat_completion({"model": "m", "messages": HELLO}, stream=True))

    assert relayed == [first.encode(), second.encode()]
    assert chat.last_request.json()["stream"] is True


def test_sse_error_event_in_the_middle_raises(requests_mock):
    requests_mock.post(f"{LMSTUDIO}/v1/chat/completions",
                       text=sse(chunk("Once"), {"error": {"message": "Model unloaded"}}, "[DONE]"))
    stream = LMStudioService(LMSTUDIO).chat_completion({"model": "m", "messages": HELLO}, stream=True)

    assert next(stream) == json.dumps(chunk("Once")).encode()
    with pytest.raises(BackendError, match="Model unloaded"):
        next(stream)


def test_sse_malformed_data_line_raises(requests_mock):
    requests_mock.post(f"{OPENAI}/chat/completions", text=sse(chunk("Once"), '{"id": "broken', "[DONE]"))

    with pytest.raises(BackendError, match=r"cannot read \(not JSON\); the text that arrived before it is kept") as caught:
        list(OpenAIService(KEY).chat_completion({"model": "gpt-4o", "messages": HELLO}, stream=True))

    assert "broken" not in caught.value.message  # no raw fragment for the user (issue 12)


def test_openai_compatible_answer_is_passed_through(requests_mock):
    answer = {"id": "chatcmpl-9", "object": "chat.completion", "model": "gpt-4o",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}]}
    chat = requests_mock.post(f"{OPENAI}/chat/completions", json=answer)

    assert OpenAIService(KEY, default_model="gpt-4o").chat_completion({"messages": HELLO, "temperature": 0.2}) == answer
    assert chat.last_request.json() == {"messages": HELLO, "temperature": 0.2, "model": "gpt-4o", "stream": False}


# ---- error mapping ---------------------------------------------------------------------------

def lmstudio_models(requests_mock, **response):
    requests_mock.get(f"{LMSTUDIO}/v1/models", **response)
    return LMStudioService(LMSTUDIO)


@pytest.mark.parametrize("status", [401, 403])
def test_upstream_auth_refusal_is_backend_auth_error(requests_mock, status):
    service = lmstudio_models(requests_mock, status_code=status, json={"error": "bad token"})

    with pytest.raises(BackendAuthError) as caught:
        service.get_models()

    assert str(status) in caught.value.message
    assert caught.value.http_status == 502
    assert caught.value.code == "backend_auth_failed"


def test_upstream_404_about_a_model_is_model_not_found(requests_mock):
    requests_mock.post(f"{OLLAMA}/api/chat", status_code=404,
                       json={"error": 'model "llama9" not found, try pulling it first'})

    with pytest.raises(ModelNotFound) as caught:
        OllamaService(OLLAMA).chat_completion({"model": "llama9", "messages": HELLO})

    assert caught.value.http_status == 404
    assert "ollama pull" in caught.value.hint


def test_openai_404_for_a_missing_model_is_model_not_found(requests_mock):
    requests_mock.post(f"{OPENAI}/chat/completions", status_code=404, json={"error": {
        "message": "The model `gpt-9` does not exist or you do not have access to it.", "code": "model_not_found"}})

    with pytest.raises(ModelNotFound):
        OpenAIService(KEY).chat_completion({"model": "gpt-9", "messages": HELLO})


def test_upstream_404_about_something_else_is_rejected_with_404(requests_mock):
    service = lmstudio_models(requests_mock, status_code=404, text="Cannot GET /v1/models")

    with pytest.raises(BackendRejected) as caught:
        service.get_models()

    assert not isinstance(caught.value, ModelNotFound)
    assert caught.value.http_status == 404


def test_upstream_429_is_rate_limited_with_retry_after(requests_mock):
    service = lmstudio_models(requests_mock, status_code=429, headers={"Retry-After": "17"}, json={"error": "slow down"})

    with pytest.raises(RateLimited) as caught:
        service.get_models()

    assert caught.value.retry_after == "17"
    assert caught.value.http_status == 429
    assert caught.value.code == "rate_limited"


def test_openai_429_out_of_quota_says_so(requests_mock):
    requests_mock.post(f"{OPENAI}/chat/completions", status_code=429, json={"error": {
        "message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}})

    with pytest.raises(RateLimited) as caught:
        OpenAIService(KEY).chat_completion({"model": "gpt-4o", "messages": HELLO})

    assert caught.value.code == "insufficient_quota"
    assert "billing" in caught.value.hint


@pytest.mark.parametrize("status", [400, 413, 422])
def test_other_upstream_4xx_is_rejected_with_that_status_and_message(requests_mock, status):
    requests_mock.post(f"{OPENAI}/chat/completions", status_code=status,
                       json={"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}})

    with pytest.raises(BackendRejected) as caught:
        OpenAIService(KEY).chat_completion({"model": "gpt-4o", "messages": HELLO})

    assert caught.value.http_status == status
    assert "max_tokens is too large" in caught.value.message


def test_upstream_500_is_backend_error(requests_mock):
    service = lmstudio_models(requests_mock, status_code=500, text="Internal Server Error")

    with pytest.raises(BackendError) as caught:
        service.get_models()

    assert type(caught.value) is BackendError
    assert caught.value.http_status == 502
    assert "500" in caught.value.message


def test_upstream_redirect_is_an_error_and_not_followed(requests_mock):
    service = lmstudio_models(requests_mock, status_code=302, headers={"Location": "http://elsewhere:9/v1/models"})
    elsewhere = requests_mock.get("http://elsewhere:9/v1/models", json={"data": [{"id": "x"}]})

    with pytest.raises(BackendError) as caught:
        service.get_models()

    assert "http://elsewhere:9/v1/models" in caught.value.message
    assert elsewhere.call_count == 0


def test_non_json_model_list_is_backend_error(requests_mock):
    service = lmstudio_models(requests_mock, text="<html>router login</html>")

    with pytest.raises(BackendError, match="not JSON"):
        service.get_models()


def test_connect_timeout_is_backend_timeout(requests_mock):
    service = lmstudio_models(requests_mock, exc=requests.exceptions.ConnectTimeout)

    with pytest.raises(BackendTimeout) as caught:
        service.get_models()

    assert caught.value.step == "connect"
    assert caught.value.http_status == 504


def test_read_timeout_is_backend_timeout(requests_mock):
    requests_mock.post(f"{OLLAMA}/api/chat", exc=requests.exceptions.ReadTimeout)

    with pytest.raises(BackendTimeout) as caught:
        OllamaService(OLLAMA, first_token_timeout=42).chat_completion({"model": "llama2", "messages": HELLO})

    assert "42" in caught.value.message
    assert "first-token timeout" in caught.value.hint


def test_refused_connection_is_backend_unreachable_at_connect(requests_mock):
    service = lmstudio_models(requests_mock, exc=requests.exceptions.ConnectionError)

    with pytest.raises(BackendUnreachable) as caught:
        service.get_models()

    assert caught.value.step == "connect"
    assert "http://localhost:1234" in caught.value.message


def test_unknown_host_name_is_unreachable_at_resolve(requests_mock):
    requests_mock.get("http://no-such-host.lan:11434/api/tags", exc=requests.exceptions.ConnectionError(
        "Failed to resolve 'no-such-host.lan' ([Errno -2] Name or service not known)"))

    with pytest.raises(BackendUnreachable) as caught:
        OllamaService("http://no-such-host.lan:11434").get_models()

    assert caught.value.step == "resolve"
    assert "no-such-host.lan" in caught.value.message


# ---- OpenAI headers and secrets -------------------------------------------------------------

def test_openai_sends_the_key_and_organization(requests_mock):
    models = requests_mock.get(f"{OPENAI}/models", json={"data": [{"id": "gpt-4o"}]})

    OpenAIService(KEY, organization="org-abc123").get_models()

    assert models.last_request.headers["Authorization"] == f"Bearer {KEY}"
    assert models.last_request.headers["OpenAI-Organization"] == "org-abc123"


def test_openai_without_organization_sends_no_organization_header(requests_mock):
    models = requests_mock.get("https://openrouter.ai/api/v1/models", json={"data": [{"id": "meta-llama/llama-3.1-8b"}]})

    assert OpenAIService(KEY, base_url="https://openrouter.ai/api/v1").get_models() == ["meta-llama/llama-3.1-8b"]
    assert "OpenAI-Organization" not in models.last_request.headers


@pytest.mark.parametrize("key", [KEY, "gsk_AnotherProviderKey0123456789"])
@pytest.mark.parametrize("status", [400, 401, 403, 500])
def test_upstream_error_echoing_the_key_never_puts_it_in_the_error(requests_mock, key, status):
    requests_mock.post(f"{OPENAI}/chat/completions", status_code=status,
                       json={"error": {"message": f"Incorrect API key provided: {key}. Find yours at platform.openai.com"}})
    service = OpenAIService(key)

    with pytest.raises(BackendError if status == 500 else (BackendAuthError, BackendRejected)) as caught:
        service.chat_completion({"model": "gpt-4o", "messages": HELLO})

    assert key not in caught.value.message
    assert key not in str(caught.value)
    assert key[10:-3] not in caught.value.message


def test_connection_test_echoing_the_key_never_puts_it_in_the_result(requests_mock):
    requests_mock.get(f"{OPENAI}/models", status_code=403, text=f"key {KEY} is revoked")

    result = OpenAIService(KEY).test_connection()

    assert result["status"] == "error"
    assert KEY not in json.dumps(result)


# ---- WSL fallback ----------------------------------------------------------------------------

@pytest.fixture
def under_wsl(monkeypatch):
    monkeypatch.setattr(wsl, "is_wsl", lambda: True)
    monkeypatch.setattr(wsl, "windows_host_candidates", lambda: ["127.0.0.2"])


def test_wsl_fallback_finds_lmstudio_on_the_windows_host(requests_mock, under_wsl):
    requests_mock.get(f"{LMSTUDIO}/v1/models", exc=requests.exceptions.ConnectionError)
    requests_mock.get("http://127.0.0.2:1234/v1/models", json={"data": [{"id": "qwen"}]})
    service = LMStudioService(LMSTUDIO)

    assert service.get_models() == ["qwen"]
    assert service.resolved_url == "http://127.0.0.2:1234"


def test_wsl_fallback_address_is_reused_for_the_next_request(requests_mock, under_wsl):
    local = requests_mock.get(f"{LMSTUDIO}/v1/models", exc=requests.exceptions.ConnectionError)
    requests_mock.get("http://127.0.0.2:1234/v1/models", json={"data": [{"id": "qwen"}]})
    chat = requests_mock.post("http://127.0.0.2:1234/v1/chat/completions", json={"choices": []})
    LMStudioService(LMSTUDIO).get_models()

    service = LMStudioService(LMSTUDIO)
    service.chat_completion({"model": "qwen", "messages": HELLO})

    assert chat.call_count == 1
    assert local.call_count == 1
    assert service.resolved_url == "http://127.0.0.2:1234"


def test_wsl_fallback_in_connection_test_reports_resolved_url(requests_mock, under_wsl):
    requests_mock.get(f"{LMSTUDIO}/v1/models", exc=requests.exceptions.ConnectionError)
    requests_mock.get("http://127.0.0.2:1234/v1/models", json={"data": [{"id": "qwen"}]})
    requests_mock.get("http://127.0.0.2:1234/api/v0/models", json={"data": [{"id": "qwen", "state": "loaded"}]})
    service = LMStudioService(LMSTUDIO)

    result = service.test_connection()

    assert result["status"] == "connected"
    assert result["models"] == ["qwen"]
    assert service.resolved_url == "http://127.0.0.2:1234"


def test_wsl_fallback_that_finds_nothing_says_where_it_looked(requests_mock, under_wsl):
    requests_mock.get(f"{LMSTUDIO}/v1/models", exc=requests.exceptions.ConnectionError)
    requests_mock.get("http://127.0.0.2:1234/v1/models", exc=requests.exceptions.ConnectionError)

    result = LMStudioService(LMSTUDIO).test_connection()

    assert result["status"] == "error"
    assert result["error_code"] == "backend_unreachable"
    assert "127.0.0.2" in result["error"]
    assert "Serve on Local Network" in result["hint"]


def test_wsl_fallback_disabled_keeps_the_refusal(requests_mock, under_wsl):
    requests_mock.get(f"{LMSTUDIO}/v1/models", exc=requests.exceptions.ConnectionError)
    windows = requests_mock.get("http://127.0.0.2:1234/v1/models", json={"data": [{"id": "qwen"}]})
    service = LMStudioService(LMSTUDIO, wsl_fallback=False)

    with pytest.raises(BackendUnreachable):
        service.get_models()

    assert windows.call_count == 0
    assert service.resolved_url is None


def test_wsl_fallback_is_not_tried_outside_wsl(requests_mock, monkeypatch):
    monkeypatch.setattr(wsl, "is_wsl", lambda: False)
    monkeypatch.setattr(wsl, "windows_host_candidates", lambda: ["127.0.0.2"])
    requests_mock.get(f"{LMSTUDIO}/v1/models", exc=requests.exceptions.ConnectionError)
    windows = requests_mock.get("http://127.0.0.2:1234/v1/models", json={"data": [{"id": "qwen"}]})

    with pytest.raises(BackendUnreachable):
        LMStudioService(LMSTUDIO).get_models()

    assert windows.call_count == 0


def test_wsl_fallback_is_not_tried_for_openai(requests_mock, under_wsl):
    requests_mock.get("http://localhost:8080/v1/models", exc=requests.exceptions.ConnectionError)
    windows = requests_mock.get("http://127.0.0.2:8080/v1/models", json={"data": [{"id": "x"}]})

    with pytest.raises(BackendUnreachable):
        OpenAIService(KEY, base_url="http://localhost:8080/v1").get_models()

    assert windows.call_count == 0


def test_wsl_candidate_urls_keep_port_and_path(monkeypatch):
    monkeypatch.setattr(wsl, "windows_host_candidates", lambda: ["172.20.0.1", "host.docker.internal"])

    assert wsl.candidate_base_urls("http://localhost:1234/lmstudio") == [
        "http://172.20.0.1:1234/lmstudio", "http://host.docker.internal:1234/lmstudio",
    ]


def test_openai_compatible_stream_cut_off_before_finishing_is_an_error(requests_mock):
    body = (
        b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Once"},"finish_reason":null}]}\n\n'
    )
    requests_mock.post("http://localhost:1234/v1/chat/completions", content=body,
                       headers={"Content-Type": "text/event-stream"})
    service = LMStudioService("http://localhost:1234", default_model="m")
    chunks = service.chat_completion({"messages": [{"role": "user", "content": "hi"}]}, stream=True)
    received = []
    with pytest.raises(BackendError, match="without finishing"):
        for chunk in chunks:
            received.append(chunk)
    assert len(received) == 1


def test_openai_compatible_stream_with_a_finish_chunk_but_no_done_is_complete(requests_mock):
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Once"},"finish_reason":null}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    )
    requests_mock.post("http://localhost:1234/v1/chat/completions", content=body)
    service = LMStudioService("http://localhost:1234", default_model="m")
    chunks = list(service.chat_completion({"messages": [{"role": "user", "content": "hi"}]}, stream=True))
    assert len(chunks) == 2
