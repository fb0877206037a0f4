"""The fault matrix: every way an LLM backend fails, through the real server and real sockets.

Each case checks the error the client sees (DESIGN §4) and that the server goes on serving.
"""
from __future__ import annotations

import socket

import psutil
import pytest

from tests.support import configure_fake, free_port, network_is_loopback_only, sse_events

def chat(server, stream=False, **extra):
    return server.chat(stream=stream, **extra)


def active_fake(server, fake_factory, kind, **options):
    """A fake backend of that kind, saved as the server's active backend with its first model."""
    config = {k: options.pop(k) for k in ("first_token_timeout", "idle_timeout") if k in options}
    fake = fake_factory(kind, **options)
    configure_fake(server, fake, default_model=fake.models[0], **config)
    return fake


def assert_still_serving(server, fake):
    """After a fault the server answers a normal request through the same backend."""
    fake.clear_faults()
    assert server.api("GET", "/api/health").status_code == 200
    response = chat(server)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]


def error_of(response):
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["error"]


def stream_error(response):
    """(text before the failure, the error event) of a stream that failed midway."""
    events = list(sse_events(response))
    assert events[-1] == "[DONE]"
    errors = [e for e in events[:-1] if "error" in e]
    assert len(errors) == 1, events[-3:]
    text = "".join(
        (e["choices"][0]["delta"].get("content") or "") for e in events[:-1] if "choices" in e and e["choices"]
    )
    return text, errors[0]["error"]


@pytest.fixture
def ollama(server, fake_factory):
    fake = active_fake(server, fake_factory, "ollama", reply="alpha beta gamma delta epsilon zeta eta theta")
    return fake


def test_refused_connection_is_502_backend_unreachable(server):
    server.configure("ollama", {"url": f"http://127.0.0.1:{free_port()}"}, "llama3.2:3b")
    response = chat(server)
    assert response.status_code == 502
    error = error_of(response)
    assert error["code"] == "backend_unreachable"
    assert "ollama serve" in error["hint"]
    test = server.api("POST", "/api/settings/llm/test", json={"backend_type": "ollama"}).json()
    assert test["status"] == "error" and test["error_code"] == "backend_unreachable"
    assert [s["status"] for s in test["steps"]][:3] == ["ok", "failed", "skipped"]
    status = server.api("GET", "/api/settings/llm/status").json()
    assert status["status"] == "disconnected"


@pytest.mark.skipif(
    not network_is_loopback_only(),
    reason="resolving a missing host name would query this machine's DNS server; "
    "run_tests.sh runs this inside a loopback-only network namespace",
)
def test_unresolvable_host_fails_at_address_resolution(server):
    server.configure("lmstudio", {"url": "http://taleweaver-no-such-host.invalid:1234"}, "m")
    test = server.api("POST", "/api/settings/llm/test", json={"backend_type": "lmstudio"}).json()
    assert test["error_code"] == "backend_unreachable"
    assert test["steps"][0]["name"] == "resolve" and test["steps"][0]["status"] == "failed"
    assert "could not be resolved" in test["error"]
    response = chat(server)
    assert response.status_code == 502 and error_of(response)["code"] == "backend_unreachable"


def test_connect_timeout_is_504_backend_timeout(server):
    # A listener whose accept queue is full: the kernel drops further SYNs, so connect() hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        server.configure("ollama", {"url": f"http://127.0.0.1:{port}", "connect_timeout": 1}, "m")
        response = chat(server)
        assert response.status_code == 504
        assert error_of(response)["code"] == "backend_timeout"
        assert "did not accept a connection" in error_of(response)["message"]
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.mark.parametrize("stream", [False, True])
def test_first_token_timeout_is_504(server, fake_factory, stream):
    fake = active_fake(server, fake_factory, "lmstudio", first_token_timeout=1)
    fake.set_fault("delay_headers", seconds=4, times=1)
    response = chat(server, stream=stream)
    assert response.status_code == 504
    assert error_of(response)["code"] == "backend_timeout"
    assert_still_serving(server, fake)


