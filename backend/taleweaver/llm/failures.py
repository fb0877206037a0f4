"""What each failure of a request to a backend means to the user, written once for every backend:
a request that got no answer (the transport's failure kinds), and an answer with an error status
(the backend's own rules first — its descriptor's `error_rules` — then the rules all share).
Every error says what happened in the user's words and what to do next."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from taleweaver.llm import server_identity, transport
from taleweaver.llm.descriptor import implemented
from taleweaver.llm.errors import (
    BackendAuthError,
    BackendError,
    BackendRejected,
    BackendTimeout,
    BackendUnreachable,
    ContextLengthExceeded,
    LLMError,
    ModelNotFound,
    RateLimited,
    context_overflow_lengths,
)

# What web servers answer a plain-HTTP request on an HTTPS port (nginx, Go's net/http, Caddy).
_HTTP_TO_HTTPS = re.compile(r"plain HTTP request was sent to HTTPS|HTTP request to an HTTPS server", re.I)
# How much of a backend's error text the shared rules quote (a backend's own rule may quote more).
SHORT_MESSAGE = 300


@dataclass(frozen=True)
class Answer:
    """An answer with an error status, as the rules read it."""

    status: int
    message: str  # the error text the backend put in its body, secrets redacted
    error_code: str  # the body's error.code (or error.type), "" when it has none
    text: str  # the whole body, its numbers and codes included (not shown to the user)
    headers: Any
    reason: str

    @property
    def short_message(self) -> str:
        return self.message[:SHORT_MESSAGE]


def read_answer(client: Any, response: transport.Response) -> Answer:
    """The parts of an error answer the rules read."""
    try:
        text = response.text
    except transport.TransportError:
        text = ""
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code") or error.get("type") or "") if isinstance(error, dict) else ""
    if isinstance(error, dict):
        error = error.get("message") or json.dumps(error)
    if not error and isinstance(body, dict):
        error = body.get("message") or body.get("detail")
    message = str(error or body) if body is not None else (text.strip() or response.reason or "")
    return Answer(response.status_code, client.redact(message)[:1000], code, text[:2000], response.headers,
                  response.reason or "")


def for_answer(client: Any, response: transport.Response) -> LLMError:
    """The error for a backend's answer with a 3xx, 4xx or 5xx status."""
    answer = read_answer(client, response)
    for rule in client.descriptor.error_rules:
        error = rule(answer, client)
        if error is not None:
            return error
    return _redirect_or_refusal(client, answer) or _by_status(client, answer)


def _redirect_or_refusal(client: Any, answer: Answer) -> LLMError | None:
    status, message = answer.status, answer.short_message
    if 300 <= status < 400:
        return BackendError(
            f"{client.label} at {client.base_url} redirected to "
            f"{answer.headers.get('Location', 'another address')}; redirects are not followed.",
            hint="Put the final address in the server URL in Settings.",
            step="http",
        )
    if status in (401, 403):
        return BackendAuthError(f"{client.label} refused the credentials (HTTP {status}): {message}",
                                hint=client.hints.auth)
    overflow = context_overflow(client, answer.text or message)
    if overflow:
        return overflow
    if status == 404 and _names_a_missing_model(message):
        return ModelNotFound(f"{client.label}: {message}", hint=client.hints.model)
    if status == 400 and _HTTP_TO_HTTPS.search(message):
        return BackendUnreachable(
            f"{client.label} at {client.base_url} wants a secure connection: it answered “{message}”.",
            hint="Change http:// to https:// at the start of the URL in Settings.",
            code="http_to_https_server",
            step="http",
        )
    return None


def _by_status(client: Any, answer: Answer) -> LLMError:
    status, message = answer.status, answer.short_message
    if status in (404, 405):
        return no_such_endpoint(client, status, message)
    if status == 429:
        return RateLimited(
            f"{client.label} is rate-limiting requests: {message}",
            hint="Wait a moment and try again, or check your plan's limits and quota.",
            retry_after=answer.headers.get("Retry-After"),
        )
    if 400 <= status < 500:
        return BackendRejected(f"{client.label} rejected the request (HTTP {status}): {message}",
                               http_status=status)
    return BackendError(
        f"{client.label} failed with HTTP {status}: {message}",
        hint="The backend itself reported an error; check its log window or try again.",
    )


def _names_a_missing_model(message: str) -> bool:
    lowered = message.lower()
    return "model" in lowered and ("not found" in lowered or "does not exist" in lowered)


def no_such_endpoint(client: Any, status: int, message: str) -> LLMError:
    """A 404/405 for one of the backend's own endpoints: the wrong server (when its answer says
    which it is) or a wrong URL, which `client.explain_wrong_url` can probe further."""
    answered = server_identity.from_answer(message)
    if answered and answered[1] != client.backend_type:
        return wrong_server(client, answered, status, message)
    return BackendRejected(
        f"{client.label} at {client.base_url} does not have the endpoint Taleweaver asked for "
        f"(HTTP {status}: {message}).",
        hint=client.missing_endpoint_hint(),
        code="wrong_url",
        http_status=status,
        step="http",
    )


def wrong_server(client: Any, answered: tuple[str, str], status: int, message: str) -> LLMError:
    """Another kind of server answered at the backend's URL: which one, and what to choose."""
    name, backend_type = answered
    label = implemented(backend_type).label
    detail = message.split("(HTTP", 1)[-1].rstrip(").") if "(HTTP" in message else f" {status}: {message}"
    return BackendRejected(
        f"The server at {client.base_url} is {name}, not {client.label} (HTTP{detail}).",
        hint=f"Choose “{label}” as the backend in Settings for this address, or change the URL "
        f"to where {client.label} listens.",
        code="wrong_server",
        http_status=status,
        step="http",
    )


