"""/api/settings/llm: the user's LLM backend settings, connection test, status and models."""
from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, jsonify, request

from taleweaver.errors import ApiError, validation_error
from taleweaver.llm import cache as llm_cache
from taleweaver.llm import registry as backends
from taleweaver.llm.errors import BackendUnreachable, LLMError
from taleweaver.settings import llm_service
from taleweaver.settings import store as settings_store
from taleweaver.settings import validation
from taleweaver.storage import crypto, db
from taleweaver.storage.db import database_path
from taleweaver.web.auth import current_user_id
from taleweaver.web.request_body import json_object

bp = Blueprint("settings", __name__, url_prefix="/api/settings")
log = logging.getLogger("taleweaver.settings")


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


@bp.get("/llm/backends")
def backend_descriptors():
    """Every backend type with its config fields, in the order the Settings dropdown shows."""
    return jsonify({"backends": backends.public_descriptors()})


@bp.get("/llm")
def get_settings():
    return jsonify(settings_store.public_settings(current_user_id()))


@bp.post("/llm")
def save_settings():
    body = json_object()
    backend_type = validation.check_backend_type(body.get("backend_type"))
    user_id = current_user_id()
    existing = settings_store.row_for(user_id, backend_type)
    config = validation.validate_config(
        backend_type, body.get("config"), existing["config"] if existing else None
    )
    if "default_model" in body:
        default_model = _default_model(body)
    else:
        default_model = existing["default_model"] if existing else None
    settings_store.save(user_id, backend_type, config, default_model)
    log.info("user %s saved %s settings", user_id, backend_type)
    return jsonify(settings_store.public_settings(user_id))


@bp.post("/llm/test")
def test_connection():
    body = json_object()
    backend_type = validation.check_backend_type(body.get("backend_type"))
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
        config = validation.validate_config(backend_type, body.get("config"), stored)
    except validation.KeyNotReusable as exc:
        return jsonify(_untested(backend_type, exc))
    service = llm_service.create_service(backend_type, config, existing["default_model"] if existing else None)
    started = time.perf_counter()
    outcome = _diagnosis(service, backend_type, config, generate, model)
    result = {
        "status": outcome.get("status", "error"),
        "backend_type": backend_type,
        "models": list(outcome.get("models") or []),
        "latency_ms": outcome.get("latency_ms", round((time.perf_counter() - started) * 1000, 1)),
        "tested_at": settings_store.now_iso(),
        "server_info": outcome.get("server_info"),
        "resolved_url": outcome.get("resolved_url"),
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
    outcome = {key: result[key] for key in ("status", "error", "latency_ms", "tested_at")}
    settings_store.remember_test(user_id, backend_type, config, outcome)
    if existing and settings_store.same_test_subject(backend_type, config, stored):
        settings_store.record_test(user_id, backend_type, outcome)
        _forget_status(user_id)
    return jsonify(result)


def _diagnosis(service, backend_type: str, config: dict, generate: bool, model: str | None) -> dict:
    """The service's connection test; a test that fails in itself is reported, not raised."""
    try:
        if generate:
            return service.test_connection(generate=True, model=model or None)
        return service.test_connection()
    except LLMError as exc:
        failure = {"error": exc.message, "error_code": exc.code, "hint": exc.hint}
    except Exception as exc:  # noqa: BLE001 - a test reports any failure instead of failing itself
        failure = {"error": str(exc) or type(exc).__name__, "error_code": "backend_error", "hint": None}
    failure["error"] = crypto.redact(failure["error"], settings_store.secrets_of(backend_type, config))
    log.warning("connection test of %s failed unexpectedly: %s", backend_type, failure["error"])
    return {"status": "error", "models": [], **failure}


def _untested(backend_type: str, exc: validation.KeyNotReusable) -> dict:
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
    llm_cache.forget_status(database_path(), user_id)


@bp.get("/llm/status")
def status():
    user_id = current_user_id()
    read = settings_store.active_settings(user_id)
    row = read.row()
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
    key = (database_path(), user_id, row["backend_type"], read.settings_version)
    live = llm_cache.status(key, current_app.config["STATUS_CACHE_SECONDS"], lambda: _probe(row))
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
        service = llm_service.create_service(row["backend_type"], row["config"], row["default_model"],
                                             connect_timeout_limit=timeout)
        service.get_models()
        result["status"] = "connected"
        result["model_state"] = service.model_state(row["default_model"])
    except BackendUnreachable as exc:
        result.update(status="disconnected", error=exc.message, hint=exc.hint)
    except LLMError as exc:
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
        validation.check_backend_type(backend_type)
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
    refresh = request.args.get("refresh", "").lower() in ("1", "true", "yes")
    version, models_version = settings_store.versions(user_id)
    if refresh:
        models_version = settings_store.note_models_refreshed(user_id)
    key = (database_path(), user_id, row["backend_type"], version, models_version)
    details = llm_cache.model_details(
        key,
        lambda: llm_service.create_service(row["backend_type"], row["config"], row["default_model"]),
        current_app.config["MODELS_CACHE_SECONDS"],
        refresh,
    )
    return jsonify(
        {
            "backend_type": row["backend_type"],
            "models": [d["id"] for d in details],
            "details": details,
            "default_model": row["default_model"],
        }
    )


def _saved_row(backend_type: str | None) -> dict | None:
    """The saved settings of `backend_type` (validated), or of the active backend when it is None."""
    user_id = current_user_id()
    if backend_type is not None:
        validation.check_backend_type(backend_type)
        return settings_store.row_for(user_id, backend_type)
    row = settings_store.active_row(user_id)
    if row is None:
        raise ApiError(400, "backend_not_configured",
                       "No LLM backend is configured yet: choose one in Settings and save it.")
    return row


@bp.get("/llm/samplers")
def sampler_names():
    """Where the active (or `?backend_type=`) backend takes each sampling setting, and which it
    cannot take: the page says "not sent to <backend>" beside those."""
    backend_type = request.args.get("backend_type")
    row = _saved_row(backend_type)
    if row is None:  # a backend not saved yet: its kind of server is not known, its table is
        names = backends.descriptor(backend_type).samplers
    else:
        db.release_db()  # an OpenAI-compatible server is asked what it is, once
        names = llm_service.create_service(row["backend_type"], row["config"], row["default_model"]).sampler_names()
    return jsonify({
        "backend_type": row["backend_type"] if row else backend_type,
        "server": names.server,
        "recognised": names.recognised,
        "request_sets_context": names.request_sets_context,
        "samplers": names.report(),
    })


MAX_TOKEN_TEXTS = 256


@bp.post("/llm/tokens")
def token_counts():
    """Tokens of each text by the active backend's tokenizer where it has one, else estimated;
    the answer says which."""
    body = json_object()
    texts, model = body.get("texts"), body.get("model")
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise validation_error("texts", "texts must be a list of strings.")
    if len(texts) > MAX_TOKEN_TEXTS:
        raise validation_error("texts", f"Send at most {MAX_TOKEN_TEXTS} texts at once.")
    if model is not None and (not isinstance(model, str) or len(model) > 256):
        raise validation_error("model", "model must be a model name (text).")
    user_id = current_user_id()
    service = llm_service.get_active_llm_service(user_id)
    model = model or llm_service.active_backend(user_id).default_model
    db.release_db()  # the tokenizer may take a moment on a long text
    counted = service.count_tokens(texts, model)
    return jsonify({**counted, "total": sum(counted["counts"])})