@pytest.mark.parametrize("kind", ["ollama", "lmstudio", "chatgpt"])
def test_idle_timeout_mid_stream_ends_the_stream_with_a_timeout_error(server, fake_factory, kind):
    fake = active_fake(server, fake_factory, kind, reply="one two three four five six seven eight nine ten",
                       idle_timeout=1)
    fake.set_fault("stall_after_chunks", chunks=3, seconds=4, times=1)
    text, error = stream_error(chat(server, stream=True))
    assert text.split()[:2] == ["one", "two"]
    assert error["code"] == "backend_timeout"
    assert_still_serving(server, fake)


def test_wrong_api_key_is_502_backend_auth_failed_and_never_our_401(server, fake_factory):
    fake = fake_factory("chatgpt", api_key="sk-the-right-key-000000000")
    server.configure("chatgpt", {"base_url": fake.url, "api_key": "sk-the-wrong-key-11111111"}, fake.models[0])
    response = chat(server)
    assert response.status_code == 502
    error = error_of(response)
    assert error["code"] == "backend_auth_failed"
    assert "sk-the-wrong-key-11111111" not in response.text
    test = server.api("POST", "/api/settings/llm/test", json={"backend_type": "chatgpt"}).json()
    assert [s["name"] for s in test["steps"] if s["status"] == "failed"] == ["auth"]
    assert "API key" in test["hint"]


@pytest.mark.parametrize("kind", ["ollama", "lmstudio", "chatgpt"])
def test_unknown_model_is_404_model_not_found(server, fake_factory, kind):
    fake = active_fake(server, fake_factory, kind)
    response = chat(server, model="no-such-model")
    assert response.status_code == 404
    assert error_of(response)["code"] == "model_not_found"
    assert_still_serving(server, fake)


def test_rate_limit_is_429_with_retry_after_passed_on(server, fake_factory):
    fake = active_fake(server, fake_factory, "chatgpt", api_key="sk-rate-limited-000000")
    fake.set_fault("status", code=429, retry_after=7, times=1)
    response = chat(server)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert error_of(response)["code"] == "rate_limited"
    assert_still_serving(server, fake)


@pytest.mark.parametrize("kind", ["ollama", "lmstudio", "chatgpt"])
def test_backend_500_is_502_backend_error(server, fake_factory, kind):
    fake = active_fake(server, fake_factory, kind)
    fake.set_fault("status", code=500, times=1)
    response = chat(server)
    assert response.status_code == 502
    assert error_of(response)["code"] == "backend_error"
    assert_still_serving(server, fake)


@pytest.mark.parametrize("kind", ["ollama", "lmstudio", "chatgpt"])
def test_backend_dying_mid_stream_keeps_the_text_so_far_and_ends_cleanly(server, fake_factory, kind):
    fake = active_fake(server, fake_factory, kind, reply="one two three four five six seven eight nine ten")
    fake.set_fault("die_after_chunks", chunks=4, times=1)
    text, error = stream_error(chat(server, stream=True))
    assert text.startswith("one two")
    assert error["code"] == "backend_error"
    assert "closed the connection" in error["message"] or "without finishing" in error["message"]
    assert_still_serving(server, fake)


@pytest.mark.parametrize("kind", ["ollama", "lmstudio", "chatgpt"])
def test_malformed_line_in_a_stream_is_reported_not_forwarded(server, fake_factory, kind):
    fake = active_fake(server, fake_factory, kind, reply="one two three four five six")
    fake.set_fault("malformed_after_chunks", chunks=2, times=1)
    text, error = stream_error(chat(server, stream=True))
    assert error["code"] == "backend_error"
    assert "not JSON" in error["message"] and "is kept" in error["message"]
    assert_still_serving(server, fake)


SPLIT_AND_LONE = ["Hi ", "\ud83d", "\ude00 and ", "a lone \ud800 half", " and \udc00 one", " end"]


