"""The process's one writer of running jobs: every FLUSH_SECONDS it persists the text (with a
heartbeat) of all the jobs of this process in one transaction, and tells a job that was stopped
(maybe on another worker) or is gone; in between, a job's first text as soon as it arrives (the
first words of 1,000 story generations started at once came 0.4 s sooner at the median,
bench/burst.py --stories)."""
from __future__ import annotations

import logging
import os
import threading
import time

from taleweaver.generations import registry
from taleweaver.generations import store
from taleweaver.storage import db
from taleweaver.stories import store as stories_store

log = logging.getLogger("taleweaver.generations")

FLUSH_SECONDS = 0.25  # new text is written at most this long after it arrived
HEARTBEAT_SECONDS = 0.5  # a job that has nothing new still says it is alive this often
_BATCH = 500  # jobs whose states one query reads


def _write(conn, job, now: float, stamp: str) -> bool:
    """A job's part of the writer's transaction: its text so far when it grew, else the heartbeat
    when one is due (only while it is still running here); the story was edited at `stamp`.
    Whether it wrote."""
    received = job.received
    sizes = (received.text_length, received.reasoning_length)
    if sizes == job.persisted and now - job.last_write < HEARTBEAT_SECONDS:
        return False
    if sizes == job.persisted:
        store.heartbeat(conn, job.generation_id, job.owner)
    else:
        text, reasoning = "".join(received.text), "".join(received.reasoning)
        if store.write_text(conn, job.generation_id, job.owner, text, reasoning, received.first_token_at,
                            received.counted_tokens):
            stories_store.set_content(conn, job.story_id, job.prefix + text,
                                      stories_store.word_count_joined(job.prefix, job.prefix_words, text), stamp)
        sizes = (len(text), len(reasoning))
    job.pending = sizes
    return True


def _persist(app, jobs: list) -> dict:
    """In one transaction: the new text (and the heartbeat) of the live jobs that need a write,
    and what the database says of each job: "running", "stop" (a stop was asked, maybe on another
    worker) or "gone" (ended elsewhere: the story deleted, or taken for dead). One write lock and
    one commit for all of this process's jobs, where one per job made the writes the bound."""
    now, states, written = time.monotonic(), {}, []
    stamp = stories_store.now_stamp()  # one edit time for the transaction's stories (formatting it cost more than their UPDATEs)
    with db.borrowed(app) as conn:
        with db.write_transaction(conn):
            for start in range(0, len(jobs), _BATCH):
                batch = {job.generation_id: job for job in jobs[start:start + _BATCH]}
                found = {row["id"]: row for row in store.states(conn, tuple(batch))}
                for generation_id, job in batch.items():
                    row = found.get(generation_id)
                    if row is None or row["status"] != "running" or row["owner"] != job.owner:
                        states[job] = "gone"
                        continue
                    states[job] = "stop" if row["stop_requested"] else "running"
                    if _write(conn, job, now, stamp):
                        written.append(job)
    for job in written:
        job.persisted, job.last_write = job.pending, now
        with job.changed:
            job.changed.notify_all()  # its followers, and only they, send the persisted text
    return states


class Writer(threading.Thread):
    """Persists this process's running jobs, one transaction per database a round."""

    def __init__(self):
        super().__init__(name="taleweaver-generation-writer", daemon=True)
        self.started_lock = threading.Lock()
        # Set by a job whose first text arrived: that text is persisted (and sent) without
        # waiting for the next round, so time to first token does not wait for the writer.
        self.first_text = threading.Event()
        self.next_round = 0.0  # when the next round of every job is due (time.monotonic())

    def ensure_running(self) -> None:
        with self.started_lock:
            if not self.is_alive() and self.ident is None:
                self.start()

    def run(self) -> None:
        self.next_round = time.monotonic() + FLUSH_SECONDS
        while True:
            self.first_text.wait(max(0.0, self.next_round - time.monotonic()))
            self.first_text.clear()
            full = time.monotonic() >= self.next_round  # else only the jobs whose first text waits
            by_app: dict[int, list] = {}
            for job in registry.live_jobs():
                # started and not ended (attributes: is_alive() takes a lock, 500 times a round)
                if job.ident is not None and not job.ended and job.verdict is None and not job.received.closed and (
                        full or job.first_text_waiting):
                    by_app.setdefault(id(job.app), []).append(job)
            self._persist_each(by_app)
            if full:
                self.next_round = time.monotonic() + FLUSH_SECONDS

    @staticmethod
    def _persist_each(by_app: dict) -> None:
        """One transaction per database for its jobs; a job found stopped or gone is told."""
        for jobs in by_app.values():
            try:
                states = _persist(jobs[0].app, jobs)
            except Exception:  # noqa: BLE001 - tried again at the next interval
                log.exception("could not persist %d running generation(s)", len(jobs))
                continue
            for job, state in states.items():
                if state != "running":
                    job.decide(state)


_writers: dict[int, Writer] = {}
_writers_lock = threading.Lock()


def process_writer() -> Writer:
    """This process's writer (made after gunicorn forks the worker)."""
    with _writers_lock:
        writer = _writers.get(os.getpid())
        if writer is None:
            writer = _writers[os.getpid()] = Writer()
        return writer


def first_text_arrived() -> None:
    """A job's first text arrived: it is persisted now, not at the writer's next round."""
    process_writer().first_text.set()
