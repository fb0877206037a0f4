"""Encryption of stored API keys (Fernet, with key rotation) and masking of secrets."""
from __future__ import annotations

import logging
import os
import re
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

_lock = threading.Lock()
_cache: dict[tuple, MultiFernet] = {}

# Shapes of API keys worth hiding wherever they appear in text we did not write ourselves.
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{3})[A-Za-z0-9_\-]{6,}")


class SecretKeyError(RuntimeError):
    """The encryption key is missing, malformed or not the one the data was stored with."""


def mask_secret(secret: str | None) -> str | None:
    """Show enough of a key to recognise it: first three and last character."""
    if not secret:
        return None
    if len(secret) < 8:
        return "*" * len(secret)
    return secret[:3] + "*" * (len(secret) - 4) + secret[-1]


def redact(text: str, secrets=()) -> str:
    """Text with the given secrets, and anything shaped like an API key, masked."""
    if not text:
        return text
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, mask_secret(secret) or "")
    return _KEY_PATTERN.sub(lambda m: m.group(1) + "****", text)


class RedactingFilter(logging.Filter):
    """Masks API-key-shaped strings in every log record before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _key_file_path(app) -> str:
    return app.config.get("SECRET_KEY_FILE") or os.path.join(app.instance_path, "secret.key")


def _load_keys(app) -> list[bytes]:
    configured = app.config.get("SECRET_KEYS") or []
    if configured:
        return [k.encode() if isinstance(k, str) else k for k in configured]
    path = _key_file_path(app)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker created it first
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key() + b"\n")
    with open(path, "rb") as handle:
        return [line.strip() for line in handle.read().splitlines() if line.strip()]


def fernet(app=None) -> MultiFernet:
    """The MultiFernet for the app: the first key encrypts, every key decrypts."""
    app = app or current_app._get_current_object()
    cache_key = (tuple(app.config.get("SECRET_KEYS") or ()), _key_file_path(app))
    cached = _cache.get(cache_key)
    if cached is not None:
        return cached
    with _lock:
        keys = _load_keys(app)
        if not keys:
            raise SecretKeyError(
                "No encryption key is configured: set TALEWEAVER_SECRET_KEYS or restore "
                f"{_key_file_path(app)}."
            )
        try:
            multi = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError):
            raise SecretKeyError(
                "The encryption key is malformed: each key in TALEWEAVER_SECRET_KEYS (or the key "
                "file) must be a 32-byte url-safe base64 Fernet key "
                "(make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')."
            ) from None
        _cache[cache_key] = multi
        return multi


def encrypt(plaintext: str) -> str:
    """A Fernet token for the text, with the first configured key."""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The text inside a Fernet token made with any configured key."""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            "A stored API key cannot be decrypted with the configured encryption key. Restore the "
            "key it was saved with (TALEWEAVER_SECRET_KEYS or instance/secret.key), or enter the "
            "API key again in Settings. Nothing stored was changed."
        ) from None


def rotate(token: str) -> str:
    """The same secret re-encrypted with the first configured key."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            "A stored API key cannot be decrypted with any configured key; add the old key to "
            "TALEWEAVER_SECRET_KEYS (after the new one) and rotate again."
        ) from None


def clear_cache() -> None:
    """Forget loaded keys (after the key configuration changed)."""
    with _lock:
        _cache.clear()
