"""/api/settings/llm*: validation, normalisation, storage, masking, status, test and models."""
import json
import os
import pytest
import requests

from taleweaver.llm import wsl
from tests.database import query, stored_bytes

OLLAMA = "http://localhost:11434"
LMSTUDIO = "http://localhost:1234"
OPENAI = "https://api.openai.com/v1"
KEY = "sk-proj-Plaintext0123456789abcdefXYZ"
OTHER_KEY = "sk-proj-SecondKey9876543210zyxwvuQ"


@pytest.fixture(autouse=True)
def _no_remembered_wsl_host():
    wsl.forget_resolved()
    yield
    wsl.forget_resolved()


def save(client, backend_type, config=None, **extra):
    body = {"backend_type": backend_type, "config": config if config is not None else {}, **extra}
    return client.post("/api/settings/llm", json=body)


def error_of(response):
    body = response.get_json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def settings_rows(app):
    return query(app, "SELECT backend_type, is_active, config_json FROM settings")


# ---- validation: every 400 names its field ----------------------------------------------

@pytest.mark.parametrize(
    "body, field",
    [
        ({"backend_type": "koboldcpp", "config": {}}, "backend_type"),
        ({"config": {"url": OLLAMA}}, "backend_type"),
        ({"backend_type": 7, "config": {}}, "backend_type"),
        ({"backend_type": "ollama", "config": "http://localhost:11434"}, "config"),
        ({"backend_type": "ollama", "config": [OLLAMA]}, "config"),
        ({"backend_type": "ollama", "config": {"url": OLLAMA, "api_key": "sk-12345678"}}, "config.api_key"),
        ({"backend_type": "lmstudio", "config": {"host": "localhost"}}, "config.host"),
        ({"backend_type": "ollama", "config": {"url": "ftp://localhost:11434"}}, "config.url"),
        ({"backend_type": "ollama", "config": {"url": "http://"}}, "config.url"),
        ({"backend_type": "lmstudio", "config": {"url": "http:///v1"}}, "config.url"),
        ({"backend_type": "ollama", "config": {"url": "http://[gpu-box]:11434"}}, "config.url"),
        ({"backend_type": "chatgpt", "config": {"api_key": KEY, "base_url": "https://[%s]/v1"}}, "config.base_url"),
        ({"backend_type": "ollama", "config": {"url": "http://localhost:99999"}}, "config.url"),
        ({"backend_type": "ollama", "config": {"url": "http://localhost:port"}}, "config.url"),
        ({"backend_type": "ollama", "config": {"url": 11434}}, "config.url"),
        ({"backend_type": "ollama", "config": {"url": OLLAMA, "connect_timeout": 0}}, "config.connect_timeout"),
        ({"backend_type": "ollama", "config": {"url": OLLAMA, "connect_timeout": -1}}, "config.connect_timeout"),
        ({"backend_type": "ollama", "config": {"url": OLLAMA, "first_token_timeout": 3601}}, "config.first_token_timeout"),
        ({"backend_type": "ollama", "config": {"url": OLLAMA, "idle_timeout": "60"}}, "config.idle_timeout"),
        ({"backend_type": "ollama", "config": {"url": OLLAMA, "idle_timeout": True}}, "config.idle_timeout"),
        ({"backend_type": "ollama", "config": {"url": OLLAMA}, "default_model": 42}, "default_model"),
        ({"backend_type": "ollama", "config": {"url": OLLAMA}, "default_model": ["llama2"]}, "default_model"),
        ({"backend_type": "chatgpt", "config": {}}, "config.api_key"),
        ({"backend_type": "chatgpt", "config": {"api_key": "   "}}, "config.api_key"),
        ({"backend_type": "chatgpt", "config": {"api_key": "sk-1234"}}, "config.api_key"),
        ({"backend_type": "chatgpt", "config": {"api_key": 12345678901}}, "config.api_key"),
        ({"backend_type": "chatgpt", "config": {"api_key": KEY, "base_url": "gopher://x"}}, "config.base_url"),
    ],
)
def test_invalid_settings_are_refused_with_the_field_named(client, app, body, field):
    response = client.post("/api/settings/llm", json=body)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert error["field"] == field
    assert settings_rows(app) == []


