"""The connection test as a diagnosis: each step it ran, its time, where it stopped and why.

The steps are read from the outcome of the service's own HTTP calls (a name that does not
resolve, a refused connection, a timeout and a rejected key fail at different steps), so a
test that mocks HTTP sees the same steps as one that talks to a real server."""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from taleweaver.llm.errors import LLMError


# Steps of a connection diagnosis, in the order they run.
STEP_LABELS = {
    "resolve": "Address resolution",
    "connect": "TCP connect",
    "http": "HTTP answer",
    "auth": "Authentication",
    "models": "Model list",
    "generate": "One-token generation",
}


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def step(name: str, status: str, duration_ms: float | None, detail: str | None) -> dict:
    """One step of the report."""
    return {
        "name": name,
        "label": STEP_LABELS[name],
        "status": status,
        "duration_ms": duration_ms,
        "detail": detail,
    }


def diagnose(service: Any, generate: bool = False, model: str | None = None) -> dict:
    """Run the steps against the service's backend and report what answered, or what to do."""
    steps: list[dict] = []
    started = time.perf_counter()
    result: dict[str, Any] = {"status": "connected", "models": []}
    try:
        step_start = time.perf_counter()
        try:
            models = service.get_models()
        except LLMError as failure:
            exc = service.http.explain_wrong_url(failure)
            _record_failure(service, steps, exc, _ms(step_start))
            raise exc from None
        # One request proves these steps; its round trip is shown once, on the HTTP step.
        elapsed = _ms(step_start)
        for name in _proven_by_the_model_list(service):
            steps.append(step(name, "ok", elapsed if name == "http" else None, _detail(service, name)))
        result["models"] = models
        steps.append(step("models", "ok", None, f"{len(models)} model(s)"))
        info = service.server_info()
        if info:
            result["server_info"] = info
        if not models:
            result["hint"] = service.http.hints.no_models
        if generate:
            _generate_step(service, steps, model or service.default_model or (models[0] if models else None))
        else:
            steps.append(step("generate", "skipped", None, "not requested"))
    except LLMError as exc:
        result.update(
            status="error",
            error=service.redact(exc.message),
            error_code=exc.code,
            hint=exc.hint,
        )
    result["latency_ms"] = _ms(started)
    result["resolved_url"] = service.http.resolved_url
    result["steps"] = steps
    return result


def _proven_by_the_model_list(service: Any) -> list[str]:
    """The steps one answered model-list request proves (authentication only when a secret was
    sent with it)."""
    return ["resolve", "connect", "http", "auth"] if service.http.checks_auth else ["resolve", "connect", "http"]


def _detail(service: Any, name: str) -> str | None:
    reached = service.http.resolved_url or service.http.base_url
    parts = urlsplit(reached)
    return {
        "resolve": parts.hostname,
        "connect": parts.netloc,
        "http": reached,
        "auth": "credentials accepted",
    }.get(name)


def _generate_step(service: Any, steps: list[dict], model: str | None) -> None:
    start = time.perf_counter()
    if not model:
        steps.append(step("generate", "skipped", None, "no model to try"))
        return
    try:
        service.chat_completion(
            {"model": model, "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1},
            stream=False,
        )
    except LLMError as exc:
        exc.step = "generate"
        _record_failure(service, steps, exc, _ms(start))
        raise
    steps.append(step("generate", "ok", _ms(start), model))


def _record_failure(service: Any, steps: list[dict], exc: LLMError, elapsed: float) -> None:
    """Mark the steps before the failed one as passed, the failed one, and the rest skipped."""
    order = list(STEP_LABELS)
    failed_at = exc.step if exc.step in STEP_LABELS else "http"
    applicable = [s for s in order if s != "auth" or service.http.checks_auth]
    for name in applicable:
        if any(s["name"] == name for s in steps):
            continue
        position, failed_position = order.index(name), order.index(failed_at)
        if position < failed_position:
            steps.append(step(name, "ok", None, _detail(service, name)))
        elif position == failed_position:
            steps.append(step(name, "failed", elapsed, service.redact(exc.message)))
        else:
            steps.append(step(name, "skipped", None, "an earlier step failed"))
