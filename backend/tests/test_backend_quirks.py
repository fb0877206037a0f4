"""Each real server's quirks, against a fake that answers the same way, through the production
transport (keep-alive sockets over real loopback HTTP) and the proxy.

Sources: LM Studio's 400 'Invalid model identifier' and 'No models loaded' bodies, its context
overflow text, llama.cpp's exceed_context_size_error / 503 'Loading model' / timings, Ollama's
message.thinking and eval counters, OpenAI's context_length_exceeded (see tests/fakes/server.py)."""
from __future__ import annotations

import json
import os

import pytest

from llm_service import LMStudioService
from taleweaver.llm import http_client
from taleweaver.llm.backends.openai_compatible_service import OpenAICompatibleService
from taleweaver.llm.errors import ContextLengthExceeded, ModelNotFound
from tests.transports import RequestsTransport

LONG_PROMPT = "word " * 5000  # 5,004 tokens as the fakes count them (words + 4 per message)
THOUGHT = "The fox must be clever, so the twist comes at the bridge."
REPLY = "Once there was a fox who outwitted the river."


def configure(client, fake, default_model=None):
    if fake.kind in ("chatgpt", "openai_compatible"):
        config = {"base_url": fake.url}
        if fake.kind == "chatgpt" or fake.api_key:
            config["api_key"] = fake.api_key or "sk-quirk-test-key-0000"
    else:
        config = {"url": fake.url}
    response = client.post("/api/settings/llm", json={
        "backend_type": fake.kind, "config": config, "default_model": default_model or fake.models[0]})
    assert response.status_code == 200, response.get_json()


def sse(response) -> list:
    events = []
    for block in response.get_data(as_text=True).split("\n\n"):
        if block.startswith("data: "):
            data = block[6:]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def chat(client, content="Tell me a story", **extra):
    return client.post("/proxy/llm/v1/chat/completions",
                       json={"messages": [{"role": "user", "content": content}], **extra})


def streamed_text(events, key="content") -> str:
    return "".join(
        (choice.get("delta") or {}).get(key) or ""
        for event in events if isinstance(event, dict)
        for choice in event.get("choices") or []
    )


# ---- which transport runs ---------------------------------------------------------------

def test_the_apps_transport_reaches_a_loopback_backend_directly_even_with_a_proxy_set():
    import subprocess
    import sys

    code = ("from taleweaver.llm import http_client; chosen = http_client.default(); "
            "print(type(chosen).__name__, type(chosen.route('http://127.0.0.1:1234/v1/models')).__name__)")
    env = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    found = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert found == "EnvironmentTransport SocketTransport"


def test_requests_mock_tests_get_the_requests_transport(requests_mock):
    assert isinstance(http_client.default(), RequestsTransport)


def test_fake_llm_tests_get_the_production_transport(fake_llm):
    assert isinstance(http_client.default(), http_client.EnvironmentTransport)


# ---- openai_compatible: llama.cpp's llama-server ----------------------------------------

def test_llama_server_connection_test_reports_its_context_and_build(client, fake_llm):
    fake = fake_llm("openai_compatible", context_length=8192)
    result = client.post("/api/settings/llm/test", json={
        "backend_type": "openai_compatible", "config": {"base_url": fake.url}}).get_json()
    assert result["status"] == "connected", result
    assert result["models"] == fake.models
    assert result["server_info"] == {"server": "llama.cpp", "version": "b6500-fake",
                                     "model": fake.models[0], "context_length": 8192}
    assert "auth" not in [s["name"] for s in result["steps"]]


def test_llama_server_model_list_is_not_filtered_and_has_the_context(client, fake_llm):
    fake = fake_llm("openai_compatible", models=["text-embedding-nomic", "whisper-large"])
    configure(client, fake)
    body = client.get("/api/settings/llm/models?refresh=1").get_json()
    assert body["models"] == ["text-embedding-nomic", "whisper-large"]


def test_openai_compatible_unreachable_hint_names_the_servers_ports(client):
    result = client.post("/api/settings/llm/test", json={
        "backend_type": "openai_compatible", "config": {"base_url": "http://127.0.0.1:9/v1"}}).get_json()
    assert result["status"] == "error" and result["error_code"] == "backend_unreachable"
    for named in ("llama.cpp", "8080", "vLLM", "8000", "KoboldCpp", "5001", "LM Studio", "1234"):
        assert named in result["hint"], named


