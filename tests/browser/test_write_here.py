""""Write here" in Chromium at 1280×800 (and on a 390×844 phone, where the toolbar wraps above
the text): with the cursor in the middle of the story, the model's
words go in at the cursor and everything after it stays as it was; the request carried the text
after the cursor (the fake llama-server recorded its /infill `input_suffix`); Undo takes the words
out in one step; the shortcut does the same; a reload mid-generation finds the words in place and
the text completes there."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_story_text
from tests.support import configure_fake

FIRST_LINE = "The mill stood dark.\n"
REST = "She opened the door — «ça va», said the fox 🦊.\nThen the cold came in.\n"
WRITTEN = "Snow piled on its wheel. "


@pytest.fixture
def llama(server, fakes):
    """llama-server whose model has fill-in-the-middle tokens, writing WRITTEN."""
    fake = fakes("openai_compatible")
    fake.fill_in_middle, fake.reply, fake.chunk_delay = True, WRITTEN, 0.01
    fake.reset()
    configure_fake(server, fake, default_model=fake.models[0])
    return fake


def infills(fake) -> list[dict]:
    return [r["json"] for r in fake.requests if r["method"] == "POST" and r["path"] == "/infill"]


def open_story(page, watch, server) -> int:
    story = server.api("POST", "/api/stories", json={"premise": "A fox who counts", "content": FIRST_LINE + REST}).json()
    watch.goto(f"{server.url}/#/story/{story['id']}")
    expect_story_text(page, FIRST_LINE + REST)
    return story["id"]


def cursor_at_the_second_line(page) -> None:
    """The writer clicks into the text and puts the cursor at the start of its second line."""
    page.get_by_test_id("story-output").click()
    page.keyboard.press("Control+Home")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Home")


def wait_for_the_end(page) -> None:
    expect(page.get_by_test_id("stop-button")).to_have_count(0, timeout=30_000)
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")


@pytest.mark.parametrize("viewport", [None, {"width": 390, "height": 844}], ids=["laptop", "phone"])
def test_write_here_inserts_at_the_cursor_and_undo_takes_it_out(watched, server, llama, viewport):
    page, watch = watched
    if viewport:
        page.set_viewport_size(viewport)
    open_story(page, watch, server)
    cursor_at_the_second_line(page)
    button = page.get_by_test_id("write-here-button")
    expect(button).to_have_attribute("title", "The model writes at the cursor; the text after it stays as it is "
                                              "(Ctrl+Shift+Enter)")
    button.click()
    wait_for_the_end(page)
    expect_story_text(page, FIRST_LINE + WRITTEN + REST)
    assert infills(llama)[-1]["input_prefix"] == FIRST_LINE and infills(llama)[-1]["input_suffix"] == REST

    page.get_by_test_id("undo-button").click()
    expect_story_text(page, FIRST_LINE + REST)
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")

    # The shortcut, from inside the text.
    cursor_at_the_second_line(page)
    page.keyboard.press("Control+Shift+Enter")
    wait_for_the_end(page)
    expect_story_text(page, FIRST_LINE + WRITTEN + REST)
    assert len(infills(llama)) == 2


def test_a_reload_while_the_model_writes_here_finds_the_words_in_place(watched, server, llama):
    page, watch = watched
    words = " ".join(f"flake{i}" for i in range(30)) + " "
    llama.reply, llama.chunk_delay = words, 0.1
    open_story(page, watch, server)
    cursor_at_the_second_line(page)
    page.get_by_test_id("write-here-button").click()
    expect(page.get_by_test_id("stop-button")).to_be_visible()
    in_place = re.compile(re.escape(FIRST_LINE + "flake0 flake1 flake2") + r"[^\n]*" + re.escape(REST) + "$")
    expect_story_text(page, in_place)  # streams in place...
    watch.reload()  # ...and a reload finds it there and follows it to the end
    expect(page.get_by_test_id("stop-button")).to_be_visible()
    wait_for_the_end(page)
    expect_story_text(page, FIRST_LINE + words + REST)
