"""Log-probabilities through the proxy (`logprobs` / `top_logprobs`), against fakes that send each
backend's own format (tests/fakes/logprobs.py): OpenAI's chat shape and its legacy completion
shape come back from every backend that gives them, streamed and not, with as many alternatives as
were asked; a backend that cannot give them is refused before anything is generated, and an
answer that came without them says so."""
from __future__ import annotations

import json

import pytest

from taleweaver.llm import logprobs
from taleweaver.llm.backends.ollama_service import OllamaService
from taleweaver.llm.backends.openai_compatible_service import OpenAICompatibleService
from taleweaver.llm.backends.openai_service import OpenAIService

REPLY = "The lantern swung once, twice, and went out."
PROMPT = "Chapter One\n\nThe keeper climbed the stairs and "
KEY = "sk-logprobs-test-0123456789"
# Each backend that gives log-probabilities: (fake kind, its options, the chat model, the completion model).
GIVERS = {
    "chatgpt": ("chatgpt", {"api_key": KEY, "models": ["gpt-4o-mini", "gpt-3.5-turbo-instruct"]},
                "gpt-4o-mini", "gpt-3.5-turbo-instruct"),
    "llama.cpp": ("openai_compatible", {}, None, None),
    "vllm": ("openai_compatible", {"server": "vllm"}, None, None),
    "koboldcpp": ("openai_compatible", {"server": "koboldcpp"}, None, None),
    "ollama": ("ollama", {"version": "0.12.11"}, None, None),
}
ENTRY_KEYS = {"token", "logprob", "bytes", "top_logprobs"}


def start(fake_llm, client, name: str):
    kind, options, _, _ = GIVERS.get(name, (name, {}, None, None))
    fake = fake_llm(kind, reply=REPLY, **options)
    configure(client, fake)
    return fake


def configure(client, fake):
    config = {"base_url": fake.url} if fake.kind in ("chatgpt", "openai_compatible") else {"url": fake.url}
    if fake.kind == "chatgpt":
        config["api_key"] = fake.api_key
    response = client.post("/api/settings/llm", json={
        "backend_type": fake.kind, "config": config, "default_model": fake.models[0]})
    assert response.status_code == 200, response.get_json()


def ask(client, api: str, name: str | None = None, **body):
    """A chat or text completion with the backend's model for it."""
    model = {"chat": 2, "completion": 3}[api]
    chosen = GIVERS[name][model] if name in GIVERS else None
    extra = {"model": chosen} if chosen else {}
    if api == "chat":
        return client.post("/proxy/llm/v1/chat/completions",
                           json={"messages": [{"role": "user", "content": "Go on."}], **extra, **body})
    return client.post("/proxy/llm/v1/completions", json={"prompt": PROMPT, "max_tokens": 50, **extra, **body})


def events(response) -> list:
    return [data if data == "[DONE]" else json.loads(data)
            for block in response.get_data(as_text=True).split("\n\n") if block.startswith("data: ")
            for data in [block[6:]]]


def posted(fake) -> list:
    return [r for r in fake.requests if r["method"] == "POST"]


def chat_entries(choices: list, stream: bool) -> tuple[str, list]:
    text = "".join((c["delta"] if stream else c["message"]).get("content") or "" for c in choices)
    entries = [entry for c in choices if c.get("logprobs") for entry in c["logprobs"]["content"]]
    return text, entries


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", list(GIVERS))
def test_chat_logprobs_come_back_in_openais_chat_shape(name, stream, client, fake_llm):
    start(fake_llm, client, name)

    response = ask(client, "chat", name, logprobs=True, top_logprobs=3, stream=stream)

    assert response.status_code == 200, response.get_data(as_text=True)
    if stream:
        chunks = [e for e in events(response) if e != "[DONE]"]
        assert all(e["object"] == "chat.completion.chunk" for e in chunks)
        choices = [c for e in chunks for c in e["choices"]]
    else:
        choices = response.get_json()["choices"]
    text, entries = chat_entries(choices, stream)
    assert text == REPLY
    assert "".join(entry["token"] for entry in entries) == REPLY  # one entry a generated token
    for entry in entries:
        assert set(entry) == ENTRY_KEYS and entry["bytes"] == list(entry["token"].encode())
        assert len(entry["top_logprobs"]) == 3  # KoboldCpp's 5 cut to 3, llama.cpp's `id` left out
        assert entry["top_logprobs"][0]["logprob"] >= entry["top_logprobs"][-1]["logprob"]
        assert set(entry["top_logprobs"][0]) == {"token", "logprob", "bytes"}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", list(GIVERS))
