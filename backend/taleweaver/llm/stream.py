"""What a service's streamed chat completion is: its OpenAI chunks as they arrive, and `abort()`,
with which whoever holds the stream (a proxied request whose browser went away, a story
generation's job on Stop) ends the backend's answer at once, even while another thread or
greenlet is waiting in the middle of a read. `chunk()` is the one place a chat.completion.chunk
is built."""
from __future__ import annotations

from typing import Any, Callable, Generator, Iterable


def _nothing() -> None:
    """The abort of a stream that reads no connection (a test's scripted chunks)."""


class Stream:
    """The chunks of one streamed chat completion, each a dict or the raw JSON bytes of one chunk
    as an OpenAI-compatible backend sent it."""

    __slots__ = ("chunks", "_abort")

    def __init__(self, chunks: Generator[Any, None, None], abort: Callable[[], None] = _nothing):
        self.chunks = chunks
        self._abort = abort

    @classmethod
    def of(cls, returned: Iterable) -> Stream:
        """What a service returned for stream=True, as a Stream: a service's own, or a plain
        iterable (a test's stand-in), which has no connection to abort."""
        return returned if isinstance(returned, Stream) else cls(_each(returned))

    def __iter__(self):
        return self.chunks  # a loop reads the chunks themselves, with nothing in between

    def __next__(self):
        return next(self.chunks)

    def abort(self) -> None:
        """End the answer now: the backend sees its connection closed and stops generating, and a
        read waiting for it fails. Safe from any thread or greenlet, at any time, and twice."""
        self._abort()

    def close(self) -> None:
        """Close the chunks where they are read (their cleanup gives the connection back, or
        closes it when the answer was not read to its end)."""
        self.chunks.close()


def _each(iterable: Iterable) -> Generator[Any, None, None]:
    yield from iterable


def chunk(completion_id: str, created: int, model: str, delta: dict | None, finish_reason: str | None = None,
          *, usage: dict | None = None) -> dict:
    """One chat.completion.chunk in OpenAI's format: the one choice's `delta`, or with `delta`
    None no choice, as in the usage chunk that ends a stream asked for with include_usage."""
    data = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage is not None:
        data["usage"] = usage
    return data
