"""Browser tests: the built frontend in Debian's chromium (Playwright, no browser download).

One browser for all the browser tests, a fresh context (cookies, storage) per test. Every
page is watched: a console error, an uncaught page error, a failed request, an HTTP error
answer or a request to any address but the app's and the backend's fails the test.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.flows import fake_options
from tests.fakes import FakeLLMServer
from tests.support import ROOT

CHROMIUM = os.environ.get("TALEWEAVER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DIST_INDEX = ROOT / "frontend" / "dist" / "index.html"
DESKTOP = {"width": 1280, "height": 900}
TIMEOUT_MS = 10_000
GENERATION_EVENTS = re.compile(r"/proxy/llm/v1/generations/\d+/events")


@pytest.fixture(scope="session", autouse=True)
def built_frontend() -> Path:
    """scripts/setup.sh builds the bundle; without it the server would serve a placeholder page."""
    if not DIST_INDEX.exists():
        pytest.fail(
            f"{DIST_INDEX} is missing: build the frontend first (scripts/setup.sh, or "
            "`cd frontend && npm run build`).",
            pytrace=False,
        )
    return DIST_INDEX.parent


@pytest.fixture(scope="package")
def browser():
    """Debian's chromium, started once for the browser tests. Failing to start fails them: never a skip."""
    playwright = sync_playwright().start()
    problem = None
    try:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:
        problem = str(exc)
    if problem is not None:
        playwright.stop()
        pytest.fail(
            f"chromium could not start from {CHROMIUM}: {problem}\nThe browser tests need Debian's "
            "chromium: scripts/setup.sh --dev installs it (apt-get install chromium).",
            pytrace=False,
        )
    expect.set_options(timeout=TIMEOUT_MS)
    yield instance
    instance.close()
    playwright.stop()


@pytest.fixture(scope="session")
def screenshot_dir():
    """docs/screenshots with TALEWEAVER_SCREENSHOTS=1 (to refresh the README's pictures), else a temp dir."""
    if os.environ.get("TALEWEAVER_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        yield target
        return
    with tempfile.TemporaryDirectory(prefix="taleweaver-screenshots-") as target:
        yield Path(target)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class BrowserWatch:
    """Everything a page reports that a user would call broken, kept until the test ends.

    Allowed, each a request cancelled with net::ERR_ABORTED where nothing went wrong:
    - a request of a document the test itself navigated away from (a reload while a status
      poll was in flight), or one started while that navigation was under way;
    - a generation's event stream (POST /proxy/llm/v1/chat/completions, or following it with
      GET /proxy/llm/v1/generations/<id>/events): the page cancels it once it has read
      `data: [DONE]`, a moment before the server's closing empty chunk arrives, so Chromium
      reports every such stream as aborted. Whether the story arrived whole, or stopped with
      its text kept, is what the tests check on the page.
    """

    def __init__(self, page, allowed_origins: list[str]):
        self.page = page
        self.allowed_origins = {origin_of(url) for url in allowed_origins}
        self.problems: list[str] = []
        self.requests: list = []
        self._navigations = 0
        self._started_in: dict = {}
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught page error: {error}"))
        page.on("request", self._request)
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.problems.append(f"console error: {message.text} ({where})")

    def _request(self, request) -> None:
        self.requests.append(request)
        self._started_in[id(request)] = self._navigations
        if request.url.startswith(("http:", "https:")) and origin_of(request.url) not in self.allowed_origins:
            self.problems.append(f"request to an address that is neither the app nor the backend: {request.method} {request.url}")

    def _request_failed(self, request) -> None:
        failure = request.failure or ""
        if "ERR_ABORTED" in failure:
            if self._started_in.get(id(request), self._navigations) < self._navigations:
                return
            path = urlsplit(request.url).path
            if request.method == "POST" and path == "/proxy/llm/v1/chat/completions":
                return
            if request.method == "GET" and GENERATION_EVENTS.fullmatch(path):
                return
        self.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status} for {response.request.method} {response.url}")

    # -- what tests call -----------------------------------------------------------------
    # A navigation counts twice: before it (what the old document had started) and after it
    # (what the old document started while the navigation was under way, as a status poll can
    # on a slow machine, is cancelled by it too).
    def goto(self, url: str) -> None:
        self._navigations += 1
        self.page.goto(url)
        self._navigations += 1

    def reload(self) -> None:
        self._navigations += 1
        self.page.reload()
        self._navigations += 1

    def take_problems(self) -> list[str]:
        """Hands over (and forgets) what was seen so far, for a test that expects problems."""
        problems, self.problems = self.problems, []
        return problems


@pytest.fixture(scope="module")
def fakes():
    """One fake LLM server per kind for the module, started when first asked for.

    They outlive each test on purpose: the server keeps the last test's backend as the active
    one, and the next test's page asks it for its models; a stopped fake would answer that
    with a 502 that belongs to no test.
    """
    started: dict[str, FakeLLMServer] = {}

    def fake_of(kind: str) -> FakeLLMServer:
        if kind not in started:
            started[kind] = FakeLLMServer(kind, **fake_options(kind)).start()
        return started[kind]

    yield fake_of
    for fake in started.values():
        fake.stop()


@pytest.fixture(scope="module")
def app_urls(server) -> tuple[str, str]:
    """(where the browser loads the app, where the app's API calls go): same origin by default."""
    return server.url, server.url


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def watched(browser, app_urls, request):
    """A fresh page (own context) and its BrowserWatch; any problem it saw fails the test."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watch = BrowserWatch(page, list(app_urls))
    yield page, watch
    failed = getattr(request.node, "report_call", None) is not None and request.node.report_call.failed
    if failed:
        results = ROOT / "test-results" / "browser"
        results.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            page.screenshot(path=str(results / f"{name}.png"), full_page=True)
            print(f"screenshot of the failed test: {results / f'{name}.png'}")
        except Exception as exc:  # the page may be gone; the failure itself matters more
            print(f"no screenshot: {exc}")
    problems = list(watch.problems)  # closing cancels what is in flight; that is not the app's doing
    context.close()
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)
