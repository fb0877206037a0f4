"""The writer's control of the prompt in Chromium, driven by roles and labels: a lorebook entry
typed in the side panel is sent only once its key is in the story, the context meter names it, the
Prompt view shows exactly what the backend then receives (and the generation's kept prompt shows it
again), a SillyTavern World Info file imports with notes on what was approximated, and every
sampler set on the page reaches the backend under its name or says it is not sent there."""
from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.browser.flows import active_fake, expect_story_text, wait_until

KAEL = "Kael is a smuggler with a silver hand."
OPENING = "Mira waited at the gate."
WORLD_INFO = {"entries": {
    "0": {"uid": 0, "comment": "Owl", "key": ["owl"], "keysecondary": ["night"], "selective": True, "content": "The owl keeps the ledger.",
          "constant": False, "disable": False, "order": 100, "position": 0},
}}


def shown_messages(page) -> list[str]:
    """Each message of the Prompt view as its parts' texts joined (the labels are not part of it)."""
    return page.get_by_test_id("prompt-message").evaluate_all(
        "sections => sections.map(s => [...s.querySelectorAll('[data-testid=prompt-part]')].map(p => p.textContent).join(''))")


def chat_requests(fake) -> list[dict]:
    return [r["json"] for r in fake.requests if r["method"] == "POST" and "chat" in r["path"]]


def new_story_with_controls(page, watch, server, premise: str, text: str | None = None):
    """A new story of that premise (and text), its Generation settings opened; the settings."""
    watch.goto(server.url + "/")
    page.get_by_label("Premise").fill(premise)
    if text is not None:
        page.get_by_test_id("story-output").fill(text)
    controls = page.get_by_test_id("generation-controls")
    controls.locator("summary").click()
    return controls


def test_a_lorebook_entry_goes_into_the_prompt_the_page_shows_once_its_key_appears(watched, server, tmp_path):
    page, watch = watched
    with active_fake(server, "ollama", chunk_delay=0.0) as fake:
        fake.reply = " Kael came at last."
        watch.goto(server.url + "/")
        page.get_by_label("Premise").fill("A smuggler's debt comes due.")
        page.get_by_test_id("story-output").fill(OPENING)
        expect(page.get_by_test_id("save-status")).to_have_text("Saved")

        lorebook = page.get_by_test_id("lorebook")
        lorebook.locator("summary").click()
        lorebook.get_by_role("button", name="Add entry").click()
        lorebook.get_by_label("Name").fill("Kael")
        lorebook.get_by_label("Keys").fill("kael, the smuggler")
        lorebook.get_by_label("Text").fill(KAEL)
        expect(lorebook.get_by_label("Enabled")).to_be_checked()
        expect(page.get_by_test_id("save-status")).to_have_text("Saved")

        page.get_by_role("button", name="Prompt", exact=True).click()
        expect(page.get_by_test_id("prompt-view")).to_contain_text("estimated, on the long side")
        assert KAEL not in "".join(shown_messages(page))

        page.get_by_test_id("story-output").fill(OPENING + " Then Kael whistled.")
        expect(page.get_by_test_id("save-status")).to_have_text("Saved")
        expect(page.get_by_test_id("context-lorebook")).to_contain_text("Kael (≈ 10 tokens): sent")
        page.get_by_role("button", name="Prompt", exact=True).click()
        expect(page.get_by_test_id("prompt-view").get_by_text("[Lorebook: Kael]")).to_be_visible()
        shown = shown_messages(page)
        assert KAEL in shown[0]

        page.get_by_test_id("continue-button").click()
        expect(page.get_by_test_id("stop-button")).to_have_count(0, timeout=30_000)
        expect_story_text(page, OPENING + " Then Kael whistled. Kael came at last.")
        wait_until(lambda: chat_requests(fake), "the fake received the generation")
        assert [m["content"] for m in chat_requests(fake)[-1]["messages"]] == shown

        page.get_by_role("button", name="Last generation's prompt").click()
        expect(page.get_by_test_id("prompt-view")).to_contain_text("What generation")
        assert shown_messages(page) == shown


def test_a_sillytavern_world_info_file_imports_with_notes_and_exports_again(watched, server, tmp_path):
    page, watch = watched
    with active_fake(server, "ollama", chunk_delay=0.0):
        watch.goto(server.url + "/")
        page.get_by_label("Premise").fill("An owl audits the forest.")
        expect(page.get_by_test_id("save-status")).to_have_text("Saved")
        world_info = tmp_path / "world.json"
        world_info.write_text(json.dumps(WORLD_INFO))
        lorebook = page.get_by_test_id("lorebook")
        lorebook.locator("summary").click()
        page.get_by_label("Lorebook file").set_input_files(str(world_info))
        expect(page.get_by_test_id("lorebook-notes")).to_contain_text("1 entry had secondary keys")
        expect(lorebook.get_by_label("Text")).to_have_value("The owl keeps the ledger.")
        expect(page.get_by_test_id("save-status")).to_have_text("Saved")

        with page.expect_download() as download:
            lorebook.get_by_role("button", name="Export lorebook").click()
        exported = json.loads(open(download.value.path()).read())
        assert [(e["name"], e["keys"], e["text"]) for e in exported["entries"]] == [("Owl", ["owl"], "The owl keeps the ledger.")]
        page.reload()
        expect(page.get_by_test_id("lorebook").locator("summary")).to_have_text("Lorebook (1)")


