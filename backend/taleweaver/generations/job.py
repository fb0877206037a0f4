"""A generation's job: a thread of the worker that received the chat completion, which starts the
upstream reader, waits for its end (or for a verdict of the process's writer: stopped, gone, the
server stopping) and writes the outcome."""
from __future__ import annotations

import atexit
import logging
import threading
import time

from taleweaver.generations import ending
from taleweaver.generations import leases
from taleweaver.generations import probabilities
from taleweaver.generations import registry
from taleweaver.generations import rows
from taleweaver.generations import store
from taleweaver.generations import writer
from taleweaver.generations.received import MAX_REASONING, Bounds, ReceivedText
from taleweaver.generations.upstream import Upstream
from taleweaver.errors import ApiError
from taleweaver.storage import db
from taleweaver.stories import prompting, rewriting, sizes
from taleweaver.stories import store as stories_store

log = logging.getLogger("taleweaver.generations")


class AlreadyRunning(Exception):
    """The story has a running generation already."""

    def __init__(self, generation_id: int):
        super().__init__(generation_id)
        self.generation_id = generation_id


class Job(threading.Thread):
    """One generation: its text in memory (`received`) for the followers of this process; the
    process's writer persists text and heartbeat (`persisted`: the lengths in the database), and
    the job its outcome."""

    def __init__(self, app, generation_id: int, story_id: int, prefix: str, service, payload: dict,
                 avoid_repeat: bool = False, started_at: float | None = None, bounds: Bounds | None = None,
                 suffix: str = "", proposal: bool = False):
        super().__init__(name=f"taleweaver-generation-{generation_id}", daemon=True)
        self.app, self.generation_id, self.story_id, self.prefix = app, generation_id, story_id, prefix
        self.suffix = suffix  # the text after what it writes ("Write here", "Rewrite"), kept as it is
        self.proposal = proposal  # a rewrite's text is a proposal: the story's text stays as it is
        self.started_at = started_at if started_at is not None else time.time()
        self.model = payload.get("model") or ""
        self.owner = registry.owner_id()
        # Set when the upstream has ended, or when the process's writer found the generation
        # stopped or gone (`verdict`): the job then writes its outcome.
        self.wake = threading.Event()
        self.verdict: str | None = None
        self.persisted = (0, 0)  # the text and reasoning lengths in the database
        self.written = (0, 0, 0)  # the received text and reasoning items in the database, and its pieces
        self.pending = (self.persisted, self.written)  # what the writer's transaction writes, until it commits
        self.last_write = time.monotonic()
        self.unsaved_error: dict | None = None  # why the writer could not save this job's text
        self.lease: int | None = None  # its stream lease (leases.py), in multi-user mode
        self.received = ReceivedText(prefix, avoid_repeat, writer.first_text_arrived, bounds,
                                     on_limit=lambda: self.decide("limit"))
        # The token probabilities asked for (the story shows them), lined up with the text at the end.
        self.collector = probabilities.Collector(service.label) if probabilities.asked(payload) else None
        take = self.received.take if self.collector is None else self._take_with_probabilities
        # The backend is asked for its usage (tokens, speed) at the end of the stream.
        self.upstream = Upstream(service, {**payload, "stream_options": {
            **(payload.get("stream_options") or {}), "include_usage": True}}, take, self.wake, self.collector)
        # Notified when this job's text was persisted and when it has ended: its followers, and
        # only they, wake up.
        self.changed = threading.Condition()
        self.ended = False  # set once the outcome is in the database (or the job gave up)

    def run(self) -> None:
        try:
            with self.app.app_context():
                self._run()
        except Exception:  # noqa: BLE001 - a dead job is marked interrupted by the next reader
            log.exception("generation %s failed inside Taleweaver", self.generation_id)
        finally:
            registry.remove(self.generation_id)
            self._give_back_lease()
            with self.changed:
                self.ended = True
                self.changed.notify_all()

    def _run(self) -> None:
        self.upstream.start()
        writer.process_writer().ensure_running()
        self.wake.wait()  # the upstream ended, a bound was reached, or the writer decided
        # No longer holding the backend: the user may start another (before the outcome is
        # written, which is what a Stop waits for).
        self._give_back_lease()
        if self.verdict in ("gone", "unsaved"):
            self.upstream.stop()  # ended elsewhere (story deleted, or taken for dead), or not saved
            self.received.close()
            if self.verdict == "unsaved":  # it ends with the text that was saved, which followers saw
                with db.borrowed(self.app) as conn:
                    ending.end(conn, self.generation_id, "failed", error=self.unsaved_error, expect_owner=self.owner)
            return
        status, error = self._outcome()
        if status != "finished" or self.verdict == "limit":
            self.upstream.stop()
        with db.borrowed(self.app) as conn:
            self.write_outcome(conn, status, error)

    def _give_back_lease(self) -> None:
        lease, self.lease = self.lease, None
        leases.give_back(self.app, lease)

    def _outcome(self) -> tuple[str, dict | None]:
        """How the generation ends, with its error record."""
        if self.verdict == "shutdown" and self.upstream.outcome is None:
            # The server is stopping: the text so far is kept, and Continue goes on from it.
            return "interrupted", ending.INTERRUPTED_ERROR
        if self.verdict == "limit":  # finish_reason "length", and the record says which bound
            return "finished", self.received.limit
        kind, error = ("stopped", None) if self.verdict == "stop" else self.upstream.outcome
        return {"end": "finished", "stopped": "stopped"}.get(kind, "failed"), error

    def write_outcome(self, conn, status: str, error: dict | None) -> bool:
        """No more text joins; the generation ends with all of it, the outcome and the counts."""
        text, reasoning = self.received.close()
        received = self.received
        content = None if self.proposal else self.prefix + text + self.suffix
        return ending.end(
            conn, self.generation_id, status, text=text, reasoning=reasoning, content=content,
            finish_reason=received.finish_reason if status == "finished" else None,
            usage=received.usage, error=error, expect_owner=self.owner, counted_tokens=received.counted_tokens,
            first_token_at=received.first_token_at, probabilities=self.collector,
        )

    def _take_with_probabilities(self, chunk) -> None:
        self.received.take(chunk)
        self.collector.take(chunk)

    def decide(self, verdict: str) -> None:
        """The writer found the generation stopped ("stop") or ended elsewhere ("gone"), the
        server is stopping ("shutdown"), or the text reached a bound ("limit")."""
        if self.verdict is None:
            self.verdict = verdict
            self.wake.set()

    def fail_unsaved(self, failure: Exception) -> None:
        """The writer could not save this job's new text: it ends `failed` with what was saved."""
        self.unsaved_error = {
            "code": "not_saved",
            "message": f"Taleweaver could not save this generation's text ({type(failure).__name__}); it "
                       "stopped there, and the text saved before is kept.",
            "hint": "Generate again, or Continue. If it happens again, the server's log says why.",
            "http_status": 500,
        }
        self.decide("unsaved")

    @property
    def first_text_waiting(self) -> bool:
        """Text has arrived and none of it is persisted yet: the writer persists it at once."""
        return self.persisted == (0, 0) and bool(self.received.text_length or self.received.reasoning_length)

    def wait_for_change(self, text_seen: int, reasoning_seen: int, timeout: float) -> None:
        """Until this job's persisted text grows past what a follower has seen, or the job ends,
        at most `timeout` seconds (checked under the lock the writer notifies with, so no wake-up
        is missed)."""
        with self.changed:
            if not self.ended and self.persisted == (text_seen, reasoning_seen):
                self.changed.wait(timeout)


