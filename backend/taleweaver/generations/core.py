"""Generation jobs: a chat completion that names its story runs in a background thread of the
worker that received it and appends its text to the story; the process's one writer persists
the text (with a heartbeat) of all its running jobs every FLUSH_SECONDS, in one transaction. A
follower in the job's own process takes the text from the live job's memory once it is persisted,
woken by that job's write alone; a follower on another worker or instance tails the database every
POLL_SECONDS. Jobs, writer and followers borrow a connection for each query and hold none while
they wait. A job whose process died is marked `interrupted` by whoever notices first (start-up,
a reader, a new generation of the story)."""
from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import socket
import sqlite3
import threading
import time
from datetime import datetime, timezone
from typing import Iterator

from taleweaver.storage import db
from taleweaver.storage import dialect as db_dialect
from taleweaver.stories import prompting
from taleweaver.generations import streams
from taleweaver.stories import store as stories_store
from taleweaver.llm.errors import LLMError
from taleweaver.llm.stream import Stream

log = logging.getLogger("taleweaver.generations")

FLUSH_SECONDS = 0.25  # new text is written at most this long after it arrived
HEARTBEAT_SECONDS = 0.5  # a job that has nothing new still says it is alive this often
STALE_SECONDS = 10.0  # a running job silent for this long is taken for dead
POLL_SECONDS = 0.2  # how often a follower on another worker looks for new text
CURSOR_CATCH_UP_SECONDS = 2.0  # how long a cursor ahead of the persisted text waits for it
KEEPALIVE_SECONDS = 15.0  # an SSE comment keeps idle proxies from closing a quiet stream
STOP_WAIT_SECONDS = 3.0  # how long a stop request waits for the job to say it stopped
KEEP_ENDED_PER_STORY = 20  # ended generations kept per story (the newest)

ENDED = ("finished", "stopped", "failed", "interrupted")

INTERRUPTED_ERROR = {
    "code": "interrupted",
    "message": "The server stopped while this was being written; the text written until then is kept.",
    "hint": "Generate again (or Continue) to go on from where it stopped.",
}

_live: dict[int, "Job"] = {}  # the jobs running in this process, by generation id
_live_lock = threading.Lock()
_owner: tuple[int, str] | None = None
_recovered: set[str] = set()


def owner_id() -> str:
    """host:pid:token of this process (computed after gunicorn's fork, once per process); `host`
    is the host name and which processes' ids this one sees (`process_view`)."""
    global _owner
    if _owner is None or _owner[0] != os.getpid():
        _owner = (os.getpid(), f"{process_view()}:{os.getpid()}:{secrets.token_hex(4)}")
    return _owner[1]


_views: dict[str, str] = {}


def process_view() -> str:
    """The host name, and where /proc says so the kernel's boot and this process's PID namespace:
    a job's owner may be probed by process id only from the same view. Containers of one service
    often share a host name (set in compose or by a pod template) while each has a PID namespace
    of its own, where the other's process ids mean nothing: probing them would take a running
    job of another instance for dead."""
    hostname = socket.gethostname()
    view = _views.get(hostname)
    if view is None:
        parts = []
        try:
            with open("/proc/sys/kernel/random/boot_id") as fh:
                parts.append(fh.read().strip()[:8])
            parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
        except OSError:
            parts = []  # no /proc (macOS): the host name alone, as before
        view = _views[hostname] = "~".join([hostname.replace(":", "_"), *parts])
    return view


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
        "context": parse_json(row["context_json"]),
        "stats": figures,
    }


# A heartbeat is written, and its age read, by the database's clock (EPOCH_NOW): instances on
# one PostgreSQL judge each other's jobs by it, and their own clocks may disagree by more than
# STALE_SECONDS (a VM resumed from sleep, WSL after the laptop slept).
HEARTBEAT_AGE = f"{db_dialect.EPOCH_NOW} - heartbeat_at AS heartbeat_age"
_VIEW_COLUMNS = (
    "id, story_id, user_id, status, backend_type, model, params_json, started_at, first_token_at, "
    "finished_at, length(text) AS text_length, finish_reason, usage_json, error_json, owner, heartbeat_at, "
    f"{HEARTBEAT_AGE}, action, counted_tokens, context_json"
)


