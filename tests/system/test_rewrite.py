""""Rewrite" through the real server (gunicorn, 2 workers) and a fake backend on loopback: the
proposals for a selection are versions of its range kept on the server (a reload mid-proposal
finds them), the story's text does not change until one is accepted, accepting replaces exactly
the selection (one undo step), Try again adds a version, Discard leaves the text as it was."""
from __future__ import annotations

import functools

import pytest

from tests import support
from tests.support import configure_fake, wait_for

BEFORE = "Mira counted to ten. "
SELECTED = "The door opened and the cold came in."
AFTER = " «Ça va», said the fox 🦊.\r\nThe end.\n"
INSTRUCTION = "More vivid"

new_story = functools.partial(support.new_story, premise="A fox who counts the snowflakes")


story = support.story_of


def rewrite(server, story_id: int, start: int = len(BEFORE), stop: int = len(BEFORE + SELECTED),
            instruction=INSTRUCTION, stream: bool = False):
    return server.api(
        "POST", "/proxy/llm/v1/chat/completions", stream=stream,
        json={"stream": stream, "taleweaver": {"story_id": story_id, "action": "rewrite", "start": start,
                                               "stop": stop, "instruction": instruction}},
    )


def choose(server, story_id: int, what: str, **body) -> dict:
    revision = story(server, story_id)["revision"]
    response = server.api("POST", f"/api/stories/{story_id}/proposal/{what}", json={"base_revision": revision, **body})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def lmstudio(server, fake_factory):
    fake = fake_factory("lmstudio", reply="The door flew wide; winter poured in like water.")
    configure_fake(server, fake, default_model=fake.models[0])
    return fake


def test_a_proposal_waits_beside_the_text_and_accepting_replaces_exactly_the_selection(server, lmstudio):
    tale = new_story(server, content=BEFORE + SELECTED + AFTER)
    assert rewrite(server, tale["id"]).status_code == 200
    proposed = story(server, tale["id"])
    assert proposed["content"] == BEFORE + SELECTED + AFTER  # nothing changes until the writer chooses
    assert proposed["proposal"] == {"start": len(BEFORE), "stop": len(BEFORE + SELECTED), "chosen": 1,
                                    "versions": [SELECTED, lmstudio.reply]}
    user = [r["json"] for r in lmstudio.requests if r["path"].endswith("/chat/completions")][-1]["messages"][1]["content"]
    assert SELECTED in user and "The author asks: More vivid" in user and BEFORE.strip() in user

    lmstudio.reply = "The door gave; the cold walked in."
    assert rewrite(server, tale["id"]).status_code == 200  # Try again: another version of the same range
    assert story(server, tale["id"])["proposal"]["versions"] == [SELECTED, "The door flew wide; winter poured in "
                                                                 "like water.", lmstudio.reply]

    accepted = choose(server, tale["id"], "accept", index=1)
    assert accepted["content"] == BEFORE + "The door flew wide; winter poured in like water." + AFTER
    assert accepted["content"].encode().endswith(AFTER.encode()) and accepted["proposal"] is None
    undone = server.api("POST", f"/api/stories/{tale['id']}/undo", json={"base_revision": accepted["revision"]})
    assert undone.json()["content"] == BEFORE + SELECTED + AFTER  # one undo step


def test_discard_leaves_the_text_as_it_was(server, lmstudio):
    tale = new_story(server, content=BEFORE + SELECTED + AFTER)
    rewrite(server, tale["id"])
    discarded = choose(server, tale["id"], "discard")
    assert discarded["content"] == BEFORE + SELECTED + AFTER and discarded["proposal"] is None
    refused = server.api("POST", f"/api/stories/{tale['id']}/proposal/accept",
                         json={"base_revision": discarded["revision"], "index": 1})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_proposal"


def test_a_reload_mid_proposal_finds_it_and_the_text_unchanged(server, fake_factory):
    words = " ".join(f"gust{i}" for i in range(30))
    fake = fake_factory("ollama", reply=words, chunk_delay=0.1)
    configure_fake(server, fake, default_model=fake.models[0])
    tale = new_story(server, content=BEFORE + SELECTED + AFTER)
    response = rewrite(server, tale["id"], stream=True)
    live = wait_for(lambda: (lambda s: s if s["active_generation"] and s["active_generation"]["text_length"] > 10
                             else None)(story(server, tale["id"])))
    assert live["content"] == BEFORE + SELECTED + AFTER
    assert live["active_generation"]["action"] == "rewrite"
    assert live["proposal"] == {"start": len(BEFORE), "stop": len(BEFORE + SELECTED), "chosen": 0, "versions": [SELECTED]}
    response.close()
    ended = wait_for(lambda: (lambda s: s if not s["active_generation"] else None)(story(server, tale["id"])))
    assert ended["proposal"]["versions"] == [SELECTED, words] and ended["content"] == BEFORE + SELECTED + AFTER


def test_an_edit_elsewhere_makes_the_proposal_stale(server, lmstudio):
    tale = new_story(server, content=BEFORE + SELECTED + AFTER)
    rewrite(server, tale["id"])
    current = story(server, tale["id"])
    edited = server.api("PATCH", f"/api/stories/{tale['id']}",
                        json={"base_revision": current["revision"], "content": "Mira counted to nine. " + SELECTED + AFTER})
    assert edited.status_code == 200 and edited.json()["proposal"] is None


@pytest.mark.parametrize("extension, field", [
    ({"start": 5, "stop": 5}, "taleweaver.start"),
    ({"start": 0, "stop": 10_000}, "taleweaver.stop"),
    ({"start": 0, "stop": 5, "instruction": " "}, "taleweaver.instruction"),
    ({"start": 0, "stop": 5, "instruction": "x" * 501}, "taleweaver.instruction"),
    ({"start": 0, "stop": 5, "position": 2}, "taleweaver.position"),
])
def test_a_bad_rewrite_request_is_refused_and_nothing_is_kept(server, lmstudio, extension, field):
    tale = new_story(server, content=BEFORE + SELECTED + AFTER)
    body = {"action": "rewrite", "instruction": INSTRUCTION, **extension}
    response = server.api("POST", "/proxy/llm/v1/chat/completions", json={"taleweaver": {"story_id": tale["id"], **body}})
    assert response.status_code == 400 and response.json()["error"]["param"] == field
    after = story(server, tale["id"])
    assert after["content"] == BEFORE + SELECTED + AFTER and after["proposal"] is None