def create_job(app, conn, *, story_id: int, user_id: int, service, backend_type: str | None, payload: dict,
               action: str | None = None, prefix_length: int | None = None, context: dict | None = None,
               suffix_start: int | None = None) -> Job:
    """Record a new running generation of the story and return its job, registered as live; the
    caller starts it (`job.start()`) once it holds no connection, because starting a thread waits
    for it (under gevent: other requests run meanwhile). The job appends to the story's text, or
    with `prefix_length` to the text's first that many characters (a regeneration replaces the
    passage after them; with `suffix_start` it writes between them and the text from there on,
    which it keeps: an insert, or a rewrite, whose text becomes a proposal); a `continue` or
    `regenerate` action never repeats the end of the text it continues. Refused (ApiError) when
    the story is full, when the user's quota has no room for the generation's worst case (507),
    and past the user's cap of streams (429)."""
    running = rows.running_for_story(conn, story_id)
    if running is not None and running["status"] == "running":
        raise AlreadyRunning(running["id"])
    room = _quota_room(conn, user_id, payload, app.config.get("STORAGE_QUOTA", 0))
    params = {k: v for k, v in payload.items() if k not in ("messages", "prompt", "stream", "model")}
    now = time.time()
    # Registered as live before any reader of this process can see the row (is_alive takes the lock).
    with registry.registering():
        try:
            with db.write_transaction(conn):
                content = stories_store.content_of(conn, story_id)
                prefix = content[:prefix_length]
                suffix = content[suffix_start:] if suffix_start is not None else ""
                if len(prefix) + len(suffix) >= stories_store.MAX_CONTENT:
                    raise _story_full()
                lease = leases.take(conn, user_id, "generation", leases.cap_of(app))
                generation_id = store.insert(
                    conn, story_id=story_id, user_id=user_id, backend_type=backend_type or None,
                    model=payload.get("model"), params=params, owner=registry.owner_id(), started_at=now,
                    action=action, prefix_length=len(prefix), context=context,
                )
        except db.IntegrityError:  # the story's one running generation is another's (rolled back)
            raise AlreadyRunning(store.running_id(conn, story_id) or 0) from None
        bounds = Bounds(stories_store.MAX_CONTENT - len(prefix) - len(suffix), room,
                        app.config.get("STORAGE_QUOTA", 0))
        job = Job(app, generation_id, story_id, prefix, service, payload,
                  avoid_repeat=action in prompting.ACTIONS, started_at=now, bounds=bounds, suffix=suffix,
                  proposal=action == rewriting.ACTION)
        job.lease = lease
        leases.keep(app, lease)
        registry.add(job)
    return job


