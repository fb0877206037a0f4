"""Text completion mode: the story itself is the prompt and the model continues it. "none" (raw)
sends memory, lorebook and author's note, then the story text, which ends the prompt verbatim: no
instruction at all. An instruct template wraps the instructions, memory and lorebook in the
model's turns and opens the model's own turn with the story text, which the model goes on with;
"model" does the same in the model's own chat template, as llama.cpp renders it (/apply-template,
offered where /props reports a chat_template).

The templates' strings and stop strings are llama.cpp's (src/llama-chat.cpp) and SillyTavern's
instruct presets (Alpaca has no llama.cpp template), as /work/notes/lorebook-templates-editor.md
§2.2 quotes them; no BOS token is written (the server's tokenizer adds it)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    label: str
    system_open: str  # before the system text
    between: str  # between the system text and the user's
    user_close: str  # after the user's text: the model's turn opens
    stop: tuple[str, ...] = ()


TEMPLATES: dict[str, Template] = {
    "chatml": Template(
        "ChatML", "<|im_start|>system\n", "<|im_end|>\n<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n",
        ("<|im_end|>", "\n<|im_start|>user", "\n<|im_start|>assistant", "\n<|im_start|>system"),
    ),
    "llama3": Template(
        "Llama 3", "<|start_header_id|>system<|end_header_id|>\n\n",
        "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n",
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        ("<|eot_id|>", "<|start_header_id|>user<|end_header_id|>", "<|start_header_id|>assistant<|end_header_id|>"),
    ),
    # Mistral V2 & V3: no system turn, the system text leads the first user turn.
    "mistral": Template("Mistral", "[INST] ", "\n\n", "[/INST] ", ("[INST]", "[/INST]", "</s>")),
    "alpaca": Template("Alpaca", "", "\n\n### Instruction:\n", "\n\n### Response:\n",
                       ("\n### Instruction:", "\n### Response:", "\n### Input:")),
    # Gemma merges the system text into the user's turn and calls the assistant "model".
    "gemma": Template("Gemma", "<start_of_turn>user\n", "\n\n", "<end_of_turn>\n<start_of_turn>model\n",
                      ("<end_of_turn>", "\n<start_of_turn>user", "\n<start_of_turn>model")),
}
RAW = "none"
MODEL = "model"  # the model's own chat template, rendered by the server (llama.cpp /apply-template)
NAMES = (RAW, *TEMPLATES, MODEL)
MODES = ("chat", "completion")

COMPLETION_SYSTEM = (
    "You are a novelist writing a story together with its author. Go on with the story from exactly "
    "where it stops, in its voice: only the story's prose, no title, notes or commentary."
)


def mode_of(settings: dict) -> tuple[str, str]:
    """(mode, template) a story's settings ask for; chat and raw unless they name known ones."""
    mode = settings.get("mode") if settings.get("mode") in MODES else "chat"
    template = settings.get("template") if settings.get("template") in NAMES else RAW
    return mode, template


def stop_strings(template: str, asked) -> list[str] | None:
    """The writer's stop strings with the template's after them (None: none at all)."""
    own = [asked] if isinstance(asked, str) else list(asked or [])
    extra = [stop for stop in TEMPLATES[template].stop if stop not in own] if template in TEMPLATES else []
    return own + extra or None
