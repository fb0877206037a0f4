"""Finding the Windows host from inside WSL, where localhost may not reach Windows programs."""
from __future__ import annotations

import ipaddress
import os
import socket
import struct
import threading
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from taleweaver.llm.errors import BackendTimeout, BackendUnreachable


LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
# How long to wait for each Windows-host candidate: a wrong guess must not hold the user up.
CANDIDATE_CONNECT_TIMEOUT = 1.5

# Configured loopback URL -> Windows-host URL that answered instead.
_resolved: dict[str, str] = {}
_resolved_lock = threading.Lock()


def is_wsl() -> bool:
    """True when this process runs under Windows Subsystem for Linux (TALEWEAVER_WSL=1/0 overrides)."""
    forced = os.environ.get("TALEWEAVER_WSL", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if os.environ.get("WSL_DISTRO_NAME"):
        return True
    try:
        with open("/proc/version", encoding="utf-8", errors="replace") as handle:
            return "microsoft" in handle.read().lower()
    except OSError:
        return False


def default_gateway() -> str | None:
    """The IPv4 default gateway from the kernel routing table (the Windows host under WSL 2)."""
    try:
        with open("/proc/net/route", encoding="ascii") as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000":
                    return socket.inet_ntoa(struct.pack("<L", int(fields[2], 16)))
    except (OSError, ValueError, StopIteration):
        return None
    return None


def resolv_conf_nameserver() -> str | None:
    """The first nameserver WSL wrote into resolv.conf (the Windows host by default)."""
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    try:
                        address = ipaddress.ip_address(parts[1])
                    except ValueError:
                        continue
                    if not address.is_loopback:
                        return parts[1]
    except OSError:
        return None
    return None


def windows_host_candidates() -> list[str]:
    """Addresses that may be the Windows host, most likely first, without duplicates.

    TALEWEAVER_WSL_HOSTS (comma-separated) replaces the detection, for setups it gets wrong.
    """
    configured = os.environ.get("TALEWEAVER_WSL_HOSTS", "").strip()
    if configured:
        return [host.strip() for host in configured.split(",") if host.strip()]
    found = [default_gateway(), resolv_conf_nameserver(), "host.docker.internal"]
    unique: list[str] = []
    for host in found:
        if host and host not in unique:
            unique.append(host)
    return unique


def is_loopback_url(url: str) -> bool:
    return (urlsplit(url).hostname or "").lower() in LOOPBACK_NAMES


def candidate_base_urls(base_url: str) -> list[str]:
    """The same URL with its loopback host replaced by each Windows host candidate."""
    parts = urlsplit(base_url)
    port = f":{parts.port}" if parts.port else ""
    return [
        urlunsplit((parts.scheme, f"{host}{port}", parts.path, parts.query, parts.fragment))
        for host in windows_host_candidates()
    ]


def forget_resolved() -> None:
    """Forget every Windows-host address found so far (the next request looks again)."""
    with _resolved_lock:
        _resolved.clear()


def send_with_fallback(client: Any, send: Callable[..., Any], method: str, path: str, **options):
    """`send(base_url, method, path, **options)` to the backend client's URL; when that is a
    local server configured as localhost that refuses the connection under WSL, to the Windows host.

    The address that answered is remembered, so later requests go there at once.
    """
    remembered = _resolved.get(client.base_url)
    if remembered:
        try:
            response = send(remembered, method, path, **options)
            client.resolved_url = remembered
            return response
        except (BackendUnreachable, BackendTimeout):
            with _resolved_lock:
                _resolved.pop(client.base_url, None)
    try:
        return send(client.base_url, method, path, **options)
    except BackendUnreachable as exc:
        if not (exc.step == "connect" and client.local_server and client.wsl_fallback
                and is_loopback_url(client.base_url) and is_wsl()):
            raise
        tried = []
        for candidate in candidate_base_urls(client.base_url):
            tried.append(candidate)
            try:
                response = send(candidate, method, path, **dict(options, connect_timeout=CANDIDATE_CONNECT_TIMEOUT))
            except (BackendUnreachable, BackendTimeout):
                continue
            with _resolved_lock:
                _resolved[client.base_url] = candidate
            client.resolved_url = candidate
            return response
        raise BackendUnreachable(
            f"{client.label} did not answer at {client.base_url}, nor on the Windows host "
            f"({', '.join(tried) or 'no address found'}). Taleweaver runs in WSL, where "
            "localhost is not always Windows.",
            hint=client.hints.unreachable,
            step="connect",
        ) from None
