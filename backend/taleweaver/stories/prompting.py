"""The prompt of a story generation, built on the server: premise, memory and author's note are
always sent; the lorebook's entries whose keys appear in the recent text, within their budget,
after the memory; of the story text, as much of the most recent part as fits the model's context
after the answer's reserve (the oldest text is trimmed first, at a word boundary).

Each message is built as a list of parts (instruction, memory, lorebook, premise, omitted, story,
authors_note), its content their concatenation, so the Prompt view shows exactly what is sent.
The story text sits inside a fence of backticks longer than any run of backticks in it, so no
text can close it and speak as the instructions after it.

Token counts are estimates: CHARS_PER_TOKEN characters per token (English prose averages about
four with the common tokenizers), plus MESSAGE_OVERHEAD tokens per chat message."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from taleweaver.stories import lorebook, templates

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
class Part:
    """A piece of a message: `kind` says what it is, `name` which lorebook entry."""
    kind: str
    text: str
    name: str | None = None

    def view(self) -> dict:
        return {"kind": self.kind, "text": self.text, **({"name": self.name} if self.name is not None else {})}


@dataclass
class Prompt:
    parts: list[tuple[str, list[Part]]]  # (role, parts) per message; one ("prompt", ...) in completion mode
    budget: dict = field(default_factory=dict)
    mode: str = "chat"
    template: str = templates.RAW

    @classmethod
    def of_messages(cls, messages: list[dict], budget: dict) -> "Prompt":
        """A chat prompt written whole elsewhere ("Write here", "Rewrite"): its system message an
        instruction, each other message story text with its framing."""
        return cls([(m["role"], [Part("instruction" if m["role"] == "system" else "story", m["content"])])
                    for m in messages], budget)

    def stop(self, asked) -> list[str] | None:
        """The stop strings a completion sends: the writer's (`asked`), then the template's."""
        return templates.stop_strings(self.template, asked)

    @property
    def messages(self) -> list[dict]:
        return [{"role": role, "content": "".join(part.text for part in parts)} for role, parts in self.parts]

    @property
    def text(self) -> str:
        """The completion prompt: every part joined."""
        return "".join(part.text for _, parts in self.parts for part in parts)

    def view(self) -> list[dict]:
        """The messages (or the one completion prompt) with their parts, as the Prompt view shows them."""
        return [{"role": role, "content": message["content"], "parts": [part.view() for part in parts]}
                for (role, parts), message in zip(self.parts, self.messages)]


def trim_to_tail(text: str, limit: int) -> str:
    """The last `limit` characters of the text or fewer, starting at a word boundary."""
    if len(text) <= limit:
        return text
    tail = text[len(text) - limit:]
    match = re.search(r"\s", tail)
    return tail[match.end():] if match and match.end() < len(tail) else tail


def fence_for(text: str) -> str:
    """A line of backticks longer than any run of backticks in the text (three at least)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _story_parts(text: str, trimmed: bool, fence: str) -> list[Part]:
    heading = "The story so far (its beginning is left out)" if trimmed else "The story so far"
    opening = Part("instruction", f"\n\n{heading}, between the two lines of {len(fence)} backticks:\n{fence}\n")
    omitted = [Part("omitted", "")] if trimmed else []
    return [opening, *omitted, Part("story", text), Part("instruction", f"\n{fence}")]


def _setup_parts(story: dict) -> list[Part]:
    parts = [Part("instruction", "Premise: "), Part("premise", story.get("premise") or "(none)")]
    for key, label in (("genre", "Genre"), ("length", "Length")):
        if story.get(key):
            parts += [Part("instruction", f"\n\n{label}: "), Part("premise", story[key])]
    return parts


def _note_parts(story: dict) -> list[Part]:
    if not story.get("authors_note"):
        return []
    return [Part("instruction", "\n\nAuthor's note (for this passage): "), Part("authors_note", story["authors_note"])]


def _user_parts(story: dict, text: str, trimmed: bool, fence: str) -> list[Part]:
    story_block = _story_parts(text, trimmed, fence) if text else []
    return [*_setup_parts(story), *story_block, *_note_parts(story),
            Part("instruction", "\n\n" + (CONTINUE if text else OPENING))]


def _system_parts(story: dict, entries: list[dict], system: str = SYSTEM) -> list[Part]:
    parts = [Part("instruction", system)]
    memory = (story.get("memory") or "").strip()
    if memory:
        parts += [Part("instruction", "\n\nMemory (always true in this story):\n"), Part("memory", memory)]
    if entries:
        parts.append(Part("instruction", "\n\nLorebook (about the people, places and things the story mentions):"))
        for entry in entries:
            parts += [Part("instruction", "\n"), Part("lorebook", entry["text"], entry["name"] or "(unnamed entry)")]
    return parts


def _raw_parts(story: dict, entries: list[dict], text: str) -> list[Part]:
    """Raw completion: memory, lorebook entries, the author's note in brackets (and the premise
    while there is no text yet), each followed by a blank line; no instruction."""
    parts = []
    memory = (story.get("memory") or "").strip()
    if memory:
        parts += [Part("memory", memory), Part("template", "\n\n")]
    for entry in entries:
        parts += [Part("lorebook", entry["text"], entry["name"] or "(unnamed entry)"), Part("template", "\n\n")]
    if story.get("authors_note"):
        parts += [Part("template", "[Author's note: "), Part("authors_note", story["authors_note"]), Part("template", "]\n\n")]
    if not text and story.get("premise"):
        parts += [Part("premise", story["premise"]), Part("template", "\n\n")]
    return parts


