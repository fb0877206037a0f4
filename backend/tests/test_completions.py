"""Text completion (`POST /proxy/llm/v1/completions`) through each backend's service, against fakes
that speak each server's real format (tests/fakes): what the backend is sent, and what the client
gets back, whole and streamed, and the refusals and failures on the way."""
from __future__ import annotations

import json

import pytest

from llm_service import LMStudioService, OllamaService, OpenAIService
from taleweaver.llm.backends.openai_compatible_service import OpenAICompatibleService
from taleweaver.llm.completions import ChatView
from taleweaver.llm.errors import BackendError, BackendRejected
from taleweaver.llm.stream import Stream

REPLY = "The lantern swung once, twice, and went out."
PROMPT = "Chapter One\n\nThe keeper climbed the stairs and "  # its trailing space must reach the model


def configure(client, fake, default_model=None):
    config = {"base_url": fake.url} if fake.kind in ("chatgpt", "openai_compatible") else {"url": fake.url}
    if fake.kind == "chatgpt":
        config["api_key"] = fake.api_key
    response = client.post("/api/settings/llm", json={
        "backend_type": fake.kind, "config": config, "default_model": default_model or fake.models[0]})
    assert response.status_code == 200, response.get_json()


def complete(client, **body):
    return client.post("/proxy/llm/v1/completions", json={"prompt": PROMPT, **body})


def sse(response) -> list:
    return [data if data == "[DONE]" else json.loads(data)
            for block in response.get_data(as_text=True).split("\n\n") if block.startswith("data: ")
            for data in [block[6:]]]


def text_of(events) -> str:
    return "".join(choice.get("text") or "" for event in events if isinstance(event, dict)
                   for choice in event.get("choices") or [])


def posted(fake, path):
    return [r["json"] for r in fake.requests if r["method"] == "POST" and r["path"] == path]


# ---- Ollama: /api/generate, raw --------------------------------------------------------------

def test_ollama_completion_is_a_raw_generate_of_the_prompt_as_typed(client, fake_llm):
    fake = fake_llm("ollama", reply=REPLY)
    configure(client, fake)

    answer = complete(client, max_tokens=3)

    sent = posted(fake, "/api/generate")[-1]
    assert sent["prompt"] == PROMPT and "messages" not in sent
    assert sent["raw"] is True and sent["think"] is False and sent["options"] == {"num_predict": 3}
    body = answer.get_json()
    assert answer.status_code == 200 and body["object"] == "text_completion"
    assert body["choices"][0]["text"] == "The lantern swung" and body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3 and body["usage"]["tokens_per_second"] > 0


def test_ollama_streamed_completion_is_text_completion_chunks_with_usage_then_done(client, fake_llm):
    fake = fake_llm("ollama", reply=REPLY)
    configure(client, fake)

    events = sse(complete(client, stream=True, stream_options={"include_usage": True}))

    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert {chunk["object"] for chunk in chunks} == {"text_completion"}
    assert text_of(chunks) == REPLY
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == len(REPLY.split())
    assert posted(fake, "/api/generate")[-1]["stream"] is True


def test_ollama_logprobs_come_back_in_openais_completion_shape(fake_llm):
    fake = fake_llm("ollama", reply="once upon", version="0.12.11")
    service = OllamaService(fake.url, default_model=fake.models[0])

    answer = service.completion({"prompt": PROMPT, "logprobs": 2})
    streamed = list(service.completion({"prompt": PROMPT, "logprobs": 2}, stream=True))

    sent = posted(fake, "/api/generate")[0]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 2
    logprobs = answer["choices"][0]["logprobs"]
    assert logprobs["tokens"] == ["once", " upon"] and logprobs["text_offset"] == [0, 4]
    assert len(logprobs["top_logprobs"][1]) == 2 and logprobs["token_logprobs"][0] < 0
    offsets = [c["choices"][0]["logprobs"]["text_offset"] for c in streamed if c["choices"] and c["choices"][0]["logprobs"]]
    assert offsets == [[0], [4]]  # carried from one streamed line to the next


