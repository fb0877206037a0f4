"""/proxy/llm/v1 for stories: a chat completion that names its story runs as a generation job;
following (SSE with a resumable cursor), reading and stopping it."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from taleweaver.generations import followers
from taleweaver.generations import probabilities as generation_probabilities
from taleweaver.generations import job as jobs
from taleweaver.generations import registry
from taleweaver.generations import rows
from taleweaver.generations import stop
from taleweaver.generations import store as generations_store
from taleweaver.stories import probabilities as story_probabilities
from taleweaver.stories import store as stories_store
from taleweaver.web.auth import current_user_id
from taleweaver.storage.db import database_path, get_db, release_db
from taleweaver.errors import ApiError
from taleweaver.web import reroll_requests, sse, studio_actions

bp = Blueprint("generations", __name__)

MAX_ID = 2**63 - 1
STORY_HEADER = "X-Taleweaver-Story"
GENERATION_HEADER = "X-Taleweaver-Generation"


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message, field=param)


def _positive_id(value, what: str, param: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise _bad(f"{what} must be a story id (a positive integer).", param)
    return value


def named_story(payload: dict) -> tuple[int | None, str | None, dict]:
    """The story a chat completion names (body field `taleweaver.story_id` or the header), if any,
    the studio action it asks for (`taleweaver.action`: the server then writes the messages) and
    that action's fields (web/studio_actions.py); the extension field is removed from the payload,
    which goes to the backend as it is."""
    extension = payload.pop("taleweaver", None)
    from_body = None
    action, fields = None, {}
    if extension is not None:
        if not isinstance(extension, dict):
            raise _bad("'taleweaver' must be an object such as {\"story_id\": 12}.", "taleweaver")
        if extension.get("story_id") is not None:
            from_body = _positive_id(extension["story_id"], "taleweaver.story_id", "taleweaver.story_id")
        action = extension.get("action")
        if action is not None and action not in studio_actions.ACTIONS:
            raise _bad(f"taleweaver.action must be one of {', '.join(studio_actions.ACTIONS)}.", "taleweaver.action")
        fields = studio_actions.details(extension, action)
    header = request.headers.get(STORY_HEADER)
    from_header = _positive_id(header, f"The {STORY_HEADER} header", STORY_HEADER) if header else None
    if from_body is not None and from_header is not None and from_body != from_header:
        raise _bad(f"taleweaver.story_id and the {STORY_HEADER} header name different stories.", "taleweaver.story_id")
    story_id = from_body if from_body is not None else from_header
    if action is not None and story_id is None:
        raise _bad("taleweaver.action needs taleweaver.story_id: the story to write.", "taleweaver.story_id")
    if action is not None and payload.get("messages"):
        raise _bad("Send either messages or taleweaver.action (the server writes the messages of an action).",
                   "messages")
    return story_id, action, fields


def _completion(generation_id: int) -> Response:
    """The ended generation as a non-streamed OpenAI chat completion."""
    conn = get_db()
    row = rows.get_row(conn, generation_id)
    text, reasoning = generations_store.full_text(conn, generation_id)
    error = rows.public_error(rows.parse_json(row["error_json"]))
    if row["status"] == "failed" and not text:
        stored = rows.parse_json(row["error_json"]) or {}
        status = stored.get("http_status") if isinstance(stored.get("http_status"), int) else 502
        raise ApiError(status, error.get("code") or "backend_error", error.get("message") or "The backend failed.",
                       hint=error.get("hint"))
    message = {"role": "assistant", "content": text}
    if reasoning:
        message["reasoning_content"] = reasoning
    body = {
        "id": f"gen-{generation_id}",
        "object": "chat.completion",
        "created": int(row["started_at"]),
        "model": row["model"] or "",
        "choices": [{"index": 0, "message": message, "finish_reason": row["finish_reason"]}],
        "usage": rows.parse_json(row["usage_json"]),
        "taleweaver": {"generation_id": generation_id, "status": row["status"], "error": error},
    }
    return jsonify(body)


def start_story_generation(story_id: int, payload: dict, service, backend_type: str | None,
                           action: str | None = None, fields: dict | None = None,
                           reroll: dict | None = None) -> Response:
    """Run the chat completion as a job writing into the story; stream its events or await its end.
    With an action the server writes the messages: the story's next passage (continue), another
    version of its last generated one (regenerate), a passage at a position (insert) or a
    proposal for a range (rewrite), within the model's context (web/studio_actions.py)."""
    conn = get_db()
    user_id = current_user_id()
    row = stories_store.story_row(conn, story_id, user_id)
    if row is None:
        raise ApiError(404, "story_not_found", f"Story {story_id} does not exist (it may have been deleted).")
    if story_probabilities.shown(stories_store.settings_of(row)):
        generation_probabilities.ask(payload)
    if action is not None:
        running = rows.running_for_story(conn, story_id)
        if running is not None and running["status"] == "running":
            raise _already_running(running["id"])
    before = row["content"]
    try:
        job = _job(conn, row, user_id, payload, service, backend_type, action, fields, reroll)
    except jobs.AlreadyRunning as running:  # the other generation goes on from the text as it is
        raise _already_running(running.generation_id) from None
    except ApiError:
        reroll_requests.put_back(conn, story_id, before, reroll)
        raise
    # Nothing below needs the request's connection: starting the job lets other requests run
    # (it waits for the thread), and the job may take minutes.
    release_db()
    job.start()
    generation_id = job.generation_id
    headers = {GENERATION_HEADER: str(generation_id)}
    if payload.get("stream") is True:
        return _event_stream(generation_id, 0, 0, headers)
    followers.wait_until_ended(current_app._get_current_object(), generation_id)
    response = _completion(generation_id)
    response.headers.update(headers)
    return response


