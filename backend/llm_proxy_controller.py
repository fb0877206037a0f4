"""/proxy/llm/v1: an OpenAI-compatible API in front of the user's active LLM backend."""
from __future__ import annotations

import json
import logging
import threading
import time
import weakref

from flask import Blueprint, Response, current_app, jsonify, request

import llm_service
from openai_compat import RawCompletion

bp = Blueprint("llm_proxy", __name__)
log = logging.getLogger("taleweaver.proxy")

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_DONE = b"data: [DONE]\n\n"

# Model lists per service object: a new service (settings changed) starts a new entry.
_model_lists: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_model_lists_lock = threading.Lock()


class ProxyError(Exception):
    """A request the proxy refuses before it reaches the backend, in OpenAI's error shape."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def openai_error_body(message: str, error_type: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": error_type, "code": code, "param": param}}


def llm_error_response(exc: llm_service.LLMError) -> Response:
    """An LLMError as the OpenAI-shaped error response a client of the proxy expects."""
    body = openai_error_body(exc.message, exc.openai_type, exc.code)
    if exc.hint:
        body["error"]["hint"] = exc.hint
    response = jsonify(body)
    response.status_code = exc.http_status
    if exc.retry_after:
        response.headers["Retry-After"] = exc.retry_after
    return response


@bp.errorhandler(ProxyError)
def _proxy_error(exc: ProxyError):
    response = jsonify(openai_error_body(exc.message, "invalid_request_error", exc.code, exc.param))
    response.status_code = exc.status
    return response


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _models_of(service) -> list[str]:
    ttl = current_app.config.get("MODELS_CACHE_SECONDS", 10)
    try:
        cached = _model_lists.get(service)
    except TypeError:
        cached = None
    if cached and time.monotonic() - cached[0] < ttl:
        return cached[1]
    models = list(service.get_models())
    try:
        with _model_lists_lock:
            _model_lists[service] = (time.monotonic(), models)
    except TypeError:
        pass  # a service that cannot be weakly referenced is simply not cached
    return models


@bp.get("/models")
def list_models():
    service = llm_service.get_active_llm_service()
    owner = _text(getattr(service, "backend_type", None)) or "taleweaver"
    return jsonify(
        {
            "object": "list",
            "data": [
                {"id": model_id, "object": "model", "created": 0, "owned_by": owner}
                for model_id in _models_of(service)
            ],
        }
    )


def _chat_request() -> dict:
    payload = request.get_json(silent=True)
    if payload is None:
        raise ProxyError(400, "The request body is not valid JSON.", "invalid_json")
    if not isinstance(payload, dict):
        raise ProxyError(400, "The request body must be a JSON object.", "invalid_json")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ProxyError(400, "'messages' must be a non-empty list of chat messages.", "invalid_request", "messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ProxyError(
                400, f"messages[{index}] must be an object with a 'role' and 'content'.",
                "invalid_request", f"messages[{index}]",
            )
    if "stream" in payload and not isinstance(payload["stream"], bool):
        raise ProxyError(400, "'stream' must be true or false.", "invalid_request", "stream")
    model = payload.get("model")
    if model is not None and not isinstance(model, str):
        raise ProxyError(400, "'model' must be a model name.", "invalid_request", "model")
    return payload


def _sse_event(chunk) -> bytes:
    if isinstance(chunk, (bytes, bytearray)):
        return b"data: " + bytes(chunk) + b"\n\n"
    if isinstance(chunk, str):
        return b"data: " + chunk.encode() + b"\n\n"
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


def _error_event(message: str, error_type: str, code: str, hint: str | None = None) -> bytes:
    body = openai_error_body(message, error_type, code)
    if hint:
        body["error"]["hint"] = hint
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _relay(chunks):
    """SSE events for the service's chunks, forwarded one by one as they arrive."""
    try:
        for chunk in chunks:
            yield _sse_event(chunk)
    except llm_service.LLMError as exc:
        log.warning("stream from the LLM backend failed: %s", exc.message)
        yield _error_event(exc.message, exc.openai_type, exc.code, exc.hint)
    except Exception:  # noqa: BLE001 - the client must always see the stream end cleanly
        log.exception("stream relay failed")
        yield _error_event("The stream failed inside Taleweaver; see the server log.", "server_error", "internal_error")
    finally:
        close = getattr(chunks, "close", None)
        if callable(close):
            close()  # stops the upstream request when the browser has gone away
    yield _DONE


@bp.post("/chat/completions")
def chat_completions():
    payload = _chat_request()
    service = llm_service.get_active_llm_service()
    if not payload.get("model"):
        default = _text(getattr(service, "default_model", None))
        if default:
            payload["model"] = default
    stream = payload.get("stream") is True
    headers = {}
    backend = _text(getattr(service, "backend_type", None))
    if backend:
        headers["X-Taleweaver-Backend"] = backend
    if _text(payload.get("model")):
        headers["X-Taleweaver-Model"] = payload["model"]
    result = service.chat_completion(payload, stream=stream)
    if not stream:
        if isinstance(result, RawCompletion):
            return Response(result.body, mimetype="application/json", headers=headers)
        response = jsonify(result)
        response.headers.update(headers)
        return response
    return Response(_relay(result), mimetype="text/event-stream", headers={**_SSE_HEADERS, **headers})


def init_app(app) -> None:
    app.register_blueprint(bp, url_prefix="/proxy/llm/v1")
    # The old LM Studio-only path, kept so existing callers go on working.
    app.register_blueprint(bp, url_prefix="/proxy/lmstudio/v1", name="lmstudio_proxy_alias")
