"""Readers of a generation: its events from a cursor on, until it ends. While its job runs in this
process the text comes from the job's memory as soon as the writer has persisted it (no query,
woken by that job's write alone, never a word that a SIGKILL could still take back); otherwise,
and for the outcome once the job has ended, from the database every POLL_SECONDS, with a
connection borrowed for each look and none held while waiting."""
from __future__ import annotations

import time
from typing import Iterator, NamedTuple

from taleweaver.generations import ending
from taleweaver.generations import registry
from taleweaver.generations import rows
from taleweaver.generations import shutdown
from taleweaver.generations import store
from taleweaver.generations import streams
from taleweaver.llm.stream import chunk
from taleweaver.storage import db

POLL_SECONDS = 0.2  # how often a follower on another worker looks for new text
CURSOR_CATCH_UP_SECONDS = 2.0  # how long a cursor ahead of the persisted text waits for it
KEEPALIVE_SECONDS = 15.0  # a reader gets None after this long without an event (a keep-alive)
STOPPING_FOLLOW_SECONDS = 1.0  # how long a stopping process still follows a job that runs elsewhere


class Event(NamedTuple):
    """One event of a generation's stream: a chat.completion.chunk, and the text offset a reader
    that got it has reached (the cursor it sends back to re-attach); `outcome` on the last one,
    which carries the generation's status."""
    offset: int
    chunk: dict
    outcome: bool = False


class _Chunks:
    """The chat.completion.chunks of one generation (its id, start and model)."""

    __slots__ = ("completion_id", "created", "model")

    def __init__(self, generation_id: int, created: float, model: str):
        self.completion_id, self.created, self.model = f"gen-{generation_id}", int(created), model

    def text(self, offset: int, delta: dict) -> Event:
        return Event(offset, chunk(self.completion_id, self.created, self.model, delta))

    def outcome(self, offset: int, finish_reason, status: str, error, usage) -> Event:
        data = chunk(self.completion_id, self.created, self.model, {}, finish_reason)
        data["taleweaver"] = {"status": status, "error": error, "usage": usage}
        return Event(offset, data, outcome=True)


class _Cursor:
    """A follower's place in a live job's append-only pieces of text: reads what lies past the
    offset (in code points) up to a limit (what is persisted) without joining the whole text
    again on every event."""

    def __init__(self, pieces: list[str], offset: int):
        self.pieces, self.offset = pieces, offset
        self.index = self.start = 0  # the next piece to look at, and its offset in the text

    def read(self, limit: int) -> str:
        new = []
        pieces, count = self.pieces, len(self.pieces)
        while self.index < count and self.offset < limit:
            piece = pieces[self.index]
            end = self.start + len(piece)
            if end > self.offset:
                new.append(piece[max(0, self.offset - self.start):limit - self.start])
                self.offset = min(end, limit)
            if end > limit:
                break  # the rest of this piece is not persisted yet
            self.start, self.index = end, self.index + 1
        return "".join(new)


def follow(app, generation_id: int, after: int, reasoning_after: int) -> Iterator[Event | None]:
    """The events of a generation from text offset `after` (and reasoning offset
    `reasoning_after`) on, until its outcome; None after KEEPALIVE_SECONDS without one. Known to
    streams.py while it streams (a stopping worker waits for its readers to have sent the
    outcome)."""
    with streams.streaming():
        job = registry.live_job(generation_id)
        if job is not None:
            chunks = _Chunks(generation_id, job.started_at, job.model)
        else:
            with db.borrowed(app) as conn:
                base = store.start_and_model(conn, generation_id)
            if base is None:
                return
            chunks = _Chunks(generation_id, base["started_at"], base["model"] or "")
        if job is not None:
            after, reasoning_after = yield from _from_memory(job, chunks, after, reasoning_after)
        yield from _from_database(app, generation_id, chunks, after, reasoning_after)


def _from_memory(job, chunks: _Chunks, after: int, reasoning_after: int):
    """The job's text as its worker's writer persists it, until the job has ended; the offsets
    reached."""
    received = job.received
    text, reasoning = _Cursor(received.text, after), _Cursor(received.reasoning, reasoning_after)
    last_sent = time.monotonic()
    while True:
        ended = job.ended  # read first: text appended before the end is read below
        delta = {}
        # Only what is persisted: a word a follower has seen survives a SIGKILL of the server.
        persisted = job.persisted
        content, thought = text.read(persisted[0]), reasoning.read(persisted[1])
        if content:
            delta["content"] = content
        if thought:
            delta["reasoning_content"] = thought
        if delta:
            yield chunks.text(text.offset, delta)
            last_sent = time.monotonic()
        if ended:
            return text.offset, reasoning.offset  # the outcome (and any text not kept in memory) is in the database
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield None
            last_sent = time.monotonic()
        job.wait_for_change(text.offset, reasoning.offset,
                            max(0.0, KEEPALIVE_SECONDS - (time.monotonic() - last_sent)))


