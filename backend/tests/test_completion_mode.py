"""Text completion mode: the story itself is the prompt, its tail verbatim at the very end; raw
mode has no instruction; each instruct template wraps the setup in its own strings and sends its
stop strings after the writer's; a story generation in this mode sends `prompt`, not `messages`."""
import pytest

import llm_service
from taleweaver.llm.backends.ollama_service import OllamaService
from taleweaver.stories import prompting, templates
from tests.test_stories_and_generations import new_story, story_app, wait_until_ended, web  # noqa: F401 (fixtures)
from tests.test_studio import ContextService

STORY = {"premise": "A fox who counts", "genre": "Fable", "length": "", "memory": "Mira is a fox.",
         "authors_note": "Winter comes.", "lorebook": None}
TEXT = "Snow fell on the mill. Mira counted: one, two,"


def completion(template, text=TEXT, context_length=8192, **story):
    settings = {"mode": "completion", "template": template}
    return prompting.build({**STORY, **story, "settings": settings}, text, context_length, 256, "default")


def test_raw_mode_is_memory_note_and_the_story_ending_verbatim_with_no_instruction():
    prompt = completion("none")
    assert prompt.mode == "completion" and len(prompt.parts) == 1
    assert prompt.text == "Mira is a fox.\n\n[Author's note: Winter comes.]\n\n" + TEXT
    assert prompting.CONTINUE not in prompt.text and "Premise" not in prompt.text
    assert prompt.stop(["THE END"]) == ["THE END"]


def test_raw_mode_keeps_the_tail_of_a_long_story_at_its_end():
    text = " ".join(f"w{i}" for i in range(5000)) + " and then"
    prompt = completion("none", text, context_length=1000)
    assert prompt.text.endswith(" and then") and text.endswith(prompt.text.split("]\n\n", 1)[1])
    assert prompt.budget["trimmed"] is True


@pytest.mark.parametrize("template, opening, middle, closing", [
    ("chatml", "<|im_start|>system\n", "<|im_end|>\n<|im_start|>user\nPremise: ", "<|im_end|>\n<|im_start|>assistant\n"),
    ("llama3", "<|start_header_id|>system<|end_header_id|>\n\n", "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nPremise: ",
     "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
    ("mistral", "[INST] ", "\n\nPremise: ", "[/INST] "),
    ("alpaca", "", "\n\n### Instruction:\nPremise: ", "\n\n### Response:\n"),
    ("gemma", "<start_of_turn>user\n", "\n\nPremise: ", "<end_of_turn>\n<start_of_turn>model\n"),
])
def test_each_template_wraps_the_setup_and_opens_the_models_turn_with_the_story(template, opening, middle, closing):
    prompt = completion(template)
    assert prompt.text.startswith(opening + templates.COMPLETION_SYSTEM)
    assert middle in prompt.text and "Mira is a fox." in prompt.text and "Winter comes." in prompt.text
    assert prompt.text.endswith(closing + TEXT)
    assert prompt.stop("THE END") == ["THE END", *templates.TEMPLATES[template].stop]


def test_a_story_generation_in_completion_mode_sends_a_prompt_and_keeps_it(web, monkeypatch):
    calls = []

    class CompletionService(ContextService):
        def completion(self, payload, stream=False):
            calls.append(payload)
            return iter([{"id": "c", "object": "text_completion", "created": 0, "model": "m",
                          "choices": [{"text": " three.", "index": 0, "logprobs": None, "finish_reason": "stop"}]}])

    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: CompletionService([]))
    story = new_story(web, content=TEXT, settings={"mode": "completion", "template": "none"})
    response = web.post("/proxy/llm/v1/chat/completions", json={
        "stream": True, "stop": ["THE END"], "taleweaver": {"story_id": story["id"], "action": "continue"}})
    generation = wait_until_ended(web, int(response.headers["X-Taleweaver-Generation"]))
    assert generation["status"] == "finished" and "messages" not in calls[0]
    assert calls[0]["prompt"].endswith(TEXT) and calls[0]["stop"] == ["THE END"]
    assert "prompt" not in generation["params"]
    assert web.get(f"/api/stories/{story['id']}").get_json()["content"] == TEXT + " three."
    kept = web.get(f"/proxy/llm/v1/generations/{generation['id']}/prompt").get_json()
    assert kept["messages"][0]["content"] == calls[0]["prompt"] and kept["context"]["mode"] == "completion"


def test_an_unknown_mode_or_template_is_refused(web):
    response = web.post("/api/stories", json={"premise": "x", "settings": {"mode": "completion", "template": "vicuna"}})
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "settings.template"


def test_the_models_own_template_is_the_servers_rendering_split_back_into_marked_parts():
    rendered = []

    def render(messages):
        rendered.append(messages)
        return "".join(f"<turn {m['role']}>{m['content']}</turn>" for m in messages) + "<turn model>"

    prompt = completion("model", render=render)
    assert prompt.text.endswith("</turn><turn model>" + TEXT)
    assert [m["role"] for m in rendered[0]] == ["system", "user"] and "Mira is a fox." in rendered[0][0]["content"]
    kinds = [part["kind"] for part in prompt.view()[0]["parts"]]
    assert kinds[0] == "template" and "memory" in kinds and kinds[-1] == "story"
    assert prompt.stop(["THE END"]) == ["THE END"]


def test_the_models_own_template_where_the_backend_has_none_says_so(web, monkeypatch):
    ollama = OllamaService("http://127.0.0.1:9", default_model="llama3.2")
    monkeypatch.setattr(ollama, "read_context_length", lambda model: (4096, "ollama default num_ctx"))
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: ollama)
    story = new_story(web, content=TEXT, settings={"mode": "completion", "template": "model"})
    response = web.get(f"/api/stories/{story['id']}/prompt")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "template_unavailable"
