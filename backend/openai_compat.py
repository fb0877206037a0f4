"""The part shared by backends that speak OpenAI's API (LM Studio, OpenAI itself)."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Iterator

from llm_base import BackendError, LLMService


# A chunk that closes the answer: finish_reason set to a string ("stop", "length", ...).
_FINISHED = re.compile(rb'"finish_reason"\s*:\s*"')


class RawCompletion(Mapping):
    """A chat completion exactly as an OpenAI-compatible backend sent it: the proxy forwards
    the bytes; anything else reading it sees the parsed dict, parsed on first use."""

    def __init__(self, body: bytes):
        self.body = body
        self._parsed: dict | None = None

    def _data(self) -> dict:
        if self._parsed is None:
            try:
                self._parsed = json.loads(self.body)
            except ValueError:
                raise BackendError("The backend's chat answer is not valid JSON.", step="generate") from None
        return self._parsed

    def __getitem__(self, key):
        return self._data()[key]

    def __iter__(self):
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


class OpenAICompatibleService(LLMService):
    """Models and chat over OpenAI's wire format; streamed chunks are forwarded as sent."""

    models_path = "/v1/models"
    chat_path = "/v1/chat/completions"

    def get_models(self) -> list[str]:
        body = self.get_json(self.models_path)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise BackendError(
                f"{self.label} at {self.base_url} answered the model list without a 'data' list.",
                hint=f"Is this URL really a {self.label} server?",
                step="models",
            )
        return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def chat_completion(self, payload: dict, stream: bool = False):
        body = dict(payload)
        body["model"] = self.resolve_model(payload)
        body["stream"] = bool(stream)
        response = self.request("POST", self.chat_path, json_body=body, stream=stream)
        if not stream:
            body = response.content.strip()
            if not (body.startswith(b"{") and body.endswith(b"}")):
                raise BackendError(
                    f"{self.label} answered the chat request with something that is not JSON.",
                    step="generate",
                )
            return RawCompletion(body)
        return self._relay(response)

    def _relay(self, response) -> Iterator[bytes]:
        """The raw JSON of each SSE data event, checked but not re-encoded."""
        finished = False
        try:
            for line in self.iter_stream_lines(response):
                if not line.startswith(b"data:"):
                    continue  # SSE comments, event names, ids
                data = line[5:].strip()
                if data == b"[DONE]":
                    return
                if not (data.startswith(b"{") and data.endswith(b"}")):
                    raise self.malformed(data)
                if data[1:].lstrip().startswith(b'"error"'):
                    raise self._stream_error(data)
                if not finished and _FINISHED.search(data):
                    finished = True
                yield data
            if not finished:
                raise BackendError(
                    f"{self.label} ended the answer without finishing it.",
                    hint="The backend may have stopped or crashed; check it and try again.",
                    step="generate",
                )
        finally:
            response.close()

    def _stream_error(self, data: bytes) -> BackendError:
        try:
            error = json.loads(data).get("error")
        except ValueError:
            error = None
        message = error.get("message") if isinstance(error, dict) else error
        return BackendError(
            self.redact(f"{self.label} reported an error in the middle of the answer: {message}"),
            step="generate",
        )
