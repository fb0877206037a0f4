"""The user's active LLM service (the spec's `llm_service`, which backend/llm_service.py makes this very
module): the backend registry's services, the service of the backend each user has chosen, and
what the user's settings say of it beyond the service's own methods (ActiveBackend)."""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

from cachetools import LRUCache
from flask import g

from taleweaver.llm import registry
from taleweaver.llm.backends.lmstudio_service import LMStudioService  # noqa: F401  (the spec imports them from here)
from taleweaver.llm.backends.ollama_service import OllamaService  # noqa: F401
from taleweaver.llm.backends.openai_service import OpenAIService  # noqa: F401
from taleweaver.llm.errors import BackendNotConfigured
from taleweaver.llm.service import LLMService
from taleweaver.settings import store as settings_store
from taleweaver.storage.db import database_path

BACKENDS: dict[str, type[LLMService]] = {t: d.service for t, d in registry.REGISTRY.items()}

# (database, user) -> (ActiveBackend, its service or None); bounded, as users come and go.
_active_cache: LRUCache = LRUCache(maxsize=1024)
_active_lock = threading.Lock()  # LRUCache reorders on every read


@dataclass(frozen=True)
class ActiveBackend:
    """What the user's settings say of their active backend — its type and default model — and
    the key of everything derived from those settings (model lists, statuses: llm/cache.py)."""

    database: str
    user_id: int
    backend_type: str | None
    default_model: str | None
    settings_version: int
    models_version: int

    @property
    def cache_key(self) -> tuple:
        return (self.database, self.user_id, self.backend_type, self.settings_version, self.models_version)

    def with_models_refreshed(self) -> "ActiveBackend":
        """These settings once the user has asked for a fresh model list (a new model-list
        version, which every worker process's next request sees)."""
        return dataclasses.replace(self, models_version=settings_store.note_models_refreshed(self.user_id))


def create_service(backend_type: str, stored_config: dict, default_model: str | None = None, *,
                   connect_timeout_limit: float | None = None) -> LLMService:
    """A service for a backend type from its stored (validated) config, secrets decrypted once;
    `connect_timeout_limit` shortens the configured connect timeout (a quick probe)."""
    options = settings_store.service_options(backend_type, stored_config)
    if connect_timeout_limit is not None:
        options["connect_timeout"] = min(options["connect_timeout"], connect_timeout_limit)
    return registry.descriptor(backend_type).service(default_model=default_model, **options)


def _active(user_id: int, with_service: bool) -> tuple[ActiveBackend, LLMService | None]:
    """One read of the user's settings: what they say of the active backend and, when asked for,
    its service. Both are kept until the settings change: only then is the row parsed and the
    service built, its secrets decrypted."""
    database = database_path()
    read = settings_store.active_settings(user_id)
    with _active_lock:
        cached = _active_cache.get((database, user_id))
    if cached is not None and cached[0].settings_version == read.settings_version:
        active, service = cached
        if active.models_version != read.models_version:
            active = dataclasses.replace(active, models_version=read.models_version)
        if service is not None or not with_service:
            return active, service
    row = read.row()
    active = ActiveBackend(database, user_id, row["backend_type"] if row else None,
                           row["default_model"] if row else None, read.settings_version, read.models_version)
    if not (with_service and row):
        return active, None
    service = create_service(row["backend_type"], row["config"], row["default_model"])
    with _active_lock:
        _active_cache[(database, user_id)] = (active, service)
    return active, service


def get_active_llm_service(user_id: int) -> LLMService:
    """The service of the user's active backend, from one read of their settings (the active row
    with its version); built, secrets decrypted, only when the settings changed since."""
    active, service = _active(user_id, with_service=True)
    g.active_backend = active
    if service is None:
        labels = list(settings_store.BACKEND_LABELS.values())
        raise BackendNotConfigured(
            "No LLM backend is configured yet: open Settings, choose "
            + ", ".join(labels[:-1]) + " or " + labels[-1] + ", and save."
        )
    return service


def active_backend(user_id: int) -> ActiveBackend:
    """What the user's settings say of their active backend: what get_active_llm_service read for
    this request, else (a service put in its place, or none asked for) one read now."""
    remembered = g.pop("active_backend", None)
    if remembered is not None and remembered.user_id == user_id:
        return remembered
    return _active(user_id, with_service=False)[0]
