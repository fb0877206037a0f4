"""LM Studio: its OpenAI-compatible /v1 API (models, chat, text completions) plus the /api/v0 REST
API for model details."""
from __future__ import annotations

from taleweaver.llm import logprobs, samplers
from taleweaver.llm.descriptor import BackendDescriptor, ConfigField, Hints, timeout_fields
from taleweaver.llm.errors import BackendRejected, LLMError, ModelNotFound
from taleweaver.llm.openai_wire import OpenAIWireService


def _invalid_model_identifier(answer, client) -> LLMError | None:
    """LM Studio answers an unknown model with HTTP 400 'Invalid model identifier "x". Please
    specify a valid downloaded model (e.g., a, b, c).' (quoted whole: it names the valid ones)."""
    if "invalid model identifier" in answer.message.lower():
        return ModelNotFound(f"LM Studio: {answer.message}", hint=client.hints.model)
    return None


def _no_models_loaded(answer, client) -> LLMError | None:
    if "no models loaded" in answer.message.lower():
        return BackendRejected(
            f"LM Studio has no model loaded: {answer.message}",
            hint="Load a model in LM Studio (or with `lms load`), then try again.",
            code="no_model_loaded",
            http_status=503,
            step="generate",
        )
    return None


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
    hints=Hints(
        unreachable="Start the server in LM Studio (Developer tab → Start Server) and check the port. "
        "If Taleweaver runs in WSL and LM Studio on Windows, turn on \"Serve on Local Network\" "
        "in LM Studio's server settings, or use the Windows host's address instead of localhost.",
        context="Load the model with a larger context length in LM Studio (the model's load settings), "
        "or send a shorter prompt.",
        no_models="LM Studio answered but lists no models: download or load a model in LM Studio.",
        model="That model is not available in LM Studio: load it there, or pick another model in Settings.",
    ),
    samplers=samplers.LM_STUDIO,
    completion_refusals={
        "echo": "LM Studio's /v1/completions does not return the prompt with the answer.",
        "suffix": "LM Studio has no fill-in-the-middle.",
    },
    error_rules=(_invalid_model_identifier, _no_models_loaded),
)


def no_logprobs() -> logprobs.LogprobsUnavailable:
    """Its API returns `"logprobs": null` and ignores the request's (lmstudio-ai/lms#60, open)."""
    return logprobs.unavailable("LM Studio", "its API returns none, and ignores the request for them; "
                                + logprobs.GIVERS)


@DESCRIPTOR.implemented_by
class LMStudioService(OpenAIWireService):
    """An LM Studio server, usually on the same machine or the Windows host of WSL."""

    models_path = "/v1/models"
    chat_path = "/v1/chat/completions"
    completions_path = "/v1/completions"

    def logprobs_server(self) -> str:
        raise no_logprobs()

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

    def read_context_length(self, model: str | None) -> tuple[int, str]:
        """The context the model is loaded with (`/api/v0/models` `loaded_context_length`), else
        the most it can be loaded with (`max_context_length`)."""
        for m in self._v0_models() or []:
            if isinstance(m, dict) and m.get("id") == model:
                for key in ("loaded_context_length", "max_context_length"):
                    if isinstance(m.get(key), int) and m[key] > 0:
                        return m[key], f"lmstudio {key}"
        return super().read_context_length(model)

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
