"""Ollama through its native API (/api/*), translated to and from OpenAI's chat and text
completion formats (ollama_wire.py)."""
from __future__ import annotations

import json
import re
import time
import uuid
from typing import Iterator

from taleweaver.llm import logprobs, reasoning, samplers
from taleweaver.llm.backends import ollama_logprobs, ollama_wire
from taleweaver.llm.completions import as_chat_chunk
from taleweaver.llm.descriptor import BackendDescriptor, ConfigField, Hints, timeout_fields
from taleweaver.llm.stream import Stream, chunk
from taleweaver.llm.errors import BackendError, LLMError
from taleweaver.llm.service import LLMService
from taleweaver.llm.transport import TransportError


def _out_of_memory(answer, client) -> LLMError | None:
    if "requires more system memory" in answer.short_message.lower():
        return BackendError(
            f"Ollama could not load the model: {answer.short_message}",
            hint="Pick a smaller model (or a smaller quantization), or close other programs "
            "that use memory, then try again.",
            step="generate",
        )
    return None


DESCRIPTOR = BackendDescriptor(
    type="ollama",
    label="Ollama",
    description="Ollama on this machine or your network (`ollama serve`)",
    local=True,
    strip_api_suffix=True,
    fields=(
        ConfigField("url", "Server URL", "url", required=True, default="http://localhost:11434",
                    placeholder="http://localhost:11434",
                    help="Where `ollama serve` listens (OLLAMA_HOST)."),
        *timeout_fields(first_token=300),
    ),
    # Ollama's own default num_ctx (OLLAMA_CONTEXT_LENGTH unset), whatever the model allows.
    default_context_length=4096,
    hints=Hints(
        unreachable="Is `ollama serve` running, and does it listen at {base_url}? If Taleweaver runs in "
        "WSL and Ollama on Windows (or another machine), start Ollama with OLLAMA_HOST=0.0.0.0 so "
        "it listens beyond 127.0.0.1, and use that machine's address.",
        context="Raise the model's context in Ollama (the num_ctx parameter, or OLLAMA_CONTEXT_LENGTH "
        "for the server), or send a shorter prompt.",
        model="Pull the model first (`ollama pull <name>`), or pick one from the list in Settings.",
        no_models="Ollama answered but has no models yet: pull one with `ollama pull llama3.2`.",
    ),
    samplers=samplers.OLLAMA,
    completion_refusals={
        "echo": "Ollama's /api/generate does not return the prompt with the answer.",
        "suffix": "Taleweaver sends a text completion to Ollama raw, and Ollama uses a suffix only "
                  "through the model's template.",
    },
    error_rules=(_out_of_memory,),
)

def _ollama_message(message: dict) -> dict:
    """An OpenAI chat message as Ollama wants it (text parts joined, images as base64)."""
    content = message.get("content")
    result = {"role": message.get("role", "user")}
    if isinstance(content, list):
        texts, images = [], []
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif part.get("type") == "image_url":
                url = (part.get("image_url") or {}).get("url", "")
                if isinstance(url, str) and url.startswith("data:") and "," in url:
                    images.append(url.split(",", 1)[1])
        result["content"] = "\n".join(texts)
        if images:
            result["images"] = images
    else:
        result["content"] = "" if content is None else str(content)
    return result


def to_ollama_request(payload: dict, model: str, stream: bool) -> dict:
    """The /api/chat body for an OpenAI chat completion request."""
    options = ollama_wire.options_of(payload)
    body = {
        "model": model,
        "messages": [_ollama_message(m) for m in payload.get("messages") or [] if isinstance(m, dict)],
        "stream": stream,
    }
    if options:
        body["options"] = options
    think = payload.get("think")
    if isinstance(think, bool) or think in ("low", "medium", "high"):
        body["think"] = think
    wanted = logprobs.asked(payload, "chat")
    if wanted:
        body.update(ollama_wire.logprob_fields(wanted))
    response_format = payload.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        body["format"] = "json"
    return body


