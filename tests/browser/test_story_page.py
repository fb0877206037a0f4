"""The story is the page (issue 23), in Chromium on a laptop (1280×800) and a phone (390×844):
the newest words and the writing tools on the first screen, the words a model writes kept in
view unless the writer scrolls away, Settings → Story back to the story being written, the
library its own view that marks the open story, New story, focus mode.

With TALEWEAVER_SCREENSHOTS=1 it saves the README's story.png and story-mobile.png."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.flows import active_fake, expect_story_text, open_library, story_id_in_url, story_text, wait_until

SIZES = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SENTENCES = [
    "The fog came in off the water the way it always did, slowly and then all at once.",
    "Ines climbed the hundred and twelve steps of the lighthouse with the lamp oil on her hip.",
    "Below her the sea breathed against the rocks, and somewhere in the grey a bell was ringing.",
    "She had stopped counting the ships years ago; now she counted the songs instead.",
    "Tonight the fog answered her humming in a minor key, note for note, as if it had been listening.",
]
# Several passages, as a story is after an evening's writing.
NEWEST = "For the first time in forty years, the fog sang the last note back to her."
STORY = "\n\n".join(" ".join(SENTENCES[i % 5:] + SENTENCES[: i % 5]) for i in range(9)) + "\n\n" + NEWEST
REPLY = " ".join(f"word{i}" for i in range(60))
SLOW_DELAY = 0.06
MIN_LINES = 20


@pytest.fixture(scope="module")
def fake(server):
    with active_fake(server, "ollama", chunk_delay=SLOW_DELAY, reply=REPLY) as instance:
        yield instance


def a_long_story(server, premise: str = "The fog learns to sing. Nobody believes her.") -> int:
    created = server.api("POST", "/api/stories", json={"premise": premise, "content": STORY, "memory": "Ines keeps the lighthouse."})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not on the page"
    return found


def assert_on_first_screen(page, locator, what: str) -> dict:
    """`locator` lies wholly inside the viewport, with nothing scrolled."""
    found = box(locator)
    size = page.viewport_size
    inside = found["x"] >= 0 and found["y"] >= 0 and found["x"] + found["width"] <= size["width"] + 0.5 and found["y"] + found["height"] <= size["height"] + 0.5
    assert inside, f"{what} is not on the first screen: {found} in {size}"
    return found


def newest_line(page):
    """The line that ends the story, as drawn (CodeMirror draws the lines in view)."""
    return page.locator(".cm-line").filter(has_text=NEWEST)


END_OF_TEXT = """() => {
  const lines = document.querySelectorAll('.cm-line');
  const walker = document.createTreeWalker(lines[lines.length - 1], NodeFilter.SHOW_TEXT);
  let last = null;
  while (walker.nextNode()) if (walker.currentNode.length) last = walker.currentNode;
  const range = document.createRange();
  range.setStart(last, last.length - 1);
  range.setEnd(last, last.length);
  const { x, y, width, height } = range.getBoundingClientRect();
  return { x, y, width, height };
}"""


def newest_words_in_view(page) -> bool:
    """The story's last character is drawn inside the visible part of the text."""
    end = page.evaluate(END_OF_TEXT)
    paper = box(page.locator(".story-paper"))
    return paper["y"] <= end["y"] and end["y"] + end["height"] <= paper["y"] + paper["height"] + 0.5


def wait_for_newest_words_in_view(page) -> None:
    """While words stream in, the view catches up with each within a frame or two."""
    wait_until(lambda: newest_words_in_view(page), "the newest words are in view", timeout=2)


@pytest.mark.parametrize("size", SIZES)
def test_on_opening_a_story_its_newest_words_and_the_toolbar_are_on_the_first_screen(watched, server, fake, screenshot_dir, size):
    page, watch = watched
    page.set_viewport_size(SIZES[size])
    story_id = a_long_story(server)
    watch.goto(f"{server.url}/#/story/{story_id}")
    expect(newest_line(page)).to_be_visible()

    assert page.evaluate("() => window.scrollY") == 0
    toolbar = assert_on_first_screen(page, page.get_by_role("toolbar", name="Story tools"), "the toolbar")
    for name in ("Continue", "Regenerate", "Undo", "Redo"):
        assert_on_first_screen(page, page.get_by_role("button", name=name, exact=True), f"the {name} button")
    newest = assert_on_first_screen(page, newest_line(page), "the newest words")
    assert newest["y"] >= toolbar["y"] + toolbar["height"], "the newest words are under the toolbar"
    assert newest_words_in_view(page)
    # At least 20 lines of the story are in sight at once.
    paper = assert_on_first_screen(page, page.locator(".story-paper"), "the text's view")
    line_height = float(page.locator(".cm-content").evaluate("element => parseFloat(getComputedStyle(element).lineHeight)"))
    assert paper["height"] / line_height >= MIN_LINES, f"{paper['height'] / line_height:.1f} lines of text in sight"
    if size == "phone":
        expect(page.get_by_role("complementary", name="Story setup")).to_be_hidden()  # the text comes first
    page.screenshot(path=str(screenshot_dir / ("story-mobile.png" if size == "phone" else "story.png")))


