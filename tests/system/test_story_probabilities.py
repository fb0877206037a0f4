"""Token probabilities kept with a story's text (issue 24) through the real server: a story that
shows them asks its backend's fake for the top 5 and keeps them lined up with the stored text —
after the reasoning was moved out — served after the server restarts; an edit keeps those it did
not touch; a backend without them generates anyway and the story says so."""
from __future__ import annotations

from tests.support import configure_fake, new_story

REPLY = "The keeper lit the lamp and the ships turned home."
WORDS = REPLY.split(" ")
TOKENS = [WORDS[0]] + [" " + word for word in WORDS[1:]]


def generate(server, story_id: int) -> dict:
    response = server.api("POST", "/proxy/llm/v1/chat/completions",
                          json={"taleweaver": {"story_id": story_id, "action": "continue"}, "stream": False})
    assert response.status_code == 200, response.text
    return response.json()


def probabilities(server, story_id: int) -> dict:
    response = server.api("GET", f"/api/stories/{story_id}/probabilities")
    assert response.status_code == 200, response.text
    return response.json()


def generated_story(server, fake_factory, **fields) -> tuple:
    """(llama.cpp's fake, a story that shows probabilities with REPLY generated after "At dusk")."""
    fake = fake_factory("openai_compatible", reply=REPLY)
    configure_fake(server, fake, default_model=fake.models[0])
    story = new_story(server, "A lighthouse", content="At dusk", settings={"show_probabilities": True}, **fields)
    generate(server, story["id"])
    return fake, story


def test_a_generation_keeps_its_probabilities_lined_up_after_its_reasoning_moved_out(server, fake_factory):
    fake = fake_factory("openai_compatible", reply=REPLY, reasoning="I should light it.", reasoning_inline=True)
    configure_fake(server, fake, default_model=fake.models[0])
    story = new_story(server, "A lighthouse", content="At dusk",
                      settings={"show_probabilities": True, "max_tokens": 40})
    before = server.api("GET", "/api/stories/storage").json()["used_bytes"]

    answer = generate(server, story["id"])

    sent = [r["json"] for r in fake.requests if r["path"].endswith("/chat/completions")][-1]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 5
    content = server.api("GET", f"/api/stories/{story['id']}").json()["content"]
    assert answer["choices"][0]["message"]["reasoning_content"] == "I should light it."
    assert "<think>" not in content and content.endswith(REPLY)
    server.stop()
    server.start()
    tokens = probabilities(server, story["id"])["tokens"]
    assert [t["token"] for t in tokens] == TOKENS
    assert all(content[t["start"]:t["stop"]] == t["token"] for t in tokens)
    assert all(len(t["top"]) == 5 and t["top"][0]["token"] == t["token"] for t in tokens)
    assert server.api("GET", "/api/stories/storage").json()["used_bytes"] > before + len(TOKENS) * 5 * 8


def test_an_edit_keeps_the_probabilities_of_the_words_it_did_not_touch(server, fake_factory):
    _, story = generated_story(server, fake_factory)
    document = server.api("GET", f"/api/stories/{story['id']}").json()
    edited = document["content"].replace(" lamp", " great lantern")
    saved = server.api("PATCH", f"/api/stories/{story['id']}",
                       json={"content": edited, "base_revision": document["revision"]})
    assert saved.status_code == 200, saved.text

    tokens = probabilities(server, story["id"])["tokens"]

    assert [t["token"] for t in tokens] == [t for t in TOKENS if t != " lamp"]
    assert all(edited[t["start"]:t["stop"]] == t["token"] for t in tokens)


def test_a_backend_without_probabilities_generates_and_the_story_says_so(server, fake_factory):
    fake = fake_factory("lmstudio", reply=REPLY)
    configure_fake(server, fake, default_model=fake.models[0])
    story = new_story(server, "A lighthouse", content="At dusk", settings={"show_probabilities": True})

    generate(server, story["id"])

    assert server.api("GET", f"/api/stories/{story['id']}").json()["content"].endswith(REPLY)
    answer = probabilities(server, story["id"])
    assert answer["tokens"] == [] and answer["note"] == "Probabilities are not available from LM Studio."
    sent = [r["json"] for r in fake.requests if r["path"].endswith("/chat/completions")]
    assert sent and "logprobs" not in sent[-1]


def test_a_reroll_continues_from_the_alternative_and_keeps_the_road_not_taken(server, fake_factory):
    fake, story = generated_story(server, fake_factory)
    before = server.api("GET", f"/api/stories/{story['id']}").json()
    lamp = next(t for t in probabilities(server, story["id"])["tokens"] if t["token"] == " lamp")
    choice = lamp["top"][1]["token"]
    outside = server.api("POST", "/proxy/llm/v1/chat/completions", json={"stream": False, "taleweaver": {
        "story_id": story["id"], "action": "continue", "reroll": {"at": 2, "text": choice}}})
    assert outside.status_code == 409 and outside.json()["error"]["code"] == "nothing_to_reroll"

    response = server.api("POST", "/proxy/llm/v1/chat/completions", json={"stream": False, "taleweaver": {
        "story_id": story["id"], "action": "continue", "reroll": {"at": lamp["start"], "text": choice}}})

    assert response.status_code == 200, response.text
    prompt = [r["json"] for r in fake.requests if r["path"].endswith("/chat/completions")][-1]["messages"]
    kept = before["content"][:lamp["start"]] + choice
    assert prompt[-1] == {"role": "assistant", "content": kept[before["alternatives"]["start"]:]}
    assert prompt[-1]["content"].endswith(" lit the" + choice)
    after = server.api("GET", f"/api/stories/{story['id']}").json()
    assert after["content"] == kept + REPLY and after["alternatives"]["count"] == 2
    assert after["revision"] == before["revision"] + 1  # the 409 changed nothing
    rerolled = [t["token"] for t in probabilities(server, story["id"])["tokens"]]
    assert rerolled == TOKENS[:TOKENS.index(" lamp")] + TOKENS  # the words before the choice keep theirs
    undone = server.api("POST", f"/api/stories/{story['id']}/undo", json={"base_revision": after["revision"]})
    assert undone.status_code == 200, undone.text
    assert undone.json()["content"] == before["content"]


def test_the_backup_holds_the_probabilities_and_its_import_serves_them(server, fake_factory):
    _, story = generated_story(server, fake_factory, title="Kept tale")
    exported = server.api("GET", "/api/stories/backup").json()
    exported["stories"] = [entry for entry in exported["stories"] if entry["title"] == "Kept tale"]

    imported = server.api("POST", "/api/stories/import", json=exported)

    assert imported.status_code == 201, imported.text
    copy = max(s["id"] for s in server.api("GET", "/api/stories").json()["stories"])
    assert copy != story["id"]
    assert probabilities(server, copy)["tokens"] == probabilities(server, story["id"])["tokens"]
    assert [t["token"] for t in probabilities(server, copy)["tokens"]] == TOKENS
