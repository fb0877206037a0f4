"""A story's samplers as its generation sends them: the context budget is the writer's context
size where they set one (Ollama loads the model with it), never more than a server started with."""
import llm_service
from taleweaver.llm.backends.lmstudio_service import LMStudioService
from taleweaver.llm.backends.ollama_service import OllamaService
from tests.test_stories_and_generations import new_story, story_app, web  # noqa: F401 (fixtures)


def test_the_writers_context_size_is_ollamas_and_caps_a_server_that_runs_with_more(web, monkeypatch):
    story = new_story(web, content="A fox counted the snow.")
    ollama = OllamaService("http://127.0.0.1:9", default_model="llama3.2")
    monkeypatch.setattr(ollama, "read_context_length", lambda model: (4096, "ollama default num_ctx"))
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: ollama)
    raised = web.get(f"/api/stories/{story['id']}/context?context_length=32768").get_json()
    assert (raised["context_length"], raised["context_source"]) == (32768, "your context size")

    lmstudio = LMStudioService("http://127.0.0.1:9", default_model="qwen")
    monkeypatch.setattr(lmstudio, "read_context_length", lambda model: (8192, "lmstudio loaded_context_length"))
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: lmstudio)
    more = web.get(f"/api/stories/{story['id']}/context?context_length=32768").get_json()
    assert (more["context_length"], more["context_source"]) == (8192, "lmstudio loaded_context_length")
    less = web.get(f"/api/stories/{story['id']}/context?context_length=2048").get_json()
    assert (less["context_length"], less["context_source"]) == (2048, "your context size")


def test_a_context_size_that_is_not_a_count_of_tokens_is_refused(web):
    story = new_story(web)
    response = web.get(f"/api/stories/{story['id']}/context?context_length=-5")
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "context_length"