def test_completion_logprobs_come_back_in_openais_legacy_shape(name, stream, client, fake_llm):
    start(fake_llm, client, name)

    response = ask(client, "completion", name, logprobs=2, stream=stream)

    assert response.status_code == 200, response.get_data(as_text=True)
    choices = ([c for e in events(response) if e != "[DONE]" for c in e["choices"]] if stream
               else response.get_json()["choices"])
    text = "".join(c["text"] for c in choices)
    shapes = [c["logprobs"] for c in choices if c.get("logprobs")]
    assert text == REPLY and shapes
    tokens = [token for shape in shapes for token in shape["tokens"]]
    offsets = [offset for shape in shapes for offset in shape["text_offset"]]
    assert "".join(tokens) == REPLY
    assert offsets == [len("".join(tokens[:n])) for n in range(len(tokens))]  # from the text's start
    for shape in shapes:
        assert set(shape) == {"tokens", "token_logprobs", "top_logprobs", "text_offset"}
        assert len(shape["token_logprobs"]) == len(shape["tokens"]) == len(shape["top_logprobs"])
        for token, ranked in zip(shape["tokens"], shape["top_logprobs"]):
            assert token in ranked and len(ranked) <= 3  # the 2 asked for, and the token itself


@pytest.mark.parametrize("api, body, field", [
    ("chat", {"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ("chat", {"logprobs": True, "top_logprobs": -1}, "top_logprobs"),
    ("chat", {"top_logprobs": 2}, "top_logprobs"),
    ("chat", {"logprobs": "yes"}, "logprobs"),
    ("completion", {"logprobs": 6}, "logprobs"),
    ("completion", {"logprobs": True}, "logprobs"),
])
def test_logprobs_beyond_openais_caps_are_a_400_before_anything_is_sent(api, body, field, client, fake_llm):
    fake = start(fake_llm, client, "llama.cpp")
    sent_before = len(posted(fake))

    response = ask(client, api, **body)

    error = response.get_json()["error"]
    assert response.status_code == 400 and error["param"] == field
    assert f"'{field}'" in error["message"]
    assert len(posted(fake)) == sent_before


@pytest.mark.parametrize("api", ["chat", "completion"])
@pytest.mark.parametrize("name, setup", [
    ("LM Studio", ("lmstudio", {})),
    ("LM Studio", ("openai_compatible-lmstudio", {})),
    ("Ollama 0.6.5", ("ollama", {"version": "0.6.5"})),
])
def test_a_backend_without_logprobs_is_refused_before_anything_is_generated(name, setup, api, client, fake_llm):
    kind, options = setup
    if kind == "openai_compatible-lmstudio":  # LM Studio set up as an OpenAI-compatible server
        fake = fake_llm("lmstudio")
        configure_compatible(client, fake)
    else:
        fake = fake_llm(kind, **options)
        configure(client, fake)

    response = ask(client, api, stream=True, **({"logprobs": True} if api == "chat" else {"logprobs": 1}))

    error = response.get_json()["error"]
    assert response.status_code == 400 and error["code"] == "logprobs_unavailable"
    assert error["message"].startswith(f"Log-probabilities are not available from {name} (")
    assert ("0.12.11" in error["message"]) if "Ollama" in name else ("llama.cpp" in error["message"])
    assert not [r for r in posted(fake) if "chat" in r["path"] or "complet" in r["path"] or "generate" in r["path"]]


def configure_compatible(client, fake):
    response = client.post("/api/settings/llm", json={
        "backend_type": "openai_compatible", "config": {"base_url": fake.url + "/v1"},
        "default_model": fake.models[0]})
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("api", ["chat", "completion"])
def test_an_answer_without_the_logprobs_asked_for_says_so(api, client, fake_llm):
    """An Ollama built from source says it is 0.0.0 whatever its age: asked, and this one (older
    than 0.12.11) drops the fields; the answer is kept and says what is missing."""
    fake = fake_llm("ollama", reply=REPLY, version="0.0.0")
    configure(client, fake)
    body = {"logprobs": True, "top_logprobs": 2} if api == "chat" else {"logprobs": 2}

    whole = ask(client, api, **body)
    streamed = events(ask(client, api, stream=True, **body))

    warning = whole.get_json()["taleweaver"]["warning"]
    assert warning["code"] == "logprobs_unavailable" and "Ollama 0.12.11 or newer" in warning["message"]
    assert whole.get_json()["choices"][0]["logprobs"] is None
    assert streamed[-1] == "[DONE]" and streamed[-2]["choices"] == []
    assert streamed[-2]["taleweaver"]["warning"] == warning
    assert "logprobs" in [r for r in posted(fake)][-1]["json"]  # asked, as a newer one would answer


def test_llama_cpp_is_asked_for_at_least_one_alternative_and_the_answer_cut_to_none(client, fake_llm):
    """llama.cpp answers `top_logprobs: 0` with no log-probabilities at all (OpenAI: the token's
    own), and `logprobs: true` alone with 20 alternatives."""
    fake = start(fake_llm, client, "llama.cpp")

    chat = ask(client, "chat", logprobs=True, top_logprobs=0).get_json()
    bare = ask(client, "chat", logprobs=True).get_json()
    completion = ask(client, "completion", logprobs=0).get_json()

    sent = [r["json"] for r in posted(fake)]
    assert sent[0]["top_logprobs"] == 1 and sent[1]["top_logprobs"] == 1 and sent[2]["logprobs"] == 1
    assert [e["top_logprobs"] for e in chat["choices"][0]["logprobs"]["content"]] == [[]] * len(REPLY.split())
    assert all(e["top_logprobs"] == [] for e in bare["choices"][0]["logprobs"]["content"])
    legacy = completion["choices"][0]["logprobs"]
    assert legacy["top_logprobs"] == [{token: value} for token, value in zip(legacy["tokens"], legacy["token_logprobs"])]


def test_koboldcpp_streams_them_all_in_one_chunk_at_the_end(client, fake_llm):
    start(fake_llm, client, "koboldcpp")

    chunks = [e for e in events(ask(client, "chat", logprobs=True, top_logprobs=1, stream=True)) if e != "[DONE]"]

    carrying = [e for e in chunks if e["choices"] and e["choices"][0].get("logprobs")]
    assert len(carrying) == 1 and carrying[0]["choices"][0]["delta"].get("content") == ""
    assert len(carrying[0]["choices"][0]["logprobs"]["content"]) == len(REPLY.split())


def _service(fake, name):
    if name == "chatgpt":
        return OpenAIService(KEY, base_url=fake.url, default_model=GIVERS[name][2])
    if name == "ollama":
        return OllamaService(fake.url, default_model=fake.models[0])
    return OpenAICompatibleService(fake.url, default_model=fake.models[0])


@pytest.mark.parametrize("api", ["chat", "completion"])
@pytest.mark.parametrize("name", list(GIVERS))
def test_token_stream_gives_text_and_entries_in_one_form_whatever_the_backend(name, api, fake_llm):
    kind, options, chat_model, completion_model = GIVERS[name]
    fake = fake_llm(kind, reply=REPLY, **options)
    service = _service(fake, name)
    if api == "chat":
        stream = service.chat_completion({"messages": [{"role": "user", "content": "Go on."}], "model": chat_model,
                                          "logprobs": True, "top_logprobs": 2}, stream=True)
    else:
        stream = service.completion({"prompt": PROMPT, "max_tokens": 50, "model": completion_model,
                                     "logprobs": 2}, stream=True)

    pieces = list(logprobs.token_stream(stream, api))

    entries = [entry for _, found in pieces for entry in found]
    assert "".join(text for text, _ in pieces) == REPLY
    assert [entry["token"] for entry in entries] == [REPLY.split(" ")[0]] + [" " + w for w in REPLY.split(" ")[1:]]
    assert all(set(entry) == ENTRY_KEYS and entry["bytes"] == list(entry["token"].encode()) for entry in entries)
    assert all(1 <= len(entry["top_logprobs"]) <= 3 for entry in entries)


def test_a_probability_of_zero_from_llama_cpp_is_openais_floor_not_flt_lowest():
    """llama.cpp writes log(0) as -3.4028235e38 (FLT_LOWEST); OpenAI's floor is -9999.0."""
    sent = {"content": [{"id": 7, "token": " a", "bytes": [32, 97], "logprob": -3.4028235e38,
                         "top_logprobs": [{"id": 9, "token": " b", "bytes": [32, 98], "logprob": -0.1},
                                          {"id": 7, "token": " a", "bytes": [32, 97], "logprob": -3.4028235e38}]}]}

    shaped = logprobs.Shaper(logprobs.Asked("chat", 2)).shaped(sent)

    assert shaped["content"] == [{"token": " a", "logprob": -9999.0, "bytes": [32, 97], "top_logprobs": [
        {"token": " b", "logprob": -0.1, "bytes": [32, 98]}, {"token": " a", "logprob": -9999.0, "bytes": [32, 97]}]}]
