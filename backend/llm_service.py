"""The face of the service layer: the backend registry and the user's active LLM service."""
from __future__ import annotations

import threading

import settings_store
from llm_base import (  # noqa: F401  (re-exported: the one place callers import from)
    BackendAuthError,
    BackendError,
    BackendNotConfigured,
    BackendRejected,
    BackendTimeout,
    BackendUnreachable,
    LLMError,
    LLMService,
    ModelNotFound,
    RateLimited,
)
from lmstudio_service import LMStudioService
from ollama_service import OllamaService
from openai_service import OpenAIService

BACKENDS: dict[str, type[LLMService]] = {
    "lmstudio": LMStudioService,
    "ollama": OllamaService,
    "chatgpt": OpenAIService,
}

_active_cache: dict[tuple, tuple[int, LLMService]] = {}
_active_lock = threading.Lock()


def create_service(backend_type: str, stored_config: dict, default_model: str | None = None) -> LLMService:
    """A service for a backend type from its stored (validated) config."""
    options = settings_store.service_options(backend_type, stored_config)
    cls = BACKENDS[backend_type]
    if backend_type == "chatgpt":
        return cls(options.pop("api_key"), default_model=default_model, **options)
    return cls(options.pop("base_url"), default_model=default_model, **options)


def get_active_llm_service(user_id: int | None = None) -> LLMService:
    """The service of the user's active backend; cached until the user's settings change."""
    from auth import current_user_id
    from db import database_path

    if user_id is None:
        user_id = current_user_id()
    key = (database_path(), user_id)
    version = settings_store.settings_version(user_id)
    cached = _active_cache.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    row = settings_store.active_row(user_id)
    if row is None:
        raise BackendNotConfigured(
            "No LLM backend is configured yet: open Settings, choose LM Studio, Ollama or "
            "ChatGPT, and save."
        )
    service = create_service(row["backend_type"], row["config"], row["default_model"])
    with _active_lock:
        _active_cache[key] = (version, service)
    return service
