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