@DESCRIPTOR.implemented_by
class OllamaService(LLMService):
    """An Ollama server (`ollama serve`)."""

    def get_models(self) -> list[str]:
        return [m["name"] for m in self._tags()]

    def _tags(self) -> list[dict]:
        body = self.get_json("/api/tags")
        models = body.get("models") if isinstance(body, dict) else None
        if not isinstance(models, list):
            raise BackendError(
                f"Ollama at {self.base_url} answered /api/tags without a 'models' list.",
                hint="Is this URL really an Ollama server?",
                step="models",
            )
        return [m for m in models if isinstance(m, dict) and isinstance(m.get("name"), str)]

    def _running(self) -> dict[str, dict] | None:
        body = self.optional_json("/api/ps")
        models = body.get("models") if isinstance(body, dict) else None
        if not isinstance(models, list):
            return None
        return {m.get("name"): m for m in models if isinstance(m, dict)}

    def model_details(self) -> list[dict]:
        running = self._running()
        return [_details(m, running) for m in self._tags()]

    def model_state(self, model: str | None) -> str | None:
        running = self._running()
        if running is None or not model:
            return None
        return "loaded" if model in running else "not-loaded"

    def read_context_length(self, model: str | None) -> tuple[int, str]:
        """Ollama runs a model with its `num_ctx` parameter when the model sets one, else with
        Ollama's default (4096 tokens), never more than the model's own `context_length`
        (`/api/show` → `model_info["<arch>.context_length"]`)."""
        default = super().read_context_length(model)
        body = self._show(model) if model else None
        return default if body is None else _context_of(body, default[0])

    def _show(self, model: str) -> dict | None:
        """The model's /api/show (its parameters, model_info, capabilities), None when there is none."""
        try:
            body = self.request("POST", "/api/show", json_body={"model": model},
                                read_timeout=self.http.connect_timeout).json()
        except (LLMError, ValueError, TransportError):
            return None
        return body if isinstance(body, dict) else None

    def fill_in_middle(self, payload: dict, prefix: str, suffix: str) -> Stream | None:
        """/api/generate with `suffix` (not raw: the model's template places both sides) when
        /api/show lists the model's `insert` capability, else None."""
        model = self.resolve_model(payload)
        show = self._show(model) or {}
        if "insert" not in (show.get("capabilities") or []):
            return None
        body = {**ollama_wire.generate_request({**payload, "prompt": prefix}, model, True), "raw": False,
                "suffix": suffix}
        response = self.request("POST", "/api/generate", json_body=body, stream=True)
        parts = self._parts(response)
        completions = ollama_wire.completion_chunks(parts, model, _include_usage(payload))
        return Stream(_closing((as_chat_chunk(piece) for piece in completions), parts), response.abort)

    def server_info(self) -> dict | None:
        body = self.optional_json("/api/version")
        return {"version": body.get("version")} if isinstance(body, dict) else None

    def chat_completion(self, payload: dict, stream: bool = False):
        wanted = ollama_logprobs.wanted(self, payload, "chat")
        model = self.resolve_model(payload)
        body = to_ollama_request(payload, model, stream)
        response = self.request("POST", "/api/chat", json_body=body, stream=stream)
        answer = self._chat_answer(response, model, stream, _include_usage(payload))
        return ollama_logprobs.shaped(answer, wanted, stream, response)

    def _chat_answer(self, response, model: str, stream: bool, include_usage: bool):
        if not stream:
            answer = self._whole_answer(response, "chat")
            message = answer.get("message") or {}
            content, thinking = reasoning.split_message(str(message.get("content") or ""))
            thinking = "\n".join(part for part in (message.get("thinking"), thinking) if part)
            reply = {"role": "assistant", "content": content}
            if thinking:
                reply["reasoning_content"] = thinking
            return {
                "id": "chatcmpl-" + uuid.uuid4().hex[:24],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": answer.get("model", model),
                "choices": [{"index": 0, "message": reply, "finish_reason": ollama_wire.finish_reason(answer),
                             **({"logprobs": answer["logprobs"]} if answer.get("logprobs") else {})}],
                "usage": ollama_wire.usage(answer),
            }
        return Stream(self._translate_stream(response, model, include_usage), response.abort)

    def completion(self, payload: dict, stream: bool = False):
        """A text completion as /api/generate with the prompt raw (ollama_wire.py)."""
        self.refuse_unsupported(payload)
        wanted = ollama_logprobs.wanted(self, payload, "completion")
        model = self.resolve_model(payload)
        body = ollama_wire.generate_request(payload, model, stream)
        response = self.request("POST", "/api/generate", json_body=body, stream=stream)
        if not stream:
            answer = ollama_wire.completion_answer(self._whole_answer(response, "text completion"), model)
        else:
            parts = self._parts(response)
            answer = Stream(_closing(ollama_wire.completion_chunks(parts, model, _include_usage(payload)), parts),
                            response.abort)
        return ollama_logprobs.shaped(answer, wanted, stream, response)

    def _whole_answer(self, response, what: str) -> dict:
        """A non-streamed answer's JSON object; its error raised."""
        try:
            answer = response.json()
        except ValueError:
            raise BackendError(f"Ollama answered the {what} request with something that is not JSON.") from None
        if not isinstance(answer, dict):
            raise BackendError(f"Ollama answered the {what} request with something that is not an object.")
        if answer.get("error"):
            raise self.context_overflow(str(answer["error"])) or BackendError(
                self.redact(f"Ollama reported an error: {answer['error']}")
            )
        return answer

    def _parts(self, response) -> Iterator[dict]:
        """The NDJSON lines of a streamed answer as they arrive, parsed, up to the one that is
        `done`; an error line, a line that is not JSON or an end before `done` raised."""
        try:
            for line in self.iter_stream_lines(response):
                try:
                    part = json.loads(line)
                except ValueError:
                    raise self.malformed(line) from None
                if not isinstance(part, dict):
                    raise self.malformed(line)
                if part.get("error"):
                    overflow = self.context_overflow(str(part["error"]))
                    if overflow:
                        raise overflow
                    raise BackendError(
                        self.redact(f"Ollama reported an error in the middle of the answer: {part['error']}"),
                        step="generate",
                    )
                yield part
                if part.get("done"):
                    return
            raise BackendError(
                "Ollama ended the answer without finishing it.",
                hint="The Ollama server may have stopped; check it and try again.",
                step="generate",
            )
        finally:
            response.close()

    def _translate_stream(self, response, model: str, include_usage: bool) -> Iterator[dict]:
        """OpenAI chat chunks made from Ollama's NDJSON lines as each one arrives."""
        completion_id = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        inline_thinking = reasoning.ThinkSplitter()
        parts = self._parts(response)
        try:
            yield chunk(completion_id, created, model, {"role": "assistant", "content": ""})
            for part in parts:
                message = part.get("message") or {}
                delta = {}
                if message.get("thinking"):
                    delta["reasoning_content"] = message["thinking"]
                if message.get("content"):
                    content, thinking = inline_thinking.split(message["content"])
                    if content:
                        delta["content"] = content
                    if thinking:
                        delta["reasoning_content"] = delta.get("reasoning_content", "") + thinking
                if delta or part.get("logprobs"):
                    piece = chunk(completion_id, created, model, delta)
                    if part.get("logprobs"):
                        piece["choices"][0]["logprobs"] = part["logprobs"]
                    yield piece
                if part.get("done"):
                    yield chunk(completion_id, created, model, {}, ollama_wire.finish_reason(part))
                    if include_usage:
                        yield chunk(completion_id, created, model, None, usage=ollama_wire.usage(part))
        finally:
            parts.close()


