"""Token probabilities kept beside the immutable text they describe (docs/STORAGE.md): a story
generation's, keyed to its text as the passage keeps it, so every revision, undo step and
version that shows that text shares them and they go with it. The page is given those of the
story's last passage (its chosen version) where its text still stands: an edit inside the
passage keeps the tokens before and after it, the tokens the writer changed are dropped."""
from __future__ import annotations

import json

from taleweaver.errors import ApiError
from taleweaver.storage import texts
from taleweaver.stories import passages
from taleweaver.stories import store as stories_store

SETTING = "show_probabilities"  # the story's generation setting "Show probabilities"
MAX_TOP = 5  # alternatives kept per token (a backup's are checked against it)
MAX_TOKEN = 64  # characters of an alternative in a backup (a token is a few)


def shown(settings: dict) -> bool:
    return settings.get(SETTING) is True


def keep(conn, story_id: int, text: str, runs: list[tuple[int, int, list]]) -> None:
    """The runs of tokens of a generation's `text` (kept already as its passage's version)."""
    if not text or not runs:
        return
    text_id, _ = texts.keep(conn, story_id, text)
    conn.execute("DELETE FROM token_probabilities WHERE text_id = ?", (text_id,))
    conn.executemany(
        "INSERT INTO token_probabilities (text_id, start, stop, top_json) VALUES (?, ?, ?, ?)",
        [(text_id, start, stop, json.dumps(tokens, separators=(",", ":"), ensure_ascii=False))
         for start, stop, tokens in runs],
    )


def keep_generated(conn, story_id: int, text: str, runs: list[tuple[int, int, list]]) -> None:
    """The runs of a generation's `text` that just ended the story's text, kept beside the chosen
    version of the story's passage (the generation's text, or after a reroll the passage up to the
    alternative chosen and the text that followed it)."""
    row = conn.execute("SELECT content, passage_id FROM stories WHERE id = ?", (story_id,)).fetchone()
    passage = passages.current(conn, row)
    if passage is None or not text or not runs:
        return
    version = row["content"][passage["start"]:]
    shift = len(version) - len(text)
    if shift < 0 or not version.endswith(text):
        return
    earlier = _before_the_reroll(conn, passage, version, shift) if shift else []
    keep(conn, story_id, version, earlier + [(start + shift, stop + shift, tokens) for start, stop, tokens in runs])


def _before_the_reroll(conn, passage: dict, version: str, cut: int) -> list[tuple[int, int, list]]:
    """After a reroll: the tokens of the passage's earlier version that the new one still has as
    they were, before the word chosen (the earlier version sharing the longest start with it)."""
    best: tuple[int, int] | None = None
    for text_id in passage["text_ids"][:-1]:
        shared = min(_shared(texts.read(conn, text_id), version), cut)
        if shared and (best is None or shared > best[0]):
            best = (shared, text_id)
    if best is None:
        return []
    kept = []
    for start, _, compact in runs_of(conn, best[1]):
        tokens, position = [], start
        for token in compact:
            if position + token[0] > best[0]:
                break
            tokens.append(token)
            position += token[0]
        if tokens:
            kept.append((start, position, tokens))
    return kept


def cut_for_reroll(conn, story_id: int, row, at: int, choice: str) -> int:
    """Before a reroll from the token at `at` of the story's last passage: the passage as it is
    stays among its versions, and the text becomes the text up to `at` with `choice` (no undo
    step: the generation's is the one). The passage's start; 409 when `at` is not in it."""
    passage = passages.current(conn, row)
    content = row["content"]
    if passage is None or not passage["start"] <= at <= len(content):
        raise ApiError(409, "nothing_to_reroll",
                       "The word chosen is not in the story's last generated passage any more (an edit or an undo "
                       "may have moved it).", hint="Reload the story and choose again.")
    stories_store.keep_alternatives(conn, story_id, passages.with_current_tail(conn, passage, content))
    stories_store.set_content(conn, story_id, content[:at] + choice)
    return passage["start"]


def runs_of(conn, text_id: int) -> list[tuple[int, int, list]]:
    return [(row["start"], row["stop"], json.loads(row["top_json"])) for row in conn.execute(
        "SELECT start, stop, top_json FROM token_probabilities WHERE text_id = ? ORDER BY start", (text_id,))]


def _tokens(runs: list[tuple[int, int, list]], version: str, place) -> list[dict]:
    tokens = []
    for start, _, compact in runs:
        position = start
        for length, logprob, top in compact:
            stop = position + length
            placed = place(position, stop)
            if placed is not None:
                tokens.append({"start": placed[0], "stop": placed[1], "token": version[position:stop],
                               "logprob": logprob, "top": [{"token": t, "logprob": lp} for t, lp in top]})
            position = stop
    return tokens


def _shared(old: str, new: str, step: int = 4096) -> int:
    """How many characters the two texts share at their start (compared a block at a time)."""
    limit, head = min(len(old), len(new)), 0
    while head < limit and old[head:head + step] == new[head:head + step]:
        head += step
    while head < limit and old[head] == new[head]:
        head += 1
    return min(head, limit)


def for_story(conn, row) -> list[dict]:
    """The tokens of the story's last passage with their alternatives, placed in the story's
    text as it is now: {"start", "stop", "token", "logprob", "top": [{"token", "logprob"}]}."""
    passage = passages.current(conn, row)
    if passage is None:
        return []
    text_id = passage["text_ids"][passage["chosen"]]
    runs = runs_of(conn, text_id)
    if not runs:
        return []
    version, base = texts.read(conn, text_id), passage["start"]
    now = row["content"][base:]
    head = _shared(version, now)
    tail = min(_shared(version[::-1], now[::-1]), min(len(version), len(now)) - head)
    moved = len(now) - len(version)

    def place(start: int, stop: int):
        if stop <= head:
            return base + start, base + stop
        if start >= len(version) - tail:
            return base + start + moved, base + stop + moved
        return None  # the writer changed it

    return _tokens(runs, version, place)


def backup(conn, passage: dict | None) -> list | None:
    """The runs of each version of the passage, as the backup holds them (None: none kept)."""
    if passage is None:
        return None
    kept = [[list(run) for run in runs_of(conn, text_id)] for text_id in passage["text_ids"]]
    return kept if any(kept) else None


def restore(conn, story_id: int, versions: list[str], kept) -> None:
    """A backup's runs of each version of a story's passage (checked: runs that do not fit
    their version are left out)."""
    if not isinstance(kept, list):
        return
    for version, runs in zip(versions, kept):
        if isinstance(runs, list):
            keep(conn, story_id, version, [tuple(run) for run in runs if _fits(run, len(version))])


def _fits(run, length: int) -> bool:
    if not (isinstance(run, list) and len(run) == 3 and isinstance(run[2], list)):
        return False
    start, stop, tokens = run
    if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop <= length):
        return False
    try:
        return start + sum(token[0] for token in tokens) == stop and all(_fits_token(token) for token in tokens)
    except (TypeError, IndexError):
        return False


def _fits_token(token) -> bool:
    """[length, logprob, [[alternative, logprob], ...]]: at most MAX_TOP alternatives of a token's size."""
    length, logprob, top = token
    return (isinstance(length, int) and length > 0 and isinstance(logprob, (int, float)) and isinstance(top, list)
            and len(top) <= MAX_TOP and all(isinstance(alt, list) and len(alt) == 2 and isinstance(alt[0], str)
                                            and len(alt[0]) <= MAX_TOKEN and isinstance(alt[1], (int, float))
                                            for alt in top))
