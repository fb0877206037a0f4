"""Valid Unicode out of a backend's stream. JSON lets a backend send half of a character as an
escaped UTF-16 surrogate (`"\\ud83d"`), which Python reads as a lone surrogate that UTF-8 — the
database, a page, a client — cannot carry. A pair split across two chunks (`"\\ud83d"`, then
`"\\ude00 "`: a normal server may cut an emoji between two tokens) is joined again; a lone one
becomes U+FFFD, the replacement character. `TextRepair` does it for the text a story generation
takes from each chunk (and a NUL, which PostgreSQL's text cannot hold and SQLite's length() stops
at, becomes U+FFFD there too); `ChunkRepair` for the chunks the proxy relays, as JSON."""
from __future__ import annotations

import json
import re

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# How a surrogate can reach a chunk's JSON at all: escaped (UTF-8 has no encoding for one), in any
# case. The check every relayed chunk pays; a hit (also an escaped valid pair, as ASCII-only JSON
# writes every emoji) is parsed and looked at.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _ends_with_high(text: str) -> bool:
    return bool(text) and "\ud800" <= text[-1] <= "\udbff"


def _starts_with_low(text: str) -> bool:
    return bool(text) and "\udc00" <= text[0] <= "\udfff"


def valid(text: str) -> str:
    """The text with each surrogate pair joined into its character and each lone surrogate U+FFFD."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class TextRepair:
    """The text of a stream's fields (content, reasoning) piece by piece: a high surrogate at the
    end of a piece waits for the next piece of its field, which may start with its other half."""

    __slots__ = ("waiting",)

    def __init__(self):
        self.waiting: dict[str, str] = {}  # field -> the high surrogate held back

    def text(self, field: str, piece: str) -> str:
        """The piece as valid text (maybe without its last character, held for the next piece)."""
        if self.waiting:
            piece = self.waiting.pop(field, "") + piece
        if not _UNSTORABLE.search(piece):
            return piece
        if _ends_with_high(piece):
            self.waiting[field] = piece[-1]
            piece = piece[:-1]
        return valid(piece).replace("\x00", REPLACEMENT)

    def end(self, field: str) -> str:
        """What is still held for the field when its stream ends: a lone half, U+FFFD."""
        return REPLACEMENT if self.waiting.pop(field, None) else ""


def _strings(value, path: tuple = ()):
    """(path, container, key) of every string in a parsed JSON value."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(item, str):
            yield path + (key,), value, key
        elif isinstance(item, (dict, list)):
            yield from _strings(item, path + (key,))


class ChunkRepair:
    """The relay's chunks (raw JSON as the backend sent it, or dicts) made valid before they are
    sent. A chunk with a string that ends with a high surrogate is held until the next chunk: the
    other half at the start of the same string there joins it. At most one chunk is held, and
    only then; a chunk that needs nothing is passed on as it is."""

    __slots__ = ("held", "held_ends")

    def __init__(self):
        self.held: dict | None = None  # the parsed chunk held back
        self.held_ends: dict[tuple, tuple] = {}  # path -> (container, key) of its strings ending in a high half

    def needed(self, chunk) -> bool:
        """Whether the chunk must go through feed(), else it is sent as it is: the cheap check."""
        if self.held is not None:
            return True
        if isinstance(chunk, (bytes, bytearray)):
            return _SURROGATE_ESCAPE.search(chunk) is not None
        return any(not container[key].isascii() and _SURROGATE.search(container[key])
                   for _, container, key in _strings(chunk))

    def feed(self, chunk) -> list:
        """The chunks to send now, valid: none (this one held), this one, or the held one and this
        one; a repaired chunk as a dict."""
        parsed = chunk
        if isinstance(chunk, (bytes, bytearray)):
            try:
                parsed = json.loads(chunk)
            except ValueError:
                parsed = None
        if not isinstance(parsed, dict):
            return [*self.flush(), chunk]  # not a chunk: passed on as the backend sent it
        slots = list(_strings(parsed))
        joined = False
        for path, container, key in slots:
            if path in self.held_ends and _starts_with_low(container[key]):
                held_container, held_key = self.held_ends[path]
                held_container[held_key] += container[key][0]
                container[key] = container[key][1:]
                joined = True
        out = self.flush()
        ends = {path: (container, key) for path, container, key in slots if _ends_with_high(container[key])}
        if ends:
            self.held, self.held_ends = parsed, ends
            return out
        if joined or any(_SURROGATE.search(container[key]) for _, container, key in slots):
            return [*out, _made_valid(parsed)]
        return [*out, chunk]

    def flush(self) -> list:
        """The held chunk, valid (a half still waiting there becomes U+FFFD), or nothing."""
        if self.held is None:
            return []
        held, self.held, self.held_ends = self.held, None, {}
        return [_made_valid(held)]


def _made_valid(chunk: dict) -> dict:
    for _, container, key in list(_strings(chunk)):
        container[key] = valid(container[key])
    return chunk
