"""Any server that speaks OpenAI's /v1 API: llama.cpp's llama-server, vLLM, KoboldCpp, Jan,
LocalAI, text-generation-webui, LiteLLM, ... An API key is optional and models are not filtered."""
from __future__ import annotations

from urllib.parse import urlsplit

from taleweaver.llm.descriptor import BackendDescriptor, ConfigField, Hints, timeout_fields
from taleweaver.llm.errors import BackendRejected, LLMError
from taleweaver.llm.openai_wire import OpenAIWireService
from taleweaver.llm.transport import TransportError

DEFAULT_BASE_URL = "http://localhost:8080/v1"


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
    error_rules=(_still_loading,),
)


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

    def _llama_props(self) -> dict | None:
        """llama.cpp's GET /props (beside /v1, at the server's root), or None elsewhere."""
        base = self.resolved_url or self.base_url
        root = base[: -len("/v1")] if base.endswith("/v1") else base
        try:
            response = self.http.send(root, "GET", "/props", read_timeout=self.http.connect_timeout)
            body = response.json()
        except (LLMError, ValueError, TransportError):  # another server, or none: no detail
            return None
        return body if isinstance(body, dict) and isinstance(body.get("default_generation_settings"), dict) else None

    def server_info(self) -> dict | None:
        props = self._llama_props()
        if props is None:
            return None
        return {
            "server": "llama.cpp",
            "version": props.get("build_info"),
            "model": props.get("model_alias") or props.get("model_path"),
            "context_length": props["default_generation_settings"].get("n_ctx"),
        }

    def read_context_length(self, model: str | None) -> tuple[int, str]:
        """llama.cpp's `/props` `n_ctx`, else vLLM's `max_model_len` in its model list, else the
        documented default."""
        props = self._llama_props()
        if props:
            n_ctx = props["default_generation_settings"].get("n_ctx") or props.get("n_ctx")
            if isinstance(n_ctx, int) and n_ctx > 0:
                return n_ctx, "llama.cpp n_ctx"
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
        result = super().test_connection(generate=generate, model=model)
        if result["status"] == "connected" and not result.get("hint") and urlsplit(self.base_url).port == 1234:
            result["hint"] = (
                "Port 1234 is LM Studio's: if this is LM Studio, choose the LM Studio backend, which "
                "also shows which models are loaded."
            )
        return result
