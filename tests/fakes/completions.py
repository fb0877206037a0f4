"""Text completion on the fakes: OpenAI's ``/v1/completions`` (LM Studio, OpenAI, llama-server,
vLLM, KoboldCpp) and Ollama's ``/api/generate``, each in the server's own format as
/work/notes/wire-formats.md quotes it from the servers' code:

* OpenAI and LM Studio: ``text_completion`` objects (``cmpl-`` ids), a stream's text in
  ``choices[0].text``, a last chunk with ``finish_reason``, a usage chunk (``choices: []``) only
  with ``stream_options.include_usage``, ``data: [DONE]``; OpenAI's ``max_tokens`` defaults to 16,
  and a chat model is refused with its 404 "This is a chat model and not supported in the
  v1/completions endpoint...".
* llama-server: ids ``chatcmpl-``, ``system_fingerprint`` its build, ``usage`` and ``timings`` on
  the last chunk always, log-probabilities in chat's ``{"content": [...]}`` shape.
* vLLM: legacy log-probabilities (``tokens``, ``token_logprobs``, ``top_logprobs``,
  ``text_offset``), ``echo`` honoured, ``suffix`` refused with 400, ``max_tokens`` default 16.
* KoboldCpp: streamed chunks with ``"id": "koboldcpp"``.
* Ollama ``/api/generate``: NDJSON ``response`` pieces, a last line with ``done_reason`` and the
  counters; ``raw`` refuses ``template``/``system``/``context``; a ``suffix`` needs a model with the
  ``insert`` capability (the fake's have it with ``fill_in_middle=True``); ``options`` as ``/api/chat`` takes them;
  ``logprobs``/``top_logprobs`` (0-20) give per-token log-probabilities; a model that thinks
  sends its thoughts in ``thinking`` unless ``think`` is false.

A handler class mixes this in; what differs by server is in the class attributes below.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Dict, Iterator, List, Optional

from . import logprobs

OLLAMA_INTEGER_OPTIONS = ("num_ctx", "num_predict", "top_k", "seed", "repeat_last_n", "num_keep")


def prompt_tokens(prompt: str) -> int:
    """The fake's token count of a prompt: its words (at least one)."""
    return max(len(prompt.split()), 1)


