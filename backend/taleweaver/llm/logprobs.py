"""Log-probabilities: what a request asks for, each backend's answer in one normalized form, and
that form in OpenAI's shape for the API asked (/work/notes/wire-formats.md has every backend's).

The normalized form of one generated token (a "token entry") is OpenAI's chat item without
llama.cpp's `id`: `{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}`,
the alternatives most likely first and no more than were asked for. Backends send it as chat's
`{"content": [...]}` (OpenAI, llama.cpp on both APIs, vLLM chat), as Ollama's native list of the
same items (/api/chat, /api/generate), as the legacy completion shape (`tokens`, `token_logprobs`,
`top_logprobs` dicts, `text_offset`: OpenAI and vLLM completions) or as KoboldCpp's dict that
holds both; `entries_of` reads them all. `Shaper` writes chat's shape or the legacy one;
`shaped_answer` and `shaped_chunks` apply it to a service's answer (OpenAI's and vLLM's pass as
sent), and `token_stream` gives a stream's (text, entries) per chunk."""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from taleweaver.llm.errors import BackendRejected

# OpenAI's caps on the alternatives asked for: chat `top_logprobs` 0-20, completions `logprobs` 0-5.
TOP_LIMITS = {"chat": 20, "completion": 5}
# OpenAI's logprob of a token it did not rank; llama.cpp sends FLT_LOWEST for a probability of 0.
FLOOR = -9999.0


@dataclass(frozen=True)
class Asked:
    """Log-probabilities asked of one request: for `api` "chat" or "completion", with `top`
    alternatives per token."""

    api: str
    top: int


def asked(payload: Mapping, api: str) -> Asked | None:
    """What the (checked) request asks for: chat's `logprobs: true` with `top_logprobs`, or a
    completion's `logprobs: n`; None when it asks for none."""
    if api == "chat":
        top = payload.get("top_logprobs")
        return Asked("chat", top if isinstance(top, int) else 0) if payload.get("logprobs") is True else None
    count = payload.get("logprobs")
    return Asked("completion", count) if isinstance(count, int) and not isinstance(count, bool) else None


class LogprobsUnavailable(BackendRejected):
    """Known before anything is generated: this backend cannot give log-probabilities."""

    code = "logprobs_unavailable"


def unavailable(backend: str, why: str) -> LogprobsUnavailable:
    return LogprobsUnavailable(f"Log-probabilities are not available from {backend} ({why}).",
                               hint="Send the request without logprobs, or use a backend that gives them.",
                               step="generate")


GIVERS = "llama.cpp's llama-server, vLLM, KoboldCpp, Ollama 0.12.11 or newer and OpenAI give them"


def missing_warning(backend: str, why: str) -> dict:
    """The marker of an answer that came without the log-probabilities asked for."""
    return {"code": "logprobs_unavailable",
            "message": f"Log-probabilities are not available from {backend} ({why}); the answer came without them."}


def request_body(body: dict, wanted: Asked, server: str) -> None:
    """The request's log-probability fields as `server` takes them: llama.cpp's `n_probs` gives
    20 alternatives on chat when `top_logprobs` is missing and none at all for 0, KoboldCpp's any
    truthy `logprobs` gives 5 (so at least 1 is sent, and the answer trimmed to what was asked)."""
    if server == "llama.cpp":
        body["top_logprobs" if wanted.api == "chat" else "logprobs"] = max(wanted.top, 1)
    elif server == "koboldcpp" and wanted.api == "completion":
        body["logprobs"] = max(wanted.top, 1)


# ---- reading any backend's shape ------------------------------------------------------------
def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _alternative(token, logprob, given_bytes=None) -> dict | None:
    if not isinstance(token, str) or not _number(logprob):
        return None
    raw = given_bytes if isinstance(given_bytes, list) else list(token.encode("utf-8", "replace"))
    return {"token": token, "logprob": max(float(logprob), FLOOR), "bytes": raw}


def _from_items(items: list, top: int) -> list[dict]:
    """Chat's items (OpenAI, llama.cpp with its `id`, vLLM, KoboldCpp's `content`) or Ollama's."""
    entries = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        entry = _alternative(item.get("token"), item.get("logprob"), item.get("bytes"))
        if entry is None:
            continue
        alternatives = item.get("top_logprobs") if isinstance(item.get("top_logprobs"), list) else []
        ranked = [a for a in (_alternative(alt.get("token"), alt.get("logprob"), alt.get("bytes"))
                              for alt in alternatives if isinstance(alt, Mapping)) if a]
        ranked.sort(key=lambda alt: -alt["logprob"])
        entry["top_logprobs"] = ranked[:top]
        entries.append(entry)
    return entries


def _from_legacy(legacy: Mapping, top: int) -> list[dict]:
    """OpenAI's legacy completion shape (vLLM's, KoboldCpp's legacy keys)."""
    tokens, values = legacy.get("tokens"), legacy.get("token_logprobs")
    tops = legacy.get("top_logprobs") if isinstance(legacy.get("top_logprobs"), list) else []
    if not isinstance(tokens, list) or not isinstance(values, list):
        return []
    entries = []
    for index, (token, value) in enumerate(zip(tokens, values)):
        entry = _alternative(token, value)
        if entry is None:
            continue
        ranked_dict = tops[index] if index < len(tops) and isinstance(tops[index], Mapping) else {}
        ranked = [a for a in (_alternative(t, lp) for t, lp in ranked_dict.items()) if a]
        ranked.sort(key=lambda alt: -alt["logprob"])
        entry["top_logprobs"] = ranked[:top]
        entries.append(entry)
    return entries


