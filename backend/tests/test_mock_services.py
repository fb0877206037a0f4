"""The spec's mock services (tests/mocks) stand in for real ones behind the settings API and proxy."""
import json
from unittest.mock import patch

from tests.mocks.mock_lmstudio import MockLMStudioService
from tests.mocks.mock_ollama import MockOllamaService
from tests.mocks.mock_openai import MockOpenAIService


def test_connection_test_reports_what_the_mock_lmstudio_says(client):
    with patch("llm_service.create_service", return_value=MockLMStudioService("http://localhost:1234")):
        data = client.post("/api/settings/llm/test", json={"backend_type": "lmstudio"}).get_json()
    assert data["status"] == "connected"
    assert data["models"] == ["llama-7b-chat", "codellama-13b", "mistral-7b"]
    assert data["server_info"] == {"version": "0.2.9"}


def test_proxy_lists_and_streams_through_the_mock_ollama(client):
    mock = MockOllamaService("http://localhost:11434", default_model="llama3.2:3b")
    client.post("/api/settings/llm", json={"backend_type": "ollama", "config": {}, "default_model": "llama3.2:3b"})
    with patch("llm_service.get_active_llm_service", return_value=mock):
        listed = client.get("/proxy/llm/v1/models").get_json()
        streamed = client.post("/proxy/llm/v1/chat/completions",
                               json={"messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert [m["id"] for m in listed["data"]] == mock.get_models()
    assert all(m["owned_by"] == "ollama" for m in listed["data"])
    events = [line[6:] for line in streamed.get_data(as_text=True).split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"]["content"] for e in events[:-1])
    assert text == "Once upon a time."
    assert streamed.headers["X-Taleweaver-Model"] == "llama3.2:3b"


def test_proxy_answers_through_the_mock_openai_and_never_shows_its_key(client):
    mock = MockOpenAIService("sk-mock-key-1234567890", default_model="gpt-4o-mini")
    with patch("llm_service.get_active_llm_service", return_value=mock):
        answer = client.post("/proxy/llm/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert answer.get_json()["choices"][0]["message"]["content"] == "A short tale."
    assert answer.get_json()["model"] == "gpt-4o-mini"
    assert "sk-mock-key-1234567890" not in answer.get_data(as_text=True)
    assert mock.mask_api_key() == "sk-******************0"
