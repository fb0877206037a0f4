"""Every sampling setting under each backend's own name (on chat and on text completion), the ones a
backend cannot take reported and left out, the kind of OpenAI-compatible server asked once, the
context size, and token counts by the server's tokenizer (tests/fakes speak each server's format)."""
from __future__ import annotations

import pytest

from llm_service import LMStudioService, OllamaService, OpenAIService
from taleweaver.llm import samplers, tokens
from taleweaver.llm.backends.openai_compatible_service import OpenAICompatibleService

KEY = "sk-samplers-test-0123456789"
EVERY = {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "typical_p": 0.95,
         "repetition_penalty": 1.1, "presence_penalty": 0.2, "frequency_penalty": 0.3, "seed": 42,
         "stop": ["THE END"], "max_tokens": 64, "context_length": 16384}
HELLO = [{"role": "user", "content": "Hello"}]

# What each server receives for EVERY, at the top level of the body (Ollama: in options).
RECEIVED = {
    "ollama": {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "typical_p": 0.95,
               "repeat_penalty": 1.1, "presence_penalty": 0.2, "frequency_penalty": 0.3, "seed": 42,
               "stop": ["THE END"], "num_predict": 64, "num_ctx": 16384},
    "lmstudio": {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "repeat_penalty": 1.1, "presence_penalty": 0.2,
                 "frequency_penalty": 0.3, "seed": 42, "stop": ["THE END"], "max_tokens": 64},
    "chatgpt": {"temperature": 0.7, "top_p": 0.9, "presence_penalty": 0.2, "frequency_penalty": 0.3, "seed": 42,
                "stop": ["THE END"], "max_tokens": 64},
    "llama.cpp": {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "typical_p": 0.95,
                  "repeat_penalty": 1.1, "presence_penalty": 0.2, "frequency_penalty": 0.3, "seed": 42,
                  "stop": ["THE END"], "max_tokens": 64},
    "vllm": {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1,
             "presence_penalty": 0.2, "frequency_penalty": 0.3, "seed": 42, "stop": ["THE END"], "max_tokens": 64},
    "koboldcpp": {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "typical": 0.95, "rep_pen": 1.1,
                  "presence_penalty": 0.2, "seed": 42, "stop": ["THE END"], "max_tokens": 64,
                  "max_context_length": 16384},
}
NOT_SENT = {
    "ollama": [], "lmstudio": ["min_p", "typical_p", "context_length"],
    "chatgpt": ["top_k", "min_p", "typical_p", "repetition_penalty", "context_length"],
    "llama.cpp": ["context_length"], "vllm": ["typical_p", "context_length"], "koboldcpp": ["frequency_penalty"],
}
SERVERS = list(RECEIVED)


def start(fake_llm, server: str):
    """(fake, its service) for a backend type or a kind of OpenAI-compatible server."""
    if server == "ollama":
        fake = fake_llm("ollama")
        return fake, OllamaService(fake.url, default_model=fake.models[0])
    if server == "lmstudio":
        fake = fake_llm("lmstudio")
        return fake, LMStudioService(fake.url, default_model=fake.models[0])
    if server == "chatgpt":
        fake = fake_llm("chatgpt", api_key=KEY, models=["gpt-3.5-turbo-instruct", "gpt-4o-mini"])
        return fake, OpenAIService(KEY, base_url=fake.url)
    fake = fake_llm("openai_compatible", server=server)
    return fake, OpenAICompatibleService(fake.url, default_model=fake.models[0])


def received(fake, server: str) -> list[dict]:
    """The sampling settings of each generation request the fake received, as it received them."""
    bodies = [r["json"] for r in fake.requests if r["method"] == "POST" and "completion" in r["path"]
              or r["path"] in ("/api/chat", "/api/generate")]
    if server == "ollama":
        return [body.get("options") for body in bodies]
    ignored = {"model", "stream", "messages", "prompt"}
    return [{key: value for key, value in body.items() if key not in ignored} for body in bodies]


