"""Keeping a reasoning model's thinking out of the answer text.

LM Studio and llama.cpp already send it apart (`reasoning_content` in each delta) and Ollama
sends `message.thinking`; other servers write it inline as `<think>...</think>` at the start of
the content. The proxy moves inline thinking to `reasoning_content`, where OpenAI clients that
know it (DeepSeek's convention) show it apart and the others ignore it, so the story text never
contains it. The opening tag is one token of the model's vocabulary, so it arrives whole in one
chunk; a closing tag split over two chunks is held back until it is complete (thinking that
never closes ends the reasoning, and the answer text is never held back)."""
from __future__ import annotations

import re

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"
OPEN_TAG_BYTES = OPEN_TAG.encode()
_INLINE = re.compile(r"<think>(.*?)(?:</think>|$)", re.S)


def _partial_tag_suffix(text: str, tag: str) -> int:
    """How many characters at the end of `text` could be the start of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkSplitter:
    """Splits streamed content pieces into (answer text, reasoning text) as they arrive."""

    def __init__(self):
        self.inside = False
        self._pending = ""

    @property
    def idle(self) -> bool:
        """True when nothing is held back and no thinking is open: plain chunks pass as they are."""
        return not self.inside and not self._pending

    def split(self, text: str) -> tuple[str, str]:
        text = self._pending + text
        self._pending = ""
        content: list[str] = []
        reasoning: list[str] = []
        while text:
            tag = CLOSE_TAG if self.inside else OPEN_TAG
            at = text.find(tag)
            target = reasoning if self.inside else content
            if at < 0:
                # Only a closing tag is waited for; answer text is never held back.
                keep = _partial_tag_suffix(text, tag) if self.inside else 0
                target.append(text[: len(text) - keep])
                self._pending = text[len(text) - keep:]
                break
            target.append(text[:at])
            text = text[at + len(tag):]
            self.inside = not self.inside
        return "".join(content), "".join(reasoning)

    def split_delta(self, delta: dict) -> dict:
        """The delta with inline thinking moved from `content` to `reasoning_content`."""
        text = delta.get("content")
        if not isinstance(text, str) or not text:
            return delta
        content, thinking = self.split(text)
        delta = dict(delta, content=content)
        if thinking:
            delta["reasoning_content"] = (delta.get("reasoning_content") or "") + thinking
        return delta


def split_message(text: str) -> tuple[str, str]:
    """(answer, reasoning) of a whole message that may hold `<think>...</think>` blocks."""
    if OPEN_TAG not in text:
        return text, ""
    reasoning = "\n".join(part.strip() for part in _INLINE.findall(text))
    return _INLINE.sub("", text).lstrip(), reasoning