def test_timeout_at_the_limits_is_accepted(client):
    response = save(client, "ollama", {"url": OLLAMA, "connect_timeout": 0.5, "idle_timeout": 3600})

    assert response.status_code == 200
    config = response.get_json()["config"]
    assert config["connect_timeout"] == 0.5
    assert config["idle_timeout"] == 3600
    assert config["first_token_timeout"] == 300


def test_body_that_is_not_json_is_refused_as_invalid_json(client):
    response = client.post("/api/settings/llm", data="backend_type=ollama", content_type="application/json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_json"
    assert "JSON" in error["message"]


def test_body_that_is_a_json_list_is_refused_as_invalid_json(client):
    response = client.post("/api/settings/llm", json=[{"backend_type": "ollama"}])

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_json"
    assert "object" in error["message"]


def test_empty_body_is_refused_as_invalid_json(client):
    response = client.post("/api/settings/llm", data=b"", content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


# ---- URL normalisation -------------------------------------------------------------------

@pytest.mark.parametrize(
    "backend_type, pasted, stored",
    [
        ("ollama", "localhost:11434", "http://localhost:11434"),
        ("ollama", "http://localhost:11434/", "http://localhost:11434"),
        ("ollama", "http://localhost:11434/api", "http://localhost:11434"),
        ("ollama", "http://localhost:11434/api/", "http://localhost:11434"),
        ("lmstudio", "http://localhost:1234/v1", "http://localhost:1234"),
        ("lmstudio", "http://localhost:1234/v1/", "http://localhost:1234"),
        ("lmstudio", "  HTTP://LocalHost:1234  ", "http://localhost:1234"),
        ("ollama", "http://nas.lan/ollama", "http://nas.lan/ollama"),
        ("ollama", "http://nas.lan/ollama/api", "http://nas.lan/ollama"),
        ("lmstudio", "https://gpu-box:8443/lmstudio/v1", "https://gpu-box:8443/lmstudio"),
    ],
)
def test_pasted_urls_are_stored_in_normal_form(client, backend_type, pasted, stored):
    response = save(client, backend_type, {"url": pasted})

    assert response.status_code == 200
    assert response.get_json()["config"]["url"] == stored
    assert client.get("/api/settings/llm").get_json()["backends"][backend_type]["config"]["url"] == stored


def test_missing_url_gets_the_backends_default(client):
    response = save(client, "lmstudio", {})

    assert response.get_json()["config"]["url"] == "http://localhost:1234"


def test_chatgpt_base_url_keeps_its_v1_path(client):
    response = save(client, "chatgpt", {"api_key": KEY, "base_url": "https://openrouter.ai/api/v1/"})

    assert response.status_code == 200
    assert response.get_json()["config"]["base_url"] == "https://openrouter.ai/api/v1"


# ---- storage: several backends, one active -------------------------------------------------

def test_saving_a_second_backend_keeps_the_first_inactive_with_one_active_row(client, app):
    save(client, "ollama", {"url": "http://localhost:11434"}, default_model="llama2")
    response = save(client, "lmstudio", {"url": "http://localhost:1234"}, default_model="qwen2.5-7b")

    body = response.get_json()
    assert body["backend_type"] == "lmstudio"
    assert body["default_model"] == "qwen2.5-7b"
    assert body["backends"]["ollama"]["is_active"] is False
    assert body["backends"]["ollama"]["config"]["url"] == "http://localhost:11434"
    assert body["backends"]["ollama"]["default_model"] == "llama2"
    assert body["backends"]["lmstudio"]["is_active"] is True
    rows = settings_rows(app)
    assert sorted(r[0] for r in rows) == ["lmstudio", "ollama"]
    assert [r[0] for r in rows if r[1] == 1] == ["lmstudio"]


def test_switching_back_restores_the_first_backends_config(client, app):
    save(client, "ollama", {"url": "http://gpu-box:11434", "idle_timeout": 90}, default_model="llama3.2")
    save(client, "lmstudio", {"url": "http://localhost:1234"})

    response = save(client, "ollama", {})

    body = response.get_json()
    assert body["backend_type"] == "ollama"
    assert body["config"]["url"] == "http://gpu-box:11434"
    assert body["config"]["idle_timeout"] == 90
    assert body["default_model"] == "llama3.2"
    assert body["backends"]["lmstudio"]["is_active"] is False
    assert [r[0] for r in settings_rows(app) if r[1] == 1] == ["ollama"]


def test_omitting_default_model_keeps_the_stored_one(client):
    save(client, "ollama", {"url": OLLAMA}, default_model="llama2:7b")

    response = client.post("/api/settings/llm", json={"backend_type": "ollama", "config": {"url": OLLAMA}})

    assert response.get_json()["default_model"] == "llama2:7b"


def test_null_default_model_clears_the_stored_one(client):
    save(client, "ollama", {"url": OLLAMA}, default_model="llama2:7b")

    response = save(client, "ollama", {"url": OLLAMA}, default_model=None)

    assert response.get_json()["default_model"] is None


def test_get_after_save_answers_the_documented_shape(client):
    assert client.get("/api/settings/llm").get_json() == {
        "backend_type": None, "config": {}, "default_model": None, "updated_at": None, "backends": {},
    }
    save(client, "ollama", {"url": OLLAMA}, default_model="llama2")

    body = client.get("/api/settings/llm").get_json()

    assert body["backend_type"] == "ollama"
    assert body["config"] == {"connect_timeout": 5, "first_token_timeout": 300, "idle_timeout": 60, "url": OLLAMA}
    assert body["updated_at"].endswith("Z")
    assert body["backends"]["ollama"]["last_test"] is None


# ---- the API key: kept, replaced, masked, never shown ---------------------------------------

def test_chatgpt_save_with_blank_key_keeps_the_stored_key(client):
    first = save(client, "chatgpt", {"api_key": KEY}, default_model="gpt-4o").get_json()
    mask = first["config"]["api_key_masked"]
    assert mask == "sk-" + "*" * (len(KEY) - 4) + "Z"
    assert first["config"]["has_api_key"] is True

    response = save(client, "chatgpt", {"api_key": "", "idle_timeout": 90})

    config = response.get_json()["config"]
    assert response.status_code == 200
    assert config["api_key_masked"] == mask
    assert config["has_api_key"] is True
    assert config["idle_timeout"] == 90
    assert "api_key" not in config


def test_chatgpt_save_with_a_new_key_replaces_the_stored_one(client, requests_mock):
    save(client, "chatgpt", {"api_key": KEY})

    response = save(client, "chatgpt", {"api_key": OTHER_KEY})

    assert response.get_json()["config"]["api_key_masked"] == "sk-" + "*" * (len(OTHER_KEY) - 4) + "Q"
    models = requests_mock.get(f"{OPENAI}/models", json={"data": [{"id": "gpt-4o"}]})
    client.get("/api/settings/llm/models")
    assert models.last_request.headers["Authorization"] == f"Bearer {OTHER_KEY}"


def test_api_key_plaintext_never_appears_in_responses_or_database_file(client, app, requests_mock):
    requests_mock.get(f"{OPENAI}/models", json={"data": [{"id": "gpt-4o"}, {"id": "whisper-1"}]})
    bodies = [
        save(client, "chatgpt", {"api_key": KEY}, default_model="gpt-4o").data,
        client.get("/api/settings/llm").data,
        client.post("/api/settings/llm/test", json={"backend_type": "chatgpt"}).data,
        client.post("/api/settings/llm/test", json={"backend_type": "chatgpt", "config": {"api_key": OTHER_KEY}}).data,
        client.get("/api/settings/llm/status").data,
        client.get("/api/settings/llm/models").data,
        save(client, "ollama", {"url": OLLAMA}).data,
        save(client, "chatgpt", {"api_key": ""}).data,
    ]
    requests_mock.get(f"{OPENAI}/models", status_code=401, json={"error": {"message": f"Incorrect API key provided: {KEY}"}})
    bodies.append(client.post("/api/settings/llm/test", json={"backend_type": "chatgpt"}).data)
    bodies.append(client.get("/api/settings/llm/models?refresh=1").data)

    assert b"has_api_key" in bodies[1]
    for body in bodies:
        assert KEY.encode() not in body
        assert OTHER_KEY.encode() not in body
        assert KEY[8:-4].encode() not in body
    stored = stored_bytes(app)
    (config_json,) = [row[2] for row in settings_rows(app) if row[0] == "chatgpt"]
    assert json.loads(config_json)["api_key_encrypted"].encode() in stored
    assert KEY[3:].encode() not in stored
    assert OTHER_KEY[3:].encode() not in stored


# ---- size limits and unknown routes ----------------------------------------------------------

def test_oversized_api_body_gets_413_in_json(client):
    body = b'{"backend_type": "ollama", "config": {"url": "' + b"x" * (1024 * 1024 + 10) + b'"}}'

    response = client.post("/api/settings/llm", data=body, content_type="application/json")

    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_unknown_api_path_gets_404_in_json(client):
    response = client.get("/api/settings/nothing-here")

    assert response.status_code == 404
    assert response.is_json
    assert error_of(response)["code"] == "not_found"


def test_wrong_method_gets_405_in_json(client):
    response = client.delete("/api/settings/llm")

    assert response.status_code == 405
    assert response.is_json
    error = error_of(response)
    assert error["code"] == "method_not_allowed"
    assert "DELETE" in error["message"]


# ---- status --------------------------------------------------------------------------------

def test_status_without_settings_is_not_configured(client):
    body = client.get("/api/settings/llm/status").get_json()

    assert body["status"] == "not_configured"
    assert body["backend_type"] is None
    assert body["hint"]


def test_status_is_connected_when_the_backend_lists_models(client, requests_mock):
    requests_mock.get(f"{OLLAMA}/api/tags", json={"models": [{"name": "llama2:7b"}]})
    requests_mock.get(f"{OLLAMA}/api/ps", json={"models": [{"name": "llama2:7b"}]})
    save(client, "ollama", {"url": OLLAMA}, default_model="llama2:7b")

    body = client.get("/api/settings/llm/status").get_json()

    assert body["status"] == "connected"
    assert body["backend_type"] == "ollama"
    assert body["active_model"] == "llama2:7b"
    assert body["model_state"] == "loaded"
    assert body["error"] is None
    assert body["checked_at"].endswith("Z")
    assert body["last_tested_at"] is None


def test_status_is_disconnected_when_the_backend_refuses(client, requests_mock):
    requests_mock.get(f"{OLLAMA}/api/tags", exc=requests.exceptions.ConnectionError)
    save(client, "ollama", {"url": OLLAMA})

    body = client.get("/api/settings/llm/status").get_json()

    assert body["status"] == "disconnected"
    assert "Ollama" in body["error"]
    assert "ollama serve" in body["hint"]


def test_status_is_error_when_the_backend_answers_500(client, requests_mock):
    requests_mock.get(f"{LMSTUDIO}/v1/models", status_code=500, text="boom")
    save(client, "lmstudio", {"url": LMSTUDIO})

    body = client.get("/api/settings/llm/status").get_json()

    assert body["status"] == "error"
    assert "500" in body["error"]


def test_status_last_tested_at_comes_from_an_explicit_test_of_the_saved_config(client, requests_mock):
    requests_mock.get(f"{OLLAMA}/api/tags", json={"models": [{"name": "llama2:7b"}]})
    save(client, "ollama", {"url": OLLAMA})
    assert client.get("/api/settings/llm/status").get_json()["last_tested_at"] is None

    tested = client.post("/api/settings/llm/test", json={"backend_type": "ollama"}).get_json()

    status = client.get("/api/settings/llm/status").get_json()
    assert status["last_tested_at"] == tested["tested_at"]
    assert status["last_test_status"] == "connected"


def test_status_reflects_a_new_url_saved_right_after_a_check(client, requests_mock):
    requests_mock.get(f"{OLLAMA}/api/tags", json={"models": [{"name": "llama2:7b"}]})
    requests_mock.get("http://localhost:11500/api/tags", exc=requests.exceptions.ConnectionError)
    save(client, "ollama", {"url": OLLAMA})
    assert client.get("/api/settings/llm/status").get_json()["status"] == "connected"

    save(client, "ollama", {"url": "http://localhost:11500"})

    assert client.get("/api/settings/llm/status").get_json()["status"] == "disconnected"


# ---- connection test -----------------------------------------------------------------------

def test_testing_an_unsaved_config_does_not_record_on_the_saved_row(client, requests_mock):
    requests_mock.get("http://gpu-box:11434/api/tags", json={"models": [{"name": "mistral"}]})
    save(client, "ollama", {"url": OLLAMA})

    result = client.post(
        "/api/settings/llm/test", json={"backend_type": "ollama", "config": {"url": "http://gpu-box:11434"}}
    ).get_json()

    assert result["status"] == "connected"
    assert result["models"] == ["mistral"]
    assert client.get("/api/settings/llm").get_json()["backends"]["ollama"]["last_test"] is None


def test_testing_the_saved_config_records_the_outcome(client, requests_mock):
    requests_mock.get(f"{OLLAMA}/api/tags", exc=requests.exceptions.ConnectionError)
    save(client, "ollama", {"url": OLLAMA})

    result = client.post("/api/settings/llm/test", json={"backend_type": "ollama", "config": {"url": OLLAMA + "/"}}).get_json()

    last_test = client.get("/api/settings/llm").get_json()["backends"]["ollama"]["last_test"]
    assert last_test["status"] == "error"
    assert last_test["tested_at"] == result["tested_at"]
    assert last_test["error"] == result["error"]


def test_testing_an_unsaved_backend_type_works_without_saving_it(client, app, requests_mock):
    requests_mock.get(f"{LMSTUDIO}/v1/models", json={"data": [{"id": "qwen"}]})

    result = client.post("/api/settings/llm/test", json={"backend_type": "lmstudio", "config": {"url": LMSTUDIO}})

    assert result.status_code == 200
    assert result.get_json()["status"] == "connected"
    assert settings_rows(app) == []


def test_connection_test_with_a_rejected_key_reports_auth_failure_and_hint(client, requests_mock):
    requests_mock.get(f"{OPENAI}/models", status_code=401, json={"error": {"message": "Incorrect API key provided"}})

    response = client.post("/api/settings/llm/test", json={"backend_type": "chatgpt", "config": {"api_key": KEY}})

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "error"
    assert body["error_code"] == "backend_auth_failed"
    assert "API key" in body["hint"]
    assert [(s["name"], s["status"]) for s in body["steps"]] == [
        ("resolve", "ok"), ("connect", "ok"), ("http", "ok"), ("auth", "failed"),
        ("models", "skipped"), ("generate", "skipped"),
    ]


def test_connection_test_steps_on_success(client, requests_mock):
    requests_mock.get(f"{LMSTUDIO}/v1/models", json={"data": [{"id": "qwen"}, {"id": "llama"}]})

    body = client.post("/api/settings/llm/test", json={"backend_type": "lmstudio", "config": {"url": LMSTUDIO}}).get_json()

    assert body["status"] == "connected"
    assert body["error"] is None and body["error_code"] is None
    assert [(s["name"], s["status"]) for s in body["steps"]] == [
        ("resolve", "ok"), ("connect", "ok"), ("http", "ok"), ("models", "ok"), ("generate", "skipped"),
    ]
    models_step = next(s for s in body["steps"] if s["name"] == "models")
    assert models_step["label"] == "Model list"
    assert "2 model" in models_step["detail"]


def test_connection_test_steps_for_a_refused_connection(client, requests_mock):
    requests_mock.get(f"{LMSTUDIO}/v1/models", exc=requests.exceptions.ConnectionError)

    body = client.post("/api/settings/llm/test", json={"backend_type": "lmstudio", "config": {"url": LMSTUDIO}}).get_json()

    assert body["status"] == "error"
    assert body["error_code"] == "backend_unreachable"
    assert "Start the server in LM Studio" in body["hint"]
    assert [(s["name"], s["status"]) for s in body["steps"]] == [
        ("resolve", "ok"), ("connect", "failed"), ("http", "skipped"), ("models", "skipped"), ("generate", "skipped"),
    ]
    assert "refused" in body["steps"][1]["detail"]


def test_connection_test_with_generation_runs_one_token(client, requests_mock):
    requests_mock.get(f"{OLLAMA}/api/tags", json={"models": [{"name": "llama2:7b"}]})
    chat = requests_mock.post(f"{OLLAMA}/api/chat", json={"model": "llama2:7b", "message": {"role": "assistant", "content": "OK"}, "done": True})

    body = client.post("/api/settings/llm/test", json={"backend_type": "ollama", "config": {"url": OLLAMA}, "generate": True}).get_json()

    assert body["status"] == "connected"
    assert body["steps"][-1]["name"] == "generate" and body["steps"][-1]["status"] == "ok"
    assert chat.last_request.json()["options"]["num_predict"] == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"backend_type": "vllm"}, "backend_type"),
        ({"backend_type": "ollama", "config": {"url": "ftp://x"}}, "config.url"),
        ({"backend_type": "ollama", "generate": "yes"}, "generate"),
    ],
)
def test_malformed_connection_test_request_is_400(client, body, field):
    response = client.post("/api/settings/llm/test", json=body)

    assert response.status_code == 400
    assert error_of(response)["field"] == field


