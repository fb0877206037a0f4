"""A reroll from a token (issue 24): `taleweaver.reroll = {"at", "text"}` beside `action:
"continue"` on a story's chat completion — the story's last passage is cut at code point `at`,
`text` (the alternative chosen) put in, and the model continues from there, its answer prefilled
with the passage so far (an assistant message it goes on with)."""
from __future__ import annotations

from taleweaver.errors import ApiError
from taleweaver.storage.db import write_transaction
from taleweaver.stories import probabilities
from taleweaver.stories import store as stories_store

MAX_CHOICE = 200  # characters of the alternative put in (a token is a few)


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_request", message, field="taleweaver.reroll")


def taken(payload: dict) -> dict | None:
    """The reroll the request asks for (taken out of its extension), checked; None without one."""
    extension = payload.get("taleweaver")
    if not isinstance(extension, dict) or extension.get("reroll") is None:
        return None
    reroll = extension.pop("reroll")
    if extension.get("action") != "continue":
        raise _bad("taleweaver.reroll goes with taleweaver.action \"continue\".")
    if not isinstance(reroll, dict):
        raise _bad("taleweaver.reroll must be an object such as {\"at\": 120, \"text\": \" lantern\"}.")
    at, text = reroll.get("at"), reroll.get("text")
    if isinstance(at, bool) or not isinstance(at, int) or not 0 <= at <= stories_store.MAX_CONTENT:
        raise _bad("taleweaver.reroll.at must be a character offset in the story's text.")
    if not isinstance(text, str) or not 0 < len(text) <= MAX_CHOICE:
        raise _bad(f"taleweaver.reroll.text must be the alternative chosen, 1 to {MAX_CHOICE} characters.")
    return {"at": at, "text": text}


def cut(conn, row, reroll: dict):
    """The story cut for the reroll (probabilities.cut_for_reroll), read again; and the passage's start."""
    with write_transaction(conn):
        start = probabilities.cut_for_reroll(conn, row["id"], row, reroll["at"], reroll["text"])
    return stories_store.story_row(conn, row["id"], row["user_id"]), start


def put_back(conn, story_id: int, content: str, reroll: dict | None) -> None:
    """A reroll that could not start (a bound, the context, another generation): the text as it
    was before the cut (the passage's chosen version is that text's)."""
    if reroll is None:
        return
    with write_transaction(conn):
        if stories_store.content_of(conn, story_id) != content:
            stories_store.set_content(conn, story_id, content)


def prefilled(messages: list[dict], content: str, start: int) -> list[dict]:
    """The continue prompt with the passage so far as the start of the model's answer."""
    return [*messages, {"role": "assistant", "content": content[start:]}]
