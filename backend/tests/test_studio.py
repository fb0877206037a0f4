"""The studio's server side piece by piece: the prompt and its context budget, the removal of a
repeated last sentence (also when it arrives in small pieces), stats counted when the backend
reports no usage, and each backend's context length as its API gives it (requests-mock)."""
import pytest

import llm_service
from taleweaver.stories import prompting
from taleweaver.llm.backends.lmstudio_service import LMStudioService
from taleweaver.llm.backends.ollama_service import OllamaService
from taleweaver.llm.backends.openai_compatible_service import OpenAICompatibleService
from taleweaver.llm.backends.openai_service import OpenAIService
from tests.test_stories_and_generations import ScriptedService, new_story, story_app, wait_until_ended, web  # noqa: F401 (fixtures)

STORY = {"premise": "A fox who counts", "genre": "Fable", "length": "", "memory": "Mira is a fox.",
         "authors_note": "Winter is coming."}


# ---- the prompt ------------------------------------------------------------------------------

def test_the_prompt_keeps_memory_premise_and_note_and_trims_the_oldest_text_at_a_word():
    text = " ".join(f"w{i}" for i in range(5000))
    prompt = prompting.build(STORY, text, context_length=1000, max_tokens=200, source="default")
    system, user = (m["content"] for m in prompt.messages)
    assert "Mira is a fox." in system
    assert "A fox who counts" in user and "Winter is coming." in user and "Fable" in user
    sent = user.split("```\n", 1)[1].split("\n```", 1)[0]
    assert text.endswith(sent) and sent.startswith("w") and f" {sent.split()[0]} " in f" {text} "
    assert prompt.budget["trimmed"] is True
    assert prompt.budget["trimmed_chars"] == len(text) - len(sent)
    assert prompt.budget["prompt_tokens"] + 200 <= 1000
    assert "beginning is left out" in user


def test_a_short_text_is_sent_whole_and_an_empty_one_asks_for_the_opening():
    whole = prompting.build(STORY, "It snowed.", 4096, 256, "default")
    assert "It snowed." in whole.messages[1]["content"] and whole.budget["trimmed"] is False
    opening = prompting.build(STORY, "", 4096, 256, "default")
    assert prompting.OPENING in opening.messages[1]["content"]
    assert "```" not in opening.messages[1]["content"]


def test_memory_too_long_for_the_context_is_refused_not_trimmed():
    with pytest.raises(prompting.ContextTooSmall) as refused:
        prompting.build({**STORY, "memory": "x " * 4000}, "text", 1024, 256, "default")
    assert refused.value.context_length == 1024 and refused.value.needed > 1024


@pytest.mark.parametrize("prefix, continuation, joined", [
    ("He ran. She opened the door.", "She opened the door. Then rain.", " Then rain."),
    ("He ran. She opened the door.", " opened the door. Then rain.", " Then rain."),  # a partial repeat
    ("He ran. She opened the door.", "Then rain.", " Then rain."),
    ("He ran. She opened the door.\n\n", "Then rain.", "Then rain."),
    ("He ran", ", far away.", ", far away."),
    ("", "Once upon a time.", "Once upon a time."),
    ("Yes. No.", "No. Maybe.", " No. Maybe."),  # too short to be a repeat rather than a coincidence
])
def test_a_continuation_never_starts_with_the_texts_last_sentence(prefix, continuation, joined):
    assert prompting.join_continuation(prefix, continuation) == joined


# ---- generations of the studio, with a scripted service ---------------------------------------

class ContextService(ScriptedService):
    def context_length(self, model):
        return 4096, "default"

    def context_budget(self, model, requested):
        return (requested, "your context size") if requested else self.context_length(model)