# ---- model lists -----------------------------------------------------------------------------

def test_models_of_ollama_have_details_and_loaded_state(client, requests_mock):
    requests_mock.get(f"{OLLAMA}/api/tags", json={"models": [
        {"name": "llama2:7b", "size": 3825819519,
         "details": {"family": "llama", "parameter_size": "7B", "quantization_level": "Q4_0"}},
        {"name": "codellama:13b", "size": 7365960935,
         "details": {"family": "llama", "parameter_size": "13B", "quantization_level": "Q4_K_M"}},
    ]})
    requests_mock.get(f"{OLLAMA}/api/ps", json={"models": [{"name": "codellama:13b"}]})
    save(client, "ollama", {"url": OLLAMA}, default_model="llama2:7b")

    body = client.get("/api/settings/llm/models").get_json()

    assert body["backend_type"] == "ollama"
    assert body["models"] == ["llama2:7b", "codellama:13b"]
    assert body["default_model"] == "llama2:7b"
    assert body["details"][0] == {
        "id": "llama2:7b", "size": 3825819519, "family": "llama", "parameter_size": "7B",
        "quantization": "Q4_0", "context_length": None, "state": "not-loaded",
    }
    assert body["details"][1]["state"] == "loaded"
    assert body["details"][1]["quantization"] == "Q4_K_M"


