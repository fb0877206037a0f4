"""Transports only the tests use. The spec's service tests mock HTTP with requests-mock, which
sees only what goes through `requests`: conftest.py makes this transport the process default for
every test, and the `fake_llm` fixture puts the production one back."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
import requests_mock

from taleweaver.llm.transport import (
    ConnectionDropped,
    ConnectionRefused,
    ConnectTimedOut,
    NameNotResolved,
    PoolResponse,
    ReadTimedOut,
    TlsFailed,
    TransportFailure,
)

_NAME_NOT_RESOLVED = ("Name or service not known", "nodename nor servname", "getaddrinfo failed",
                      "Temporary failure in name resolution", "Failed to resolve")


class RequestsTransport:
    """Requests through a requests.Session (environment proxies ignored, as in production for a
    loopback backend); the answer is read from the urllib3 response under it, as the proxy
    transport reads its own."""

    def __init__(self, session: requests.Session | None = None):
        self.session = session or requests.Session()
        self.session.trust_env = False

    def send(self, method: str, url: str, *, json_body: Any = None, headers: dict | None = None,
             stream: bool = False, timeout: tuple[float, float] = (5.0, 60.0)) -> PoolResponse:
        try:
            response = self.session.request(method, url, json=json_body, headers=headers or {}, stream=True,
                                            timeout=timeout, allow_redirects=False)
        except requests.exceptions.ConnectTimeout:
            raise ConnectTimedOut() from None
        except requests.exceptions.ReadTimeout:
            raise ReadTimedOut() from None
        except requests.exceptions.SSLError as exc:  # before its base class ConnectionError
            raise TlsFailed(str(exc)) from None
        except requests.exceptions.ConnectionError as exc:
            if any(marker in str(exc) for marker in _NAME_NOT_RESOLVED):
                raise NameNotResolved(urlsplit(url).hostname) from None
            if "RemoteDisconnected" in str(exc) or "Connection aborted" in str(exc):
                raise ConnectionDropped("closed without answering") from None
            raise ConnectionRefused(str(exc)) from None
        except requests_mock.exceptions.NoMockAddress as exc:  # nothing answers at an address not mocked
            raise ConnectionRefused(str(exc)) from None
        except requests.exceptions.RequestException as exc:
            raise TransportFailure(str(exc)) from None
        answer = PoolResponse(response.raw)
        if not stream:
            answer.content  # read whole, as a non-streamed request is
        return answer
