"""The kinds of OpenAI-compatible server the ``openai_compatible`` fake can be: llama-server's
text completion and tokenizer (``POST /tokenize`` with ``content`` and ``add_special``, answering
``{"tokens": [...]}``; ``/completions`` without ``/v1`` its native endpoint), and with
``FakeLLMServer("openai_compatible", server="vllm" | "koboldcpp")`` those servers instead, each
with the endpoints by which it is told apart and its tokenizer, as /work/notes/wire-formats.md
quotes them from the servers' code:

* vLLM: ``GET /version`` ``{"version"}``; ``/v1/models`` with ``owned_by: "vllm"`` and
  ``max_model_len``; ``POST /tokenize`` at the root (``prompt``, ``add_special_tokens``) answering
  ``{"count", "max_model_len", "tokens", "token_strs"}``; errors
  ``{"error": {"message", "type": "BadRequestError"|"NotFoundError", "param", "code"}}``; an unknown
  path FastAPI's ``{"detail": "Not Found"}``.
* KoboldCpp: ``GET /api/extra/version`` ``{"result": "KoboldCpp", ...}``; ``GET /props`` with
  ``n_ctx`` but no ``build_info``; ``/v1/models`` with ``owned_by: "koboldcpp"``;
  ``POST /api/extra/tokencount`` (``prompt``, ``special``) answering ``{"value", "ids"}``;
  ``GET /api/extra/true_max_context_length``; an unknown path a text 404.

Each is a mixin over the llama-server handler, whose chat it keeps.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from .completions import CompletionRoutes, prompt_tokens
from .logprobs import VLLM_MAX_LOGPROBS

LLAMA_BUILD = "b6500-fake"

VLLM_VERSION = "0.11.0"
KOBOLDCPP_VERSION = "1.102"


def token_ids(text: str, special: bool) -> List[int]:
    """The fake tokenizer: one token a word, and a BOS token first when special tokens are added."""
    return ([1] if special else []) + [100 + sum(word.encode()) % 30000 for word in text.split()]


class LlamaServerCompletions:
    """llama-server's text completion (`/v1/completions`, and its native `/completion`) and its
    tokenizer, over its handler in server.py."""

    completion_id_prefix = "chatcmpl-"  # even for text completions
    logprobs_shape = "chat"
    usage_on_last_chunk = True

    def _completion_model(self, body: Dict[str, Any]) -> Optional[str]:
        """llama-server completes with its one model whatever is named, within its context."""
        if self._llama_loading():
            return None
        counted = prompt_tokens(body["prompt"])
        if self.fake.context_length and counted > self.fake.context_length:
            self._llama_error(
                400, f"request ({counted} tokens) exceeds the available context size "
                     f"({self.fake.context_length} tokens), try increasing it",
                "exceed_context_size_error", n_prompt_tokens=counted, n_ctx=self.fake.context_length)
            return None
        return self.fake.models[0]

    def _completion_extras(self) -> Dict[str, Any]:
        return {"system_fingerprint": LLAMA_BUILD}

    def _completion_timings(self, usage: Dict[str, int]) -> Dict[str, Any]:
        return {"timings": {"prompt_n": usage["prompt_tokens"], "prompt_ms": 12.5,
                            "predicted_n": usage["completion_tokens"], "predicted_ms": 40.0,
                            "predicted_per_second": usage["completion_tokens"] / 0.04}}

    def _completion_error(self, code: int, message: str) -> None:
        self._llama_error(code, message, "invalid_request_error")

    def _llama_native_completion(self) -> None:
        """The native /completion: `content` pieces, `stop` on the last, no [DONE]."""
        body = self._completion_request()
        if body is not None and self._completion_model(body) is not None:
            self._llama_native_answer(body)

    def _llama_native_answer(self, body: Dict[str, Any]) -> None:
        """The native /completion answer to `body` (its `prompt`, `n_predict`, `stream`)."""
        limit = body.get("n_predict", body.get("max_tokens"))
        reply = self._make_reply(limit, [{"role": "user", "content": body["prompt"]}])
        last = {"content": "", "stop": True, "model": self.fake.models[0], "tokens_predicted": reply.count,
                "stop_type": "limit" if reply.finish == "length" else "eos"}
        if not body.get("stream"):
            self._send_json(200, {**last, "content": reply.full_text(), "index": 0})
            return
        events = (b"data: " + json.dumps(part).encode() + b"\n\n" for part in
                  [*({"index": 0, "content": piece, "stop": False} for piece in reply.pieces()), last])
        self._run_stream("text/event-stream", events, b'data: {"content": \n\n')

    def _llama_infill(self) -> None:
        """POST /infill: both sides required; a model without FIM tokens answers 501; else the
        native /completion answer, streamed with `stream: true`."""
        body = self.req_json if isinstance(self.req_json, dict) else {}
        for side in ("input_prefix", "input_suffix"):
            if not isinstance(body.get(side), str):
                self._llama_error(400, f'"{side}" is required', "invalid_request_error")
                return
        if not self.fake.fill_in_middle:
            self._llama_error(501, "Infill is not supported by this model: prefix token is missing. suffix token "
                                   "is missing. middle token is missing. ", "not_supported_error")
            return
        self._llama_native_answer({**body, "prompt": body["input_prefix"]})

    def _llama_tokenize(self) -> None:
        body = self.req_json if isinstance(self.req_json, dict) else {}
        content = body.get("content")
        self._send_json(200, {"tokens": token_ids(content, bool(body.get("add_special")))
                              if isinstance(content, str) else []})



class _OpenAIShapes:
    """What vLLM and KoboldCpp answer as OpenAI does, where llama-server differs."""

    completion_id_prefix = "cmpl-"
    logprobs_shape = "legacy"
    usage_on_last_chunk = False
    chat_timings = False

    def _completion_extras(self) -> Dict[str, Any]:
        return {}

    def _completion_timings(self, usage: Dict[str, int]) -> Dict[str, Any]:
        return {}


class VLLMRoutes(_OpenAIShapes):
    """vLLM's OpenAI server (`vllm serve`)."""

    default_max_tokens = 16
    echoes_prompt = True
    chat_logprobs_style = "vllm"

    def routes(self, method: str, path: str):
        if method == "GET" and path == "/version":
            return (lambda: self._send_json(200, {"version": VLLM_VERSION}), False)
        if method == "GET" and path == "/health":
            return (lambda: self._send_bytes(200, b"", "application/json"), False)
        if method == "POST" and path == "/tokenize":
            return (self._vllm_tokenize, True)
        if method == "POST" and path == "/v1/completions":
            return (self._oai_completion, True)
        if method == "POST" and path == "/v1/chat/completions":
            return (self._vllm_chat, True)
        if method == "GET" and path == "/v1/models":
            return (self._vllm_models, True)
        return None

    def _vllm_error(self, code: int, message: str, kind: str, param: Optional[str] = None) -> None:
        self._send_json(code, {"error": {"message": message, "type": kind, "param": param, "code": code}})

    def _not_found(self, path: str) -> None:
        self._send_json(404, {"detail": "Not Found"})

    def _model_not_found(self, model: str) -> None:
        self._vllm_error(404, f"The model `{model}` does not exist.", "NotFoundError", "model")

    def _completion_error(self, code: int, message: str) -> None:
        self._vllm_error(code, message, "BadRequestError")

    def _completion_model(self, body: Dict[str, Any]) -> Optional[str]:
        if body.get("suffix"):
            self._vllm_error(400, "suffix is not currently supported", "BadRequestError")
            return None
        asked = body.get("logprobs")
        if isinstance(asked, int) and asked > VLLM_MAX_LOGPROBS:
            self._vllm_error(400, f"Requested sample logprobs of {asked}, which is greater than max allowed: "
                                  f"{VLLM_MAX_LOGPROBS}", "BadRequestError")
            return None
        return CompletionRoutes._completion_model(self, body)  # the model it serves, by name

    def _vllm_chat(self) -> None:
        requested = self.req_json.get("model") if isinstance(self.req_json, dict) else None
        if self.fake._find_model(requested) is None:
            self._model_not_found(requested if isinstance(requested, str) else "")
            return
        self._llama_chat()

    def _vllm_models(self) -> None:
        self._send_json(200, {"object": "list", "data": [
            {"id": m, "object": "model", "created": 1769000000, "owned_by": "vllm", "root": m, "parent": None,
             "max_model_len": self.fake.context_length, "permission": []} for m in self.fake.models]})

    def _vllm_tokenize(self) -> None:
        body = self.req_json if isinstance(self.req_json, dict) else {}
        if not isinstance(body.get("prompt"), str):
            self._vllm_error(400, "Field required: prompt", "BadRequestError", "prompt")
            return
        ids = token_ids(body["prompt"], body.get("add_special_tokens", True) is not False)
        self._send_json(200, {"count": len(ids), "max_model_len": self.fake.context_length, "tokens": ids,
                              "token_strs": None})


