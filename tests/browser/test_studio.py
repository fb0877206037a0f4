"""The writing studio in Chromium, with each of the four backends: generate, edit, continue,
regenerate, flip between the versions, undo, stop, reload (everything still there), export.
With TALEWEAVER_SCREENSHOTS=1 it also saves the README's studio screenshots (desktop and phone)."""
from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_story_text, open_library, story_text, wait_until
from tests.support import configure_fake

KINDS = ["lmstudio", "ollama", "chatgpt", "openai_compatible"]
PREMISE = "The fog learns to sing with {kind}. Nobody believes her."
MEMORY = "Ines keeps the lighthouse; the fog answers only in minor keys."
FIRST = "The fog rolled in at dusk."
SECOND = "Ines climbed the stairs and hummed."
THIRD = "Far out, a ship's bell answered."
SLOW = " ".join(f"note{i}" for i in range(80))
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = os.environ.get("TALEWEAVER_SCREENSHOTS") == "1"


def wait_for_the_end(page) -> None:
    expect(page.get_by_test_id("stop-button")).to_have_count(0, timeout=30_000)
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")


@pytest.mark.parametrize("kind", KINDS)
def test_a_story_is_written_end_to_end_in_the_studio(watched, server, fakes, screenshot_dir, kind):
    page, watch = watched
    fake = fakes(kind)
    model = "gpt-4o-mini" if kind == "chatgpt" else fake.models[0]
    configure_fake(server, fake, default_model=model)
    fake.reply, fake.chunk_delay = FIRST, 0.01

    watch.goto(server.url + "/")
    expect(page.get_by_test_id("backend-status")).to_contain_text("connected")
    title = f"The fog learns to sing with {kind}"  # the premise's first sentence
    page.get_by_test_id("story-premise").fill(PREMISE.format(kind=kind))
    expect(page).to_have_url(re.compile(r"#/story/\d+$"))
    expect(page).to_have_title(f"{title} — Taleweaver")
    page.get_by_test_id("memory-fields").locator("summary").click()
    page.get_by_test_id("story-memory").fill(MEMORY)
    expect(page.get_by_test_id("memory-tokens")).to_have_text(f"≈ {-(-len(MEMORY) // 4)} tokens")
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")

    # Generate: the opening, from the premise.
    page.get_by_test_id("generate-button").click()
    wait_for_the_end(page)
    expect_story_text(page, FIRST)
    expect(page.get_by_test_id("generation-stats")).to_contain_text("tokens/s")
    expect(page.get_by_test_id("context-meter")).to_contain_text("tokens")

    # Edit in place, then Continue (Ctrl+Enter): the continuation follows the edited text.
    page.get_by_test_id("story-output").fill(FIRST + " The keeper listened.")
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")
    fake.reply = SECOND
    page.get_by_test_id("story-title").focus()
    page.keyboard.press("Control+Enter")
    wait_for_the_end(page)
    expect_story_text(page, f"{FIRST} The keeper listened. {SECOND}")
    sent = [r["json"] for r in fake.requests if r["method"] == "POST" and "chat" in r["path"]][-1]
    assert MEMORY in sent["messages"][0]["content"]
    assert "The keeper listened." in sent["messages"][1]["content"]

    # Regenerate: a second version of the last passage; flip back to the first and keep it.
    fake.reply = THIRD
    page.get_by_test_id("regenerate-button").click()
    wait_for_the_end(page)
    expect_story_text(page, f"{FIRST} The keeper listened. {THIRD}")
    expect(page.get_by_test_id("alternative-position")).to_have_text("2/2")
    page.get_by_test_id("alternative-previous").click()
    expect(page.get_by_test_id("alternative-position")).to_have_text("1/2")
    expect_story_text(page, f"{FIRST} The keeper listened. {SECOND}")

    # Undo the version chosen (button), then redo it (Ctrl+Shift+Z outside the text field).
    page.get_by_test_id("undo-button").click()
    expect(page.get_by_test_id("alternative-position")).to_have_text("2/2")
    expect_story_text(page, f"{FIRST} The keeper listened. {THIRD}")
    page.locator("#story-output-heading").focus()
    page.keyboard.press("Control+Shift+Z")
    expect(page.get_by_test_id("alternative-position")).to_have_text("1/2")

    # Stop a slow continuation (Escape): what was written is kept.
    fake.reply, fake.chunk_delay = SLOW, 0.1
    page.get_by_test_id("continue-button").click()
    wait_until(lambda: "note3" in story_text(page), "the slow continuation started")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("story-stopped")).to_be_visible()
    stopped_text = story_text(page)
    assert stopped_text.startswith(f"{FIRST} The keeper listened. {SECOND} note0") and "note79" not in stopped_text
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")
    fake.chunk_delay = 0.01

    if SCREENSHOTS and kind == "lmstudio":
        page.screenshot(path=str(screenshot_dir / "studio.png"), full_page=True)

    # Reload: text, versions, memory and the settings are all still there.
    watch.reload()
    expect_story_text(page, stopped_text)
    expect(page.get_by_test_id("story-memory")).to_have_value(MEMORY)
    expect(page.get_by_test_id("undo-button")).to_be_enabled()
    page.get_by_test_id("undo-button").click()  # the stopped passage goes; the chosen version is back
    expect_story_text(page, f"{FIRST} The keeper listened. {SECOND}")
    expect(page.get_by_test_id("alternative-position")).to_have_text("1/2")

    # Read it formatted, then export it.
    page.get_by_test_id("edit-toggle").click()
    expect(page.get_by_test_id("story-reader")).to_contain_text(SECOND)
    with page.expect_download() as download:
        page.get_by_test_id("export-markdown").click()
    path = download.value.path()
    exported = open(path, encoding="utf-8").read()
    assert exported.startswith(f"# {title}\n") and SECOND in exported
    assert download.value.suggested_filename.endswith(".md")


