"""Issue 12: every error class names its likely cause and the next step, against the fakes through
the production transport; and the "last test" shown is the test of what is saved."""
from __future__ import annotations

import pytest


def run_test(client, backend_type, config):
    response = client.post("/api/settings/llm/test", json={"backend_type": backend_type, "config": config})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def save(client, backend_type, config, default_model=None):
    response = client.post("/api/settings/llm", json={
        "backend_type": backend_type, "config": config, "default_model": default_model})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def shown_to_the_user(result: dict) -> str:
    return " ".join(str(result.get(k) or "") for k in ("error", "hint")) + " ".join(
        str(s.get("detail") or "") for s in result["steps"])


# ---- https against an http server, and the other way round --------------------------------

def test_https_url_of_a_plain_http_server_says_to_use_http(client, fake_llm):
    fake = fake_llm("ollama")
    url = fake.url.replace("http://", "https://")

    result = run_test(client, "ollama", {"url": url})

    assert result["status"] == "error"
    assert result["error_code"] == "https_to_http_server"
    assert "plain HTTP" in result["error"]
    assert "https:// to http://" in result["hint"]
    assert "WRONG_VERSION_NUMBER" not in shown_to_the_user(result)
    assert "_ssl.c" not in shown_to_the_user(result)
    assert [s["status"] for s in result["steps"] if s["name"] == "connect"] == ["failed"]


def test_http_url_of_an_https_server_says_to_use_https(client, requests_mock):
    requests_mock.get("http://tls.example:8443/api/tags", status_code=400, text=(
        "<html><head><title>400 The plain HTTP request was sent to HTTPS port</title></head>"
        "<body><center><h1>400 Bad Request</h1></center>"
        "<center>The plain HTTP request was sent to HTTPS port</center><hr><center>nginx</center>"
        "</body></html>"))

    result = run_test(client, "ollama", {"url": "http://tls.example:8443"})

    assert result["error_code"] == "http_to_https_server"
    assert "http:// to https://" in result["hint"]


@pytest.fixture
def self_signed_server(tmp_path, fakes, fake_llm):
    """An https Ollama on loopback with a certificate nobody trusts."""
    return fake_llm("ollama", tls=fakes.self_signed_context(str(tmp_path))).url


def test_a_certificate_nobody_trusts_is_named_with_what_to_do(client, fake_llm, self_signed_server):
    result = run_test(client, "ollama", {"url": self_signed_server})

    assert result["error_code"] == "tls_certificate_untrusted"
    assert "does not trust" in result["error"]
    assert "certificate" in result["hint"]


# ---- the wrong kind of server on the port -------------------------------------------------

def test_ollama_url_that_is_lm_studio_names_lm_studio(client, fake_llm):
    fake = fake_llm("lmstudio")

    result = run_test(client, "ollama", {"url": fake.url})

    assert result["error_code"] == "wrong_server"
    assert "is LM Studio, not Ollama" in result["error"]
    assert "“LM Studio”" in result["hint"]


@pytest.mark.parametrize("backend_type, config_key", [("lmstudio", "url"), ("chatgpt", "base_url")])
def test_a_url_that_is_ollama_names_ollama(client, fake_llm, backend_type, config_key):
    fake = fake_llm("ollama")
    config = {config_key: fake.url + ("/v1" if backend_type == "chatgpt" else "")}
    if backend_type == "chatgpt":
        config["api_key"] = "sk-wrong-server-test-0000"

    result = run_test(client, backend_type, config)

    assert result["error_code"] == "wrong_server", result
    assert "is Ollama, not" in result["error"]
    assert "“Ollama”" in result["hint"]