@pytest.mark.parametrize("kind", ["ollama", "lmstudio", "chatgpt", "openai_compatible"])
def test_a_surrogate_pair_split_across_chunks_and_lone_surrogates_arrive_as_valid_text(server, fake_factory, kind):
    fake = active_fake(server, fake_factory, kind, reply=SPLIT_AND_LONE)
    events = list(sse_events(chat(server, stream=True)))
    assert events[-1] == "[DONE]" and not [e for e in events[:-1] if "error" in e]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e["choices"])
    assert text == "Hi \U0001f600 and a lone \ufffd half and \ufffd one end"
    assert_still_serving(server, fake)


@pytest.mark.parametrize("kind", ["ollama", "lmstudio", "chatgpt", "openai_compatible"])
def test_a_line_of_two_mebibytes_without_a_break_ends_the_stream_with_a_backend_error(server, fake_factory, kind):
    fake = active_fake(server, fake_factory, kind, reply="one two three four five six")
    fake.set_fault("unbroken_line", chunks=3, bytes=2 * 1024 * 1024, times=1)
    text, error = stream_error(chat(server, stream=True))
    assert error["code"] == "backend_error" and "without a line break" in error["message"]
    assert "is kept" in error["message"] and text.startswith("one")
    assert_still_serving(server, fake)


@pytest.mark.parametrize("stream", [False, True])
def test_a_ten_megabyte_answer_arrives_whole(server, fake_factory, stream):
    size = 10 * 1024 * 1024
    fake = active_fake(server, fake_factory, "ollama")
    fake.set_fault("large_reply", bytes=size, times=1)
    response = chat(server, stream=stream)
    assert response.status_code == 200
    if stream:
        events = list(sse_events(response))
        assert events[-1] == "[DONE]"
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e["choices"])
    else:
        text = response.json()["choices"][0]["message"]["content"]
    assert len(text.encode()) == size
    assert_still_serving(server, fake)


def _worker_resources(server) -> tuple[int, int]:
    workers = psutil.Process(server.process.pid).children()
    return sum(w.num_threads() for w in workers), sum(w.num_fds() for w in workers)


CLIENT_FAULTS = {
    "a lone surrogate in a message": '{"messages": [{"role": "user", "content": "a\\ud800b"}]}',
    "JSON nested 50,000 deep": '{"messages": [{"role": "user", "content": "hi"}], "x": ' + "[" * 50_000 + "]" * 50_000 + "}",
    "NaN as the temperature": '{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
    "Infinity as top_p": '{"messages": [{"role": "user", "content": "hi"}], "top_p": Infinity}',
}


@pytest.mark.parametrize("body", CLIENT_FAULTS.values(), ids=CLIENT_FAULTS.keys())
def test_a_clients_bad_body_is_a_400_and_never_reaches_the_backend(server, fake_factory, body):
    fake = active_fake(server, fake_factory, "openai_compatible")
    response = server.api("POST", "/proxy/llm/v1/chat/completions", data=body.encode(),
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error" and error_of(response)["message"]
    assert not [r for r in fake.requests if r["path"].endswith("/chat/completions")]
    assert_still_serving(server, fake)


def test_faults_leave_no_threads_or_open_files_behind(server, fake_factory):
    fake = active_fake(server, fake_factory, "lmstudio", reply="one two three four five six seven eight",
                       chunk_delay=0.01, idle_timeout=1, first_token_timeout=1)
    faults = [
        ("die_after_chunks", {"chunks": 2}),
        ("malformed_after_chunks", {"chunks": 2}),
        ("unbroken_line", {"chunks": 2, "bytes": 2 * 1024 * 1024}),
        ("stall_after_chunks", {"chunks": 2, "seconds": 2}),
        ("status", {"code": 500}),
        ("delay_headers", {"seconds": 2}),
    ]

    def one_round():
        for name, params in faults:
            fake.set_fault(name, times=1, **params)
            list(chat(server, stream=True).iter_content(None))
        for _ in range(4):
            list(chat(server, stream=True).iter_content(None))

    one_round()  # warm-up: thread pools and connection pools reach their working size
    threads_before, fds_before = _worker_resources(server)
    for _ in range(3):
        one_round()
    threads_after, fds_after = _worker_resources(server)
    assert threads_after <= threads_before + 2, (threads_before, threads_after)
    assert fds_after <= fds_before + 4, (fds_before, fds_after)
    assert_still_serving(server, fake)
