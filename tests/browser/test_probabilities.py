"""Token probabilities on the story page in Chromium (issue 24): hovering a generated word lists
its alternatives with their chances; choosing one continues the story from it (the fake records
a prompt that ends with the text up to that word and the alternative), and the earlier road is
still a version of the passage."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.flows import expect_story_text
from tests.support import configure_fake, new_story

REPLY = "The keeper lit the lamp and the ships turned home."


def test_a_generated_word_shows_its_alternatives_and_one_continues_the_story(watched, server, fakes):
    page, watch = watched
    fake = fakes("openai_compatible")
    configure_fake(server, fake, default_model=fake.models[0])
    fake.reply, fake.chunk_delay = REPLY, 0
    story = new_story(server, "A lighthouse", content="At dusk", settings={"show_probabilities": True})
    generated = server.api("POST", "/proxy/llm/v1/chat/completions",
                           json={"stream": False, "taleweaver": {"story_id": story["id"], "action": "continue"}})
    assert generated.status_code == 200, generated.text
    first = server.api("GET", f"/api/stories/{story['id']}").json()["content"]

    watch.goto(f"{server.url}/#/story/{story['id']}")
    expect_story_text(page, first)
    page.locator(".cm-token", has_text=re.compile(r"^\s*lamp$")).hover()
    alternatives = page.get_by_role("dialog", name='Alternatives for " lamp"')
    expect(alternatives).to_be_visible()
    expect(alternatives.get_by_role("button")).to_have_text(['" lamp" 78%', '" alt0" 22%', '" alt1" 8.2%',
                                                             '" alt2" 3.0%', '" alt3" 1.1%'])
    fake.reply = " shone."
    alternatives.get_by_role("button", name='" alt0" 22%').click()

    rerolled = first[:first.index(" lamp")] + " alt0"
    expect_story_text(page, rerolled + " shone.")
    prompt = [r["json"] for r in fake.requests if r["path"].endswith("/chat/completions")][-1]["messages"]
    assert prompt[-1]["role"] == "assistant" and prompt[-1]["content"].endswith("lit the alt0")
    expect(page.get_by_test_id("alternative-position")).to_have_text("2/2")
    page.get_by_test_id("alternative-previous").click()
    expect_story_text(page, first)
