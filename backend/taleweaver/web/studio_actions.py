"""The studio actions a story's chat completion may ask for (`taleweaver.action`; the server then
writes the messages), their fields, and what each needs before its job starts:

- `continue`: the story's next passage; `regenerate`: another version of its last one;
- `insert` ("Write here") with `position`: a passage written at that character offset, between
  the text before it and the text after it, which it keeps;
- `rewrite` with `start`, `stop` and `instruction`: a proposal for another version of that range
  of the text (stories/rewriting.py); the text stays as it is until the writer accepts one.

Offsets count characters as Python does (code points)."""
from __future__ import annotations

from dataclasses import dataclass

from taleweaver.errors import ApiError
from taleweaver.generations import rows
from taleweaver.llm.completions import ChatView
from taleweaver.storage.db import write_transaction
from taleweaver.stories import insertion, prompting, rewriting, studio
from taleweaver.stories import store as stories_store

ACTIONS = (*prompting.ACTIONS, insertion.ACTION, rewriting.ACTION)
MAX_OFFSET = 2**63 - 1
_FIELDS = {insertion.ACTION: ("position",), rewriting.ACTION: ("start", "stop", "instruction")}


def _bad(message: str, param: str) -> ApiError:
    return ApiError(400, "invalid_request", message, field=param)


def _offset(extension: dict, name: str) -> int:
    value = extension.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_OFFSET:
        raise _bad(f"taleweaver.{name} must be a character offset in the story's text (a whole number, 0 or more).",
                   f"taleweaver.{name}")
    return value


def details(extension: dict, action: str | None) -> dict:
    """The fields of the action (400 for a missing or malformed one, or one of another action)."""
    wanted = _FIELDS.get(action, ())
    for fields in _FIELDS.values():
        for name in fields:
            if name not in wanted and extension.get(name) is not None:
                action_of = next(a for a, names in _FIELDS.items() if name in names)
                raise _bad(f"taleweaver.{name} goes with taleweaver.action \"{action_of}\" only.", f"taleweaver.{name}")
    found = {name: _offset(extension, name) for name in wanted if name != "instruction"}
    if action == rewriting.ACTION:
        if found["start"] >= found["stop"]:
            raise _bad("taleweaver.start must be before taleweaver.stop: select the passage to rewrite.",
                       "taleweaver.start")
        instruction = extension.get("instruction")
        if (not isinstance(instruction, str) or not instruction.strip()
                or len(instruction) > rewriting.MAX_INSTRUCTION_CHARS):
            raise _bad(f"taleweaver.instruction must say how to rewrite the passage (1 to "
                       f"{rewriting.MAX_INSTRUCTION_CHARS} characters).", "taleweaver.instruction")
        found["instruction"] = instruction.strip()
    return found


@dataclass
class Prepared:
    """What a studio action's job starts with: the service it reads (the payload already carries
    the prompt), where in the text it writes, and the budget and prompt it keeps."""
    service: object
    prefix_length: int
    context: dict
    suffix_start: int | None = None


def prepare(conn, row, action: str, fields: dict, service, payload: dict) -> Prepared:
    """The payload's prompt, the service and where in the text the job writes; a regeneration
    keeps the passage's versions and a rewrite begins its proposal (each in a transaction of its
    own). "Write here" and "Rewrite" are chat prompts whatever the story's mode."""
    model, max_tokens, context_length = payload.get("model"), payload.get("max_tokens"), payload.get("context_length")
    length = len(row["content"])
    past = [name for name in ("position", "stop") if fields.get(name, 0) > length]
    if past:
        raise _bad(f"taleweaver.{past[0]} {fields[past[0]]} is past the end of the story's text ({length} characters).",
                   f"taleweaver.{past[0]}")
    if action == insertion.ACTION:
        prompt, filling = studio.insert_prompt(row, fields["position"], service, model, max_tokens, context_length)
        payload["messages"] = prompt.messages
        return Prepared(filling, fields["position"], prompt.budget, fields["position"])
    if action == rewriting.ACTION:
        start, stop = fields["start"], fields["stop"]
        prompt = studio.rewrite_prompt(row, start, stop, fields["instruction"], service, model, max_tokens,
                                       context_length)
        with write_transaction(conn):
            rewriting.begin(conn, row, start, stop)
        payload["messages"] = prompt.messages
        return Prepared(service, start, {**prompt.budget, rows.KEPT_PROMPT: prompt.view()}, stop)
    prompt = studio.build_prompt(row, action, service, model, max_tokens, context_length)
    if prompt.mode == "completion":
        payload.update(prompt=prompt.text, stop=prompt.stop(payload.get("stop")))
        service = ChatView(service)  # the job reads chat chunks; the backend gets a text completion
    else:
        payload["messages"] = prompt.messages
    text, alternatives = studio.passage_prefix(row, action)
    if alternatives is not None:
        stories_store.keep_alternatives(conn, row["id"], alternatives)
    context = {**prompt.budget, "mode": prompt.mode, "template": prompt.template, rows.KEPT_PROMPT: prompt.view()}
    return Prepared(service, len(text), context)
