"""The writing studio on the server: the prompt of a story's next passage (continue, or
regenerate the last one), built from the story within the context of the model that writes it."""
from __future__ import annotations

import functools
import json

from taleweaver.llm.infill import InfillView
from taleweaver.storage.db import get_db
from taleweaver.stories import insertion, lorebook, passages, prompting, rewriting
from taleweaver.stories.store import settings_of
from taleweaver.errors import ApiError


def story_fields(row) -> dict:
    fields = {k: row[k] for k in ("premise", "genre", "length", "memory", "authors_note")}
    settings = settings_of(row)
    return {**fields, "lorebook": lorebook.of_settings(settings), "settings": settings}


def passage_prefix(row, action: str) -> tuple[str, dict | None]:
    """The text a new passage follows and, for a regeneration, the last passage with its text as
    it is now among its versions (for store.keep_alternatives). 409 when there is no generated
    passage to regenerate."""
    content = row["content"]
    if action != "regenerate":
        return content, None
    conn = get_db()
    alternatives = passages.current(conn, row)
    if alternatives is None or alternatives["start"] > len(content):
        raise ApiError(
            409, "nothing_to_regenerate",
            "This story has no generated passage to regenerate (an edit before it, or an undo, may have "
            "removed it); press Continue to write a new one.",
        )
    return content[: alternatives["start"]], passages.with_current_tail(conn, alternatives, content)


def build_prompt(row, action: str, service, model: str | None, max_tokens, context_length=None) -> prompting.Prompt:
    """The messages and the context budget of the story's next passage, within the writer's
    context size where they set one (service.context_budget)."""
    if action not in prompting.ACTIONS:
        raise ApiError(400, "invalid_request", f"The action must be one of {', '.join(prompting.ACTIONS)}.",
                       field="taleweaver.action")
    text, _ = passage_prefix(row, action)
    tokens, source = service.context_budget(model, context_length)
    story = {**story_fields(row), "render": _models_template(service, model)}
    try:
        return prompting.build(story, text, tokens, max_tokens, source)
    except prompting.ContextTooSmall as small:
        raise _context_too_small(small) from None


def insert_prompt(row, position: int, service, model: str | None, max_tokens,
                  context_length=None) -> tuple[prompting.Prompt, InfillView]:
    """The messages and budget of writing at `position` (code points into the story's text), and
    the service the generation runs with: the backend's fill-in-the-middle of the two sides where
    it has one, else those messages."""
    content = row["content"]
    tokens, source = service.context_budget(model, context_length)
    try:
        prompt, sides = insertion.build(story_fields(row), content[:position], content[position:], tokens,
                                        max_tokens, source)
    except prompting.ContextTooSmall as small:
        raise _context_too_small(small) from None
    return prompt, InfillView(service, sides.before, sides.after)


def rewrite_prompt(row, start: int, stop: int, instruction: str, service, model: str | None,
                   max_tokens, context_length=None) -> prompting.Prompt:
    """The messages and budget of a proposal for another version of content[start:stop]."""
    tokens, source = service.context_budget(model, context_length)
    try:
        return rewriting.build(story_fields(row), row["content"], start, stop, instruction, tokens, max_tokens, source)
    except prompting.ContextTooSmall as small:
        raise _context_too_small(small) from None


def _context_too_small(small: prompting.ContextTooSmall) -> ApiError:
    error = ApiError(
        400, "context_length_exceeded",
        f"Memory, author's note and premise with room for the answer ({small.max_tokens} tokens) need "
        f"about {small.needed} tokens, more than the model's context of {small.context_length} tokens.",
        hint="Shorten the memory, author's note or premise, lower Max tokens, or pick a model with a "
        "longer context.",
    )
    error.extra = {"context_length": small.context_length, "needed_tokens": small.needed}
    return error


def _models_template(service, model: str | None):
    """Messages rendered in the model's own chat template, once per prompt (a 400 where the
    backend does not render it)."""
    @functools.lru_cache(maxsize=1)
    def render_once(messages: str) -> str:
        rendered = service.apply_chat_template(json.loads(messages), model)
        if rendered is None:
            raise ApiError(400, "template_unavailable",
                           "This backend does not report its model's chat template (only a llama.cpp server does, in "
                           "/props); nothing was sent.", hint="Choose one of the listed templates in Generation settings.",
                           field="settings.template")
        return rendered
    return lambda messages: render_once(json.dumps(messages))
