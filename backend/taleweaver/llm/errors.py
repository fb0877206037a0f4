"""The errors LLM services raise: one base class and a handful of precise kinds, each knowing
the HTTP status, the error code and the OpenAI error type it is answered with."""
from __future__ import annotations

import re


class LLMError(Exception):
    """A failure talking to an LLM backend, with what the user should do next."""

    code = "backend_error"
    http_status = 502
    openai_type = "api_error"
    step = "http"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        step: str | None = None,
        http_status: int | None = None,
        code: str | None = None,
        retry_after: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if step:
            self.step = step
        if http_status:
            self.http_status = http_status
        if code:
            self.code = code
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


class BackendNotConfigured(LLMError):
    code = "backend_not_configured"
    http_status = 400
    openai_type = "invalid_request_error"
    step = "config"


class BackendUnreachable(LLMError):
    code = "backend_unreachable"
    step = "connect"


class BackendTimeout(LLMError):
    code = "backend_timeout"
    http_status = 504
    openai_type = "timeout_error"


class BackendAuthError(LLMError):
    code = "backend_auth_failed"
    openai_type = "authentication_error"
    step = "auth"


class ModelNotFound(LLMError):
    code = "model_not_found"
    http_status = 404
    openai_type = "invalid_request_error"
    step = "models"


class BackendError(LLMError):
    """The backend answered, but not with something usable (5xx, bad data, a dropped stream)."""


class RateLimited(BackendError):
    code = "rate_limited"
    http_status = 429
    openai_type = "rate_limit_error"


class BackendRejected(BackendError):
    """The backend refused the request itself (an upstream 4xx other than auth/model/rate)."""

    code = "invalid_request"
    http_status = 400
    openai_type = "invalid_request_error"


class ContextLengthExceeded(BackendRejected):
    """The prompt (with the room asked for the answer) does not fit the model's context."""

    code = "context_length_exceeded"
    step = "generate"


# Numbers in the context-overflow messages of the servers.
_PROMPT_TOKENS = re.compile(
    r"(?:request \((\d+) tokens\)|keep the first (\d+) tokens|n_keep[:\s(]*(\d+)|you requested (\d+) tokens"
    r"|resulted in (\d+) tokens)"
)
_CONTEXT_TOKENS = re.compile(
    r"(?:context size \((\d+) tokens\)|context length of only (\d+) tokens|n_ctx[:\s(]*(\d+)"
    r"|maximum context length is (\d+) tokens)"
)
_OVERFLOW_WORDS = (
    "context_length_exceeded",          # OpenAI's code (and vLLM's wording below)
    "exceed_context_size_error",        # llama.cpp's type
    "exceeds the available context size",
    "maximum context length",           # OpenAI, vLLM
    "when context the overflows",       # LM Studio (sic)
    "greater than the context length",  # LM Studio
    "cannot truncate prompt with n_keep",
    "input length exceeds the context length",  # Ollama (with truncate: false)
)


def _first_number(pattern: re.Pattern, text: str) -> int | None:
    match = pattern.search(text)
    if not match:
        return None
    return int(next(group for group in match.groups() if group))


def context_overflow_lengths(text: str) -> tuple[int | None, int | None] | None:
    """(prompt tokens, context tokens) when a backend's error text says the prompt does not fit
    the context (either number None when the text does not give it), else None."""
    lowered = text.lower()
    if not any(word in lowered for word in _OVERFLOW_WORDS):
        return None
    return _first_number(_PROMPT_TOKENS, lowered), _first_number(_CONTEXT_TOKENS, lowered)


__all__ = [
    "LLMError",
    "BackendNotConfigured",
    "BackendUnreachable",
    "BackendTimeout",
    "BackendAuthError",
    "ModelNotFound",
    "BackendError",
    "RateLimited",
    "BackendRejected",
    "ContextLengthExceeded",
    "context_overflow_lengths",
]
