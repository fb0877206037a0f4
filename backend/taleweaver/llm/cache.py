"""The one model-list cache and the one status cache, shared by every endpoint that answers
them (/api/settings/llm/models, /proxy/llm/v1/models, /api/settings/llm/status), so all of them
answer the same list: a refresh in one is seen by the others.

Entries are keyed by (database, user, backend type, settings version[, model-list version]): a
save in any worker process changes the settings version and a refresh the model-list version
(both in the database), so no worker keeps answering a list older than the last refresh."""
from __future__ import annotations

import threading
from typing import Callable

from cachetools import TTLCache

MAXSIZE = 1024
_caches: dict[tuple[str, float], TTLCache] = {}
_lock = threading.Lock()  # TTLCache is not thread-safe

DETAIL_KEYS = ("id", "size", "family", "parameter_size", "quantization", "context_length", "state")


def _cache(kind: str, ttl: float) -> TTLCache:
    cache = _caches.get((kind, ttl))
    if cache is None:
        with _lock:
            cache = _caches.setdefault((kind, ttl), TTLCache(maxsize=MAXSIZE, ttl=ttl))
    return cache


def cached(kind: str, key: tuple, ttl: float, compute: Callable[[], object], refresh: bool = False):
    """The value of `compute()` kept for `ttl` seconds under (kind, key)."""
    cache = _cache(kind, ttl)
    if not refresh:
        with _lock:
            found = cache.get(key)
        if found is not None:
            return found
    value = compute()
    with _lock:
        cache[key] = value
    return value


def model_details(key: tuple, get_service: Callable, ttl: float, refresh: bool = False) -> list[dict]:
    """The backend's models with their details, from the cache unless it is stale or a refresh
    is asked for (which replaces the entry for every endpoint); `get_service()` makes the
    service only when the backend must be asked."""

    def read() -> list[dict]:
        return [{name: d.get(name) for name in DETAIL_KEYS} for d in get_service().model_details()]

    return cached("models", key, ttl, read, refresh)


def model_ids(key: tuple, get_models: Callable[[], list[str]], ttl: float, refresh: bool = False) -> list[str]:
    """The ids of the backend's models: those of its detailed list while that is cached (so the
    proxy answers what Settings shows), else `get_models()`, kept under an entry of their own."""
    if not refresh:
        models = _cache("models", ttl)
        with _lock:
            details = models.get(key)
        if details is not None:
            return [d["id"] for d in details]
    return list(cached("model_ids", key, ttl, get_models, refresh))


def status(key: tuple, ttl: float, probe: Callable[[], dict]) -> dict:
    """The live status of the backend, probed at most once per `ttl` seconds."""
    return cached("status", key, ttl, probe)


def forget_status(database: str, user_id: int) -> None:
    """Drop the user's cached status (after a connection test changed what it would say)."""
    with _lock:
        for (kind, _ttl), cache in _caches.items():
            if kind == "status":
                for key in [k for k in list(cache.keys()) if k[0] == database and k[1] == user_id]:
                    cache.pop(key, None)
