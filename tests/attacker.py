"""An attacker's web site on another loopback port: it serves a hostile page and records every request.

It answers like an OpenAI-compatible server (`/v1/models`, `/v1/chat/completions`), so that if
Taleweaver were tricked into sending the user's stored key there, the key would arrive and be
recorded; the tests assert that nothing arrives at all.
"""
from __future__ import annotations

import http.server
import json
import threading


class AttackerServer:
    """A ThreadingHTTPServer on 127.0.0.1 that serves `pages` and records every other request."""

    def __init__(self, pages: dict[str, str] | None = None):
        self.pages = dict(pages or {})
        self.received: list[dict] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                if self.command == "GET" and path in owner.pages:
                    data = owner.pages[path].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                else:
                    with owner._lock:
                        owner.received.append(
                            {"method": self.command, "path": self.path, "headers": dict(self.headers),
                             "body": body.decode("utf-8", "replace")}
                        )
                    data = json.dumps({"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> "AttackerServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests_with(self, text: str) -> list[dict]:
        """Recorded requests that carry `text` anywhere (headers or body)."""
        with self._lock:
            return [r for r in self.received if text in json.dumps(r)]
