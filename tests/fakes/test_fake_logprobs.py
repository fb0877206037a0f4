"""The fakes' log-probabilities are each server's own (tests/fakes/logprobs.py cites the sources):
what turns them on, what is refused, and the shape, whole and streamed."""
from __future__ import annotations

import json

import pytest
import requests

from tests.fakes import FakeLLMServer

T = 5
REPLY = "once upon a time"


@pytest.fixture
def make():
    servers = []

    def _make(kind, **options):
        server = FakeLLMServer(kind, reply=REPLY, **options).start()
        servers.append(server)
        return server

    yield _make
    for server in servers:
        server.stop()


def post(server, path, body):
    return requests.post(server.base_url + path, json=body, timeout=T)


def sse(response) -> list:
    return [json.loads(line[6:]) for line in response.text.splitlines()
            if line.startswith("data: ") and line != "data: [DONE]"]


def chat(server, **body):
    return post(server, "/v1/chat/completions", {"model": server.models[0], "messages": [
        {"role": "user", "content": "Hi"}], **body})


def test_llama_cpp_chat_gives_20_alternatives_unless_told_none_for_0_and_refuses_top_alone(make):
    server = make("openai_compatible")

    bare = chat(server, logprobs=True).json()["choices"][0]["logprobs"]["content"]
    none = chat(server, logprobs=True, top_logprobs=0).json()["choices"][0]
    alone = chat(server, top_logprobs=3)

    assert [len(item["top_logprobs"]) for item in bare] == [20] * 4 and all("id" in item for item in bare)
    assert "logprobs" not in none
    assert alone.status_code == 400
    assert alone.json()["error"]["message"] == "top_logprobs requires logprobs to be set to true"


def test_llama_cpp_streams_each_tokens_logprobs_with_its_delta(make):
    server = make("openai_compatible")

    chunks = sse(chat(server, logprobs=True, top_logprobs=2, stream=True))

    carrying = [c["choices"][0] for c in chunks if c["choices"] and "logprobs" in c["choices"][0]]
    assert [c["logprobs"]["content"][0]["token"] for c in carrying] == [c["delta"]["content"] for c in carrying]
    assert len(carrying) == 4


def test_vllm_refuses_more_than_its_max_logprobs_and_top_without_logprobs(make):
    server = make("openai_compatible", server="vllm")

    too_many = chat(server, logprobs=True, top_logprobs=21)
    alone = chat(server, top_logprobs=2)
    fine = chat(server, logprobs=True, top_logprobs=0).json()["choices"][0]["logprobs"]["content"]
    completion = post(server, "/v1/completions", {"model": server.models[0], "prompt": "x", "logprobs": 21})

    assert too_many.status_code == 400 and "greater than max allowed: 20" in too_many.json()["error"]["message"]
    assert alone.status_code == 400 and "`logprobs` must be set to true" in alone.json()["error"]["message"]
    assert completion.status_code == 400
    assert [item["top_logprobs"] for item in fine] == [[]] * 4 and not any("id" in item for item in fine)


def test_koboldcpp_sends_its_combined_dict_of_5_and_streams_it_in_one_chunk_before_the_last(make):
    server = make("openai_compatible", server="koboldcpp")
    body = {"model": server.models[0], "prompt": "x", "logprobs": 1}

    whole = post(server, "/v1/completions", body).json()["choices"][0]["logprobs"]
    chunks = sse(post(server, "/v1/completions", {**body, "stream": True}))

    assert set(whole) == {"content", "tokens", "token_logprobs", "top_logprobs", "text_offset"}
    assert [len(ranked) for ranked in whole["top_logprobs"]] == [5] * 4
    assert [c["choices"][0]["logprobs"] is not None for c in chunks] == [False] * 4 + [True, False]
    assert chunks[-2]["choices"][0]["text"] == "" and chunks[-2]["choices"][0]["logprobs"] == whole


def test_openai_chat_logprobs_and_lm_studios_none(make):
    openai_fake = make("chatgpt")
    lmstudio = make("lmstudio")
    headers = {"Authorization": "Bearer sk-test"}

    given = requests.post(openai_fake.base_url + "/v1/chat/completions", headers=headers, timeout=T, json={
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "logprobs": True,
        "top_logprobs": 2}).json()["choices"][0]["logprobs"]
    over = requests.post(openai_fake.base_url + "/v1/chat/completions", headers=headers, timeout=T, json={
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "logprobs": True,
        "top_logprobs": 21})
    ignored = chat(lmstudio, logprobs=True, top_logprobs=2).json()["choices"][0]["logprobs"]

    assert given["refusal"] is None and [len(item["top_logprobs"]) for item in given["content"]] == [2] * 4
    assert over.status_code == 400 and over.json()["error"]["param"] == "top_logprobs"
    assert ignored is None


@pytest.mark.parametrize("version, gives", [("0.6.5", False), ("0.12.10", False), ("0.12.11", True),
                                            ("0.0.0", False)])
def test_ollama_gives_logprobs_from_0_12_11_on(version, gives, make):
    server = make("ollama", version=version)
    body = {"model": server.models[0], "messages": [{"role": "user", "content": "Hi"}], "logprobs": True,
            "top_logprobs": 2}

    lines = [json.loads(line) for line in post(server, "/api/chat", body).text.splitlines()]
    generated = post(server, "/api/generate", {"model": server.models[0], "prompt": "x", "stream": False,
                                               "logprobs": True})
    over = post(server, "/api/chat", {**body, "top_logprobs": 21})

    assert requests.get(server.base_url + "/api/version", timeout=T).json() == {"version": version}
    carrying = [line["logprobs"] for line in lines if "logprobs" in line]
    assert len(carrying) == (4 if gives else 0)
    assert all(len(items) == 1 and "id" not in items[0] and len(items[0]["top_logprobs"]) == 2 for items in carrying)
    assert ("top_logprobs" not in generated.json()["logprobs"][0]) if gives else ("logprobs" not in generated.json())
    assert over.status_code == (400 if gives else 200)
