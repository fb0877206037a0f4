"""Who wrote what: the ranges of a story's text the model wrote, as [start, stop) in characters
(code points), kept in text_marks beside the immutable text they describe (docs/STORAGE.md). The
story's marks are those of its current undo step's text, so an undo, a redo or a restored
revision brings the marks its text had. The server sets the mark of what a generation wrote (and
moves the others); the page maps them through the writer's edits and saves them with the text."""
from __future__ import annotations

from taleweaver.errors import validation_error
from taleweaver.storage import texts
from taleweaver.stories import insertion

MODEL = "model"
MAX_MARKS = 20_000  # ranges a text may have (a story of 500,000 characters alternating every 25)


def normalized(ranges, length: int) -> list[list[int]]:
    """The ranges within 0..length, sorted, without empty ones, touching or overlapping ones joined."""
    joined: list[list[int]] = []
    for start, stop in sorted((max(0, a), min(b, length)) for a, b in ranges):
        if start >= stop:
            continue
        if joined and start <= joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], stop)
        else:
            joined.append([start, stop])
    return joined


def checked(value, length: int) -> list[list[int]]:
    """Marks as a request sends them ([[start, stop], ...] within the text), or a 400."""
    if not isinstance(value, list) or len(value) > MAX_MARKS or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(n, int) and not isinstance(n, bool)
                                                              for n in pair) and 0 <= pair[0] < pair[1] <= length
            for pair in value):
        raise validation_error("marks", f"marks must be a list of at most {MAX_MARKS:,} [start, stop] ranges of the "
                               "text the model wrote (character offsets, start before stop, within the text).")
    return normalized(value, length)


def replaced(ranges, start: int, stop: int, length: int, by_model: bool) -> list[list[int]]:
    """The ranges after text[start:stop] was replaced by `length` characters (the model's when
    `by_model`): those before stay, those after move, the replaced part takes the new text's author."""
    moved = []
    for a, b in ranges:
        if a < start:
            moved.append([a, min(b, start)])
        if b > stop:
            moved.append([max(a, stop) - stop + start + length, b - stop + start + length])
    if by_model:
        moved.append([start, start + length])
    return normalized(moved, 2**62)


def current_text_id(conn, story_id: int) -> int | None:
    row = conn.execute("""SELECT n.text_id FROM stories s JOIN history_nodes n ON n.id = s.history_node_id
                          WHERE s.id = ?""", (story_id,)).fetchone()
    return row["text_id"] if row else None


def of_text(conn, text_id: int | None) -> list[list[int]]:
    if text_id is None:
        return []
    return [[row["start"], row["stop"]] for row in conn.execute(
        "SELECT start, stop FROM text_marks WHERE text_id = ? AND author = ? ORDER BY start", (text_id, MODEL))]


def current(conn, story_id: int) -> list[list[int]]:
    """The story's marks: those of its current step's text."""
    return of_text(conn, current_text_id(conn, story_id))


def keep(conn, text_id: int | None, ranges: list[list[int]]) -> None:
    """The text's marks become `ranges` (normalized), in the caller's write transaction."""
    if text_id is None:
        return
    conn.execute("DELETE FROM text_marks WHERE text_id = ?", (text_id,))
    conn.executemany("INSERT INTO text_marks (text_id, start, stop, author) VALUES (?, ?, ?, ?)",
                     [(text_id, start, stop, MODEL) for start, stop in ranges])


def keep_for(conn, story_id: int, content: str, ranges: list[list[int]]) -> None:
    """The marks of the story's text `content` (kept now if it is not yet, as the undo step about to
    be recorded keeps it) become `ranges`, so that the step's measure counts them."""
    keep(conn, texts.keep(conn, story_id, content)[0], normalized(ranges, len(content)))


def written(ranges, action: str | None, start: int, length: int) -> list[list[int]]:
    """The ranges after a generation wrote `length` characters at `start`: an insert keeps the
    text after them (moved on), any other replaces everything from `start`."""
    return replaced(ranges, start, start if action == insertion.ACTION else 2**62, length, True)


def keep_current(conn, story_id: int, ranges: list[list[int]]) -> None:
    """The story's current text's marks become `ranges`."""
    keep(conn, current_text_id(conn, story_id), ranges)
