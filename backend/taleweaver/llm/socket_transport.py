"""SocketTransport: HTTP/1.1 over keep-alive sockets to a backend reached directly (not through
a proxy), the transport of every local backend.

Why not urllib3 for these: starting a stream through it costs about 0.6 ms more CPU than this
(bench/, a 2-core machine: 0.90 ms against 0.31 ms per streamed request), and on 2 cores a burst
of 1,000 streams is bound by exactly that CPU. What this adds to the library is only what a
client of a few known backends needs: one request head, one keep-alive list per origin, and the
connect/TLS steps told apart for the failure kinds of transport.py. geventhttpclient parses the
answer (llhttp: status, headers, Content-Length, chunked, keep-alive), and gives a socket back
to its origin's list once an answer has been read to its end."""
from __future__ import annotations

import collections
import functools
import ipaddress
import select
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError

from taleweaver.llm import trust
from taleweaver.llm.transport import (
    AbortableAnswer,
    ConnectionDropped,
    ConnectionRefused,
    ConnectTimedOut,
    NameNotResolved,
    ReadTimedOut,
    SocketResponse,
    TlsFailed,
    TransportFailure,
    request_body,
    request_headers,
)

_SOCKET_BLOCK = 65536


def _idle_socket_alive(sock) -> bool:
    """An idle keep-alive socket is usable if it is open and has nothing to read (a readable
    idle socket was closed by the server, or holds bytes nobody asked for). poll() where there is
    one: select() cannot watch a descriptor past 1,023, and a busy server has more; gevent's
    patching removes poll() and its select() has no such limit."""
    try:
        fileno = sock.fileno()
        if fileno < 0:
            return False
        poll = getattr(select, "poll", None)
        if poll is not None:
            poller = poll()
            poller.register(fileno, select.POLLIN)
            return not poller.poll(0)
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable
    except (OSError, ValueError):
        return False


class _Origin:
    """Idle keep-alive sockets to one scheme://host:port, newest last; geventhttpclient's answer
    calls return_socket when it was read to its end and release_socket when it was not."""

    __slots__ = ("idle", "maxsize")

    def __init__(self, maxsize: int):
        self.idle: collections.deque = collections.deque()
        self.maxsize = maxsize

    def take(self):
        while True:
            try:
                sock = self.idle.pop()
            except IndexError:
                return None
            if _idle_socket_alive(sock):
                return sock
            _close(sock)

    def return_socket(self, sock) -> None:
        if len(self.idle) < self.maxsize:
            self.idle.append(sock)
        else:
            _close(sock)

    def release_socket(self, sock) -> None:
        _close(sock)

    def close(self) -> None:
        while self.idle:
            _close(self.idle.pop())


def _close(sock) -> None:
    try:
        sock.close()
    except OSError:
        pass


@functools.lru_cache(maxsize=256)
def _literal_family(host: str):
    """AF_INET or AF_INET6 for an IP address, None for a name."""
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return None


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """The trusted certificates (trust.py), made once at first use."""
    return trust.trusted_context()


_FORBIDDEN_IN_HEAD = ("\r", "\n", "\0")


def _request_head(method: str, target: str, host: str, port: int, scheme: str, headers: dict,
                  body: bytes | None) -> bytes:
    """The request line and headers of an HTTP/1.1 request."""
    authority = f"[{host}]" if ":" in host else host
    if port != (443 if scheme == "https" else 80):
        authority += f":{port}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}"]
    for name, value in headers.items():
        value = str(value)
        if any(bad in name or bad in value for bad in _FORBIDDEN_IN_HEAD):
            # Never the value in the message: it may be an API key.
            raise TransportFailure(f"the {name} header holds a line break, which HTTP cannot carry")
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise TransportFailure(
            "a header holds characters HTTP headers cannot carry (only Latin-1); check the API key "
            "and organization in Settings"
        ) from None


@functools.lru_cache(maxsize=256)
def _split_target(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, origin-form request target) of a URL; backends reuse a few URLs."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port, (parts.path or "/") + ("?" + parts.query if parts.query else "")


class SocketTransport:
    """HTTP/1.1 over keep-alive sockets per backend origin; under gunicorn's gevent worker the
    sockets are gevent's (the standard library is patched), under threads the plain ones."""

    def __init__(self, maxsize: int = 1024):
        # As many idle keep-alive sockets per origin and worker as streams may end at once (under
        # gevent, 1,000 in a burst); past it, the socket of an ending stream is closed.
        self.maxsize = maxsize
        self.origins: dict[tuple[str, str, int], _Origin] = {}

    def close(self) -> None:
        for origin in list(self.origins.values()):
            origin.close()

    def _connect(self, scheme: str, host: str, port: int, connect_timeout: float):
        family = _literal_family(host)
        try:
            if family is None:
                sock = socket.create_connection((host, port), timeout=connect_timeout)
            else:  # an IP address (most local backends): no name lookup to ask for
                sock = socket.socket(family, socket.SOCK_STREAM)
                try:
                    sock.settimeout(connect_timeout)
                    sock.connect((host, port))
                except BaseException:
                    sock.close()
                    raise
        except socket.gaierror:
            raise NameNotResolved(host) from None
        except socket.timeout:
            raise ConnectTimedOut() from None
        except OSError as exc:  # refused, no route, network unreachable
            raise ConnectionRefused(str(exc)) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = _tls_context().wrap_socket(sock, server_hostname=host)
        except socket.timeout:
            _close(sock)
            raise ConnectTimedOut() from None
        except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
            _close(sock)
            raise TlsFailed(str(exc)) from None
        return sock

    def send(self, method: str, url: str, *, json_body: Any = None, headers: dict | None = None,
             stream: bool = False, timeout: tuple[float, float] = (5.0, 60.0)) -> SocketResponse:
        body = request_body(json_body)
        scheme, host, port, target = _split_target(url)
        head = _request_head(method, target, host, port, scheme, request_headers(body, headers), body)
        key = (scheme, host, port)
        origin = self.origins.get(key)
        if origin is None:
            origin = self.origins.setdefault(key, _Origin(self.maxsize))
        sock = origin.take() or self._connect(scheme, host, port, timeout[0])
        try:
            sock.settimeout(timeout[1])
            sock.sendall(head + body if body is not None else head)
            raw = AbortableAnswer(sock, origin, block_size=_SOCKET_BLOCK, method=method)
        except socket.timeout:
            _close(sock)
            raise ReadTimedOut() from None
        except ssl.SSLError as exc:
            _close(sock)
            raise TlsFailed(str(exc)) from None
        except (HTTPConnectionClosed, HTTPParseError, OSError):
            _close(sock)  # a response that failed has released it already; closing twice is harmless
            raise ConnectionDropped("closed without answering") from None
        response = SocketResponse(raw)
        if not stream:
            try:
                response.content
            except ReadTimedOut:
                raise ReadTimedOut() from None
            except ConnectionDropped:
                raise ConnectionDropped("closed without answering") from None
        return response
