"""Any server that speaks OpenAI's /v1 API: llama.cpp's llama-server, vLLM, KoboldCpp, Jan,
LocalAI, text-generation-webui, LiteLLM, ... An API key is optional and models are not filtered.

Which kind of server it is (llama.cpp, vLLM, KoboldCpp, LM Studio) is asked once and kept
(`server_kind`): each takes the sampling settings under names of its own, has its own tokenizer and
refuses its own text-completion fields; a server of no known kind gets llama.cpp's names."""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from cachetools import TTLCache

from taleweaver.llm import infill, logprobs, samplers, server_identity, tokens
from taleweaver.llm.backends import lmstudio_service
from taleweaver.llm.descriptor import BackendDescriptor, ConfigField, Hints, timeout_fields
from taleweaver.llm.errors import BackendError, BackendRejected, LLMError
from taleweaver.llm.completions import refuse_unsupported
from taleweaver.llm.openai_wire import OpenAIWireService
from taleweaver.llm.samplers import SamplerNames
from taleweaver.llm.stream import Stream
from taleweaver.llm.transport import TransportError

DEFAULT_BASE_URL = "http://localhost:8080/v1"
# How long the kind of server at an address is kept: a recognised one for ten minutes, an
# unrecognised one (or one that did not answer) for a minute, then asked again.
KIND_CACHE_SECONDS = 600.0
UNKNOWN_KIND_CACHE_SECONDS = 60.0

_ECHO = "its /v1/completions does not return the prompt with the answer."
_LLAMA_CPP_REFUSALS = {
    "echo": "llama.cpp " + _ECHO,
    "suffix": "llama.cpp ignores it on /v1/completions (fill-in-the-middle is its /infill endpoint).",
}


@dataclass(frozen=True)
class ServerKind:
    """A kind of OpenAI-compatible server: where it takes each sampling setting, its tokenizer
    (None: counts are estimated), and the text-completion fields it cannot honour."""

    name: str
    samplers: SamplerNames
    tokenizer: tokens.Tokenizer | None
    refusals: Mapping[str, str]


KINDS = {
    "llama.cpp": ServerKind("llama.cpp", samplers.LLAMA_CPP, tokens.LLAMA_CPP, _LLAMA_CPP_REFUSALS),
    "vllm": ServerKind("vllm", samplers.VLLM, tokens.VLLM, {"suffix": "vLLM does not support it."}),
    "koboldcpp": ServerKind("koboldcpp", samplers.KOBOLDCPP, tokens.KOBOLDCPP, {
        "echo": "KoboldCpp " + _ECHO, "suffix": "KoboldCpp has no fill-in-the-middle."}),
    "lmstudio": ServerKind("lmstudio", lmstudio_service.DESCRIPTOR.samplers, None,
                           lmstudio_service.DESCRIPTOR.completion_refusals),
}
UNRECOGNISED = ServerKind("", dataclasses.replace(samplers.LLAMA_CPP, recognised=False), None, _LLAMA_CPP_REFUSALS)

_kinds: TTLCache = TTLCache(maxsize=256, ttl=KIND_CACHE_SECONDS)
_unrecognised: TTLCache = TTLCache(maxsize=256, ttl=UNKNOWN_KIND_CACHE_SECONDS)
_kinds_lock = threading.Lock()


def _still_loading(answer, client) -> LLMError | None:
    """llama-server answers 503 "Loading model" until its model is in memory."""
    if answer.status == 503 and "loading model" in answer.short_message.lower():
        return BackendRejected(
            f"{client.label} is still loading its model: {answer.short_message}",
            hint="Wait until the server's log says it is listening, then try again.",
            code="no_model_loaded",
            http_status=503,
            step="generate",
        )
    return None

