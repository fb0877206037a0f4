"""Each user's LLM settings as stored: one row per backend type (keys encrypted), the active one,
the versions that key everything derived from them, connection tests, and the public, masked view."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, NamedTuple

from flask import current_app

from taleweaver.llm import registry as backends
from taleweaver.settings.validation import same_connection
from taleweaver.storage import crypto
from taleweaver.storage.db import get_db, write_transaction

BACKEND_TYPES = backends.BACKEND_TYPES
BACKEND_LABELS = {backend_type: d.label for backend_type, d in backends.REGISTRY.items()}


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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


class ActiveSettings(NamedTuple):
    """One read of the user's settings: their versions, and the active row as read (None when no
    backend is active), turned into a dict only when asked for (`row()`)."""

    settings_version: int
    models_version: int
    read_row: Any = None

    def row(self) -> dict | None:
        return _row_to_dict(self.read_row) if self.read_row is not None else None


def active_settings(user_id: int) -> ActiveSettings:
    """The user's settings versions and active row, in one read."""
    row = get_db().execute(
        """SELECT u.settings_version, u.models_version, s.id, s.backend_type, s.config_json, s.is_active,
                  s.last_test_json, s.created_at, s.updated_at
           FROM users u LEFT JOIN settings s ON s.user_id = u.id AND s.is_active = 1
           WHERE u.id = ?""",
        (user_id,),
    ).fetchone()
    if row is None:
        return ActiveSettings(-1, -1)
    return ActiveSettings(row["settings_version"], row["models_version"], row if row["id"] is not None else None)


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
