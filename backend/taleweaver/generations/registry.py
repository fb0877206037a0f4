"""The jobs running in this process, and how any process tells whether a generation marked
running still has a live job: its owner (this process's host view, pid and a token) and its
heartbeat. A generation whose job died is marked `interrupted` by whoever notices first
(start-up's recovery, a reader, a new generation of the story)."""
from __future__ import annotations

import logging
import os
import secrets
import socket
import sqlite3
import threading

from taleweaver.generations import ending
from taleweaver.generations import store

log = logging.getLogger("taleweaver.generations")

STALE_SECONDS = 10.0  # a running job silent for this long is taken for dead

_live: dict = {}  # generation id -> its Job (generations/job.py), while it runs in this process
_live_lock = threading.Lock()
_owner: tuple[int, str] | None = None
_views: dict[str, str] = {}
_recovered: set[str] = set()


def owner_id() -> str:
    """host:pid:token of this process (computed after gunicorn's fork, once per process); `host`
    is the host name and which processes' ids this one sees (`process_view`)."""
    global _owner
    if _owner is None or _owner[0] != os.getpid():
        _owner = (os.getpid(), f"{process_view()}:{os.getpid()}:{secrets.token_hex(4)}")
    return _owner[1]


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


def registering() -> threading.Lock:
    """Held while a new generation is recorded and its job added: a reader of this process that
    sees the row (is_alive takes it) finds the job."""
    return _live_lock


def add(job) -> None:
    """The job runs in this process from now on (call it holding registering())."""
    _live[job.generation_id] = job


def remove(generation_id: int) -> None:
    with _live_lock:
        _live.pop(generation_id, None)


def live_job(generation_id: int):
    """The job of a generation running in this process, if it is (a dict lookup is atomic: no
    lock, which a job being recorded holds through its database round trip)."""
    return _live.get(generation_id)


def live_jobs() -> list:
    """The jobs running in this process (copied in one step, which no thread interrupts: no lock,
    which a job being recorded holds through its database round trip)."""
    return list(_live.values())


def running_jobs() -> int:
    """How many jobs run in this process."""
    return len(_live)


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


def recover(conn: sqlite3.Connection) -> int:
    """Start-up: every running generation whose job is gone becomes `interrupted`. A job of another
    live worker (fresh heartbeat, process alive) is left alone."""
    count = 0
    for row in store.running_with_owners(conn):
        if not is_alive(row["owner"], row["heartbeat_age"], row["id"]) and ending.interrupt(conn, row["id"]):
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