@pytest.fixture
def studio_service(monkeypatch):
    def install(pieces, usage=True):
        service = ContextService(pieces)
        if not usage:
            service._chunks = lambda: iter(
                [{"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
                + [{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}])
        monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: service)
        return service
    return install


def continue_story(web, story_id, action="continue"):
    response = web.post("/proxy/llm/v1/chat/completions", json={
        "stream": True, "taleweaver": {"story_id": story_id, "action": action}})
    assert response.status_code == 200, response.get_data(as_text=True)
    return wait_until_ended(web, int(response.headers["X-Taleweaver-Generation"]))


def test_a_repeat_of_the_last_sentence_in_small_pieces_is_removed_before_anyone_sees_it(web, studio_service):
    service = studio_service(["She", " opened", " the", " do", "or.", " Then", " rain", " fell", "."])
    story = new_story(web, content="It was late. She opened the door.")
    generation = continue_story(web, story["id"])
    saved = web.get(f"/api/stories/{story['id']}").get_json()
    assert saved["content"] == "It was late. She opened the door. Then rain fell."
    assert generation["text_length"] == len(" Then rain fell.")
    assert service.payloads[0]["stream_options"] == {"include_usage": True}
    assert "messages" not in generation["params"] and generation["action"] == "continue"


def test_stats_are_counted_when_the_backend_reports_no_usage(web, studio_service):
    studio_service(["One", " two", " three", " four"], usage=False)
    story = new_story(web)
    generation = continue_story(web, story["id"])
    assert generation["usage"] is None
    assert generation["stats"]["tokens_source"] == "counted"
    assert generation["stats"]["completion_tokens"] == 4
    assert generation["stats"]["time_to_first_token_ms"] is not None


def test_messages_and_an_action_together_are_refused(web, studio_service):
    studio_service(["x"])
    story = new_story(web)
    response = web.post("/proxy/llm/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "Hi"}], "taleweaver": {"story_id": story["id"], "action": "continue"}})
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "messages"
    unknown = web.post("/proxy/llm/v1/chat/completions", json={"taleweaver": {"story_id": story["id"], "action": "dance"}})
    assert unknown.status_code == 400 and unknown.get_json()["error"]["param"] == "taleweaver.action"


# ---- each backend's context length ------------------------------------------------------------

def test_ollama_context_is_num_ctx_else_its_default_never_more_than_the_model_allows(m):
    service = OllamaService("http://localhost:11434")
    m.post("http://localhost:11434/api/show", [
        {"json": {"parameters": "num_ctx                        8192\nstop \"<|eot_id|>\"",
                  "model_info": {"llama.context_length": 131072}}},
        {"json": {"parameters": "stop \"x\"", "model_info": {"llama.context_length": 131072}}},
        {"json": {"model_info": {"gemma.context_length": 2048}}},
        {"status_code": 404, "json": {"error": "model \"x\" not found, try pulling it first"}},
    ])
    assert service.read_context_length("llama3.2") == (8192, "ollama num_ctx")
    assert service.read_context_length("llama3.2") == (4096, "ollama default num_ctx")
    assert service.read_context_length("tiny") == (2048, "ollama model_info")
    assert service.read_context_length("x") == (4096, "default")
    assert m.request_history[0].json() == {"model": "llama3.2"}


def test_lm_studio_context_is_the_loaded_one_else_the_models_maximum(m):
    m.get("http://localhost:1234/api/v0/models", json={"data": [
        {"id": "loaded", "state": "loaded", "max_context_length": 32768, "loaded_context_length": 4096},
        {"id": "idle", "state": "not-loaded", "max_context_length": 32768},
    ]})
    service = LMStudioService("http://localhost:1234")
    assert service.context_length("loaded") == (4096, "lmstudio loaded_context_length")
    assert service.context_length("idle") == (32768, "lmstudio max_context_length")
    assert service.context_length("gone") == (4096, "default")


def test_llama_cpp_context_is_n_ctx_of_props_and_vllm_its_max_model_len(m):
    m.get("http://localhost:8080/props", json={"default_generation_settings": {"n_ctx": 16384}})
    assert OpenAICompatibleService("http://localhost:8080/v1").context_length("m") == (16384, "llama.cpp n_ctx")
    m.get("http://localhost:8000/props", status_code=404)
    m.get("http://localhost:8000/v1/models", json={"data": [{"id": "qwen", "max_model_len": 32768}]})
    assert OpenAICompatibleService("http://localhost:8000/v1").context_length("qwen") == (32768, "vllm max_model_len")


def test_chatgpt_context_is_the_published_window_else_the_documented_default():
    service = OpenAIService(api_key="sk-test-1234567890")
    assert service.context_length("gpt-4o-mini") == (128_000, "openai published context window")
    assert service.context_length("gpt-4") == (8192, "openai published context window")
    assert service.context_length("some-new-model") == (8192, "default")


@pytest.mark.parametrize("field, value", [("backend_type", False), ("model", 7), ("created_at", ["2026"]),
                                          ("updated_at", {"at": 1})])
def test_an_imported_story_field_of_the_wrong_type_is_refused_and_nothing_is_imported(web, field, value):
    backup = {"format": "taleweaver-library", "version": 1,
              "stories": [{"title": "Fine", "content": "Text."}, {"title": "Odd", "content": "Text.", field: value}]}
    refused = web.post("/api/stories/import", json=backup)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["field"] == f"stories[1].{field}"
    assert web.get("/api/stories").get_json()["stories"] == []


def test_an_imported_story_naming_an_unknown_backend_is_kept_without_it(web):
    backup = {"format": "taleweaver-library", "version": 1,
              "stories": [{"title": "From a newer Taleweaver", "content": "Text.", "backend_type": "koboldcpp",
                           "model": "m", "created_at": "yesterday"}]}
    imported = web.post("/api/stories/import", json=backup)
    assert imported.status_code == 201
    listed = web.get("/api/stories").get_json()["stories"]
    assert [s["title"] for s in listed] == ["From a newer Taleweaver"]
