"""The LLMService base class every backend extends, and the errors services raise."""
from __future__ import annotations

import functools
import json
import threading
import time
from abc import ABC, abstractmethod
from typing import Any, Iterator
from urllib.parse import urlsplit

import requests
import urllib3
import urllib3.exceptions
from requests.adapters import HTTPAdapter

import wsl
from crypto import redact

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_IDLE_TIMEOUT = 60.0

# Steps of a connection diagnosis, in the order they run.
STEP_LABELS = {
    "resolve": "Address resolution",
    "connect": "TCP connect",
    "http": "HTTP answer",
    "auth": "Authentication",
    "models": "Model list",
    "generate": "One-token generation",
}


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


_sessions: dict[tuple, requests.Session] = {}
# Configured loopback URL -> Windows-host URL that answered instead (WSL fallback).
_wsl_resolved: dict[str, str] = {}
_sessions_lock = threading.Lock()
# Keep-alive connections kept per backend and worker: as many as streams open at once (under
# gevent, 1,000 in a burst), or every one past it is closed at its end ("pool is full").
UPSTREAM_POOL_SIZE = 1024


def pooled_session(base_url: str) -> requests.Session:
    """One keep-alive Session per backend origin, shared by every request to it."""
    parts = urlsplit(base_url)
    key = (parts.scheme, parts.netloc)
    session = _sessions.get(key)
    if session is None:
        with _sessions_lock:
            session = _sessions.get(key)
            if session is None:
                session = requests.Session()
                # Environment proxies are read per request otherwise; a local LLM is never behind one.
                session.trust_env = False
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=UPSTREAM_POOL_SIZE)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                _sessions[key] = session
    return session


class PoolResponse:
    """The parts of requests.Response the services use, over a urllib3 response."""

    __slots__ = ("raw", "status_code", "headers", "reason", "_content")

    def __init__(self, raw: urllib3.BaseHTTPResponse):
        self.raw = raw
        self.status_code = raw.status
        self.headers = raw.headers
        self.reason = raw.reason
        self._content: bytes | None = None

    @property
    def content(self) -> bytes:
        if self._content is None:
            self._content = self.raw.data
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def close(self) -> None:
        self.raw.close()
        self.raw.release_conn()


# requests' own transport; a test double (requests-mock) replaces it, and then every call
# must go through requests so that the double sees it.
_REQUESTS_SEND = requests.Session.send
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "Taleweaver"}
_PLAIN_HEADERS = {"Accept": "application/json", "User-Agent": "Taleweaver"}


@functools.lru_cache(maxsize=256)
def _split_target(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, origin-form request target) of a URL; backends reuse a few URLs."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port, (parts.path or "/") + ("?" + parts.query if parts.query else "")


@functools.lru_cache(maxsize=64)
def _timeout(connect: float, read: float) -> urllib3.Timeout:
    return urllib3.Timeout(connect=connect, read=read)


def _pool_request(adapter: HTTPAdapter, method: str, url: str, json_body: Any, headers: dict,
                  stream: bool, timeout: tuple[float, float]) -> PoolResponse:
    """One request straight through the adapter's urllib3 pool: requests' per-call preparation
    (cookies, hooks, environment merging) costs more than the rest of a proxied call."""
    body = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
    scheme, host, port, target = _split_target(url)
    pool = adapter.poolmanager.connection_from_host(host, port, scheme)
    raw = pool.urlopen(
        method,
        target,
        body=body,
        headers={**(_PLAIN_HEADERS if body is None else _JSON_HEADERS), **headers},
        retries=False,
        redirect=False,
        assert_same_host=False,
        timeout=_timeout(*timeout),
        preload_content=not stream,
        decode_content=True,
    )
    return PoolResponse(raw)


def set_read_timeout(response: requests.Response, seconds: float) -> None:
    """Change how long a streamed response may stay silent between two reads."""
    try:
        response.raw._fp.fp.raw._sock.settimeout(seconds)
    except AttributeError:
        pass  # not a plain socket (e.g. a mocked response): keep the request's read timeout


