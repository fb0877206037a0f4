"""The frontend on its own port (`vite preview`), the backend on another, as in the WSL set-up.

The bundle is built for this run with VITE_API_BASE_URL pointing at the backend (the variable
is read at build time), and the backend allows exactly the frontend's origin. Only this set-up
can show a CORS error; a test fails on any.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.flows import full_backend_flow
from tests.support import ROOT, TaleweaverServer, free_port

FRONTEND = ROOT / "frontend"
VITE = FRONTEND / "node_modules" / ".bin" / "vite"


@pytest.fixture(scope="module")
def frontend_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(frontend_port):
    """The backend, allowing the frontend's origin (and no other) in CORS."""
    instance = TaleweaverServer(env={"TALEWEAVER_CORS_ORIGINS": f"http://127.0.0.1:{frontend_port}"}).start()
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def frontend(server, frontend_port):
    """`vite preview` serving a bundle built to call the backend at its own address."""
    if not VITE.exists():
        pytest.fail(f"{VITE} is missing: run scripts/setup.sh --dev (npm ci in frontend/)", pytrace=False)
    origin = f"http://127.0.0.1:{frontend_port}"
    with tempfile.TemporaryDirectory(prefix="taleweaver-split-") as tmp:
        out_dir = os.path.join(tmp, "dist")
        env = {**os.environ, "VITE_API_BASE_URL": server.url}
        build = subprocess.run(
            [str(VITE), "build", "--outDir", out_dir, "--emptyOutDir", "--logLevel", "warn"],
            cwd=FRONTEND, env=env, capture_output=True, text=True, timeout=180,
        )
        assert build.returncode == 0, f"vite build failed:\n{build.stdout}\n{build.stderr}"
        with open(os.path.join(tmp, "preview.log"), "wb") as log:
            preview = subprocess.Popen(
                [str(VITE), "preview", "--outDir", out_dir, "--port", str(frontend_port), "--strictPort",
                 "--host", "127.0.0.1"],
                cwd=FRONTEND, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            wait_for_page(origin, preview, os.path.join(tmp, "preview.log"))
            yield origin
        finally:
            preview.terminate()
            try:
                preview.wait(timeout=10)
            except subprocess.TimeoutExpired:
                preview.kill()
                preview.wait()


def wait_for_page(origin: str, process: subprocess.Popen, log_path: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if 'id="root"' in requests.get(origin + "/", timeout=1).text:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        raise RuntimeError(f"vite preview did not serve {origin}:\n{handle.read()}")


@pytest.fixture(scope="module")
def app_urls(frontend, server) -> tuple[str, str]:
    return frontend, server.url


@pytest.mark.parametrize("kind", ["lmstudio", "ollama", "chatgpt", "openai_compatible"])
def test_the_whole_flow_works_across_origins_without_a_cors_error(watched, server, frontend, fakes, kind):
    page, watch = watched
    full_backend_flow(page, watch, frontend, server, fakes(kind))
    # It really was cross-origin: the API calls went to the backend's port, which allowed this origin.
    api_calls = [r for r in watch.requests if r.url.startswith(server.url + "/")]
    assert api_calls and not any(r.url.startswith(frontend + "/api") for r in watch.requests)
    stream = [r for r in api_calls if r.url.endswith("/proxy/llm/v1/chat/completions") and r.method == "POST"][-1]
    headers = stream.response().headers
    assert headers["access-control-allow-origin"] == frontend
    # The proxy's headers are exposed to the page, so it can say who wrote the story.
    assert "x-taleweaver-model" in headers["access-control-expose-headers"].lower()


def test_an_origin_the_backend_does_not_allow_is_told_apart_from_a_server_that_is_down(watched, server, frontend):
    """The same bundle opened as http://localhost:<port> is another origin, which the server
    refuses: the page says the server runs but refuses this origin, and names the setting."""
    page, watch = watched
    other_origin = frontend.replace("127.0.0.1", "localhost")
    watch.goto(other_origin + "/")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(f"The Taleweaver server at {server.url} is running but refuses requests")
    expect(alert).to_contain_text(f"Add {other_origin} to TALEWEAVER_CORS_ORIGINS")
    expect(alert).not_to_contain_text("is it running?")
    watch.goto("about:blank")
    problems = watch.take_problems()
    assert any("blocked by CORS policy" in problem for problem in problems), problems

