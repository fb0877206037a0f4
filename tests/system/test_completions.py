"""Text completion, every sampler and the tokenizers through the real server (gunicorn), per
backend, against fakes that record every request in the backend's own format: completion mode
sends `prompt` (not `messages`) with the text verbatim at its end; each sampler arrives under the
backend's own name (`num_ctx` on Ollama), and what a backend cannot take is reported as not sent;
the server's tokenizer counts where it has one; the official openai client works unchanged."""
from __future__ import annotations

import openai
import pytest

from tests.support import configure_fake, sse_events

REPLY = "The keeper lit the lamp and the ships turned home."
KEY = "sk-completions-e2e-0123456789abcdef"
# The story so far, ending mid-sentence with a space: the model must see it exactly so.
PROMPT = "Memory: a lighthouse on a cliff.\n\n## Chapter 1\n\nThe storm came at dusk, and the keeper "
EVERY = {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "typical_p": 0.95,
         "repetition_penalty": 1.1, "presence_penalty": 0.2, "frequency_penalty": 0.3, "seed": 42,
         "stop": ["THE END"], "max_tokens": 64, "context_length": 16384}
# backend (server kind) -> (fake kind, fake options, the names it must receive, the settings not sent)
BACKENDS = {
    "ollama": ("ollama", {}, {"top_k", "min_p", "repeat_penalty", "num_ctx", "num_predict"}, set()),
    "lmstudio": ("lmstudio", {}, {"top_k", "repeat_penalty"}, {"min_p", "typical_p", "context_length"}),
    "chatgpt": ("chatgpt", {"api_key": KEY, "models": ["gpt-3.5-turbo-instruct", "gpt-4o-mini"]},
                {"temperature", "seed"}, {"top_k", "min_p", "typical_p", "repetition_penalty", "context_length"}),
    "llama.cpp": ("openai_compatible", {}, {"repeat_penalty", "min_p", "typical_p"}, {"context_length"}),
    "vllm": ("openai_compatible", {"server": "vllm"}, {"repetition_penalty", "min_p"}, {"typical_p", "context_length"}),
    "koboldcpp": ("openai_compatible", {"server": "koboldcpp"}, {"rep_pen", "typical", "max_context_length"},
                  {"frequency_penalty"}),
}
GENERATION_PATHS = ("/api/chat", "/api/generate", "/v1/chat/completions", "/v1/completions")


@pytest.fixture(params=list(BACKENDS))
def backend(request, server, fake_factory):
    """A fake of each backend (and each kind of OpenAI-compatible server), saved as the active one."""
    kind, options, _, _ = BACKENDS[request.param]
    fake = fake_factory(kind, reply=REPLY, **options)
    configure_fake(server, fake, default_model=fake.models[0])
    fake.name = request.param
    return fake


def generations(fake) -> list[dict]:
    return [r["json"] for r in fake.requests if r["method"] == "POST" and r["path"] in GENERATION_PATHS]


def complete(server, **body):
    return server.api("POST", "/proxy/llm/v1/completions", json={"prompt": PROMPT, "max_tokens": 100, **body},
                      stream=bool(body.get("stream")))


def test_completion_mode_sends_the_prompt_verbatim_and_answers_openais_completion(server, backend):
    whole = complete(server)
    streamed = list(sse_events(complete(server, stream=True)))

    sent = generations(backend)
    assert len(sent) == 2 and all("messages" not in body for body in sent)
    assert all(body["prompt"].endswith("The storm came at dusk, and the keeper ") for body in sent)
    assert all(body["prompt"] == PROMPT for body in sent)
    assert whole.status_code == 200 and whole.json()["object"] == "text_completion"
    assert whole.json()["choices"][0]["text"] == REPLY
    assert whole.headers["X-Taleweaver-Backend"] == ("openai_compatible" if backend.kind == "openai_compatible"
                                                     else backend.name)
    assert streamed[-1] == "[DONE]"
    text = "".join(choice["text"] for chunk in streamed[:-1] for choice in chunk["choices"])
    assert text == REPLY and {chunk["object"] for chunk in streamed[:-1]} == {"text_completion"}


