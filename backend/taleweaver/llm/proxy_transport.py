"""ProxyTransport: requests to a backend through the environment's proxy, by urllib3's
ProxyManager — CONNECT and TLS through the tunnel for https, absolute-form request lines for
http, the proxy's credentials in Proxy-Authorization. The proxy resolves the backend's name.

urllib3 costs more CPU per request than socket_transport (see there), but only remote backends
(ChatGPT, a hosted OpenAI-compatible server) go through a proxy, and their own latency dwarfs it;
a proxy of the library's is worth more than a CONNECT written by hand."""
from __future__ import annotations

import functools
import re
from typing import Any

import urllib3
import urllib3.exceptions

from taleweaver.llm import trust
from taleweaver.llm.proxy_environment import EnvironmentProxy
from taleweaver.llm.transport import (
    ConnectionDropped,
    ConnectTimedOut,
    PoolResponse,
    ProxyFailed,
    ReadTimedOut,
    TlsFailed,
    TransportFailure,
    request_body,
    request_headers,
)

# http.client's words when a proxy answers CONNECT with anything but 200.
_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3})\s*(.*)")


@functools.lru_cache(maxsize=64)
def _timeout(connect: float, read: float) -> urllib3.Timeout:
    return urllib3.Timeout(connect=connect, read=read)


class ProxyTransport:
    """Keep-alive connections through one proxy, per backend origin."""

    def __init__(self, proxy: EnvironmentProxy, maxsize: int = 1024):
        self.proxy = proxy
        self.manager: urllib3.ProxyManager | None = None
        if proxy.scheme in ("http", "https"):
            # The proxy's URL without its credentials: they go in a header, never in a message.
            self.manager = urllib3.ProxyManager(
                proxy.url, proxy_headers=proxy.headers(), num_pools=32, maxsize=maxsize, block=False,
                ssl_context=trust.trusted_context(),
            )

    def close(self) -> None:
        if self.manager is not None:
            self.manager.clear()

    def send(self, method: str, url: str, *, json_body: Any = None, headers: dict | None = None,
             stream: bool = False, timeout: tuple[float, float] = (5.0, 60.0)) -> PoolResponse:
        if self.manager is None:
            raise self._failed(reason=f"is a {self.proxy.scheme}:// proxy; Taleweaver reaches backends "
                                      "through http:// and https:// proxies only")
        body = request_body(json_body)
        try:
            raw = self.manager.urlopen(
                method, url, body=body, headers=request_headers(body, headers), retries=False,
                redirect=False, timeout=_timeout(*timeout), preload_content=not stream, decode_content=True,
            )
        except urllib3.exceptions.ProxyError as exc:
            raise self._proxy_error(exc) from None
        except urllib3.exceptions.ConnectTimeoutError:
            raise ConnectTimedOut() from None
        except urllib3.exceptions.ReadTimeoutError:
            raise ReadTimedOut() from None
        except urllib3.exceptions.SSLError as exc:
            raise TlsFailed(str(exc)) from None
        except urllib3.exceptions.ProtocolError:
            raise ConnectionDropped("closed without answering") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportFailure(str(exc)) from None
        if raw.status == 407:  # the proxy itself answers a plain-http request it will not carry
            raw.drain_conn()
            raise self._failed(407, raw.reason or "Proxy Authentication Required")
        return PoolResponse(raw)

    def _proxy_error(self, exc: urllib3.exceptions.ProxyError) -> ProxyFailed:
        """The proxy could not be reached, or answered CONNECT with an error status."""
        cause = exc.original_error
        refused = _TUNNEL_REFUSED.search(str(cause))
        if refused:
            return self._failed(int(refused.group(1)), refused.group(2).strip())
        if isinstance(cause, urllib3.exceptions.NameResolutionError):
            return self._failed(reason="could not be found: its host name does not resolve")
        # NewConnectionError derives from ConnectTimeoutError: the refusal is told first.
        if not isinstance(cause, urllib3.exceptions.NewConnectionError) and isinstance(
                cause, (urllib3.exceptions.ConnectTimeoutError, TimeoutError)):
            return self._failed(reason="did not accept a connection in time")
        return self._failed(reason="refused the connection")

    def _failed(self, status: int | None = None, reason: str = "") -> ProxyFailed:
        return ProxyFailed(self.proxy.url, self.proxy.variable, status, reason,
                           with_credentials=self.proxy.credentials is not None)
