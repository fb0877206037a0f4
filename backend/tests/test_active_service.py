"""The active service and what the user's settings say beside it: the proxy takes the backend type
and the default model from the saved settings, never from probing the service (the spec hands it a
Mock whose every attribute exists); the service is built from one read of the settings with one
decrypt per key, and asks the backend for a model's context length once in a while."""
from __future__ import annotations

import json
from unittest.mock import Mock, patch

import llm_service
from llm_service import OllamaService
from taleweaver.settings import store as settings_store
from taleweaver.storage import crypto

KEY = "sk-active-service-key-0001"


def chat(client, **extra):
    return client.post("/proxy/llm/v1/chat/completions",
                       json={"messages": [{"role": "user", "content": "Hello"}], **extra})


def test_the_proxy_takes_backend_and_default_model_from_the_saved_settings(client):
    client.post("/api/settings/llm", json={"backend_type": "ollama", "config": {}, "default_model": "llama3.2"})
    stand_in = Mock()
    stand_in.get_models.return_value = ["llama3.2", "qwen3:8b"]
    stand_in.chat_completion.return_value = {"choices": [{"message": {"content": "Hi."}}]}

    with patch("llm_service.get_active_llm_service", return_value=stand_in):
        answered = chat(client)
        listed = client.get("/proxy/llm/v1/models").get_json()

    assert answered.status_code == 200
    assert stand_in.chat_completion.call_args.args[0]["model"] == "llama3.2"
    assert answered.headers["X-Taleweaver-Backend"] == "ollama"
    assert answered.headers["X-Taleweaver-Model"] == "llama3.2"
    assert [(m["id"], m["owned_by"]) for m in listed["data"]] == [("llama3.2", "ollama"), ("qwen3:8b", "ollama")]


def test_a_model_named_in_the_request_wins_over_the_saved_default(client):
    client.post("/api/settings/llm", json={"backend_type": "ollama", "config": {}, "default_model": "llama3.2"})
    stand_in = Mock()
    stand_in.chat_completion.return_value = {"choices": [{"message": {"content": "Hi."}}]}
    with patch("llm_service.get_active_llm_service", return_value=stand_in):
        answered = chat(client, model="qwen3:8b")
    assert stand_in.chat_completion.call_args.args[0]["model"] == "qwen3:8b"
    assert answered.headers["X-Taleweaver-Model"] == "qwen3:8b"


def test_with_nothing_saved_a_stand_in_is_listed_as_taleweavers_and_names_no_backend(client):
    stand_in = Mock()
    stand_in.get_models.return_value = ["llama-7b"]
    stand_in.chat_completion.return_value = {"choices": [{"message": {"content": "Hi."}}]}
    with patch("llm_service.get_active_llm_service", return_value=stand_in):
        listed = client.get("/proxy/llm/v1/models").get_json()
        answered = chat(client)
    assert listed["data"][0]["owned_by"] == "taleweaver"
    assert "X-Taleweaver-Backend" not in answered.headers and "model" not in stand_in.chat_completion.call_args.args[0]


class CountingConnection:
    """The database connection, counting the statements run on it."""

    def __init__(self, connection):
        self.connection, self.statements = connection, 0

    def execute(self, *args):
        self.statements += 1
        return self.connection.execute(*args)


def test_the_active_service_is_built_from_one_read_and_one_decrypt_of_its_key(app, client, monkeypatch):
    client.post("/api/settings/llm", json={"backend_type": "chatgpt", "config": {"api_key": KEY},
                                           "default_model": "gpt-4o-mini"})
    decrypted = []
    real_decrypt = crypto.decrypt
    monkeypatch.setattr(crypto, "decrypt", lambda token: decrypted.append(token) or real_decrypt(token))
    with app.app_context():
        counting = CountingConnection(settings_store.get_db())
        monkeypatch.setattr(settings_store, "get_db", lambda: counting)
        first = llm_service.get_active_llm_service(1)
        assert (counting.statements, len(decrypted)) == (1, 1)
        again = llm_service.get_active_llm_service(1)
        assert (counting.statements, len(decrypted)) == (2, 1)  # the settings unchanged: the same service
        active = llm_service.active_backend(1)
        assert counting.statements == 2  # what that read said, not a read of its own
    assert again is first and first.headers()["Authorization"] == f"Bearer {KEY}"
    assert (active.backend_type, active.default_model) == ("chatgpt", "gpt-4o-mini")


def test_a_models_context_length_is_asked_of_the_backend_once_in_a_while(requests_mock):
    shown = requests_mock.post("http://localhost:11434/api/show", json={"parameters": "num_ctx 8192"})
    service = OllamaService("http://localhost:11434")
    assert service.context_length("llama3.2") == (8192, "ollama num_ctx")
    assert service.context_length("llama3.2") == (8192, "ollama num_ctx")
    assert shown.call_count == 1
    assert json.loads(shown.last_request.body) == {"model": "llama3.2"}