def test_ollama_refuses_echo_and_suffix_before_sending_anything(client, fake_llm):
    fake = fake_llm("ollama")
    configure(client, fake)

    echoed = complete(client, echo=True)
    suffixed = complete(client, suffix="and then the end.")
    plain_echo_false = complete(client, echo=False, max_tokens=1)

    for refused, field in ((echoed, "echo"), (suffixed, "suffix")):
        error = refused.get_json()["error"]
        assert refused.status_code == 400 and error["code"] == "unsupported_parameter"
        assert f"'{field}'" in error["message"] and "Ollama" in error["message"]
    assert plain_echo_false.status_code == 200
    assert len(posted(fake, "/api/generate")) == 1


def test_an_ollama_error_in_the_middle_of_a_completion_ends_it_with_one_error_event(client, requests_mock):
    requests_mock.post("http://localhost:11434/api/generate", text=(
        '{"model":"m","created_at":"2026-01-01T00:00:00Z","response":" The","done":false}\n'
        '{"error":"an error was encountered while running the model"}\n'))
    client.post("/api/settings/llm", json={"backend_type": "ollama", "config": {}, "default_model": "m"})

    events = sse(complete(client, stream=True))

    assert text_of(events[:1]) == " The"
    assert events[1]["error"]["message"] == "Ollama reported an error in the middle of the answer: " \
                                            "an error was encountered while running the model"
    assert events[2:] == ["[DONE]"]


# ---- OpenAI's wire format: forwarded as sent -------------------------------------------------

@pytest.mark.parametrize("kind, server", [("lmstudio", None), ("openai_compatible", "llama.cpp"),
                                          ("openai_compatible", "vllm"), ("openai_compatible", "koboldcpp")])
def test_an_openai_compatible_completion_is_forwarded_byte_for_byte(kind, server, fake_llm):
    fake = fake_llm(kind, reply=REPLY, **({"server": server} if server else {}))
    service = (LMStudioService(fake.url) if kind == "lmstudio" else OpenAICompatibleService(fake.url))

    answer = service.completion({"prompt": PROMPT, "model": fake.models[0], "max_tokens": 50})

    sent = [r for r in fake.requests if r["method"] == "POST" and r["path"].endswith("/completions")][-1]
    assert sent["path"] == "/v1/completions" and sent["json"]["prompt"] == PROMPT and "messages" not in sent["json"]
    assert json.loads(answer.body) == answer  # the raw bytes, readable as the answer
    assert answer["choices"][0]["text"] == REPLY


def test_llama_cpp_completions_go_to_v1_even_when_the_base_url_has_no_v1(fake_llm):
    """llama-server's /completions without /v1 is its native endpoint, not OpenAI's."""
    fake = fake_llm("openai_compatible", reply=REPLY)

    answer = OpenAICompatibleService(fake.base_url, default_model=fake.models[0]).completion({"prompt": PROMPT})

    assert answer["object"] == "text_completion" and answer["choices"][0]["text"] == REPLY
    assert [r["path"] for r in fake.requests if r["method"] == "POST"] == ["/v1/completions"]


def test_a_chatgpt_chat_model_on_completions_says_to_use_chat_mode(client, fake_llm):
    fake = fake_llm("chatgpt", api_key="sk-completions-test-0123456789", models=["gpt-4o-mini", "gpt-3.5-turbo-instruct"])
    configure(client, fake)

    refused = complete(client)
    instruct = complete(client, model="gpt-3.5-turbo-instruct", max_tokens=4)

    error = refused.get_json()["error"]
    assert refused.status_code == 404 and error["code"] == "chat_model_on_completions"
    assert "chat model" in error["message"] and "chat mode" in error["hint"]
    assert instruct.status_code == 200 and instruct.get_json()["choices"][0]["text"] == "Once upon a time,"


@pytest.mark.parametrize("server, field", [("llama.cpp", "echo"), ("llama.cpp", "suffix"), ("vllm", "suffix"),
                                           ("koboldcpp", "echo")])
def test_a_field_the_server_cannot_honour_is_refused_naming_the_server(server, field, fake_llm):
    fake = fake_llm("openai_compatible", server=server)
    service = OpenAICompatibleService(fake.url)

    with pytest.raises(BackendRejected) as refused:
        service.completion({"prompt": PROMPT, field: True if field == "echo" else "the end"})

    assert refused.value.code == "unsupported_parameter" and f"'{field}'" in refused.value.message
    assert service.server_kind().samplers.server in refused.value.message
    assert not [r for r in fake.requests if r["method"] == "POST"]