def test_models_of_lmstudio_come_from_the_v0_api_without_embeddings(client, requests_mock):
    requests_mock.get(f"{LMSTUDIO}/api/v0/models", json={"data": [
        {"id": "qwen2.5-7b-instruct", "type": "llm", "arch": "qwen2", "quantization": "Q4_K_M",
         "max_context_length": 32768, "state": "loaded"},
        {"id": "text-embedding-nomic", "type": "embeddings", "state": "not-loaded"},
        {"id": "llama-3.2-3b", "type": "llm", "arch": "llama", "quantization": "Q8_0",
         "max_context_length": 131072, "state": "not-loaded"},
    ]})
    save(client, "lmstudio", {"url": LMSTUDIO})

    body = client.get("/api/settings/llm/models").get_json()

    assert body["models"] == ["qwen2.5-7b-instruct", "llama-3.2-3b"]
    assert body["details"][0] == {
        "id": "qwen2.5-7b-instruct", "size": None, "family": "qwen2", "parameter_size": None,
        "quantization": "Q4_K_M", "context_length": 32768, "state": "loaded",
    }
    assert body["details"][1]["state"] == "not-loaded"


def test_models_of_lmstudio_without_v0_api_fall_back_to_v1(client, requests_mock):
    requests_mock.get(f"{LMSTUDIO}/api/v0/models", status_code=404, text="Not Found")
    requests_mock.get(f"{LMSTUDIO}/v1/models", json={"data": [{"id": "qwen"}]})
    save(client, "lmstudio", {"url": LMSTUDIO})

    body = client.get("/api/settings/llm/models").get_json()

    assert body["models"] == ["qwen"]
    assert body["details"][0]["state"] is None