def _is_name_resolution_error(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, urllib3.exceptions.NameResolutionError):
            return True
        text = str(exc)
        if "Name or service not known" in text or "nodename nor servname" in text or (
            "getaddrinfo failed" in text
        ) or "Temporary failure in name resolution" in text:
            return True
        exc = exc.__cause__ or exc.__context__ or (exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None)
    return False


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


class LLMService(ABC):
    """What every LLM backend offers: its models, a connection test and chat completions."""

    backend_type = ""
    label = ""
    # LM Studio and Ollama run on the user's machine: a localhost URL may need the WSL fallback.
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
    ):
        self.base_url = base_url.rstrip("/")
        self.wsl_fallback = wsl_fallback
        self.resolved_url: str | None = None
        self.default_model = default_model
        self.connect_timeout = float(connect_timeout)
        self.first_token_timeout = float(first_token_timeout)
        self.idle_timeout = float(idle_timeout)
        self._secrets = tuple(s for s in secrets if s)

    # ---- the interface -------------------------------------------------------------
    @abstractmethod
    def get_models(self) -> list[str]:
        """The ids of the models this backend can chat with."""

    def model_details(self) -> list[dict]:
        """Per-model details (size, quantization, state) where the backend gives them."""
        return [{"id": model_id} for model_id in self.get_models()]

    @abstractmethod
    def chat_completion(self, payload: dict, stream: bool = False) -> dict | Iterator[Any]:
        """An OpenAI chat completion, or when streaming an iterator of OpenAI chunks.

        A streamed chunk is either a dict or the raw JSON bytes of one chunk as an
        OpenAI-compatible backend sent it (forwarded without re-encoding).
        """

    def server_info(self) -> dict | None:
        """Version or similar facts about the server, when the backend tells them."""
        return None

    def model_state(self, model: str | None) -> str | None:
        """Whether a model is loaded, loading or not loaded, when the backend tells."""
        return None

    # ---- helpers for subclasses ------------------------------------------------------
    def headers(self) -> dict:
        return {}

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def resolve_model(self, payload: dict) -> str:
        model = payload.get("model") or self.default_model
        if not model:
            raise BackendRejected(
                "No model was chosen: pick a default model in Settings or name one in the request.",
                code="model_required",
                step="generate",
            )
        return model

    def request(self, method: str, path: str, **options) -> requests.Response:
        """Send one HTTP request to the backend (options as for _send) and turn every failure
        into an LLMError.

        A local server configured as localhost that refuses the connection is looked for on
        the Windows host when this runs under WSL.
        """
        remembered = _wsl_resolved.get(self.base_url)
        if remembered:
            try:
                response = self._send(remembered, method, path, **options)
                self.resolved_url = remembered
                return response
            except (BackendUnreachable, BackendTimeout):
                _wsl_resolved.pop(self.base_url, None)
        try:
            return self._send(self.base_url, method, path, **options)
        except BackendUnreachable as exc:
            if not (exc.step == "connect" and self.local_server and self.wsl_fallback
                    and wsl.is_loopback_url(self.base_url) and wsl.is_wsl()):
                raise
            tried = []
            for candidate in wsl.candidate_base_urls(self.base_url):
                tried.append(candidate)
                try:
                    response = self._send(candidate, method, path, **dict(options, connect_timeout=1.5))
                except (BackendUnreachable, BackendTimeout):
                    continue
                _wsl_resolved[self.base_url] = candidate
                self.resolved_url = candidate
                return response
            raise BackendUnreachable(
                f"{self.label} did not answer at {self.base_url}, nor on the Windows host "
                f"({', '.join(tried) or 'no address found'}). Taleweaver runs in WSL, where "
                "localhost is not always Windows.",
                hint=self.unreachable_hint(),
                step="connect",
            ) from None

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
    ) -> requests.Response:
        url = base_url + path
        timeout = (
            connect_timeout if connect_timeout is not None else self.connect_timeout,
            read_timeout if read_timeout is not None else self.first_token_timeout,
        )
        session = pooled_session(base_url)
        adapter = session.get_adapter(url)
        try:
            if type(adapter) is HTTPAdapter and requests.Session.send is _REQUESTS_SEND:
                response = _pool_request(adapter, method, url, json_body, self.headers(), stream, timeout)
            else:  # another transport is mounted (requests-mock in tests): go through requests
                response = session.request(
                    method, url, json=json_body, headers=self.headers(), stream=stream,
                    timeout=timeout, allow_redirects=False,
                )
        except (urllib3.exceptions.NewConnectionError, requests.exceptions.ConnectionError,
                urllib3.exceptions.ProtocolError) as exc:
            if isinstance(exc, requests.exceptions.ConnectTimeout):
                raise self._connect_timeout(timeout[0]) from None
            if isinstance(exc, requests.exceptions.ReadTimeout):
                raise self._read_timeout(timeout[1]) from None
            if _is_name_resolution_error(exc):
                host = urlsplit(url).hostname
                raise BackendUnreachable(
                    f"The address {host!r} of {self.label} could not be resolved.",
                    hint="Check the spelling of the server URL in Settings.",
                    step="resolve",
                ) from None
            if isinstance(exc, urllib3.exceptions.ProtocolError) or "RemoteDisconnected" in str(exc):
                raise BackendError(
                    f"{self.label} at {self.base_url} closed the connection without answering.",
                    hint="Is this URL really a " + self.label + " server? Check its log window.",
                    step="http",
                ) from None
            raise BackendUnreachable(
                f"{self.label} did not answer at {self.base_url}: the connection was refused.",
                hint=self.unreachable_hint(),
                step="connect",
            ) from None
        except urllib3.exceptions.ConnectTimeoutError:
            raise self._connect_timeout(timeout[0]) from None
        except (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError):
            raise self._read_timeout(timeout[1]) from None
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise BackendError(
                self.redact(f"Request to {self.label} failed: {exc}"), step="http"
            ) from None
        if response.status_code >= 300:
            try:
                self.raise_for_status(response)
            finally:
                response.close()
        return response

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

    def optional_json(self, path: str):
        """A JSON answer from an endpoint that only adds detail, or None when it gives none."""
        try:
            return self.get_json(path, read_timeout=self.connect_timeout)
        except Exception:  # noqa: BLE001 - missing detail never fails the caller
            return None

    def upstream_error_message(self, response: requests.Response) -> str:
        """The error text the backend put in its body, redacted and shortened."""
        try:
            body = response.json()
        except ValueError:
            text = (response.text or "").strip()
            return self.redact(text[:300]) if text else response.reason or ""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            error = error.get("message") or json.dumps(error)
        if not error and isinstance(body, dict):
            error = body.get("message") or body.get("detail")
        return self.redact(str(error or body)[:300])

    def raise_for_status(self, response: requests.Response) -> None:
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
        if status == 404 and self.looks_like_missing_model(message):
            raise ModelNotFound(f"{self.label}: {message}", hint=self.model_hint())
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

    def looks_like_missing_model(self, message: str) -> bool:
        lowered = message.lower()
        return "model" in lowered and ("not found" in lowered or "does not exist" in lowered)

    def unreachable_hint(self) -> str:
        return f"Is {self.label} running, and is the URL in Settings right?"

    def auth_hint(self) -> str:
        return "Check the credentials in Settings."

    def model_hint(self) -> str:
        return "Pick a model from the list in Settings (Refresh Models shows what is available)."

    def iter_stream_lines(self, response: requests.Response) -> Iterator[bytes]:
        """Lines of a streamed body as they arrive, with first-token then idle timeouts."""
        raw = response.raw
        buffer = b""
        first = True
        try:
            while True:
                data = raw.read1(65536)
                if not data:
                    break
                if first:
                    set_read_timeout(response, self.idle_timeout)
                    first = False
                buffer += data
                if b"\n" not in data:
                    continue
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield line
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            limit = self.first_token_timeout if first else self.idle_timeout
            raise BackendTimeout(
                f"{self.label} stopped sending for {limit:g} s in the middle of the answer."
                if not first
                else f"{self.label} sent nothing for {limit:g} s after the request.",
                hint="The model may be overloaded or stuck; try again, or raise the "
                + ("idle" if not first else "first-token")
                + " timeout in Settings.",
                step="generate",
            ) from None
        except (urllib3.exceptions.ProtocolError, requests.exceptions.ConnectionError, OSError):
            raise BackendError(
                f"{self.label} closed the connection in the middle of the answer.",
                hint="The backend may have crashed or run out of memory; check it and try again.",
                step="generate",
            ) from None
        if buffer.strip():
            yield buffer

    def malformed(self, line: bytes) -> BackendError:
        return BackendError(
            f"{self.label} sent a line that is not valid JSON: {self.redact(line[:120].decode('utf-8', 'replace'))!r}",
            hint="The backend's answer was damaged; try again, and update the backend if it keeps happening.",
            step="generate",
        )

    # ---- connection diagnosis --------------------------------------------------------
    def test_connection(self, generate: bool = False, model: str | None = None) -> dict:
        """Diagnose the connection step by step and report what answered, or what to do."""
        steps: list[dict] = []
        started = time.perf_counter()
        result: dict[str, Any] = {"status": "connected", "models": []}
        try:
            step_start = time.perf_counter()
            try:
                models = self.get_models()
            except LLMError as exc:
                self._record_failure(steps, exc, _ms(step_start))
                raise
            # One request proves these steps; its round trip is shown once, on the HTTP step.
            elapsed = _ms(step_start)
            for name in self.steps_proven_by_model_list():
                steps.append(_step(name, "ok", elapsed if name == "http" else None, self._step_detail(name)))
            result["models"] = models
            steps.append(_step("models", "ok", None, f"{len(models)} model(s)"))
            info = self.server_info()
            if info:
                result["server_info"] = info
            if not models:
                result["hint"] = self.no_models_hint()
            if generate:
                self._generate_step(steps, model or self.default_model or (models[0] if models else None))
            else:
                steps.append(_step("generate", "skipped", None, "not requested"))
        except LLMError as exc:
            result.update(
                status="error",
                error=self.redact(exc.message),
                error_code=exc.code,
                hint=exc.hint,
            )
        result["latency_ms"] = _ms(started)
        result["steps"] = steps
        return result

    def _step_detail(self, name: str) -> str | None:
        parts = urlsplit(self.resolved_url or self.base_url)
        return {
            "resolve": parts.hostname,
            "connect": parts.netloc,
            "http": self.resolved_url or self.base_url,
            "auth": "credentials accepted",
        }.get(name)

    def steps_proven_by_model_list(self) -> list[str]:
        return ["resolve", "connect", "http"]

    def no_models_hint(self) -> str:
        return f"{self.label} answered but offers no models yet."

    def _generate_step(self, steps: list[dict], model: str | None) -> None:
        start = time.perf_counter()
        if not model:
            steps.append(_step("generate", "skipped", None, "no model to try"))
            return
        try:
            self.chat_completion(
                {"model": model, "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1},
                stream=False,
            )
        except LLMError as exc:
            exc.step = "generate"
            self._record_failure(steps, exc, _ms(start))
            raise
        steps.append(_step("generate", "ok", _ms(start), model))

    def _record_failure(self, steps: list[dict], exc: LLMError, elapsed: float) -> None:
        order = list(STEP_LABELS)
        failed_at = exc.step if exc.step in STEP_LABELS else "http"
        applicable = [s for s in order if s != "auth" or self.checks_auth()]
        for name in applicable:
            if any(s["name"] == name for s in steps):
                continue
            position, failed_position = order.index(name), order.index(failed_at)
            if position < failed_position:
                steps.append(_step(name, "ok", None, self._step_detail(name)))
            elif position == failed_position:
                steps.append(_step(name, "failed", elapsed, self.redact(exc.message)))
            else:
                steps.append(_step(name, "skipped", None, "an earlier step failed"))

    def checks_auth(self) -> bool:
        return False


def _step(name: str, status: str, duration_ms: float | None, detail: str | None) -> dict:
    return {
        "name": name,
        "label": STEP_LABELS[name],
        "status": status,
        "duration_ms": duration_ms,
        "detail": detail,
    }


def openai_chunk(completion_id: str, created: int, model: str, delta: dict, finish_reason=None) -> dict:
    """One chat.completion.chunk in OpenAI's format."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