DESCRIPTOR = BackendDescriptor(
    type="openai_compatible",
    label="OpenAI-compatible server",
    description="llama.cpp (llama-server), vLLM, KoboldCpp, Jan, LocalAI or any server with OpenAI's /v1 API",
    local=True,
    fields=(
        ConfigField("base_url", "Base URL", "url", required=True, default=DEFAULT_BASE_URL,
                    placeholder=DEFAULT_BASE_URL,
                    help="The server's OpenAI API, usually ending in /v1: llama.cpp :8080, vLLM :8000, KoboldCpp :5001."),
        ConfigField("api_key", "API key", "secret", placeholder="optional",
                    help="Only if the server was started with a key (llama-server --api-key, vLLM --api-key). "
                    "Stored encrypted, never sent back."),
        *timeout_fields(first_token=300),
    ),
    api_base_url=True,
    hints=Hints(
        unreachable="Is the server running, and is the base URL right (with /v1)? The usual addresses: "
        "llama.cpp's llama-server http://localhost:8080/v1, vLLM http://localhost:8000/v1, "
        "KoboldCpp http://localhost:5001/v1. LM Studio (port 1234) has a backend type of its "
        "own: choose LM Studio for it. If Taleweaver runs in WSL and the server on Windows, "
        "let the server listen on 0.0.0.0 (llama-server --host 0.0.0.0).",
        auth="Enter the API key the server was started with (e.g. llama-server --api-key), or leave it "
        "blank if it has none.",
        context="Start the server with a larger context (llama-server --ctx-size, vLLM --max-model-len, "
        "KoboldCpp --contextsize), or send a shorter prompt.",
        no_models="{label} answered but lists no models: start it with a model loaded.",
    ),
    samplers=UNRECOGNISED.samplers,
    completion_refusals=_LLAMA_CPP_REFUSALS,
    error_rules=(_still_loading, infill.llama_not_supported),
)


def forget_server_kind(root_url: str | None = None) -> None:
    """Ask again what kind of server answers at this root URL (every one when None)."""
    with _kinds_lock:
        for cache in (_kinds, _unrecognised):
            if root_url is None:
                cache.clear()
            else:
                cache.pop(root_url, None)