def test_models_of_chatgpt_hide_models_that_cannot_chat(client, requests_mock):
    requests_mock.get(f"{OPENAI}/models", json={"data": [
        {"id": "gpt-4o"}, {"id": "text-embedding-3-small"}, {"id": "whisper-1"}, {"id": "dall-e-3"},
        {"id": "tts-1-hd"}, {"id": "gpt-4o-mini"}, {"id": "omni-moderation-latest"}, {"id": "o3-mini"},
    ]})
    save(client, "chatgpt", {"api_key": KEY})

    body = client.get("/api/settings/llm/models").get_json()

    assert body["models"] == ["gpt-4o", "gpt-4o-mini", "o3-mini"]


def test_models_for_another_saved_backend_type(client, requests_mock):
    requests_mock.get(f"{LMSTUDIO}/api/v0/models", json={"data": [{"id": "qwen", "type": "llm"}]})
    save(client, "lmstudio", {"url": LMSTUDIO})
    save(client, "ollama", {"url": OLLAMA})

    body = client.get("/api/settings/llm/models?backend_type=lmstudio").get_json()

    assert body["backend_type"] == "lmstudio"
    assert body["models"] == ["qwen"]


def test_models_for_an_unsaved_backend_type_is_400(client):
    save(client, "ollama", {"url": OLLAMA})

    response = client.get("/api/settings/llm/models?backend_type=chatgpt")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "backend_not_configured"
    assert error["field"] == "backend_type"