class CompletionRoutes:
    """/v1/completions in OpenAI's format and Ollama's /api/generate, for a fake's handler."""

    completion_id_prefix = "cmpl-"
    stream_id: Optional[str] = None  # KoboldCpp names every streamed chunk "koboldcpp"
    default_max_tokens: Optional[int] = None  # OpenAI and vLLM stop at 16 tokens unless told
    logprobs_shape = "legacy"  # "legacy" (OpenAI, vLLM), "chat" (llama.cpp), "koboldcpp" (logprobs.py)
    usage_on_last_chunk = False  # llama.cpp sends usage (and timings) whatever the request says
    echoes_prompt = False  # vLLM and OpenAI prepend the prompt with echo: true

    # ----- OpenAI's /v1/completions -------------------------------------------------------

    def _oai_completion(self) -> None:
        body = self._completion_request()
        if body is None:
            return
        model = self._completion_model(body)
        if model is None:
            return
        prompt = body["prompt"]
        limit = body.get("max_tokens", self.default_max_tokens)
        limit = int(limit) if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0 else None
        reply = self._make_reply(limit, [{"role": "user", "content": prompt}])
        top = self._logprobs_asked(body.get("logprobs"))
        counted = prompt_tokens(prompt)
        usage = {"prompt_tokens": counted, "completion_tokens": reply.count, "total_tokens": counted + reply.count}
        head = {"id": self.completion_id_prefix + uuid.uuid4().hex[:24], "object": "text_completion",
                "created": int(time.time()), "model": model, **self._completion_extras()}
        if not body.get("stream"):
            if self.fake.chunk_delay > 0 and reply.count:
                self._pause(self.fake.chunk_delay * reply.count)
            text = (prompt if body.get("echo") and self.echoes_prompt else "") + reply.full_text()
            logprobs = self._logprobs(list(reply.pieces()), top) if top is not None else None
            choice = {"text": text, "index": 0, "logprobs": logprobs, "finish_reason": reply.finish}
            self._send_json(200, {**head, "choices": [choice], "usage": usage, **self._completion_timings(usage)})
            return
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        events = self._completion_events(head, reply, top, usage, include_usage, body)
        malformed = b'data: {"object": "text_completion", "choices": [{"text": \n\n'
        self._run_stream("text/event-stream", events, malformed)

    def _completion_events(self, head: Dict[str, Any], reply, top: Optional[int], usage: Dict[str, int],
                           include_usage: bool, body: Dict[str, Any]) -> Iterator[bytes]:
        if self.stream_id:
            head = {**head, "id": self.stream_id}

        def event(choices: List[Dict[str, Any]], **extra: Any) -> bytes:
            return b"data: " + json.dumps({**head, "choices": choices, **extra}).encode() + b"\n\n"

        if body.get("echo") and self.echoes_prompt:
            yield event([{"text": body["prompt"], "index": 0, "logprobs": None, "finish_reason": None}])
        offset = 0
        at_once = self.logprobs_shape == "koboldcpp"  # all of them in one chunk before the last
        for piece in reply.pieces():
            logprobs = self._logprobs([piece], top, offset) if top is not None and not at_once else None
            offset += len(piece)
            yield event([{"text": piece, "index": 0, "logprobs": logprobs, "finish_reason": None}])
        if at_once and top is not None:
            logprobs = self._logprobs(list(reply.pieces()), top)
            yield event([{"text": "", "index": 0, "logprobs": logprobs, "finish_reason": None}])
        last = {"usage": usage, **self._completion_timings(usage)} if self.usage_on_last_chunk else {}
        yield event([{"text": "", "index": 0, "logprobs": None, "finish_reason": reply.finish}], **last)
        if include_usage and not self.usage_on_last_chunk:
            yield event([], usage=usage)
        yield b"data: [DONE]\n\n"

    def _logprobs_asked(self, asked: Any) -> Optional[int]:
        """The alternatives a completion's `logprobs` gets: llama.cpp's `n_probs` gives none for 0
        (`true` counts as 1); KoboldCpp gives its 5 for anything truthy."""
        if self.logprobs_shape == "koboldcpp":
            return logprobs.KOBOLDCPP_ALTERNATIVES if asked else None
        if self.logprobs_shape == "chat":
            return int(asked) or None if isinstance(asked, (int, bool)) else None
        return asked if isinstance(asked, int) and not isinstance(asked, bool) else None

    def _logprobs(self, pieces: List[str], top: int, offset: int = 0) -> Dict[str, Any]:
        if self.logprobs_shape == "koboldcpp":
            return logprobs.koboldcpp(pieces)
        items = [logprobs.item(piece, max(top, 1)) for piece in pieces]
        if self.logprobs_shape == "chat":
            return {"content": [{"id": 1000 + n, **item} for n, item in enumerate(items)]}
        offsets, position = [], offset
        for piece in pieces:
            offsets.append(position)
            position += len(piece)
        return {"tokens": pieces, "token_logprobs": [item["logprob"] for item in items],
                "top_logprobs": [{alt["token"]: alt["logprob"] for alt in item["top_logprobs"]} for item in items],
                "text_offset": offsets}

    def _completion_request(self) -> Optional[Dict[str, Any]]:
        """The request's body when it is one this server answers (else its error has been sent)."""
        body = self.req_json
        if self.req_json_error or not isinstance(body, dict):
            self._completion_error(400, "We could not parse the JSON body of your request.")
            return None
        if not isinstance(body.get("prompt"), str):
            self._completion_error(400, "Missing required parameter: 'prompt'.")
            return None
        return body

    def _completion_model(self, body: Dict[str, Any]) -> Optional[str]:
        """The model that answers (else the server's error has been sent)."""
        requested = body.get("model")
        model = self.fake._find_model(requested) if isinstance(requested, str) else None
        if model is None:
            self._model_not_found(requested if isinstance(requested, str) else "")
        return model

    def _completion_extras(self) -> Dict[str, Any]:
        """Fields every answer of this server carries besides OpenAI's."""
        return {}

    def _completion_timings(self, usage: Dict[str, int]) -> Dict[str, Any]:
        return {}

    def _completion_error(self, code: int, message: str) -> None:
        self._oai_error(code, message, "invalid_request_error", None, None)

    # ----- Ollama's /api/generate ------------------------------------------------------

    def _ollama_generate(self) -> None:
        body = self._generate_request()
        if body is None:
            return
        fake = self.fake
        model = fake._find_model(body["model"])
        if model is None:
            self._model_not_found(body["model"])
            return
        if body.get("suffix") and not fake.fill_in_middle:
            self._send_json(400, {"error": f"registry.ollama.ai/library/{model} does not support insert"})
            return
        self._wait_for_model_load(model)
        fake._mark_loaded(model)
        options = body.get("options") if isinstance(body.get("options"), dict) else {}
        limit = options.get("num_predict")
        limit = limit if isinstance(limit, int) and limit >= 0 else None
        prompt = body.get("prompt") or ""
        reply = self._make_reply(limit, [{"role": "user", "content": prompt}])
        generate = _Generate(body, model, reply, prompt, fake.reasoning, fake.ollama_logprobs)
        if body.get("stream", True) is False:
            if fake.chunk_delay > 0 and reply.count:
                self._pause(fake.chunk_delay * reply.count)
            self._send_json(200, generate.whole())
            return
        malformed = b'{"model": "' + model.encode() + b'", "response": "\n'
        self._run_stream("application/x-ndjson", generate.lines(), malformed)

    def _generate_request(self) -> Optional[Dict[str, Any]]:
        """The body when Ollama would generate from it (else its error has been sent)."""
        body = self.req_json
        if self.req_json_error or not isinstance(body, dict):
            self._send_json(400, {"error": "invalid character looking for beginning of value"
                                  if self.req_json_error else "missing request body"})
            return None
        if not body.get("model"):
            self._send_json(400, {"error": "model is required"})
            return None
        if body.get("raw") and any(body.get(name) for name in ("template", "system", "context")):
            self._send_json(400, {"error": "raw mode does not support template, system, or context"})
            return None
        top = body.get("top_logprobs")
        if self.fake.ollama_logprobs and top is not None and not (isinstance(top, int) and 0 <= top <= 20):
            self._send_json(400, {"error": "top_logprobs must be between 0 and 20"})
            return None
        options = body.get("options") if isinstance(body.get("options"), dict) else {}
        for name in OLLAMA_INTEGER_OPTIONS:
            value = options.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                self._send_json(400, {"error": f'option "{name}" must be of type integer'})
                return None
        return body


