"""Token counts of texts: with the backend's own tokenizer where it has one (llama.cpp and vLLM
`POST /tokenize`, KoboldCpp `POST /api/extra/tokencount`), otherwise an estimate with a safety
margin; the answer says which.

None of those tokenizers counts several separate texts in one request (llama.cpp joins an array
into one token list; vLLM and KoboldCpp take one string), so each text not counted before is one
request; counts are kept per tokenizer and text hash, so a story's unchanged parts (memory, the
lorebook, the author's note) are counted once."""
from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from typing import Callable

from cachetools import LRUCache

ESTIMATE = "estimate"
# English prose runs about four characters a token with the common tokenizers; UTF-8 bytes count
# text in other scripts (three bytes a CJK character, often a token or more) closer than characters.
BYTES_PER_TOKEN = 4
SAFETY_MARGIN = 1.25  # an estimate errs on the long side: a prompt estimated to fit must fit

_counted: LRUCache = LRUCache(maxsize=8192)
_lock = threading.Lock()  # LRUCache reorders on every read


@dataclass(frozen=True)
class Tokenizer:
    """A server's tokenizer endpoint: the path from the server's root, the body that asks for one
    text's count, and how to read the count from the answer (None: not an answer of this kind)."""

    name: str
    path: str
    request: Callable[[str, str | None], dict]
    count: Callable[[object], int | None]


def estimate(text: str) -> int:
    """Tokens of a text as estimated without a tokenizer: on the long side (SAFETY_MARGIN)."""
    return math.ceil(len(text.encode()) / BYTES_PER_TOKEN * SAFETY_MARGIN) if text else 0


def estimated(texts: list[str]) -> dict:
    return {"tokenizer": ESTIMATE, "counts": [estimate(text) for text in texts]}


def counted(where: str, tokenizer: str, texts: list[str], count_one: Callable[[str], int]) -> dict:
    """{"tokenizer", "counts"} of the texts, each counted by `count_one` unless this tokenizer (at
    `where`: its server and model) counted the same text before."""
    counts = []
    for text in texts:
        key = (where, tokenizer, hashlib.sha256(text.encode()).digest())
        with _lock:
            known = _counted.get(key)
        if known is None:
            known = count_one(text) if text else 0
            with _lock:
                _counted[key] = known
        counts.append(known)
    return {"tokenizer": tokenizer, "counts": counts}


def _token_list_length(answer) -> int | None:
    tokens = answer.get("tokens") if isinstance(answer, dict) else None
    return len(tokens) if isinstance(tokens, list) else None


def _vllm_count(answer) -> int | None:
    count = answer.get("count") if isinstance(answer, dict) else None
    return count if isinstance(count, int) else _token_list_length(answer)


def _koboldcpp_count(answer) -> int | None:
    value = answer.get("value") if isinstance(answer, dict) else None
    return value if isinstance(value, int) and value >= 0 else None


# add_special / add_special_tokens / special: count the BOS token a completion's prompt gets too,
# as each server's completion endpoint tokenizes a string prompt.
LLAMA_CPP = Tokenizer("llama.cpp", "/tokenize", lambda text, model: {"content": text, "add_special": True},
                      _token_list_length)
VLLM = Tokenizer("vllm", "/tokenize",
                 lambda text, model: {"prompt": text, "add_special_tokens": True, **({"model": model} if model else {})},
                 _vllm_count)
KOBOLDCPP = Tokenizer("koboldcpp", "/api/extra/tokencount", lambda text, model: {"prompt": text, "special": True},
                      _koboldcpp_count)
