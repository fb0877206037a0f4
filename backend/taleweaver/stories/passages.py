"""Versions of a range of a story's text (docs/STORAGE.md): today the last generated passage, the
range from `start` to the end of the text, with up to MAX_VERSIONS versions kept once each. A
passage is {"start", "stop", "chosen", "text_ids"} (and "tail": a text not kept yet, which
`keep` stores as the last version)."""
from __future__ import annotations

from taleweaver.storage import texts

MAX_VERSIONS = 20  # versions kept of a passage


def current(conn, row) -> dict | None:
    """The story row's passage with its versions, or None."""
    passage = texts.passage(conn, row["passage_id"])
    if passage is None or not passage["text_ids"] or not 0 <= passage["chosen"] < len(passage["text_ids"]):
        return None
    return passage


def view(passage: dict | None) -> dict | None:
    """The passage as the story document shows it (the texts stay on the server)."""
    if passage is None:
        return None
    return {"start": passage["start"], "chosen": passage["chosen"], "count": len(passage["text_ids"])}


def version(conn, passage: dict, index: int) -> str:
    return texts.read(conn, passage["text_ids"][index])


def versions(conn, passage: dict) -> list[str]:
    return [texts.read(conn, text_id) for text_id in passage["text_ids"]]


def with_current_tail(conn, passage: dict, content: str) -> dict:
    """The passage with its text as it is now (the user may have edited it) kept as a version of
    its own and chosen, so that flipping never loses an edit."""
    tail = content[passage["start"]:]
    known = texts.digests(conn, passage["text_ids"])
    wanted = texts.digest(tail)
    for index, text_id in enumerate(passage["text_ids"]):
        if known.get(text_id) == wanted:
            return {**passage, "chosen": index}
    return with_new_version(passage, tail)


def with_new_version(passage: dict, text: str) -> dict:
    """The passage with `text` added as its newest version, chosen (the oldest go past MAX_VERSIONS)."""
    count = min(len(passage["text_ids"]) + 1, MAX_VERSIONS)
    return {**passage, "chosen": count - 1, "tail": text}


def after_edit(conn, passage: dict | None, old: str, new: str) -> dict | None:
    """The passage after the text changed from `old` to `new` by an edit: kept while the text
    before it is unchanged (or its chosen version still ends the text), else dropped."""
    if passage is None:
        return None
    start = passage["start"]
    if len(new) >= start and new[:start] == old[:start]:
        return passage
    chosen = version(conn, passage, passage["chosen"])
    if chosen and new.endswith(chosen):
        return {**passage, "start": len(new) - len(chosen)}
    return None


def keep(conn, story_id: int, passage: dict | None) -> tuple[int | None, int]:
    """Store the passage (a new tail among its versions): its id and the bytes this added."""
    if passage is None:
        return None, 0
    text_ids, added = list(passage["text_ids"]), 0
    if "tail" in passage:
        text_id, added = texts.keep(conn, story_id, passage["tail"])
        text_ids = (text_ids + [text_id])[-MAX_VERSIONS:]
    passage_id, more = texts.keep_passage(conn, story_id, passage["start"], passage.get("stop"), passage["chosen"],
                                          text_ids)
    return passage_id, added + more


def first(text_id: int, start: int) -> dict:
    """A new passage with one version (a generation's new text at `start`)."""
    return {"start": start, "stop": None, "chosen": 0, "text_ids": [text_id]}
