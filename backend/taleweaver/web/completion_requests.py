"""Reading what the proxy is asked for beyond chat's messages: the sampling settings every chat or
text completion may carry (under the names of llm/samplers.py), and a text completion's own
fields, each of the wrong type or meaning refused with a 400 that names it, before any backend is
asked (which would answer in its own words, or for a story's generation fail the job)."""
from __future__ import annotations

from flask import request

from taleweaver.errors import ApiError
from taleweaver.llm.logprobs import TOP_LIMITS
from taleweaver.llm.samplers import SAMPLERS
from taleweaver.web.generations_controller import STORY_HEADER
from taleweaver.web.request_body import json_object


def _bad(message: str, field: str) -> ApiError:
    return ApiError(400, "invalid_request", message, field=field)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_sampling(payload: dict) -> None:
    """Each sampling setting is null or of its type; a context size is a positive number of tokens."""
    for name, kind in SAMPLERS.items():
        value = payload.get(name)
        if value is None:
            continue
        if kind == "integer" and not _integer(value):
            raise _bad(f"'{name}' must be a whole number.", name)
        if kind == "number" and not (_integer(value) or isinstance(value, float)):
            raise _bad(f"'{name}' must be a number.", name)
        if kind == "stop" and not isinstance(value, str) and not (
                isinstance(value, list) and all(isinstance(item, str) for item in value)):
            raise _bad(f"'{name}' must be a string or a list of strings.", name)
    if _integer(payload.get("context_length")) and payload["context_length"] < 1:
        raise _bad("'context_length' must be at least 1 (tokens of context).", "context_length")


def completion_request() -> dict:
    """The body of a text completion: OpenAI's, with `prompt` a string."""
    payload = json_object()
    if not isinstance(payload.get("prompt"), str):
        raise _bad("'prompt' must be the text to continue, as one string.", "prompt")
    if "taleweaver" in payload or request.headers.get(STORY_HEADER):
        raise _bad("A story's generation runs through /chat/completions; /completions answers plain text "
                   "completions only.", "taleweaver" if "taleweaver" in payload else STORY_HEADER)
    for name in ("stream", "echo"):
        if name in payload and not isinstance(payload[name], bool):
            raise _bad(f"'{name}' must be true or false.", name)
    if payload.get("model") is not None and not isinstance(payload["model"], str):
        raise _bad("'model' must be a model name.", "model")
    if payload.get("suffix") is not None and not isinstance(payload["suffix"], str):
        raise _bad("'suffix' must be a string.", "suffix")
    if payload.get("stream_options") is not None and not isinstance(payload["stream_options"], dict):
        raise _bad("'stream_options' must be an object such as {\"include_usage\": true}.", "stream_options")
    check_sampling(payload)
    check_logprobs(payload, "completion")
    return payload


def check_logprobs(payload: dict, api: str) -> None:
    """Chat's `logprobs` (true or false) with `top_logprobs` 0-20, a completion's `logprobs` 0-5:
    OpenAI's types and caps (logprobs.TOP_LIMITS)."""
    most = TOP_LIMITS[api]
    if api == "completion":
        count = payload.get("logprobs")
        if count is not None and not (_integer(count) and 0 <= count <= most):
            raise _bad(f"'logprobs' must be the number of most likely tokens to return at each position, "
                       f"a whole number from 0 to {most} (OpenAI's limit).", "logprobs")
        return
    if payload.get("logprobs") is not None and not isinstance(payload["logprobs"], bool):
        raise _bad("'logprobs' must be true or false.", "logprobs")
    top = payload.get("top_logprobs")
    if top is None:
        return
    if not (_integer(top) and 0 <= top <= most):
        raise _bad(f"'top_logprobs' must be the number of most likely tokens to return at each position, "
                   f"a whole number from 0 to {most} (OpenAI's limit).", "top_logprobs")
    if payload.get("logprobs") is not True:
        raise _bad("'top_logprobs' needs 'logprobs': true.", "top_logprobs")
