"""The responses this process is streaming (a generation's reader, a plain proxied stream), so
that a stopping worker can wait for them to end, and cut the plain ones just before its graceful
time runs out (shutdown.py)."""
from __future__ import annotations

import gevent


class ServerStopping(gevent.GreenletExit):
    """Thrown into a plain stream's greenlet by a stopping worker just before its graceful time
    runs out: the stream ends with an error event that says so instead of being cut by the kill.
    A GreenletExit, so that no `except Exception` between the stream and the upstream socket
    takes it for a backend failure, and gunicorn ends the request quietly if it lands elsewhere."""


# For each streaming response: the greenlet to throw ServerStopping into, or None when it is
# not to be cut (or runs in a thread, which cannot be).
_streams: dict["streaming", gevent.Greenlet | None] = {}


class streaming:  # noqa: N801 - used as `with streams.streaming():`, like a function
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


def cut_all() -> None:
    """End every stream that may be cut (with ServerStopping)."""
    for greenlet in [greenlet for greenlet in _streams.values() if greenlet is not None]:
        greenlet.kill(ServerStopping, block=False)


def any_open() -> bool:
    """Whether a response is still streaming from this process."""
    return bool(_streams)
