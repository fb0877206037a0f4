"""Ollama's log-probabilities: asked of /api/chat and /api/generate (`logprobs`, `top_logprobs`)
from v0.12.11 on, refused before anything is sent by an older Ollama (which drops the fields
without a word), and its per-token list shaped as OpenAI's (logprobs.py)."""
from __future__ import annotations

import threading

from cachetools import TTLCache

from taleweaver.llm import logprobs
from taleweaver.llm.backends import ollama_wire
from taleweaver.llm.stream import Stream

# (whether the Ollama at an address gives them, its version), asked once in ten minutes.
_gives: TTLCache = TTLCache(maxsize=256, ttl=600.0)
_gives_lock = threading.Lock()


def forget() -> None:
    """Ask every Ollama's version afresh."""
    with _gives_lock:
        _gives.clear()


def wanted(service, payload: dict, api: str) -> logprobs.Asked | None:
    """The log-probabilities the request asks for (None: none); LogprobsUnavailable when the
    server's version (/api/version) is older than 0.12.11."""
    asked = logprobs.asked(payload, api)
    if asked is None:
        return None
    with _gives_lock:
        known = _gives.get(service.base_url)
    if known is None:
        version = (service.server_info() or {}).get("version")
        known = (ollama_wire.version_gives_logprobs(version), version)
        with _gives_lock:
            _gives[service.base_url] = known
    if known[0] is False:
        raise logprobs.unavailable(f"Ollama {str(known[1])[:40]}", "they came in Ollama 0.12.11: update Ollama")
    return asked


def shaped(answer, asked: logprobs.Asked | None, stream: bool, response):
    """The translated answer with its log-probabilities in OpenAI's shape, when they were asked for."""
    if asked is None:
        return answer
    missing = logprobs.missing_warning("Ollama", "it answered without them; Ollama 0.12.11 or newer gives them")
    if not stream:
        return logprobs.shaped_answer(answer, asked, missing)
    return Stream(logprobs.shaped_chunks(answer.chunks, asked, missing), response.abort)
