"""/api/settings/llm: the user's LLM backend settings, connection test, status and models."""
from __future__ import annotations

import logging
import threading
import time

from flask import Blueprint, current_app, jsonify, request

import crypto
import llm_service
import settings_store
from auth import current_user_id
from db import database_path
from errors import ApiError, validation_error
from request_body import json_object

bp = Blueprint("settings", __name__, url_prefix="/api/settings")
log = logging.getLogger("taleweaver.settings")

# Live status probes and model lists, cached briefly per (database, user, backend settings).
_status_cache: dict[tuple, tuple[float, dict]] = {}
_models_cache: dict[tuple, tuple[float, dict]] = {}
_cache_lock = threading.Lock()


def _cached(cache: dict, key: tuple, ttl: float):
    entry = cache.get(key)
    if entry and time.monotonic() - entry[0] < ttl:
        return entry[1]
    return None


def _store(cache: dict, key: tuple, value: dict) -> None:
    with _cache_lock:
        if len(cache) > 1000:
            cache.clear()
        cache[key] = (time.monotonic(), value)


def _default_model(body: dict):
    model = body.get("default_model")
    if model is None:
        return None
    if not isinstance(model, str):
        raise validation_error("default_model", "default_model must be a model name (text) or null.")
    model = model.strip()
    if len(model) > 256:
        raise validation_error("default_model", "That model name is longer than 256 characters.")
    return model or None


@bp.get("/llm")
def get_settings():
    return jsonify(settings_store.public_settings(current_user_id()))


@bp.post("/llm")
def save_settings():
    body = json_object()
    backend_type = settings_store.check_backend_type(body.get("backend_type"))
    user_id = current_user_id()
    existing = settings_store.row_for(user_id, backend_type)
    config = settings_store.validate_config(
        backend_type, body.get("config"), existing["config"] if existing else None
    )
    if "default_model" in body:
        default_model = _default_model(body)
    else:
        default_model = existing["default_model"] if existing else None
    settings_store.save(user_id, backend_type, config, default_model)
    log.info("user %s saved %s settings", user_id, backend_type)
    return jsonify(settings_store.public_settings(user_id))


def _same_connection(backend_type: str, candidate: dict, stored: dict) -> bool:
    """Whether a tested config reaches the same server with the same key as the saved one."""
    if backend_type != "chatgpt":
        return candidate.get("url") == stored.get("url")
    if candidate.get("base_url") != stored.get("base_url"):
        return False
    if candidate.get("api_key_encrypted") == stored.get("api_key_encrypted"):
        return True
    try:
        return crypto.decrypt(candidate["api_key_encrypted"]) == crypto.decrypt(stored["api_key_encrypted"])
    except (KeyError, crypto.SecretKeyError):
        return False


def _secrets_of(backend_type: str, config: dict) -> tuple[str, ...]:
    """The plaintext secrets of a config, to mask wherever they might appear."""
    if backend_type != "chatgpt" or not config.get("api_key_encrypted"):
        return ()
    try:
        return (crypto.decrypt(config["api_key_encrypted"]),)
    except crypto.SecretKeyError:
        return ()


@bp.post("/llm/test")
def test_connection():
    body = json_object()
    backend_type = settings_store.check_backend_type(body.get("backend_type"))
    generate = body.get("generate", False)
    if not isinstance(generate, bool):
        raise validation_error("generate", "generate must be true or false.")
    model = body.get("model")
    if model is not None and (not isinstance(model, str) or len(model) > 256):
        raise validation_error("model", "model must be a model name (text).")
    user_id = current_user_id()
    existing = settings_store.row_for(user_id, backend_type)
    stored = existing["config"] if existing else None
    try:
        config = settings_store.validate_config(backend_type, body.get("config"), stored)
    except settings_store.KeyNotReusable as exc:
        return jsonify(_untested(backend_type, exc))
    default_model = existing["default_model"] if existing else None
    service = llm_service.create_service(backend_type, config, default_model)
    started = time.perf_counter()
    try:
        if generate:
            outcome = service.test_connection(generate=True, model=model or None)
        else:
            outcome = service.test_connection()
    except Exception as exc:  # noqa: BLE001 - a test reports any failure instead of failing itself
        message = crypto.redact(str(exc), _secrets_of(backend_type, config))
        log.warning("connection test of %s failed unexpectedly: %s", backend_type, message)
        outcome = {
            "status": "error",
            "models": [],
            "error": message or type(exc).__name__,
            "error_code": getattr(exc, "code", "backend_error"),
            "hint": getattr(exc, "hint", None),
        }
    result = {
        "status": outcome.get("status", "error"),
        "backend_type": backend_type,
        "models": list(outcome.get("models") or []),
        "latency_ms": outcome.get("latency_ms", round((time.perf_counter() - started) * 1000, 1)),
        "tested_at": settings_store.now_iso(),
        "server_info": outcome.get("server_info"),
        "resolved_url": outcome.get("resolved_url") or getattr(service, "resolved_url", None),
        "error": outcome.get("error"),
        "error_code": outcome.get("error_code"),
        "hint": outcome.get("hint"),
        "steps": outcome.get("steps") or [],
    }
    if result["resolved_url"] and result["status"] == "connected" and not result["hint"]:
        result["hint"] = (
            f"Reached {settings_store.BACKEND_LABELS[backend_type]} at {result['resolved_url']} "
            "(the Windows host) instead of localhost; you can put that address in the URL field."
        )
    if existing and _same_connection(backend_type, config, stored):
        settings_store.record_test(
            user_id,
            backend_type,
            {key: result[key] for key in ("status", "error", "latency_ms", "tested_at")},
        )
        _forget_status(user_id)
    return jsonify(result)


