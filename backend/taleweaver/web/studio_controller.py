"""/api/stories/<id>/...: the studio around a story: the context budget of its next passage, the
versions of its last generated passage, undo and redo, accepting or discarding a rewrite's proposal."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from taleweaver.errors import ApiError, validation_error
from taleweaver.settings import llm_service
from taleweaver.stories import history, marks, passages, prompting, rewriting, sizes, studio
from taleweaver.stories import store as stories_store
from taleweaver.storage import texts
from taleweaver.web import story_requests as fields
from taleweaver.web.auth import current_user_id
from taleweaver.web.request_body import json_object

bp = Blueprint("studio", __name__)


def passage_after_edit(conn, row, content: str) -> int | None:
    """The id of the story's passage once its text becomes `content` (None when it no longer fits)."""
    passage = passages.after_edit(conn, passages.current(conn, row), row["content"], content)
    return passages.keep(conn, row["id"], passage)[0]


def _next_prompt(story_id: int):
    """(action, active backend, model, service, prompt) of the story's next passage, from the
    query's `action`, `model` and `max_tokens` as the generation would send them."""
    row = fields.row(story_id)
    action = request.args.get("action", "continue")
    if action not in prompting.ACTIONS:
        raise validation_error("action", f"action must be one of {', '.join(prompting.ACTIONS)}.")
    max_tokens, context_length = _tokens_arg("max_tokens"), _tokens_arg("context_length")
    user_id = current_user_id()
    service = llm_service.get_active_llm_service(user_id)
    active = llm_service.active_backend(user_id)
    model = request.args.get("model") or active.default_model
    return action, active, model, service, studio.build_prompt(row, action, service, model, max_tokens, context_length)


def _tokens_arg(name: str) -> int | None:
    """A count of tokens in the query (as the generation's request would send it), if given."""
    value = request.args.get(name)
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 10_000_000:
        raise validation_error(name, f"{name} must be a whole number of tokens (1 or more).")
    return int(value)


@bp.get("/<int:story_id>/context")
def context_budget(story_id: int):
    """How much of the model's context the story's next passage would use, and what of the story
    text would be trimmed (`action`, `model` and `max_tokens` as the generation would send them)."""
    action, active, model, _, prompt = _next_prompt(story_id)
    return jsonify({"action": action, "backend_type": active.backend_type, "model": model, **prompt.budget})


@bp.get("/<int:story_id>/prompt")
def next_prompt(story_id: int):
    """The messages the story's next passage would send, each in its marked parts, built as the
    generation builds them, with their tokens by the backend's tokenizer where it has one."""
    action, active, model, service, prompt = _next_prompt(story_id)
    messages = prompt.view()
    counted = service.count_tokens([message["content"] for message in messages], model)
    for message, tokens in zip(messages, counted["counts"]):
        message["tokens"] = tokens
    return jsonify({"action": action, "backend_type": active.backend_type, "model": model,
                    "mode": prompt.mode, "template": prompt.template, "template_stop": prompt.stop(None) or [],
                    "tokenizer": counted["tokenizer"], "messages": messages, "context": prompt.budget})


@bp.post("/<int:story_id>/alternatives")
def choose_alternative(story_id: int):
    """Put version `index` (from 0) of the last generated passage in the text; the passage as it
    was (edits included) stays a version, so nothing is lost."""
    body = json_object()
    index = body.get("index")

    def choose(conn, row):
        passage = passages.current(conn, row)
        if passage is None or passage["start"] > len(row["content"]):
            raise ApiError(409, "no_alternatives", "This story has no generated passage with versions to choose from.")
        passage_id, _ = passages.keep(conn, story_id, passages.with_current_tail(conn, passage, row["content"]))
        kept = texts.passage(conn, passage_id)
        count = len(kept["text_ids"])
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise validation_error("index", f"index must be a version number from 0 to {count - 1}.")
        chosen_id, _ = texts.keep_passage(conn, story_id, kept["start"], kept["stop"], index, kept["text_ids"])
        content = row["content"][: kept["start"]] + texts.read(conn, kept["text_ids"][index])
        stories_store.write_state(conn, story_id, content, chosen_id, "edit")
        stories_store.record_history(conn, story_id, "alternative")

    fields.guarded_write(story_id, fields.base_revision(body), choose)
    return jsonify(fields.story_document(story_id))


def _step(story_id: int, direction: int):
    body = json_object()

    def step(conn, row):
        target = history.neighbour(conn, story_id, row["history_node_id"], direction)
        if target is None:
            raise ApiError(409, "nothing_to_undo" if direction < 0 else "nothing_to_redo",
                           "There is nothing to undo." if direction < 0 else "There is nothing to redo.")
        stories_store.write_state(conn, story_id, texts.read(conn, target["text_id"]), target["passage_id"], "restore")
        stories_store.move_in_history(conn, story_id, target["id"])

    fields.guarded_write(story_id, fields.base_revision(body), step)
    return jsonify(fields.story_document(story_id))


@bp.post("/<int:story_id>/undo")
def undo(story_id: int):
    """Go back one step (an edit, a generation, a regeneration, a version chosen, a restore)."""
    return _step(story_id, -1)


@bp.post("/<int:story_id>/redo")
def redo(story_id: int):
    """Go forward again one step that was undone."""
    return _step(story_id, +1)


def _proposal_of(conn, row) -> dict:
    proposal = rewriting.current(conn, row)
    if proposal is None:
        raise ApiError(409, "no_proposal", "This story has no rewrite waiting for a choice (it was accepted or "
                       "discarded elsewhere, or the text changed); select a passage and press Rewrite.")
    return proposal


@bp.post("/<int:story_id>/proposal/accept")
def accept_proposal(story_id: int):
    """Put version `index` of the story's rewrite proposal in place of exactly its range: one undo step."""
    body = json_object()
    index = body.get("index")

    def accept(conn, row):
        count = len(_proposal_of(conn, row)["text_ids"])
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise validation_error("index", f"index must be a version number from 0 to {count - 1}.")
        proposal = rewriting.current(conn, row)
        content = rewriting.accepted(conn, row, index)
        if index > 0:  # the model's version: the range is the model's, the text after it moves
            version_length = len(content) - len(row["content"]) + proposal["stop"] - proposal["start"]
            marks.keep_for(conn, story_id, content, marks.replaced(
                marks.current(conn, story_id), proposal["start"], proposal["stop"], version_length, True))
        stories_store.write_state(conn, story_id, content, passage_after_edit(conn, row, content), "edit")
        stories_store.record_history(conn, story_id, "rewrite")

    fields.guarded_write(story_id, fields.base_revision(body), accept)
    return jsonify(fields.story_document(story_id))


@bp.post("/<int:story_id>/proposal/discard")
def discard_proposal(story_id: int):
    """Drop the story's rewrite proposal: the text stays as it is."""
    body = json_object()

    def discard(conn, row):
        _proposal_of(conn, row)
        rewriting.discard(conn, story_id)
        sizes.refresh(conn, story_id)

    fields.guarded_write(story_id, fields.base_revision(body), discard, content_changes=False)
    return jsonify(fields.story_document(story_id))
