"""The floors of bench/floors.py: two apps that do nothing but relay a streamed chat completion
to the upstream at $FLOOR_UPSTREAM, with Taleweaver's own upstream client
(taleweaver/llm/socket_transport.py), under the same gunicorn gevent worker as ./run.sh.

- `bare`: a plain WSGI callable (gunicorn's cost, and the relay's);
- `flask_relay`: the same relay as a Flask view (what Flask adds to it).

Neither checks Host, Origin, content type or a login, reads settings, or validates the body:
they are the price of the stack alone, not apps to serve anyone. Loopback only.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "backend"))

from taleweaver.llm.socket_transport import SocketTransport  # noqa: E402

_UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:1") + "/v1/chat/completions"
_TRANSPORT = SocketTransport()
_HEADERS = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]


def _relay(body: bytes):
    """The upstream's SSE events as they arrive (the body is sent as it came)."""
    import json

    response = _TRANSPORT.send("POST", _UPSTREAM, json_body=json.loads(body), stream=True, timeout=(5.0, 60.0))
    for line in response.iter_lines(60.0):
        yield line + b"\n\n"


def bare(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    start_response("200 OK", list(_HEADERS))
    return _relay(body)


def _flask_app():
    from flask import Flask, Response, request

    app = Flask("floor")

    @app.post("/v1/chat/completions")
    def chat():
        return Response(_relay(request.get_data()), headers=dict(_HEADERS))

    return app


flask_relay = _flask_app()
