"""A generation's row as readers get it (checked for a dead job first) and as the API shows it."""
from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone

from taleweaver.generations import ending
from taleweaver.generations import registry
from taleweaver.generations import store

# Where a story generation's context_json keeps the messages it sent, in their marked parts
# (measured into the user's stored size with the rest of context_json, docs/STORAGE.md).
KEPT_PROMPT = "prompt"


def get_row(conn: sqlite3.Connection, generation_id: int, user_id: int | None = None) -> sqlite3.Row | None:
    """The generation (without its text), checked for a dead job first."""
    row = store.view_row(conn, generation_id, user_id)
    if row is not None and row["status"] == "running" and not registry.is_alive(
            row["owner"], row["heartbeat_age"], row["id"]):
        ending.interrupt(conn, row["id"])
        row = store.view_row(conn, generation_id, user_id)
    return row


def running_for_story(conn: sqlite3.Connection, story_id: int) -> sqlite3.Row | None:
    """The story's running generation (a dead one is interrupted first, and returned so)."""
    generation_id = store.running_id(conn, story_id)
    return get_row(conn, generation_id) if generation_id is not None else None


def last_for_story(conn: sqlite3.Connection, story_id: int) -> sqlite3.Row | None:
    generation_id = store.last_id(conn, story_id)
    return get_row(conn, generation_id) if generation_id is not None else None


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_json(value):
    """A stored JSON column's value (None when empty or unreadable)."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def public_error(error):
    """The error as clients see it (without the internal HTTP status)."""
    if not isinstance(error, dict):
        return error
    return {k: v for k, v in error.items() if k != "http_status"}


def stats(row: sqlite3.Row) -> dict:
    """Tokens, speed, time to first token and elapsed time of a generation: the backend's usage
    where it reported it (and its own measured speed), else the streamed pieces counted."""
    usage = parse_json(row["usage_json"])
    usage = usage if isinstance(usage, dict) else {}
    started, first, finished = row["started_at"], row["first_token_at"], row["finished_at"]
    reported = usage.get("completion_tokens")
    from_backend = isinstance(reported, int) and not isinstance(reported, bool)
    tokens = reported if from_backend else row["counted_tokens"]
    speed = usage.get("tokens_per_second") if from_backend else None
    if not isinstance(speed, (int, float)) or isinstance(speed, bool):
        speed = None
        end = finished if finished is not None else (time.time() if row["status"] == "running" else None)
        if tokens and first is not None and end is not None and end > first:
            speed = round(tokens / (end - first), 2)
    end = finished if finished is not None else time.time()
    return {
        "completion_tokens": tokens,
        "prompt_tokens": usage.get("prompt_tokens") if isinstance(usage.get("prompt_tokens"), int) else None,
        "tokens_source": "backend" if from_backend else "counted",
        "tokens_per_second": speed,
        "time_to_first_token_ms": round((first - started) * 1000) if first is not None else None,
        "elapsed_ms": round((end - started) * 1000),
    }


def _without_prompt(context: dict | None) -> dict | None:
    """The budget a generation was written within (its kept prompt has an endpoint of its own)."""
    return {key: value for key, value in context.items() if key != KEPT_PROMPT} if isinstance(context, dict) else context


def view(row: sqlite3.Row) -> dict:
    """A generation as the API shows it."""
    usage = parse_json(row["usage_json"])
    first, finished = row["first_token_at"], row["finished_at"]
    figures = stats(row)
    return {
        "id": row["id"],
        "story_id": row["story_id"],
        "status": row["status"],
        "backend_type": row["backend_type"],
        "model": row["model"],
        "params": parse_json(row["params_json"]) or {},
        "started_at": iso(row["started_at"]),
        "finished_at": iso(finished),
        "text_length": row["text_length"],
        "finish_reason": row["finish_reason"],
        "usage": usage,
        "error": public_error(parse_json(row["error_json"])),
        "time_to_first_token_ms": round((first - row["started_at"]) * 1000) if first is not None else None,
        "tokens_per_second": figures["tokens_per_second"],
        "action": row["action"],
        "prefix_length": row["prefix_length"],
        "context": _without_prompt(parse_json(row["context_json"])),
        "stats": figures,
    }