def _from_database(app, generation_id: int, chunks: _Chunks, after: int, reasoning_after: int):
    """The text past the offsets and then the outcome, as the database has them (a running
    generation's new pieces, an ended one's whole text); a job found dead is interrupted. A
    process that is stopping lets a generation that runs elsewhere go (without an outcome: the
    reader re-attaches through another instance)."""
    last_sent = time.monotonic()
    last_liveness = 0.0
    stopping_since = None
    cursor = _PiecesCursor(after, reasoning_after)
    while True:
        with db.borrowed(app) as conn:
            row = store.tail(conn, generation_id, cursor.text, cursor.reasoning)
            if row is not None and row["status"] == "running" and time.monotonic() - last_liveness >= 1.0:
                last_liveness = time.monotonic()
                if not registry.is_alive(row["owner"], row["heartbeat_age"], generation_id):
                    ending.interrupt(conn, generation_id)
                    continue
            delta = cursor.read(conn, generation_id, row) if row is not None else {}
        if row is None:  # the story was deleted
            yield chunks.outcome(cursor.text, None, "stopped", None, None)
            return
        if delta:
            yield chunks.text(cursor.text, delta)
            last_sent = time.monotonic()
        if row["status"] != "running":
            yield chunks.outcome(cursor.text, row["finish_reason"], row["status"],
                                 rows.public_error(rows.parse_json(row["error_json"])),
                                 rows.parse_json(row["usage_json"]))
            return
        if shutdown.stopping.is_set():
            stopping_since = stopping_since or time.monotonic()
            if time.monotonic() - stopping_since >= STOPPING_FOLLOW_SECONDS:
                return
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield None
            last_sent = time.monotonic()
        time.sleep(POLL_SECONDS)


class _PiecesCursor:
    """A follower's place in a generation as the database has it: in its row's text (an ended
    generation's whole text), then in a running one's pieces, which it reads past the last one
    it has seen."""

    def __init__(self, text: int, reasoning: int):
        self.text, self.reasoning = text, reasoning
        self.seq = -1  # the last piece read

    def read(self, conn, generation_id: int, row) -> dict:
        """The delta past the cursor (content, reasoning_content), moving it on."""
        content, thought = [], []
        if row["n"] > self.text:
            content.append(row["tail"])
        if row["r"] > self.reasoning:
            thought.append(row["rtail"])
        base_text, base_reasoning = row["n"], row["r"]
        self.text, self.reasoning = max(self.text, base_text), max(self.reasoning, base_reasoning)
        if row["status"] == "running":
            for piece in store.pieces_after(conn, generation_id, self.seq, self.text - base_text,
                                            self.reasoning - base_reasoning):
                self.seq = piece["seq"]
                self.text = _take_past(piece["text"], base_text + piece["text_end"], self.text, content)
                self.reasoning = _take_past(piece["reasoning"], base_reasoning + piece["reasoning_end"],
                                            self.reasoning, thought)
        delta = {}
        if content:
            delta["content"] = "".join(content)
        if thought:
            delta["reasoning_content"] = "".join(thought)
        return delta


def _take_past(piece: str, end: int, offset: int, into: list) -> int:
    """The part of a piece (ending at `end`) past `offset` goes `into` the list; the offset reached."""
    if end > offset and piece:
        into.append(piece[max(0, len(piece) - (end - offset)):])
    return max(offset, end)


def text_length(generation_id: int, persisted: int) -> int:
    """How much text a follower may have seen: what is persisted (the live job's own record of it
    when it runs in this process, which may be ahead of a row read a moment ago)."""
    job = registry.live_job(generation_id)
    return max(job.persisted[0], persisted) if job is not None else persisted


def reasoning_length(app, generation_id: int) -> int:
    """How much reasoning there is now (the live job's, else the persisted)."""
    job = registry.live_job(generation_id)
    if job is not None:
        return job.persisted[1]
    with db.borrowed(app) as conn:
        return store.reasoning_length(conn, generation_id)


def wait_for_text(app, generation_id: int, length: int) -> bool:
    """Whether the persisted text reaches `length` while the generation runs (a cursor from a
    follower on another worker, which read the job's memory, can be ahead of the database by up
    to FLUSH_SECONDS): looks for a bounded while, holding no connection between looks."""
    for _ in range(max(1, round(CURSOR_CATCH_UP_SECONDS / POLL_SECONDS))):
        time.sleep(POLL_SECONDS)
        if text_length(generation_id, -1) >= length:
            return True  # its job runs in this process now: memory has it
        with db.borrowed(app) as conn:
            row = store.status_and_length(conn, generation_id)
        if row is None or row["n"] >= length:
            return row is not None
        if row["status"] != "running":
            return False
    return False


def wait_until_ended(app, generation_id: int) -> None:
    """Block until the generation has ended (for a client that asked for no stream), holding no
    connection while it waits."""
    while True:
        job = registry.live_job(generation_id)
        if job is not None:
            job.wait_for_change(*job.persisted, POLL_SECONDS)
            continue
        with db.borrowed(app) as conn:
            row = rows.get_row(conn, generation_id)
        if row is None or row["status"] != "running":
            return
        time.sleep(POLL_SECONDS)