def test_the_studio_works_on_a_phone_and_the_reader_renders_markdown_without_html(watched, server, fakes, screenshot_dir):
    page, watch = watched
    fake = fakes("ollama")
    configure_fake(server, fake, default_model=fake.models[0])
    created = server.api("POST", "/api/stories", json={
        "premise": "A fox who counts snowflakes", "memory": MEMORY,
        "content": "# The Count\n\nIt *snowed*.\n\n<img src=x onerror=alert(1)>\n\nThe end.",
    }).json()
    page.set_viewport_size(PHONE)
    watch.goto(f"{server.url}/#/story/{created['id']}")
    expect_story_text(page, re.compile("It \\*snowed\\*"))
    page.get_by_test_id("edit-toggle").click()
    reader = page.get_by_test_id("story-reader")
    expect(reader.locator("h1")).to_have_text("The Count")
    expect(reader.locator("em")).to_have_text("snowed")
    expect(reader.locator("img")).to_have_count(0)  # raw HTML is dropped, never run
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the Story page is {overflow}px wider than a 390px phone screen"
    expect(page.get_by_test_id("studio-toolbar")).to_be_visible()
    if SCREENSHOTS:
        page.screenshot(path=str(screenshot_dir / "studio-mobile.png"), full_page=False)


def test_the_library_searches_renames_and_deletes_with_a_confirmation(watched, server, fakes):
    page, watch = watched
    configure_fake(server, fakes("ollama"))
    for premise in ("A clockmaker's daughter repairs time", "A clockmaker's daughter repairs time"):
        server.api("POST", "/api/stories", json={"premise": premise, "content": "Tick tock zebrafish."})
    watch.goto(server.url + "/")
    open_library(page)
    library = page.get_by_test_id("story-library")
    expect(library.get_by_role("heading", name="A clockmaker's daughter repairs time (2)")).to_be_visible()
    page.get_by_test_id("library-search").fill("zebrafish")
    expect(page.get_by_test_id("library-item")).to_have_count(2)
    page.get_by_test_id("library-search").fill("no such words anywhere")
    expect(page.get_by_test_id("library-empty")).to_be_visible()
    page.get_by_test_id("library-search").fill("zebrafish")
    first = page.get_by_test_id("library-item").first
    first.get_by_test_id("library-rename-button").click()
    page.get_by_test_id("library-rename-input").fill("Renamed in the library")
    page.get_by_test_id("library-rename-save").click()
    expect(library.get_by_role("heading", name="Renamed in the library")).to_be_visible()
    renamed = page.get_by_test_id("library-item").filter(has=page.get_by_role("heading", name="Renamed in the library"))
    page.once("dialog", lambda dialog: dialog.accept())
    renamed.get_by_test_id("library-delete-button").click()
    expect(renamed).to_have_count(0)
    expect(page.get_by_test_id("library-search")).to_be_focused()