def get_row(conn: sqlite3.Connection, generation_id: int, user_id: int | None = None) -> sqlite3.Row | None:
    """The generation (without its text), checked for a dead job first."""
    sql = f"SELECT {_VIEW_COLUMNS} FROM generations WHERE id = ?"
    args: tuple = (generation_id,)
    if user_id is not None:
        sql += " AND user_id = ?"
        args += (user_id,)
    row = conn.execute(sql, args).fetchone()
    if row is not None and row["status"] == "running" and not is_alive(row["owner"], row["heartbeat_age"], row["id"]):
        interrupt(conn, row["id"])
        row = conn.execute(sql, args).fetchone()
    return row


def running_for_story(conn: sqlite3.Connection, story_id: int) -> sqlite3.Row | None:
    row = conn.execute(
        "SELECT id FROM generations WHERE story_id = ? AND status = 'running'", (story_id,)
    ).fetchone()
    return get_row(conn, row["id"]) if row else None


def last_for_story(conn: sqlite3.Connection, story_id: int) -> sqlite3.Row | None:
    row = conn.execute(
        "SELECT id FROM generations WHERE story_id = ? ORDER BY id DESC LIMIT 1", (story_id,)
    ).fetchone()
    return get_row(conn, row["id"]) if row else None


# -- liveness and recovery ----------------------------------------------------------------------

def is_alive(owner: str, heartbeat_age: float, generation_id: int) -> bool:
    """Whether the job of a `running` generation may still be running (`heartbeat_age`: seconds
    since its last heartbeat, by the database's clock)."""
    if heartbeat_age > STALE_SECONDS:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, _token = rest.partition(":")
    if host != process_view() or not pid_text.isdigit():
        return True  # another machine or container: only its heartbeat can tell
    pid = int(pid_text)
    if pid == os.getpid():
        if owner == owner_id() and generation_id in _live:
            return True
        with _live_lock:  # a job being recorded is registered before the lock is let go
            return owner == owner_id() and generation_id in _live
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def interrupt(conn: sqlite3.Connection, generation_id: int) -> bool:
    """Mark a generation whose job died `interrupted`, keeping its text in the story."""
    return _end(conn, generation_id, "interrupted", error=INTERRUPTED_ERROR, expect_owner=None)


def recover(conn: sqlite3.Connection) -> int:
    """Start-up: every running generation whose job is gone becomes `interrupted`. A job of another
    live worker (fresh heartbeat, process alive) is left alone."""
    rows = conn.execute(
        f"SELECT id, owner, {HEARTBEAT_AGE} FROM generations WHERE status = 'running'"
    ).fetchall()
    count = 0
    for row in rows:
        if not is_alive(row["owner"], row["heartbeat_age"], row["id"]) and interrupt(conn, row["id"]):
            count += 1
    if count:
        log.warning("marked %d generation(s) left running by a stopped server as interrupted", count)
    return count


def needs_recovery(path: str) -> bool:
    """Whether this process has not yet run recover() on that database."""
    return f"{os.getpid()}:{path}" not in _recovered


def recover_once(conn: sqlite3.Connection, path: str) -> None:
    """recover() the first time this process uses a database."""
    key = f"{os.getpid()}:{path}"
    if key not in _recovered:
        _recovered.add(key)
        recover(conn)


# -- ending a generation ---------------------------------------------------------------------

def _end(conn, generation_id: int, status: str, *, text: str | None = None, reasoning: str | None = None,
         content: str | None = None, finish_reason=None, usage=None, error=None,
         expect_owner: str | None = None, counted_tokens: int | None = None,
         first_token_at: float | None = None) -> bool:
    """In one transaction: the generation's final state, its story's text and a new revision.
    False when it had already ended (or, with expect_owner, belongs to another process)."""
    now = time.time()
    with db.write_transaction(conn):
        row = conn.execute(
            f"""SELECT story_id, owner, {HEARTBEAT_AGE}, length(text) AS n, action, prefix_length
               FROM generations WHERE id = ? AND status = 'running'""",
            (generation_id,),
        ).fetchone()
        if row is None or (expect_owner is not None and row["owner"] != expect_owner):
            return False  # nothing was written: the transaction ends with nothing in it
        # An interrupted job ended at its last heartbeat: its age (by the database's clock) taken
        # from this process's now, so the time is on the clock its start was measured by when it
        # ran here, even with the database's clock elsewhere.
        finished_at = now if status != "interrupted" else now - max(0.0, row["heartbeat_age"])
        sets = ["status = ?", "finished_at = ?", f"heartbeat_at = {db_dialect.EPOCH_NOW}", "finish_reason = ?",
                "usage_json = ?", "error_json = ?"]
        args = [status, finished_at, finish_reason, json.dumps(usage) if usage else None,
                json.dumps(error) if error else None]
        if text is not None:
            sets += ["text = ?", "reasoning = ?"]
            args += [text, reasoning or ""]
        if counted_tokens is not None:
            sets += ["counted_tokens = ?", "first_token_at = coalesce(first_token_at, ?)"]
            args += [counted_tokens, first_token_at]
        conn.execute(f"UPDATE generations SET {', '.join(sets)} WHERE id = ?", (*args, generation_id))
        story_id = row["story_id"]
        if content is not None:
            stories_store.set_content(conn, story_id, content)
        written = text if text is not None else full_text(conn, generation_id)[0]
        changed = stories_store.passage_ended(conn, story_id, row["action"], row["prefix_length"], written)
        if written:
            conn.execute(
                """UPDATE stories SET (backend_type, model) =
                       (SELECT backend_type, model FROM generations WHERE id = ?) WHERE id = ?""",
                (generation_id, story_id),
            )  # the story remembers what wrote it last
        if written or changed:
            stories_store.bump_revision(conn, story_id, "generation")
            stories_store.record_history(conn, story_id, "regenerate" if row["action"] == "regenerate" else "generation")
        _prune(conn, story_id)
    return True