@pytest.mark.parametrize("server", SERVERS)
def test_every_sampler_reaches_the_backend_under_its_own_name_on_chat_and_completion(fake_llm, server):
    fake, service = start(fake_llm, server)
    model = {"model": "gpt-3.5-turbo-instruct"} if server == "chatgpt" else {}

    service.chat_completion({"messages": HELLO, **EVERY, **({"model": "gpt-4o-mini"} if model else {})})
    service.completion({"prompt": "Once", **EVERY, **model})
    list(service.completion({"prompt": "Once", **EVERY, **model}, stream=True))

    assert received(fake, server) == [RECEIVED[server]] * 3
    assert samplers.not_sent(EVERY, service.sampler_names()) == NOT_SENT[server]


@pytest.mark.parametrize("server", SERVERS)
def test_the_report_names_each_setting_as_sent_or_says_why_not(fake_llm, server):
    _, service = start(fake_llm, server)

    report = {row["name"]: row for row in service.sampler_names().report()}

    assert list(report) == list(samplers.SAMPLERS)
    for name in NOT_SENT[server]:
        assert report[name]["sent_as"] is None and report[name]["note"]
    sent = {row["sent_as"].removeprefix("options.") for row in report.values() if row["sent_as"]}
    assert sent == set(RECEIVED[server])


def test_a_null_setting_is_the_backends_default_and_is_not_sent(fake_llm):
    fake, service = start(fake_llm, "llama.cpp")
    service.completion({"prompt": "Once", "top_k": None, "temperature": None, "max_tokens": 2})
    assert received(fake, "llama.cpp") == [{"max_tokens": 2}]


def test_the_ollama_context_size_is_num_ctx_and_the_budget_is_the_writers(fake_llm):
    fake, service = start(fake_llm, "ollama")

    service.chat_completion({"messages": HELLO, "context_length": 32768})

    assert received(fake, "ollama") == [{"num_ctx": 32768}]
    assert service.context_budget(fake.models[0], 32768) == (32768, "your context size")
    assert service.context_budget(fake.models[0], None) == service.context_length(fake.models[0])
    assert "reloads the model" in {r["name"]: r for r in service.sampler_names().report()}["context_length"]["note"]


@pytest.mark.parametrize("server", ["llama.cpp", "koboldcpp"])
def test_a_server_started_with_its_context_bounds_the_budget_by_it(fake_llm, server):
    fake = fake_llm("openai_compatible", server=server, context_length=8192)
    service = OpenAICompatibleService(fake.url, default_model=fake.models[0])

    assert service.context_budget(fake.models[0], 32768) == (8192, f"{server} n_ctx")
    assert service.context_budget(fake.models[0], 2048) == (2048, "your context size")


# ---- the kind of OpenAI-compatible server ----------------------------------------------------

@pytest.mark.parametrize("server, shown", [("llama.cpp", "llama.cpp"), ("vllm", "vLLM"), ("koboldcpp", "KoboldCpp")])
def test_the_kind_of_server_is_asked_once_and_kept(fake_llm, server, shown):
    fake, service = start(fake_llm, server)

    first = service.server_kind()
    asked = len(fake.requests)
    again = OpenAICompatibleService(fake.url).server_kind()  # another service of the same address

    assert first.name == server and first.samplers.server == shown and again is first
    assert len(fake.requests) == asked
    assert service.server_info()["server"] == shown


def test_the_connection_test_asks_the_kind_again(fake_llm):
    fake, service = start(fake_llm, "vllm")
    service.server_kind()
    asked = len([r for r in fake.requests if r["path"] == "/version"])

    service.test_connection()

    assert len([r for r in fake.requests if r["path"] == "/version"]) == asked + 1


def test_a_server_of_no_known_kind_gets_llama_cpps_names_and_says_so(requests_mock):
    requests_mock.post("http://127.0.0.1:9999/v1/completions", json={"object": "text_completion", "choices": []})
    service = OpenAICompatibleService("http://127.0.0.1:9999/v1", default_model="m")

    service.completion({"prompt": "Once", "repetition_penalty": 1.2})

    names = service.sampler_names()
    assert names.recognised is False and names.server == "llama.cpp"
    assert requests_mock.last_request.json()["repeat_penalty"] == 1.2
    assert service.count_tokens(["a b c"])["tokenizer"] == tokens.ESTIMATE


# ---- token counts ----------------------------------------------------------------------------