def context_overflow(client: Any, text: str) -> ContextLengthExceeded | None:
    """The error for a backend's "prompt longer than the context" answer, else None.

    Recognised: OpenAI's `context_length_exceeded` (and vLLM's "maximum context length is N
    tokens"), llama.cpp's `exceed_context_size_error` with `n_prompt_tokens` / `n_ctx`, LM
    Studio's "Trying to keep the first N tokens when context the overflows ... context length
    of only M tokens" and "(n_keep: N >= n_ctx: M)", Ollama's "input length exceeds the
    context length".
    """
    lengths = context_overflow_lengths(text)
    if lengths is None:
        return None
    prompt, context = lengths
    if context and prompt:
        size = f"The prompt is {prompt:,} tokens long but the model's context holds {context:,} tokens."
    elif context:
        size = f"The prompt is longer than the model's context of {context:,} tokens."
    else:
        size = "The prompt is longer than the model's context."
    return ContextLengthExceeded(
        f"{client.label}: {size} Shorten the prompt (or the story so far), or ask for fewer "
        "tokens in the answer.",
        hint=client.hints.context,
    )


def for_transport_failure(client: Any, exc: transport.TransportError, url: str,
                          timeout: tuple[float, float]) -> LLMError:
    """The error for a request that got no HTTP answer."""
    label, base_url = client.label, client.base_url
    if isinstance(exc, transport.ProxyFailed):
        return _proxy_failure(exc, urlsplit(url).hostname or url)
    if isinstance(exc, transport.NameNotResolved):
        return BackendUnreachable(f"The address {urlsplit(url).hostname!r} of {label} could not be resolved.",
                                  hint="Check the spelling of the server URL in Settings.", step="resolve")
    if isinstance(exc, transport.ConnectTimedOut):
        return BackendTimeout(f"{label} at {base_url} did not accept a connection within {timeout[0]:g} s.",
                              hint=client.hints.unreachable, step="connect")
    if isinstance(exc, transport.ReadTimedOut):
        return BackendTimeout(
            f"{label} at {base_url} accepted the connection but sent no answer within {timeout[1]:g} s.",
            hint="The model may still be loading or the machine is busy. Try again, or raise "
            "the first-token timeout in Settings.",
            step="http",
        )
    if isinstance(exc, transport.ConnectionDropped):
        return BackendError(f"{label} at {base_url} closed the connection without answering.",
                            hint=f"Is this URL really a {label} server? Check its log window.", step="http")
    if isinstance(exc, transport.TlsFailed):
        return _tls_failure(client, exc)
    if isinstance(exc, transport.ConnectionRefused):
        return BackendUnreachable(f"{label} did not answer at {base_url}: the connection was refused.",
                                  hint=client.hints.unreachable, step="connect")
    return BackendError(client.redact(f"Request to {label} failed: {exc}"), step="http")


def _tls_failure(client: Any, exc: transport.TlsFailed) -> LLMError:
    """A failed TLS handshake, told as what to change in the URL or on the machine."""
    label, base_url = client.label, client.base_url
    if exc.plain_http:
        return BackendUnreachable(
            f"{label} at {base_url} speaks plain HTTP, not HTTPS: the secure connection was "
            "answered in plain text.",
            hint="Change https:// to http:// at the start of the URL in Settings.",
            code="https_to_http_server",
            step="connect",
        )
    if exc.untrusted:
        return BackendUnreachable(
            f"{label} at {base_url} has a certificate this machine does not trust (self-signed, "
            "expired, or issued for another name).",
            hint="Use the name the certificate was issued for, install its certificate authority on "
            "this machine (or name its file in SSL_CERT_FILE or REQUESTS_CA_BUNDLE, as for a company "
            "proxy that inspects TLS), or use http:// if the server is on your own network.",
            code="tls_certificate_untrusted",
            step="connect",
        )
    return BackendUnreachable(
        client.redact(f"The secure (https://) connection to {label} at {base_url} failed: {exc}"),
        hint="Check that the server really serves https:// on this port; if not, use http://.",
        step="connect",
    )


def _proxy_failure(exc: transport.ProxyFailed, host: str) -> BackendUnreachable:
    """The environment's proxy would not carry the request: the variable to check, never its
    credentials."""
    proxy, variable = exc.proxy, exc.variable
    if exc.wants_credentials:
        given = "refused the user name and password in its URL" if exc.with_credentials else \
            "asks for a user name and password, and its URL has none"
        return BackendUnreachable(
            f"The proxy {proxy} (from {variable}) {given} (HTTP 407).",
            hint=f"Put the proxy's user name and password in {variable} as http://user:password@host:port "
            "(with special characters percent-encoded), then restart Taleweaver.",
            code="proxy_auth_required",
            step="connect",
        )
    if exc.status:
        what = f"refused to connect to {host} (HTTP {exc.status} {exc.reason})".rstrip()
    else:
        what = exc.reason
    return BackendUnreachable(
        f"The proxy {proxy} (from {variable}) {what}.",
        hint=f"Check {variable}: the proxy's address, that it is running and lets this machine reach "
        f"{host}. A server that should be reached directly, without the proxy, belongs in NO_PROXY.",
        code="proxy_refused",
        step="connect",
    )
