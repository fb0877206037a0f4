"""How LLM services send HTTP, in the manner of requests' adapters: a transport sends one request
and returns its answer, or raises one of the few failure kinds below; each transport turns its
library's failures into these kinds exactly once, so the services never see urllib3 or socket
exceptions. The transports: socket_transport.SocketTransport (keep-alive sockets to a backend
reached directly) and proxy_transport.ProxyTransport (urllib3, through the environment's proxy);
http_client chooses between them per origin and is the process default."""
from __future__ import annotations

import json
import socket
import ssl
import threading
from typing import Any, Iterator, Protocol

import urllib3
import urllib3.exceptions
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError, HTTPSocketPoolResponse


class TransportError(Exception):
    """A request that got no HTTP answer."""


class NameNotResolved(TransportError):
    """The host name of the URL does not resolve."""


class ConnectionRefused(TransportError):
    """Nothing accepted a connection at the address."""


class ConnectTimedOut(TransportError):
    """The connection was not accepted within the connect timeout."""


class ReadTimedOut(TransportError):
    """The server went silent for longer than the read timeout."""

    def __init__(self, message: str = "", *, before_first_byte: bool = True):
        super().__init__(message)
        self.before_first_byte = before_first_byte


class ConnectionDropped(TransportError):
    """The server closed the connection before the answer was complete."""


class TlsFailed(TransportError):
    """The TLS handshake of an https:// URL failed."""

    _PLAIN_HTTP = ("wrong_version_number", "wrong version number", "record layer failure",
                   "http_request", "http request", "unknown protocol", "packet length too long")
    _UNTRUSTED = ("certificate_verify_failed", "certificate verify failed", "self-signed", "self signed",
                  "hostname mismatch", "doesn't match")

    @property
    def plain_http(self) -> bool:
        """The server answered the handshake in plain HTTP: the URL should say http://."""
        text = str(self).lower()
        return any(marker in text for marker in self._PLAIN_HTTP)

    @property
    def untrusted(self) -> bool:
        """The server's certificate is not one this machine trusts (or is for another name)."""
        text = str(self).lower()
        return any(marker in text for marker in self._UNTRUSTED)


class TransportFailure(TransportError):
    """Any other failure of the HTTP client (TLS, malformed answer, ...)."""


# The longest line of a streamed answer a transport holds while it waits for the line's end: an
# OpenAI chunk or an Ollama object is a few hundred bytes (a long tool call, some kilobytes).
MAX_LINE_BYTES = 1024 * 1024


class LineTooLong(TransportError):
    """A streamed answer sent more than MAX_LINE_BYTES without a line break; the answer is cut there."""


class ProxyFailed(TransportError):
    """The environment's proxy would not carry the request: it could not be reached (`reason`
    says how), or answered the request itself with `status` (407: it wants credentials). Its
    address is told without credentials; `variable` is the environment variable that named it."""

    def __init__(self, proxy: str, variable: str, status: int | None = None, reason: str = "", *,
                 with_credentials: bool = False):
        super().__init__(f"the proxy {proxy} ({variable}): {status or ''} {reason}".strip())
        self.proxy, self.variable, self.status, self.reason = proxy, variable, status, reason
        self.with_credentials = with_credentials

    @property
    def wants_credentials(self) -> bool:
        return self.status == 407


class Response(Protocol):
    """The parts of an HTTP answer a service reads."""

    status_code: int
    headers: Any
    reason: str | None

    @property
    def content(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...
    def close(self) -> None: ...
    def iter_lines(self, idle_timeout: float) -> Iterator[bytes]: ...
    def abort(self) -> None: ...  # from any thread, at any time, twice: ends the answer mid-read


class Transport(Protocol):
    """Sends one request and returns its answer, or raises a TransportError."""

    def send(self, method: str, url: str, *, json_body: Any, headers: dict, stream: bool,
             timeout: tuple[float, float]) -> Response: ...


_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "Taleweaver"}
_PLAIN_HEADERS = {"Accept": "application/json", "User-Agent": "Taleweaver"}


def request_body(json_body: Any) -> bytes | None:
    """The bytes of a request's JSON body (None: no body)."""
    return None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()


def request_headers(body: bytes | None, headers: dict | None) -> dict:
    """Every transport's request headers: the JSON ones, then the backend's own."""
    return {**(_PLAIN_HEADERS if body is None else _JSON_HEADERS), **(headers or {})}


def _set_socket_timeout(raw, seconds: float) -> None:
    """Change how long a streamed answer may stay silent between two reads."""
    try:
        raw._fp.fp.raw._sock.settimeout(seconds)
    except AttributeError:
        pass  # not a plain socket (a mocked answer): the request's read timeout stays


def _iter_lines(raw, idle_timeout: float, dropped: tuple[type[BaseException], ...]) -> Iterator[bytes]:
    """Non-empty lines of a streamed body as they arrive; after the first bytes the read
    timeout becomes the idle timeout. What waits for its line's end is looked at once (never
    searched again, never copied as it grows) and bounded by MAX_LINE_BYTES."""
    buffer = bytearray()
    first = True
    try:
        while True:
            data = raw.read1(65536)
            if not data:
                break
            if first:
                _set_socket_timeout(raw, idle_timeout)
                first = False
            end = data.rfind(b"\n")
            if end < 0:
                buffer += data
                if len(buffer) > MAX_LINE_BYTES:
                    raise LineTooLong(f"a line longer than {MAX_LINE_BYTES} bytes")
                continue
            lines = (bytes(buffer) + data[:end]).split(b"\n") if buffer else data[:end].split(b"\n")
            buffer[:] = data[end + 1:]
            for line in lines:
                if line.strip():
                    yield line
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
        raise ReadTimedOut(before_first_byte=first) from None
    except dropped:
        raise ConnectionDropped("closed in the middle of the answer") from None
    if buffer.strip():
        yield bytes(buffer)


