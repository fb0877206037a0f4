"""The process's one writer of running jobs: every FLUSH_SECONDS it persists the new text (with a
heartbeat) of all the jobs of this process in one transaction, and tells a job that was stopped
(maybe on another worker) or is gone; in between, a job's first text as soon as it arrives (the
first words of 1,000 story generations started at once came 0.4 s sooner at the median,
bench/burst.py --stories). A job's new text is appended as a piece (store.append), so a round
costs the size of what arrived, whatever the story's length; each job is written inside a
savepoint of its own, so that a write that fails is that job's failure alone."""
from __future__ import annotations

import logging
import os
import threading
import time

from taleweaver.generations import registry
from taleweaver.generations import store
from taleweaver.storage import db

log = logging.getLogger("taleweaver.generations")

FLUSH_SECONDS = 0.25  # new text is written at most this long after it arrived
HEARTBEAT_SECONDS = 0.5  # a job that has nothing new still says it is alive this often
_BATCH = 500  # jobs whose states one query reads
# One name for every job's savepoint (each is released before the next is made): one statement
# text for the database's statement caches, not one per job.
_SAVEPOINT = "generation_write"


def _write(conn, job, now: float) -> bool:
    """A job's part of the writer's transaction: the text and reasoning that arrived since its
    last write, as its next piece, else the heartbeat when one is due (only while it is still
    running here). Whether it wrote; what it wrote is `job.pending` until the commit."""
    received = job.received
    items = (len(received.text), len(received.reasoning))  # what has arrived: whole pieces, never half of one
    text_items, reasoning_items, pieces = job.written
    if items == (text_items, reasoning_items):
        if now - job.last_write < HEARTBEAT_SECONDS:
            return False
        store.heartbeat(conn, job.generation_id, job.owner)
        job.pending = job.persisted, job.written
        return True
    text = "".join(received.text[text_items:items[0]])
    reasoning = "".join(received.reasoning[reasoning_items:items[1]])
    ends = (job.persisted[0] + len(text), job.persisted[1] + len(reasoning))
    appended = store.append(conn, job.generation_id, job.owner, (pieces, text, reasoning, *ends),
                            received.first_token_at, received.counted_tokens)
    job.pending = (ends, (*items, pieces + 1)) if appended else (job.persisted, job.written)
    return True


def _write_alone(conn, job, now: float) -> Exception | bool:
    """_write inside a savepoint of the job's own: a failure is rolled back to it, and returned,
    leaving the other jobs' writes of the transaction as they are."""
    conn.execute(f"SAVEPOINT {_SAVEPOINT}")
    try:
        wrote = _write(conn, job, now)
    except Exception as exc:  # noqa: BLE001 - whatever it is, it is this job's failure alone
        conn.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        conn.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        return exc
    conn.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    return wrote


def _persist(app, jobs: list) -> dict:
    """In one transaction: the new text (and the heartbeat) of the live jobs that need a write,
    and what the database says of each job: "running", "stop" (a stop was asked, maybe on another
    worker) or "gone" (ended elsewhere: the story deleted, or taken for dead); a job whose write
    failed, the failure. One write lock and one commit for all of this process's jobs, where one
    per job made the writes the bound."""
    now, states, written = time.monotonic(), {}, []
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
                    outcome = _write_alone(conn, job, now)
                    states[job] = outcome if isinstance(outcome, Exception) else (
                        "stop" if row["stop_requested"] else "running")
                    if outcome is True:
                        written.append(job)
    for job in written:
        (job.persisted, job.written), job.last_write = job.pending, now
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
                if isinstance(state, Exception):
                    # Said once: the job ends now, and the writer leaves it alone from here on.
                    log.error("generation %s: its new text could not be saved (%s); it ends as failed, "
                              "the other generations go on", job.generation_id, type(state).__name__, exc_info=state)
                    job.fail_unsaved(state)
                elif state != "running":
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
