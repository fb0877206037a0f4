"""Generation jobs: a chat completion that names its story runs in a background thread of the
worker that received it, appends its text to the story and persists it (with a heartbeat) every
FLUSH_SECONDS; followers on any worker tail the database. A job whose process died is marked
`interrupted` by whoever notices first (start-up, a reader, a new generation of the story)."""
from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import secrets
import socket
import sqlite3
import threading
import time
from datetime import datetime, timezone
from typing import Iterator

import db
import llm_service
import prompting
import stories_store

log = logging.getLogger("taleweaver.generations")

FLUSH_SECONDS = 0.25  # new text is written at most this long after it arrived
HEARTBEAT_SECONDS = 0.5  # a job that has nothing new still says it is alive this often
STALE_SECONDS = 10.0  # a running job silent for this long is taken for dead
POLL_SECONDS = 0.2  # how often a follower on another worker looks for new text
KEEPALIVE_SECONDS = 15.0  # an SSE comment keeps idle proxies from closing a quiet stream
STOP_WAIT_SECONDS = 3.0  # how long a stop request waits for the job to say it stopped
KEEP_ENDED_PER_STORY = 20  # ended generations kept per story (the newest)

ENDED = ("finished", "stopped", "failed", "interrupted")

INTERRUPTED_ERROR = {
    "code": "interrupted",
    "message": "The server stopped while this was being written; the text written until then is kept.",
    "hint": "Generate again (or Continue) to go on from where it stopped.",
}

_changed = threading.Condition()  # notified whenever a job of this process persists something
_live: dict[int, "Job"] = {}  # the jobs running in this process, by generation id
_live_lock = threading.Lock()
_owner: tuple[int, str] | None = None
_recovered: set[str] = set()


def owner_id() -> str:
    """host:pid:token of this process (computed after gunicorn's fork, once per process)."""
    global _owner
    if _owner is None or _owner[0] != os.getpid():
        _owner = (os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}")
    return _owner[1]


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


_VIEW_COLUMNS = (
    "id, story_id, user_id, status, backend_type, model, params_json, started_at, first_token_at, "
    "finished_at, length(text) AS text_length, finish_reason, usage_json, error_json, owner, heartbeat_at, "
    "action, counted_tokens, context_json"
)


def get_row(conn: sqlite3.Connection, generation_id: int, user_id: int | None = None) -> sqlite3.Row | None:
    """The generation (without its text), checked for a dead job first."""
    sql = f"SELECT {_VIEW_COLUMNS} FROM generations WHERE id = ?"
    args: tuple = (generation_id,)
    if user_id is not None:
        sql += " AND user_id = ?"
        args += (user_id,)
    row = conn.execute(sql, args).fetchone()
    if row is not None and row["status"] == "running" and not is_alive(row["owner"], row["heartbeat_at"], row["id"]):
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

