"""How LLM services send HTTP: a transport the service is given, in the manner of requests'
adapters. Production uses `SocketTransport` (keep-alive sockets, answers parsed by
geventhttpclient's C parser); `PoolTransport` (urllib3) is the same seam over urllib3; tests that
mock `requests` hand the service the requests transport instead. Each transport turns its
library's failures into the few kinds below exactly once, so the services never see urllib3,
requests or socket exceptions."""
from __future__ import annotations

import collections
import contextlib
import functools
import ipaddress
import json
import select
import socket
import ssl
import threading
from typing import Any, Iterator, Protocol
from urllib.parse import urlsplit

import requests
import urllib3
import urllib3.exceptions
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError, HTTPSocketPoolResponse

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "Taleweaver"}
_PLAIN_HEADERS = {"Accept": "application/json", "User-Agent": "Taleweaver"}


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


def _set_socket_timeout(raw, seconds: float) -> None:
    """Change how long a streamed answer may stay silent between two reads."""
    try:
        raw._fp.fp.raw._sock.settimeout(seconds)
    except AttributeError:
        pass  # not a plain socket (a mocked answer): the request's read timeout stays


def _iter_lines(raw, idle_timeout: float, dropped: tuple[type[BaseException], ...]) -> Iterator[bytes]:
    """Non-empty lines of a streamed body as they arrive; after the first bytes the read
    timeout becomes the idle timeout."""
    buffer = b""
    first = True
    try:
        while True:
            data = raw.read1(65536)
            if not data:
                break
            if first:
                _set_socket_timeout(raw, idle_timeout)
                first = False
            buffer += data
            if b"\n" not in data:
                continue
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    yield line
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
        raise ReadTimedOut(before_first_byte=first) from None
    except dropped:
        raise ConnectionDropped("closed in the middle of the answer") from None
    if buffer.strip():
        yield buffer


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


@functools.lru_cache(maxsize=256)
def _split_target(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, origin-form request target) of a URL; backends reuse a few URLs."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port, (parts.path or "/") + ("?" + parts.query if parts.query else "")


@functools.lru_cache(maxsize=64)
def _timeout(connect: float, read: float) -> urllib3.Timeout:
    return urllib3.Timeout(connect=connect, read=read)


def _is_name_resolution_error(exc: BaseException | None) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, urllib3.exceptions.NameResolutionError):
            return True
        text = str(exc)
        if any(marker in text for marker in (
            "Name or service not known", "nodename nor servname", "getaddrinfo failed",
            "Temporary failure in name resolution",
        )):
            return True
        exc = exc.__cause__ or exc.__context__ or (
            exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        )
    return False


class PoolTransport:
    """Keep-alive connections per backend origin straight through urllib3: requests' per-call
    preparation (cookies, hooks, environment merging) costs more than the rest of a proxied call."""

    def __init__(self, maxsize: int = 1024):
        # As many keep-alive connections per backend and worker as streams open at once (under
        # gevent, 1,000 in a burst): past it, each ending stream's connection is dropped ("pool
        # is full") and the next one connects anew. A local LLM is never behind an environment
        # proxy, so none is read.
        self.pools = urllib3.PoolManager(num_pools=32, maxsize=maxsize, block=False)

    def send(self, method: str, url: str, *, json_body: Any = None, headers: dict | None = None,
             stream: bool = False, timeout: tuple[float, float] = (5.0, 60.0)) -> PoolResponse:
        body = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        scheme, host, port, target = _split_target(url)
        try:
            pool = self.pools.connection_from_host(host, port, scheme)
            raw = pool.urlopen(
                method,
                target,
                body=body,
                headers={**(_PLAIN_HEADERS if body is None else _JSON_HEADERS), **(headers or {})},
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=_timeout(*timeout),
                preload_content=not stream,
                decode_content=True,
            )
        except urllib3.exceptions.NewConnectionError as exc:  # before its base ConnectTimeoutError
            if _is_name_resolution_error(exc):
                raise NameNotResolved(host) from None
            raise ConnectionRefused(str(exc)) from None
        except urllib3.exceptions.ConnectTimeoutError:
            raise ConnectTimedOut() from None
        except urllib3.exceptions.ReadTimeoutError:
            raise ReadTimedOut() from None
        except urllib3.exceptions.ProtocolError:
            raise ConnectionDropped("closed without answering") from None
        except urllib3.exceptions.SSLError as exc:
            raise TlsFailed(str(exc)) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportFailure(str(exc)) from None
        return PoolResponse(raw)


# -- SocketTransport ---------------------------------------------------------------------------
# Why not urllib3 in production: starting a stream through it costs about 0.6 ms more CPU than
# this (bench/, a 2-core machine: 0.90 ms against 0.31 ms per streamed request), and on 2 cores a
# burst of 1,000 streams is bound by exactly that CPU. What this adds to the library is only what
# a client of a few known backends needs: one request head, one keep-alive list per origin, and
# the connect/TLS steps told apart for the error kinds above. geventhttpclient parses the answer
# (llhttp: status, headers, Content-Length, chunked, keep-alive), and gives a socket back to its
# origin's list once an answer has been read to its end.

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
    """The machine's trusted certificates with hostname checks, as urllib3 and requests use
    (made at first use, after gunicorn's gevent worker has patched ssl)."""
    return ssl.create_default_context()


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