class KoboldCppRoutes(_OpenAIShapes):
    """KoboldCpp's server, through its OpenAI endpoints."""

    stream_id = "koboldcpp"
    chat_logprobs_style = "koboldcpp"
    logprobs_shape = "koboldcpp"

    def routes(self, method: str, path: str):
        if method == "GET" and path == "/api/extra/version":
            return (lambda: self._send_json(200, {
                "result": "KoboldCpp", "version": KOBOLDCPP_VERSION, "protected": False, "llm": True,
                "txt2img": False, "vision": False, "audio": False}), False)
        if method == "GET" and path == "/api/extra/true_max_context_length":
            return (lambda: self._send_json(200, {"value": self.fake.context_length}), False)
        if method == "GET" and path == "/props":
            return (self._koboldcpp_props, False)
        if method == "POST" and path in ("/api/extra/tokencount", "/api/extra/tokenize"):
            return (self._koboldcpp_tokencount, True)
        if method == "POST" and path in ("/v1/completions", "/v1/completion", "/completions"):
            return (self._oai_completion, True)
        if method == "GET" and path in ("/v1/models", "/models"):
            return (self._koboldcpp_models, True)
        if method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            return (self._llama_chat, True)
        return None

    def _not_found(self, path: str) -> None:
        self._send_bytes(404, b"Error: KoboldCpp HTTP Server is running, but this endpoint does not exist. "
                              b"Please check the URL.", "text/plain")

    def _completion_model(self, body: Dict[str, Any]) -> Optional[str]:
        return self.fake.models[0]  # KoboldCpp answers with its one model whatever is named

    def _koboldcpp_props(self) -> None:
        context = self.fake.context_length
        self._send_json(200, {"chat_template": "", "id": 0, "id_task": -1, "total_slots": 1,
                              "modalities": {"vision": False, "audio": False},
                              "model_path": "/models/" + self.fake.models[0], "n_ctx": context,
                              "default_generation_settings": {"n_ctx": context}})

    def _koboldcpp_models(self) -> None:
        self._send_json(200, {"object": "list", "data": [
            {"id": m, "object": "model", "created": 1, "owned_by": "koboldcpp", "permission": [], "root": "koboldcpp"}
            for m in self.fake.models]})

    def _koboldcpp_tokencount(self) -> None:
        body = self.req_json if isinstance(self.req_json, dict) else {}
        if not isinstance(body.get("prompt"), str):
            self._send_json(400, {"value": -1})
            return
        ids = token_ids(body["prompt"], body.get("special", True) is not False)
        self._send_json(200, {"value": len(ids), "ids": ids})
