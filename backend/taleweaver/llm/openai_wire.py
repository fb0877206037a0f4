"""The part shared by backends that speak OpenAI's wire format (LM Studio, ChatGPT and any
OpenAI-compatible server): model list, chat and text completions, and streamed chunks forwarded
as sent."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Iterator

from taleweaver.llm import logprobs, reasoning, samplers
from taleweaver.llm.service import LLMService
from taleweaver.llm.stream import Stream
from taleweaver.llm.errors import BackendError

# A chunk that closes the answer: finish_reason set to a string ("stop", "length", ...).
_FINISHED = re.compile(rb'"finish_reason"\s*:\s*"')


class RawCompletion(Mapping):
    """A chat or text completion exactly as an OpenAI-compatible backend sent it: the proxy forwards
    the bytes; anything else reading it sees the parsed dict, parsed on first use."""

    def __init__(self, body: bytes):
        self.body = body
        self._parsed: dict | None = None

    def _data(self) -> dict:
        if self._parsed is None:
            try:
                self._parsed = json.loads(self.body)
            except ValueError:
                raise BackendError("The backend's answer is not valid JSON.", step="generate") from None
        return self._parsed

    def __getitem__(self, key):
        return self._data()[key]

    def __iter__(self):
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


def _without_inline_thinking(completion: dict) -> dict:
    """A whole completion with `<think>...</think>` moved from content to reasoning_content."""
    for choice in completion.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            content, thinking = reasoning.split_message(message["content"])
            if thinking:
                message["content"] = content
                message["reasoning_content"] = (message.get("reasoning_content") or "") + thinking
    return completion


def _with_speed(chunk: dict) -> dict:
    """llama.cpp's `timings` as OpenAI-style speed figures on the usage it sent."""
    timings = chunk.get("timings")
    usage = chunk.get("usage")
    if isinstance(timings, dict) and isinstance(usage, dict):
        speed = timings.get("predicted_per_second")
        if isinstance(speed, (int, float)):
            usage["tokens_per_second"] = round(float(speed), 2)
    return chunk


class OpenAIWireService(LLMService):
    """Models, chat and text completions over OpenAI's wire format; streamed chunks are forwarded
    as sent, except that inline thinking is moved to `reasoning_content` (see reasoning.py)."""

    models_path = "/v1/models"
    chat_path = "/v1/chat/completions"
    completions_path = "/v1/completions"
    # Request fields this server refuses instead of ignoring (dropped before sending).
    unsupported_fields: tuple[str, ...] = ()

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
        return self._relay(self.chat_path, payload, stream, "chat")

    def completion(self, payload: dict, stream: bool = False):
        self.refuse_unsupported(payload)
        return self._relay(self.completions_path, payload, stream, "text completion")

    def logprobs_server(self) -> str:
        """Whose log-probabilities this server sends (logprobs.request_body): OpenAI's own shapes
        here; raises LogprobsUnavailable where it is known to have none."""
        return "openai"

    def logprobs_missing(self) -> dict:
        """The warning of an answer that came without the log-probabilities asked for."""
        return logprobs.missing_warning(self.label, "it answered without them")

    def _relay(self, path: str, payload: dict, stream: bool, what: str):
        """The payload, its sampling settings under this server's names, sent to `path`; the
        answer forwarded as sent (a RawCompletion, or a Stream of raw chunks), or with
        log-probabilities asked for, parsed and with them in OpenAI's shape (logprobs.py)."""
        body, _ = samplers.translate(payload, self.sampler_names())
        for name in self.unsupported_fields:
            body.pop(name, None)
        wanted = logprobs.asked(payload, "chat" if what == "chat" else "completion")
        server = self.logprobs_server() if wanted else None
        if wanted:
            logprobs.request_body(body, wanted, server)
        body["model"] = self.resolve_model(payload)
        body["stream"] = bool(stream)
        response = self.request("POST", path, json_body=body, stream=stream)
        answer = self._answer(response, stream, what)
        if not wanted:
            return answer
        as_sent = server in logprobs.AS_SENT
        if not stream:
            return logprobs.shaped_answer(answer, wanted, self.logprobs_missing(), as_sent)
        return Stream(logprobs.shaped_chunks(answer.chunks, wanted, self.logprobs_missing(), as_sent),
                      response.abort)

    def _answer(self, response, stream: bool, what: str):
        if not stream:
            try:
                answer = response.content.strip()
            except Exception:  # noqa: BLE001 - a broken-off body is the backend's failure
                raise BackendError(f"{self.label} broke off its {what} answer.", step="generate") from None
            if not (answer.startswith(b"{") and answer.endswith(b"}")):
                raise BackendError(
                    f"{self.label} answered the {what} request with something that is not JSON.",
                    step="generate",
                )
            if reasoning.OPEN_TAG_BYTES in answer:
                return _without_inline_thinking(dict(RawCompletion(answer)))
            return RawCompletion(answer)
        return Stream(self._chunks_of(response), response.abort)

    def _chunks_of(self, response) -> Iterator[bytes | dict]:
        """The raw JSON of each SSE data event, checked but not re-encoded; a chunk is parsed
        only to move inline thinking out of its content or to add speed figures to usage."""
        finished = False
        thinking = reasoning.ThinkSplitter()
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
                if thinking.idle and reasoning.OPEN_TAG_BYTES not in data and b'"timings"' not in data:
                    yield data
                    continue
                try:
                    chunk = json.loads(data)
                except ValueError:
                    raise self.malformed(data) from None
                for choice in chunk.get("choices") or []:
                    if isinstance(choice, dict) and isinstance(choice.get("delta"), dict):
                        choice["delta"] = thinking.split_delta(choice["delta"])
                yield _with_speed(chunk)
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
        overflow = self.context_overflow(data.decode("utf-8", "replace"))
        if overflow:
            return overflow
        return BackendError(
            self.redact(f"{self.label} reported an error in the middle of the answer: {message}"),
            step="generate",
        )
