"""Text completion (OpenAI's `/v1/completions`: a prompt the model continues) as every backend's
service answers it: the one place a `text_completion` chunk is built, the refusal of a request
field a backend cannot honour, and a chat view of a completion, with which a story's generation
job (which reads chat.completion.chunk) runs a completion unchanged."""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from taleweaver.llm.errors import BackendRejected
from taleweaver.llm.stream import Stream, chunk as chat_chunk

# A request field a backend cannot honour on a text completion -> why (the error says it).
Refusals = Mapping[str, str]


def completion_chunk(completion_id: str, created: int, model: str, text: str | None,
                     finish_reason: str | None = None, *, logprobs: dict | None = None,
                     usage: dict | None = None) -> dict:
    """One text_completion chunk (a streamed one and a whole answer have the same shape): the one
    choice's `text`, or with `text` None no choice, as in the usage chunk that ends a stream asked
    for with include_usage."""
    data = {
        "id": completion_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [] if text is None else [
            {"text": text, "index": 0, "logprobs": logprobs, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        data["usage"] = usage
    return data


def refuse_unsupported(payload: dict, refusals: Refusals, label: str) -> None:
    """A 400 for a field the backend cannot honour (`echo: true`, a `suffix`, `logprobs`), before
    anything is sent: leaving it out silently would answer another question than the one asked."""
    for name, reason in refusals.items():
        value = payload.get(name)
        if value is None or value is False or value == "":
            continue
        raise BackendRejected(
            f"{label} cannot take '{name}' on a text completion: {reason} Send the request without it.",
            code="unsupported_parameter",
            step="generate",
        )


def _choice(data: Mapping) -> Mapping | None:
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return choices[0]
    return None


def as_chat_chunk(data: Mapping) -> dict:
    """A text_completion chunk (parsed) as the chat.completion.chunk that carries the same text,
    finish reason and usage."""
    choice = _choice(data)
    text = choice.get("text") if choice is not None else None
    return chat_chunk(
        str(data.get("id") or ""), data.get("created") or 0, str(data.get("model") or ""),
        None if choice is None else ({"content": text} if isinstance(text, str) and text else {}),
        choice.get("finish_reason") if choice is not None else None,
        usage=data.get("usage") if isinstance(data.get("usage"), dict) else None,
    )


def as_chat_completion(data: Mapping) -> dict:
    """A whole text completion as the chat.completion with the same text."""
    choice = _choice(data) or {}
    return {
        "id": data.get("id"),
        "object": "chat.completion",
        "created": data.get("created"),
        "model": data.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": choice.get("text") or ""},
                     "finish_reason": choice.get("finish_reason")}],
        "usage": data.get("usage"),
    }


class ChatView:
    """A service's text completions seen as chat completions: `chat_completion(payload, stream)`
    sends the payload (its `prompt`, no `messages`) as a text completion and answers in chat's
    shape, so that what reads chat answers (a story's generation job) runs completion mode
    unchanged."""

    def __init__(self, service: Any):
        self.service = service

    def chat_completion(self, payload: dict, stream: bool = False) -> dict | Stream:
        answer = self.service.completion(payload, stream=stream)
        if not stream:
            return as_chat_completion(answer)
        completions = Stream.of(answer)
        return Stream(_chat_chunks(completions), completions.abort)


def _chat_chunks(completions: Stream) -> Iterator[dict]:
    try:
        for piece in completions:
            yield as_chat_chunk(piece if isinstance(piece, Mapping) else json.loads(piece))
    finally:
        completions.close()