@DESCRIPTOR.implemented_by
class OpenAICompatibleService(OpenAIWireService):
    """A server with OpenAI's API at its base URL (models at /models, chat at /chat/completions)."""

    models_path = "/models"
    chat_path = "/chat/completions"

    def __init__(self, base_url: str = DEFAULT_BASE_URL, api_key: str | None = None, **options):
        self.api_key = api_key or None
        super().__init__(base_url or DEFAULT_BASE_URL, secrets=(api_key or "",), **options)

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def root_url(self) -> str:
        """The server's own root, where llama.cpp, vLLM and KoboldCpp have their other endpoints
        (/props, /tokenize, /version, /api/extra/...): the base URL without its /v1."""
        base = self.resolved_url or self.base_url
        return base[: -len("/v1")] if base.endswith("/v1") else base

    def _root_json(self, method: str, path: str, body: dict | None = None):
        """A JSON answer from an endpoint at the server's root (LLMError, ValueError or
        TransportError when there is none)."""
        response = self.http.send(self.root_url, method, path, json_body=body,
                                  read_timeout=self.http.connect_timeout + 10)
        return response.json()

    def _llama_props(self) -> dict | None:
        """llama.cpp's GET /props (beside /v1, at the server's root), or None elsewhere."""
        try:
            body = self._root_json("GET", "/props")
        except (LLMError, ValueError, TransportError):  # another server, or none: no detail
            return None
        return body if isinstance(body, dict) and isinstance(body.get("default_generation_settings"), dict) else None

    def server_kind(self) -> ServerKind:
        """The kind of server at this address, asked once and kept (KIND_CACHE_SECONDS)."""
        root = self.root_url
        with _kinds_lock:
            known = _kinds.get(root) or _unrecognised.get(root)
        if known is None:
            known = self._detect_kind()
            with _kinds_lock:
                (_kinds if known.name else _unrecognised)[root] = known
        return known

    def _detect_kind(self) -> ServerKind:
        for path, matches, name in server_identity.OPENAI_COMPATIBLE_KINDS:
            try:
                response = self.http.send(self.root_url, "GET", path, read_timeout=self.http.connect_timeout)
                text = response.text[:65536]
            except (LLMError, TransportError):  # no such endpoint, or no answer: not this kind
                continue
            if matches(response.status_code, text):
                return KINDS[name]
        return UNRECOGNISED

    def sampler_names(self) -> SamplerNames:
        return self.server_kind().samplers

    def logprobs_server(self) -> str:
        """llama.cpp's, vLLM's or KoboldCpp's; an LM Studio behind this backend has none; a server
        of no known kind is sent OpenAI's fields (an answer without them gets a warning)."""
        kind = self.server_kind().name
        if kind == "lmstudio":
            raise lmstudio_service.no_logprobs()
        return kind or "openai"

    def logprobs_missing(self) -> dict:
        if self.server_kind().name:
            return super().logprobs_missing()
        return logprobs.missing_warning(
            "this OpenAI-compatible server", "it is of no kind Taleweaver knows, and answered without them; "
            + logprobs.GIVERS)

    def refuse_unsupported(self, payload: dict) -> None:
        kind = self.server_kind()
        refuse_unsupported(payload, kind.refusals, kind.samplers.server if kind.name else self.label)

    @property
    def completions_path(self) -> str:
        """/completions beside /chat/completions; on llama.cpp /v1/completions whatever the base
        URL, as its /completions (without /v1) is its native endpoint, not OpenAI's."""
        if self.server_kind().name == "llama.cpp" and not self.base_url.endswith("/v1"):
            return "/v1/completions"
        return "/completions"

    def fill_in_middle(self, payload: dict, prefix: str, suffix: str) -> Stream | None:
        """llama.cpp's /infill at the server's root; None on another server, or when its model has
        no fill-in-the-middle tokens (it answers 501)."""
        if self.server_kind().name != "llama.cpp":
            return None
        try:
            response = self.http.send(self.root_url, "POST", "/infill", json_body=infill.llama_request(
                payload, prefix, suffix), stream=True)
        except BackendRejected as exc:
            if exc.code == infill.NOT_SUPPORTED:
                return None
            raise
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        chunks = infill.llama_chunks(self.iter_stream_lines(response), response.close, self.malformed,
                                     str(payload.get("model") or ""), include_usage)
        return Stream(chunks, response.abort)

    def count_tokens(self, texts: list[str], model: str | None = None) -> dict:
        tokenizer = self.server_kind().tokenizer
        if tokenizer is None:
            return super().count_tokens(texts, model)
        try:
            return tokens.counted(f"{self.root_url} {model}", tokenizer.name, texts,
                                  lambda text: self._count(tokenizer, text, model))
        except (LLMError, ValueError, TransportError):
            return super().count_tokens(texts, model)

    def _count(self, tokenizer: tokens.Tokenizer, text: str, model: str | None) -> int:
        count = tokenizer.count(self._root_json("POST", tokenizer.path, tokenizer.request(text, model)))
        if count is None:
            raise BackendError(f"{self.label} answered {tokenizer.path} without a token count.")
        return count

    def apply_chat_template(self, messages: list[dict], model: str | None = None) -> str | None:
        """llama.cpp's POST /apply-template, when its /props reports the model's chat_template."""
        if self.server_kind().name != "llama.cpp" or not (self._llama_props() or {}).get("chat_template"):
            return None
        rendered = self._root_json("POST", "/apply-template", {"messages": messages})
        if not isinstance(rendered, dict) or not isinstance(rendered.get("prompt"), str):
            raise BackendError(f"{self.label} answered /apply-template without a prompt.")
        return rendered["prompt"]

    def server_info(self) -> dict | None:
        kind = self.server_kind()
        if not kind.name:
            return None
        props = self._llama_props() if kind.name in ("llama.cpp", "koboldcpp") else None
        return {
            "server": kind.samplers.server,
            "version": props.get("build_info") if props else None,
            "model": (props.get("model_alias") or props.get("model_path")) if props else None,
            "context_length": props["default_generation_settings"].get("n_ctx") if props else None,
        }

    def read_context_length(self, model: str | None) -> tuple[int, str]:
        """llama.cpp's `/props` `n_ctx`, else vLLM's `max_model_len` in its model list, else the
        documented default."""
        props = self._llama_props()
        if props:
            n_ctx = props["default_generation_settings"].get("n_ctx") or props.get("n_ctx")
            if isinstance(n_ctx, int) and n_ctx > 0:
                return n_ctx, f"{self.server_kind().name or 'llama.cpp'} n_ctx"
        body = self.optional_json(self.models_path)
        for m in (body.get("data") if isinstance(body, dict) else None) or []:
            if isinstance(m, dict) and m.get("id") == model and isinstance(m.get("max_model_len"), int):
                return m["max_model_len"], "vllm max_model_len"
        return super().read_context_length(model)

    def model_details(self) -> list[dict]:
        ids = self.get_models()
        props = self._llama_props()
        context = props["default_generation_settings"].get("n_ctx") if props else None
        # llama-server serves one model: its context is the model's.
        return [{"id": model_id, "context_length": context if len(ids) == 1 else None} for model_id in ids]

    def test_connection(self, generate: bool = False, model: str | None = None) -> dict:
        forget_server_kind(self.root_url)  # another server may listen there now: ask again
        result = super().test_connection(generate=generate, model=model)
        if result["status"] == "connected" and not result.get("hint") and urlsplit(self.base_url).port == 1234:
            result["hint"] = (
                "Port 1234 is LM Studio's: if this is LM Studio, choose the LM Studio backend, which "
                "also shows which models are loaded."
            )
        return result