def test_the_words_the_model_writes_stay_in_view_unless_the_writer_scrolls_away(watched, server, fake):
    page, watch = watched
    page.set_viewport_size(SIZES["laptop"])
    story_id = a_long_story(server, "A fog that hums back.")
    watch.goto(f"{server.url}/#/story/{story_id}")
    expect(newest_line(page)).to_be_visible()
    page.get_by_role("button", name="Continue", exact=True).click()
    wait_until(lambda: "word12" in story_text(page), "the model's first words arrived")
    wait_for_newest_words_in_view(page)

    paper = page.locator(".story-paper")
    paper.hover()
    page.mouse.wheel(0, -1500)  # the writer reads back
    wait_until(lambda: paper.evaluate("element => element.scrollTop") < paper.evaluate("element => element.scrollHeight - element.clientHeight") - 500, "scrolled up")
    read_at = paper.evaluate("element => element.scrollTop")
    wait_until(lambda: "word30" in story_text(page), "more words arrived")
    assert paper.evaluate("element => element.scrollTop") == read_at, "the page pulled the writer away from what they were reading"

    page.mouse.wheel(0, 100_000)  # back to the end: the newest words are followed again
    wait_until(lambda: "word50" in story_text(page), "more words arrived")
    wait_for_newest_words_in_view(page)
    expect(page.get_by_test_id("stop-button")).to_have_count(0, timeout=30_000)


@pytest.mark.parametrize("size", SIZES)
def test_settings_then_story_returns_to_the_story_being_written_and_it_completes(watched, server, fake, size):
    page, watch = watched
    page.set_viewport_size(SIZES[size])
    watch.goto(server.url + "/")
    page.get_by_label("Premise").fill(f"A lighthouse that sings on a {size}.")
    expect(page).to_have_url(re.compile(r"#/story/\d+$"))
    story_id = story_id_in_url(page)
    page.get_by_role("button", name="Generate story").click()
    wait_until(lambda: "word5" in story_text(page), "the first words arrived")

    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    page.get_by_role("link", name="Story", exact=True).click()
    expect(page).to_have_url(re.compile(rf"#/story/{story_id}$"))
    expect(page.get_by_role("button", name="Stop")).to_be_visible()  # re-attached while the model still writes
    expect(page.get_by_role("button", name="Generate story")).to_be_visible(timeout=30_000)
    expect_story_text(page, REPLY)
    assert server.api("GET", f"/api/stories/{story_id}").json()["content"] == REPLY


@pytest.mark.parametrize("size", SIZES)
def test_the_library_marks_the_open_story_and_new_story_starts_an_empty_one(watched, server, fake, size):
    page, watch = watched
    page.set_viewport_size(SIZES[size])
    premise = f"A keeper who counts songs on a {size}."
    story_id = a_long_story(server, premise)
    watch.goto(f"{server.url}/#/story/{story_id}")
    expect(newest_line(page)).to_be_visible()

    open_library(page)
    expect(page).to_have_url(re.compile(r"#/library$"))
    entry = page.get_by_test_id("library-item").filter(has=page.get_by_role("heading", name=premise.rstrip("."), exact=True))
    expect(entry).to_have_attribute("aria-current", "true")
    expect(entry).to_contain_text("Open now")
    expect(page.locator(".library-item[aria-current]")).to_have_count(1)

    page.get_by_role("link", name="New story", exact=True).click()
    expect(page.get_by_label("Premise")).to_have_value("")
    expect_story_text(page, "")
    expect(page).to_have_url(re.compile(r"#/$"))


@pytest.mark.parametrize("size", SIZES)
def test_focus_mode_hides_everything_but_the_text_and_comes_back(watched, server, fake, size):
    page, watch = watched
    page.set_viewport_size(SIZES[size])
    story_id = a_long_story(server, f"A quiet room on a {size}.")
    watch.goto(f"{server.url}/#/story/{story_id}")
    setup = page.get_by_role("complementary", name="Story setup")
    if size == "phone":
        page.get_by_role("button", name="Story setup").click()  # a sheet over the text
    expect(setup).to_be_visible()

    page.get_by_role("button", name="Focus mode").click()
    for hidden in (setup, page.get_by_role("navigation", name="Main"), page.get_by_role("button", name="Continue", exact=True),
                   page.get_by_test_id("save-status")):
        expect(hidden).to_be_hidden()
    expect(newest_line(page)).to_be_visible()
    expect(page.get_by_role("textbox", name="Story text")).to_be_visible()

    page.get_by_role("button", name="Focus mode").click()  # the way back stays on screen
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("button", name="Continue", exact=True)).to_be_visible()
    expect(setup).to_be_visible()
    page.get_by_role("button", name="Focus mode").click()
    page.keyboard.press("Escape")  # and Escape leaves it too
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