def test_openai_compatible_with_a_key_sends_it_and_a_wrong_one_fails_at_auth(client, fake_llm):
    fake = fake_llm("openai_compatible", api_key="sk-llama-server-key-42")
    good = client.post("/api/settings/llm/test", json={"backend_type": "openai_compatible", "config": {
        "base_url": fake.url, "api_key": "sk-llama-server-key-42"}}).get_json()
    assert good["status"] == "connected", good
    assert fake.requests[-1]["headers"]["Authorization"] == "Bearer sk-llama-server-key-42"
    bad = client.post("/api/settings/llm/test", json={"backend_type": "openai_compatible", "config": {
        "base_url": fake.url, "api_key": "sk-wrong-key-0000000"}}).get_json()
    assert bad["status"] == "error" and bad["error_code"] == "backend_auth_failed"
    assert [s["name"] for s in bad["steps"] if s["status"] == "failed"] == ["auth"]
    assert "sk-wrong-key-0000000" not in json.dumps(bad)


def test_llama_server_still_loading_is_503_no_model_loaded(client, fake_llm):
    fake = fake_llm("openai_compatible")
    configure(client, fake)
    fake.set_fault("no_model_loaded")
    response = chat(client)
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "no_model_loaded"
    assert "Loading model" in error["message"] and error["hint"]


def test_official_openai_client_through_the_proxy_to_llama_server(app, fake_llm):
    """The openai SDK needs a real socket: the app runs under werkzeug's test server."""
    pytest.importorskip("openai")
    import threading
    from werkzeug.serving import make_server

    import openai

    fake = fake_llm("openai_compatible", reply=REPLY, reasoning=THOUGHT)
    with app.test_client() as client:
        configure(client, fake)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sdk = openai.OpenAI(base_url=f"http://127.0.0.1:{server.server_port}/proxy/llm/v1", api_key="x", max_retries=0)
        assert [m.id for m in sdk.models.list()] == fake.models
        stream = sdk.chat.completions.create(model=fake.models[0], stream=True,
                                             messages=[{"role": "user", "content": "hi"}],
                                             stream_options={"include_usage": True})
        chunks = list(stream)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
        assert chunks[-1].usage.completion_tokens > 0
    finally:
        server.shutdown()
        thread.join(5)


# ---- unknown model and "no model loaded" ------------------------------------------------------

def test_lm_studio_400_invalid_model_identifier_is_404_model_not_found_with_its_list(client, fake_llm):
    fake = fake_llm("lmstudio")
    configure(client, fake)
    response = chat(client, model="o4-mini")
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "model_not_found"
    assert 'Invalid model identifier "o4-mini"' in error["message"]
    for model in fake.models:
        assert model in error["message"]
    assert "LM Studio" in error["hint"]


def test_lm_studio_unknown_model_raises_model_not_found_in_the_service(fake_llm):
    fake = fake_llm("lmstudio")
    service = LMStudioService(fake.url, wsl_fallback=False)
    with pytest.raises(ModelNotFound) as caught:
        service.chat_completion({"model": "ghost", "messages": [{"role": "user", "content": "x"}]})
    assert caught.value.http_status == 404 and fake.models[0] in caught.value.message


def test_lm_studio_no_models_loaded_is_503_with_lms_load_hint(client, fake_llm):
    fake = fake_llm("lmstudio")
    configure(client, fake)
    fake.set_fault("no_model_loaded")
    response = chat(client)
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "no_model_loaded" and "lms load" in error["hint"]


def test_ollama_model_too_big_for_memory_says_to_pick_a_smaller_model(client, requests_mock):
    client.post("/api/settings/llm", json={"backend_type": "ollama", "config": {}, "default_model": "llama3:70b"})
    requests_mock.post("http://localhost:11434/api/chat", status_code=500, json={
        "error": "model requires more system memory (40.2 GiB) than is available (15.1 GiB)"})
    response = chat(client)
    assert response.status_code == 502
    error = response.get_json()["error"]
    assert "could not load the model" in error["message"] and "smaller model" in error["hint"]


