"""What a user does in the browser, step by step, shared by the same- and split-origin tests."""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.fakes import FakeLLMServer
from tests.support import configure_fake

BACKEND_OF = {"lmstudio": "lmstudio", "ollama": "ollama", "chatgpt": "chatgpt", "openai_compatible": "openai_compatible"}
LABEL = {"lmstudio": "LM Studio", "ollama": "Ollama", "chatgpt": "ChatGPT", "openai_compatible": "OpenAI-compatible server"}
API_KEY = "sk-browser-test-secret-4242424242"
# Slow enough that a person (and the test) sees the words arrive and can press Stop.
CHUNK_DELAY = 0.05
PREMISE = "A young weaver finds a thread of silver light caught in her loom."


def fake_options(kind: str) -> dict:
    """A fake LLM server streaming at a visible pace; the OpenAI one wants a key; the llama.cpp-style
    one serves two GGUF models, so the test can pick the second."""
    extra = {
        "chatgpt": {"api_key": API_KEY},
        "openai_compatible": {"models": ["qwen2.5-7b-instruct-q4_k_m.gguf", "llama-3.2-1b-instruct-q8_0.gguf"]},
    }
    return {"chunk_delay": CHUNK_DELAY, **extra.get(kind, {})}


@contextmanager
def active_fake(server, kind: str, **options):
    """A fake LLM server of `kind`, the server's active backend with its first model, while the block runs."""
    fake = FakeLLMServer(kind, **options).start()
    try:
        configure_fake(server, fake, default_model=fake.models[0])
        yield fake
    finally:
        fake.stop()


def wait_until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


# -- Settings --------------------------------------------------------------------------------
def open_settings(page: Page, watch, app_url: str) -> None:
    watch.goto(app_url + "/#/settings")
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    expect(page.get_by_test_id("backend-select")).to_be_visible()


def fill_backend_form(page: Page, backend: str, url: str, api_key: str = API_KEY) -> None:
    """Choose the backend and type where it is (ChatGPT: the key, and the base URL in advanced)."""
    page.get_by_test_id("backend-select").select_option(backend)
    if backend == "chatgpt":
        page.get_by_test_id("api-key-input").fill(api_key)
        if not page.get_by_test_id("base-url-input").is_visible():
            page.get_by_test_id("advanced-toggle").click()
        page.get_by_test_id("base-url-input").fill(url)
    elif backend == "openai_compatible":
        page.get_by_test_id("base-url-input").fill(url)
    else:
        page.get_by_test_id("url-input").fill(url)


def step_words(page: Page) -> list[str]:
    return page.get_by_test_id("test-steps").locator("li .step-status").all_text_contents()


def connection_test_succeeds(page: Page, chat_models: list[str]) -> None:
    page.get_by_test_id("test-connection-button").click()
    expect(page.get_by_test_id("test-status")).to_have_text("Connected")
    expect(page.get_by_test_id("test-result")).to_contain_text(f"{len(chat_models)} models")
    words = step_words(page)
    assert words.count("OK") >= 3 and set(words) <= {"OK", "Skipped"}, words
    # The tested (still unsaved) backend's models are offered at once.
    options = page.get_by_test_id("model-select").locator("option")
    expect(options).to_have_text(["— Choose a model —", *chat_models])


def chat_models_of(fake) -> list[str]:
    return [model for model in fake.models if not model.startswith("text-embedding")]


def assert_key_not_in_page(page: Page, api_key: str) -> None:
    html = page.content()
    assert api_key not in html, "the API key is in the page's HTML"
    storage = page.evaluate("() => JSON.stringify([{...localStorage}, {...sessionStorage}])")
    assert api_key not in storage, "the API key is in the browser's storage"


