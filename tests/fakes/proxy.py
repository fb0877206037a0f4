"""A recording forward proxy on loopback, standing in for a company's HTTP proxy.

It speaks the two forms a client uses with a proxy: `CONNECT host:port` for https (a tunnel the
TLS handshake goes through) and an absolute-form request line (`GET http://host:port/path`) for
http. It resolves host names from its own map only, so a backend name that resolves nowhere else
(`api.example.test`) reaches a fake on 127.0.0.1; every request line it receives is recorded with
its `Proxy-Authorization` header. It can ask for credentials (407) and refuse (403) on demand.

    with RecordingProxy({"api.example.test": "127.0.0.1"}, credentials=("user", "secret")) as proxy:
        ...  # HTTPS_PROXY=proxy.url_with(credentials); proxy.requests lists what went through
"""
from __future__ import annotations

import base64
import socket
import socketserver
import threading
from typing import Dict, List, Optional, Tuple

from .server import _check_loopback

MODES = ("forward", "auth_required", "refuse")
_HOP_BY_HOP = (b"proxy-authorization", b"proxy-connection", b"connection", b"keep-alive")


class _Handler(socketserver.BaseRequestHandler):
    proxy: "RecordingProxy"

    def handle(self) -> None:
        client = self.request
        self.proxy._opened(client)
        try:
            # An absolute-form request leaves the connection open for the next one, as a real
            # proxy's keep-alive does; CONNECT and a refusal end it.
            while (head := _read_head(client)) is not None and self.proxy._serve(client, head):
                pass
        except OSError:
            pass
        finally:
            self.proxy._closed(client)
            client.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class RecordingProxy:
    """A forward proxy on a loopback port that records each request line it is sent."""

    def __init__(self, hosts: Dict[str, str], credentials: Optional[Tuple[str, str]] = None,
                 host: str = "127.0.0.1"):
        self.hosts = {name.lower(): _check_loopback(address) for name, address in hosts.items()}
        self.credentials = credentials
        self.mode = "forward"
        self._bind_host = _check_loopback(host)
        self._lock = threading.Lock()
        self._requests: List[Dict[str, Optional[str]]] = []
        self._open: set = set()
        self._server: Optional[_Server] = None
        self.port = 0  # chosen at start, kept after stop (a stopped proxy refuses connections there)

    @property
    def url(self) -> str:
        return f"http://{self._bind_host}:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        """The proxy's URL with credentials in it, as a user writes HTTPS_PROXY."""
        return f"http://{user}:{password}@{self._bind_host}:{self.port}"

    @property
    def requests(self) -> List[Dict[str, Optional[str]]]:
        """Each request received: its `line` and its `proxy_authorization` (None when absent)."""
        with self._lock:
            return list(self._requests)

    def set_mode(self, mode: str) -> None:
        """`forward`; `auth_required` (407 to everything); `refuse` (403 to everything). Open
        connections are closed, so a client's next request opens a new one and meets the mode."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self._close_open()

    def start(self) -> "RecordingProxy":
        handler = type("RecordingProxyHandler", (_Handler,), {"proxy": self})
        self._server = _Server((self._bind_host, self.port), handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name=f"recording-proxy-{self.port}", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._close_open()

    def __enter__(self) -> "RecordingProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----- one client connection ---------------------------------------------------------

    def _serve(self, client: socket.socket, head: bytes) -> bool:
        """Answer one request; whether the client connection stays open for another."""
        line, _, rest = head.partition(b"\r\n")
        headers = _headers(rest)
        authorization = headers.get(b"proxy-authorization")
        with self._lock:
            self._requests.append({"line": line.decode("latin-1"),
                                   "proxy_authorization": authorization.decode("latin-1") if authorization else None})
        if self.mode == "refuse":
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        if self.mode == "auth_required" or not self._authorized(authorization):
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                           b"Proxy-Authenticate: Basic realm=\"test proxy\"\r\n"
                           b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        method, target, _ = line.split(b" ", 2)
        if method == b"CONNECT":
            self._tunnel(client, target.decode("latin-1"))
            return False
        return self._forward(client, method, target.decode("latin-1"), rest, headers)

    def _authorized(self, authorization: Optional[bytes]) -> bool:
        if self.credentials is None:
            return True
        expected = b"Basic " + base64.b64encode(":".join(self.credentials).encode())
        return authorization == expected

    def _upstream(self, authority: str) -> Optional[socket.socket]:
        host, _, port = authority.rpartition(":")
        address = self.hosts.get(host.lower())
        if address is None:
            return None
        upstream = socket.create_connection((address, int(port)), timeout=10)
        upstream.settimeout(None)
        self._opened(upstream)
        return upstream

    def _tunnel(self, client: socket.socket, authority: str) -> None:
        upstream = self._upstream(authority)
        if upstream is None:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        _relay(client, upstream)
        self._closed(upstream)

    def _forward(self, client: socket.socket, method: bytes, target: str, rest: bytes,
                 headers: Dict[bytes, bytes]) -> bool:
        """One absolute-form request sent on in origin form with `Connection: close`, its body
        after it and the answer relayed until the origin closes; whether the client connection
        can carry another request (the answer said where it ends)."""
        scheme, _, after = target.partition("://")
        authority, _, path = after.partition("/")
        upstream = self._upstream(authority if ":" in authority else authority + ":80")
        if scheme != "http" or upstream is None:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        kept = [h for h in rest.split(b"\r\n") if h and h.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP]
        head = b"\r\n".join([method + b" /" + path.encode("latin-1") + b" HTTP/1.1", *kept, b"Connection: close"])
        try:
            upstream.sendall(head + b"\r\n\r\n" + _read_exactly(client, int(headers.get(b"content-length", 0))))
            answer_head = _read_head(upstream) or b""
            framed = b"content-length" in _headers(answer_head) or b"transfer-encoding" in _headers(answer_head)
            client.sendall(answer_head + b"\r\n\r\n")
            while data := upstream.recv(65536):
                client.sendall(data)
        finally:
            self._closed(upstream)
        return framed

    def _opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        sock.close()

    def _close_open(self) -> None:
        with self._lock:
            open_now, self._open = list(self._open), set()
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _read_head(sock: socket.socket) -> Optional[bytes]:
    """The first line and headers of a request or answer, up to the blank line (the body that
    follows is left unread)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(1)  # byte by byte: what follows the head belongs to the tunnel
        if not piece:
            return None
        data += piece
    return data[:-4]


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        piece = sock.recv(count - len(data))
        if not piece:
            break
        data += piece
    return data


def _headers(block: bytes) -> Dict[bytes, bytes]:
    found = {}
    for line in block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if value:
            found[name.strip().lower()] = value.strip()
    return found


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (sink, source):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join(10)