def is_alive(owner: str, heartbeat_at: float, generation_id: int) -> bool:
    """Whether the job of a `running` generation may still be running."""
    if time.time() - heartbeat_at > STALE_SECONDS:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, _token = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine: only its heartbeat can tell
    pid = int(pid_text)
    if pid == os.getpid():
        with _live_lock:
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
        "SELECT id, owner, heartbeat_at FROM generations WHERE status = 'running'"
    ).fetchall()
    count = 0
    for row in rows:
        if not is_alive(row["owner"], row["heartbeat_at"], row["id"]) and interrupt(conn, row["id"]):
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
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            """SELECT story_id, owner, heartbeat_at, length(text) AS n, action, prefix_length
               FROM generations WHERE id = ? AND status = 'running'""",
            (generation_id,),
        ).fetchone()
        if row is None or (expect_owner is not None and row["owner"] != expect_owner):
            conn.execute("ROLLBACK")
            return False
        finished_at = now if status != "interrupted" else min(now, row["heartbeat_at"])
        sets = ["status = ?", "finished_at = ?", "heartbeat_at = ?", "finish_reason = ?", "usage_json = ?",
                "error_json = ?"]
        args = [status, finished_at, now, finish_reason, json.dumps(usage) if usage else None,
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
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    _notify()
    return True


def _prune(conn, story_id: int) -> None:
    conn.execute(
        """DELETE FROM generations WHERE story_id = ? AND status != 'running' AND id NOT IN (
               SELECT id FROM generations WHERE story_id = ? AND status != 'running' ORDER BY id DESC LIMIT ?)""",
        (story_id, story_id, KEEP_ENDED_PER_STORY),
    )


def _notify() -> None:
    with _changed:
        _changed.notify_all()


# -- starting ------------------------------------------------------------------------------------

class AlreadyRunning(Exception):
    """The story has a running generation already."""

    def __init__(self, generation_id: int):
        super().__init__(generation_id)
        self.generation_id = generation_id


def start(app, conn, *, story_id: int, user_id: int, service, payload: dict, action: str | None = None,
          prefix_length: int | None = None, context: dict | None = None) -> int:
    """Record a new running generation of the story and start its job; returns its id. The job
    appends to the story's text, or with `prefix_length` to the text's first that many characters
    (a regeneration replaces the passage after them); a `continue` or `regenerate` action never
    repeats the end of the text it continues."""
    running = running_for_story(conn, story_id)
    if running is not None and running["status"] == "running":
        raise AlreadyRunning(running["id"])
    params = {k: v for k, v in payload.items() if k not in ("messages", "stream", "model")}
    now = time.time()
    # Registered as live before any reader of this process can see the row (is_alive takes the lock).
    with _live_lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            prefix = conn.execute("SELECT content FROM stories WHERE id = ?", (story_id,)).fetchone()["content"]
            if prefix_length is not None:
                prefix = prefix[:prefix_length]
            cursor = conn.execute(
                """INSERT INTO generations (story_id, user_id, backend_type, model, params_json, owner,
                       started_at, heartbeat_at, action, prefix_length, context_json)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (story_id, user_id, getattr(service, "backend_type", None) or None, payload.get("model"),
                 json.dumps(params), owner_id(), now, now, action, len(prefix),
                 json.dumps(context) if context else None),
            )
            conn.execute("COMMIT")
        except db.IntegrityError:
            conn.execute("ROLLBACK")
            row = conn.execute(
                "SELECT id FROM generations WHERE story_id = ? AND status = 'running'", (story_id,)
            ).fetchone()
            raise AlreadyRunning(row["id"] if row else 0) from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        job = Job(app, cursor.lastrowid, story_id, prefix, service, payload,
                  avoid_repeat=action in prompting.ACTIONS)
        _live[job.generation_id] = job
    job.start()
    return job.generation_id


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


def _error_record(exc: llm_service.LLMError) -> dict:
    record = {"code": exc.code, "message": exc.message}
    if exc.hint:
        record["hint"] = exc.hint
    record["http_status"] = exc.http_status
    return record


class _Upstream:
    """Reads the backend's stream in a thread of its own, so that the job can persist, notice a
    stop request and close the upstream connection while the backend is silent."""

    def __init__(self, service, payload: dict):
        self.service, self.payload = service, payload
        self.items: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.chunks = None
        self.thread = threading.Thread(target=self._run, name="taleweaver-upstream", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        chunks = None
        try:
            chunks = self.service.chat_completion(self.payload, stream=True)
            self.chunks = chunks
            for chunk in chunks:
                if self.stopping.is_set():
                    break
                self.items.put(("chunk", chunk))
            self.items.put(("stopped" if self.stopping.is_set() else "end", None))
        except llm_service.LLMError as exc:
            # A read cut short by stop() fails too; that is the stop, not a backend failure.
            self.items.put(("stopped", None) if self.stopping.is_set() else ("error", _error_record(exc)))
        except Exception:  # noqa: BLE001 - the job must end with a recorded error, never hang
            if self.stopping.is_set():
                self.items.put(("stopped", None))
                return
            log.exception("generation stream failed")
            self.items.put(("error", {
                "code": "internal_error",
                "message": "The generation failed inside Taleweaver; the server log has details.",
                "http_status": 500,
            }))
        finally:
            close = getattr(chunks, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass

    def stop(self) -> None:
        """Stop reading and close the upstream connection now, even in the middle of a read."""
        self.stopping.set()
        for sock in _sockets_in(self.chunks):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _sockets_in(generator) -> list:
    """The sockets of the HTTP responses a stream generator (or those it delegates to) reads."""
    found, seen, pending = [], set(), [generator]
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        frame = getattr(item, "gi_frame", None)
        pending.append(getattr(item, "gi_yieldfrom", None))
        if frame is None:
            continue
        for value in list(frame.f_locals.values()):
            if hasattr(value, "gi_frame"):
                pending.append(value)
            raw = getattr(value, "raw", None)
            if raw is None:
                continue
            connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
            sock = getattr(connection, "sock", None)
            if sock is None:
                fp = getattr(raw, "_fp", None)
                sock = getattr(getattr(getattr(fp, "fp", None), "raw", None), "_sock", None)
            if sock is None:
                sock = getattr(value, "socket", None)  # transport.SocketResponse
            if isinstance(sock, socket.socket):
                found.append(sock)
    return found


class Job(threading.Thread):
    """One generation: reads the backend's chunks and persists text, heartbeat and outcome."""

    def __init__(self, app, generation_id: int, story_id: int, prefix: str, service, payload: dict,
                 avoid_repeat: bool = False):
        super().__init__(name=f"taleweaver-generation-{generation_id}", daemon=True)
        self.app, self.generation_id, self.story_id, self.prefix = app, generation_id, story_id, prefix
        # The backend is asked for its usage (tokens, speed) at the end of the stream.
        self.upstream = _Upstream(service, {**payload, "stream_options": {
            **(payload.get("stream_options") or {}), "include_usage": True}})
        self.owner = owner_id()
        self.text, self.reasoning = [], []
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
                conn = db.connect(db.database_path(self.app))
                try:
                    self._run(conn)
                finally:
                    conn.close()
        except Exception:  # noqa: BLE001 - a dead job is marked interrupted by the next reader
            log.exception("generation %s failed inside Taleweaver", self.generation_id)
        finally:
            with _live_lock:
                _live.pop(self.generation_id, None)
            _notify()

    def _run(self, conn) -> None:
        self.upstream.start()
        persisted = (0, 0)
        last_write = time.monotonic()
        outcome = None
        while outcome is None:
            deadline = time.monotonic() + FLUSH_SECONDS
            while True:
                try:
                    kind, item = self.upstream.items.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if kind == "chunk":
                    self._take(item)
                    continue
                outcome = {"end": ("finished", None), "stopped": ("stopped", None)}.get(kind) or ("failed", item)
                break
            if outcome is not None:
                break
            sizes = (sum(map(len, self.text)), sum(map(len, self.reasoning)))
            if sizes != persisted or time.monotonic() - last_write >= HEARTBEAT_SECONDS:
                state = self._persist(conn, write_text=sizes != persisted)
                persisted, last_write = sizes, time.monotonic()
            else:
                state = self._state(conn)
            if state == "stop":
                outcome = ("stopped", None)
            elif state == "gone":
                self.upstream.stop()  # ended elsewhere (story deleted, or taken for dead)
                return
        status, error = outcome
        if status != "finished":
            self.upstream.stop()
        self._release_held()
        text, reasoning = "".join(self.text), "".join(self.reasoning)
        _end(
            conn, self.generation_id, status, text=text, reasoning=reasoning, content=self.prefix + text,
            finish_reason=self.finish_reason if status == "finished" else None,
            usage=self.usage, error=error, expect_owner=self.owner, counted_tokens=self.counted_tokens,
            first_token_at=self.first_token_at,
        )

    def _release_held(self) -> None:
        """The held start of a continuation, without a repeat of the text it continues, joins the text."""
        if self.held is None:
            return
        start = prompting.join_continuation(self.prefix, "".join(self.held))
        self.held = None
        if start:
            self.text.append(start)

    def _take(self, chunk) -> None:
        data = _as_dict(chunk)
        if data is None:
            return
        if isinstance(data.get("usage"), dict):
            self.usage = data["usage"]
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return
        choice = choices[0]
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        content = delta.get("content")
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(content, str) and content:
            self.counted_tokens += 1
            if self.held is not None:
                self.held.append(content)
                if sum(map(len, self.held)) >= self.hold_chars:
                    self._release_held()
            else:
                self.text.append(content)
        if isinstance(reasoning, str) and reasoning:
            self.reasoning.append(reasoning)
        if self.first_token_at is None and (content or reasoning):
            self.first_token_at = time.time()
        if isinstance(choice.get("finish_reason"), str):
            self.finish_reason = choice["finish_reason"]

    def _persist(self, conn, write_text: bool) -> str:
        """Write the text so far (and the heartbeat) in one short transaction; the job's state after."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT status, stop_requested, owner FROM generations WHERE id = ?", (self.generation_id,)
            ).fetchone()
            if row is None or row["status"] != "running" or row["owner"] != self.owner:
                conn.execute("ROLLBACK")
                return "gone"
            if write_text:
                text = "".join(self.text)
                conn.execute(
                    """UPDATE generations SET text = ?, reasoning = ?, heartbeat_at = ?, first_token_at = ?,
                           counted_tokens = ? WHERE id = ?""",
                    (text, "".join(self.reasoning), time.time(), self.first_token_at, self.counted_tokens,
                     self.generation_id),
                )
                stories_store.set_content(conn, self.story_id, self.prefix + text)
            else:
                conn.execute("UPDATE generations SET heartbeat_at = ? WHERE id = ?", (time.time(), self.generation_id))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if write_text:
            _notify()
        return "stop" if row["stop_requested"] else "running"

    def _state(self, conn) -> str:
        row = conn.execute(
            "SELECT status, stop_requested, owner FROM generations WHERE id = ?", (self.generation_id,)
        ).fetchone()
        if row is None or row["status"] != "running" or row["owner"] != self.owner:
            return "gone"
        return "stop" if row["stop_requested"] else "running"


def _interrupt_live_jobs() -> None:
    """At a worker's orderly exit: its running jobs end as `interrupted` with all their text."""
    with _live_lock:
        jobs = list(_live.values())
    for job in jobs:
        job.upstream.stop()
        try:
            conn = db.connect(db.database_path(job.app))
            try:
                job._release_held()
                text = "".join(job.text)
                _end(conn, job.generation_id, "interrupted", text=text, reasoning="".join(job.reasoning),
                     content=job.prefix + text, error=INTERRUPTED_ERROR, expect_owner=job.owner)
            finally:
                conn.close()
        except Exception:  # noqa: BLE001 - exiting anyway; the next start-up marks it
            log.exception("could not mark generation %s interrupted at exit", job.generation_id)


atexit.register(_interrupt_live_jobs)


# -- stopping ----------------------------------------------------------------------------------

def stop(conn, generation_id: int, user_id: int) -> sqlite3.Row | None:
    """Ask the job to stop and wait until it has (idempotent on an ended generation)."""
    row = get_row(conn, generation_id, user_id)
    if row is None or row["status"] != "running":
        return row
    conn.execute("UPDATE generations SET stop_requested = 1 WHERE id = ? AND status = 'running'", (generation_id,))
    with _live_lock:
        job = _live.get(generation_id)
    if job is not None:
        job.upstream.stop()  # same worker: close the upstream at once
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while time.monotonic() < deadline:
        row = get_row(conn, generation_id, user_id)
        if row is None or row["status"] != "running":
            return row
        with _changed:
            _changed.wait(0.05)
    # The job did not answer (its worker is busy or gone): end it here; its text so far is kept.
    _end(conn, generation_id, "stopped")
    return get_row(conn, generation_id, user_id)


def wait_until_ended(conn, generation_id: int) -> sqlite3.Row | None:
    """Block until the generation has ended (for a client that asked for no stream)."""
    last_check = 0.0
    while True:
        if time.monotonic() - last_check >= POLL_SECONDS:
            row = get_row(conn, generation_id)
            if row is None or row["status"] != "running":
                return row
            last_check = time.monotonic()
        with _changed:
            _changed.wait(POLL_SECONDS)


def full_text(conn, generation_id: int) -> tuple[str, str]:
    row = conn.execute("SELECT text, reasoning FROM generations WHERE id = ?", (generation_id,)).fetchone()
    return (row["text"], row["reasoning"]) if row else ("", "")


# -- following ---------------------------------------------------------------------------------

def _event(event_id: int | None, data: dict) -> bytes:
    head = f"id: {event_id}\n".encode() if event_id is not None else b""
    return head + b"data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


def follow(conn, generation_id: int, after: int, reasoning_after: int) -> Iterator[bytes]:
    """The SSE events of a generation from text offset `after` on, until it ends."""
    base = conn.execute(
        "SELECT started_at, model FROM generations WHERE id = ?", (generation_id,)
    ).fetchone()
    if base is None:
        return
    chunk_id, created, model = f"gen-{generation_id}", int(base["started_at"]), base["model"] or ""

    def chunk(delta: dict, finish_reason=None, extension=None) -> dict:
        data = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        if extension is not None:
            data["taleweaver"] = extension
        return data

    last_sent = time.monotonic()
    last_liveness = 0.0
    while True:
        row = conn.execute(
            """SELECT status, owner, heartbeat_at, length(text) AS n, length(reasoning) AS r,
                      substr(text, ? + 1) AS tail, substr(reasoning, ? + 1) AS rtail,
                      finish_reason, usage_json, error_json
               FROM generations WHERE id = ?""",
            (after, reasoning_after, generation_id),
        ).fetchone()
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
        if time.monotonic() - last_liveness >= 1.0:
            last_liveness = time.monotonic()
            if not is_alive(row["owner"], row["heartbeat_at"], generation_id):
                interrupt(conn, generation_id)
                continue
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"
            last_sent = time.monotonic()
        with _changed:
            _changed.wait(POLL_SECONDS)


def public_error(error):
    """The error as clients see it (without the internal HTTP status)."""
    if not isinstance(error, dict):
        return error
    return {k: v for k, v in error.items() if k != "http_status"}
