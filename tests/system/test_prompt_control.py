"""The writer's control of the prompt through the real server and the fake backends on loopback,
each recording what it received: a lorebook entry is sent only after its key appears and within
its budget; the Prompt view is exactly what the backend then receives; the generation keeps it;
the library backup carries the lorebook."""
from __future__ import annotations

import functools

import pytest

from tests import support
from tests.support import configure_fake

KINDS = ("lmstudio", "ollama", "chatgpt", "openai_compatible")
KAEL = "Kael is a smuggler with a silver hand."
LOREBOOK = {"token_budget": 20, "entries": [
    {"name": "Kael", "keys": ["kael"], "text": KAEL},
    {"name": "Atlas", "keys": ["kael"], "text": "An atlas of every harbour. " * 10},  # beyond the budget
]}

new_story = functools.partial(support.new_story, premise="A smuggler's debt comes due")


def continue_story(server, story_id: int) -> dict:
    response = server.api("POST", "/proxy/llm/v1/chat/completions",
                          json={"stream": False, "taleweaver": {"story_id": story_id, "action": "continue"}})
    assert response.status_code == 200, response.text
    return response.json()


def last_chat(fake) -> list[str]:
    sent = [r["json"] for r in fake.requests if r["method"] == "POST" and "chat" in r["path"]][-1]
    return [message["content"] for message in sent["messages"]]


@pytest.mark.parametrize("kind", KINDS)
def test_an_entry_goes_only_after_its_key_appears_and_the_prompt_view_is_what_the_backend_receives(server, fake_factory, kind):
    fake = fake_factory(kind, reply=" Then the tide turned.")
    configure_fake(server, fake, default_model="gpt-4o-mini" if kind == "chatgpt" else fake.models[0])
    tale = new_story(server, content="Mira waited at the gate.", settings={"lorebook": LOREBOOK})

    continue_story(server, tale["id"])
    assert KAEL not in last_chat(fake)[0]

    story = server.api("GET", f"/api/stories/{tale['id']}").json()
    saved = server.api("PATCH", f"/api/stories/{tale['id']}", json={
        "base_revision": story["revision"], "content": story["content"] + " Kael whistled from the dark."})
    assert saved.status_code == 200, saved.text
    view = server.api("GET", f"/api/stories/{tale['id']}/prompt").json()
    assert view["context"]["lorebook"] == [
        {"name": "Kael", "tokens": 10, "always": False, "sent": True},
        {"name": "Atlas", "tokens": 68, "always": False, "sent": False},
    ]
    assert view["tokenizer"] == ("llama.cpp" if kind == "openai_compatible" else "estimate")

    generation_id = continue_story(server, tale["id"])["taleweaver"]["generation_id"]
    sent = last_chat(fake)
    assert sent == [message["content"] for message in view["messages"]]
    assert KAEL in sent[0] and "An atlas" not in sent[0]
    kept = server.api("GET", f"/proxy/llm/v1/generations/{generation_id}/prompt").json()
    assert [message["content"] for message in kept["messages"]] == sent


def test_the_library_backup_carries_the_lorebook(server):
    tale = new_story(server, settings={"lorebook": LOREBOOK})
    backup = server.api("GET", "/api/stories/backup").json()
    kept = next(entry for entry in backup["stories"] if entry["title"] == tale["title"])
    assert [entry["name"] for entry in kept["settings"]["lorebook"]["entries"]] == ["Kael", "Atlas"]


SAMPLERS = {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1,
            "presence_penalty": 0.2, "frequency_penalty": 0.3, "seed": 7, "stop": ["THE END"], "max_tokens": 100,
            "context_length": 8192}
# Where each backend's request carries each sampler (llm/samplers.py; absent: not sent).
RECEIVED_AS = {
    "ollama": {"temperature": "options.temperature", "top_p": "options.top_p", "top_k": "options.top_k",
               "min_p": "options.min_p", "repetition_penalty": "options.repeat_penalty",
               "presence_penalty": "options.presence_penalty", "frequency_penalty": "options.frequency_penalty",
               "seed": "options.seed", "stop": "options.stop", "max_tokens": "options.num_predict",
               "context_length": "options.num_ctx"},
    "lmstudio": {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "repetition_penalty": "repeat_penalty",
                 "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty", "seed": "seed",
                 "stop": "stop", "max_tokens": "max_tokens"},
    "chatgpt": {"temperature": "temperature", "top_p": "top_p", "presence_penalty": "presence_penalty",
                "frequency_penalty": "frequency_penalty", "seed": "seed", "stop": "stop", "max_tokens": "max_tokens"},
    "openai_compatible": {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "min_p": "min_p",
                          "repetition_penalty": "repeat_penalty", "presence_penalty": "presence_penalty",
                          "frequency_penalty": "frequency_penalty", "seed": "seed", "stop": "stop",
                          "max_tokens": "max_tokens"},
}


