"""What a stopping worker does before it goes, so that no word and no stream is cut silently.

- SIGTERM (`kill`, `docker stop`, systemd, a rolling restart; gunicorn's graceful stop): story
  generations end at once as `interrupted` with every word kept, their readers get that outcome,
  and readers of generations running on other instances re-attach there. Plain streams through
  the proxy may finish within the graceful time; those still open STREAM_CUT_MARGIN_SECONDS
  before it runs out end with a `server_stopping` error event, before the master kills the worker.
- SIGINT (Ctrl+C) and SIGQUIT: the worker exits at once (and is killed 2 s later), so all of it
  happens now, and the readers get their last events before it goes (at most QUIET_SECONDS).
"""
from __future__ import annotations

import threading
import time

from taleweaver.generations import registry
from taleweaver.generations import streams

STREAM_CUT_MARGIN_SECONDS = 2.0
QUIET_SECONDS = 1.5

# Set once this process is stopping: its followers of generations that run in other instances
# end their streams (without an outcome: the page re-attaches through another instance).
stopping = threading.Event()


def interrupt_jobs() -> int:
    """The worker is stopping (SIGTERM: `kill`, `docker stop`, systemd, a rolling restart):
    every job of this process ends now as `interrupted` with all its text, through its own
    outcome path, so its followers get that outcome and their streams end cleanly, and the
    worker's graceful wait ends with them instead of being cut by the master's SIGKILL (which
    would lose the last words and leave the generation `running`). A generation cannot
    outlive its process; Continue goes on from the kept text on any instance. How many."""
    stopping.set()
    jobs = registry.live_jobs()
    for job in jobs:
        job.decide("shutdown")
    return len(jobs)


def graceful(graceful_timeout: float) -> None:
    """The worker was told to stop and waits for its requests up to `graceful_timeout`."""
    started = time.monotonic()
    interrupt_jobs()
    time.sleep(max(0.0, graceful_timeout - STREAM_CUT_MARGIN_SECONDS - (time.monotonic() - started)))
    streams.cut_all()


def at_once() -> None:
    """The worker exits right after this."""
    interrupt_jobs()
    streams.cut_all()
    wait_until_quiet(QUIET_SECONDS)  # at once when nothing streams


def wait_until_quiet(seconds: float) -> bool:
    """At most `seconds` for the jobs of this process to have ended and its streams to have
    sent their last event; whether they did."""
    deadline = time.monotonic() + seconds
    while registry.running_jobs() or streams.any_open():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
