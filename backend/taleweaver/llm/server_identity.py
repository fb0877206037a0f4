"""Which kind of LLM server answers at an address, told from the answers only it gives.

Also which kind of server is behind an OpenAI-compatible URL (OPENAI_COMPATIBLE_KINDS): each takes
the sampling settings under names of its own and has a tokenizer of its own.

Used when a backend answers "no such endpoint": the user has usually chosen the wrong backend
type for the server on that port (an Ollama URL that is really LM Studio, ...), and saying which
server answered is the next step. Each probe is one short GET of a path that identifies a server:

- Ollama: ``GET /`` answers ``Ollama is running``.
- LM Studio: ``GET /api/v0/models`` (its REST API) lists models; an unknown path is answered
  ``Unexpected endpoint or method. (GET /path)``.
- llama.cpp's llama-server: ``GET /props`` has ``default_generation_settings`` / ``total_slots``.
- KoboldCpp: ``GET /api/extra/version`` answers ``{"result": "KoboldCpp", "version": ...}``.
- vLLM: ``GET /version`` answers ``{"version": "..."}`` and nothing else.
"""
from __future__ import annotations

import json
from typing import Callable
from urllib.parse import urlsplit

from taleweaver.llm import transport

# (name shown to the user, backend type that serves it)
OLLAMA = ("Ollama", "ollama")
LM_STUDIO = ("LM Studio", "lmstudio")
LLAMA_CPP = ("llama.cpp's llama-server", "openai_compatible")
KOBOLDCPP = ("KoboldCpp", "openai_compatible")
VLLM = ("vLLM", "openai_compatible")
OPENAI = ("OpenAI's API", "chatgpt")

LM_STUDIO_UNKNOWN_ENDPOINT = "unexpected endpoint or method"


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


def _ollama(status: int, text: str) -> bool:
    return status == 200 and text.strip() == "Ollama is running"


def _lm_studio(status: int, text: str) -> bool:
    body = _json(text)
    return (status == 200 and isinstance(body, dict) and isinstance(body.get("data"), list)) or (
        LM_STUDIO_UNKNOWN_ENDPOINT in text.lower()
    )


def _llama_cpp(status: int, text: str) -> bool:
    body = _json(text)
    return status == 200 and isinstance(body, dict) and (
        "default_generation_settings" in body or "total_slots" in body
    )


def _koboldcpp(status: int, text: str) -> bool:
    body = _json(text)
    return status == 200 and isinstance(body, dict) and body.get("result") == "KoboldCpp"


def _vllm(status: int, text: str) -> bool:
    body = _json(text)
    return status == 200 and isinstance(body, dict) and set(body) == {"version"}


# KoboldCpp before llama.cpp: KoboldCpp answers /props too, as llama.cpp would.
PROBES: tuple[tuple[str, Callable[[int, str], bool], tuple[str, str]], ...] = (
    ("/", _ollama, OLLAMA),
    ("/api/v0/models", _lm_studio, LM_STUDIO),
    ("/api/extra/version", _koboldcpp, KOBOLDCPP),
    ("/props", _llama_cpp, LLAMA_CPP),
    ("/version", _vllm, VLLM),
)

# The kinds of server behind an OpenAI-compatible URL, told apart in this order (the wire-format
# notes' recommended one): (path from the server's root, test of its answer, kind).
OPENAI_COMPATIBLE_KINDS: tuple[tuple[str, Callable[[int, str], bool], str], ...] = (
    ("/api/extra/version", _koboldcpp, "koboldcpp"),
    ("/props", _llama_cpp, "llama.cpp"),
    ("/version", _vllm, "vllm"),
    ("/api/v0/models", _lm_studio, "lmstudio"),
)


def from_answer(text: str) -> tuple[str, str] | None:
    """The server an error answer already names (no request needed), else None."""
    if LM_STUDIO_UNKNOWN_ENDPOINT in text.lower():
        return LM_STUDIO
    return None


def identify(sender: transport.Transport, url: str, timeout: float) -> tuple[str, str] | None:
    """(name, backend type) of the server at the URL's host and port, or None when no probe tells."""
    parts = urlsplit(url)
    if (parts.hostname or "").lower() == "api.openai.com":
        return OPENAI
    root = f"{parts.scheme}://{parts.netloc}"
    for path, matches, server in PROBES:
        try:
            response = sender.send("GET", root + path, json_body=None, headers={}, stream=False,
                                   timeout=(timeout, timeout))
            try:
                status, text = response.status_code, response.text[:4096]
            finally:
                response.close()
        except Exception:  # noqa: BLE001 - a probe that fails tells nothing; the next may
            continue
        if matches(status, text):
            return server
    return None
