"""The HTTP layer of one backend, shared by every backend: where the server is, the headers and
the three timeouts it is sent with, the transport, and the turning of every failure into the
LLMError that says what to do (failures.py) — once, here; the backends only translate."""
from __future__ import annotations

import json
import logging
from typing import Any, Iterator
from urllib.parse import urlsplit

from taleweaver.llm import failures, http_client, server_identity, transport, wsl
from taleweaver.llm.descriptor import BackendDescriptor
from taleweaver.llm.errors import BackendError, BackendTimeout, ContextLengthExceeded, LLMError
from taleweaver.llm.transport import Response
from taleweaver.storage.crypto import redact

log = logging.getLogger("taleweaver.llm")


def _where_broken(line: bytes) -> str:
    """Where a line stops being JSON, in words without its content."""
    try:
        json.loads(line)
    except ValueError as exc:
        return f"it stops being JSON at character {getattr(exc, 'pos', '?')}: {getattr(exc, 'msg', 'not UTF-8')}"
    return "valid JSON, but not an object of the answer"


class BackendClient:
    """Sends a backend's requests and reads its answers; every failure is an LLMError."""

    def __init__(self, descriptor: BackendDescriptor, base_url: str, *, headers: dict, secrets: tuple[str, ...],
                 connect_timeout: float, first_token_timeout: float, idle_timeout: float,
                 wsl_fallback: bool = True, sender: transport.Transport | None = None):
        self.descriptor = descriptor
        self.label = descriptor.label
        self.backend_type = descriptor.type
        self.local_server = descriptor.local
        self.base_url = base_url.rstrip("/")
        self.hints = descriptor.hints.filled(label=self.label, base_url=self.base_url)
        # The Windows host's address that answered instead of localhost, under WSL (wsl.py).
        self.resolved_url: str | None = None
        self.headers = headers
        self.secrets = tuple(s for s in secrets if s)
        self.connect_timeout = float(connect_timeout)
        self.first_token_timeout = float(first_token_timeout)
        self.idle_timeout = float(idle_timeout)
        self.wsl_fallback = wsl_fallback
        self._sender = sender

    @property
    def transport(self) -> transport.Transport:
        """The transport this client was given, else the process default (http_client.py)."""
        return self._sender or http_client.default()

    @property
    def checks_auth(self) -> bool:
        """Whether a request proves credentials: only when the backend is sent a secret."""
        return bool(self.secrets)

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def request(self, method: str, path: str, **options: Any) -> Response:
        """Send one request to the backend (options as for `send`); a local server may be found
        on the Windows host under WSL."""
        return wsl.send_with_fallback(self, self.send, method, path, **options)

    def send(self, base_url: str, method: str, path: str, *, json_body: Any = None, stream: bool = False,
             read_timeout: float | None = None, connect_timeout: float | None = None) -> Response:
        """One request to `base_url + path`; an answer with an error status is raised as its error."""
        url = base_url + path
        timeout = (
            connect_timeout if connect_timeout is not None else self.connect_timeout,
            read_timeout if read_timeout is not None else self.first_token_timeout,
        )
        try:
            response = self.transport.send(method, url, json_body=json_body, headers=self.headers,
                                           stream=stream, timeout=timeout)
        except transport.TransportError as exc:
            raise failures.for_transport_failure(self, exc, url, timeout) from None
        if response.status_code >= 300:
            try:
                raise failures.for_answer(self, response)
            finally:
                response.close()
        return response

    def get_json(self, path: str, *, read_timeout: float | None = None,
                 connect_timeout: float | None = None) -> Any:
        response = self.request(
            "GET", path, connect_timeout=connect_timeout,
            read_timeout=read_timeout if read_timeout is not None else self.connect_timeout + 10,
        )
        try:
            return response.json()
        except ValueError:
            raise BackendError(
                f"{self.label} at {self.base_url}{path} answered with something that is not JSON. "
                f"Is this URL really a {self.label} server?",
                step="http",
            ) from None
        except transport.TransportError:
            raise BackendError(f"{self.label} at {self.base_url}{path} broke off its answer.", step="http") from None

    def optional_json(self, path: str) -> Any:
        """A JSON answer from an endpoint that only adds detail, or None when it gives none."""
        try:
            return self.get_json(path, read_timeout=self.connect_timeout)
        except LLMError:
            return None

    def iter_stream_lines(self, response: Response) -> Iterator[bytes]:
        """Lines of a streamed body as they arrive, with first-token then idle timeouts."""
        try:
            yield from response.iter_lines(self.idle_timeout)
        except transport.ReadTimedOut as exc:
            first = exc.before_first_byte
            limit = self.first_token_timeout if first else self.idle_timeout
            raise BackendTimeout(
                f"{self.label} sent nothing for {limit:g} s after the request."
                if first
                else f"{self.label} stopped sending for {limit:g} s in the middle of the answer.",
                hint="The model may be overloaded or stuck; try again, or raise the "
                + ("first-token" if first else "idle")
                + " timeout in Settings.",
                step="generate",
            ) from None
        except transport.ConnectionDropped:
            raise BackendError(
                f"{self.label} closed the connection in the middle of the answer.",
                hint="The backend may have crashed or run out of memory; check it and try again.",
                step="generate",
            ) from None
        except transport.LineTooLong:
            log.warning("%s sent more than %d bytes without a line break; its answer was cut there",
                        self.label, transport.MAX_LINE_BYTES)
            raise BackendError(
                f"{self.label} at {self.base_url} sent more than {transport.MAX_LINE_BYTES // 2**20} MiB of its "
                "answer without a line break, which no chunk of a streamed answer needs; Taleweaver stopped "
                "reading it there (the text that arrived before it is kept).",
                hint=f"Try again. If it keeps happening, check that the URL points at a {self.label} server, "
                "and update the server.",
                step="generate",
            ) from None

    def malformed(self, line: bytes) -> BackendError:
        """The error for a piece of a streamed answer that is not JSON. The log says where it
        stops being JSON, never what it holds (the model's words, the user's story)."""
        log.warning("%s sent a line of %d bytes that is not JSON (%s)", self.label, len(line), _where_broken(line))
        return BackendError(
            f"{self.label} at {self.base_url} sent part of its answer in a form Taleweaver cannot read "
            "(not JSON); the text that arrived before it is kept.",
            hint=f"Try again. If it keeps happening, check that the URL points at a {self.label} server, "
            "and update the server: its answer was damaged on the way.",
            step="generate",
        )

    def context_overflow(self, text: str) -> ContextLengthExceeded | None:
        return failures.context_overflow(self, text)

    def missing_endpoint_hint(self) -> str:
        """What to check when the server has none of this backend's endpoints: for an API base
        URL without /v1, adding it."""
        base = (self.resolved_url or self.base_url).rstrip("/")
        if self.descriptor.api_base_url and not urlsplit(base).path.endswith("/v1"):
            return f"The base URL probably needs /v1 at its end: try {base}/v1 in Settings."
        return self.hints.missing_endpoint

    def explain_wrong_url(self, exc: LLMError) -> LLMError:
        """For a `wrong_url` error, ask the server what it is; the wrong-server error when it says."""
        if exc.code != "wrong_url":
            return exc
        answered = server_identity.identify(
            self.transport, self.resolved_url or self.base_url, min(self.connect_timeout, 2.0)
        )
        if answered and answered[1] != self.backend_type:
            return failures.wrong_server(self, answered, exc.http_status, exc.message)
        return exc
