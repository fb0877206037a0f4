"""The prompt of a story generation, built on the server: premise, memory and author's note are
always sent; of the story text, as much of the most recent part as fits the model's context
after the answer's reserve (the oldest text is trimmed first, at a word boundary).

Token counts are estimates: CHARS_PER_TOKEN characters per token (English prose averages about
four with the common tokenizers), plus MESSAGE_OVERHEAD tokens per chat message."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
DEFAULT_MAX_TOKENS = 512  # the answer's reserve when the request names no max_tokens
MIN_STORY_TOKENS = 16  # below this much room for story text, the prompt is not worth sending
OVERLAP_MIN_CHARS = 12  # a repeated tail shorter than this is a coincidence, not a repeat
OVERLAP_MAX_CHARS = 600

ACTIONS = ("continue", "regenerate")

SYSTEM = (
    "You are a novelist writing a story together with its author. Write only the story's prose: "
    "no title, headings, notes, summaries or commentary."
)
CONTINUE = (
    "Continue the story from exactly where the text stops. Do not repeat the last sentence or any "
    "earlier text: write only what comes next."
)
OPENING = "Write the opening of the story."


def estimate_tokens(text: str) -> int:
    """Approximate tokens of a text (see the module docstring)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


class ContextTooSmall(Exception):
    """Memory, author's note, premise and the answer's reserve alone do not fit the context."""

    def __init__(self, needed: int, context_length: int, max_tokens: int):
        super().__init__(needed)
        self.needed, self.context_length, self.max_tokens = needed, context_length, max_tokens


@dataclass
class Prompt:
    messages: list[dict]
    budget: dict = field(default_factory=dict)


def _trim_to_tail(text: str, limit: int) -> str:
    """The last `limit` characters of the text or fewer, starting at a word boundary."""
    if len(text) <= limit:
        return text
    tail = text[len(text) - limit:]
    match = re.search(r"\s", tail)
    return tail[match.end():] if match and match.end() < len(tail) else tail


def _user_message(story: dict, text: str, trimmed: bool) -> str:
    parts = [f"Premise: {story.get('premise') or '(none)'}"]
    if story.get("genre"):
        parts.append(f"Genre: {story['genre']}")
    if story.get("length"):
        parts.append(f"Length: {story['length']}")
    if text:
        heading = "The story so far (its beginning is left out)" if trimmed else "The story so far"
        parts.append(f"{heading}:\n<<<\n{text}\n>>>")
    if story.get("authors_note"):
        parts.append(f"Author's note (for this passage): {story['authors_note']}")
    parts.append(CONTINUE if text else OPENING)
    return "\n\n".join(parts)


def _system_message(story: dict) -> str:
    memory = (story.get("memory") or "").strip()
    return SYSTEM + (f"\n\nMemory (always true in this story):\n{memory}" if memory else "")


def build(story: dict, text: str, context_length: int, max_tokens: int | None, source: str) -> Prompt:
    """The messages for continuing `text` (the story text before the passage to write) and the
    budget the page shows: how much of the context each part takes and what was trimmed."""
    reserve = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else DEFAULT_MAX_TOKENS
    system = _system_message(story)
    # Everything but the story text: the user message with the text left empty (a placeholder
    # character stands for it, so the heading and fences are counted).
    frame = _user_message(story, "x", True) if text else _user_message(story, "", False)
    fixed_tokens = estimate_tokens(system) + estimate_tokens(frame) + 2 * MESSAGE_OVERHEAD
    room = context_length - reserve - fixed_tokens
    if room < (MIN_STORY_TOKENS if text else 0):
        raise ContextTooSmall(fixed_tokens + reserve + (MIN_STORY_TOKENS if text else 0), context_length, reserve)
    sent = _trim_to_tail(text, max(0, room) * CHARS_PER_TOKEN)
    trimmed = len(text) - len(sent)
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": _user_message(story, sent, trimmed > 0)},
    ]
    prompt_tokens = sum(estimate_tokens(m["content"]) + MESSAGE_OVERHEAD for m in messages)
    return Prompt(messages, {
        "context_length": context_length,
        "context_source": source,
        "max_tokens": reserve,
        "prompt_tokens": prompt_tokens,
        "memory_tokens": estimate_tokens(story.get("memory") or ""),
        "authors_note_tokens": estimate_tokens(story.get("authors_note") or ""),
        "premise_tokens": estimate_tokens(story.get("premise") or ""),
        "story_tokens": estimate_tokens(sent),
        "story_chars": len(text),
        "story_chars_sent": len(sent),
        "trimmed_chars": trimmed,
        "trimmed": trimmed > 0,
        "used_fraction": round(min(1.0, (prompt_tokens + reserve) / context_length), 4) if context_length else None,
    })


def last_sentence(text: str) -> str:
    """The text's last sentence (or its last line when it has no sentence end)."""
    tail = text.rstrip()
    ends = [m.end() for m in re.finditer(r"[.!?…][\"'”’)\]]*\s", tail)]
    start = max([0] + ends + [tail.rfind("\n") + 1])
    return tail[start:].strip()


def overlap_hold(prefix: str) -> int:
    """How many characters of a continuation to hold back before its start can be checked for
    a repeat of the prefix's last sentence."""
    if not prefix.strip():
        return 0
    return min(OVERLAP_MAX_CHARS, len(last_sentence(prefix)) + 24)


def join_continuation(prefix: str, text: str) -> str:
    """The continuation without any repeat of the prefix's tail it starts with, and with a space
    before it when the prefix ends in a word and it starts with one."""
    if not prefix.strip():
        return text
    tail = prefix.rstrip()
    body = text.lstrip()
    for size in range(min(len(body), len(tail), OVERLAP_MAX_CHARS), OVERLAP_MIN_CHARS - 1, -1):
        if tail.endswith(body[:size]):
            text = body[size:]
            break
    if text and not prefix[-1].isspace() and not text[0].isspace() and text[0] not in ",.;:!?'\"”’)]—-":
        text = " " + text
    return text