def _untested(backend_type: str, exc: settings_store.KeyNotReusable) -> dict:
    """The answer to a test that was not run because the stored key may not go to the new address."""
    return {
        "status": "error",
        "backend_type": backend_type,
        "models": [],
        "latency_ms": None,
        "tested_at": settings_store.now_iso(),
        "server_info": None,
        "resolved_url": None,
        "error": exc.message,
        "error_code": exc.code,
        "field": exc.field,
        "hint": None,
        "steps": [],
    }


def _forget_status(user_id: int) -> None:
    with _cache_lock:
        for key in [k for k in _status_cache if k[0] == database_path() and k[1] == user_id]:
            _status_cache.pop(key, None)


@bp.get("/llm/status")
def status():
    user_id = current_user_id()
    row = settings_store.active_row(user_id)
    if row is None:
        return jsonify(
            {
                "backend_type": None,
                "status": "not_configured",
                "active_model": None,
                "last_tested_at": None,
                "last_test_status": None,
                "checked_at": None,
                "latency_ms": None,
                "error": None,
                "hint": "Choose a backend in Settings and save it.",
                "model_state": None,
            }
        )
    key = (database_path(), user_id, row["backend_type"], settings_store.settings_version(user_id))
    live = _cached(_status_cache, key, current_app.config["STATUS_CACHE_SECONDS"])
    if live is None:
        live = _probe(row)
        _store(_status_cache, key, live)
    last_test = row["last_test"] or {}
    return jsonify(
        {
            "backend_type": row["backend_type"],
            "active_model": row["default_model"],
            "last_tested_at": last_test.get("tested_at"),
            "last_test_status": last_test.get("status"),
            **live,
        }
    )


def _probe(row: dict) -> dict:
    """A quick live check of the active backend: reachable, how fast, model loaded."""
    timeout = current_app.config["STATUS_PROBE_TIMEOUT"]
    started = time.perf_counter()
    result = {"checked_at": settings_store.now_iso(), "error": None, "hint": None, "model_state": None}
    try:
        service = llm_service.create_service(row["backend_type"], row["config"], row["default_model"])
        service.connect_timeout = min(service.connect_timeout, timeout)
        service.get_models()
        result["status"] = "connected"
        result["model_state"] = service.model_state(row["default_model"])
    except llm_service.BackendUnreachable as exc:
        result.update(status="disconnected", error=exc.message, hint=exc.hint)
    except llm_service.LLMError as exc:
        result.update(status="error", error=exc.message, hint=exc.hint)
    except crypto.SecretKeyError as exc:
        result.update(status="error", error=str(exc))
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


@bp.get("/llm/models")
def models():
    user_id = current_user_id()
    backend_type = request.args.get("backend_type")
    if backend_type:
        settings_store.check_backend_type(backend_type)
        row = settings_store.row_for(user_id, backend_type)
        if row is None:
            raise ApiError(
                400,
                "backend_not_configured",
                f"{settings_store.BACKEND_LABELS[backend_type]} has no saved settings yet: save them "
                "(or use Test Connection, which lists models without saving).",
                field="backend_type",
            )
    else:
        row = settings_store.active_row(user_id)
        if row is None:
            raise ApiError(
                400,
                "backend_not_configured",
                "No LLM backend is configured yet: choose one in Settings and save it.",
            )
    key = (database_path(), user_id, row["backend_type"], settings_store.settings_version(user_id))
    refresh = request.args.get("refresh", "").lower() in ("1", "true", "yes")
    cached = None if refresh else _cached(_models_cache, key, current_app.config["MODELS_CACHE_SECONDS"])
    if cached is None:
        service = llm_service.create_service(row["backend_type"], row["config"], row["default_model"])
        details = service.model_details()
        cached = {
            "backend_type": row["backend_type"],
            "models": [d["id"] for d in details],
            "details": [
                {
                    "id": d.get("id"),
                    "size": d.get("size"),
                    "family": d.get("family"),
                    "parameter_size": d.get("parameter_size"),
                    "quantization": d.get("quantization"),
                    "context_length": d.get("context_length"),
                    "state": d.get("state"),
                }
                for d in details
            ],
        }
        _store(_models_cache, key, cached)
    return jsonify(dict(cached, default_model=row["default_model"]))