# What a generation may need of the quota, asked before it starts: about 4 bytes a token of its
# max_tokens, at least MIN_QUOTA_ROOM (a generation without max_tokens, or with a small one), and
# at most what its text and reasoning can hold (their limits cut a larger max_tokens short).
MIN_QUOTA_ROOM = 64 * 1024
MAX_QUOTA_ROOM = 4 * (stories_store.MAX_CONTENT + MAX_REASONING)


def _quota_room(conn, user_id: int, payload: dict, quota: int) -> int | None:
    """How many bytes the user's quota has left (None: no quota); 507 quota_exceeded when that is
    less than the generation's worst case."""
    if quota <= 0:
        return None
    max_tokens = payload.get("max_tokens") or payload.get("max_completion_tokens")
    asked = 4 * max_tokens if isinstance(max_tokens, int) else 0
    worst = max(MIN_QUOTA_ROOM, min(asked, MAX_QUOTA_ROOM))
    used = sizes.usage(conn, user_id)["used_bytes"]
    if used + worst > quota:
        raise sizes.quota_exceeded(used, worst, quota)
    return quota - used


def _story_full() -> ApiError:
    return ApiError(
        400, "story_length_limit",
        f"This story has reached its length limit of {stories_store.MAX_CONTENT:,} characters; "
        "nothing more can be written into it.",
        hint="Start a new story to go on, or shorten this one.",
    )


def _interrupt_live_jobs() -> None:
    """At an exit whose jobs did not end through generations/shutdown.py (their own outcome path):
    they end here as `interrupted` with all their text."""
    for job in registry.live_jobs():
        job.upstream.stop()
        try:
            conn = db.connect(db.database_path(job.app))
            try:
                job.write_outcome(conn, "interrupted", ending.INTERRUPTED_ERROR)
            finally:
                conn.close()
        except Exception:  # noqa: BLE001 - exiting anyway; the next start-up marks it
            log.exception("could not mark generation %s interrupted at exit", job.generation_id)


atexit.register(_interrupt_live_jobs)
