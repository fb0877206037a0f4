"""The sampling settings a request may carry, under one set of names, and where each backend takes
them.

A chat or text completion through the proxy names them as OpenAI does (temperature, top_p,
presence_penalty, frequency_penalty, seed, stop, max_tokens) plus `top_k`, `min_p`, `typical_p`,
`repetition_penalty` and `context_length` (the model's context size in tokens). Each backend
gets them under its own names (`SamplerNames`): Ollama in `options` (`repeat_penalty`,
`num_predict`, `num_ctx`, ...), an OpenAI-compatible server as top-level fields named as its kind
of server names them (llama.cpp `repeat_penalty`, vLLM `repetition_penalty`, KoboldCpp `rep_pen`,
`typical`, `max_context_length`), ChatGPT only what OpenAI accepts. A setting a backend cannot take
is left out of the request and reported as not sent, with the reason (`report`): never dropped
without a word. Sources: /work/notes/wire-formats.md (each server's own code and docs)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

# The request's name of each setting -> the JSON type it must have ("number", "integer", "stop").
SAMPLERS: dict[str, str] = {
    "temperature": "number",
    "top_p": "number",
    "top_k": "integer",
    "min_p": "number",
    "typical_p": "number",
    "repetition_penalty": "number",
    "presence_penalty": "number",
    "frequency_penalty": "number",
    "seed": "integer",
    "stop": "stop",
    "max_tokens": "integer",
    "context_length": "integer",
}

OPTIONS = "options."  # a name in Ollama's `options` object
RELOADS_MODEL = "Ollama reloads the model when the context size changes, which takes a moment."


@dataclass(frozen=True)
class SamplerNames:
    """Where one backend (or one kind of OpenAI-compatible server) takes each setting: the name
    it is sent under (`options.<name>` inside Ollama's options), or no entry with the reason it
    is not sent in `not_sent`."""

    server: str  # whose names these are, as the page shows it
    names: Mapping[str, str]
    not_sent: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)  # what the page says beside a sent one
    # The context size a request sends becomes the model's context (Ollama loads the model with
    # it), rather than a limit within the context the server was started with.
    request_sets_context: bool = False
    # False: the kind of server was not recognised, and these are llama.cpp's names, sent on trust.
    recognised: bool = True

    def __post_init__(self):
        if set(self.names) & set(self.not_sent) or (set(self.names) | set(self.not_sent)) != set(SAMPLERS):
            raise ValueError(f"{self.server}: each sampler must be either sent or not sent, with the reason")

    def sends(self, name: str) -> bool:
        return name in self.names

    def report(self) -> list[dict]:
        """Every setting with the name it is sent under, or null and why it is not sent."""
        return [
            {"name": name, "sent_as": self.names.get(name), "note": self.not_sent.get(name) or self.notes.get(name)}
            for name in SAMPLERS
        ]


def present(payload: dict) -> list[str]:
    """The settings a request sets (a null is "the backend's default": not set)."""
    return [name for name in SAMPLERS if payload.get(name) is not None]


def not_sent(payload: dict, names: SamplerNames) -> list[str]:
    """The settings a request sets that this backend cannot take."""
    return [name for name in present(payload) if name in names.not_sent]


def translate(payload: dict, names: SamplerNames) -> tuple[dict, dict]:
    """(the request with each setting under the backend's top-level name and those it cannot take
    left out, the settings that go in Ollama's `options` under their names there)."""
    body = {key: value for key, value in payload.items() if key not in SAMPLERS}
    options = {}
    for name in present(payload):
        target = names.names.get(name)
        if target is None:
            continue
        if target.startswith(OPTIONS):
            options[target[len(OPTIONS):]] = payload[name]
        else:
            body[target] = payload[name]
    return body, options


def _not_taken(reason: str, *names: str) -> dict[str, str]:
    return {name: reason for name in names}


_OPENAI_NAMES = {name: name for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty",
                                         "seed", "stop", "max_tokens")}

OPENAI = SamplerNames(
    "ChatGPT",
    _OPENAI_NAMES,
    {
        **_not_taken("OpenAI's API has no such setting.", "top_k", "min_p", "typical_p", "repetition_penalty"),
        "context_length": "OpenAI's models have a fixed context.",
    },
)

OLLAMA = SamplerNames(
    "Ollama",
    {
        **{name: OPTIONS + name for name in ("temperature", "top_p", "top_k", "min_p", "typical_p",
                                             "presence_penalty", "frequency_penalty", "seed", "stop")},
        "repetition_penalty": "options.repeat_penalty",
        "max_tokens": "options.num_predict",
        "context_length": "options.num_ctx",
    },
    notes={"context_length": RELOADS_MODEL},
    request_sets_context=True,
)

LM_STUDIO = SamplerNames(
    "LM Studio",
    {**_OPENAI_NAMES, "top_k": "top_k", "repetition_penalty": "repeat_penalty"},
    {
        "min_p": "LM Studio's OpenAI API does not take min_p.",
        "typical_p": "LM Studio's OpenAI API does not take typical_p.",
        "context_length": "LM Studio sets the context when it loads the model (the model's load settings).",
    },
)

LLAMA_CPP = SamplerNames(
    "llama.cpp",
    {**_OPENAI_NAMES, "top_k": "top_k", "min_p": "min_p", "typical_p": "typical_p",
     "repetition_penalty": "repeat_penalty"},
    {"context_length": "llama-server's context is set when it starts (--ctx-size)."},
)

VLLM = SamplerNames(
    "vLLM",
    {**_OPENAI_NAMES, "top_k": "top_k", "min_p": "min_p", "repetition_penalty": "repetition_penalty"},
    {
        "typical_p": "vLLM has no typical sampling.",
        "context_length": "vLLM's context is set when it starts (--max-model-len).",
    },
)

KOBOLDCPP = SamplerNames(
    "KoboldCpp",
    {**{name: name for name in _OPENAI_NAMES if name != "frequency_penalty"}, "top_k": "top_k", "min_p": "min_p",
     "typical_p": "typical", "repetition_penalty": "rep_pen", "context_length": "max_context_length"},
    {"frequency_penalty": "KoboldCpp reads frequency_penalty only as a presence penalty; set the presence "
                          "penalty instead."},
    notes={"context_length": "KoboldCpp uses at most the context it was started with (--contextsize)."},
)
