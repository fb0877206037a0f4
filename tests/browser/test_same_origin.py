"""The built bundle served by the backend on its own port, as ./run.sh runs it: one origin."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.flows import BACKEND_OF, full_backend_flow, open_settings
from tests.support import configure_fake

PHONE = {"width": 375, "height": 812}


@pytest.mark.parametrize("kind", ["lmstudio", "ollama", "chatgpt", "openai_compatible"])
def test_a_user_sets_up_the_backend_then_writes_stops_and_saves_a_story(
    watched, server, fakes, screenshot_dir, kind
):
    page, watch = watched
    fake = fakes(kind)
    screenshots = {}
    if kind == "lmstudio":
        screenshots = {"settings": screenshot_dir / "settings.png", "library": screenshot_dir / "library.png"}
    full_backend_flow(page, watch, server.url, server, fake, screenshots)
    for path in screenshots.values():
        assert path.stat().st_size > 10_000, f"{path} looks empty"


def test_settings_fit_a_phone_screen(watched, server, fakes, screenshot_dir):
    page, watch = watched
    fake = fakes("ollama")
    configure_fake(server, fake, default_model=fake.models[0])
    page.set_viewport_size(PHONE)
    open_settings(page, watch, server.url)
    expect(page.get_by_test_id("backend-select")).to_have_value(BACKEND_OF[fake.kind])
    expect(page.get_by_test_id("status-connection")).to_contain_text("Connected")
    page.get_by_test_id("test-connection-button").click()
    expect(page.get_by_test_id("test-status")).to_have_text("Connected")
    expect(page.get_by_test_id("model-select")).to_have_value(fake.models[0])
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the Settings page is {overflow}px wider than a 375px phone screen"
    page.screenshot(path=str(screenshot_dir / "settings-mobile.png"), full_page=True)
