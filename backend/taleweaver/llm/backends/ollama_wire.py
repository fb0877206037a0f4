"""Ollama's native wire format as Taleweaver speaks it: the sampling settings in `options`, the
usage and finish reason of its last line, and a text completion as `POST /api/generate` with
`raw: true` (the prompt sent as it is, no template) and `think: false` (a thinking model's
thoughts would otherwise be taken out of the text), translated both ways: NDJSON lines into
`text_completion` chunks, `done_reason` into `finish_reason`, eval counts into usage, its
log-probabilities passed on in Ollama's list for logprobs.py to shape."""
from __future__ import annotations

import re
import time
import uuid
from typing import Iterable, Iterator

from taleweaver.llm import logprobs, samplers
from taleweaver.llm.completions import completion_chunk

LOGPROBS_SINCE = (0, 12, 11)
FINISH_REASONS = {"stop": "stop", "length": "length", "load": "stop", "unload": "stop"}


def options_of(payload: dict) -> dict:
    """The request's sampling settings as Ollama's `options` (samplers.OLLAMA)."""
    _, options = samplers.translate(payload, samplers.OLLAMA)
    if options.get("num_predict") is None and payload.get("max_completion_tokens") is not None:
        options["num_predict"] = payload["max_completion_tokens"]
    if isinstance(options.get("stop"), str):
        options["stop"] = [options["stop"]]
    return options


def usage(body: dict) -> dict:
    """OpenAI's usage from Ollama's counters, with the generation speed Ollama measured
    (eval_count tokens in eval_duration nanoseconds)."""
    prompt = int(body.get("prompt_eval_count") or 0)
    completion = int(body.get("eval_count") or 0)
    counted = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    duration = body.get("eval_duration")
    if isinstance(duration, (int, float)) and duration > 0 and completion:
        counted["tokens_per_second"] = round(completion / (duration / 1e9), 2)
    return counted


def finish_reason(body: dict) -> str:
    return FINISH_REASONS.get(body.get("done_reason"), "stop")


def generate_request(payload: dict, model: str, stream: bool) -> dict:
    """The /api/generate body for an OpenAI text completion: the prompt verbatim."""
    body = {"model": model, "prompt": payload.get("prompt") or "", "raw": True, "think": False, "stream": stream}
    options = options_of(payload)
    if options:
        body["options"] = options
    wanted = logprobs.asked(payload, "completion")
    if wanted:
        body.update(logprob_fields(wanted))
    return body


def logprob_fields(wanted: logprobs.Asked) -> dict:
    """`logprobs` / `top_logprobs` as /api/chat and /api/generate take them (Ollama 0.12.11 on)."""
    return {"logprobs": True, "top_logprobs": wanted.top} if wanted.top else {"logprobs": True}


def version_gives_logprobs(version) -> bool | None:
    """Whether an Ollama of this version (/api/version) gives log-probabilities: first in
    v0.12.11 (commit 59241c5b); None when the version does not tell (unreadable, or 0.0.0, which
    a build from source reports whatever its age)."""
    numbers = re.match(r"v?(\d+)\.(\d+)\.(\d+)", version) if isinstance(version, str) else None
    release = tuple(int(n) for n in numbers.groups()) if numbers else (0, 0, 0)
    return None if release == (0, 0, 0) else release >= LOGPROBS_SINCE


def completion_answer(answer: dict, model: str) -> dict:
    """A whole /api/generate answer as OpenAI's text completion."""
    return completion_chunk(
        "cmpl-" + uuid.uuid4().hex[:24], int(time.time()), answer.get("model", model),
        str(answer.get("response") or ""), finish_reason(answer),
        logprobs=answer.get("logprobs"), usage=usage(answer),
    )


def completion_chunks(parts: Iterable[dict], model: str, include_usage: bool) -> Iterator[dict]:
    """text_completion chunks made from /api/generate's NDJSON lines (parsed, their errors raised)
    as each arrives, up to the line that is `done`."""
    completion_id, created = "cmpl-" + uuid.uuid4().hex[:24], int(time.time())
    for part in parts:
        text = part.get("response")
        if (isinstance(text, str) and text) or part.get("logprobs"):
            yield completion_chunk(completion_id, created, model, text if isinstance(text, str) else "",
                                   logprobs=part.get("logprobs"))
        if part.get("done"):
            yield completion_chunk(completion_id, created, model, "", finish_reason(part))
            if include_usage:
                yield completion_chunk(completion_id, created, model, None, usage=usage(part))
            return
