"""Each user's LLM settings: validation, storage (keys encrypted) and the public, masked view."""
from __future__ import annotations

import ipaddress
import json
import math
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

from flask import current_app

from taleweaver.llm import registry as backends
from taleweaver.storage import crypto
from taleweaver.llm import wsl
from taleweaver.llm.descriptor import BackendDescriptor, ConfigField
from taleweaver.storage.db import get_db, write_transaction
from taleweaver.errors import ApiError, validation_error

BACKEND_TYPES = backends.BACKEND_TYPES
BACKEND_LABELS = {backend_type: d.label for backend_type, d in backends.REGISTRY.items()}
MIN_TIMEOUT = 0.1
MAX_TIMEOUT = 3600
# Path endings users paste from API docs that are not part of the server's address.
_API_SUFFIXES = ("/v1", "/api", "/api/v0")


def _types_in_words() -> str:
    names = list(BACKEND_TYPES)
    return ", ".join(names[:-1]) + " or " + names[-1]


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def public_config(backend_type: str, stored: dict) -> dict:
    """The stored config as a response may show it: no secret, only whether there is one and
    its mask (`has_<name>`, `<name>_masked`)."""
    descriptor = backends.descriptor(backend_type)
    shown: dict = {}
    for field in descriptor.fields:
        if field.kind in ("seconds", "url"):
            shown[field.name] = stored.get(field.name, field.default)
        elif field.kind == "text":
            shown[field.name] = stored.get(field.name)
    for field in descriptor.secret_fields:
        token = stored.get(f"{field.name}_encrypted")
        shown[f"has_{field.name}"] = bool(token)
        try:
            shown[f"{field.name}_masked"] = crypto.mask_secret(crypto.decrypt(token)) if token else None
        except crypto.SecretKeyError:
            shown[f"{field.name}_masked"] = None
            shown["key_error"] = "The stored key cannot be decrypted with this server's encryption key."
    return shown


def secrets_of(backend_type: str, stored: dict) -> tuple[str, ...]:
    """The plaintext secrets of a stored config, to mask wherever they might appear."""
    found = []
    for field in backends.descriptor(backend_type).secret_fields:
        token = stored.get(f"{field.name}_encrypted")
        if token:
            try:
                found.append(crypto.decrypt(token))
            except crypto.SecretKeyError:
                continue
    return tuple(found)


def service_options(backend_type: str, stored: dict) -> dict:
    """Keyword arguments for the backend's service class, secrets decrypted: the URL field as
    `base_url`, every other field by its name."""
    descriptor = backends.descriptor(backend_type)
    options: dict = {"wsl_fallback": current_app.config.get("WSL_FALLBACK", True)}
    for field in descriptor.fields:
        if field.kind == "url":
            options["base_url"] = stored.get(field.name, field.default)
        elif field.secret:
            token = stored.get(f"{field.name}_encrypted")
            options[field.name] = crypto.decrypt(token) if token else ""
        elif field.kind == "seconds":
            options[field.name] = stored.get(field.name, field.default)
        else:
            options[field.name] = stored.get(field.name)
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
    return versions(user_id)[0]


def versions(user_id: int) -> tuple[int, int]:
    """(settings version, model-list version) of the user, read at once: the cache keys of
    everything derived from the settings (see llm_cache)."""
    row = get_db().execute(
        "SELECT settings_version, models_version FROM users WHERE id = ?", (user_id,)
    ).fetchone()
    return (row[0], row[1]) if row else (-1, -1)


def note_models_refreshed(user_id: int) -> int:
    """Record that the user asked for a fresh model list; returns the new model-list version,
    which every worker process's next request sees (its cached list no longer matches)."""
    db = get_db()
    db.execute("UPDATE users SET models_version = models_version + 1 WHERE id = ?", (user_id,))
    row = db.execute("SELECT models_version FROM users WHERE id = ?", (user_id,)).fetchone()
    return row[0] if row else -1


def same_test_subject(backend_type: str, candidate: dict, stored: dict | None) -> bool:
    """Whether a config reaches the same server with the same secrets as another one, so that a
    connection test of one is a test of the other."""
    descriptor = backends.descriptor(backend_type)
    if stored is None or not same_connection(descriptor, candidate, stored):
        return False
    for field in descriptor.secret_fields:
        name = f"{field.name}_encrypted"
        if candidate.get(name) == stored.get(name):
            continue
        try:
            if crypto.decrypt(candidate[name]) != crypto.decrypt(stored[name]):
                return False
        except (KeyError, crypto.SecretKeyError):
            return False
    return True


def _same_values(backend_type: str, candidate: dict, other: dict) -> bool:
    """Whether two configs hold exactly the same values (secrets compared decrypted)."""
    def plain(config: dict) -> dict:
        return {k: v for k, v in config.items() if not k.endswith("_encrypted")}

    return plain(candidate) == plain(other) and same_test_subject(backend_type, candidate, other)


def remember_test(user_id: int, backend_type: str, config: dict, outcome: dict) -> None:
    """Keep the outcome of a test of these (maybe unsaved) values, in case they are saved next."""
    get_db().execute(
        """INSERT INTO connection_tests (user_id, backend_type, config_json, outcome_json) VALUES (?, ?, ?, ?)
           ON CONFLICT (user_id, backend_type) DO UPDATE SET
             config_json = excluded.config_json, outcome_json = excluded.outcome_json""",
        (user_id, backend_type, json.dumps(config), json.dumps(outcome)),
    )


def _last_test_after_save(db, user_id: int, backend_type: str, config: dict) -> tuple[bool, dict | None]:
    """(whether the row's last test changes, to what) when `config` is saved: the test of exactly
    these values if there was one; none when the values reach another server than the saved ones."""
    tested = db.execute(
        "SELECT config_json, outcome_json FROM connection_tests WHERE user_id = ? AND backend_type = ?",
        (user_id, backend_type),
    ).fetchone()
    if tested and _same_values(backend_type, config, json.loads(tested["config_json"])):
        return True, json.loads(tested["outcome_json"])
    previous = db.execute(
        "SELECT config_json FROM settings WHERE user_id = ? AND backend_type = ?", (user_id, backend_type)
    ).fetchone()
    if previous and same_test_subject(backend_type, config, json.loads(previous["config_json"])):
        return False, None
    return True, None


def save(user_id: int, backend_type: str, config: dict, default_model: str | None) -> None:
    """Store the backend's config and make it the user's only active backend, atomically."""
    stored = dict(config, default_model=default_model)
    stamp = now_iso()
    db = get_db()
    with write_transaction(db):
        test_changes, last_test = _last_test_after_save(db, user_id, backend_type, config)
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
        if test_changes:
            db.execute(
                "UPDATE settings SET last_test_json = ? WHERE user_id = ? AND backend_type = ?",
                (json.dumps(last_test) if last_test else None, user_id, backend_type),
            )
        db.execute("UPDATE users SET settings_version = settings_version + 1 WHERE id = ?", (user_id,))


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
    """Re-encrypt every stored secret with the first configured key; returns how many."""
    db = get_db()
    count = 0
    with write_transaction(db):
        for row in db.execute("SELECT id, config_json FROM settings").fetchall():
            config = json.loads(row["config_json"] or "{}")
            names = [name for name in config if name.endswith("_encrypted") and config[name]]
            for name in names:
                config[name] = crypto.rotate(config[name])
                count += 1
            if names:
                db.execute("UPDATE settings SET config_json = ? WHERE id = ?", (json.dumps(config), row["id"]))
        db.execute("UPDATE users SET settings_version = settings_version + 1")
    return count
