"""Tests of the fake LLM servers themselves (real HTTP over loopback)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.fakes import DEFAULT_MODELS, DEFAULT_REPLY, FakeLLMServer, mask_api_key

REPO = Path(__file__).resolve().parents[2]
T = 5  # request timeout, seconds
KEY = "sk-proj-SECRETabcdefghijklmnopqrstuvwxyz0123456789"


# ------------------------------------------------------------------ helpers


@pytest.fixture
def make():
    servers = []

    def _make(kind, **kw):
        srv = FakeLLMServer(kind, **kw).start()
        servers.append(srv)
        return srv

    yield _make
    for s in servers:
        s.stop()


def chat_url(srv):
    return srv.base_url + ("/api/chat" if srv.kind == "ollama" else "/v1/chat/completions")


def chat_body(srv, stream, **extra):
    body = {"model": srv.models[0], "messages": [{"role": "user", "content": "Tell me a story"}]}
    body["stream"] = stream
    body.update(extra)
    return body


def headers_for(srv):
    return {"Authorization": f"Bearer {srv.api_key}"} if srv.api_key else {}


def stream_events(resp):
    """Raw events of a stream: NDJSON lines, or the payload of SSE ``data:`` lines."""
    out = []
    for line in resp.iter_lines():
        if not line:
            continue
        line = line.decode("utf-8")
        if line.startswith("data: "):
            line = line[len("data: "):]
        out.append(line)
    return out


def content_of(srv, events):
    """Concatenate streamed text; skips unparsable events and [DONE]."""
    text = []
    for ev in events:
        if ev == "[DONE]":
            continue
        try:
            obj = json.loads(ev)
        except ValueError:
            continue
        if srv.kind == "ollama":
            text.append(obj["message"]["content"])
        else:
            for ch in obj["choices"]:
                text.append(ch["delta"].get("content") or "")
    return "".join(text)


def wait_for(pred, timeout=3.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


# ------------------------------------------------------------------ binding


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "192.168.0.1", "example.com", "::", ""])
def test_refuses_non_loopback(host):
    with pytest.raises(ValueError):
        FakeLLMServer("ollama", host=host)


def test_localhost_and_url_shapes(make):
    o = make("ollama", host="localhost")
    assert o.host == "127.0.0.1" and o.url == f"http://127.0.0.1:{o.port}" and o.port > 0
    lm = make("lmstudio", host="127.0.0.2")
    assert lm.url == f"http://127.0.0.2:{lm.port}"
    oa = make("chatgpt")
    assert oa.url == f"http://127.0.0.1:{oa.port}/v1"
    with FakeLLMServer("chatgpt").start() as srv:
        assert requests.get(srv.url + "/models", timeout=T).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(srv.url + "/models", timeout=T)
    with pytest.raises(ValueError):
        FakeLLMServer("llamacpp")


# ------------------------------------------------------------------ Ollama


def test_ollama_models_version_ps(make):
    srv = make("ollama")
    r = requests.get(srv.url + "/", timeout=T)
    assert r.status_code == 200 and r.text == "Ollama is running"
    assert requests.get(srv.url + "/api/version", timeout=T).json() == {"version": "0.6.5"}
    tags = requests.get(srv.url + "/api/tags", timeout=T).json()["models"]
    assert [m["name"] for m in tags] == DEFAULT_MODELS["ollama"]
    m = tags[0]
    for key in ("name", "model", "modified_at", "size", "digest"):
        assert key in m
    assert len(m["digest"]) == 64 and isinstance(m["size"], int)
    assert set(m["details"]) >= {"format", "family", "parameter_size", "quantization_level"}
    assert m["details"]["format"] == "gguf" and m["details"]["parameter_size"] == "3B"
    ps = requests.get(srv.url + "/api/ps", timeout=T).json()["models"]
    assert [p["name"] for p in ps] == ["llama3.2:3b"]
    assert {"expires_at", "size_vram", "details"} <= set(ps[0])


def test_ollama_show_gives_num_ctx_only_when_set_and_the_trained_context(make):
    plain = make("ollama")
    shown = requests.post(plain.url + "/api/show", json={"model": "llama3.2:3b"}, timeout=T).json()
    assert "num_ctx" not in shown["parameters"]
    assert shown["model_info"]["llama.context_length"] == 131072
    sized = make("ollama", context_length=8192)
    shown = requests.post(sized.url + "/api/show", json={"model": "llama3.2:3b"}, timeout=T).json()
    assert shown["parameters"].startswith("num_ctx") and "8192" in shown["parameters"]
    missing = requests.post(sized.url + "/api/show", json={"model": "nope"}, timeout=T)
    assert missing.status_code == 404 and "not found" in missing.json()["error"]


def test_ollama_chat_stream_default_and_nonstream(make):
    srv = make("ollama")
    body = chat_body(srv, True)
    del body["stream"]  # absent = streaming
    r = requests.post(chat_url(srv), json=body, stream=True, timeout=T)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/x-ndjson"
    assert r.headers["Transfer-Encoding"] == "chunked"
    objs = [json.loads(e) for e in stream_events(r)]
    assert all(o["done"] is False for o in objs[:-1])
    assert [o["x_fake_seq"] for o in objs] == list(range(len(objs)))
    last = objs[-1]
    assert last["done"] is True and last["done_reason"] == "stop"
    assert last["message"] == {"role": "assistant", "content": ""}
    assert last["eval_count"] == len(objs) - 1
    for key in ("total_duration", "load_duration", "prompt_eval_count",
                "prompt_eval_duration", "eval_duration"):
        assert isinstance(last[key], int) and last[key] > 0
    assert content_of(srv, [json.dumps(o) for o in objs]) == DEFAULT_REPLY
    assert srv.stats["streams_completed"] == 1
    assert len(srv.stats["chunk_times"]) == len(objs)

    r = requests.post(chat_url(srv), json=chat_body(srv, False), timeout=T)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    obj = r.json()
    assert obj["done"] is True and obj["message"]["content"] == DEFAULT_REPLY
    assert obj["done_reason"] == "stop" and obj["eval_count"] == len(objs) - 1


def test_ollama_num_predict_unknown_model_unknown_path(make):
    srv = make("ollama", models=["llama3.2:latest"], reply="one two three four five six")
    r = requests.post(chat_url(srv), json={"model": "llama3.2", "stream": False,
                                           "messages": [{"role": "user", "content": "x"}],
                                           "options": {"num_predict": 3}}, timeout=T)
    obj = r.json()
    assert obj["message"]["content"] == "one two three"
    assert obj["done_reason"] == "length" and obj["eval_count"] == 3
    r = requests.post(chat_url(srv), json={"model": "nope:1b", "messages": []}, timeout=T)
    assert r.status_code == 404
    assert r.json() == {"error": 'model "nope:1b" not found, try pulling it first'}
    r = requests.get(srv.url + "/api/nothing", timeout=T)
    assert r.status_code == 404 and r.text == "404 page not found"


# ------------------------------------------------------------------ LM Studio


def test_lmstudio_models(make):
    srv = make("lmstudio")
    v1 = requests.get(srv.url + "/v1/models", timeout=T).json()
    assert v1 == {"object": "list", "data": [
        {"id": m, "object": "model", "owned_by": "organization_owner"}
        for m in DEFAULT_MODELS["lmstudio"]]}
    v0 = requests.get(srv.url + "/api/v0/models", timeout=T).json()
    assert v0["object"] == "list"
    assert [d["state"] for d in v0["data"]] == ["loaded", "not-loaded"]
    for d in v0["data"]:
        loaded = {"loaded_context_length"} if d["state"] == "loaded" else set()
        assert set(d) == {"id", "object", "type", "publisher", "arch", "compatibility_type",
                          "quantization", "state", "max_context_length"} | loaded
        assert d["type"] == "llm" and d["compatibility_type"] == "gguf"
    assert v0["data"][0]["loaded_context_length"] == 4096  # LM Studio's default when loading
    one = requests.get(srv.url + "/api/v0/models/llama-3.2-3b-instruct", timeout=T).json()
    assert one["id"] == "llama-3.2-3b-instruct" and one["arch"] == "llama"
    assert requests.get(srv.url + "/api/v0/models/nope", timeout=T).status_code == 404
    r = requests.get(srv.url + "/v1/nothing", timeout=T)
    assert r.status_code == 404
    assert r.json() == {"error": "Unexpected endpoint or method. (GET /v1/nothing)"}


def test_lmstudio_chat_nonstream_stream_and_max_tokens(make):
    srv = make("lmstudio")
    r = requests.post(chat_url(srv), json=chat_body(srv, False), timeout=T)
    obj = r.json()
    assert obj["object"] == "chat.completion" and obj["model"] == srv.models[0]
    assert obj["choices"][0]["message"] == {"role": "assistant", "content": DEFAULT_REPLY}
    assert obj["choices"][0]["finish_reason"] == "stop"
    u = obj["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] > 0

    r = requests.post(chat_url(srv), json=chat_body(srv, True, max_tokens=4), stream=True, timeout=T)
    assert r.headers["Content-Type"].startswith("text/event-stream")
    evs = stream_events(r)
    assert evs[-1] == "[DONE]"
    chunks = [json.loads(e) for e in evs[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None,
                                        "finish_reason": "length"}
    assert content_of(srv, evs) == " ".join(DEFAULT_REPLY.split(" ")[:4])
    assert "usage" not in chunks[1]

    # The v0 REST chat endpoint answers too, with LM Studio's extra stats.
    r = requests.post(srv.url + "/api/v0/chat/completions", json=chat_body(srv, False), timeout=T)
    assert {"stats", "model_info", "runtime"} <= set(r.json())

    # Unknown model: LM Studio's own HTTP 400 "Invalid model identifier", naming downloaded models.
    r = requests.post(chat_url(srv), json={"model": "ghost", "messages": [{"role": "user", "content": "x"}]},
                      timeout=T)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "model_not_found" and err["param"] == "model"
    assert err["message"].startswith('Invalid model identifier "ghost". Please specify a valid downloaded model (e.g., ')
    assert srv.models[0] in err["message"]


def test_lmstudio_no_model_loaded_and_model_loading(make):
    srv = make("lmstudio")
    srv.set_fault("no_model_loaded")
    r = requests.post(chat_url(srv), json=chat_body(srv, False), timeout=T)
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("No models loaded. Please load a model")
    states = [d["state"] for d in requests.get(srv.url + "/api/v0/models", timeout=T).json()["data"]]
    assert states == ["not-loaded", "not-loaded"]
    srv.clear_faults()
    assert requests.post(chat_url(srv), json=chat_body(srv, False), timeout=T).status_code == 200

    srv.set_fault("model_loading", seconds=0.1, times=1)
    states = [d["state"] for d in requests.get(srv.url + "/api/v0/models", timeout=T).json()["data"]]
    assert states == ["not-loaded", "not-loaded"]
    body = chat_body(srv, False, model="llama-3.2-3b-instruct")
    assert requests.post(chat_url(srv), json=body, timeout=T).status_code == 200
    states = [d["state"] for d in requests.get(srv.url + "/api/v0/models", timeout=T).json()["data"]]
    assert states == ["loaded", "loaded"]  # JIT-loaded on use


def test_ollama_no_model_loaded_empties_ps(make):
    srv = make("ollama")
    srv.set_fault("no_model_loaded")
    assert requests.get(srv.url + "/api/ps", timeout=T).json() == {"models": []}
    assert requests.post(chat_url(srv), json=chat_body(srv, False), timeout=T).status_code == 200


# ------------------------------------------------------------------ OpenAI


def test_openai_auth_and_models(make):
    srv = make("chatgpt", api_key=KEY)
    r = requests.get(srv.url + "/models", timeout=T)
    assert r.status_code == 401
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error" and err["code"] is None
    assert "You didn't provide an API key" in err["message"]

    wrong = "sk-wrong-0123456789abcdefghijklmnopqrstuvwxyz"
    r = requests.post(srv.url + "/chat/completions", json=chat_body(srv, False),
                      headers={"Authorization": f"Bearer {wrong}"}, timeout=T)
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["code"] == "invalid_api_key"
    assert wrong not in r.text and mask_api_key(wrong) in err["message"]
    assert "*" in mask_api_key(wrong) and mask_api_key(wrong)[-4:] == wrong[-4:]

    r = requests.get(srv.url + "/models", headers=headers_for(srv), timeout=T)
    assert r.status_code == 200 and r.headers.get("x-request-id")
    data = r.json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == DEFAULT_MODELS["chatgpt"]
    assert all(set(m) == {"id", "object", "created", "owned_by"} and m["object"] == "model"
               for m in data["data"])
    r = requests.get(srv.url + "/models/gpt-4o", headers=headers_for(srv), timeout=T)
    assert r.json()["id"] == "gpt-4o"
    r = requests.get(srv.url + "/nothing", headers=headers_for(srv), timeout=T)
    assert r.status_code == 404 and r.json()["error"]["message"] == "Invalid URL (GET /v1/nothing)"


def test_openai_chat_stream_with_usage(make):
    srv = make("chatgpt", api_key=KEY)
    r = requests.post(srv.url + "/chat/completions", headers=headers_for(srv), stream=True, timeout=T,
                      json=chat_body(srv, True, stream_options={"include_usage": True}))
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    evs = stream_events(r)
    assert evs[-1] == "[DONE]"
    chunks = [json.loads(e) for e in evs[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["usage"] is None for c in chunks[:-1])
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == len(chunks) - 3
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert [c["x_fake_seq"] for c in chunks] == list(range(len(chunks)))
    assert len({c["id"] for c in chunks}) == 1
    assert content_of(srv, evs) == DEFAULT_REPLY

    r = requests.post(srv.url + "/chat/completions", headers=headers_for(srv), timeout=T,
                      json=chat_body(srv, False, max_completion_tokens=2))
    obj = r.json()
    assert obj["choices"][0]["finish_reason"] == "length" and obj["usage"]["completion_tokens"] == 2

    r = requests.post(srv.url + "/chat/completions", headers=headers_for(srv), timeout=T,
                      json=chat_body(srv, False, model="gpt-9"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = requests.post(srv.url + "/chat/completions", headers=headers_for(srv), timeout=T,
                      json=chat_body(srv, False, model="text-embedding-3-small"))
    assert r.status_code == 404 and "not a chat model" in r.json()["error"]["message"]


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize("kind", ["ollama", "lmstudio", "chatgpt"])
def test_status_faults_native_bodies(make, kind):
    srv = make(kind)
    url, body = chat_url(srv), chat_body(srv, False)

    srv.set_fault("status", code=429, retry_after=7)
    r = requests.post(url, json=body, timeout=T)
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    if kind == "chatgpt":
        assert r.json()["error"]["code"] == "rate_limit_exceeded"
        assert r.json()["error"]["type"] == "requests"
    # models requests get the same status
    models_path = "/api/tags" if kind == "ollama" else "/v1/models"
    assert requests.get(srv.base_url + models_path, timeout=T).status_code == 429

    srv.set_fault("status", code=401)
    r = requests.post(url, json=body, headers={"Authorization": "Bearer sk-abcdefghijklmnopqrstuvwxyz123"},
                      timeout=T)
    assert r.status_code == 401
    if kind == "ollama":
        assert r.json() == {"error": "unauthorized"}
    else:
        assert r.json()["error"]["code"] == "invalid_api_key"
        assert "sk-abcdefghijklmnopqrstuvwxyz123" not in r.text

    srv.set_fault("status", code=404)
    r = requests.post(url, json=body, timeout=T)
    assert r.status_code == 404
    if kind == "ollama":
        assert r.json()["error"] == f'model "{srv.models[0]}" not found, try pulling it first'
    else:
        assert r.json()["error"]["code"] == "model_not_found"

    srv.set_fault("status", code=500, message="kaboom", times=1)
    r = requests.post(url, json=body, timeout=T)
    assert r.status_code == 500
    err = r.json()["error"]
    assert (err if isinstance(err, str) else err["message"]) == "kaboom"
    # times=1: the fault is gone again
    assert requests.post(url, json=body, timeout=T).status_code == 200


def test_openai_insufficient_quota(make):
    srv = make("chatgpt")
    srv.set_fault("status", code=429, error_code="insufficient_quota")
    err = requests.post(chat_url(srv), json=chat_body(srv, False), timeout=T).json()["error"]
    assert err["code"] == "insufficient_quota" and err["type"] == "insufficient_quota"


def test_delay_headers_and_disconnect_during_delay(make):
    srv = make("chatgpt")
    srv.set_fault("delay_headers", seconds=2.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(srv.url + "/models", timeout=(T, 0.2))
    assert wait_for(lambda: srv.stats["client_disconnects"] == 1)
    srv.clear_faults()
    assert requests.get(srv.url + "/models", timeout=T).status_code == 200


@pytest.mark.parametrize("kind", ["ollama", "chatgpt"])
def test_stall_after_chunks(make, kind):
    srv = make(kind)
    srv.set_fault("stall_after_chunks", chunks=2, seconds=2.0)
    r = requests.post(chat_url(srv), json=chat_body(srv, True), stream=True, timeout=(T, 0.3))
    got = []
    with pytest.raises(requests.exceptions.ConnectionError):  # read timeout mid-stream
        for line in r.iter_lines():
            if line:
                got.append(line)
    assert len(got) == 2
    r.close()
    assert wait_for(lambda: srv.stats["client_disconnects"] == 1)


@pytest.mark.parametrize("kind", ["ollama", "lmstudio", "chatgpt", "openai_compatible"])
def test_die_after_chunks(make, kind):
    srv = make(kind)
    srv.set_fault("die_after_chunks", chunks=3)
    r = requests.post(chat_url(srv), json=chat_body(srv, True), stream=True, timeout=T)
    got = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for line in r.iter_lines():
            if line:
                got.append(line)
    assert len(got) == 3
    st = srv.stats
    assert st["streams_started"] == 1 and st["streams_completed"] == 0 and st["streams_aborted"] == 1


@pytest.mark.parametrize("kind", ["ollama", "lmstudio"])
def test_malformed_after_chunks(make, kind):
    srv = make(kind)
    srv.set_fault("malformed_after_chunks", chunks=2)
    r = requests.post(chat_url(srv), json=chat_body(srv, True), stream=True, timeout=T)
    evs = stream_events(r)
    bad = []
    for i, ev in enumerate(evs):
        if ev == "[DONE]":
            continue
        try:
            json.loads(ev)
        except ValueError:
            bad.append(i)
    assert bad == [2]
    assert content_of(srv, evs) == DEFAULT_REPLY  # the stream carried on to the end
    assert srv.stats["streams_completed"] == 1


def test_large_reply_10mb_stream_and_nonstream(make):
    size = 10 * 1024 * 1024
    srv = make("chatgpt")
    srv.set_fault("large_reply", bytes=size)
    r = requests.post(chat_url(srv), json=chat_body(srv, True), stream=True, timeout=T)
    evs = stream_events(r)
    text = content_of(srv, evs)
    assert len(text.encode()) == size
    content_chunks = len(evs) - 3  # role chunk, finish chunk, [DONE]
    assert content_chunks == size // 1024
    assert srv.stats["streams_completed"] == 1

    o = make("ollama")
    o.set_fault("large_reply", bytes=size)
    obj = requests.post(chat_url(o), json=chat_body(o, False), timeout=T).json()
    assert len(obj["message"]["content"].encode()) == size and obj["eval_count"] == size // 1024


@pytest.mark.parametrize("kind", ["ollama", "openai_compatible"])
def test_a_reply_given_as_pieces_is_sent_one_piece_a_chunk_with_lone_surrogates_escaped(make, kind):
    pieces = ["Hi ", "\ud83d", "\ude00 ", "lone \ud800 here"]
    srv = make(kind, reply=pieces)
    r = requests.post(chat_url(srv), json=chat_body(srv, True), stream=True, timeout=T)
    raw = r.content
    assert b"\\ud83d" in raw and b"\\ude00 " in raw  # each half in a chunk of its own, escaped as JSON writes it
    lines = [line[6:] if line.startswith(b"data: ") else line for line in raw.split(b"\n") if line.strip()]
    texts = []
    for line in lines:
        if line == b"[DONE]":
            continue
        obj = json.loads(line)
        texts.append(obj["message"]["content"] if kind == "ollama" else
                     (obj["choices"][0]["delta"].get("content") or "") if obj["choices"] else "")
    assert [t for t in texts if t] == pieces


@pytest.mark.parametrize("kind", ["ollama", "lmstudio", "openai_compatible"])
def test_unbroken_line_sends_that_many_bytes_without_a_line_break_then_closes(make, kind):
    srv = make(kind)
    srv.set_fault("unbroken_line", chunks=2, bytes=3 * 1024 * 1024)
    r = requests.post(chat_url(srv), json=chat_body(srv, True), stream=True, timeout=T)
    body = b""
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for piece in r.iter_content(65536):
            body += piece
    lines = body.split(b"\n")
    assert len(lines[-1]) == 3 * 1024 * 1024 and lines[-1].endswith(b"xxxx")
    assert len([line for line in lines[:-1] if line.strip()]) == 2
    assert srv.stats["streams_aborted"] == 1


def test_client_disconnect_counted(make):
    srv = make("lmstudio", chunk_delay=0.05)
    r = requests.post(chat_url(srv), json=chat_body(srv, True), stream=True, timeout=T)
    it = r.iter_lines()
    got = 0
    while got < 3:
        if next(it):
            got += 1
    r.close()
    assert wait_for(lambda: srv.stats["client_disconnects"] == 1)
    st = srv.stats
    assert len(st["disconnect_times"]) == 1 and st["disconnect_times"][0] <= time.monotonic()
    assert st["streams_started"] == 1 and st["streams_completed"] == 0
    assert wait_for(lambda: srv.stats["active_streams"] == 0)


def test_unknown_fault_and_bad_params(make):
    srv = make("chatgpt")
    with pytest.raises(ValueError):
        srv.set_fault("explode")
    with pytest.raises(ValueError):
        srv.set_fault("stall_after_chunks", chunks=1)
    with pytest.raises(ValueError):
        srv.set_fault("status", code=429, colour="red")
    with pytest.raises(ValueError):
        srv.set_fault("no_model_loaded")  # openai has no such state


# ------------------------------------------------------------------ control API, recording, keep-alive


def test_http_control_api_and_recording(make):
    srv = make("ollama")
    base = srv.base_url
    r = requests.post(base + "/_fake/fault", json={"name": "status", "code": 503}, timeout=T)
    assert r.status_code == 200 and r.json()["faults"]["status"]["code"] == 503
    assert requests.get(base + "/api/tags", timeout=T).status_code == 503
    assert requests.post(base + "/_fake/fault", json={"name": "nope"}, timeout=T).status_code == 400
    assert requests.post(base + "/_fake/clear", timeout=T).status_code == 200
    assert requests.get(base + "/api/tags", timeout=T).status_code == 200

    requests.post(chat_url(srv), json=chat_body(srv, False), headers={"X-Test": "yes"}, timeout=T)
    reqs = requests.get(base + "/_fake/requests", timeout=T).json()["requests"]
    assert [q["path"] for q in reqs] == ["/api/tags", "/api/tags", "/api/chat"]
    last = reqs[-1]
    assert last["method"] == "POST" and last["json"]["model"] == srv.models[0]
    assert last["headers"]["X-Test"] == "yes" and isinstance(last["time"], float)
    assert srv.requests[-1]["json"] == last["json"]

    stats = requests.get(base + "/_fake/stats", timeout=T).json()
    assert set(stats) >= {"streams_started", "streams_completed", "client_disconnects",
                          "disconnect_times", "chunk_times"}
    assert requests.post(base + "/_fake/reset", timeout=T).status_code == 200
    assert srv.requests == [] and srv.stats["requests"] == 0


def test_keep_alive_across_stream_and_plain_responses(make):
    srv = make("lmstudio")
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=T)
    try:
        conn.request("GET", "/v1/models")
        r1 = conn.getresponse()
        assert r1.getheader("Content-Length") and json.loads(r1.read())["object"] == "list"
        sock = conn.sock
        conn.request("POST", "/v1/chat/completions", body=json.dumps(chat_body(srv, True)),
                      headers={"Content-Type": "application/json"})
        r2 = conn.getresponse()
        assert r2.getheader("Transfer-Encoding") == "chunked"
        assert r2.read().endswith(b"data: [DONE]\n\n")  # chunked body correctly terminated
        conn.request("GET", "/api/v0/models")
        r3 = conn.getresponse()
        assert r3.status == 200 and json.loads(r3.read())["data"]
        assert conn.sock is sock  # the same TCP connection served all three
    finally:
        conn.close()


# ------------------------------------------------------------------ CLI


def test_cli_serves_and_exits_cleanly():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes", "lmstudio", "--port", "0", "--models", "alpha,beta",
         "--reply", "Hello there"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().strip()
        assert line.startswith("fake lmstudio listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        ids = [m["id"] for m in requests.get(url + "/v1/models", timeout=T).json()["data"]]
        assert ids == ["alpha", "beta"]
        r = requests.post(url + "/v1/chat/completions", timeout=T,
                          json={"model": "beta", "messages": [{"role": "user", "content": "hi"}]})
        assert r.json()["choices"][0]["message"]["content"] == "Hello there"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=5) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


def test_cli_refuses_non_loopback():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.run([sys.executable, "-m", "tests.fakes", "chatgpt", "--host", "0.0.0.0", "--port", "0"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "loopback" in p.stderr


# ------------------------------------------------------------------ llama.cpp's llama-server


def test_llama_server_health_props_and_models(make):
    srv = make("openai_compatible", context_length=8192)
    assert srv.url == srv.base_url + "/v1"
    assert requests.get(srv.base_url + "/health", timeout=T).json() == {"status": "ok"}
    props = requests.get(srv.base_url + "/props", timeout=T).json()
    assert props["default_generation_settings"]["n_ctx"] == 8192
    assert props["model_alias"] == srv.models[0] and props["build_info"]
    for path in ("/v1/models", "/models"):
        listed = requests.get(srv.base_url + path, timeout=T).json()
        assert [m["id"] for m in listed["data"]] == DEFAULT_MODELS["openai_compatible"]
        assert listed["data"][0]["owned_by"] == "llamacpp"
    r = requests.get(srv.base_url + "/nothing", timeout=T)
    assert r.status_code == 404
    assert r.json() == {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}


def test_llama_server_answers_with_its_one_model_whatever_is_asked(make):
    srv = make("openai_compatible")
    body = requests.post(srv.url + "/chat/completions", json=chat_body(srv, False, model="gpt-4"), timeout=T).json()
    assert body["model"] == srv.models[0]
    assert body["choices"][0]["message"]["content"] == DEFAULT_REPLY
    assert body["timings"]["predicted_n"] == body["usage"]["completion_tokens"]


def test_llama_server_stream_has_timings_and_usage_when_asked(make):
    srv = make("openai_compatible", reasoning="Think first.")
    r = requests.post(srv.url + "/chat/completions", stream=True, timeout=T,
                      json=chat_body(srv, True, stream_options={"include_usage": True}))
    events = stream_events(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Think first."
    assert "".join(d.get("content") or "" for d in deltas) == DEFAULT_REPLY
    final = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]][0]
    assert final["timings"]["predicted_per_second"] > 0
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_llama_server_inline_reasoning_format(make):
    srv = make("openai_compatible", reasoning="Think first.", reasoning_inline=True)
    body = requests.post(srv.url + "/chat/completions", json=chat_body(srv, False), timeout=T).json()
    assert body["choices"][0]["message"]["content"] == "<think>Think first.</think>" + DEFAULT_REPLY


def test_llama_server_context_overflow_error(make):
    srv = make("openai_compatible", context_length=16)
    r = requests.post(srv.url + "/chat/completions", timeout=T,
                      json={"messages": [{"role": "user", "content": "word " * 20}]})
    assert r.status_code == 400
    assert r.json()["error"] == {
        "code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 24, "n_ctx": 16,
        "message": "request (24 tokens) exceeds the available context size (16 tokens), try increasing it"}


def test_llama_server_loading_and_api_key(make):
    srv = make("openai_compatible", api_key="sk-llama-key-123")
    r = requests.get(srv.url + "/models", timeout=T)
    assert r.status_code == 401
    assert r.json()["error"] == {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}
    assert requests.get(srv.base_url + "/health", timeout=T).status_code == 200  # public
    assert requests.get(srv.url + "/models", headers=headers_for(srv), timeout=T).status_code == 200
    srv.set_fault("no_model_loaded")
    for path in ("/health", "/v1/models"):
        r = requests.get(srv.base_url + path, headers=headers_for(srv), timeout=T)
        assert r.status_code == 503
        assert r.json()["error"] == {"code": 503, "message": "Loading model", "type": "unavailable_error"}


# ------------------------------------------------------------------ reasoning and context options


def test_lmstudio_reasoning_content_deltas_and_context_overflow(make):
    srv = make("lmstudio", reasoning="Think first.", context_length=16)
    r = requests.post(chat_url(srv), json=chat_body(srv, True), stream=True, timeout=T)
    deltas = [json.loads(e)["choices"][0]["delta"] for e in stream_events(r)[:-1]]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Think first."
    assert "".join(d.get("content") or "" for d in deltas) == DEFAULT_REPLY
    r = requests.post(chat_url(srv), timeout=T,
                      json={"model": srv.models[0], "messages": [{"role": "user", "content": "word " * 20}]})
    assert r.status_code == 400
    assert r.json()["error"].startswith("Trying to keep the first 24 tokens when context the overflows. "
                                        "However, the model is loaded with context length of only 16 tokens")


def test_ollama_thinking_apart_when_asked_inline_otherwise(make):
    srv = make("ollama", reasoning="Think first.")
    asked = requests.post(chat_url(srv), json=chat_body(srv, False, think=True), timeout=T).json()
    assert asked["message"]["thinking"] == "Think first." and asked["message"]["content"] == DEFAULT_REPLY
    plain = requests.post(chat_url(srv), json=chat_body(srv, False), timeout=T).json()
    assert plain["message"]["content"] == "<think>Think first.</think>" + DEFAULT_REPLY
    r = requests.post(chat_url(srv), json=chat_body(srv, True, think=True), stream=True, timeout=T)
    lines = [json.loads(e) for e in stream_events(r)]
    assert "".join(line["message"].get("thinking", "") for line in lines) == "Think first."
    assert "".join(line["message"]["content"] for line in lines) == DEFAULT_REPLY


def test_chatgpt_context_length_exceeded(make):
    srv = make("chatgpt", context_length=16)
    r = requests.post(chat_url(srv), timeout=T,
                      json={"model": srv.models[0], "messages": [{"role": "user", "content": "word " * 20}]})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert "maximum context length is 16 tokens" in error["message"]


# ------------------------------------------------------------------ text completion, server kinds


def test_ollama_generate_raw_answers_the_prompt_and_refuses_a_template(make):
    srv = make("ollama", reply="one two three")
    url = srv.base_url + "/api/generate"

    lines = requests.post(url, json={"model": srv.models[0], "prompt": "Go", "raw": True}, timeout=T).text.splitlines()
    refused = requests.post(url, json={"model": srv.models[0], "prompt": "Go", "raw": True, "system": "x"}, timeout=T)
    insert = requests.post(url, json={"model": srv.models[0], "prompt": "Go", "suffix": "end"}, timeout=T)

    parts = [json.loads(line) for line in lines]
    assert "".join(p["response"] for p in parts) == "one two three"
    assert parts[-1]["done"] is True and parts[-1]["done_reason"] == "stop" and "context" not in parts[-1]
    assert refused.status_code == 400 and "raw mode does not support" in refused.json()["error"]
    assert insert.status_code == 400 and insert.json()["error"].endswith("does not support insert")


def test_fill_in_the_middle_needs_a_model_that_has_it(make):
    llama = make("openai_compatible", reply="in between")
    ollama = make("ollama", reply="in between", fill_in_middle=True)
    infill = llama.base_url + "/infill"

    missing = requests.post(infill, json={"input_prefix": "a"}, timeout=T)
    without = requests.post(infill, json={"input_prefix": "a", "input_suffix": "b"}, timeout=T)
    llama.fill_in_middle = True
    events = requests.post(infill, json={"input_prefix": "a", "input_suffix": "b", "stream": True}, timeout=T).text
    show = requests.post(ollama.base_url + "/api/show", json={"model": ollama.models[0]}, timeout=T).json()
    generated = requests.post(ollama.base_url + "/api/generate", json={
        "model": ollama.models[0], "prompt": "a", "suffix": "b", "stream": False}, timeout=T).json()

    assert missing.status_code == 400 and missing.json()["error"]["message"] == '"input_suffix" is required'
    assert without.status_code == 501 and without.json()["error"]["type"] == "not_supported_error"
    assert without.json()["error"]["message"].startswith("Infill is not supported by this model")
    parts = [json.loads(line[len("data: "):]) for line in events.splitlines() if line.startswith("data: ")]
    assert "".join(p["content"] for p in parts) == "in between" and parts[-1]["stop"] is True
    assert "[DONE]" not in events
    assert "insert" in show["capabilities"] and generated["response"] == "in between"


def test_openai_completions_refuse_a_chat_model_and_stop_at_16_tokens_by_default(make):
    srv = make("chatgpt", models=["gpt-4o-mini", "gpt-3.5-turbo-instruct"], reply=" ".join(["w"] * 40))
    url = srv.base_url + "/v1/completions"

    chat_model = requests.post(url, json={"model": "gpt-4o-mini", "prompt": "Go"}, timeout=T)
    instruct = requests.post(url, json={"model": "gpt-3.5-turbo-instruct", "prompt": "Go"}, timeout=T).json()

    assert chat_model.status_code == 404 and "This is a chat model" in chat_model.json()["error"]["message"]
    assert instruct["object"] == "text_completion" and instruct["choices"][0]["finish_reason"] == "length"
    assert instruct["usage"]["completion_tokens"] == 16


@pytest.mark.parametrize("server, answers, refuses", [
    ("vllm", {"/version"}, {"/props", "/api/extra/version"}),
    ("koboldcpp", {"/api/extra/version", "/props"}, {"/version"}),
    ("llama.cpp", {"/props"}, {"/version", "/api/extra/version"}),
])
def test_each_kind_of_openai_compatible_server_answers_its_own_probes(make, server, answers, refuses):
    srv = make("openai_compatible", server=server)
    for path in answers:
        assert requests.get(srv.base_url + path, timeout=T).status_code == 200, path
    for path in refuses:
        assert requests.get(srv.base_url + path, timeout=T).status_code == 404, path
    if "/props" in answers:  # KoboldCpp answers /props too, without llama.cpp's build_info
        props = requests.get(srv.base_url + "/props", timeout=T).json()
        assert ("build_info" in props) == (server == "llama.cpp")


def test_the_tokenizers_count_words_and_the_bos_token(make):
    llama = make("openai_compatible")
    vllm = make("openai_compatible", server="vllm")
    kobold = make("openai_compatible", server="koboldcpp")

    assert len(requests.post(llama.base_url + "/tokenize", json={"content": "a b", "add_special": True},
                             timeout=T).json()["tokens"]) == 3
    assert requests.post(vllm.base_url + "/tokenize", json={"prompt": "a b"}, timeout=T).json()["count"] == 3
    assert requests.post(kobold.base_url + "/api/extra/tokencount", json={"prompt": "a b", "special": False},
                         timeout=T).json()["value"] == 2


def test_a_server_kind_is_only_for_the_openai_compatible_fake():
    with pytest.raises(ValueError):
        FakeLLMServer("ollama", server="vllm")
    with pytest.raises(ValueError):
        FakeLLMServer("openai_compatible", server="tgi")