# An answer gives its socket back to its origin's idle list (release) and abort() shuts it down
# one at a time: abort, called from another thread, never shuts down a socket that went back to
# the list, and maybe on to another request, in between.
_handing_back = threading.Lock()


class _AbortableAnswer(HTTPSocketPoolResponse):
    """geventhttpclient's answer, with abort(): its socket shut down while it is being read."""

    def release(self) -> None:
        with _handing_back:
            super().release()

    def abort(self) -> None:
        with _handing_back:
            _shut_down(self._sock)


class SocketResponse(_Body):
    """An answer parsed by geventhttpclient; closing it gives a fully read socket back for the
    next request and closes any other (which stops the backend mid-answer)."""

    __slots__ = ("raw", "status_code", "headers", "reason", "_content")

    def __init__(self, raw: _AbortableAnswer):
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
                line = raw.readline(b"\n")
                if not line:
                    break
                if first:
                    first = False
                    sock = raw._sock
                    if sock is not None:
                        sock.settimeout(idle_timeout)
                if line.strip():
                    yield line[:-1] if line.endswith(b"\n") else line
            rest = raw.read()
            if rest.strip():
                yield rest
        except socket.timeout:
            raise ReadTimedOut(before_first_byte=first) from None
        except ssl.SSLError:
            raise ConnectionDropped("the secure connection broke in the middle of the answer") from None
        except (HTTPParseError, OSError):
            raise ConnectionDropped("closed in the middle of the answer") from None
        finally:
            raw.release()


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
        body = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        scheme, host, port, target = _split_target(url)
        head = _request_head(method, target, host, port, scheme,
                             {**(_PLAIN_HEADERS if body is None else _JSON_HEADERS), **(headers or {})}, body)
        key = (scheme, host, port)
        origin = self.origins.get(key)
        if origin is None:
            origin = self.origins.setdefault(key, _Origin(self.maxsize))
        sock = origin.take() or self._connect(scheme, host, port, timeout[0])
        try:
            sock.settimeout(timeout[1])
            sock.sendall(head + body if body is not None else head)
            raw = _AbortableAnswer(sock, origin, block_size=_SOCKET_BLOCK, method=method)
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


class RequestsResponse(_Body):
    """An answer read through requests (what requests-mock answers)."""

    __slots__ = ("response", "status_code", "headers", "reason")

    def __init__(self, response):
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.reason = response.reason

    @property
    def content(self) -> bytes:
        try:
            return self.response.content
        except requests.exceptions.ConnectionError:
            raise ConnectionDropped("closed while sending the answer") from None

    def close(self) -> None:
        self.response.close()

    def abort(self) -> None:
        _shut_down(_urllib3_socket(getattr(self.response, "raw", None)))

    def iter_lines(self, idle_timeout: float) -> Iterator[bytes]:
        return _iter_lines(
            self.response.raw, idle_timeout,
            (urllib3.exceptions.ProtocolError, requests.exceptions.ConnectionError, OSError),
        )


class RequestsTransport:
    """Requests through a requests.Session: slower than the pool, but what requests-mock sees."""

    def __init__(self, session=None):
        self.session = session or requests.Session()
        self.session.trust_env = False

    def send(self, method: str, url: str, *, json_body: Any = None, headers: dict | None = None,
             stream: bool = False, timeout: tuple[float, float] = (5.0, 60.0)) -> RequestsResponse:
        try:
            response = self.session.request(
                method, url, json=json_body, headers=headers or {}, stream=stream,
                timeout=timeout, allow_redirects=False,
            )
        except requests.exceptions.ConnectTimeout:
            raise ConnectTimedOut() from None
        except requests.exceptions.ReadTimeout:
            raise ReadTimedOut() from None
        except requests.exceptions.SSLError as exc:  # before its base class ConnectionError
            raise TlsFailed(str(exc)) from None
        except requests.exceptions.ConnectionError as exc:
            if _is_name_resolution_error(exc):
                raise NameNotResolved(urlsplit(url).hostname) from None
            if "RemoteDisconnected" in str(exc) or "Connection aborted" in str(exc):
                raise ConnectionDropped("closed without answering") from None
            raise ConnectionRefused(str(exc)) from None
        except requests.exceptions.RequestException as exc:
            raise TransportFailure(str(exc)) from None
        return RequestsResponse(response)


_default: Transport = SocketTransport()


def default() -> Transport:
    """The transport a service uses when it was given none."""
    return _default


def set_default(chosen: Transport) -> Transport:
    """Make `chosen` the transport of services given none; returns the one it replaces."""
    global _default
    previous, _default = _default, chosen
    return previous


@contextlib.contextmanager
def using(chosen: Transport):
    """Within the block, services given no transport use `chosen` (tests)."""
    previous = set_default(chosen)
    try:
        yield chosen
    finally:
        set_default(previous)
