"""The writing studio through the real server (gunicorn, 2 workers) and the fake backends on
loopback: continue builds its prompt within the model's context, regenerate keeps alternatives,
undo/redo, stats from each backend's usage, the library and its backup round trip."""
from __future__ import annotations

import functools
import json

import pytest

from tests import support
from tests.support import TaleweaverServer, configure_fake, wait_for

KINDS = ("lmstudio", "ollama", "chatgpt", "openai_compatible")
MEMORY = "Mira is a fox who counts everything; she lives under the old mill."
NOTE = "Keep it quiet and wintry; the mill burns down soon."


new_story = functools.partial(support.new_story, premise="A fox who counts the snowflakes")


story = support.story_of


def act(server, story_id: int, action: str, **params) -> dict:
    """Run a studio action to its end (no stream) and return the story after it."""
    response = server.api(
        "POST", "/proxy/llm/v1/chat/completions",
        json={"stream": False, "taleweaver": {"story_id": story_id, "action": action}, **params},
    )
    assert response.status_code == 200, response.text
    assert response.json()["taleweaver"]["status"] == "finished"
    return story(server, story_id)


def chat_requests(fake) -> list[dict]:
    return [r["json"] for r in fake.requests if r["method"] == "POST" and "chat" in r["path"]]


def write(server, story_id: int, path: str, **body) -> dict:
    revision = story(server, story_id)["revision"]
    response = server.api("POST", f"/api/stories/{story_id}/{path}", json={"base_revision": revision, **body})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def llama(server, fake_factory):
    """llama-server with a small context (1,024 tokens), replying a short sentence."""
    fake = fake_factory("openai_compatible", reply="Snow fell on the mill.", context_length=1024)
    configure_fake(server, fake, default_model=fake.models[0])
    return fake


def test_continue_sends_memory_premise_note_and_the_tail_of_the_text_within_the_context(server, llama):
    words = [f"word{i}" for i in range(3000)]  # about 27,000 characters: far beyond 1,024 tokens
    tale = new_story(server, memory=MEMORY, authors_note=NOTE, content=" ".join(words) + ".")
    after = act(server, tale["id"], "continue", max_tokens=128)

    sent = chat_requests(llama)[-1]
    system, user = sent["messages"][0]["content"], sent["messages"][1]["content"]
    assert MEMORY in system
    assert "A fox who counts the snowflakes" in user and NOTE in user
    assert "word2999." in user  # the tail of the text is there
    assert "word0 " not in user and "word100 " not in user  # the oldest text is trimmed
    estimated = sum(len(m["content"]) for m in sent["messages"]) / 4 + 128
    assert estimated <= 1024
    context = after["last_generation"]["context"]
    assert context["context_length"] == 1024 and context["context_source"] == "llama.cpp n_ctx"
    assert context["trimmed"] is True and context["trimmed_chars"] > 20_000
    assert after["content"] == " ".join(words) + ". Snow fell on the mill."


def test_the_context_preview_says_what_a_continue_would_trim(server, llama):
    tale = new_story(server, memory=MEMORY, content="old text " * 4000)
    preview = server.api("GET", f"/api/stories/{tale['id']}/context?max_tokens=200").json()
    assert preview["context_length"] == 1024 and preview["max_tokens"] == 200
    assert preview["trimmed"] is True and preview["memory_tokens"] == len(MEMORY) // 4 + 1
    short = new_story(server, content="A short beginning.")
    assert server.api("GET", f"/api/stories/{short['id']}/context").json()["trimmed"] is False


