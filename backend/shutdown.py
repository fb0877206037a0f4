"""What a stopping worker does before it goes, so that no word and no stream is cut silently.

- SIGTERM (`kill`, `docker stop`, systemd, a rolling restart; gunicorn's graceful stop): story
  generations end at once as `interrupted` with every word kept, their readers get that outcome,
  and readers of generations running on other instances re-attach there (generations.py). Plain
  streams through the proxy may finish within the graceful time; those still open
  STREAM_CUT_MARGIN_SECONDS before it runs out end with a `server_stopping` error event, before
  the master kills the worker.
- SIGINT (Ctrl+C) and SIGQUIT: the worker exits at once (and is killed 2 s later), so all of it
  happens now, and the readers get their last events before it goes (at most QUIET_SECONDS).
"""
from __future__ import annotations

import time

import gevent

STREAM_CUT_MARGIN_SECONDS = 2.0
QUIET_SECONDS = 1.5


class ServerStopping(gevent.GreenletExit):
    """Thrown into a plain stream's greenlet by a stopping worker just before its graceful time
    runs out: the stream ends with an error event that says so instead of being cut by the kill.
    A GreenletExit, so that no `except Exception` between the stream and the upstream socket
    takes it for a backend failure, and gunicorn ends the request quietly if it lands elsewhere."""


# The responses this process is streaming (a generation's reader, a plain stream): for each, the
# greenlet to throw ServerStopping into, or None when it is not to be cut (or runs in a thread,
# which cannot be).
_streams: dict["streaming", gevent.Greenlet | None] = {}


class streaming:  # noqa: N801 - used as `with shutdown.streaming():`, like a function
    """While a response streams from this process; a stopping worker waits for it to end, and
    with `cut` first ends it with ServerStopping. (A class: once per stream, on its start path.)"""

    __slots__ = ("cut",)

    def __init__(self, cut: bool = False):
        self.cut = cut

    def __enter__(self):
        current = gevent.getcurrent() if self.cut else None
        _streams[self] = current if isinstance(current, gevent.Greenlet) else None

    def __exit__(self, *exc_info):
        del _streams[self]


def _cut_streams() -> None:
    for greenlet in [greenlet for greenlet in _streams.values() if greenlet is not None]:
        greenlet.kill(ServerStopping, block=False)


def graceful(graceful_timeout: float) -> None:
    """The worker was told to stop and waits for its requests up to `graceful_timeout`."""
    import generations

    started = time.monotonic()
    generations.interrupt_for_shutdown()
    time.sleep(max(0.0, graceful_timeout - STREAM_CUT_MARGIN_SECONDS - (time.monotonic() - started)))
    _cut_streams()


def at_once() -> None:
    """The worker exits right after this."""
    import generations

    generations.interrupt_for_shutdown()
    _cut_streams()
    wait_until_quiet(QUIET_SECONDS)  # at once when nothing streams


def wait_until_quiet(seconds: float) -> bool:
    """At most `seconds` for the jobs of this process to have ended and its streams to have
    sent their last event; whether they did."""
    import generations

    deadline = time.monotonic() + seconds
    while generations.running_jobs() or _streams:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