def received(body: dict, where: str):
    for step in where.split("."):
        body = body.get(step) if isinstance(body, dict) else None
    return body


@pytest.mark.parametrize("kind", KINDS)
def test_a_story_generation_sends_each_sampler_under_the_backends_own_name(server, fake_factory, kind):
    fake = fake_factory(kind, reply=" The tide turned.")
    configure_fake(server, fake, default_model="gpt-4o-mini" if kind == "chatgpt" else fake.models[0])
    tale = new_story(server, content="Mira waited at the gate.")
    response = server.api("POST", "/proxy/llm/v1/chat/completions", json={
        "stream": False, "taleweaver": {"story_id": tale["id"], "action": "continue"}, **SAMPLERS})
    assert response.status_code == 200, response.text
    body = [r["json"] for r in fake.requests if r["method"] == "POST" and "chat" in r["path"]][-1]
    assert {name: received(body, where) for name, where in RECEIVED_AS[kind].items()} == \
        {name: SAMPLERS[name] for name in RECEIVED_AS[kind]}
    not_sent = set(SAMPLERS) - set(RECEIVED_AS[kind])
    assert not not_sent & (set(body) | set(body.get("options") or {}))
    generation = server.api("GET", f"/proxy/llm/v1/generations/{response.json()['taleweaver']['generation_id']}").json()
    if kind == "ollama":
        assert generation["context"]["context_length"] == 8192
        assert generation["context"]["context_source"] == "your context size"


COMPLETION_PATHS = {"ollama": "/api/generate", "lmstudio": "/v1/completions", "chatgpt": "/v1/completions",
                    "openai_compatible": "/v1/completions"}
TALE = "Mira waited at the gate. The tide came in, and with it"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("template", ["none", "chatml"])
def test_completion_mode_sends_the_story_as_the_prompt_and_the_templates_stop_strings(server, fake_factory, kind, template):
    models = {"models": ["gpt-3.5-turbo-instruct"]} if kind == "chatgpt" else {}
    fake = fake_factory(kind, reply=" a boat.", **models)
    configure_fake(server, fake, default_model=fake.models[0])
    tale = new_story(server, content=TALE, memory="Mira is a fox.",
                     settings={"mode": "completion", "template": template, "lorebook": LOREBOOK})
    view = server.api("GET", f"/api/stories/{tale['id']}/prompt").json()
    response = server.api("POST", "/proxy/llm/v1/chat/completions", json={
        "stream": False, "stop": ["THE END"], "taleweaver": {"story_id": tale["id"], "action": "continue"}})
    assert response.status_code == 200, response.text
    assert server.api("GET", f"/api/stories/{tale['id']}").json()["content"] == TALE + " a boat."

    body = [r["json"] for r in fake.requests if r["method"] == "POST" and r["path"] == COMPLETION_PATHS[kind]][-1]
    assert "messages" not in body and body["prompt"] == view["messages"][0]["content"]
    assert body["prompt"].endswith(TALE)
    stop = body["options"]["stop"] if kind == "ollama" else body["stop"]
    if template == "none":
        assert body["prompt"] == "Mira is a fox.\n\n" + TALE and stop == ["THE END"]
    else:
        assert body["prompt"].startswith("<|im_start|>system\n") and "<|im_start|>assistant\n" + TALE in body["prompt"]
        assert stop == ["THE END", *view["template_stop"]] and "<|im_end|>" in stop
    if kind == "ollama":
        assert body["raw"] is True


def test_the_models_own_template_is_rendered_by_llama_cpp_and_the_story_goes_on_in_it(server, fake_factory):
    fake = fake_factory("openai_compatible", reply=" a boat.")
    configure_fake(server, fake, default_model=fake.models[0])
    tale = new_story(server, content=TALE, memory="Mira is a fox.", settings={"mode": "completion", "template": "model"})
    view = server.api("GET", f"/api/stories/{tale['id']}/prompt").json()
    response = server.api("POST", "/proxy/llm/v1/chat/completions", json={
        "stream": False, "taleweaver": {"story_id": tale["id"], "action": "continue"}})
    assert response.status_code == 200, response.text
    rendered = [r["json"] for r in fake.requests if r["path"] == "/apply-template"][-1]
    assert [m["role"] for m in rendered["messages"]] == ["system", "user"]
    body = [r["json"] for r in fake.requests if r["method"] == "POST" and r["path"] == "/v1/completions"][-1]
    assert body["prompt"] == view["messages"][0]["content"]
    assert body["prompt"].startswith("<|im_start|>system\n") and body["prompt"].endswith("<|im_start|>assistant\n" + TALE)