# ---- reasoning ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["lmstudio", "openai_compatible"])
def test_reasoning_content_deltas_pass_through_and_stay_out_of_the_content(client, fake_llm, kind):
    fake = fake_llm(kind, reply=REPLY, reasoning=THOUGHT)
    configure(client, fake)
    events = sse(chat(client, stream=True))
    assert events[-1] == "[DONE]"
    assert streamed_text(events) == REPLY
    assert streamed_text(events, "reasoning_content").strip() == THOUGHT


@pytest.mark.parametrize("kind", ["lmstudio", "openai_compatible"])
def test_inline_think_tags_are_moved_to_reasoning_content(client, fake_llm, kind):
    fake = fake_llm(kind, reply=REPLY, reasoning=THOUGHT, reasoning_inline=True)
    configure(client, fake)
    events = sse(chat(client, stream=True))
    assert streamed_text(events) == REPLY
    assert "<think>" not in json.dumps(events) and "</think>" not in json.dumps(events)
    assert streamed_text(events, "reasoning_content").strip() == THOUGHT
    whole = chat(client).get_json()["choices"][0]["message"]
    assert whole["content"] == REPLY and whole["reasoning_content"] == THOUGHT


def test_ollama_thinking_with_think_becomes_reasoning_content(client, fake_llm):
    fake = fake_llm("ollama", reply=REPLY, reasoning=THOUGHT)
    configure(client, fake)
    events = sse(chat(client, stream=True, think=True))
    assert fake.requests[-1]["json"]["think"] is True
    assert streamed_text(events) == REPLY
    assert streamed_text(events, "reasoning_content").strip() == THOUGHT
    whole = chat(client, think=True).get_json()["choices"][0]["message"]
    assert whole == {"role": "assistant", "content": REPLY, "reasoning_content": THOUGHT}


def test_ollama_inline_thinking_without_think_is_moved_out_of_the_content(client, fake_llm):
    fake = fake_llm("ollama", reply=REPLY, reasoning=THOUGHT)
    configure(client, fake)
    events = sse(chat(client, stream=True))
    assert "think" not in fake.requests[-1]["json"]
    assert streamed_text(events) == REPLY
    assert streamed_text(events, "reasoning_content").strip() == THOUGHT
    whole = chat(client).get_json()["choices"][0]["message"]
    assert whole["content"] == REPLY and whole["reasoning_content"] == THOUGHT


def test_think_split_over_chunks_is_still_kept_out_of_the_content():
    from taleweaver.llm.reasoning import ThinkSplitter

    splitter = ThinkSplitter()
    pieces = [splitter.split(p) for p in ["<think>plan", " the", " twist</th", "ink>Once", " upon"]]
    assert "".join(c for c, _ in pieces) == "Once upon"
    assert "".join(r for _, r in pieces) == "plan the twist"


# ---- context overflow ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind, context", [("openai_compatible", 4096), ("lmstudio", 4096), ("chatgpt", 4096)])
def test_context_overflow_is_400_context_length_exceeded_saying_how_long(client, fake_llm, kind, context):
    fake = fake_llm(kind, context_length=context)
    configure(client, fake)
    for stream in (False, True):
        response = chat(client, content=LONG_PROMPT, stream=stream)
        assert response.status_code == 400, response.get_data(as_text=True)
        error = response.get_json()["error"]
        assert error["code"] == "context_length_exceeded"
        assert "4,096 tokens" in error["message"], error["message"]
        assert "5,004" in error["message"]
        assert "Shorten the prompt" in error["message"] and error["hint"]


def test_llama_server_overflow_hint_names_its_ctx_size_option(fake_llm):
    fake = fake_llm("openai_compatible", context_length=1024)
    service = OpenAICompatibleService(fake.url, wsl_fallback=False)
    with pytest.raises(ContextLengthExceeded) as caught:
        service.chat_completion({"model": "x", "messages": [{"role": "user", "content": LONG_PROMPT}]})
    assert "--ctx-size" in caught.value.hint


def test_ollama_context_overflow_wording_is_context_length_exceeded(client, requests_mock):
    client.post("/api/settings/llm", json={"backend_type": "ollama", "config": {}, "default_model": "llama3.2"})
    requests_mock.post("http://localhost:11434/api/chat", status_code=400,
                       json={"error": "the input length exceeds the context length"})
    response = chat(client)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "longer than the model's context" in error["message"] and "num_ctx" in error["hint"]