def configure_backend_in_settings(page: Page, watch, app_url: str, server, fake, screenshot: Path | None = None) -> str:
    """Settings: choose, fill in, test, pick a model, save, reload and find it all kept. Returns the model."""
    backend = BACKEND_OF[fake.kind]
    models = chat_models_of(fake)
    model = models[1]  # not the first: the choice must be the user's, not a default
    open_settings(page, watch, app_url)
    fill_backend_form(page, backend, fake.url)
    connection_test_succeeds(page, models)
    page.get_by_test_id("model-select").select_option(model)
    page.get_by_test_id("save-button").click()
    expect(page.get_by_test_id("save-result")).to_have_text(f"Saved. {LABEL[backend]} is now the active backend.")
    # The page tests what it just saved, so "Last test" is the test of the saved values.
    expect(page.get_by_test_id("test-status")).to_have_text("Connected")
    expect(page.get_by_test_id("status-last-test")).to_contain_text("(passed)")

    saved = server.api("GET", "/api/settings/llm").json()
    assert saved["backend_type"] == backend and saved["default_model"] == model, saved
    if backend == "chatgpt":
        mask = saved["config"]["api_key_masked"]
        assert mask.startswith(API_KEY[:3]) and mask.endswith(API_KEY[-1]) and "*" in mask, mask
        expect(page.get_by_test_id("api-key-input")).to_have_value("")
        assert_key_not_in_page(page, API_KEY)

    watch.reload()
    expect(page.get_by_test_id("backend-select")).to_have_value(backend)
    if backend == "chatgpt":
        key_input = page.get_by_test_id("api-key-input")
        expect(key_input).to_have_value("")
        expect(key_input).to_have_attribute("placeholder", re.compile(re.escape(mask)))
        page.get_by_test_id("advanced-toggle").click()
        expect(page.get_by_test_id("base-url-input")).to_have_value(fake.url)
        assert_key_not_in_page(page, API_KEY)
    elif backend == "openai_compatible":
        expect(page.get_by_test_id("base-url-input")).to_have_value(fake.url)
    else:
        expect(page.get_by_test_id("url-input")).to_have_value(fake.url)
    expect(page.get_by_test_id("model-select")).to_have_value(model)
    expect(page.get_by_test_id("status-backend")).to_have_text(LABEL[backend])
    expect(page.get_by_test_id("status-connection")).to_contain_text("Connected")
    expect(page.get_by_test_id("status-model")).to_have_text(model)

    # Testing the saved values (for ChatGPT with the key field blank: the stored key) passes,
    # and the polled status dashboard catches up with it.
    connection_test_succeeds(page, models)
    expect(page.get_by_test_id("model-select")).to_have_value(model)
    expect(page.get_by_test_id("status-last-test")).to_contain_text("(passed)")
    if screenshot:
        page.screenshot(path=str(screenshot), full_page=True)
    return model


# -- Story -----------------------------------------------------------------------------------
def story_text(page: Page) -> str:
    """The story's whole text, from the editor's state (CodeMirror draws only the lines in view)."""
    return page.get_by_test_id("story-output").evaluate("element => element.storyText")


def expect_story_text(page: Page, expected: str | re.Pattern, timeout: float = 10.0) -> None:
    """Waits until the story's text is `expected` (or matches it), like expect(...).to_have_value."""
    if isinstance(expected, str):
        expect(page.get_by_test_id("story-output")).to_have_js_property("storyText", expected, timeout=timeout * 1000)
        return
    shown = [""]

    def matches() -> bool:
        shown[0] = story_text(page)
        return expected.search(shown[0]) is not None

    try:
        wait_until(matches, f"the story's text matches {expected.pattern!r}", timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}; it is {shown[0]!r}") from None


def open_library(page: Page) -> None:
    page.get_by_role("link", name="Library", exact=True).click()
    expect(page.get_by_role("heading", name="Library", exact=True)).to_be_visible()


