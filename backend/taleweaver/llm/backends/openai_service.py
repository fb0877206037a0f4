"""ChatGPT: the OpenAI API with the user's own key."""
from __future__ import annotations

from taleweaver.llm import samplers
from taleweaver.llm.descriptor import BackendDescriptor, ConfigField, Hints, timeout_fields
from taleweaver.llm.errors import BackendAuthError, BackendRejected, LLMError, RateLimited
from taleweaver.llm.openai_wire import OpenAIWireService
from taleweaver.storage.crypto import mask_secret

OPENAI_BASE_URL = "https://api.openai.com/v1"


def _insufficient_quota(answer, client) -> LLMError | None:
    if answer.status == 429 and answer.error_code == "insufficient_quota":
        return RateLimited(
            f"{client.label}: the account behind this API key has no quota left.",
            hint="Add credit or raise the limit in your OpenAI billing settings, then try again.",
            code="insufficient_quota",
            retry_after=answer.headers.get("Retry-After"),
        )
    return None


def _key_rejected(answer, client) -> LLMError | None:
    """A 401 names the key by its mask, so the user sees which one was refused."""
    if answer.status == 401:
        key = "".join(f" {mask_secret(secret)}" for secret in client.secrets[:1])
        return BackendAuthError(f"{client.label} rejected the API key{key} (HTTP 401).", hint=client.hints.auth)
    return None

def _chat_model_on_completions(answer, client) -> LLMError | None:
    """OpenAI answers a chat model on /v1/completions with HTTP 404 "This is a chat model and not
    supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?"."""
    if "not supported in the v1/completions endpoint" in answer.message:
        return BackendRejected(
            f"{client.label}: this is a chat model, which OpenAI does not serve as a text completion "
            f"(OpenAI said: {answer.short_message})",
            hint="Use chat mode with this model, or pick a completion model such as gpt-3.5-turbo-instruct.",
            code="chat_model_on_completions",
            http_status=answer.status,
            step="generate",
        )
    return None


DESCRIPTOR = BackendDescriptor(
    type="chatgpt",
    label="ChatGPT",
    description="OpenAI's API with your own API key",
    local=False,
    fields=(
        ConfigField("api_key", "API key", "secret", required=True, placeholder="sk-...",
                    help="Your OpenAI API key. It is stored encrypted on the Taleweaver server and never sent back.",
                    missing_message="Enter your OpenAI API key (it starts with sk-)."),
        ConfigField("base_url", "Base URL", "url", default=OPENAI_BASE_URL, placeholder=OPENAI_BASE_URL,
                    help="Leave the default for OpenAI; a saved key is only ever sent to the address it was saved with.",
                    advanced=True),
        ConfigField("organization", "Organization", "text", placeholder="org-...",
                    help="Only for keys that belong to several OpenAI organizations.", advanced=True,
                    binds_secrets=True),
        *timeout_fields(first_token=120),
    ),
    default_context_length=8192,
    api_base_url=True,
    hints=Hints(
        unreachable="Check this machine's internet connection and the base URL ({base_url}).",
        auth="Check the API key in Settings: create a new one in your OpenAI account's API keys "
        "page and paste it whole (it starts with sk-).",
        no_models="The API key works but the account lists no chat models.",
    ),
    samplers=samplers.OPENAI,
    error_rules=(_insufficient_quota, _key_rejected, _chat_model_on_completions),
)

# OpenAI's published context windows (tokens), by model-name prefix, longest prefix first; the
# API does not report them. Other models get the descriptor's default.
KNOWN_CONTEXT_LENGTHS = (
    ("gpt-4.1", 1_047_576), ("gpt-4o", 128_000), ("gpt-4-turbo", 128_000), ("gpt-4-32k", 32_768),
    ("gpt-4", 8_192), ("gpt-3.5-turbo", 16_385), ("gpt-5", 400_000), ("o1", 200_000), ("o3", 200_000),
    ("o4", 200_000),
)

# Model families in OpenAI's list that cannot chat; hidden from the model picker.
_NOT_CHAT_PREFIXES = (
    "text-embedding", "whisper", "tts", "dall-e", "omni-moderation", "text-moderation",
    "babbage", "davinci", "gpt-image", "sora",
)


@DESCRIPTOR.implemented_by
class OpenAIService(OpenAIWireService):
    """ChatGPT: the OpenAI API with the user's own key (the class keeps the spec's name)."""

    models_path = "/models"
    chat_path = "/chat/completions"
    completions_path = "/completions"
    # Ollama's `think` switch: OpenAI answers an unknown request field with a 400.
    unsupported_fields = ("think",)

    def __init__(
        self,
        api_key: str,
        base_url: str = OPENAI_BASE_URL,
        organization: str | None = None,
        **options,
    ):
        options.setdefault("first_token_timeout", 120.0)
        self.api_key = api_key
        self.organization = organization or None
        super().__init__(base_url or OPENAI_BASE_URL, secrets=(api_key,), **options)

    def headers(self) -> dict:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if self.organization:
            headers["OpenAI-Organization"] = self.organization
        return headers

    def mask_api_key(self) -> str | None:
        """The key as it may be shown: first three and last character."""
        return mask_secret(self.api_key)

    def get_models(self) -> list[str]:
        return [m for m in super().get_models() if not m.startswith(_NOT_CHAT_PREFIXES)]

    def read_context_length(self, model: str | None) -> tuple[int, str]:
        for prefix, tokens in KNOWN_CONTEXT_LENGTHS:
            if (model or "").startswith(prefix):
                return tokens, "openai published context window"
        return super().read_context_length(model)
