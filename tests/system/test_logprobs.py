"""Log-probabilities through the real server (gunicorn), per backend, against fakes that send each
backend's own logprob format (tests/fakes/logprobs.py): the official openai client reads them in
OpenAI's chat shape (`chat.completions.create(logprobs=True, top_logprobs=5)`) and legacy
completion shape (`completions.create(logprobs=5)`), streamed and not, and a backend that cannot
give them gets the clear message before anything is generated."""
from __future__ import annotations

import openai
import pytest

from tests.support import configure_fake, sse_events

REPLY = "The keeper lit the lamp and the ships turned home."
KEY = "sk-logprobs-e2e-0123456789abcdef"
PROMPT = "The storm came at dusk, and the keeper "
# backend -> (fake kind, fake options, chat model, completion model); None: the fake's first model.
GIVERS = {
    "ollama": ("ollama", {"version": "0.12.11"}, None, None),
    "chatgpt": ("chatgpt", {"api_key": KEY, "models": ["gpt-4o-mini", "gpt-3.5-turbo-instruct"]},
                "gpt-4o-mini", "gpt-3.5-turbo-instruct"),
    "llama.cpp": ("openai_compatible", {}, None, None),
    "vllm": ("openai_compatible", {"server": "vllm"}, None, None),
    "koboldcpp": ("openai_compatible", {"server": "koboldcpp"}, None, None),
}
TOKENS = REPLY.split(" ")
GENERATED = [TOKENS[0]] + [" " + word for word in TOKENS[1:]]  # the fakes' tokens: a word each


@pytest.fixture(params=list(GIVERS))
def backend(request, server, fake_factory):
    kind, options, chat_model, completion_model = GIVERS[request.param]
    fake = fake_factory(kind, reply=REPLY, **options)
    configure_fake(server, fake, default_model=fake.models[0])
    fake.chat_model = chat_model or fake.models[0]
    fake.completion_model = completion_model or fake.models[0]
    return fake


def openai_client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/proxy/llm/v1", api_key="unused-by-taleweaver", max_retries=0)


def test_the_official_openai_client_reads_chat_logprobs(server, backend):
    client = openai_client(server)
    messages = [{"role": "user", "content": "Tell me about the lighthouse."}]

    whole = client.chat.completions.create(model=backend.chat_model, messages=messages, logprobs=True,
                                           top_logprobs=5)
    chunks = list(client.chat.completions.create(model=backend.chat_model, messages=messages, logprobs=True,
                                                 top_logprobs=5, stream=True))

    assert whole.choices[0].message.content == REPLY
    streamed = [entry for chunk in chunks for choice in chunk.choices if choice.logprobs
                for entry in choice.logprobs.content]
    assert "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices) == REPLY
    for entries in (whole.choices[0].logprobs.content, streamed):
        assert [entry.token for entry in entries] == GENERATED
        assert all(entry.bytes == list(entry.token.encode()) and entry.logprob <= 0 for entry in entries)
        assert all(len(entry.top_logprobs) == 5 and entry.top_logprobs[0].token == entry.token for entry in entries)


def test_the_official_openai_client_reads_completion_logprobs(server, backend):
    client = openai_client(server)

    whole = client.completions.create(model=backend.completion_model, prompt=PROMPT, max_tokens=50, logprobs=5)
    chunks = list(client.completions.create(model=backend.completion_model, prompt=PROMPT, max_tokens=50,
                                            logprobs=5, stream=True))

    assert whole.choices[0].text == REPLY
    legacy = whole.choices[0].logprobs
    assert legacy.tokens == GENERATED and len(legacy.token_logprobs) == len(GENERATED)
    assert legacy.text_offset == [len("".join(GENERATED[:n])) for n in range(len(GENERATED))]
    assert all(token in ranked and 2 <= len(ranked) <= 6 for token, ranked in zip(legacy.tokens, legacy.top_logprobs))
    pieces = [choice.logprobs for chunk in chunks for choice in chunk.choices if choice.logprobs]
    assert [token for piece in pieces for token in piece.tokens] == GENERATED
    assert [offset for piece in pieces for offset in piece.text_offset] == legacy.text_offset


def test_chat_logprobs_arrive_with_each_streamed_chunk(server, fake_factory):
    """Per chunk, as OpenAI sends them (here from llama.cpp, translated from its own format)."""
    fake = fake_factory("openai_compatible", reply=REPLY)
    configure_fake(server, fake, default_model=fake.models[0])

    response = server.api("POST", "/proxy/llm/v1/chat/completions", stream=True, json={
        "messages": [{"role": "user", "content": "Go on."}], "stream": True, "logprobs": True, "top_logprobs": 2})

    for event in sse_events(response):
        if event == "[DONE]" or not event["choices"] or not event["choices"][0]["delta"].get("content"):
            continue
        choice = event["choices"][0]
        assert [entry["token"] for entry in choice["logprobs"]["content"]] == [choice["delta"]["content"]]
        assert "id" not in choice["logprobs"]["content"][0]  # llama.cpp's token id is not OpenAI's


@pytest.mark.parametrize("kind, options, backend_name", [
    ("lmstudio", {}, "LM Studio"),
    ("ollama", {"version": "0.12.10"}, "Ollama 0.12.10"),
])
def test_a_backend_without_logprobs_gets_the_clear_message(kind, options, backend_name, server, fake_factory):
    fake = fake_factory(kind, reply=REPLY, **options)
    configure_fake(server, fake, default_model=fake.models[0])
    client = openai_client(server)

    with pytest.raises(openai.BadRequestError) as chat:
        client.chat.completions.create(model=fake.models[0], messages=[{"role": "user", "content": "Hi"}],
                                       logprobs=True, top_logprobs=5, stream=True)
    with pytest.raises(openai.BadRequestError) as completion:
        client.completions.create(model=fake.models[0], prompt=PROMPT, logprobs=5)

    for refused in (chat.value, completion.value):
        assert refused.code == "logprobs_unavailable"
        assert f"Log-probabilities are not available from {backend_name} (" in refused.message
    assert not [r for r in fake.requests if r["method"] == "POST"]  # nothing was generated


def test_the_openai_client_reads_an_answer_that_came_without_them_and_its_warning(server, fake_factory):
    """An Ollama built from source says 0.0.0 whatever its age; this one drops the fields."""
    fake = fake_factory("ollama", reply=REPLY, version="0.0.0")
    configure_fake(server, fake, default_model=fake.models[0])
    client = openai_client(server)
    messages = [{"role": "user", "content": "Hi"}]

    whole = client.chat.completions.create(model=fake.models[0], messages=messages, logprobs=True, top_logprobs=5)
    chunks = list(client.chat.completions.create(model=fake.models[0], messages=messages, logprobs=True,
                                                 top_logprobs=5, stream=True))

    assert whole.choices[0].message.content == REPLY and whole.choices[0].logprobs is None
    assert "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices) == REPLY
    for warning in (whole.model_extra["taleweaver"]["warning"], chunks[-1].model_extra["taleweaver"]["warning"]):
        assert warning["code"] == "logprobs_unavailable" and "Ollama 0.12.11 or newer" in warning["message"]
    assert chunks[-1].choices == []
