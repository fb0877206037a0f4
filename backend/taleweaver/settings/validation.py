"""Checking what a user sends as a backend's settings, field by field from its descriptor, into
the config that is stored: URLs normalised (and allowed, in multi-user mode), timeouts in range,
secrets encrypted — a blank one keeps the stored one, for the same connection only."""
from __future__ import annotations

import ipaddress
import json
import math
from urllib.parse import urlsplit, urlunsplit

from flask import current_app

from taleweaver.errors import ApiError, validation_error
from taleweaver.llm import registry as backends
from taleweaver.llm import wsl
from taleweaver.llm.descriptor import BackendDescriptor, ConfigField
from taleweaver.storage import crypto

BACKEND_TYPES = backends.BACKEND_TYPES
MIN_TIMEOUT = 0.1
MAX_TIMEOUT = 3600
# Path endings users paste from API docs that are not part of the server's address.
_API_SUFFIXES = ("/v1", "/api", "/api/v0")


def _types_in_words() -> str:
    names = list(BACKEND_TYPES)
    return ", ".join(names[:-1]) + " or " + names[-1]


def check_backend_type(value) -> str:
    if not isinstance(value, str) or not value:
        raise validation_error("backend_type", f"Choose a backend: one of {_types_in_words()}.")
    if value not in BACKEND_TYPES:
        raise validation_error(
            "backend_type", f"Unknown backend type {value[:40]!r}: use {_types_in_words()}."
        )
    return value


def normalise_url(value, field: str, strip_api_suffix: bool) -> str:
    """A server URL with a scheme and host, without a trailing slash (or API suffix)."""
    if not isinstance(value, str) or not value.strip():
        raise validation_error(field, "Enter the server address, e.g. http://localhost:11434.")
    text = value.strip()
    if len(text) > 2048:
        raise validation_error(field, "That URL is too long.")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. brackets around something that is not an IPv6 address
        raise validation_error(field, "That URL has no valid host name; e.g. http://localhost:1234.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise validation_error(
            field, f"Only http:// and https:// addresses are supported, not {parts.scheme}://."
        )
    host = parts.hostname
    if "[" in parts.netloc:
        # Brackets hold an IPv6 address only (Python < 3.11 does not check this itself).
        try:
            ipaddress.IPv6Address(host or "")
        except ValueError:
            raise validation_error(field, "That URL has no valid host name; e.g. http://localhost:1234.") from None
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise validation_error(field, "The port in that URL is not a number from 1 to 65535.")
    if not host or any(c.isspace() for c in text):
        raise validation_error(field, "That URL has no valid host name; e.g. http://localhost:1234.")
    if parts.username or parts.password:
        raise validation_error(field, "Put credentials in their own field, not in the URL.")
    if parts.query or parts.fragment:
        raise validation_error(field, "Remove the ?query or #fragment from the URL.")
    path = parts.path.rstrip("/")
    if strip_api_suffix:
        for suffix in sorted(_API_SUFFIXES, key=len, reverse=True):
            if path.endswith(suffix):
                path = path[: -len(suffix)]
                break
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port:
        netloc += f":{port}"
    return urlunsplit((parts.scheme.lower(), netloc.lower(), path, "", ""))


def check_host_allowed(url: str, field: str) -> None:
    """In multi-user mode, refuse backend hosts outside the configured allowlist (SSRF)."""
    if current_app.config.get("AUTH_MODE") != "multi":
        return
    host = (urlsplit(url).hostname or "").lower()
    allowed = current_app.config.get("ALLOWED_BACKEND_HOSTS") or []
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in allowed:
        entry = entry.strip().lower()
        if entry == "wsl-host":
            if host in wsl.windows_host_candidates():
                return
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return
            except ValueError:
                continue
        elif host == entry:
            return
    raise validation_error(
        field,
        f"The host {host!r} is not on this server's list of allowed LLM hosts; ask the "
        "administrator to add it to TALEWEAVER_ALLOWED_BACKEND_HOSTS.",
    )


