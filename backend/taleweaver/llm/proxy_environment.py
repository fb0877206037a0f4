"""Which proxy the environment gives a backend's address, read as requests reads it: HTTPS_PROXY,
HTTP_PROXY and ALL_PROXY (lower case first, then upper case) and NO_PROXY's host names, domain
suffixes and IP addresses or networks — with one rule of our own: a loopback backend is always
reached directly, whatever NO_PROXY says (a proxy elsewhere cannot reach this machine's
127.0.0.1, and a local LLM must not depend on a company proxy)."""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests.utils
import urllib3.util


@dataclass(frozen=True)
class EnvironmentProxy:
    """A proxy from the environment. `url` is its address without credentials (what may be
    shown or logged); `variable` the environment variable that named it."""

    url: str
    variable: str
    scheme: str
    credentials: str | None = field(default=None, repr=False)  # "user:password", decoded

    def headers(self) -> dict:
        """The Proxy-Authorization header of the credentials in the proxy's URL, if any."""
        return urllib3.util.make_headers(proxy_basic_auth=self.credentials) if self.credentials else {}


def is_loopback(host: str | None) -> bool:
    """localhost (and its subdomains), 127.0.0.0/8 and ::1."""
    name = (host or "").strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def proxy_for(url: str) -> EnvironmentProxy | None:
    """The proxy the environment names for this URL, or None to connect directly."""
    parts = urlsplit(url)
    if is_loopback(parts.hostname):
        return None
    chosen = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
    if not chosen:
        return None
    variable = _variable_naming(parts.scheme, chosen)
    with_scheme = requests.utils.prepend_scheme_if_needed(chosen, "http")
    user, password = requests.utils.get_auth_from_url(with_scheme)
    address = urllib3.util.parse_url(with_scheme)
    scheme = (address.scheme or "http").lower()
    port = address.port or (443 if scheme == "https" else 80)
    host = f"[{address.host}]" if ":" in (address.host or "") else address.host
    return EnvironmentProxy(
        url=f"{scheme}://{host}:{port}",
        variable=variable,
        scheme=scheme,
        credentials=f"{user}:{password}" if user or password else None,
    )


def _variable_naming(scheme: str, value: str) -> str:
    """The environment variable that holds `value` for this scheme (lower case wins, as in
    urllib's getproxies), for messages that say what to check."""
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        if os.environ.get(name) == value:
            return name
    return f"{scheme.upper()}_PROXY"