def _details(model: dict, running: dict[str, dict] | None) -> dict:
    """One model of /api/tags as the model list shows it ("loaded" when /api/ps lists it)."""
    info = model.get("details") if isinstance(model.get("details"), dict) else {}
    return {
        "id": model["name"],
        "size": model.get("size"),
        "family": info.get("family"),
        "parameter_size": info.get("parameter_size"),
        "quantization": info.get("quantization_level"),
        "context_length": None,
        "state": None if running is None else ("loaded" if model["name"] in running else "not-loaded"),
    }


def _context_of(show: dict, default: int) -> tuple[int, str]:
    """The context a model runs with, from its /api/show: its `num_ctx` parameter, else Ollama's
    default capped by the model's trained `context_length`."""
    match = re.search(r"^\s*num_ctx\s+(\d+)", show.get("parameters") or "", re.MULTILINE)
    if match:
        return int(match.group(1)), "ollama num_ctx"
    info = show.get("model_info") if isinstance(show.get("model_info"), dict) else {}
    trained = [v for k, v in info.items() if k.endswith(".context_length") and isinstance(v, int) and v > 0]
    if trained and trained[0] < default:
        return trained[0], "ollama model_info"
    return default, "ollama default num_ctx"


def _include_usage(payload: dict) -> bool:
    return bool((payload.get("stream_options") or {}).get("include_usage"))


def _closing(chunks: Iterator[dict], parts: Iterator[dict]) -> Iterator[dict]:
    """The chunks, with the lines they are made of closed (the connection given back) when the
    chunks are closed or end."""
    try:
        yield from chunks
    finally:
        parts.close()