def _timeout(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise validation_error(field, "A timeout is a number of seconds, e.g. 30.")
    if value < MIN_TIMEOUT or value > MAX_TIMEOUT:
        raise validation_error(
            field, f"A timeout must be from {MIN_TIMEOUT} to {MAX_TIMEOUT} seconds."
        )
    return value


def _optional_text(value, field: str, limit: int = 256) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise validation_error(field, "This must be text.")
    value = value.strip()
    if len(value) > limit:
        raise validation_error(field, f"This is longer than {limit} characters.")
    return value or None


class KeyNotReusable(ApiError):
    """A blank secret with a new address: the stored one must not be sent to a server it was not saved for."""

    def __init__(self, field: str, message: str):
        super().__init__(400, "api_key_required", message, field=field)


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _secret(value, field: ConfigField) -> str:
    if not isinstance(value, str):
        raise validation_error(f"config.{field.name}", f"The {field.label.lower()} must be text.")
    value = value.strip()
    if len(value) < 8 or len(value) > 512 or any(c.isspace() for c in value):
        raise validation_error(
            f"config.{field.name}",
            f"That does not look like an {field.label} (8 to 512 characters, no spaces).",
        )
    return value


def same_connection(descriptor: BackendDescriptor, candidate: dict, stored: dict | None) -> bool:
    """Whether a config reaches the same server, as the same account, as the stored one: the
    connection fields (URL, base URL, organization) are equal."""
    if not stored:
        return False
    return all(
        candidate.get(f.name) == stored.get(f.name, f.default if f.kind == "url" else None)
        for f in descriptor.connection_fields
    )


def _connection_in_words(descriptor: BackendDescriptor, stored: dict) -> str:
    """The stored connection fields, e.g. "https://api.openai.com/v1, organization org-x"."""
    parts = []
    for field in descriptor.connection_fields:
        value = stored.get(field.name, field.default if field.kind == "url" else None)
        if value:
            parts.append(value if field.kind == "url" else f"{field.label.lower()} {value}")
    return ", ".join(parts)


def validate_config(backend_type: str, config, stored: dict | None) -> dict:
    """The config to store for a request's config. A blank secret keeps the stored one, but only
    for the same connection: a key saved for one address (and organization) is never sent to
    another (a required one must then be entered again, an optional one is dropped)."""
    descriptor = backends.descriptor(backend_type)
    if config is None:
        config = {}
    if not isinstance(config, dict):
        example = {descriptor.url_field.name: descriptor.url_field.default}
        raise validation_error("config", f"config must be an object, e.g. {json.dumps(example)}.")
    unknown = sorted(set(config) - set(descriptor.field_names))
    if unknown:
        raise validation_error(
            f"config.{unknown[0]}",
            f"{descriptor.label} has no setting {unknown[0]!r}; it takes "
            + ", ".join(sorted(descriptor.field_names))
            + ".",
        )
    stored = stored or {}
    result: dict = {}
    for field in descriptor.fields:
        if field.kind == "seconds":
            value = config.get(field.name)
            result[field.name] = (
                _timeout(value, f"config.{field.name}") if value is not None else stored.get(field.name, field.default)
            )
        elif field.kind == "url":
            raw = config.get(field.name)
            if _blank(raw):
                raw = stored.get(field.name) or field.default
            if _blank(raw):
                raise validation_error(f"config.{field.name}", f"Enter the {field.label.lower()}.")
            url = normalise_url(raw, f"config.{field.name}", strip_api_suffix=descriptor.strip_api_suffix)
            check_host_allowed(url, f"config.{field.name}")
            result[field.name] = url
        elif field.kind == "text":
            result[field.name] = _optional_text(config.get(field.name), f"config.{field.name}")
    keeps_stored_secrets = same_connection(descriptor, result, stored)
    for field in descriptor.secret_fields:
        stored_token = stored.get(f"{field.name}_encrypted")
        value = config.get(field.name)
        if not _blank(value):
            result[f"{field.name}_encrypted"] = crypto.encrypt(_secret(value, field))
        elif value is not None and not isinstance(value, str):
            raise validation_error(f"config.{field.name}", f"The {field.label.lower()} must be text.")
        elif stored_token and keeps_stored_secrets:
            result[f"{field.name}_encrypted"] = stored_token
        elif field.required and stored_token:
            raise KeyNotReusable(
                f"config.{field.name}",
                f"Enter the {field.label} again: a saved {field.label} is only sent to the address it "
                f"was saved for ({_connection_in_words(descriptor, stored)}), and this one differs.",
            )
        elif field.required:
            raise validation_error(f"config.{field.name}", field.missing_message or f"Enter the {field.label}.")
    return result