def test_memory_that_does_not_fit_is_refused_rather_than_trimmed(server, llama):
    tale = new_story(server, memory="remember this " * 400, content="Some text.")
    response = server.api(
        "POST", "/proxy/llm/v1/chat/completions",
        json={"stream": False, "max_tokens": 128, "taleweaver": {"story_id": tale["id"], "action": "continue"}},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert "memory" in response.json()["error"]["message"].lower()
    assert chat_requests(llama) == []  # nothing reached the backend


def test_continue_does_not_repeat_the_last_sentence_the_model_repeats(server, fake_factory):
    fake = fake_factory("ollama", reply="She opened the door. Then the cold came in.")
    configure_fake(server, fake, default_model=fake.models[0])
    tale = new_story(server, content="Mira counted to ten. She opened the door.")
    after = act(server, tale["id"], "continue")
    assert after["content"] == "Mira counted to ten. She opened the door. Then the cold came in."
    assert "Do not repeat the last sentence" in chat_requests(fake)[-1]["messages"][1]["content"]


def test_continue_after_a_length_stop_and_after_the_users_edit_goes_on_from_the_edited_text(server, fake_factory):
    fake = fake_factory("lmstudio", reply="one two three four five six seven eight")
    configure_fake(server, fake, default_model=fake.models[0])
    tale = new_story(server, content="The start.")
    response = server.api(
        "POST", "/proxy/llm/v1/chat/completions",
        json={"stream": False, "max_tokens": 3, "taleweaver": {"story_id": tale["id"], "action": "continue"}},
    )
    assert response.json()["choices"][0]["finish_reason"] == "length"
    cut = story(server, tale["id"])
    assert cut["last_generation"]["finish_reason"] == "length"
    edited = server.api("PATCH", f"/api/stories/{tale['id']}",
                        json={"base_revision": cut["revision"], "content": cut["content"] + " The fox sat."}).json()
    after = act(server, tale["id"], "continue")
    assert "The fox sat." in chat_requests(fake)[-1]["messages"][1]["content"]
    assert after["content"].startswith(edited["content"] + " one two")


def test_regenerate_keeps_the_alternatives_and_one_is_chosen_and_kept_over_a_reload(server, fake_factory):
    fake = fake_factory("chatgpt", reply="The first version.")
    configure_fake(server, fake, default_model="gpt-4o-mini")
    tale = new_story(server, content="Once.")
    first = act(server, tale["id"], "continue")
    assert first["content"] == "Once. The first version."
    assert first["alternatives"] == {"start": len("Once."), "chosen": 0, "count": 1}

    fake.reply = "The second version."
    second = act(server, tale["id"], "regenerate")
    assert second["content"] == "Once. The second version."
    assert second["alternatives"] == {"start": len("Once."), "chosen": 1, "count": 2}
    # The regeneration's prompt continues the text before the passage, not the passage.
    assert "The first version." not in chat_requests(fake)[-1]["messages"][1]["content"]

    chosen = write(server, tale["id"], "alternatives", index=0)
    assert chosen["content"] == "Once. The first version."
    reloaded = story(server, tale["id"])
    assert reloaded["content"] == "Once. The first version."
    assert reloaded["alternatives"] == {"start": len("Once."), "chosen": 0, "count": 2}


def test_an_edited_passage_stays_a_version_when_another_is_chosen(server, fake_factory):
    fake = fake_factory("ollama", reply="Generated words.")
    configure_fake(server, fake, default_model=fake.models[0])
    tale = new_story(server, content="Start.")
    generated = act(server, tale["id"], "continue")
    server.api("PATCH", f"/api/stories/{tale['id']}",
               json={"base_revision": generated["revision"], "content": "Start. Generated words, edited."})
    fake.reply = "Other words."
    regenerated = act(server, tale["id"], "regenerate")
    assert regenerated["alternatives"]["count"] == 3  # generated, edited, other
    versions = [write(server, tale["id"], "alternatives", index=i)["content"] for i in range(3)]
    assert versions == ["Start. Generated words.", "Start. Generated words, edited.", "Start. Other words."]


def test_undo_and_redo_step_over_generations_edits_and_chosen_versions(server, fake_factory):
    fake = fake_factory("openai_compatible", reply="Alpha.")
    configure_fake(server, fake, default_model=fake.models[0])
    tale = new_story(server, content="Begin.")
    act(server, tale["id"], "continue")                              # Begin. Alpha.
    fake.reply = "Beta."
    act(server, tale["id"], "regenerate")                            # Begin. Beta.
    write(server, tale["id"], "alternatives", index=0)               # Begin. Alpha.
    now = story(server, tale["id"])
    server.api("PATCH", f"/api/stories/{tale['id']}",
               json={"base_revision": now["revision"], "content": "Begin. Alpha. Mine."})

    texts = []
    for _ in range(4):
        texts.append(write(server, tale["id"], "undo")["content"])
    assert texts == ["Begin. Alpha.", "Begin. Beta.", "Begin. Alpha.", "Begin."]
    undone = story(server, tale["id"])
    assert undone["history"]["can_undo"] is False and undone["history"]["can_redo"] is True
    nothing = server.api("POST", f"/api/stories/{tale['id']}/undo", json={"base_revision": undone["revision"]})
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "nothing_to_undo"

    redone = [write(server, tale["id"], "redo")["content"] for _ in range(2)]
    assert redone == ["Begin. Alpha.", "Begin. Beta."]
    assert story(server, tale["id"])["alternatives"]["chosen"] == 1  # the alternatives came back too
    # A new change drops the redo steps after it.
    now = story(server, tale["id"])
    server.api("PATCH", f"/api/stories/{tale['id']}", json={"base_revision": now["revision"], "content": "New."})
    assert story(server, tale["id"])["history"]["can_redo"] is False


def test_a_stopped_regeneration_that_wrote_nothing_puts_the_passage_back(server, fake_factory):
    fake = fake_factory("ollama", reply="Kept passage.")
    configure_fake(server, fake, default_model=fake.models[0])
    tale = new_story(server, content="Start.")
    act(server, tale["id"], "continue")
    fake.set_fault("stall_after_chunks", chunks=0, seconds=30, times=1)
    started = server.api(
        "POST", "/proxy/llm/v1/chat/completions",
        json={"stream": True, "taleweaver": {"story_id": tale["id"], "action": "regenerate"}}, stream=True,
    )
    generation_id = int(started.headers["X-Taleweaver-Generation"])
    started.close()
    stopped = server.api("POST", f"/proxy/llm/v1/generations/{generation_id}/stop").json()
    assert stopped["status"] == "stopped"
    after = story(server, tale["id"])
    assert after["content"] == "Start. Kept passage."
    assert after["alternatives"]["count"] == 1


@pytest.mark.parametrize("kind", KINDS)
def test_stats_come_from_each_backends_usage(server, fake_factory, kind):
    fake = fake_factory(kind, reply="one two three four five six", context_length=8192)
    model = "gpt-4o" if kind == "chatgpt" else fake.models[0]
    configure_fake(server, fake, default_model=model)
    tale = new_story(server)
    after = act(server, tale["id"], "continue")
    generation = after["last_generation"]
    stats, usage = generation["stats"], generation["usage"]
    assert stats["tokens_source"] == "backend"
    assert stats["completion_tokens"] == usage["completion_tokens"] > 0
    assert stats["prompt_tokens"] == usage["prompt_tokens"]
    assert stats["time_to_first_token_ms"] is not None and stats["elapsed_ms"] >= stats["time_to_first_token_ms"]
    assert stats["tokens_per_second"] is not None and stats["tokens_per_second"] > 0
    if "tokens_per_second" in usage:  # Ollama's eval_duration, llama.cpp's timings: the backend's own figure
        assert stats["tokens_per_second"] == usage["tokens_per_second"]
    assert generation["tokens_per_second"] == stats["tokens_per_second"]
    # What each backend says of the model's context.
    expected = {
        "lmstudio": (8192, "lmstudio loaded_context_length"),
        "ollama": (8192, "ollama num_ctx"),
        "chatgpt": (128_000, "openai published context window"),
        "openai_compatible": (8192, "llama.cpp n_ctx"),
    }[kind]
    assert (generation["context"]["context_length"], generation["context"]["context_source"]) == expected


def test_the_library_searches_title_premise_and_text_and_titles_never_clash(server):
    first = new_story(server, premise="A lighthouse keeper finds a letter. It was never sent.")
    second = new_story(server, premise="A lighthouse keeper finds a letter. It is from herself.")
    assert first["title"] == "A lighthouse keeper finds a letter"
    assert second["title"] == "A lighthouse keeper finds a letter (2)"
    third = new_story(server, premise="Something else", content="The zebra-crossing glowed.")

    def found(query):
        stories = server.api("GET", "/api/stories", params={"q": query}).json()["stories"]
        return {s["id"] for s in stories}

    assert found("zebra-crossing") == {third["id"]}
    assert found("from herself") == {second["id"]}
    assert {first["id"], second["id"]} <= found("lighthouse keeper")
    assert found("100%_") == set()
    by_title = [s["title"] for s in server.api("GET", "/api/stories", params={"sort": "title"}).json()["stories"]]
    assert by_title == sorted(by_title, key=str.lower)


def test_a_story_downloads_as_markdown_and_as_plain_text(server):
    tale = new_story(server, title="The Mill", content="It *snowed*.\n\nThen it stopped.")
    markdown = server.api("GET", f"/api/stories/{tale['id']}/export?format=markdown")
    assert markdown.status_code == 200
    assert markdown.headers["Content-Type"].startswith("text/markdown")
    assert 'attachment; filename=The-Mill.md' in markdown.headers["Content-Disposition"]
    assert markdown.text == "# The Mill\n\n> A fox who counts the snowflakes\n\nIt *snowed*.\n\nThen it stopped.\n"
    text = server.api("GET", f"/api/stories/{tale['id']}/export?format=text")
    assert text.headers["Content-Type"].startswith("text/plain")
    assert text.text == "The Mill\n\nIt *snowed*.\n\nThen it stopped.\n"


def _comparable(backup: dict) -> list[dict]:
    return sorted(
        ({k: v for k, v in s.items()} for s in backup["stories"]), key=lambda s: (s["created_at"], s["title"])
    )


def test_the_library_backup_imports_into_another_install_without_loss(server, fake_factory):
    fake = fake_factory("ollama", reply="First passage.")
    configure_fake(server, fake, default_model=fake.models[0])
    tale = new_story(server, title="Backup tale", memory=MEMORY, authors_note=NOTE,
                     settings={"temperature": 0.7, "top_p": 0.9, "max_tokens": 300}, content="Ünïcode start.")
    act(server, tale["id"], "continue")
    fake.reply = "Second passage."
    act(server, tale["id"], "regenerate")
    backup = server.api("GET", "/api/stories/backup")
    assert backup.status_code == 200 and "attachment" in backup.headers["Content-Disposition"]
    exported = backup.json()
    entry = next(s for s in exported["stories"] if s["title"] == "Backup tale")
    assert entry["alternatives"]["versions"] == [" First passage.", " Second passage."]

    other = TaleweaverServer().start()
    try:
        imported = other.api("POST", "/api/stories/import", json=exported)
        assert imported.status_code == 201, imported.text
        assert imported.json()["imported"] == len(exported["stories"])
        again = other.api("GET", "/api/stories/backup").json()
        assert _comparable(again) == _comparable(exported)
        copy = next(s for s in other.api("GET", "/api/stories").json()["stories"] if s["title"] == "Backup tale")
        flipped = other.api("POST", f"/api/stories/{copy['id']}/alternatives",
                            json={"base_revision": copy["revision"], "index": 0}).json()
        assert flipped["content"] == "Ünïcode start. First passage."
    finally:
        other.close()


def test_import_never_overwrites_an_existing_story(server):
    tale = new_story(server, title="Only once", content="Original text.")
    backup = {"format": "taleweaver-library", "version": 1,
              "stories": [{"title": "Only once", "premise": "p", "content": "Imported text."}]}
    result = server.api("POST", "/api/stories/import", json=backup).json()
    assert result["stories"][0]["title"] == "Only once (2)"
    assert result["stories"][0]["id"] != tale["id"]
    assert story(server, tale["id"])["content"] == "Original text."
    bad = server.api("POST", "/api/stories/import", json={**backup, "stories": [{"content": 5}]})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "stories[0].content"


def test_a_regenerate_without_a_generated_passage_says_what_to_do(server, llama):
    tale = new_story(server, content="Only my words.")
    response = server.api(
        "POST", "/proxy/llm/v1/chat/completions",
        json={"stream": False, "taleweaver": {"story_id": tale["id"], "action": "regenerate"}},
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "nothing_to_regenerate"
    assert "Continue" in response.json()["error"]["message"]
    assert json.loads(json.dumps(story(server, tale["id"])))["content"] == "Only my words."


def test_a_title_derived_from_the_premise_follows_it_and_stays_unique(server):
    first = new_story(server, premise="Two sisters share one dream. Nobody else knows.")
    second = new_story(server, premise="Three brothers share one boat.", title="Two sisters share one dream",
                       auto_title=True)
    assert second["title"] == "Two sisters share one dream (2)" and second["auto_title"] is True
    renamed = server.api("PATCH", f"/api/stories/{second['id']}",
                         json={"base_revision": second["revision"], "premise": "Three brothers share one boat."}).json()
    assert renamed["title"] == "Two sisters share one dream (2)"  # the premise did not change
    moved = server.api("PATCH", f"/api/stories/{first['id']}",
                       json={"base_revision": first["revision"], "premise": "A cat keeps the lighthouse."}).json()
    assert moved["title"] == "A cat keeps the lighthouse" and moved["auto_title"] is True
    named = server.api("PATCH", f"/api/stories/{first['id']}",
                       json={"base_revision": moved["revision"], "title": "My own title"}).json()
    assert named["title"] == "My own title" and named["auto_title"] is False
    kept = server.api("PATCH", f"/api/stories/{first['id']}",
                      json={"base_revision": named["revision"], "premise": "Changed again."}).json()
    assert kept["title"] == "My own title"
