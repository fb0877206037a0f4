"""Never lose a word, in the browser: the story is a document on the real server, and its
generation a job there that a reloaded, reopened or second page follows to the end.

The fake model writes slowly (a word every SLOW_DELAY seconds) so the page can be reloaded or
closed while it writes; each test checks the page ends with exactly the fake's text.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import BrowserWatch
from tests.browser.flows import active_fake, expect_story_text, open_library, story_id_in_url, story_text, wait_until

SLOW_DELAY = 0.06
# Words with accents and an emoji: offsets count code points, and none may shift the cursor.
REPLY = (
    "The Silver Thread\n\n"
    + " ".join(
        f"Line {i}: Mira pulled the thread, and the loom sang — ñ, é, 🧵 — of the sea beyond the hills."
        for i in range(1, 9)
    )
)
PREMISE = "A weaver whose loom remembers every story ever told."
GENERATION_END = 60_000


@pytest.fixture(scope="module")
def slow_fake(server):
    with active_fake(server, "ollama", chunk_delay=SLOW_DELAY, reply=REPLY) as fake:
        yield fake


def new_story(page, watch, server, premise: str = PREMISE) -> int:
    watch.goto(server.url + "/")
    page.get_by_test_id("story-premise").fill(premise)
    expect(page).to_have_url(re.compile(r"#/story/\d+$"))
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")
    return story_id_in_url(page)


def start_generating(page, words: int = 6) -> None:
    page.get_by_test_id("generate-button").click()
    expect(page.get_by_test_id("stop-button")).to_be_visible()
    wait_until(lambda: len(story_text(page).split()) >= words, f"{words} words arrived")


def assert_finished_with_the_whole_reply(page, server, story_id: int) -> None:
    expect(page.get_by_test_id("generate-button")).to_be_visible(timeout=GENERATION_END)
    expect_story_text(page, REPLY)
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")
    saved = server.api("GET", f"/api/stories/{story_id}").json()
    assert saved["content"] == REPLY and saved["generation_status"] == "finished", saved


def follow_offsets(watch) -> list[int]:
    return [
        int(match.group(1))
        for request in watch.requests
        if (match := re.search(r"/proxy/llm/v1/generations/\d+/events\?after=(\d+)$", request.url))
    ]


def test_a_reload_mid_generation_follows_the_job_to_the_end_without_losing_or_doubling_a_word(watched, server, slow_fake):
    page, watch = watched
    story_id = new_story(page, watch, server)
    start_generating(page)
    shown = story_text(page)
    assert REPLY.startswith(shown) and shown != REPLY

    watch.reload()
    expect(page).to_have_url(re.compile(rf"#/story/{story_id}$"))
    expect(page.get_by_test_id("stop-button")).to_be_visible()  # re-attached while it still writes
    expect(page.get_by_test_id("story-origin")).to_contain_text("Writing with Ollama")
    assert_finished_with_the_whole_reply(page, server, story_id)
    offsets = follow_offsets(watch)
    assert offsets and offsets[0] >= len(shown), offsets  # it asked for the rest, not the whole text again
    assert slow_fake.stats["streams_completed"] >= 1


def test_a_closed_page_reopened_mid_generation_shows_the_whole_story(watched, browser, app_urls, server, slow_fake):
    page, watch = watched
    story_id = new_story(page, watch, server)
    start_generating(page)
    problems = list(watch.problems)
    page.close()
    assert not problems, problems

    context = page.context
    reopened = context.new_page()
    watch_reopened = BrowserWatch(reopened, list(app_urls))
    watch_reopened.goto(f"{server.url}/#/story/{story_id}")
    expect(reopened.get_by_test_id("story-premise")).to_have_value(PREMISE)
    assert_finished_with_the_whole_reply(reopened, server, story_id)
    # Named after the premise's first sentence; the module's other stories with that premise make it "(2)", "(3)".
    expect(reopened).to_have_title(re.compile(rf"^{re.escape(PREMISE.rstrip('.'))}( \(\d+\))? — Taleweaver$"))
    assert not watch_reopened.problems, watch_reopened.problems


def test_the_story_is_finished_on_the_server_when_the_browser_has_gone(watched, app_urls, server, slow_fake):
    page, watch = watched
    premise = "A loom that weaves on after the weaver has gone to bed."
    story_id = new_story(page, watch, server, premise)
    start_generating(page, words=3)
    context = page.context
    page.close()
    wait_until(
        lambda: server.api("GET", f"/api/stories/{story_id}").json()["generation_status"] == "finished",
        "the generation finished with no page following it",
        timeout=GENERATION_END / 1000,
    )
    later = context.new_page()
    watch_later = BrowserWatch(later, list(app_urls))
    watch_later.goto(f"{server.url}/#/story/{story_id}")
    expect_story_text(later, REPLY)
    open_library(later)
    item = later.get_by_test_id("library-item").filter(has=later.get_by_role("heading", name=premise.rstrip("."), exact=True))
    expect(item).to_have_count(1)
    expect(item).to_contain_text(f"{len(REPLY.split())} words")
    assert not watch_later.problems, watch_later.problems


def test_an_edit_is_there_after_a_reload_and_leaving_the_page_saves_what_was_typed(watched, server, slow_fake):
    page, watch = watched
    story_id = new_story(page, watch, server)
    text = page.get_by_test_id("story-output")
    text.fill("Once, the loom was silent.")
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")
    watch.reload()
    expect_story_text(page, "Once, the loom was silent.")

    # Typed and left at once, before the autosave's pause: the page asks before it goes, and
    # going (pagehide) saves what was typed.
    text.press("End")
    text.type(" Then it sang.")
    expect(page.get_by_test_id("save-status")).to_have_text("Saving...")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.accept()))
    watch.goto("about:blank")
    assert dialogs == ["beforeunload"], dialogs
    wait_until(
        lambda: server.api("GET", f"/api/stories/{story_id}").json()["content"] == "Once, the loom was silent. Then it sang.",
        "the last words of the page that was left reached the server",
    )
    watch.goto(f"{server.url}/#/story/{story_id}")
    expect_story_text(page, "Once, the loom was silent. Then it sang.")
    # Nothing unsaved: leaving asks nothing.
    watch.goto("about:blank")
    assert dialogs == ["beforeunload"], dialogs


def test_two_tabs_editing_one_story_get_the_conflict_choice_and_keep_both(watched, app_urls, server, slow_fake):
    page, watch = watched
    premise = "Two weavers share one loom and never meet."
    story_id = new_story(page, watch, server, premise)
    other = page.context.new_page()
    other_watch = BrowserWatch(other, list(app_urls))
    other_watch.goto(f"{server.url}/#/story/{story_id}")
    expect(other.get_by_test_id("save-status")).to_have_text("Saved")

    page.get_by_test_id("story-output").fill("Tab one wrote this.")
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")
    other.get_by_test_id("story-output").fill("Tab two wrote that.")
    notice = other.get_by_test_id("conflict-notice")
    expect(notice).to_contain_text("This story was changed in another tab or window")
    expect(other.get_by_test_id("save-status")).to_have_text("Not saved: this story was changed in another tab or window")
    assert server.api("GET", f"/api/stories/{story_id}").json()["content"] == "Tab one wrote this."

    notice.get_by_test_id("conflict-keep-both").click()
    expect_story_text(other, "Tab one wrote this.")
    expect(notice).to_have_count(0)
    stories = server.api("GET", "/api/stories").json()["stories"]
    copies = [story for story in stories if story["title"] == f"{premise.rstrip('.')} (copy)"]
    assert len(copies) == 1, stories
    assert server.api("GET", f"/api/stories/{copies[0]['id']}").json()["content"] == "Tab two wrote that."
    # The refused save is the one error the browser saw: 409, nothing overwritten.
    problems = other_watch.take_problems()
    assert problems and all(f"/api/stories/{story_id}" in problem and "409" in problem for problem in problems), problems


def test_the_story_page_fits_a_phone(watched, server, slow_fake, screenshot_dir):
    page, watch = watched
    page.set_viewport_size({"width": 390, "height": 844})
    story_id = new_story(page, watch, server)
    page.get_by_test_id("story-output").fill("A short story that fits a small screen.")
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")
    page.get_by_test_id("revisions-panel").locator("summary").click()
    expect(page.get_by_test_id("revision-item").first).to_be_visible()
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the Story page is {overflow}px wider than a 390px phone screen"
    assert story_id > 0
    page.screenshot(path=str(screenshot_dir / "story-setup-mobile.png"), full_page=True)