class _Body:
    """What every transport's answer derives from its `content`."""

    __slots__ = ()

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _urllib3_socket(raw):
    """The socket a urllib3 answer is being read from (None once it is released)."""
    sock = getattr(getattr(raw, "connection", None) or getattr(raw, "_connection", None), "sock", None)
    if sock is None:
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    return sock


def _shut_down(sock) -> None:
    """Both directions of a connection shut now: a read waiting on it ends, the server sees it closed."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # shut down already, or closed


class PoolResponse(_Body):
    """An answer read through urllib3."""

    __slots__ = ("raw", "status_code", "headers", "reason", "_content")

    def __init__(self, raw: urllib3.BaseHTTPResponse):
        self.raw = raw
        self.status_code = raw.status
        self.headers = raw.headers
        self.reason = raw.reason
        self._content: bytes | None = None

    @property
    def content(self) -> bytes:
        if self._content is None:
            try:
                self._content = self.raw.data
            except (urllib3.exceptions.ProtocolError, OSError):
                raise ConnectionDropped("closed while sending the answer") from None
            except urllib3.exceptions.ReadTimeoutError:
                raise ReadTimedOut(before_first_byte=False) from None
        return self._content

    def close(self) -> None:
        self.raw.close()
        self.raw.release_conn()

    def abort(self) -> None:
        _shut_down(_urllib3_socket(self.raw))

    def iter_lines(self, idle_timeout: float) -> Iterator[bytes]:
        return _iter_lines(self.raw, idle_timeout, (urllib3.exceptions.ProtocolError, OSError))


# An answer gives its socket back to its origin's idle list (release) and abort() shuts it down
# one at a time: abort, called from another thread, never shuts down a socket that went back to
# the list, and maybe on to another request, in between.
_handing_back = threading.Lock()


class AbortableAnswer(HTTPSocketPoolResponse):
    """geventhttpclient's answer, with abort(): its socket shut down while it is being read."""

    def release(self) -> None:
        with _handing_back:
            super().release()

    def abort(self) -> None:
        with _handing_back:
            _shut_down(self._sock)

    def bounded_line(self, limit: int) -> bytes:
        """The body's next line with its b"\\n" (the rest of the body at its end; b"" after
        it). geventhttpclient's readline() searches its whole buffer again after every read and
        has no bound, so a line of 40 MB without a break took the worker to 375 MB, slowly:
        this searches each byte once and stops at `limit` bytes (LineTooLong)."""
        searched = 0
        while True:
            end = self._body_buffer.find(b"\n", searched)
            if end >= 0:
                line = bytes(self._body_buffer[:end + 1])
                del self._body_buffer[:end + 1]
                return line
            searched = len(self._body_buffer)
            if searched > limit:
                raise LineTooLong(f"a line longer than {limit} bytes")
            if self.message_complete:
                line = bytes(self._body_buffer)
                del self._body_buffer[:]
                return line
            if self._sock is None:
                raise HTTPConnectionClosed("connection closed.")
            try:
                self.feed(self._sock.recv(self.block_size))
            except BaseException:
                self.release()
                raise


class SocketResponse(_Body):
    """An answer parsed by geventhttpclient; closing it gives a fully read socket back for the
    next request and closes any other (which stops the backend mid-answer)."""

    __slots__ = ("raw", "status_code", "headers", "reason", "_content")

    def __init__(self, raw: AbortableAnswer):
        self.raw = raw
        self.status_code = raw.status_code
        self.headers = raw.info()  # case-insensitive
        self.reason = raw.status_message
        self._content: bytes | None = None

    @property
    def content(self) -> bytes:
        if self._content is None:
            try:
                self._content = self.raw.read()
            except socket.timeout:
                raise ReadTimedOut(before_first_byte=False) from None
            except ssl.SSLError as exc:
                raise TlsFailed(str(exc)) from None
            except (HTTPParseError, OSError):
                raise ConnectionDropped("closed while sending the answer") from None
            finally:
                self.raw.release()
        return self._content

    def close(self) -> None:
        self.raw.release()

    def abort(self) -> None:
        self.raw.abort()

    def iter_lines(self, idle_timeout: float) -> Iterator[bytes]:
        """Non-empty lines of the body as they arrive; after the first line the read timeout
        becomes the idle timeout."""
        raw = self.raw
        first = True
        try:
            while True:
                line = raw.bounded_line(MAX_LINE_BYTES)
                if not line:
                    break
                if first:
                    first = False
                    sock = raw._sock
                    if sock is not None:
                        sock.settimeout(idle_timeout)
                if line.strip():
                    yield line[:-1] if line.endswith(b"\n") else line
        except socket.timeout:
            raise ReadTimedOut(before_first_byte=first) from None
        except ssl.SSLError:
            raise ConnectionDropped("the secure connection broke in the middle of the answer") from None
        except (HTTPParseError, OSError):
            raise ConnectionDropped("closed in the middle of the answer") from None
        finally:
            raw.release()