def test_samplers_set_on_the_page_reach_ollama_and_chatgpt_says_what_it_does_not_take(watched, server):
    page, watch = watched
    with active_fake(server, "ollama", chunk_delay=0.0) as fake:
        fake.reply = " The tide turned."
        controls = new_story_with_controls(page, watch, server, "A harbour at low tide.", "Mira waited.")
        controls.get_by_label("Top k").fill("40")
        controls.get_by_label("Min p").fill("0.05")
        controls.get_by_label("Repetition penalty").fill("1.1")
        controls.get_by_label("Seed").fill("7")
        controls.get_by_label("Stop strings").fill("THE END")
        controls.get_by_label("Context size (tokens)").fill("8192")
        expect(controls).to_contain_text("Ollama reloads the model when the context size changes")
        expect(page.get_by_test_id("save-status")).to_have_text("Saved")
        page.get_by_test_id("continue-button").click()
        expect(page.get_by_test_id("stop-button")).to_have_count(0, timeout=30_000)
        wait_until(lambda: chat_requests(fake), "the fake received the generation")
        options = chat_requests(fake)[-1]["options"]
        assert (options["top_k"], options["min_p"], options["repeat_penalty"], options["seed"], options["stop"],
                options["num_ctx"]) == (40, 0.05, 1.1, 7, ["THE END"], 8192)
        expect(page.get_by_test_id("context-meter")).to_contain_text("of 8,192 tokens (from your context size")

    with active_fake(server, "chatgpt", chunk_delay=0.0, api_key="sk-browser-test-secret-4242424242"):
        page.reload()
        controls = page.get_by_test_id("generation-controls")
        controls.locator("summary").click()
        expect(controls.get_by_test_id("not-sent-top_k")).to_have_text("not sent to ChatGPT: OpenAI's API has no such setting.")
        expect(controls.get_by_test_id("not-sent-context_length")).to_contain_text("not sent to ChatGPT")
        expect(controls.get_by_label("Top k")).to_have_value("40")


def test_text_completion_mode_with_a_template_sends_the_prompt_the_page_shows(watched, server):
    page, watch = watched
    with active_fake(server, "openai_compatible", chunk_delay=0.0) as fake:
        fake.reply = " a boat."
        controls = new_story_with_controls(page, watch, server, "A harbour at low tide.", "The tide came in, and with it")
        controls.get_by_label("Mode", exact=True).select_option(label="Text completion")
        controls.get_by_label("Template").select_option(label="ChatML")
        expect(page.get_by_test_id("save-status")).to_have_text("Saved")

        page.get_by_role("button", name="Prompt", exact=True).click()
        expect(page.get_by_test_id("prompt-template")).to_contain_text('template chatml; its stop strings: "<|im_end|>"')
        expect(page.get_by_test_id("prompt-view").get_by_role("heading", name="Completion prompt")).to_be_visible()
        shown = shown_messages(page)

        page.get_by_test_id("continue-button").click()
        expect(page.get_by_test_id("stop-button")).to_have_count(0, timeout=30_000)
        expect_story_text(page, "The tide came in, and with it a boat.")
        sent = [r["json"] for r in fake.requests if r["method"] == "POST" and r["path"] == "/v1/completions"][-1]
        assert [sent["prompt"]] == shown and "messages" not in sent
        assert sent["prompt"].endswith("<|im_start|>assistant\nThe tide came in, and with it")
        assert "<|im_end|>" in sent["stop"]


def test_sampler_settings_are_saved_as_a_preset_applied_renamed_exported_and_deleted(watched, server):
    page, watch = watched
    with active_fake(server, "ollama", chunk_delay=0.0):
        controls = new_story_with_controls(page, watch, server, "A preset for the harbour.")
        controls.get_by_label("Top k").fill("40")
        controls.get_by_label("Preset name").fill("Harbour")
        controls.get_by_role("button", name="Save as preset").click()
        expect(controls.get_by_label("Saved preset")).to_have_value(re.compile(r"\d+"))
        controls.get_by_label("Top k").fill("7")
        controls.get_by_role("button", name="Apply preset").click()
        expect(controls.get_by_label("Top k")).to_have_value("40")

        controls.get_by_label("Preset name").fill("Low tide")
        controls.get_by_role("button", name="Rename preset").click()
        expect(controls.get_by_label("Saved preset").locator("option:checked")).to_have_text("Low tide")
        with page.expect_download() as download:
            controls.get_by_role("button", name="Export presets").click()
        exported = json.loads(open(download.value.path()).read())
        assert [(p["name"], p["settings"]["top_k"]) for p in exported["presets"]] == [("Low tide", 40)]
        controls.get_by_role("button", name="Delete preset").click()
        expect(controls.get_by_label("Saved preset").locator("option")).to_have_count(1)