def _prune(conn, story_id: int) -> None:
    conn.execute(
        """DELETE FROM generations WHERE story_id = ? AND status != 'running' AND id NOT IN (
               SELECT id FROM generations WHERE story_id = ? AND status != 'running' ORDER BY id DESC LIMIT ?)""",
        (story_id, story_id, KEEP_ENDED_PER_STORY),
    )


def live_job(generation_id: int) -> "Job | None":
    """The job of a generation running in this process, if it is (a dict lookup is atomic: no
    lock, which a job being recorded holds through its database round trip)."""
    return _live.get(generation_id)


def _pause(seconds: float) -> None:
    """Wait between two looks at the database (a seam for tests)."""
    time.sleep(seconds)


# -- starting ------------------------------------------------------------------------------------

class AlreadyRunning(Exception):
    """The story has a running generation already."""

    def __init__(self, generation_id: int):
        super().__init__(generation_id)
        self.generation_id = generation_id


def create_job(app, conn, *, story_id: int, user_id: int, service, payload: dict, action: str | None = None,
               prefix_length: int | None = None, context: dict | None = None) -> "Job":
    """Record a new running generation of the story and return its job, registered as live; the
    caller starts it (`job.start()`) once it holds no connection, because starting a thread waits
    for it (under gevent: other requests run meanwhile). The job appends to the story's text, or
    with `prefix_length` to the text's first that many characters (a regeneration replaces the
    passage after them); a `continue` or `regenerate` action never repeats the end of the text
    it continues."""
    running = running_for_story(conn, story_id)
    if running is not None and running["status"] == "running":
        raise AlreadyRunning(running["id"])
    params = {k: v for k, v in payload.items() if k not in ("messages", "stream", "model")}
    now = time.time()
    # Registered as live before any reader of this process can see the row (is_alive takes the lock).
    with _live_lock:
        try:
            with db.write_transaction(conn):
                prefix = conn.execute("SELECT content FROM stories WHERE id = ?", (story_id,)).fetchone()["content"]
                if prefix_length is not None:
                    prefix = prefix[:prefix_length]
                cursor = conn.execute(
                    f"""INSERT INTO generations (story_id, user_id, backend_type, model, params_json, owner,
                           started_at, heartbeat_at, action, prefix_length, context_json)
                       VALUES (?, ?, ?, ?, ?, ?, ?, {db_dialect.EPOCH_NOW}, ?, ?, ?)""",
                    (story_id, user_id, getattr(service, "backend_type", None) or None, payload.get("model"),
                     json.dumps(params), owner_id(), now, action, len(prefix),
                     json.dumps(context) if context else None),
                )
        except db.IntegrityError:  # the story's one running generation is another's (rolled back)
            row = conn.execute(
                "SELECT id FROM generations WHERE story_id = ? AND status = 'running'", (story_id,)
            ).fetchone()
            raise AlreadyRunning(row["id"] if row else 0) from None
        job = Job(app, cursor.lastrowid, story_id, prefix, service, payload,
                  avoid_repeat=action in prompting.ACTIONS, started_at=now)
        _live[job.generation_id] = job
    return job


# -- the job ---------------------------------------------------------------------------------

def _as_dict(chunk):
    if isinstance(chunk, dict):
        return chunk
    if isinstance(chunk, (bytes, bytearray, str)):
        try:
            value = json.loads(chunk)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None
    return None


