""""Rewrite" in Chromium at 1280×800: select a passage, choose an instruction; the proposal
streams beside the selection with Accept, Try again and Discard; accepting replaces only the
selection and Undo restores it; Try again gives another version (◀ ▶ between them); Discard
leaves the text as it was; a reload while the proposal waits finds it."""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_story_text
from tests.support import configure_fake

FIRST_LINE = "The mill stood dark.\n"
SELECTED = "The door opened and the cold came in."
REST = "\n«Ça va», said the fox 🦊.\n"
VIVID = "The door flew wide; winter poured in."
AGAIN = "The door gave, and the cold walked in."
SCREENSHOTS = os.environ.get("TALEWEAVER_SCREENSHOTS") == "1"


@pytest.fixture
def ollama(server, fakes):
    fake = fakes("ollama")
    fake.reply, fake.chunk_delay = VIVID, 0.01
    fake.reset()
    configure_fake(server, fake, default_model=fake.models[0])
    return fake


def open_and_select(page, watch, server) -> int:
    """A story of three lines; the writer selects its second line."""
    story = server.api("POST", "/api/stories", json={"premise": "A fox", "content": FIRST_LINE + SELECTED + REST}).json()
    watch.goto(f"{server.url}/#/story/{story['id']}")
    expect_story_text(page, FIRST_LINE + SELECTED + REST)
    page.get_by_test_id("story-output").click()
    page.keyboard.press("Control+Home")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Home")
    page.keyboard.press("Shift+End")
    return story["id"]


def ask(page, instruction: str) -> None:
    page.get_by_test_id("rewrite-button").click()
    page.get_by_role("group", name="How to rewrite the selection").get_by_role("button", name=instruction, exact=True).click()


def proposal(page):
    return page.get_by_role("group", name="Proposed text")


def test_accept_replaces_only_the_selection_and_undo_restores_it(watched, server, ollama, screenshot_dir):
    page, watch = watched
    open_and_select(page, watch, server)
    ask(page, "More vivid")
    expect(proposal(page)).to_contain_text(VIVID)
    expect_story_text(page, FIRST_LINE + SELECTED + REST)  # the text waits for the writer's choice
    sent = [r["json"] for r in ollama.requests if r["path"] == "/api/chat"][-1]["messages"][1]["content"]
    assert SELECTED in sent and "More vivid" in sent

    ollama.reply = AGAIN
    proposal(page).get_by_role("button", name="Try again").click()
    expect(proposal(page)).to_contain_text(AGAIN)
    expect(page.get_by_test_id("proposal-position")).to_have_text("proposal 2 (3/3)")
    page.get_by_role("button", name="Previous proposal").click()
    expect(proposal(page)).to_contain_text(VIVID)
    if SCREENSHOTS:
        page.screenshot(path=str(screenshot_dir / "rewrite.png"))

    proposal(page).get_by_role("button", name="Accept").click()
    expect_story_text(page, FIRST_LINE + VIVID + REST)
    expect(proposal(page)).to_have_count(0)
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")
    page.get_by_test_id("undo-button").click()
    expect_story_text(page, FIRST_LINE + SELECTED + REST)


def test_discard_leaves_the_text_and_a_reload_finds_a_waiting_proposal(watched, server, ollama):
    page, watch = watched
    open_and_select(page, watch, server)
    page.get_by_test_id("rewrite-button").click()
    page.get_by_test_id("rewrite-instruction").fill("In the voice of the fox")
    page.get_by_role("button", name="Rewrite", exact=True).click()
    expect(proposal(page)).to_contain_text(VIVID)
    sent = [r["json"] for r in ollama.requests if r["path"] == "/api/chat"][-1]["messages"][1]["content"]
    assert "In the voice of the fox" in sent

    watch.reload()
    expect(proposal(page)).to_contain_text(VIVID)
    proposal(page).get_by_role("button", name="Discard").click()
    expect(proposal(page)).to_have_count(0)
    expect_story_text(page, FIRST_LINE + SELECTED + REST)
    watch.reload()
    expect_story_text(page, FIRST_LINE + SELECTED + REST)
    expect(proposal(page)).to_have_count(0)
