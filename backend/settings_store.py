"""Each user's LLM settings: validation, storage (keys encrypted) and the public, masked view."""
from __future__ import annotations

import ipaddress
import json
import math
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

from flask import current_app

import crypto
import wsl
from db import get_db
from errors import ApiError, validation_error
from openai_service import OPENAI_BASE_URL

BACKEND_TYPES = ("lmstudio", "ollama", "chatgpt")
BACKEND_LABELS = {"lmstudio": "LM Studio", "ollama": "Ollama", "chatgpt": "ChatGPT"}
DEFAULT_URLS = {"lmstudio": "http://localhost:1234", "ollama": "http://localhost:11434"}
TIMEOUT_FIELDS = ("connect_timeout", "first_token_timeout", "idle_timeout")
DEFAULT_TIMEOUTS = {
    "lmstudio": {"connect_timeout": 5, "first_token_timeout": 300, "idle_timeout": 60},
    "ollama": {"connect_timeout": 5, "first_token_timeout": 300, "idle_timeout": 60},
    "chatgpt": {"connect_timeout": 5, "first_token_timeout": 120, "idle_timeout": 60},
}
MIN_TIMEOUT = 0.1
MAX_TIMEOUT = 3600
# Path endings users paste from API docs that are not part of the server's address.
_API_SUFFIXES = ("/v1", "/api", "/api/v0")
_KNOWN_KEYS = {
    "lmstudio": {"url", *TIMEOUT_FIELDS},
    "ollama": {"url", *TIMEOUT_FIELDS},
    "chatgpt": {"api_key", "base_url", "organization", *TIMEOUT_FIELDS},
}


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_backend_type(value) -> str:
    if not isinstance(value, str) or not value:
        raise validation_error(
            "backend_type", "Choose a backend: one of lmstudio, ollama or chatgpt."
        )
    if value not in BACKEND_TYPES:
        raise validation_error(
            "backend_type", f"Unknown backend type {value[:40]!r}: use lmstudio, ollama or chatgpt."
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
    """A blank key with a new address: the stored key must not be sent to a server it was not saved for."""

    def __init__(self, field: str, message: str):
        super().__init__(400, "api_key_required", message, field=field)


def same_address(config: dict, stored: dict) -> bool:
    """Whether a config sends requests where the stored one does (a key is bound to that)."""
    return config.get("base_url") == stored.get("base_url", OPENAI_BASE_URL) and config.get(
        "organization"
    ) == stored.get("organization")


def validate_config(backend_type: str, config, stored: dict | None) -> dict:
    """The config to store for a request's config; a blank API key keeps the stored one."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise validation_error("config", "config must be an object, e.g. {\"url\": \"http://localhost:1234\"}.")
    unknown = sorted(set(config) - _KNOWN_KEYS[backend_type])
    if unknown:
        raise validation_error(
            f"config.{unknown[0]}",
            f"{BACKEND_LABELS[backend_type]} has no setting {unknown[0]!r}; it takes "
            + ", ".join(sorted(_KNOWN_KEYS[backend_type]))
            + ".",
        )
    stored = stored or {}
    result: dict = {}
    for name in TIMEOUT_FIELDS:
        if config.get(name) is not None:
            result[name] = _timeout(config[name], f"config.{name}")
        else:
            result[name] = stored.get(name, DEFAULT_TIMEOUTS[backend_type][name])
    if backend_type in DEFAULT_URLS:
        raw = config.get("url")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raw = stored.get("url") or DEFAULT_URLS[backend_type]
        result["url"] = normalise_url(raw, "config.url", strip_api_suffix=True)
        check_host_allowed(result["url"], "config.url")
        return result
    base = config.get("base_url")
    if base is None or (isinstance(base, str) and not base.strip()):
        base = stored.get("base_url") or OPENAI_BASE_URL
    result["base_url"] = normalise_url(base, "config.base_url", strip_api_suffix=False)
    check_host_allowed(result["base_url"], "config.base_url")
    result["organization"] = _optional_text(config.get("organization"), "config.organization")
    key = config.get("api_key")
    if key is not None and not isinstance(key, str):
        raise validation_error("config.api_key", "The API key must be text.")
    key = (key or "").strip()
    if key:
        if len(key) < 8 or len(key) > 512 or any(c.isspace() for c in key):
            raise validation_error(
                "config.api_key",
                "That does not look like an API key (8 to 512 characters, no spaces).",
            )
        result["api_key_encrypted"] = crypto.encrypt(key)
    elif stored.get("api_key_encrypted"):
        if not same_address(result, stored):
            raise KeyNotReusable(
                "config.api_key",
                "Enter the API key again: a saved key is only sent to the address it was saved for "
                f"({stored.get('base_url', OPENAI_BASE_URL)}"
                + (f", organization {stored['organization']}" if stored.get("organization") else "")
                + "), and this one differs.",
            )
        result["api_key_encrypted"] = stored["api_key_encrypted"]
    else:
        raise validation_error("config.api_key", "Enter your OpenAI API key (it starts with sk-).")
    return result


def public_config(backend_type: str, stored: dict) -> dict:
    """The stored config as a response may show it: no key, only its mask."""
    shown = {name: stored.get(name, DEFAULT_TIMEOUTS[backend_type][name]) for name in TIMEOUT_FIELDS}
    if backend_type in DEFAULT_URLS:
        shown["url"] = stored.get("url", DEFAULT_URLS[backend_type])
        return shown
    shown["base_url"] = stored.get("base_url", OPENAI_BASE_URL)
    shown["organization"] = stored.get("organization")
    token = stored.get("api_key_encrypted")
    shown["has_api_key"] = bool(token)
    try:
        shown["api_key_masked"] = crypto.mask_secret(crypto.decrypt(token)) if token else None
    except crypto.SecretKeyError:
        shown["api_key_masked"] = None
        shown["key_error"] = "The stored key cannot be decrypted with this server's encryption key."
    return shown


def service_options(backend_type: str, stored: dict) -> dict:
    """Keyword arguments for the backend's service class, with the key decrypted."""
    options = {name: stored.get(name, DEFAULT_TIMEOUTS[backend_type][name]) for name in TIMEOUT_FIELDS}
    options["wsl_fallback"] = current_app.config.get("WSL_FALLBACK", True)
    if backend_type in DEFAULT_URLS:
        options["base_url"] = stored.get("url", DEFAULT_URLS[backend_type])
    else:
        options["base_url"] = stored.get("base_url", OPENAI_BASE_URL)
        options["organization"] = stored.get("organization")
        token = stored.get("api_key_encrypted")
        options["api_key"] = crypto.decrypt(token) if token else ""
    return options


def _row_to_dict(row) -> dict:
    config = json.loads(row["config_json"] or "{}")
    return {
        "id": row["id"],
        "backend_type": row["backend_type"],
        "config": config,
        "default_model": config.pop("default_model", None),
        "is_active": bool(row["is_active"]),
        "last_test": json.loads(row["last_test_json"]) if row["last_test_json"] else None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def all_rows(user_id: int) -> dict[str, dict]:
    """Every saved backend of the user, by backend type."""
    rows = get_db().execute(
        "SELECT * FROM settings WHERE user_id = ? ORDER BY backend_type", (user_id,)
    ).fetchall()
    return {row["backend_type"]: _row_to_dict(row) for row in rows}


def row_for(user_id: int, backend_type: str) -> dict | None:
    row = get_db().execute(
        "SELECT * FROM settings WHERE user_id = ? AND backend_type = ?", (user_id, backend_type)
    ).fetchone()
    return _row_to_dict(row) if row else None


def active_row(user_id: int) -> dict | None:
    row = get_db().execute(
        "SELECT * FROM settings WHERE user_id = ? AND is_active = 1", (user_id,)
    ).fetchone()
    return _row_to_dict(row) if row else None


def settings_version(user_id: int) -> int:
    """A number that changes whenever the user's settings change (any process)."""
    row = get_db().execute("SELECT settings_version FROM users WHERE id = ?", (user_id,)).fetchone()
    return row[0] if row else -1


def save(user_id: int, backend_type: str, config: dict, default_model: str | None) -> None:
    """Store the backend's config and make it the user's only active backend, atomically."""
    stored = dict(config, default_model=default_model)
    stamp = now_iso()
    db = get_db()
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "UPDATE settings SET is_active = 0 WHERE user_id = ? AND is_active = 1 AND backend_type != ?",
            (user_id, backend_type),
        )
        db.execute(
            """INSERT INTO settings (user_id, backend_type, config_json, is_active, created_at, updated_at)
               VALUES (?, ?, ?, 1, ?, ?)
               ON CONFLICT (user_id, backend_type) DO UPDATE SET
                 config_json = excluded.config_json, is_active = 1, updated_at = excluded.updated_at""",
            (user_id, backend_type, json.dumps(stored), stamp, stamp),
        )
        db.execute("UPDATE users SET settings_version = settings_version + 1 WHERE id = ?", (user_id,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def record_test(user_id: int, backend_type: str, outcome: dict) -> None:
    """Remember the last connection test of a saved backend."""
    db = get_db()
    db.execute(
        "UPDATE settings SET last_test_json = ? WHERE user_id = ? AND backend_type = ?",
        (json.dumps(outcome), user_id, backend_type),
    )


def public_settings(user_id: int) -> dict:
    """The user's settings as GET /api/settings/llm answers them."""
    rows = all_rows(user_id)
    backends = {
        backend_type: {
            "config": public_config(backend_type, row["config"]),
            "default_model": row["default_model"],
            "is_active": row["is_active"],
            "updated_at": row["updated_at"],
            "last_test": row["last_test"],
        }
        for backend_type, row in rows.items()
    }
    active = next((row for row in rows.values() if row["is_active"]), None)
    if active is None:
        return {"backend_type": None, "config": {}, "default_model": None, "updated_at": None, "backends": backends}
    return {
        "backend_type": active["backend_type"],
        "config": backends[active["backend_type"]]["config"],
        "default_model": active["default_model"],
        "updated_at": active["updated_at"],
        "backends": backends,
    }


def rotate_all_secrets() -> int:
    """Re-encrypt every stored API key with the first configured key; returns how many."""
    db = get_db()
    db.execute("BEGIN IMMEDIATE")
    count = 0
    try:
        for row in db.execute("SELECT id, config_json FROM settings").fetchall():
            config = json.loads(row["config_json"] or "{}")
            token = config.get("api_key_encrypted")
            if token:
                config["api_key_encrypted"] = crypto.rotate(token)
                db.execute("UPDATE settings SET config_json = ? WHERE id = ?", (json.dumps(config), row["id"]))
                count += 1
        db.execute("UPDATE users SET settings_version = settings_version + 1")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return count
