"""Server-sent events: every event the server streams is framed here, and only here (a proxied
chunk, a generation's event with its `id:` offset, an error event, a keep-alive comment and the
closing `[DONE]`)."""
from __future__ import annotations

import json
from typing import Iterable, Iterator

from flask import Response

from taleweaver.errors import openai_error_body

# No cache may keep a stream, and nginx passes it on unbuffered.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DONE = b"data: [DONE]\n\n"
# A comment, which clients ignore: idle proxies keep a quiet stream open.
KEEP_ALIVE = b": keep-alive\n\n"


def _json(data) -> bytes:
    # ASCII, with escapes: a lone surrogate a backend sent (valid in JSON, not in UTF-8) passes on.
    return json.dumps(data, separators=(",", ":")).encode()


def data(chunk) -> bytes:
    """One data event: an OpenAI chunk as a dict, or its JSON as the backend sent it (forwarded
    without decoding it again)."""
    if isinstance(chunk, (bytes, bytearray)):
        return b"data: " + chunk + b"\n\n"
    if isinstance(chunk, str):
        return b"data: " + chunk.encode() + b"\n\n"
    return b"data: " + _json(chunk) + b"\n\n"


def error(message: str, error_type: str, code: str, hint: str | None = None) -> bytes:
    """The event that ends a stream which failed: OpenAI's error shape, so clients can read it."""
    return data(openai_error_body(message, error_type, code, hint=hint))


def generation(events: Iterable) -> Iterator[bytes]:
    """A generation's events (generations/followers.py): each with its text offset as the event
    id, which a reader sends back to re-attach; a keep-alive for a None; `[DONE]` after the
    outcome. A stream that ends without an outcome ends without `[DONE]`: the reader re-attaches."""
    for event in events:
        if event is None:
            yield KEEP_ALIVE
            continue
        yield b"id: %d\n" % event.offset + data(event.chunk)
        if event.outcome:
            yield DONE


def response(body: Iterable[bytes], headers: dict | None = None) -> Response:
    """A streamed text/event-stream response."""
    return Response(body, mimetype="text/event-stream", headers={**HEADERS, **(headers or {})})