def entries_of(logprobs: Any, top: int) -> list[dict]:
    """The token entries in any backend's shape (none for null or an unknown shape), each with at
    most `top` alternatives."""
    if isinstance(logprobs, list):
        return _from_items(logprobs, top)
    if not isinstance(logprobs, Mapping):
        return []
    if isinstance(logprobs.get("content"), list):
        return _from_items(logprobs["content"], top)
    return _from_legacy(logprobs, top)


# ---- writing OpenAI's shapes -----------------------------------------------------------------
class Shaper:
    """One answer's log-probabilities in OpenAI's shape for the API asked, piece by piece: chat's
    `{"content": [...], "refusal": null}` or the legacy completion shape, whose `text_offset`
    counts from the start of the completion's text across pieces (the backend's own offsets are
    kept where it sent them). `seen` tells whether any came."""

    def __init__(self, wanted: Asked):
        self.wanted = wanted
        self.seen = False
        self._offset = 0

    def shaped(self, logprobs: Any) -> dict | None:
        entries = entries_of(logprobs, self.wanted.top)
        if not entries:
            return None
        self.seen = True
        if self.wanted.api == "chat":
            return {"content": entries, "refusal": None}
        given = logprobs.get("text_offset") if isinstance(logprobs, Mapping) else None
        offsets = given if isinstance(given, list) and len(given) == len(entries) else self._running(entries)
        self._offset = offsets[-1] + len(entries[-1]["token"])
        return {
            "tokens": [entry["token"] for entry in entries],
            "token_logprobs": [entry["logprob"] for entry in entries],
            "top_logprobs": [{**{alt["token"]: alt["logprob"] for alt in entry["top_logprobs"]},
                              entry["token"]: entry["logprob"]} for entry in entries],
            "text_offset": offsets,
        }

    def _running(self, entries: list[dict]) -> list[int]:
        offsets, position = [], self._offset
        for entry in entries:
            offsets.append(position)
            position += len(entry["token"])
        return offsets

    def reshape(self, chunk: dict) -> dict:
        """A chunk or whole answer (parsed) with each choice's log-probabilities in OpenAI's shape."""
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                choice["logprobs"] = self.shaped(choice.get("logprobs"))
        return chunk


# Servers whose answers hold OpenAI's own shapes with as many alternatives as asked (OpenAI, vLLM):
# forwarded as sent, looked at only for whether they came (parsing and writing each streamed chunk
# again cost 40 us of CPU a chunk, measured in bench/logprobs.py).
AS_SENT = ("openai", "vllm")
_CARRIES = re.compile(rb'"logprobs"\s*:\s*[\[{]')


def _parsed(chunk: bytes | Mapping) -> Mapping:
    return chunk if isinstance(chunk, Mapping) else json.loads(chunk)


def _carries(answer) -> bool:
    """Whether a chunk or answer as sent (its JSON, or parsed) holds log-probabilities."""
    if isinstance(answer, (bytes, bytearray)):
        return bool(_CARRIES.search(answer))
    return any(isinstance(choice, Mapping) and choice.get("logprobs") for choice in answer.get("choices") or [])


def shaped_answer(answer: Mapping, wanted: Asked, missing: dict, as_sent: bool = False):
    """A whole chat or text completion with its log-probabilities in OpenAI's shape (`as_sent`:
    they are already, and the answer is returned as it came); when none came, the `missing`
    warning under `taleweaver.warning`."""
    if as_sent and _carries(getattr(answer, "body", answer)):
        return answer
    shaper = Shaper(wanted)
    result = dict(answer) if as_sent else shaper.reshape(dict(answer))
    if not shaper.seen:
        result["taleweaver"] = {"warning": missing}
    return result


def shaped_chunks(chunks: Iterable, wanted: Asked, missing: dict, as_sent: bool = False) -> Iterator:
    """Streamed chunks with their log-probabilities in OpenAI's shape (`as_sent`: they are already,
    and each chunk passes as it came); when none came, one more chunk at the end, without choices,
    that carries the `missing` warning."""
    shaper = Shaper(wanted)
    seen, last = False, None
    try:
        for chunk in chunks:
            if as_sent:
                seen = seen or _carries(chunk)
                last = chunk
            else:
                last = shaper.reshape(dict(_parsed(chunk)))
            yield last
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if not (seen or shaper.seen):
        head = _parsed(last) if last is not None else {}
        yield {"id": head.get("id"), "object": head.get("object"), "created": head.get("created"),
               "model": head.get("model"), "choices": [], "taleweaver": {"warning": missing}}


def token_stream(chunks: Iterable, api: str) -> Iterator[tuple[str, list[dict]]]:
    """A service's streamed chat ("chat") or text ("completion") completion asked with logprobs,
    as (text, token entries) per chunk, in the one normalized form whatever the backend. A
    completion's legacy shape has no bytes per alternative: they are the token's UTF-8."""
    for chunk in chunks:
        for choice in _parsed(chunk).get("choices") or []:
            if not isinstance(choice, Mapping):
                continue
            if api == "chat":
                delta = choice.get("delta") if isinstance(choice.get("delta"), Mapping) else {}
                text = delta.get("content")
            else:
                text = choice.get("text")
            yield (text if isinstance(text, str) else ""), entries_of(choice.get("logprobs"), TOP_LIMITS[api])
