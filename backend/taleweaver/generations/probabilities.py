"""A story generation's token probabilities (issue 24): asked of the backend when the story shows
them, collected from its stream in the one normalized form (llm/logprobs.py), and lined up with
the text as it is stored — after the reasoning was moved out and a repeated sentence trimmed —
as runs of tokens (stories/probabilities.py keeps them beside the immutable text)."""
from __future__ import annotations

import json
import threading
from collections.abc import Mapping

from taleweaver.llm import logprobs
from taleweaver.llm.logprobs import LogprobsUnavailable

TOP = 5  # alternatives kept per token: the bound on what a token stores
# Tokens of one generation whose probabilities are kept (a story's length limit is 500,000
# characters: a generation as long as that keeps the first ones), so that the job's memory is
# bounded (a token held here is about 1 KB).
MAX_TOKENS = 100_000


def ask(payload: dict) -> None:
    """The story shows probabilities: its generation asks for the top TOP alternatives of each token."""
    payload["logprobs"] = True
    payload["top_logprobs"] = TOP


def asked(payload: Mapping) -> bool:
    return payload.get("logprobs") is True


def unavailable_note(backend: str) -> str:
    return f"Probabilities are not available from {backend}."


def open_stream(service, payload: dict, backend: str) -> tuple[object, str | None]:
    """The service's streamed chat completion; a backend known to have no log-probabilities is
    asked again without them, with the note the page shows."""
    try:
        return service.chat_completion(payload, stream=True), None
    except LogprobsUnavailable:
        plain = {key: value for key, value in payload.items() if key not in ("logprobs", "top_logprobs")}
        return service.chat_completion(plain, stream=True), unavailable_note(backend)


def _content_entries(chunk) -> tuple[str, list[dict]]:
    """The chunk's answer text and the token entries that wrote it: a chunk without answer text
    (reasoning only) gives none, and entries for reasoning moved out of the same chunk are
    dropped from the front until the rest spell the text."""
    parsed = chunk if isinstance(chunk, Mapping) else json.loads(chunk)
    if not isinstance(parsed, Mapping):
        return "", []
    pieces = list(logprobs.token_stream([parsed], "chat"))
    if not pieces or not pieces[0][0]:
        return "", []
    text, entries = pieces[0]
    joined = "".join(entry["token"] for entry in entries)
    while len(entries) > 1 and joined != text and joined.endswith(text):
        joined, entries = joined[len(entries[0]["token"]):], entries[1:]
    return text, entries


def _warned(chunk) -> bool:
    """The chunk is the relay's marker of an answer that came without log-probabilities."""
    extension = chunk.get("taleweaver") if isinstance(chunk, Mapping) else None
    warning = extension.get("warning") if isinstance(extension, Mapping) else None
    return isinstance(warning, Mapping) and warning.get("code") == "logprobs_unavailable"


class Collector:
    """The token entries of a generation's answer text, in order, taken in the upstream's thread."""

    def __init__(self, backend: str):
        self.entries: list[dict] = []
        self.note: str | None = None  # why there are none
        self.missing = f"{unavailable_note(backend)[:-1]}: it answered without them."
        self.lock = threading.Lock()

    def take(self, chunk) -> None:
        try:
            _, entries = _content_entries(chunk)
        except ValueError:
            return
        with self.lock:
            room = MAX_TOKENS - len(self.entries)
            self.entries.extend({**entry, "top_logprobs": entry["top_logprobs"][:TOP]} for entry in entries[:room])
            if not self.entries and _warned(chunk):
                self.note = self.missing

    def runs(self, text: str) -> list[tuple[int, int, list]]:
        """The tokens lined up with `text` (the generation's text as stored), as runs of adjacent
        tokens: (start, stop, [[length, logprob, [[alternative, logprob], ...]], ...])."""
        with self.lock:
            entries = list(self.entries)
        return line_up(entries, text)


def _compact(entry: dict) -> list:
    return [len(entry["token"]), round(entry["logprob"], 4),
            [[alt["token"], round(alt["logprob"], 4)] for alt in entry["top_logprobs"][:TOP]]]


def line_up(entries: list[dict], text: str) -> list[tuple[int, int, list]]:
    """Each token placed where it stands in `text`: the text is the tokens' join less a trimmed
    start (a repeated sentence) and a cut end (a bound), found as one piece; else token by token
    in order (a continuation's space added or taken away at its start, repaired Unicode), a token
    that is not where the text goes on skipped."""
    if not text or not entries:
        return []
    joined = "".join(entry["token"] for entry in entries)
    offset = joined.find(text)
    placed: list[tuple[int, int, dict]] = []
    position = -offset if offset >= 0 else 0
    for entry in entries:
        token = entry["token"]
        if offset >= 0:
            start, position = position, position + len(token)
            if start >= 0 and position <= len(text) and token:
                placed.append((start, len(token), entry))
            continue
        spaced = position + len(text[position:]) - len(text[position:].lstrip())
        for start, piece in ((position, token), (spaced, token), (position, token.lstrip())):
            if piece and text.startswith(piece, start):
                placed.append((start, len(piece), entry))
                position = start + len(piece)
                break
    return _as_runs(placed)


def _as_runs(placed: list[tuple[int, int, dict]]) -> list[tuple[int, int, list]]:
    runs: list[tuple[int, int, list]] = []
    for start, length, entry in placed:
        token = [length, *_compact(entry)[1:]]
        if runs and runs[-1][1] == start:
            first, _, tokens = runs[-1]
            runs[-1] = (first, start + length, tokens + [token])
        else:
            runs.append((start, start + length, [token]))
    return runs
