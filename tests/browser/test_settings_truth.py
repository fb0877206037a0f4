"""Issue 12 in a real browser: what the Settings page shows is the truth about what will happen.

Two fake LM Studio servers with different models stand in for "the server I had" and "the
server I switched to"; the page must never offer or save the first one's model for the second.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.flows import open_settings
from tests.fakes import FakeLLMServer


@pytest.fixture(scope="module")
def two_lmstudios():
    first = FakeLLMServer("lmstudio", models=["qwen2.5-7b-instruct", "mistral-7b-instruct"]).start()
    second = FakeLLMServer("lmstudio", models=["llama-3.2-1b-instruct"]).start()
    yield first, second
    first.stop()
    second.stop()


def test_a_url_change_never_keeps_the_old_servers_model(watched, server, two_lmstudios):
    page, watch = watched
    first, second = two_lmstudios
    server.configure("lmstudio", {"url": first.url}, "qwen2.5-7b-instruct")
    open_settings(page, watch, server.url)
    model = page.get_by_test_id("model-select")
    expect(model).to_have_value("qwen2.5-7b-instruct")
    expect(model.locator("option")).to_have_text(["— Choose a model —", "qwen2.5-7b-instruct", "mistral-7b-instruct"])

    page.get_by_test_id("url-input").fill(second.url)
    # Untested, the new address has no model list of its own, and it gets no other server's.
    expect(model.locator("option")).to_have_text(["— Choose a model —", "qwen2.5-7b-instruct"])
    page.get_by_test_id("test-connection-button").click()
    expect(page.get_by_test_id("test-status")).to_have_text("Connected")
    expect(model.locator("option")).to_have_text(
        ["— Choose a model —", "llama-3.2-1b-instruct", "qwen2.5-7b-instruct (not offered by this server)"]
    )
    expect(page.get_by_test_id("model-select-error")).to_contain_text("is not offered by this LM Studio server")

    page.get_by_test_id("save-button").click()
    expect(model).to_be_focused()
    expect(page.get_by_test_id("save-result")).to_contain_text("Not saved")
    saved = server.api("GET", "/api/settings/llm").json()
    assert saved["config"]["url"] == first.url and saved["default_model"] == "qwen2.5-7b-instruct", saved

    model.select_option("llama-3.2-1b-instruct")
    expect(page.get_by_test_id("model-select-error")).to_have_count(0)
    page.get_by_test_id("save-button").click()
    expect(page.get_by_test_id("save-result")).to_have_text("Saved. LM Studio is now the active backend.")
    saved = server.api("GET", "/api/settings/llm").json()
    assert saved["config"]["url"] == second.url and saved["default_model"] == "llama-3.2-1b-instruct", saved
    # The saved values were tested at once: the last test is of the new address, and passed.
    expect(page.get_by_test_id("test-status")).to_have_text("Connected")
    expect(page.get_by_test_id("status-last-test")).to_contain_text("(passed)")
    assert server.api("GET", "/api/settings/llm").json()["backends"]["lmstudio"]["last_test"]["status"] == "connected"


def test_a_stale_test_result_leaves_the_screen_when_the_url_is_edited(watched, server, two_lmstudios):
    page, watch = watched
    first, _ = two_lmstudios
    server.configure("lmstudio", {"url": first.url}, "qwen2.5-7b-instruct")
    open_settings(page, watch, server.url)
    page.get_by_test_id("test-connection-button").click()
    expect(page.get_by_test_id("test-status")).to_have_text("Connected")

    page.get_by_test_id("url-input").fill("http://127.0.0.1:9")

    expect(page.get_by_test_id("test-result")).to_have_count(0)
    expect(page.get_by_test_id("test-stale")).to_be_visible()


def test_drafts_survive_leaving_the_page_and_a_reload_but_a_typed_key_is_not_stored(watched, server, two_lmstudios):
    page, watch = watched
    first, second = two_lmstudios
    server.configure("lmstudio", {"url": first.url}, "qwen2.5-7b-instruct")
    open_settings(page, watch, server.url)
    page.get_by_test_id("url-input").fill(second.url)
    page.get_by_test_id("backend-select").select_option("chatgpt")
    page.get_by_test_id("api-key-input").fill("sk-typed-but-never-saved-0042")

    page.get_by_test_id("nav-story").click()
    expect(page.get_by_role("heading", name="Write a story")).to_be_visible()
    page.get_by_test_id("nav-settings").click()
    expect(page.get_by_test_id("backend-select")).to_have_value("chatgpt")
    expect(page.get_by_test_id("api-key-input")).to_have_value("sk-typed-but-never-saved-0042")
    page.get_by_test_id("backend-select").select_option("lmstudio")
    expect(page.get_by_test_id("url-input")).to_have_value(second.url)

    watch.reload()
    expect(page.get_by_test_id("url-input")).to_have_value(second.url)
    storage = page.evaluate("() => JSON.stringify([{...localStorage}, {...sessionStorage}])")
    assert "sk-typed-but-never-saved-0042" not in storage
    # Nothing was saved along the way.
    assert server.api("GET", "/api/settings/llm").json()["config"]["url"] == first.url
    expect(page).to_have_title("Settings — Taleweaver")