def generate_and_stop(page: Page, fake) -> None:
    """Generate, watch the first words arrive while the model still writes, then Stop."""
    page.get_by_test_id("story-premise").fill(PREMISE)
    # The story exists on the server from the first words, and the URL names it.
    expect(page).to_have_url(re.compile(r"#/story/\d+$"))
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")
    page.get_by_test_id("generate-button").click()
    first_words = " ".join(fake.reply.split()[:3])
    expect_story_text(page, re.compile("^" + re.escape(first_words)))
    stop = page.get_by_test_id("stop-button")
    expect(stop).to_be_visible()  # the text arrives while the generation is still running
    assert fake.stats["streams_completed"] == 0
    stop.click()
    expect(page.get_by_test_id("story-stopped")).to_have_text("Stopped. The text so far is kept.")
    expect(page.get_by_test_id("generate-button")).to_be_enabled()
    kept = story_text(page)
    assert kept and fake.reply.startswith(kept) and kept != fake.reply, kept
    # Stopping in the browser reaches the model: the server closed its request upstream.
    wait_until(lambda: fake.stats["client_disconnects"] >= 1, "the fake LLM saw the request closed")
    assert fake.stats["streams_completed"] == 0, fake.stats


def generate_to_the_end(page: Page, backend: str, model: str, fake) -> None:
    page.get_by_test_id("generate-button").click()
    expect(page.get_by_test_id("stop-button")).to_be_visible()
    expect(page.get_by_test_id("generate-button")).to_be_visible(timeout=30_000)
    expect_story_text(page, fake.reply)
    expect(page.get_by_test_id("story-origin")).to_contain_text(f"written by {LABEL[backend]} · {model}")
    expect(page.get_by_test_id("story-stopped")).to_have_count(0)
    expect(page.get_by_test_id("save-status")).to_have_text("Saved")


def story_id_in_url(page: Page) -> int:
    return int(re.search(r"#/story/(\d+)$", page.url).group(1))


def reopen_and_delete(page: Page, watch, app_url: str, server, fake, screenshot: Path | None = None) -> None:
    """The story is in the library without pressing anything; it opens again from there and from its URL."""
    story_id = story_id_in_url(page)
    saved = server.api("GET", f"/api/stories/{story_id}").json()
    assert saved["content"] == fake.reply and saved["premise"] == PREMISE, saved
    title = saved["title"]
    expect(page).to_have_title(f"{title} — Taleweaver")
    open_library(page)
    item = page.get_by_test_id("library-item").filter(has=page.get_by_role("heading", name=title, exact=True))
    expect(item).to_have_count(1)
    if screenshot:
        page.screenshot(path=str(screenshot), full_page=True)

    page.get_by_test_id("new-story-link").click()
    expect(page).to_have_url(re.compile(r"#/$"))
    expect(page.get_by_test_id("story-premise")).to_have_value("")
    open_library(page)
    item.get_by_test_id("library-open-button").click()
    expect(page).to_have_url(re.compile(rf"#/story/{story_id}$"))
    expect_story_text(page, fake.reply)
    watch.goto(f"{app_url}/#/story/{story_id}")
    expect(page.get_by_test_id("story-premise")).to_have_value(PREMISE)
    expect_story_text(page, fake.reply)

    open_library(page)
    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_test_id("library-delete-button").click()
    expect(item).to_have_count(0)
    page.get_by_test_id("nav-story").click()  # the deleted story is no longer the one Story opens
    expect(page).to_have_url(re.compile(r"#/$"))
    stories = server.api("GET", "/api/stories").json()["stories"]
    assert story_id not in [story["id"] for story in stories]


def full_backend_flow(page: Page, watch, app_url: str, server, fake, screenshots: dict | None = None) -> None:
    """Everything a new user does with one backend, from Settings to an autosaved (and deleted) story."""
    screenshots = screenshots or {}
    backend = BACKEND_OF[fake.kind]
    model = configure_backend_in_settings(page, watch, app_url, server, fake, screenshots.get("settings"))
    page.get_by_test_id("nav-story").click()
    expect(page.get_by_role("heading", name="Write a story")).to_be_visible()
    expect(page.get_by_test_id("backend-missing")).to_have_count(0)
    generate_and_stop(page, fake)
    generate_to_the_end(page, backend, model, fake)
    # Both generations reached the model the user picked.
    chats = [r for r in fake.requests if r["method"] == "POST" and "chat" in r["path"]]
    assert [r["json"]["model"] for r in chats] == [model, model], chats
    reopen_and_delete(page, watch, app_url, server, fake, screenshots.get("library"))
