"""LM Studio: its OpenAI-compatible /v1 API plus the /api/v0 REST API for model details."""
from __future__ import annotations

from llm_base import BackendRejected
from openai_compat import OpenAICompatibleService


class LMStudioService(OpenAICompatibleService):
    """An LM Studio server, usually on the same machine or the Windows host of WSL."""

    backend_type = "lmstudio"
    label = "LM Studio"
    local_server = True
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
        message = self.upstream_error_message(response)
        if "no models loaded" in message.lower():
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

    def no_models_hint(self) -> str:
        return "LM Studio answered but lists no models: download or load a model in LM Studio."

    def model_hint(self) -> str:
        return "That model is not available in LM Studio: load it there, or pick another model in Settings."