def test_vllm_returns_the_prompt_with_echo(fake_llm):
    fake = fake_llm("openai_compatible", server="vllm", reply=REPLY)

    answer = OpenAICompatibleService(fake.url, default_model=fake.models[0]).completion(
        {"prompt": PROMPT, "echo": True, "max_tokens": 100})

    assert answer["choices"][0]["text"] == PROMPT + REPLY


def test_lm_studio_refuses_logprobs_it_would_ignore(fake_llm):
    fake = fake_llm("lmstudio")
    with pytest.raises(BackendRejected, match="not available from LM Studio") as refused:
        LMStudioService(fake.url).completion({"prompt": PROMPT, "logprobs": 1})
    assert refused.value.code == "logprobs_unavailable" and not posted(fake, "/v1/completions")


def test_a_stream_cut_in_the_middle_ends_with_one_error_event_and_done(client, fake_llm):
    fake = fake_llm("openai_compatible", reply=REPLY)
    configure(client, fake)
    fake.set_fault("die_after_chunks", chunks=3)

    events = sse(complete(client, stream=True))

    assert text_of(events) == "The lantern swung"
    assert events[-2]["error"]["code"] == "backend_error" and events[-1] == "[DONE]"
    assert sum(1 for event in events if isinstance(event, dict) and "error" in event) == 1


# ---- what a story's generation runs through ---------------------------------------------------

def test_the_chat_view_of_a_completion_reads_as_chat_chunks(fake_llm):
    fake = fake_llm("ollama", reply=REPLY)
    view = ChatView(OllamaService(fake.url, default_model=fake.models[0]))

    stream = view.chat_completion({"prompt": PROMPT, "stream_options": {"include_usage": True}}, stream=True)
    chunks = list(stream)
    whole = view.chat_completion({"prompt": PROMPT})

    assert isinstance(stream, Stream)
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == REPLY
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"]["completion_tokens"] > 0
    assert whole["choices"][0]["message"] == {"role": "assistant", "content": REPLY}
    assert all("prompt" in body and "messages" not in body for body in posted(fake, "/api/generate"))


def test_the_chat_view_reads_raw_chunks_of_an_openai_compatible_server(fake_llm):
    fake = fake_llm("openai_compatible", server="vllm", reply=REPLY)
    view = ChatView(OpenAICompatibleService(fake.url, default_model=fake.models[0]))

    chunks = list(view.chat_completion({"prompt": PROMPT, "max_tokens": 100}, stream=True))

    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == REPLY


# ---- bad requests --------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"prompt": ["a", "b"]}, "prompt"),
    ({}, "prompt"),
    ({"prompt": "x", "stream": "yes"}, "stream"),
    ({"prompt": "x", "echo": None}, "echo"),
    ({"prompt": "x", "logprobs": -1}, "logprobs"),
    ({"prompt": "x", "suffix": 3}, "suffix"),
    ({"prompt": "x", "top_k": "40"}, "top_k"),
    ({"prompt": "x", "min_p": "low"}, "min_p"),
    ({"prompt": "x", "context_length": 0}, "context_length"),
    ({"prompt": "x", "stop": [1]}, "stop"),
    ({"prompt": "x", "taleweaver": {"story_id": 1}}, "taleweaver"),
])
def test_a_bad_completion_request_is_a_400_naming_the_field(client, fake_llm, body, field):
    fake = fake_llm("ollama")
    configure(client, fake)

    refused = client.post("/proxy/llm/v1/completions", json=body)

    assert refused.status_code == 400
    assert refused.get_json()["error"]["param"] == field
    assert not posted(fake, "/api/generate")


def test_a_story_named_in_the_header_is_refused_on_completions(client, fake_llm):
    configure(client, fake_llm("ollama"))
    refused = client.post("/proxy/llm/v1/completions", json={"prompt": "x"}, headers={"X-Taleweaver-Story": "1"})
    error = refused.get_json()["error"]
    assert refused.status_code == 400 and "/chat/completions" in error["message"]
    assert error["param"] == "X-Taleweaver-Story"


def test_without_a_backend_a_completion_says_to_configure_one(client):
    refused = client.post("/proxy/llm/v1/completions", json={"prompt": "x"})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "backend_not_configured"


def test_the_ollama_answer_that_is_not_json_is_a_backend_error(requests_mock):
    requests_mock.post("http://localhost:11434/api/generate", text="<html>proxy error</html>")
    with pytest.raises(BackendError, match="not JSON"):
        OllamaService("http://localhost:11434", default_model="m").completion({"prompt": "x"})
