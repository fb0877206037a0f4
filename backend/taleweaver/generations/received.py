"""What a job has taken from the backend's stream: its text and reasoning, and the figures that
come with them."""
from __future__ import annotations

import json
import threading
import time
from typing import Callable

from taleweaver.stories import prompting


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
    see text that is taken back."""

    def __init__(self, prefix: str, avoid_repeat: bool, first_text: Callable[[], None]):
        self.prefix = prefix
        self.first_text = first_text  # told once, when the first text joins
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
            self.closed = True
            self._release_held()
            return "".join(self.text), "".join(self.reasoning)

    def _take_data(self, data: dict) -> None:
        if isinstance(data.get("usage"), dict):
            self.usage = data["usage"]
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return
        choice = choices[0]
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        content = delta.get("content")
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        content = content if isinstance(content, str) and content else None
        reasoning = reasoning if isinstance(reasoning, str) and reasoning else None
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
        if isinstance(choice.get("finish_reason"), str):
            self.finish_reason = choice["finish_reason"]

    def _append(self, content: str | None, reasoning: str | None) -> None:
        had_text = self.text_length or self.reasoning_length  # two attributes a chunk, on the relay's path
        if content:
            self.text.append(content)
            self.text_length += len(content)
        if reasoning:
            self.reasoning.append(reasoning)
            self.reasoning_length += len(reasoning)
        if not had_text:
            self.first_text()

    def _release_held(self) -> None:
        """The held start of a continuation, without a repeat of the text it continues, joins the text."""
        if self.held is None:
            return
        start = prompting.join_continuation(self.prefix, "".join(self.held))
        self.held = None
        if start:
            self._append(start, None)
