"""Stopping the server while plain streams run through the proxy (a restart, `docker stop`,
Ctrl+C): every stream ends with an error event that says why and what to do, never a cut
connection. Story generations at a stop: test_story_generations.py and test_many_instances.py."""
from __future__ import annotations

import signal

import psutil
import pytest

from tests.support import TaleweaverServer, configure_fake, sse_events

WORDS = [f"w{i}" for i in range(300)]  # 30 s of writing: longer than the graceful time


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
@pytest.mark.parametrize("kind", ["lmstudio", "ollama"])
def test_a_plain_stream_open_when_the_server_stops_ends_with_an_error_that_says_so(fake_factory, kind, how):
    fake = fake_factory(kind, reply=" ".join(WORDS), chunk_delay=0.1)
    # A graceful time of 3 s: the streams still open 2 s before it runs out are ended.
    server = TaleweaverServer(env={"TALEWEAVER_GRACEFUL_TIMEOUT": "3"}).start()
    try:
        configure_fake(server, fake, default_model=fake.models[0])
        response = server.api("POST", "/proxy/llm/v1/chat/completions", stream=True, json={
            "messages": [{"role": "user", "content": "Count."}], "stream": True})
        assert response.status_code == 200, response.text
        events = sse_events(response)
        seen = [next(events) for _ in range(5)]
        master = psutil.Process(server.process.pid)
        for process in [master, *master.children()] if how == "ctrl-c" else [master]:
            process.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGTERM)
        seen += list(events)  # to its end: it must not be cut
        server.process.wait(timeout=30)
        log = server.log_text()
    finally:
        server.close()

    assert seen[-1] == "[DONE]"
    error = seen[-2]["error"]
    assert error["code"] == "server_stopping" and error["type"] == "server_error"
    assert "stopping" in error["message"] and "again" in error["hint"]
    text = "".join(event["choices"][0]["delta"].get("content") or "" for event in seen[:-2] if event.get("choices"))
    assert text and " ".join(WORDS).startswith(text)  # the answer up to the cut, in order
    assert "Worker graceful timeout" not in log
