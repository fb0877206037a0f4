"""LM Studio: its OpenAI-compatible /v1 API plus the /api/v0 REST API for model details."""
from __future__ import annotations

from taleweaver.llm.descriptor import BackendDescriptor, ConfigField, timeout_fields
from taleweaver.llm.errors import BackendRejected, ModelNotFound
from taleweaver.llm.openai_wire import OpenAIWireService

DESCRIPTOR = BackendDescriptor(
    type="lmstudio",
    label="LM Studio",
    description="LM Studio's local server (Developer tab → Start Server)",
    local=True,
    strip_api_suffix=True,
    fields=(
        ConfigField("url", "Server URL", "url", required=True, default="http://localhost:1234",
                    placeholder="http://localhost:1234",
                    help="Where LM Studio's server listens; it shows the address in its Developer tab."),
        *timeout_fields(first_token=300),
    ),
)


@DESCRIPTOR.implemented_by
class LMStudioService(OpenAIWireService):
    """An LM Studio server, usually on the same machine or the Windows host of WSL."""

    models_path = "/v1/models"
    chat_path = "/v1/chat/completions"

    def _v0_models(self) -> list[dict] | None:
        """LM Studio's richer model list, or None on servers that do not have it."""
        body = self.optional_json("/api/v0/models")
        data = body.get("data") if isinstance(body, dict) else None
        return data if isinstance(data, list) else None

    def model_details(self) -> list[dict]:
        rich = self._v0_models()
        if rich is None:
            return super().model_details()
        return [
            {
                "id": m.get("id"),
                "size": None,
                "family": m.get("arch"),
                "parameter_size": None,
                "quantization": m.get("quantization"),
                "context_length": m.get("max_context_length"),
                "state": m.get("state"),
                "type": m.get("type"),
            }
            for m in rich
            if isinstance(m, dict) and m.get("type", "llm") != "embeddings"
        ]

    def context_length(self, model: str | None) -> tuple[int, str]:
        """The context the model is loaded with (`/api/v0/models` `loaded_context_length`), else
        the most it can be loaded with (`max_context_length`)."""
        for m in self._v0_models() or []:
            if isinstance(m, dict) and m.get("id") == model:
                for key in ("loaded_context_length", "max_context_length"):
                    if isinstance(m.get(key), int) and m[key] > 0:
                        return m[key], f"lmstudio {key}"
        return super().context_length(model)

    def model_state(self, model: str | None) -> str | None:
        rich = self._v0_models()
        if not rich or not model:
            return None
        for m in rich:
            if isinstance(m, dict) and m.get("id") == model:
                return m.get("state")
        return None

    def test_connection(self, generate: bool = False, model: str | None = None) -> dict:
        result = super().test_connection(generate=generate, model=model)
        if result["status"] == "connected" and not result.get("hint"):
            rich = self._v0_models()
            if rich and not any(
                isinstance(m, dict) and m.get("state") == "loaded" for m in rich
            ):
                result["hint"] = (
                    "LM Studio is running but no model is loaded. Load one in LM Studio, or the "
                    "first request will load it on demand (that can take a while)."
                )
        return result

    def raise_for_status(self, response) -> None:
        # Long enough to keep the list of valid models LM Studio names.
        message = self.upstream_error_message(response, limit=1000)
        lowered = message.lower()
        if "invalid model identifier" in lowered:
            # LM Studio answers an unknown model with HTTP 400 'Invalid model identifier "x".
            # Please specify a valid downloaded model (e.g., a, b, c).'
            raise ModelNotFound(f"LM Studio: {message}", hint=self.model_hint())
        if "no models loaded" in lowered:
            raise BackendRejected(
                f"LM Studio has no model loaded: {message}",
                hint="Load a model in LM Studio (or with `lms load`), then try again.",
                code="no_model_loaded",
                http_status=503,
                step="generate",
            )
        super().raise_for_status(response)

    def unreachable_hint(self) -> str:
        return (
            "Start the server in LM Studio (Developer tab → Start Server) and check the port. "
            "If Taleweaver runs in WSL and LM Studio on Windows, turn on \"Serve on Local Network\" "
            "in LM Studio's server settings, or use the Windows host's address instead of localhost."
        )

    def context_hint(self) -> str:
        return (
            "Load the model with a larger context length in LM Studio (the model's load settings), "
            "or send a shorter prompt."
        )

    def no_models_hint(self) -> str:
        return "LM Studio answered but lists no models: download or load a model in LM Studio."

    def model_hint(self) -> str:
        return "That model is not available in LM Studio: load it there, or pick another model in Settings."
