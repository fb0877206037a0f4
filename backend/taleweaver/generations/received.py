"""What a job has taken from the backend's stream: its text and reasoning, and the figures that
come with them; valid Unicode, and within the story's length limit and the user's quota."""
from __future__ import annotations

import json
import threading
import time
from typing import Callable, NamedTuple

from taleweaver.llm.surrogates import TextRepair
from taleweaver.stories import prompting, sizes
from taleweaver.stories.store import MAX_CONTENT

# What a model may think aloud in one generation, held in memory and kept with it: as much as a story.
MAX_REASONING = MAX_CONTENT
# What a byte of generated text keeps once the generation ends: the story's working copy, the
# chunks its revision, undo step and version refer to, and the generation's own record.
STORED_COPIES = 3


class Bounds(NamedTuple):
    """What a generation may still add: characters of the story's text (its length limit less the
    text it continues), and bytes of the user's storage quota (None: no quota)."""
    text_chars: int
    quota_room: int | None = None
    quota: int = 0


def _length_limit(code: str, what: str, hint: str) -> dict:
    return {
        "code": code,
        "message": f"{what} reached its length limit of {MAX_CONTENT:,} characters; the generation stopped "
                   "there and its text is kept.",
        "hint": hint,
    }


def story_full() -> dict:
    return _length_limit("story_length_limit", "The story", "Start a new story to go on, or shorten this one.")


def reasoning_full() -> dict:
    return _length_limit("reasoning_length_limit", "The model's reasoning",
                         "Generate again with a lower max tokens, or with a model that thinks less.")


def quota_reached(quota: int) -> dict:
    return {
        "code": "quota_exceeded",
        "message": f"Your stories reached your storage quota of {sizes.readable(quota)}; the generation "
                   "stopped there and its text so far is kept.",
        "hint": "Delete stories you no longer need (their revisions, undo steps and versions go with them), "
                "or ask the server's operator to raise TALEWEAVER_STORAGE_QUOTA.",
    }


def _utf8_bytes(text: str | None) -> int:
    if not text:
        return 0
    return len(text) if text.isascii() else len(text.encode())


def _as_dict(chunk):
    """A chunk as a dict: raw JSON (as an OpenAI-compatible backend sent it) parsed, else None."""
    if isinstance(chunk, dict):
        return chunk
    if isinstance(chunk, (bytes, bytearray, str)):
        try:
            value = json.loads(chunk)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None
    return None


class ReceivedText:
    """The text and reasoning as append-only pieces (what is persisted is exactly their join),
    with their lengths, the token count, finish reason and usage. Chunks are taken in the
    upstream's thread; once `closed` (the outcome is being written) no more text joins, so what
    is persisted is all the followers ever see. The first characters of a continuation are held
    back until a repeat of the text's last sentence can be seen (and removed): followers never
    see text that is taken back. Text past the bounds does not join: the first chunk that
    reaches one is cut there, `limit` says which (an error record), and `on_limit` is told."""

    def __init__(self, prefix: str, avoid_repeat: bool, first_text: Callable[[], None],
                 bounds: Bounds | None = None, on_limit: Callable[[], None] | None = None):
        self.prefix = prefix
        self.first_text = first_text  # told once, when the first text joins
        self.bounds = bounds or Bounds(max(0, MAX_CONTENT - len(prefix)))
        self.on_limit = on_limit
        self.limit: dict | None = None
        self.stored_bytes = 0  # what the text and reasoning will keep, for the quota
        self.repair = TextRepair()
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.text_length = self.reasoning_length = 0
        self.lock = threading.Lock()
        self.closed = False
        self.counted_tokens = 0
        self.held: list[str] | None = [] if avoid_repeat and prefix.strip() else None
        self.hold_chars = prompting.overlap_hold(prefix) if self.held is not None else 0
        self.finish_reason = None
        self.usage = None
        self.first_token_at: float | None = None

    def take(self, chunk) -> None:
        """One chunk of the backend's stream: its text joins."""
        data = _as_dict(chunk)
        if data is None:
            return
        with self.lock:
            if not self.closed:
                self._take_data(data)

    def close(self) -> tuple[str, str]:
        """No more chunks join; the held start of a continuation is released. The final text and
        reasoning."""
        with self.lock:
            if not self.closed:
                self.closed = True
                self._release_held()
                self._append(self.repair.end("content") or None, self.repair.end("reasoning") or None)
            return "".join(self.text), "".join(self.reasoning)

    def _take_data(self, data: dict) -> None:
        if self.limit is not None:
            return  # the upstream is being closed: nothing more joins
        if isinstance(data.get("usage"), dict):
            self.usage = data["usage"]
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return
        choice = choices[0]
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        content = self._valid("content", delta.get("content"))
        reasoning = self._valid("reasoning", delta.get("reasoning_content") or delta.get("reasoning"))
        if self.first_token_at is None and (content or reasoning):
            self.first_token_at = time.time()
        if content:
            self.counted_tokens += 1
            if self.held is not None:
                self.held.append(content)
                if sum(map(len, self.held)) >= self.hold_chars:
                    self._release_held()
                content = None
        if content or reasoning:
            self._append(content, reasoning)
        if isinstance(choice.get("finish_reason"), str) and self.limit is None:
            self.finish_reason = choice["finish_reason"]

    def _valid(self, field: str, piece) -> str | None:
        """A text piece of the chunk as valid Unicode, before anything keeps, sends or stores it (a
        pair split across chunks joined, a lone half U+FFFD); None when there is none."""
        if not isinstance(piece, str) or not piece:
            return None
        return self.repair.text(field, piece) or None

    def _append(self, content: str | None, reasoning: str | None) -> None:
        content, reasoning = self._within_bounds(content, reasoning)
        if not content and not reasoning:
            return
        had_text = self.text_length or self.reasoning_length  # two attributes a chunk, on the relay's path
        if content:
            self.text.append(content)
            self.text_length += len(content)
        if reasoning:
            self.reasoning.append(reasoning)
            self.reasoning_length += len(reasoning)
        if not had_text:
            self.first_text()

    def _within_bounds(self, content: str | None, reasoning: str | None) -> tuple[str | None, str | None]:
        """What of the piece joins: cut at the story's length limit or the reasoning's; nothing of
        it past the quota."""
        if self.limit is not None:
            return None, None
        if content and self.text_length + len(content) > self.bounds.text_chars:
            content = content[:max(0, self.bounds.text_chars - self.text_length)]
            self._reached(story_full())
        if reasoning and self.reasoning_length + len(reasoning) > MAX_REASONING:
            reasoning = reasoning[:max(0, MAX_REASONING - self.reasoning_length)]
            self._reached(reasoning_full())
        if self.bounds.quota_room is not None:
            added = STORED_COPIES * _utf8_bytes(content) + _utf8_bytes(reasoning)
            if self.stored_bytes + added > self.bounds.quota_room:
                self._reached(quota_reached(self.bounds.quota), replace=True)
                return None, None
            self.stored_bytes += added
        return content, reasoning

    def _reached(self, record: dict, replace: bool = False) -> None:
        """A bound is reached: the generation ends `length`, saying which."""
        if self.limit is None or replace:
            self.limit = record
        self.finish_reason = "length"
        if self.on_limit is not None:
            self.on_limit()

    def _release_held(self) -> None:
        """The held start of a continuation, without a repeat of the text it continues, joins the text."""
        if self.held is None:
            return
        start = prompting.join_continuation(self.prefix, "".join(self.held))
        self.held = None
        if start:
            self._append(start, None)
