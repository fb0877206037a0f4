"""The LLMService base class every backend extends: the provider interface, and the shared
machinery a provider plugs into (sending through its transport, mapping answers to errors).

The errors live in llm_errors, the transport in transport, the connection diagnosis in
diagnosis and the WSL fallback in wsl; their names stay importable from here."""
from __future__ import annotations

import json
import logging
import re
from abc import ABC, abstractmethod
from typing import Any, Iterator
from urllib.parse import urlsplit

from taleweaver.llm import diagnosis
from taleweaver.llm.descriptor import implemented
from taleweaver.llm import server_identity
from taleweaver.llm.stream import Stream
from taleweaver.llm import transport
from taleweaver.llm import wsl
from taleweaver.storage.crypto import redact
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
from taleweaver.llm.transport import Response

# What web servers answer a plain-HTTP request on an HTTPS port (nginx, Go's net/http, Caddy).
_HTTP_TO_HTTPS = re.compile(r"plain HTTP request was sent to HTTPS|HTTP request to an HTTPS server", re.I)

log = logging.getLogger("taleweaver.llm")

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_IDLE_TIMEOUT = 60.0

class LLMService(ABC):
    """What every LLM backend offers: its models, a connection test and chat completions."""

    backend_type = ""
    label = ""
    # A server on the user's machine: a localhost URL may need the WSL fallback.
    local_server = False

    def __init__(
        self,
        base_url: str,
        *,
        default_model: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        first_token_timeout: float = 300.0,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        secrets: tuple[str, ...] = (),
        wsl_fallback: bool = True,
        transport: transport.Transport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.wsl_fallback = wsl_fallback
        self.resolved_url: str | None = None
        self.default_model = default_model
        self.connect_timeout = float(connect_timeout)
        self.first_token_timeout = float(first_token_timeout)
        self.idle_timeout = float(idle_timeout)
        self._secrets = tuple(s for s in secrets if s)
        self._transport = transport

    @property
    def transport(self) -> transport.Transport:
        """The transport this service was given, else the process default (see llm/transport.py)."""
        return self._transport or _default_transport()

    # ---- the interface -------------------------------------------------------------
    @abstractmethod
    def get_models(self) -> list[str]:
        """The ids of the models this backend can chat with."""

    def model_details(self) -> list[dict]:
        """Per-model details (size, quantization, state) where the backend gives them."""
        return [{"id": model_id} for model_id in self.get_models()]

    @abstractmethod
    def chat_completion(self, payload: dict, stream: bool = False) -> dict | Stream:
        """An OpenAI chat completion, or when streaming a Stream of OpenAI chunks (llm/stream.py),
        which its holder can abort.

        A streamed chunk is either a dict or the raw JSON bytes of one chunk as an
        OpenAI-compatible backend sent it (forwarded without re-encoding).
        """

    def server_info(self) -> dict | None:
        """Version or similar facts about the server, when the backend tells them."""
        return None

    def model_state(self, model: str | None) -> str | None:
        """Whether a model is loaded, loading or not loaded, when the backend tells."""
        return None

    def context_length(self, model: str | None) -> tuple[int, str]:
        """(tokens of context the model runs with, where that figure comes from): from the
        backend where it says, else the descriptor's documented default."""
        descriptor = getattr(self, "descriptor", None)
        return (descriptor.default_context_length if descriptor else 4096), "default"

    def test_connection(self, generate: bool = False, model: str | None = None) -> dict:
        """Diagnose the connection step by step and report what answered, or what to do."""
        return diagnosis.diagnose(self, generate=generate, model=model)

    # ---- helpers for subclasses ------------------------------------------------------
    def headers(self) -> dict:
        return {}

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def resolve_model(self, payload: dict) -> str:
        model = payload.get("model") or self.default_model
        if not model:
            raise BackendRejected(
                "No model is chosen for this backend: pick a default model in Settings "
                "(a program calling the API can name one in the request's \"model\" field).",
                code="model_required",
                step="generate",
            )
        return model

    def request(self, method: str, path: str, **options) -> Response:
        """Send one HTTP request to the backend (options as for _send) and turn every failure
        into an LLMError; a local server may be found on the Windows host under WSL."""
        return wsl.send_with_fallback(self, self._send, method, path, **options)

    def _send(
        self,
        base_url: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        stream: bool = False,
        read_timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Response:
        url = base_url + path
        timeout = (
            connect_timeout if connect_timeout is not None else self.connect_timeout,
            read_timeout if read_timeout is not None else self.first_token_timeout,
        )
        try:
            response = self.transport.send(
                method, url, json_body=json_body, headers=self.headers(), stream=stream, timeout=timeout
            )
        except transport.NameNotResolved:
            raise BackendUnreachable(
                f"The address {urlsplit(url).hostname!r} of {self.label} could not be resolved.",
                hint="Check the spelling of the server URL in Settings.",
                step="resolve",
            ) from None
        except transport.ConnectTimedOut:
            raise self._connect_timeout(timeout[0]) from None
        except transport.ReadTimedOut:
            raise self._read_timeout(timeout[1]) from None
        except transport.ConnectionDropped:
            raise BackendError(
                f"{self.label} at {self.base_url} closed the connection without answering.",
                hint="Is this URL really a " + self.label + " server? Check its log window.",
                step="http",
            ) from None
        except transport.TlsFailed as exc:
            raise self._tls_error(exc) from None
        except transport.ConnectionRefused:
            raise BackendUnreachable(
                f"{self.label} did not answer at {self.base_url}: the connection was refused.",
                hint=self.unreachable_hint(),
                step="connect",
            ) from None
        except transport.TransportError as exc:
            raise BackendError(self.redact(f"Request to {self.label} failed: {exc}"), step="http") from None
        if response.status_code >= 300:
            try:
                self.raise_for_status(response)
            finally:
                response.close()
        return response

    def _tls_error(self, exc: transport.TlsFailed) -> LLMError:
        """A failed TLS handshake, told as what to change in the URL or on the machine."""
        if exc.plain_http:
            return BackendUnreachable(
                f"{self.label} at {self.base_url} speaks plain HTTP, not HTTPS: the secure "
                "connection was answered in plain text.",
                hint="Change https:// to http:// at the start of the URL in Settings.",
                code="https_to_http_server",
                step="connect",
            )
        if exc.untrusted:
            return BackendUnreachable(
                f"{self.label} at {self.base_url} has a certificate this machine does not trust "
                "(self-signed, expired, or issued for another name).",
                hint="Use the name the certificate was issued for, install its certificate "
                "authority on this machine, or use http:// if the server is on your own network.",
                code="tls_certificate_untrusted",
                step="connect",
            )
        return BackendUnreachable(
            self.redact(f"The secure (https://) connection to {self.label} at {self.base_url} failed: {exc}"),
            hint="Check that the server really serves https:// on this port; if not, use http://.",
            step="connect",
        )

    def _connect_timeout(self, seconds: float) -> BackendTimeout:
        return BackendTimeout(
            f"{self.label} at {self.base_url} did not accept a connection within {seconds:g} s.",
            hint=self.unreachable_hint(),
            step="connect",
        )

    def _read_timeout(self, seconds: float) -> BackendTimeout:
        return BackendTimeout(
            f"{self.label} at {self.base_url} accepted the connection but sent no answer "
            f"within {seconds:g} s.",
            hint="The model may still be loading or the machine is busy. Try again, or raise "
            "the first-token timeout in Settings.",
            step="http",
        )

    def get_json(self, path: str, *, read_timeout: float | None = None, connect_timeout=None) -> Any:
        response = self.request(
            "GET",
            path,
            read_timeout=read_timeout if read_timeout is not None else self.connect_timeout + 10,
            connect_timeout=connect_timeout,
        )
        try:
            return response.json()
        except ValueError:
            raise BackendError(
                f"{self.label} at {self.base_url}{path} answered with something that is not JSON. "
                "Is this URL really a " + self.label + " server?",
                step="http",
            ) from None
        except transport.TransportError:
            raise BackendError(
                f"{self.label} at {self.base_url}{path} broke off its answer.", step="http"
            ) from None

    def optional_json(self, path: str):
        """A JSON answer from an endpoint that only adds detail, or None when it gives none."""
        try:
            return self.get_json(path, read_timeout=self.connect_timeout)
        except Exception:  # noqa: BLE001 - missing detail never fails the caller
            return None

    def upstream_error_message(self, response: Response, limit: int = 300) -> str:
        """The error text the backend put in its body, redacted and shortened."""
        try:
            body = response.json()
        except (ValueError, transport.TransportError):
            try:
                text = (response.text or "").strip()
            except transport.TransportError:
                text = ""
            return self.redact(text[:limit]) if text else response.reason or ""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            error = error.get("message") or json.dumps(error)
        if not error and isinstance(body, dict):
            error = body.get("message") or body.get("detail")
        return self.redact(str(error or body)[:limit])

    def raise_for_status(self, response: Response) -> None:
        """Map a non-2xx backend answer to the typed error for it."""
        status = response.status_code
        message = self.upstream_error_message(response)
        if 300 <= status < 400:
            raise BackendError(
                f"{self.label} at {self.base_url} redirected to "
                f"{response.headers.get('Location', 'another address')}; redirects are not followed.",
                hint="Put the final address in the server URL in Settings.",
                step="http",
            )
        if status in (401, 403):
            raise BackendAuthError(
                f"{self.label} refused the credentials (HTTP {status}): {message}",
                hint=self.auth_hint(),
            )
        overflow = self.context_overflow(_error_text(response) or message)
        if overflow:
            raise overflow
        if status == 404 and self.looks_like_missing_model(message):
            raise ModelNotFound(f"{self.label}: {message}", hint=self.model_hint())
        if status == 400 and _HTTP_TO_HTTPS.search(message):
            raise BackendUnreachable(
                f"{self.label} at {self.base_url} wants a secure connection: it answered "
                f"“{message}”.",
                hint="Change http:// to https:// at the start of the URL in Settings.",
                code="http_to_https_server",
                step="http",
            )
        if status in (404, 405):
            raise self.no_such_endpoint(status, message)
        if status == 429:
            raise RateLimited(
                f"{self.label} is rate-limiting requests: {message}",
                hint="Wait a moment and try again, or check your plan's limits and quota.",
                retry_after=response.headers.get("Retry-After"),
            )
        if 400 <= status < 500:
            raise BackendRejected(
                f"{self.label} rejected the request (HTTP {status}): {message}",
                http_status=status,
            )
        raise BackendError(
            f"{self.label} failed with HTTP {status}: {message}",
            hint="The backend itself reported an error; check its log window or try again.",
        )

    def no_such_endpoint(self, status: int, message: str) -> LLMError:
        """A 404/405 for one of this backend's own endpoints: the wrong server (when its answer
        says which it is) or a wrong URL. `explain_wrong_url` can probe further."""
        answered = server_identity.from_answer(message)
        if answered and answered[1] != self.backend_type:
            return self._wrong_server(answered, status, message)
        return BackendRejected(
            f"{self.label} at {self.base_url} does not have the endpoint Taleweaver asked for "
            f"(HTTP {status}: {message}).",
            hint=self.missing_endpoint_hint(),
            code="wrong_url",
            http_status=status,
            step="http",
        )

    def explain_wrong_url(self, exc: LLMError) -> LLMError:
        """For a `wrong_url` error, ask the server what it is; the wrong-server error when it says."""
        if exc.code != "wrong_url":
            return exc
        answered = server_identity.identify(
            self.transport, self.resolved_url or self.base_url, min(self.connect_timeout, 2.0)
        )
        if answered and answered[1] != self.backend_type:
            return self._wrong_server(answered, exc.http_status, exc.message)
        return exc

    def _wrong_server(self, answered: tuple[str, str], status: int, message: str) -> LLMError:
        name, backend_type = answered
        label = implemented(backend_type).label
        detail = message.split("(HTTP", 1)[-1].rstrip(").") if "(HTTP" in message else f" {status}: {message}"
        return BackendRejected(
            f"The server at {self.base_url} is {name}, not {self.label} (HTTP{detail}).",
            hint=f"Choose “{label}” as the backend in Settings for this address, or change the URL "
            f"to where {self.label} listens.",
            code="wrong_server",
            http_status=status,
            step="http",
        )

    def missing_endpoint_hint(self) -> str:
        """What to check when the server has none of this backend's endpoints."""
        return f"Check that the URL points at {self.label} itself, without an extra path."

    def context_overflow(self, text: str) -> ContextLengthExceeded | None:
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
            f"{self.label}: {size} Shorten the prompt (or the story so far), or ask for fewer "
            "tokens in the answer.",
            hint=self.context_hint(),
        )

    def context_hint(self) -> str:
        return "Use a model with a longer context, or send a shorter prompt."

    def looks_like_missing_model(self, message: str) -> bool:
        lowered = message.lower()
        return "model" in lowered and ("not found" in lowered or "does not exist" in lowered)

    def unreachable_hint(self) -> str:
        return f"Is {self.label} running, and is the URL in Settings right?"

    def auth_hint(self) -> str:
        return "Check the credentials in Settings."

    def model_hint(self) -> str:
        return "Pick a model from the list in Settings (Refresh Models shows what is available)."

    def no_models_hint(self) -> str:
        return f"{self.label} answered but offers no models yet."

    def steps_proven_by_model_list(self) -> list[str]:
        return ["resolve", "connect", "http"]

    def checks_auth(self) -> bool:
        return False

    def iter_stream_lines(self, response: Response) -> Iterator[bytes]:
        """Lines of a streamed body as they arrive, with first-token then idle timeouts."""
        try:
            yield from response.iter_lines(self.idle_timeout)
        except transport.ReadTimedOut as exc:
            first = exc.before_first_byte
            limit = self.first_token_timeout if first else self.idle_timeout
            raise BackendTimeout(
                f"{self.label} sent nothing for {limit:g} s after the request."
                if first
                else f"{self.label} stopped sending for {limit:g} s in the middle of the answer.",
                hint="The model may be overloaded or stuck; try again, or raise the "
                + ("first-token" if first else "idle")
                + " timeout in Settings.",
                step="generate",
            ) from None
        except transport.ConnectionDropped:
            raise BackendError(
                f"{self.label} closed the connection in the middle of the answer.",
                hint="The backend may have crashed or run out of memory; check it and try again.",
                step="generate",
            ) from None

    def malformed(self, line: bytes) -> BackendError:
        log.warning("%s sent a line that is not JSON: %r", self.label, self.redact(line[:200].decode("utf-8", "replace")))
        return BackendError(
            f"{self.label} at {self.base_url} sent part of its answer in a form Taleweaver cannot read "
            "(not JSON); the text that arrived before it is kept.",
            hint=f"Try again. If it keeps happening, check that the URL points at a {self.label} server, "
            "and update the server: its answer was damaged on the way.",
            step="generate",
        )


def _default_transport() -> transport.Transport:
    return transport.default()


def _error_text(response: Response) -> str:
    """The whole error body as text (its numbers and codes, not only the message)."""
    try:
        return response.text[:2000]
    except transport.TransportError:
        return ""