def _completion_parts(story: dict, entries: list[dict], text: str, trimmed: bool, template: str) -> list[Part]:
    """The completion prompt: the story text at its very end, for the model to go on with."""
    story_parts = ([Part("omitted", "")] if trimmed else []) + ([Part("story", text)] if text else [])
    if template == templates.RAW:
        return _raw_parts(story, entries, text) + story_parts
    ask = Part("instruction", "\n\n" + ("Go on with the story; your answer begins with it." if text else OPENING))
    system, user = _system_parts(story, entries, templates.COMPLETION_SYSTEM), [*_setup_parts(story), *_note_parts(story), ask]
    if template == templates.MODEL:
        return _in_models_template(system, user, story.get("render")) + story_parts
    wrap = templates.TEMPLATES[template]
    return [Part("template", wrap.system_open), *system, Part("template", wrap.between), *user,
            Part("template", wrap.user_close), *story_parts]


def _in_models_template(system: list[Part], user: list[Part], render) -> list[Part]:
    """The system and user turns as the server renders them in the model's template, split back
    into their parts where the rendering holds each turn's text whole (else one template part)."""
    texts = ["".join(part.text for part in parts) for parts in (system, user)]
    rendered = render([{"role": "system", "content": texts[0]}, {"role": "user", "content": texts[1]}])
    first = rendered.find(texts[0])
    second = rendered.find(texts[1], first + len(texts[0])) if first >= 0 else -1
    if second < 0:
        return [Part("template", rendered)]
    return [Part("template", rendered[:first]), *system, Part("template", rendered[first + len(texts[0]):second]),
            *user, Part("template", rendered[second + len(texts[1]):])]


def _assemble(story: dict, entries: list[dict], text: str, trimmed: bool, fence: str) -> list[tuple[str, list[Part]]]:
    mode, template = templates.mode_of(story.get("settings") or {})
    if mode == "completion":
        return [("prompt", _completion_parts(story, entries, text, trimmed, template))]
    return [("system", _system_parts(story, entries)), ("user", _user_parts(story, text, trimmed, fence))]


def _tokens_of(parts: list[Part]) -> int:
    return estimate_tokens("".join(part.text for part in parts)) + MESSAGE_OVERHEAD


def _lorebook_view(sent: list[dict], left_out: list[dict]) -> list[dict]:
    return [{"name": entry["name"], "tokens": entry["tokens"], "always": entry["always"], "sent": sent_here}
            for entries, sent_here in ((sent, True), (left_out, False)) for entry in entries]


def build(story: dict, text: str, context_length: int, max_tokens: int | None, source: str) -> Prompt:
    """The prompt for continuing `text` (the story text before the passage to write) in the
    story's mode, and the budget the page shows: what each part takes and what was trimmed."""
    reserve = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else DEFAULT_MAX_TOKENS
    lore = story.get("lorebook") or lorebook.empty()
    sent_entries, left_out = lorebook.select(lore, text, story.get("authors_note") or "", estimate_tokens)
    fence = fence_for(text)
    # Everything but the story text, with a placeholder character for the text (so that its
    # heading and fences are counted).
    frame = _assemble(story, sent_entries, "x" if text else "", True, fence)
    fixed_tokens = sum(_tokens_of(parts) for _, parts in frame)
    room = context_length - reserve - fixed_tokens
    if room < (MIN_STORY_TOKENS if text else 0):
        raise ContextTooSmall(fixed_tokens + reserve + (MIN_STORY_TOKENS if text else 0), context_length, reserve)
    sent = trim_to_tail(text, max(0, room) * CHARS_PER_TOKEN)
    trimmed = len(text) - len(sent)
    mode, template = templates.mode_of(story.get("settings") or {})
    prompt = Prompt(_assemble(story, sent_entries, sent, trimmed > 0, fence), mode=mode, template=template)
    prompt_tokens = sum(_tokens_of(parts) for _, parts in prompt.parts)
    prompt.budget = {
        "context_length": context_length,
        "context_source": source,
        "max_tokens": reserve,
        "prompt_tokens": prompt_tokens,
        "memory_tokens": estimate_tokens(story.get("memory") or ""),
        "authors_note_tokens": estimate_tokens(story.get("authors_note") or ""),
        "premise_tokens": estimate_tokens(story.get("premise") or ""),
        "lorebook_tokens": sum(entry["tokens"] for entry in sent_entries),
        "lorebook": _lorebook_view(sent_entries, left_out),
        "lorebook_unusable_keys": lorebook.unusable_keys(lore),
        "story_tokens": estimate_tokens(sent),
        "story_chars": len(text),
        "story_chars_sent": len(sent),
        "trimmed_chars": trimmed,
        "trimmed": trimmed > 0,
        "used_fraction": round(min(1.0, (prompt_tokens + reserve) / context_length), 4) if context_length else None,
    }
    return prompt


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
