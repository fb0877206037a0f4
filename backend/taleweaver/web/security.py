"""Checks that keep web pages the user visits from using the local server: Host, Origin, JSON bodies.

A server on 127.0.0.1 is reachable by every page the user's browser opens. Three checks run before
any other work, on every path: the Host header must be a name this server answers to (the
DNS-rebinding fix), an Origin header must be this server's own origin or a configured one (a
cross-site page is refused), and a body under /api or /proxy must be application/json (which a
cross-site page cannot send without a CORS preflight). Every response also carries headers that
keep it out of frames, from being sniffed as another type, and out of caches.
"""
from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

from flask import Flask, current_app, request

from taleweaver.errors import ApiError

log = logging.getLogger("taleweaver.security")

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_UNSPECIFIED = ("0.0.0.0", "::", "")
_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_DEFAULT_PORTS = {"http": 80, "https": 443}

SPA_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src {connect}; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
_COMMON_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]
_PROXY_HEADERS = _COMMON_HEADERS + [("Content-Security-Policy", API_POLICY)]
_API_HEADERS = _PROXY_HEADERS + [("Cache-Control", "no-store")]


def _hostname(host: str) -> str:
    """The name part of a Host header value (or of a configured name), lower case, no port."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0].rstrip(".")
    return host


def _is_loopback_address(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_host_names(config) -> list[str]:
    """The names configured beyond the loopback defaults: TALEWEAVER_ALLOWED_HOSTS and the bound address."""
    names = [_hostname(name) for name in config.get("ALLOWED_HOSTS") or []]
    bound = _hostname(config.get("BIND_HOST") or "")
    if bound not in _UNSPECIFIED:
        names.append(bound)
    return [name for name in names if name]


def host_allowed(host: str, config) -> bool:
    """Whether this server answers to the Host header value."""
    name = _hostname(host)
    if not name:
        return False
    if name in LOOPBACK_NAMES or name.endswith(".localhost") or _is_loopback_address(name):
        return True
    for allowed in allowed_host_names(config):
        if allowed == "*" or allowed == name:
            return True
        if allowed.startswith("*.") and name.endswith(allowed[1:]):
            return True
    return False


def _origin_netloc(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an Origin value, or None when it is not a usable origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


def origin_allowed(origin: str, host: str, config) -> bool:
    """Whether a request's Origin is this server's own origin or one of TALEWEAVER_CORS_ORIGINS."""
    parsed = _origin_netloc(origin)
    if parsed is None:
        return False  # "null" (sandboxed frames, file://, some redirects) and garbage
    for configured in config.get("CORS_ORIGINS") or []:
        if _origin_netloc(configured) == parsed:
            return True
    # Our own origin: the page was served by this server under the (already checked) Host name.
    # The scheme is not compared: behind a TLS-terminating proxy the page is https, we see http.
    scheme, name, port = parsed
    try:
        own_port = urlsplit(f"//{host.strip().lower()}").port
    except ValueError:
        return False
    return name == _hostname(host) and port == (own_port or _DEFAULT_PORTS[scheme])


def _has_body(environ: dict) -> bool:
    if environ.get("REQUEST_METHOD") not in _BODY_METHODS:
        return False
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    return environ.get("CONTENT_LENGTH", "0") not in ("", "0")


def check_request() -> None:
    """before_request: refuse a foreign Host, a foreign Origin and a non-JSON body, before any work."""
    config = current_app.config
    environ = request.environ
    host = request.host
    if not host_allowed(host, config):
        log.warning("refused a request for host %r (not in TALEWEAVER_ALLOWED_HOSTS)", host[:100])
        raise ApiError(
            403,
            "host_not_allowed",
            f"This Taleweaver server does not answer to the host name {_hostname(host)[:100]!r}. "
            "If you opened it under this name on purpose, add the name to TALEWEAVER_ALLOWED_HOSTS "
            "(comma-separated) and restart the server.",
        )
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and not origin_allowed(origin, host, config):
        log.warning("refused a request from origin %r to %s %s", origin[:100], request.method, request.path)
        raise ApiError(
            403,
            "origin_not_allowed",
            f"Requests from the web page at {origin[:100]!r} are not allowed. If that is your "
            "Taleweaver frontend, add its origin to TALEWEAVER_CORS_ORIGINS and restart the server.",
        )
    path = request.path
    if (path.startswith("/api/") or path.startswith("/proxy/")) and _has_body(environ):
        if request.mimetype != "application/json":
            raise ApiError(
                415,
                "unsupported_media_type",
                "Send the request body as JSON, with the header Content-Type: application/json.",
            )


def add_headers(response):
    """after_request: headers that keep every response out of frames, sniffing and (for /api) caches."""
    path = request.path
    if path.startswith("/api/"):
        response.headers.update(_API_HEADERS)
    elif path.startswith("/proxy/"):
        response.headers.update(_PROXY_HEADERS)
    else:
        connect = " ".join(["'self'", *current_app.config.get("API_ORIGINS", [])])
        response.headers.update(_COMMON_HEADERS + [("Content-Security-Policy", SPA_POLICY.format(connect=connect))])
    return response


def startup_warnings(config) -> list[str]:
    """What the operator should hear at start-up about the Host allowlist."""
    warnings = []
    names = allowed_host_names(config)
    if "*" in names:
        warnings.append(
            "TALEWEAVER_ALLOWED_HOSTS contains '*': every Host name is accepted, so a web page on "
            "another site can reach this server through DNS rebinding. Name the hosts instead."
        )
    bound = _hostname(config.get("BIND_HOST") or "")
    if bound in _UNSPECIFIED and not config.get("ALLOWED_HOSTS"):
        warnings.append(
            f"Listening on {config.get('BIND_HOST') or 'all addresses'} but only localhost names "
            "are allowed: other machines will get 403. Set TALEWEAVER_ALLOWED_HOSTS to the name or "
            "address they type, e.g. TALEWEAVER_ALLOWED_HOSTS=taleweaver.lan,192.168.1.20"
        )
    return warnings


def init_app(app: Flask) -> None:
    """Run the checks before every other before_request handler, and add the headers to every response."""
    app.before_request_funcs.setdefault(None, []).insert(0, check_request)
    app.after_request(add_headers)