def _error_record(exc: LLMError) -> dict:
    record = {"code": exc.code, "message": exc.message}
    if exc.hint:
        record["hint"] = exc.hint
    record["http_status"] = exc.http_status
    return record


class _Upstream:
    """Reads the backend's stream in a thread of its own and hands each chunk to `take` as it
    arrives (so followers see it at once), so that the job can persist, notice a stop request
    and close the upstream connection while the backend is silent. `outcome` is set (and `done`)
    after the last chunk: ("end" | "stopped" | "error", error record or None)."""

    def __init__(self, service, payload: dict, take, done: threading.Event):
        self.service, self.payload, self.take = service, payload, take
        self.outcome: tuple[str, dict | None] | None = None
        self.done = done
        self.stopping = threading.Event()
        self.stream: Stream | None = None
        self.thread = threading.Thread(target=self._run, name="taleweaver-upstream", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _ended(self, kind: str, error: dict | None = None) -> None:
        self.outcome = (kind, error)
        self.done.set()

    def _run(self) -> None:
        stream = None
        try:
            stream = self.stream = Stream.of(self.service.chat_completion(self.payload, stream=True))
            if self.stopping.is_set():
                stream.abort()  # stopped while the request was on its way
            for chunk in stream:
                if self.stopping.is_set():
                    break
                self.take(chunk)
            self._ended("stopped" if self.stopping.is_set() else "end")
        except LLMError as exc:
            # A read cut short by stop() fails too; that is the stop, not a backend failure.
            self._ended("stopped") if self.stopping.is_set() else self._ended("error", _error_record(exc))
        except Exception:  # noqa: BLE001 - the job must end with a recorded error, never hang
            if self.stopping.is_set():
                self._ended("stopped")
                return
            log.exception("generation stream failed")
            self._ended("error", {
                "code": "internal_error",
                "message": "The generation failed inside Taleweaver; the server log has details.",
                "http_status": 500,
            })
        finally:
            if stream is not None:
                try:
                    stream.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass

    def stop(self) -> None:
        """Stop reading and abort the stream now, even in the middle of a read (from any thread)."""
        self.stopping.set()
        stream = self.stream
        if stream is not None:
            stream.abort()


class Job(threading.Thread):
    """One generation: reads the backend's chunks and keeps its text in memory for the followers
    of this process (append-only: what is persisted is exactly "".join(text)); the process's
    writer persists text and heartbeat, and the job its outcome."""

    def __init__(self, app, generation_id: int, story_id: int, prefix: str, service, payload: dict,
                 avoid_repeat: bool = False, started_at: float | None = None):
        super().__init__(name=f"taleweaver-generation-{generation_id}", daemon=True)
        self.app, self.generation_id, self.story_id, self.prefix = app, generation_id, story_id, prefix
        self.prefix_words = stories_store.word_count(prefix)
        self.started_at = started_at if started_at is not None else time.time()
        self.model = payload.get("model") or ""
        self.owner = owner_id()
        # Set when the upstream has ended, or when the process's writer found the generation
        # stopped or gone (`verdict`): the job then writes its outcome.
        self.wake = threading.Event()
        self.verdict: str | None = None
        self.persisted = self.pending = (0, 0)  # the text and reasoning lengths in the database
        self.last_write = time.monotonic()
        # The backend is asked for its usage (tokens, speed) at the end of the stream.
        self.upstream = _Upstream(service, {**payload, "stream_options": {
            **(payload.get("stream_options") or {}), "include_usage": True}}, self._take, self.wake)
        self.text, self.reasoning = [], []
        self.text_length = self.reasoning_length = 0
        # Notified when this job's text was persisted and when it has ended: its followers, and
        # only they, wake up.
        self.changed = threading.Condition()
        # Chunks are taken in the upstream's thread; once `closed` (the outcome is being written)
        # no more text joins, so what is persisted is all the memory's followers ever see.
        self.lock = threading.Lock()
        self.closed = False
        self.ended = False  # set once the outcome is in the database (or the job gave up)
        self.counted_tokens = 0
        # The first characters of a continuation are held back until a repeat of the text's last
        # sentence can be seen (and removed): followers never see text that is taken back.
        self.held: list[str] | None = [] if avoid_repeat and prefix.strip() else None
        self.hold_chars = prompting.overlap_hold(prefix) if self.held is not None else 0
        self.finish_reason = None
        self.usage = None
        self.first_token_at: float | None = None

    def run(self) -> None:
        try:
            with self.app.app_context():
                self._run()
        except Exception:  # noqa: BLE001 - a dead job is marked interrupted by the next reader
            log.exception("generation %s failed inside Taleweaver", self.generation_id)
        finally:
            with _live_lock:
                _live.pop(self.generation_id, None)
            with self.changed:
                self.ended = True
                self.changed.notify_all()

    def _run(self) -> None:
        self.upstream.start()
        _writer().ensure_running()
        self.wake.wait()  # the upstream ended, or the writer found the generation stopped or gone
        if self.verdict == "gone":
            self.upstream.stop()  # ended elsewhere (story deleted, or taken for dead)
            self._close()
            return
        if self.verdict == "shutdown" and self.upstream.outcome is None:
            # The server is stopping: the text so far is kept, and Continue goes on from it.
            status, error = "interrupted", INTERRUPTED_ERROR
        else:
            kind, error = ("stopped", None) if self.verdict == "stop" else self.upstream.outcome
            status = {"end": "finished", "stopped": "stopped"}.get(kind, "failed")
        if status != "finished":
            self.upstream.stop()
        with db.borrowed(self.app) as conn:
            self.write_outcome(conn, status, error)

    def write_outcome(self, conn, status: str, error: dict | None) -> bool:
        """No more text joins; the generation ends with all of it, the outcome and the counts."""
        text, reasoning = self._close()
        return _end(
            conn, self.generation_id, status, text=text, reasoning=reasoning, content=self.prefix + text,
            finish_reason=self.finish_reason if status == "finished" else None,
            usage=self.usage, error=error, expect_owner=self.owner, counted_tokens=self.counted_tokens,
            first_token_at=self.first_token_at,
        )

    def decide(self, verdict: str) -> None:
        """The writer found the generation stopped ("stop") or ended elsewhere ("gone"), or the
        server is stopping ("shutdown")."""
        if self.verdict is None:
            self.verdict = verdict
            self.wake.set()

    def _close(self) -> tuple[str, str]:
        """No more chunks join; the held start of a continuation is released. The final text."""
        with self.lock:
            self.closed = True
            self._release_held()
            return "".join(self.text), "".join(self.reasoning)

    @property
    def first_text_waiting(self) -> bool:
        """Text has arrived and none of it is persisted yet: the writer persists it at once."""
        return self.persisted == (0, 0) and bool(self.text_length or self.reasoning_length)

    def _append(self, content: str | None, reasoning: str | None) -> None:
        """New text: its followers get it once the writer has persisted it (the first text at
        once: the writer is woken for it rather than waiting for its next round)."""
        had_text = self.text_length or self.reasoning_length  # two attributes a chunk, on the relay's path
        if content:
            self.text.append(content)
            self.text_length += len(content)
        if reasoning:
            self.reasoning.append(reasoning)
            self.reasoning_length += len(reasoning)
        if not had_text and self.first_text_waiting:
            _writer().first_text.set()

    def _release_held(self) -> None:
        """The held start of a continuation, without a repeat of the text it continues, joins the text."""
        if self.held is None:
            return
        start = prompting.join_continuation(self.prefix, "".join(self.held))
        self.held = None
        if start:
            self._append(start, None)

    def _take(self, chunk) -> None:
        """One chunk of the backend's stream (in the upstream's thread): its text joins the job's."""
        data = _as_dict(chunk)
        if data is None:
            return
        with self.lock:
            if not self.closed:
                self._take_data(data)

    def _take_data(self, data: dict) -> None:
        if isinstance(data.get("usage"), dict):
            self.usage = data["usage"]
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return
        choice = choices[0]
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        content = delta.get("content")
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        content = content if isinstance(content, str) and content else None
        reasoning = reasoning if isinstance(reasoning, str) and reasoning else None
        if self.first_token_at is None and (content or reasoning):
            self.first_token_at = time.time()
        if content:
            self.counted_tokens += 1
            if self.held is not None:
                self.held.append(content)
                if sum(map(len, self.held)) >= self.hold_chars:
                    self._release_held()
                content = None
        if content or reasoning:
            self._append(content, reasoning)
        if isinstance(choice.get("finish_reason"), str):
            self.finish_reason = choice["finish_reason"]

    def write(self, conn, now: float, stamp: str) -> bool:
        """Its part of the writer's transaction: the text so far when it grew, else the heartbeat
        when one is due (only while it is still running here); the story was edited at `stamp`.
        Whether it wrote."""
        sizes = (self.text_length, self.reasoning_length)
        if sizes == self.persisted and now - self.last_write < HEARTBEAT_SECONDS:
            return False
        if sizes == self.persisted:
            conn.execute(_HEARTBEAT, (self.generation_id, self.owner))
        else:
            text, reasoning = "".join(self.text), "".join(self.reasoning)
            updated = conn.execute(
                _TEXT_AND_HEARTBEAT,
                (text, reasoning, self.first_token_at, self.counted_tokens, self.generation_id, self.owner),
            )
            if updated.rowcount == 1:
                stories_store.set_content(conn, self.story_id, self.prefix + text,
                                          stories_store.word_count_joined(self.prefix, self.prefix_words, text),
                                          stamp)
            sizes = (len(text), len(reasoning))
        self.pending = sizes
        return True

    def wait_for_change(self, text_seen: int, reasoning_seen: int, timeout: float) -> None:
        """Until this job's persisted text grows past what a follower has seen, or the job ends,
        at most `timeout` seconds (checked under the lock the writer notifies with, so no wake-up
        is missed)."""
        with self.changed:
            if not self.ended and self.persisted == (text_seen, reasoning_seen):
                self.changed.wait(timeout)


# -- the process's writer -----------------------------------------------------------------------

_HEARTBEAT = (f"UPDATE generations SET heartbeat_at = {db_dialect.EPOCH_NOW} "
              "WHERE id = ? AND status = 'running' AND owner = ?")
_TEXT_AND_HEARTBEAT = (f"UPDATE generations SET text = ?, reasoning = ?, heartbeat_at = {db_dialect.EPOCH_NOW}, "
                       "first_token_at = ?, counted_tokens = ? WHERE id = ? AND status = 'running' AND owner = ?")

def _persist(app, jobs: list["Job"]) -> dict["Job", str]:
    """In one transaction: the new text (and the heartbeat) of the live jobs that need a write,
    and what the database says of each job: "running", "stop" (a stop was asked, maybe on another
    worker) or "gone" (ended elsewhere: the story deleted, or taken for dead). One write lock and
    one commit for all of this process's jobs, where one per job made the writes the bound."""
    now, states, written = time.monotonic(), {}, []
    stamp = stories_store.now_stamp()  # one edit time for the transaction's stories (formatting it cost more than their UPDATEs)
    with db.borrowed(app) as conn:
        with db.write_transaction(conn):
            for start in range(0, len(jobs), 500):
                batch = {job.generation_id: job for job in jobs[start:start + 500]}
                rows = conn.execute(
                    f"SELECT id, status, stop_requested, owner FROM generations WHERE id IN ({', '.join('?' * len(batch))})",
                    tuple(batch),
                ).fetchall()
                found = {row["id"]: row for row in rows}
                for generation_id, job in batch.items():
                    row = found.get(generation_id)
                    if row is None or row["status"] != "running" or row["owner"] != job.owner:
                        states[job] = "gone"
                        continue
                    states[job] = "stop" if row["stop_requested"] else "running"
                    if job.write(conn, now, stamp):
                        written.append(job)
    for job in written:
        job.persisted, job.last_write = job.pending, now
        with job.changed:
            job.changed.notify_all()  # its followers, and only they, send the persisted text
    return states


class _Writer(threading.Thread):
    """This process's one writer of running jobs: every FLUSH_SECONDS it persists them all
    (`_persist`, one transaction per database) and tells a job that was stopped or is gone; in
    between, a job's first text as soon as it arrives (the first words of 1,000 story
    generations started at once came 0.4 s sooner at the median, bench/burst.py --stories)."""

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
            by_app: dict[int, list[Job]] = {}
            for job in list(_live.values()):
                # started and not ended (attributes: is_alive() takes a lock, 500 times a round)
                if job.ident is not None and not job.ended and job.verdict is None and not job.closed and (
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


_writers: dict[int, _Writer] = {}
_writers_lock = threading.Lock()


def _writer() -> _Writer:
    """This process's writer (made after gunicorn forks the worker)."""
    with _writers_lock:
        writer = _writers.get(os.getpid())
        if writer is None:
            writer = _writers[os.getpid()] = _Writer()
        return writer


# Set once this process is stopping: its followers of generations that run in other instances
# end their streams (without an outcome: the page re-attaches through another instance).
_stopping = threading.Event()
STOPPING_FOLLOW_SECONDS = 1.0


def interrupt_for_shutdown() -> int:
    """The worker is stopping (SIGTERM: `kill`, `docker stop`, systemd, a rolling restart):
    every job of this process ends now as `interrupted` with all its text, through its own
    outcome path, so its followers get that outcome and their streams end cleanly, and the
    worker's graceful wait ends with them instead of being cut by the master's SIGKILL (which
    would lose the last words and leave the generation `running`). A generation cannot
    outlive its process; Continue goes on from the kept text on any instance."""
    _stopping.set()
    with _live_lock:
        jobs = list(_live.values())
    for job in jobs:
        job.decide("shutdown")
    return len(jobs)


def _interrupt_live_jobs() -> None:
    """At an exit whose jobs did not end through generations/shutdown.py (their own outcome path): they end
    here as `interrupted` with all their text."""
    with _live_lock:
        jobs = list(_live.values())
    for job in jobs:
        job.upstream.stop()
        try:
            conn = db.connect(db.database_path(job.app))
            try:
                job.write_outcome(conn, "interrupted", INTERRUPTED_ERROR)
            finally:
                conn.close()
        except Exception:  # noqa: BLE001 - exiting anyway; the next start-up marks it
            log.exception("could not mark generation %s interrupted at exit", job.generation_id)


atexit.register(_interrupt_live_jobs)


# -- stopping ----------------------------------------------------------------------------------

def _wait_for(app, generation_id: int, timeout: float) -> None:
    """Until the generation may have changed: woken by its job when it runs in this process,
    else after a pause (a job elsewhere is seen through the database). Holds no connection."""
    job = live_job(generation_id)
    if job is not None:
        job.wait_for_change(*job.persisted, timeout)
    else:
        _pause(timeout)


def stop(app, generation_id: int, user_id: int) -> sqlite3.Row | None:
    """Ask the job to stop and wait until it has (idempotent on an ended generation); borrows a
    connection for each look and holds none while it waits."""
    with db.borrowed(app) as conn:
        row = get_row(conn, generation_id, user_id)
        if row is None or row["status"] != "running":
            return row
        conn.execute("UPDATE generations SET stop_requested = 1 WHERE id = ? AND status = 'running'", (generation_id,))
    job = live_job(generation_id)
    if job is not None:
        job.upstream.stop()  # same worker: close the upstream at once
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while time.monotonic() < deadline:
        with db.borrowed(app) as conn:
            row = get_row(conn, generation_id, user_id)
        if row is None or row["status"] != "running":
            return row
        _wait_for(app, generation_id, 0.05)
    # The job did not answer (its worker is busy or gone): end it here; its text so far is kept.
    with db.borrowed(app) as conn:
        _end(conn, generation_id, "stopped")
        return get_row(conn, generation_id, user_id)


def wait_until_ended(app, generation_id: int) -> None:
    """Block until the generation has ended (for a client that asked for no stream), holding no
    connection while it waits."""
    while True:
        job = live_job(generation_id)
        if job is not None:
            job.wait_for_change(*job.persisted, POLL_SECONDS)
            continue
        with db.borrowed(app) as conn:
            row = get_row(conn, generation_id)
        if row is None or row["status"] != "running":
            return
        _pause(POLL_SECONDS)


def full_text(conn, generation_id: int) -> tuple[str, str]:
    row = conn.execute("SELECT text, reasoning FROM generations WHERE id = ?", (generation_id,)).fetchone()
    return (row["text"], row["reasoning"]) if row else ("", "")


# -- following ---------------------------------------------------------------------------------

def _event(event_id: int | None, data: dict) -> bytes:
    head = f"id: {event_id}\n".encode() if event_id is not None else b""
    return head + b"data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


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


def text_length(generation_id: int, persisted: int) -> int:
    """How much text a follower may have seen: what is persisted (the live job's own record of it
    when it runs in this process, which may be ahead of a row read a moment ago)."""
    job = live_job(generation_id)
    return max(job.persisted[0], persisted) if job is not None else persisted


def reasoning_length(app, generation_id: int) -> int:
    """How much reasoning there is now (the live job's, else the persisted)."""
    job = live_job(generation_id)
    if job is not None:
        return job.persisted[1]
    with db.borrowed(app) as conn:
        row = conn.execute("SELECT length(reasoning) FROM generations WHERE id = ?", (generation_id,)).fetchone()
    return row[0] if row else 0


def wait_for_text(app, generation_id: int, length: int) -> bool:
    """Whether the persisted text reaches `length` while the generation runs (a cursor from a
    follower on another worker, which read the job's memory, can be ahead of the database by up
    to FLUSH_SECONDS): looks for a bounded while, holding no connection between looks."""
    for _ in range(max(1, round(CURSOR_CATCH_UP_SECONDS / POLL_SECONDS))):
        _pause(POLL_SECONDS)
        if text_length(generation_id, -1) >= length:
            return True  # its job runs in this process now: memory has it
        with db.borrowed(app) as conn:
            row = conn.execute(
                "SELECT status, length(text) AS n FROM generations WHERE id = ?", (generation_id,)
            ).fetchone()
        if row is None or row["n"] >= length:
            return row is not None
        if row["status"] != "running":
            return False
    return False


def follow(app, generation_id: int, after: int, reasoning_after: int) -> Iterator[bytes]:
    """`_follow`, known to streams.py while it streams (a stopping worker waits for its
    readers to have sent the outcome)."""
    with streams.streaming():
        yield from _follow(app, generation_id, after, reasoning_after)


def running_jobs() -> int:
    """How many jobs run in this process."""
    return len(_live)


def _follow(app, generation_id: int, after: int, reasoning_after: int) -> Iterator[bytes]:
    """The SSE events of a generation from text offset `after` on, until it ends. While its job
    runs in this process the text comes from the job's memory as soon as the writer has persisted
    it (no query; never a word that a SIGKILL could still take back); otherwise,
    and for the outcome once the job has ended, from the database, with a connection borrowed
    for each look and none held while waiting."""
    job = live_job(generation_id)
    if job is not None:
        created, model = int(job.started_at), job.model
    else:
        with db.borrowed(app) as conn:
            base = conn.execute(
                "SELECT started_at, model FROM generations WHERE id = ?", (generation_id,)
            ).fetchone()
        if base is None:
            return
        created, model = int(base["started_at"]), base["model"] or ""
    chunk_id = f"gen-{generation_id}"

    def chunk(delta: dict, finish_reason=None, extension=None) -> dict:
        data = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        if extension is not None:
            data["taleweaver"] = extension
        return data

    last_sent = time.monotonic()
    if job is not None:
        text, reasoning = _Cursor(job.text, after), _Cursor(job.reasoning, reasoning_after)
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
            after, reasoning_after = text.offset, reasoning.offset
            if delta:
                yield _event(after, chunk(delta))
                last_sent = time.monotonic()
            if ended:
                break  # the outcome (and any text the job did not keep in memory) is in the database
            if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
                yield b": keep-alive\n\n"
                last_sent = time.monotonic()
            job.wait_for_change(after, reasoning_after, max(0.0, KEEPALIVE_SECONDS - (time.monotonic() - last_sent)))
    last_liveness = 0.0
    stopping_since = None
    while True:
        with db.borrowed(app) as conn:
            row = conn.execute(
                f"""SELECT status, owner, {HEARTBEAT_AGE}, length(text) AS n, length(reasoning) AS r,
                          substr(text, ? + 1) AS tail, substr(reasoning, ? + 1) AS rtail,
                          finish_reason, usage_json, error_json
                   FROM generations WHERE id = ?""",
                (after, reasoning_after, generation_id),
            ).fetchone()
            if (row is not None and row["status"] == "running" and time.monotonic() - last_liveness >= 1.0):
                last_liveness = time.monotonic()
                if not is_alive(row["owner"], row["heartbeat_age"], generation_id):
                    interrupt(conn, generation_id)
                    continue
        if row is None:  # the story was deleted
            yield _event(after, chunk({}, None, {"status": "stopped", "error": None, "usage": None}))
            yield b"data: [DONE]\n\n"
            return
        delta = {}
        if row["n"] > after:
            delta["content"] = row["tail"]
        if row["r"] > reasoning_after:
            delta["reasoning_content"] = row["rtail"]
        if delta:
            after, reasoning_after = max(after, row["n"]), max(reasoning_after, row["r"])
            yield _event(after, chunk(delta))
            last_sent = time.monotonic()
        if row["status"] != "running":
            extension = {"status": row["status"], "error": public_error(parse_json(row["error_json"])),
                         "usage": parse_json(row["usage_json"])}
            yield _event(after, chunk({}, row["finish_reason"], extension))
            yield b"data: [DONE]\n\n"
            return
        if _stopping.is_set():
            # This process is stopping: a generation of its other workers ends within a moment
            # (its outcome is sent); one that runs in another instance goes on there, and the
            # reader re-attaches through it.
            stopping_since = stopping_since or time.monotonic()
            if time.monotonic() - stopping_since >= STOPPING_FOLLOW_SECONDS:
                return
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"
            last_sent = time.monotonic()
        _pause(POLL_SECONDS)


def public_error(error):
    """The error as clients see it (without the internal HTTP status)."""
    if not isinstance(error, dict):
        return error
    return {k: v for k, v in error.items() if k != "http_status"}