def _job(conn, row, user_id: int, payload: dict, service, backend_type: str | None, action: str | None,
         fields: dict | None, reroll: dict | None) -> jobs.Job:
    """The story's generation job, its action's prompt written (after a reroll's cut: in chat mode
    the passage so far prefilled as the start of the model's answer)."""
    prefix_length = suffix_start = context = None
    if action is not None:
        if reroll is not None:
            row, reroll_start = reroll_requests.cut(conn, row, reroll)
        prepared = studio_actions.prepare(conn, row, action, fields or {}, service, payload)
        service, prefix_length, suffix_start = prepared.service, prepared.prefix_length, prepared.suffix_start
        context = prepared.context
        if reroll is not None and context.get("mode") != "completion":
            payload["messages"] = reroll_requests.prefilled(payload["messages"], row["content"], reroll_start)
    return jobs.create_job(
        current_app._get_current_object(), conn, story_id=row["id"], user_id=user_id, service=service,
        backend_type=backend_type, payload=payload, action="reroll" if reroll else action,
        prefix_length=prefix_length, context=context, suffix_start=suffix_start,
    )


def _already_running(generation_id: int) -> ApiError:
    return ApiError(
        409, "generation_running",
        f"This story is being written already (generation {generation_id}); follow it at "
        f"/proxy/llm/v1/generations/{generation_id}/events or stop it first.",
    )


def _event_stream(generation_id: int, after: int, reasoning_after: int, headers: dict | None = None) -> Response:
    """The follower streams after the view has returned and the request's connection has gone
    back: it borrows connections of its own (followers.follow), never the request's."""
    events = followers.follow(current_app._get_current_object(), generation_id, after, reasoning_after)
    return sse.response(sse.generation(events), headers)


def _generation(generation_id: int):
    row = None
    if generation_id <= MAX_ID:
        row = rows.get_row(get_db(), generation_id, current_user_id())
    if row is None:
        raise ApiError(404, "generation_not_found", f"Generation {generation_id} does not exist (or is not yours).")
    return row


def _offset(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 18:
        raise _bad(f"{name} must be a character offset (a whole number, 0 or more).", name)
    return int(value)


@bp.get("/generations/<int:generation_id>")
def get_generation(generation_id: int):
    return jsonify(rows.view(_generation(generation_id)))


@bp.get("/generations/<int:generation_id>/prompt")
def generation_prompt(generation_id: int):
    """What a story generation sent: its model, samplers and messages (each in its marked parts),
    kept with it when the server wrote the messages (an action)."""
    row = _generation(generation_id)
    context = rows.parse_json(row["context_json"]) or {}
    if not isinstance(context.get(rows.KEPT_PROMPT), list):
        raise ApiError(404, "prompt_not_kept", f"Generation {generation_id} keeps no prompt: only the "
                       "generations the server wrote the prompt of (Continue, Regenerate) keep theirs.")
    messages = context.pop(rows.KEPT_PROMPT)
    return jsonify({"generation_id": generation_id, "model": row["model"],
                    "params": rows.parse_json(row["params_json"]) or {}, "messages": messages, "context": context})


@bp.get("/generations/<int:generation_id>/events")
def generation_events(generation_id: int):
    """SSE from the cursor (`after`, else Last-Event-ID, else 0) until the generation ends."""
    row = _generation(generation_id)
    after = _offset(request.args.get("after"), "after")
    last_event_id = _offset(request.headers.get("Last-Event-ID"), "Last-Event-ID")  # checked even when `after` wins
    if after is None:
        after = last_event_id or 0
    reasoning_after = _offset(request.args.get("reasoning_after"), "reasoning_after")
    release_db()  # from here on nothing holds the request's connection
    app = current_app._get_current_object()
    written = followers.text_length(generation_id, row["text_length"])
    if after > written and not (row["status"] == "running" and followers.wait_for_text(app, generation_id, after)):
        # A cursor from a follower on another worker may be a little ahead of the persisted text
        # while the generation runs; one beyond what was ever written is an error.
        raise _bad(f"after={after} is beyond the text written so far ({written} characters).", "after")
    if reasoning_after is None:
        reasoning_after = 0 if after == 0 else followers.reasoning_length(app, generation_id)
    return _event_stream(generation_id, after, reasoning_after, {GENERATION_HEADER: str(generation_id)})


@bp.post("/generations/<int:generation_id>/stop")
def stop_generation(generation_id: int):
    """Stop the generation: the upstream request is closed and the text so far is kept."""
    _generation(generation_id)
    user_id = current_user_id()
    release_db()  # stopping waits for the job; it borrows a connection for each look
    row = stop.stop(current_app._get_current_object(), generation_id, user_id)
    return jsonify(rows.view(row))


def recover_interrupted() -> None:
    """before_request: the first request of a process marks generations of dead jobs interrupted."""
    path = database_path()
    if registry.needs_recovery(path):
        registry.recover_once(get_db(), path)


def init_app(app) -> None:
    app.register_blueprint(bp, url_prefix="/proxy/llm/v1")
    app.before_request(recover_interrupted)