def test_lm_studio_n_keep_wording_is_context_length_exceeded(client, requests_mock):
    client.post("/api/settings/llm", json={"backend_type": "lmstudio", "config": {}, "default_model": "qwen"})
    requests_mock.post("http://localhost:1234/v1/chat/completions", status_code=400, json={"error": (
        "The number of tokens to keep from the initial prompt is greater than the context length "
        "(n_keep: 10247 >= n_ctx: 4096). Try to load the model with a larger context length, or "
        "provide a shorter prompt.")})
    error = chat(client).get_json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "10,247 tokens" in error["message"] and "4,096 tokens" in error["message"]


# ---- usage and speed on streams -----------------------------------------------------------------

def test_ollama_stream_usage_chunk_has_counts_and_tokens_per_second(client, fake_llm):
    fake = fake_llm("ollama", reply=REPLY)
    configure(client, fake)
    events = sse(chat(client, stream=True, stream_options={"include_usage": True}))
    usage_chunks = [e for e in events if isinstance(e, dict) and e.get("usage")]
    assert len(usage_chunks) == 1 and usage_chunks[0]["choices"] == []
    usage = usage_chunks[0]["usage"]
    assert usage["completion_tokens"] == len(REPLY.split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["tokens_per_second"] > 0


def test_llama_server_stream_usage_has_tokens_per_second_and_its_timings(client, fake_llm):
    fake = fake_llm("openai_compatible", reply=REPLY)
    configure(client, fake)
    events = sse(chat(client, stream=True, stream_options={"include_usage": True}))
    assert fake.requests[-1]["json"]["stream_options"] == {"include_usage": True}
    usage_chunk = [e for e in events if isinstance(e, dict) and e.get("usage")][-1]
    assert usage_chunk["usage"]["completion_tokens"] == len(REPLY.split())
    assert usage_chunk["usage"]["tokens_per_second"] == round(usage_chunk["timings"]["predicted_per_second"], 2)
    assert streamed_text(events) == REPLY


def test_no_usage_chunk_unless_the_client_asks(client, fake_llm):
    fake = fake_llm("ollama", reply=REPLY)
    configure(client, fake)
    events = sse(chat(client, stream=True))
    assert all(e["choices"] for e in events if isinstance(e, dict))


# ---- one model list for every endpoint ----------------------------------------------------------

def test_refreshed_model_list_is_what_the_proxy_answers_too(client, fake_llm):
    fake = fake_llm("ollama")
    configure(client, fake)
    before = [m["id"] for m in client.get("/proxy/llm/v1/models").get_json()["data"]]
    assert before == fake.models
    fake.models.append("qwen3:8b")  # `ollama pull qwen3:8b`
    assert [m["id"] for m in client.get("/proxy/llm/v1/models").get_json()["data"]] == before  # cached
    refreshed = client.get("/api/settings/llm/models?refresh=1").get_json()["models"]
    assert "qwen3:8b" in refreshed
    assert [m["id"] for m in client.get("/proxy/llm/v1/models").get_json()["data"]] == refreshed


def test_openai_compatible_pointed_at_lm_studios_port_suggests_the_lm_studio_type(client, requests_mock):
    requests_mock.get("http://localhost:1234/v1/models", json={"object": "list", "data": [{"id": "qwen"}]})
    requests_mock.get("http://localhost:1234/props", status_code=404, json={"error": "Unexpected endpoint"})
    result = client.post("/api/settings/llm/test", json={
        "backend_type": "openai_compatible", "config": {"base_url": "http://localhost:1234/v1"}}).get_json()
    assert result["status"] == "connected"
    assert "choose the LM Studio backend" in result["hint"]


def test_answer_text_ending_like_a_tag_start_is_never_held_back():
    from taleweaver.llm.reasoning import ThinkSplitter

    splitter = ThinkSplitter()
    assert splitter.split("<think>hm</think>The end <") == ("The end <", "hm")
    assert splitter.split("3") == ("3", "")


def test_think_goes_to_servers_that_take_it_but_not_to_openai(client, fake_llm):
    chatgpt = fake_llm("chatgpt", api_key="sk-think-test-key-000")
    configure(client, chatgpt)
    assert chat(client, think=True).status_code == 200
    assert "think" not in chatgpt.requests[-1]["json"]
    llama = fake_llm("openai_compatible")
    configure(client, llama)
    assert chat(client, think=True).status_code == 200
    assert llama.requests[-1]["json"]["think"] is True