class _Generate:
    """One /api/generate answer: its NDJSON lines, or the whole of it."""

    def __init__(self, body: Dict[str, Any], model: str, reply, prompt: str, reasoning: Optional[str],
                 gives_logprobs: bool):
        self.body, self.model, self.reply = body, model, reply
        self.prompt_tokens = prompt_tokens(prompt)
        self.top = body.get("top_logprobs") or 0
        self.logprobs = gives_logprobs and bool(body.get("logprobs"))
        # A thinking model sends its thoughts apart unless told not to think.
        self.thoughts = reasoning.split() if reasoning and body.get("think") is not False else []
        self.started = time.monotonic_ns()

    def _line(self, **fields: Any) -> Dict[str, Any]:
        return {"model": self.model, "created_at": _created_at(), **fields}

    def _last(self, response: str) -> Dict[str, Any]:
        elapsed = max(time.monotonic_ns() - self.started, 1_000_000)
        return self._line(response=response, done=True, done_reason=self.reply.finish, total_duration=elapsed,
                          load_duration=1_234_567, prompt_eval_count=self.prompt_tokens,
                          prompt_eval_duration=1_000_000, eval_count=self.reply.count, eval_duration=elapsed)

    def lines(self) -> Iterator[bytes]:
        for thought in self.thoughts:
            yield json.dumps(self._line(response="", thinking=thought + " ", done=False)).encode() + b"\n"
        for piece in self.reply.pieces():
            line = self._line(response=piece, done=False)
            if self.logprobs:
                line["logprobs"] = [logprobs.ollama(piece, self.top)]
            yield json.dumps(line).encode() + b"\n"
        yield json.dumps(self._last("")).encode() + b"\n"

    def whole(self) -> Dict[str, Any]:
        answer = self._last(self.reply.full_text())
        if self.thoughts:
            answer["thinking"] = " ".join(self.thoughts)
        if self.logprobs:
            answer["logprobs"] = [logprobs.ollama(piece, self.top) for piece in self.reply.pieces()]
        return answer


def _created_at() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"
