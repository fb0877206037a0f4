"""The HTTP client every LLM service sends through unless it was handed a transport: each backend
origin goes through the proxy the environment names for it (proxy_transport), or — every loopback
backend, and any other the environment leaves out — straight over keep-alive sockets
(socket_transport), whose hot path stays as it was. The environment is read once per origin.

Tests choose the process default with `using(...)` (backend/tests/conftest.py): production never
asks whether it is under test."""
from __future__ import annotations

import contextlib
import functools
from typing import Any
from urllib.parse import urlsplit

from taleweaver.llm import proxy_environment
from taleweaver.llm.proxy_environment import EnvironmentProxy
from taleweaver.llm.proxy_transport import ProxyTransport
from taleweaver.llm.socket_transport import SocketTransport
from taleweaver.llm.transport import Response, Transport


@functools.lru_cache(maxsize=1024)
def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class EnvironmentTransport:
    """Direct for what the environment does not proxy, through its proxy for the rest."""

    def __init__(self):
        self.direct = SocketTransport()
        self._proxied: dict[EnvironmentProxy, ProxyTransport] = {}
        self._routes: dict[str, Transport] = {}

    def route(self, url: str) -> Transport:
        """The transport for the URL's origin, chosen at its first request."""
        origin = _origin(url)
        chosen = self._routes.get(origin)
        if chosen is None:
            proxy = proxy_environment.proxy_for(url)
            if proxy is None:
                chosen = self.direct
            else:
                chosen = self._proxied.get(proxy) or self._proxied.setdefault(proxy, ProxyTransport(proxy))
            chosen = self._routes.setdefault(origin, chosen)
        return chosen

    def send(self, method: str, url: str, **options: Any) -> Response:
        return self.route(url).send(method, url, **options)

    def close(self) -> None:
        self.direct.close()
        for proxied in list(self._proxied.values()):
            proxied.close()


_default: Transport = EnvironmentTransport()


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
