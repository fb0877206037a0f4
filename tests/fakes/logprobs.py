"""Log-probabilities as each fake server sends them, from /work/notes/wire-formats.md (each
server's code, quoted there with its version): what a request must hold to get them, what it is
refused with, and the shape of the answer.

* OpenAI (``chatgpt``): chat ``logprobs: true`` with ``top_logprobs`` 0-20 ("``logprobs`` must be
  set to ``true`` if this parameter is used"); ``choices[].logprobs = {"content": [...],
  "refusal": null}``, per streamed delta. Completions: the legacy shape (completions.py).
* llama.cpp (b10106): chat ``logprobs: true`` gives ``top_logprobs`` alternatives, **20** when it
  is missing and **none at all** for 0; ``top_logprobs`` without ``logprobs: true`` is 400 "top_logprobs
  requires logprobs to be set to true". Items carry the token ``id``. Its ``/v1/completions``
  takes ``logprobs`` as ``n_probs`` (0: none) and answers in chat's ``{"content": [...]}`` shape.
* vLLM: chat ``top_logprobs`` > 0 without ``logprobs`` is 400 "when using `top_logprobs`,
  `logprobs` must be set to true"; above ``--max-logprobs`` (20) 400 "Requested sample logprobs
  of N, which is greater than max allowed: 20"; items without ``id``. Completions: legacy shape.
* KoboldCpp (1.102): any truthy ``logprobs``; always up to 5 alternatives; one dict with both the
  legacy keys and chat's ``content``; streamed, all of them in one extra chunk before the last.
* Ollama >= 0.12.11: ``logprobs: true``, ``top_logprobs`` 0-20 on ``/api/chat`` and
  ``/api/generate``: a list of items per line, no ``id``, ``top_logprobs`` left out for 0. An
  older Ollama drops both fields (unknown JSON fields are ignored).
* LM Studio: none (``"logprobs": null``), whatever is asked.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

KOBOLDCPP_ALTERNATIVES = 5  # logprobs_max in koboldcpp.py
VLLM_MAX_LOGPROBS = 20  # --max-logprobs' default
LLAMA_CHAT_DEFAULT = 20  # n_probs when chat's top_logprobs is missing
OLLAMA_LOGPROBS_SINCE = (0, 12, 11)


def item(piece: str, top: int, token_id: Optional[int] = None) -> Dict[str, Any]:
    """One token's log-probability with `top` alternatives (the token itself the first)."""
    alternatives = [{"token": piece, "logprob": -0.25, "bytes": list(piece.encode())}]
    alternatives += [{"token": f" alt{n}", "logprob": -1.5 - n, "bytes": list(f" alt{n}".encode())}
                     for n in range(max(top - 1, 0))]
    head = {"id": token_id} if token_id is not None else {}
    return {**head, "token": piece, "logprob": -0.25, "bytes": list(piece.encode()),
            "top_logprobs": alternatives[:top]}


def koboldcpp(pieces: List[str]) -> Dict[str, Any]:
    """KoboldCpp's `parse_last_logprobs`: chat's `content` and the legacy keys in one dict."""
    items = [item(piece, KOBOLDCPP_ALTERNATIVES) for piece in pieces]
    offsets, position = [], 0
    for piece in pieces:
        offsets.append(position)
        position += len(piece)
    return {"content": items, "tokens": list(pieces), "token_logprobs": [i["logprob"] for i in items],
            "top_logprobs": [{alt["token"]: alt["logprob"] for alt in i["top_logprobs"]} for i in items],
            "text_offset": offsets}


def chat_request(style: Optional[str], body: Dict[str, Any]) -> Tuple[Optional[str], Optional[int]]:
    """(the server's error message for the request's log-probability fields, else None; the
    number of alternatives it answers with, None for no log-probabilities at all)."""
    wanted = body.get("logprobs")
    top = body.get("top_logprobs")
    top_number = top if isinstance(top, int) and not isinstance(top, bool) else None
    if style == "openai":
        if top is not None and (top_number is None or not 0 <= top_number <= 20):
            return f"Invalid 'top_logprobs': expected an integer from 0 to 20, but got {top!r} instead.", None
        if top is not None and wanted is not True:
            return "`logprobs` must be set to `true` if `top_logprobs` is used.", None
        return None, (top_number or 0) if wanted is True else None
    if style == "llama.cpp":
        if top is not None and wanted is not True:
            return "top_logprobs requires logprobs to be set to true", None
        count = LLAMA_CHAT_DEFAULT if top_number is None else top_number
        return None, count if wanted is True and count > 0 else None
    if style == "vllm":
        if top_number and wanted is not True:
            return "when using `top_logprobs`, `logprobs` must be set to true", None
        if top_number is not None and top_number > VLLM_MAX_LOGPROBS:
            return (f"Requested sample logprobs of {top_number}, which is greater than max allowed: "
                    f"{VLLM_MAX_LOGPROBS}"), None
        return None, (top_number or 0) if wanted is True else None
    if style == "koboldcpp":
        return None, KOBOLDCPP_ALTERNATIVES if wanted else None
    return None, None


def chat_logprobs(style: Optional[str], pieces: List[str], count: Optional[int],
                  first_id: int = 1000) -> Optional[Dict[str, Any]]:
    """`choices[].logprobs` of a chat answer (or of one streamed delta) with these pieces."""
    if count is None or style is None:
        return None
    if style == "koboldcpp":
        return koboldcpp(pieces)
    with_id = style == "llama.cpp"
    content = [item(piece, count, first_id + n if with_id else None) for n, piece in enumerate(pieces)]
    return {"content": content, "refusal": None} if style == "openai" else {"content": content}


def ollama_version_gives(version: str) -> bool:
    numbers = tuple(int(part) for part in version.split("-")[0].split(".")[:3])
    return numbers >= OLLAMA_LOGPROBS_SINCE


def ollama(piece: str, top: int) -> Dict[str, Any]:
    """Ollama's logprob item: no token id, `top_logprobs` left out when none were asked for."""
    entry = item(piece, top)
    if not top:
        del entry["top_logprobs"]
    return entry
