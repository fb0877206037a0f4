"""Who wrote what in Chromium at 1280×800: the model's text is marked, the mark survives a reload,
"Show model text" takes it off the page (and back), and a writer's edit inside the model's text
takes the mark off just the characters typed, which the server then keeps."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_story_text, wait_until
from tests.support import configure_fake

OPENING = "The mill stood dark. "
WRITTEN = "Snow piled on its wheel."


@pytest.fixture
def lmstudio(server, fakes):
    fake = fakes("lmstudio")
    fake.reply, fake.chunk_delay = WRITTEN, 0.01
    configure_fake(server, fake, default_model=fake.models[0])
    return fake


def marked(page) -> str:
    """The text drawn with the model's mark."""
    return "".join(page.locator(".cm-model-text").all_text_contents())


def test_the_model_text_is_marked_and_the_writers_edit_takes_the_mark_off_its_characters(watched, server, lmstudio):
    page, watch = watched
    story = server.api("POST", "/api/stories", json={"premise": "A fox", "content": OPENING}).json()
    watch.goto(f"{server.url}/#/story/{story['id']}")
    expect_story_text(page, OPENING)
    assert marked(page) == ""  # the writer's own text

    page.get_by_test_id("continue-button").click()
    expect(page.get_by_test_id("stop-button")).to_have_count(0, timeout=30_000)
    expect_story_text(page, OPENING + WRITTEN)
    wait_until(lambda: marked(page) == WRITTEN, "the model's words are marked")
    watch.reload()
    expect_story_text(page, OPENING + WRITTEN)
    wait_until(lambda: marked(page) == WRITTEN, "the mark survives a reload")

    page.get_by_test_id("show-model-text").click()
    expect(page.get_by_test_id("show-model-text")).to_have_attribute("aria-pressed", "false")
    expect(page.locator(".story-paper")).to_have_attribute("data-model-text", "hidden")
    page.get_by_test_id("show-model-text").click()
    expect(page.locator(".story-paper")).to_have_attribute("data-model-text", "shown")

    # The writer selects "piled" in the model's sentence and types "drifted" over it.
    page.get_by_test_id("story-output").click()
    page.keyboard.press("Control+End")
    for _ in range(len(" on its wheel.")):
        page.keyboard.press("ArrowLeft")
    for _ in range(len("piled")):
        page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.type("drifted")
    expect_story_text(page, OPENING + "Snow drifted on its wheel.")
    wait_until(lambda: marked(page) == "Snow  on its wheel.", "only the typed characters lose the mark")
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")
    kept = server.api("GET", f"/api/stories/{story['id']}").json()
    start = len(OPENING)
    assert kept["marks"] == [[start, start + len("Snow ")], [start + len("Snow drifted"), start + len("Snow drifted on its wheel.")]]
    watch.reload()
    wait_until(lambda: marked(page) == "Snow  on its wheel.", "the writer's characters stay unmarked after a reload")