def test_lm_studio_answer_to_an_ollama_chat_names_lm_studio_without_probing(client, fake_llm):
    fake = fake_llm("lmstudio")
    save(client, "ollama", {"url": fake.url}, default_model="qwen")
    before = len(fake.requests)

    response = client.post("/proxy/llm/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})

    error = response.get_json()["error"]
    assert error["code"] == "wrong_server"
    assert "LM Studio" in error["message"] and "LM Studio" in error["hint"]
    assert len(fake.requests) == before + 1  # the chat request itself, no probes on the proxy path


def test_an_unknown_server_gets_a_wrong_url_message_not_a_bare_404(client, requests_mock):
    requests_mock.get("http://10.0.0.9:11434/api/tags", status_code=404, text="404 page not found")

    result = run_test(client, "ollama", {"url": "http://10.0.0.9:11434"})

    assert result["error_code"] == "wrong_url"
    assert "does not have the endpoint" in result["error"]
    assert result["hint"]


# ---- a ChatGPT / OpenAI-compatible base URL without /v1 -----------------------------------

def test_chatgpt_base_url_without_v1_suggests_adding_it(client, fake_llm):
    fake = fake_llm("chatgpt", api_key="sk-needs-v1-test-0000")
    root = fake.url[: -len("/v1")]

    result = run_test(client, "chatgpt", {"base_url": root, "api_key": "sk-needs-v1-test-0000"})

    assert result["error_code"] == "wrong_url"
    assert "Invalid URL" in result["error"]
    assert f"{root}/v1" in result["hint"]


def test_chatgpt_base_url_with_v1_gets_no_such_hint_on_another_404(client, requests_mock):
    requests_mock.get("https://api.openai.com/v1/models", status_code=404, json={"error": {"message": "gone"}})

    result = run_test(client, "chatgpt", {"base_url": "https://api.openai.com/v1", "api_key": "sk-test-0000000000"})

    assert "/v1 at its end" not in (result["hint"] or "")


# ---- malformed stream lines and the missing model, as a UI user reads them -------------------

def test_a_malformed_stream_line_is_explained_without_the_raw_fragment(client, fake_llm):
    fake = fake_llm("lmstudio")
    fake.set_fault("malformed_after_chunks", chunks=2)
    save(client, "lmstudio", {"url": fake.url}, default_model=fake.models[0])

    response = client.post("/proxy/llm/v1/chat/completions",
                           json={"messages": [{"role": "user", "content": "hi"}], "stream": True})
    text = response.get_data(as_text=True)

    assert "not JSON" in text and "is kept" in text


def test_no_model_chosen_tells_a_ui_user_where_to_choose_one(client, requests_mock):
    requests_mock.get("http://localhost:11434/api/tags", json={"models": []})
    save(client, "ollama", {"url": "http://localhost:11434"})

    error = client.post("/proxy/llm/v1/chat/completions",
                        json={"messages": [{"role": "user", "content": "hi"}]}).get_json()["error"]

    assert error["code"] == "model_required"
    assert error["message"].startswith("No model is chosen for this backend: pick a default model in Settings")


# ---- the last test shown is the test of what is saved -----------------------------------------

def last_test(client, backend_type):
    return client.get("/api/settings/llm").get_json()["backends"][backend_type]["last_test"]


def test_a_test_of_unsaved_values_counts_once_exactly_those_values_are_saved(client, fake_llm):
    fake = fake_llm("ollama")

    tested = run_test(client, "ollama", {"url": fake.url})
    save(client, "ollama", {"url": fake.url}, fake.models[0])

    shown = last_test(client, "ollama")
    assert shown["status"] == "connected" and shown["tested_at"] == tested["tested_at"]
    assert client.get("/api/settings/llm/status").get_json()["last_tested_at"] == tested["tested_at"]


def test_saving_another_address_forgets_the_older_test(client, fake_llm):
    first, second = fake_llm("ollama"), fake_llm("ollama")
    run_test(client, "ollama", {"url": first.url})
    save(client, "ollama", {"url": first.url}, first.models[0])
    assert last_test(client, "ollama")["status"] == "connected"

    save(client, "ollama", {"url": second.url}, second.models[0])

    assert last_test(client, "ollama") is None


def test_a_test_of_other_values_does_not_count_for_what_is_saved(client, fake_llm):
    fake = fake_llm("ollama")
    run_test(client, "ollama", {"url": "http://127.0.0.1:9"})  # refused

    save(client, "ollama", {"url": fake.url}, fake.models[0])

    assert last_test(client, "ollama") is None


def test_the_test_of_a_new_address_then_saved_replaces_the_old_one(client, fake_llm):
    first, second = fake_llm("ollama"), fake_llm("ollama")
    run_test(client, "ollama", {"url": first.url})
    save(client, "ollama", {"url": first.url}, first.models[0])

    tested = run_test(client, "ollama", {"url": second.url})
    save(client, "ollama", {"url": second.url}, second.models[0])

    assert last_test(client, "ollama")["tested_at"] == tested["tested_at"]


def test_saving_the_same_server_with_other_timeouts_keeps_its_test(client, fake_llm):
    fake = fake_llm("ollama")
    run_test(client, "ollama", {"url": fake.url})
    save(client, "ollama", {"url": fake.url}, fake.models[0])

    save(client, "ollama", {"url": fake.url, "idle_timeout": 90}, fake.models[0])

    assert last_test(client, "ollama")["status"] == "connected"
