"""/proxy/llm/v1: an OpenAI-compatible API in front of the user's active LLM backend."""
from __future__ import annotations

import functools
import logging

from flask import Blueprint, Response, current_app, jsonify, request

from taleweaver.storage import db
from taleweaver.web import generations_controller
from taleweaver.llm import cache as llm_cache
from taleweaver.settings import llm_service
from taleweaver.generations import leases
from taleweaver.generations import streams
from taleweaver.web.auth import current_user_id
from taleweaver.web.request_body import json_object
from taleweaver.errors import ApiError
from taleweaver.llm.openai_wire import RawCompletion
from taleweaver.llm.errors import LLMError
from taleweaver.llm.stream import Stream
from taleweaver.llm.surrogates import ChunkRepair
from taleweaver.web import completion_requests, reroll_requests, sse

bp = Blueprint("llm_proxy", __name__)
log = logging.getLogger("taleweaver.proxy")


def _wants_refresh() -> bool:
    return request.args.get("refresh", "").lower() in ("1", "true", "yes")


@bp.get("/models")
def list_models():
    """The active backend's models, from the list cache the settings API shares."""
    user_id = current_user_id()
    service = llm_service.get_active_llm_service(user_id)
    active = llm_service.active_backend(user_id)
    refresh = _wants_refresh()
    if refresh:
        active = active.with_models_refreshed()
    db.release_db()  # the backend may take its time; the connection serves other requests meanwhile
    ttl = current_app.config.get("MODELS_CACHE_SECONDS", 10)
    owner = active.backend_type or "taleweaver"
    return jsonify(
        {
            "object": "list",
            "data": [
                {"id": model_id, "object": "model", "created": 0, "owned_by": owner}
                for model_id in llm_cache.model_ids(active.cache_key, service.get_models, ttl, refresh)
            ],
        }
    )


def _chat_request() -> dict:
    payload = json_object()
    messages = payload.get("messages")
    extension = payload.get("taleweaver")
    # A studio action (taleweaver.action) has the server write the messages.
    if not (isinstance(extension, dict) and extension.get("action") is not None and messages is None):
        _check_messages(messages)
    if "stream" in payload and not isinstance(payload["stream"], bool):
        raise ApiError(400, "invalid_request", "'stream' must be true or false.", field="stream")
    model = payload.get("model")
    if model is not None and not isinstance(model, str):
        raise ApiError(400, "invalid_request", "'model' must be a model name.", field="model")
    completion_requests.check_sampling(payload)
    completion_requests.check_logprobs(payload, "chat")
    return payload


def _check_messages(messages) -> None:
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "invalid_request", "'messages' must be a non-empty list of chat messages.", field="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ApiError(
                400, "invalid_request", f"messages[{index}] must be an object with a 'role' and 'content'.",
                field=f"messages[{index}]",
            )


STOPPING_MESSAGE = "The Taleweaver server is stopping (a restart or shutdown); this answer was cut here."
STOPPING_HINT = "Send the request again in a moment: the server, or another instance, answers it."


def _sse_stream(chunks: Stream):
    """SSE events for the service's chunks, forwarded one by one as they arrive (a stopping
    worker may cut them: generations/streams.py), as valid Unicode (llm/surrogates.py: a chunk
    is looked at only when its bytes hold a surrogate's escape). When the browser goes away the
    stream is aborted, so that the backend stops generating."""
    event = sse.data
    repair = ChunkRepair()
    try:
        with streams.streaming(cut=True):
            for chunk in chunks:
                if repair.needed(chunk):
                    yield from map(event, repair.feed(chunk))
                    continue
                yield event(chunk)
            yield from map(event, repair.flush())
    except GeneratorExit:
        chunks.abort()
        raise
    except streams.ServerStopping:
        log.warning("a stream was cut because the server is stopping")
        yield sse.error(STOPPING_MESSAGE, "server_error", "server_stopping", STOPPING_HINT)
    except LLMError as exc:
        log.warning("stream from the LLM backend failed: %s", exc.message)
        yield from map(event, repair.flush())
        yield sse.error(exc.message, exc.openai_type, exc.code, exc.hint)
    except Exception:  # noqa: BLE001 - the client must always see the stream end cleanly
        log.exception("stream relay failed")
        yield sse.error("The stream failed inside Taleweaver; see the server log.", "server_error", "internal_error")
    finally:
        chunks.close()
    yield sse.DONE


@bp.post("/chat/completions")
def chat_completions():
    payload = _chat_request()
    reroll = reroll_requests.taken(payload)
    story_id, action, fields = generations_controller.named_story(payload)
    service, active = _active_service(payload)
    if story_id is not None:
        return generations_controller.start_story_generation(story_id, payload, service, active.backend_type, action,
                                                             fields, reroll)
    return _relayed(service.chat_completion, payload, _headers(active, payload))


@bp.post("/completions")
def completions():
    """OpenAI's text completion (a prompt the model continues) through the active backend."""
    payload = completion_requests.completion_request()
    service, active = _active_service(payload)
    return _relayed(service.completion, payload, _headers(active, payload))


def _active_service(payload: dict):
    """The user's active service and what their settings say of it; the payload gets the saved
    default model when it names none."""
    user_id = current_user_id()
    service = llm_service.get_active_llm_service(user_id)
    active = llm_service.active_backend(user_id)
    if not payload.get("model") and active.default_model:
        payload["model"] = active.default_model
    return service, active


def _headers(active, payload: dict) -> dict:
    """Which backend and model answer."""
    headers = {}
    if active.backend_type:
        headers["X-Taleweaver-Backend"] = active.backend_type
    if payload.get("model"):
        headers["X-Taleweaver-Model"] = payload["model"]
    return headers


def _relayed(call, payload: dict, headers: dict) -> Response:
    """The backend's answer to `call(payload, stream)`: whole, or as SSE relayed as it arrives."""
    stream = payload.get("stream") is True
    app = current_app._get_current_object()
    # Within the user's cap of streams (generations/leases.py: 429 beyond it in multi-user mode),
    # which the stream's lease counts against until its response closes.
    lease = leases.take_alone(app, db.get_db(), current_user_id(), "stream") if stream else None
    db.release_db()  # a model may take minutes to answer; the connection serves other requests meanwhile
    try:
        result = call(payload, stream=stream)
    except BaseException:
        leases.give_back(app, lease)
        raise
    if not stream:
        if isinstance(result, RawCompletion):
            return Response(result.body, mimetype="application/json", headers=headers)
        response = jsonify(result)
        response.headers.update(headers)
        return response
    response = sse.response(_sse_stream(Stream.of(result)), headers)
    if lease is not None:
        response.call_on_close(functools.partial(leases.give_back, app, lease))
    return response


def init_app(app) -> None:
    generations_controller.init_app(app)
    app.register_blueprint(bp, url_prefix="/proxy/llm/v1")
    # The old LM Studio-only path, kept so existing callers go on working.
    app.register_blueprint(bp, url_prefix="/proxy/lmstudio/v1", name="lmstudio_proxy_alias")