@pytest.mark.parametrize("server, path, asked", [
    ("llama.cpp", "/tokenize", {"content": "The fox ran.", "add_special": True}),
    ("vllm", "/tokenize", {"prompt": "The fox ran.", "add_special_tokens": True, "model": "Qwen/Qwen2.5-7B-Instruct"}),
    ("koboldcpp", "/api/extra/tokencount", {"prompt": "The fox ran.", "special": True}),
])
def test_tokens_are_counted_by_the_servers_tokenizer_once_per_text(fake_llm, server, path, asked):
    fake, service = start(fake_llm, server)

    counted = service.count_tokens(["The fox ran.", "", "The fox ran."], fake.models[0])
    again = service.count_tokens(["The fox ran."], fake.models[0])

    assert counted == {"tokenizer": server, "counts": [4, 0, 4]}  # three words and the BOS token
    assert again == {"tokenizer": server, "counts": [4]}
    assert [r["json"] for r in fake.requests if r["path"] == path] == [asked]


@pytest.mark.parametrize("server", ["ollama", "lmstudio", "chatgpt"])
def test_a_backend_without_a_tokenizer_gets_an_estimate_on_the_long_side(fake_llm, server):
    _, service = start(fake_llm, server)
    text = "The lighthouse keeper counted the waves until the ships came home."

    counted = service.count_tokens([text])

    assert counted["tokenizer"] == "estimate"
    assert counted["counts"][0] > len(text) / 4  # more than the usual four characters a token


def test_a_tokenizer_that_fails_falls_back_to_the_estimate(fake_llm):
    fake, service = start(fake_llm, "llama.cpp")
    service.server_kind()
    fake.set_fault("status", code=500)

    assert service.count_tokens(["The fox ran."])["tokenizer"] == "estimate"


# ---- the settings API --------------------------------------------------------------------------

def test_the_samplers_endpoint_reports_the_saved_servers_names(client, fake_llm):
    fake = fake_llm("openai_compatible", server="koboldcpp")
    client.post("/api/settings/llm", json={"backend_type": "openai_compatible", "config": {"base_url": fake.url}})

    active = client.get("/api/settings/llm/samplers").get_json()
    chatgpt = client.get("/api/settings/llm/samplers?backend_type=chatgpt").get_json()

    assert active["server"] == "KoboldCpp" and active["recognised"] is True
    assert {r["name"]: r["sent_as"] for r in active["samplers"]}["repetition_penalty"] == "rep_pen"
    assert chatgpt["backend_type"] == "chatgpt" and {r["name"] for r in chatgpt["samplers"] if r["sent_as"] is None} \
        == set(NOT_SENT["chatgpt"])


def test_the_samplers_endpoint_without_a_backend_says_to_configure_one(client):
    answer = client.get("/api/settings/llm/samplers")
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "backend_not_configured"
    assert client.get("/api/settings/llm/samplers?backend_type=koboldcpp").status_code == 400


def test_the_tokens_endpoint_without_a_backend_says_to_configure_one(client):
    answer = client.post("/api/settings/llm/tokens", json={"texts": ["one"]})
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "backend_not_configured"


def test_the_tokens_endpoint_counts_with_the_active_backends_tokenizer(client, fake_llm):
    fake = fake_llm("openai_compatible", server="vllm")
    client.post("/api/settings/llm", json={"backend_type": "openai_compatible", "config": {"base_url": fake.url},
                                           "default_model": fake.models[0]})

    answer = client.post("/api/settings/llm/tokens", json={"texts": ["one two", "three"]}).get_json()

    assert answer == {"tokenizer": "vllm", "counts": [3, 2], "total": 5}
    assert [r["json"]["model"] for r in fake.requests if r["path"] == "/tokenize"] == [fake.models[0]] * 2


@pytest.mark.parametrize("body, field", [({"texts": "one"}, "texts"), ({"texts": [1]}, "texts"),
                                         ({"texts": ["a"] * 257}, "texts"), ({"texts": [], "model": 3}, "model")])
def test_the_tokens_endpoint_refuses_what_is_not_a_list_of_texts(client, body, field):
    answer = client.post("/api/settings/llm/tokens", json=body)
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == field
