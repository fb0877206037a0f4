"""The user's active LLM service (the spec's `llm_service`, which backend/llm_service.py makes this very
module): the backend registry's services, and the service of the backend each user has chosen."""
from __future__ import annotations

import threading

from cachetools import LRUCache

from taleweaver.llm import registry
from taleweaver.settings import store as settings_store
from taleweaver.llm.service import LLMService
from taleweaver.llm.errors import BackendNotConfigured
from taleweaver.storage.db import database_path
from taleweaver.llm.backends.lmstudio_service import LMStudioService  # noqa: F401  (the spec imports them from here)
from taleweaver.llm.backends.ollama_service import OllamaService  # noqa: F401
from taleweaver.llm.backends.openai_service import OpenAIService  # noqa: F401

BACKENDS: dict[str, type[LLMService]] = {t: d.service for t, d in registry.REGISTRY.items()}

# (database, user) -> (settings version, service); bounded, as users come and go.
_active_cache: LRUCache = LRUCache(maxsize=1024)
_active_lock = threading.Lock()  # LRUCache reorders on every read


def create_service(backend_type: str, stored_config: dict, default_model: str | None = None) -> LLMService:
    """A service for a backend type from its stored (validated) config."""
    options = settings_store.service_options(backend_type, stored_config)
    return registry.descriptor(backend_type).service(default_model=default_model, **options)


def get_active_llm_service(user_id: int) -> LLMService:
    """The service of the user's active backend; cached until the user's settings change.

    Its `cache_key` (database, user, backend, settings version, model-list version) names the
    model list that belongs to it (see llm_cache)."""
    key = (database_path(), user_id)
    version, models_version = settings_store.versions(user_id)
    with _active_lock:
        cached = _active_cache.get(key)
    if cached is not None and cached[0] == version:
        service = cached[1]
        if service.cache_key[-1] != models_version:
            service.cache_key = service.cache_key[:-1] + (models_version,)
        return service
    row = settings_store.active_row(user_id)
    if row is None:
        labels = list(settings_store.BACKEND_LABELS.values())
        raise BackendNotConfigured(
            "No LLM backend is configured yet: open Settings, choose "
            + ", ".join(labels[:-1]) + " or " + labels[-1] + ", and save."
        )
    service = create_service(row["backend_type"], row["config"], row["default_model"])
    service.cache_key = (key[0], user_id, row["backend_type"], version, models_version)
    with _active_lock:
        _active_cache[key] = (version, service)
    return service
