"""Fill-in-the-middle: the model writes between a prefix and a suffix it is given as they are,
where the backend and its model can (/work/notes/wire-formats.md):

- llama.cpp: `POST /infill` at the server's root with `input_prefix` and `input_suffix`, answered
  as its native /completion stream (`data: {"content", "stop", "stop_type"}`, no [DONE]); a model
  without fill-in-the-middle tokens answers 501 `not_supported_error` (`infill_not_supported`).
- Ollama: `POST /api/generate` with `suffix` (not raw: its template places prefix and suffix),
  for a model whose `/api/show` lists the `insert` capability.

`InfillView` is the service a "Write here" generation job runs with: its streamed chat completion
is the backend's fill-in-the-middle when the service has one for the model
(`service.fill_in_middle`), else the chat completion of the payload's messages (the instruction
with both sides, stories/insertion.py)."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from taleweaver.llm.errors import BackendError, BackendRejected
from taleweaver.llm.stream import Stream, chunk

NOT_SUPPORTED = "infill_not_supported"
# Fields of a chat request that are not sampling settings for llama.cpp's /infill.
_NOT_SAMPLING = ("messages", "model", "stream", "stream_options", "max_tokens", "max_completion_tokens")


def llama_not_supported(answer, client) -> BackendRejected | None:
    """llama.cpp's 501 for a model without fill-in-the-middle tokens (an error rule)."""
    if answer.status == 501 and "infill" in answer.message.lower():
        return BackendRejected(f"{client.label} cannot fill in the middle with this model: {answer.short_message}",
                               code=NOT_SUPPORTED, http_status=501, step="generate")
    return None


def llama_request(payload: dict, prefix: str, suffix: str) -> dict:
    """The /infill body: both sides, streamed, with the payload's sampling settings."""
    body = {key: value for key, value in payload.items() if key not in _NOT_SAMPLING}
    limit = payload.get("max_tokens") or payload.get("max_completion_tokens")
    if isinstance(limit, int):
        body["n_predict"] = limit
    return {**body, "input_prefix": prefix, "input_suffix": suffix, "stream": True}


def llama_chunks(lines: Iterator[bytes], close: Callable[[], None], malformed: Callable[[bytes], BackendError],
                 model: str, include_usage: bool) -> Iterator[dict]:
    """Chat chunks made from llama.cpp's native stream as each event arrives; an error event, a
    line that is not JSON or an end before `stop` raised."""
    completion_id, created = "infill-" + uuid.uuid4().hex[:24], int(time.time())
    try:
        yield chunk(completion_id, created, model, {"role": "assistant", "content": ""})
        for line in lines:
            if not line.startswith(b"data:"):
                continue  # keep-alive comments and the blank lines between events
            part = _event(line, malformed)
            if part.get("content"):
                yield chunk(completion_id, created, model, {"content": part["content"]})
            if part.get("stop"):
                yield chunk(completion_id, created, model, {}, "length" if part.get("stop_type") == "limit" else "stop")
                if include_usage:
                    yield chunk(completion_id, created, model, None, usage=_usage(part))
                return
        raise BackendError("llama.cpp ended the answer without finishing it.",
                           hint="The server may have stopped; check it and try again.", step="generate")
    finally:
        close()


def _event(line: bytes, malformed: Callable[[bytes], BackendError]) -> dict:
    try:
        part = json.loads(line[5:])
    except ValueError:
        raise malformed(line) from None
    if not isinstance(part, dict):
        raise malformed(line)
    if part.get("error"):
        error = part["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise BackendError(f"llama.cpp reported an error in the middle of the answer: {message}", step="generate")
    return part


def _usage(part: dict) -> dict:
    prompt = part.get("tokens_evaluated") if isinstance(part.get("tokens_evaluated"), int) else 0
    completion = part.get("tokens_predicted") if isinstance(part.get("tokens_predicted"), int) else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class InfillView:
    """A service seen by a generation job that writes between `prefix` and `suffix`."""

    def __init__(self, service: Any, prefix: str, suffix: str):
        self.service, self.prefix, self.suffix = service, prefix, suffix

    def chat_completion(self, payload: dict, stream: bool = False) -> dict | Stream:
        if stream:
            filled = self.service.fill_in_middle(payload, self.prefix, self.suffix)
            if filled is not None:
                return filled
        return self.service.chat_completion(payload, stream=stream)
