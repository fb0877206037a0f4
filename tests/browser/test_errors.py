"""What a user sees when nothing is set up yet, or the backend cannot be reached or refuses the key.

No test here saves settings, so the module's server stays unconfigured whatever the order.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.flows import API_KEY, BACKEND_OF, fill_backend_form, open_settings, step_words
from tests.support import free_port

REFUSED_HINTS = {
    "lmstudio": "Start the server in LM Studio",
    "ollama": "ollama serve",
    "chatgpt": "base URL",
}


def test_story_page_without_a_backend_says_so_and_links_to_settings(watched, server):
    page, watch = watched
    assert server.api("GET", "/api/settings/llm").json()["backend_type"] is None
    watch.goto(server.url + "/")
    notice = page.get_by_test_id("backend-missing")
    expect(notice).to_contain_text("No LLM backend is set up yet.")
    page.get_by_test_id("story-premise").fill("A dragon who collects lost umbrellas.")
    expect(page.get_by_test_id("generate-button")).to_be_disabled()
    notice.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(r"#/settings$"))
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    expect(page.get_by_test_id("status-connection")).to_have_text("Not configured")


@pytest.mark.parametrize("backend", ["lmstudio", "ollama", "chatgpt"])
def test_a_backend_that_refuses_connections_is_reported_with_a_hint(watched, server, backend):
    page, watch = watched
    url = f"http://127.0.0.1:{free_port()}" + ("/v1" if backend == "chatgpt" else "")  # nothing listens
    open_settings(page, watch, server.url)
    fill_backend_form(page, backend, url)
    page.get_by_test_id("test-connection-button").click()
    expect(page.get_by_test_id("test-status")).to_have_text("Disconnected")
    expect(page.get_by_test_id("test-error")).not_to_be_empty()
    expect(page.get_by_test_id("test-hint")).to_contain_text(REFUSED_HINTS[backend])
    words = step_words(page)
    assert words[0] == "OK" and "Failed" in words and "OK" not in words[words.index("Failed"):], words
    # Nothing to choose from: only the placeholder.
    expect(page.get_by_test_id("model-select").locator("option")).to_have_count(1)


def test_a_wrong_api_key_is_reported_as_an_error_with_a_hint(watched, server, fakes):
    page, watch = watched
    fake = fakes("chatgpt")
    open_settings(page, watch, server.url)
    fill_backend_form(page, BACKEND_OF[fake.kind], fake.url, api_key="sk-not-the-right-key-000000")
    assert fake.api_key == API_KEY
    page.get_by_test_id("test-connection-button").click()
    expect(page.get_by_test_id("test-status")).to_have_text("Error")
    expect(page.get_by_test_id("test-hint")).to_contain_text("API key")
    assert "Failed" in step_words(page)