def test_the_official_openai_client_completes_through_the_proxy(server, backend):
    client = openai.OpenAI(base_url=server.url + "/proxy/llm/v1", api_key="unused-by-taleweaver", max_retries=0)

    whole = client.completions.create(model=backend.models[0], prompt=PROMPT, max_tokens=100)
    stream = client.completions.create(model=backend.models[0], prompt=PROMPT, max_tokens=100, stream=True,
                                       stream_options={"include_usage": True})
    chunks = list(stream)

    assert whole.choices[0].text == REPLY
    assert "".join(choice.text for chunk in chunks for choice in chunk.choices) == REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == len(REPLY.split())


def test_every_sampler_arrives_under_the_backends_own_name_or_is_reported_not_sent(server, backend):
    _, _, own_names, not_sent = BACKENDS[backend.name]
    chat_model = {"model": "gpt-4o-mini"} if backend.name == "chatgpt" else {}

    chat = server.api("POST", "/proxy/llm/v1/chat/completions",
                      json={"messages": [{"role": "user", "content": "Hi"}], **EVERY, **chat_model})
    completion = complete(server, **EVERY)
    report = server.api("GET", "/api/settings/llm/samplers").json()

    assert chat.status_code == 200 and completion.status_code == 200, (chat.text, completion.text)
    names = {row["name"]: row["sent_as"] for row in report["samplers"]}
    assert {name for name, sent_as in names.items() if sent_as is None} == not_sent
    for body in generations(backend):
        received = body.get("options") if backend.name == "ollama" else body
        expected = {sent_as.removeprefix("options."): EVERY[name] for name, sent_as in names.items() if sent_as}
        assert {key: received.get(key) for key in expected} == expected
        assert own_names <= set(received)
        assert not {"typical_p", "repetition_penalty", "context_length"} & (set(received) - set(expected))
    if backend.name == "ollama":
        assert all(body["options"]["num_ctx"] == 16384 for body in generations(backend))
        assert "reloads the model" in {row["name"]: row["note"] for row in report["samplers"]}["context_length"]


def test_tokens_are_counted_by_the_backends_tokenizer_where_it_has_one(server, backend):
    texts = ["The storm came at dusk.", "The keeper lit the lamp."]

    counted = server.api("POST", "/api/settings/llm/tokens", json={"texts": texts}).json()

    tokenizer_paths = {"llama.cpp": "/tokenize", "vllm": "/tokenize", "koboldcpp": "/api/extra/tokencount"}
    if backend.name in tokenizer_paths:
        assert counted == {"tokenizer": backend.name, "counts": [6, 6], "total": 12}  # five words and BOS
        assert len([r for r in backend.requests if r["path"] == tokenizer_paths[backend.name]]) == 2
    else:
        assert counted["tokenizer"] == "estimate" and counted["counts"][0] >= 6


def test_a_completion_cut_in_the_middle_ends_with_one_error_event_and_done(server, fake_factory):
    fake = fake_factory("ollama", reply=REPLY)
    configure_fake(server, fake, default_model=fake.models[0])
    fake.set_fault("die_after_chunks", chunks=4)

    events = list(sse_events(complete(server, stream=True)))

    assert "".join(c["choices"][0]["text"] for c in events if isinstance(c, dict) and c.get("choices")) == \
        "The keeper lit the"
    assert [e for e in events if isinstance(e, dict) and "error" in e][0]["error"]["code"] == "backend_error"
    assert events[-1] == "[DONE]" and len([e for e in events if isinstance(e, dict) and "error" in e]) == 1


def test_a_chatgpt_chat_model_in_completion_mode_is_told_to_use_chat(server, fake_factory):
    fake = fake_factory("chatgpt", api_key=KEY, models=["gpt-4o-mini", "gpt-3.5-turbo-instruct"])
    configure_fake(server, fake, default_model="gpt-4o-mini")
    client = openai.OpenAI(base_url=server.url + "/proxy/llm/v1", api_key="unused", max_retries=0)

    with pytest.raises(openai.NotFoundError) as refused:
        client.completions.create(model="gpt-4o-mini", prompt=PROMPT)

    assert refused.value.body["code"] == "chat_model_on_completions"
    assert "chat mode" in refused.value.body["hint"]
    assert KEY not in str(refused.value.body) and KEY not in server.log_text()