def test_models_without_any_backend_is_400(client):
    response = client.get("/api/settings/llm/models")

    assert response.status_code == 400
    assert error_of(response)["code"] == "backend_not_configured"


def test_models_when_the_backend_is_down_is_502_with_hint(client, requests_mock):
    requests_mock.get(f"{OLLAMA}/api/tags", exc=requests.exceptions.ConnectionError)
    requests_mock.get(f"{OLLAMA}/api/ps", exc=requests.exceptions.ConnectionError)
    save(client, "ollama", {"url": OLLAMA})

    response = client.get("/api/settings/llm/models")

    assert response.status_code == 502
    error = error_of(response)
    assert error["code"] == "backend_unreachable"
    assert "OLLAMA_HOST" in error["hint"]


def test_models_follow_a_new_url_saved_right_after_listing(client, requests_mock):
    requests_mock.get(f"{OLLAMA}/api/tags", json={"models": [{"name": "llama2:7b"}]})
    requests_mock.get("http://gpu-box:11434/api/tags", json={"models": [{"name": "mixtral:8x7b"}]})
    save(client, "ollama", {"url": OLLAMA})
    assert client.get("/api/settings/llm/models").get_json()["models"] == ["llama2:7b"]

    save(client, "ollama", {"url": "http://gpu-box:11434"})

    assert client.get("/api/settings/llm/models").get_json()["models"] == ["mixtral:8x7b"]


@pytest.mark.parametrize("url", ["http://localhost:0", "http://localhost:70000", "http://localhost:port"])
def test_a_port_outside_1_to_65535_is_refused(client, url):
    response = client.post("/api/settings/llm", json={"backend_type": "ollama", "config": {"url": url}})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "config.url"
    assert "port" in response.get_json()["error"]["message"]
