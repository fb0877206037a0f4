"""A job's upstream reader: the backend's stream, read in a thread of its own so that the job can
persist, notice a stop request and abort the stream while the backend is silent."""
from __future__ import annotations

import logging
import threading

from taleweaver.generations import probabilities
from taleweaver.llm.errors import LLMError
from taleweaver.llm.stream import Stream

log = logging.getLogger("taleweaver.generations")


def error_record(exc: LLMError) -> dict:
    """A backend failure as the generation keeps it (the HTTP status stays internal)."""
    record = {"code": exc.code, "message": exc.message}
    if exc.hint:
        record["hint"] = exc.hint
    record["http_status"] = exc.http_status
    return record


INTERNAL_ERROR = {
    "code": "internal_error",
    "message": "The generation failed inside Taleweaver; the server log has details.",
    "http_status": 500,
}


class Upstream:
    """Hands each chunk of the backend's stream to `take` as it arrives (so followers see it at
    once). `outcome` is set (and `done`) after the last chunk: ("end" | "stopped" | "error",
    error record or None)."""

    def __init__(self, service, payload: dict, take, done: threading.Event,
                 collector: probabilities.Collector | None = None):
        self.service, self.payload, self.take, self.collector = service, payload, take, collector
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
            stream = self.stream = Stream.of(self._open())
            if self.stopping.is_set():
                stream.abort()  # stopped while the request was on its way
            for chunk in stream:
                if self.stopping.is_set():
                    break
                self.take(chunk)
            self._ended("stopped" if self.stopping.is_set() else "end")
        except LLMError as exc:
            # A read cut short by stop() fails too; that is the stop, not a backend failure.
            self._ended("stopped") if self.stopping.is_set() else self._ended("error", error_record(exc))
        except Exception:  # noqa: BLE001 - the job must end with a recorded error, never hang
            if self.stopping.is_set():
                self._ended("stopped")
                return
            log.exception("generation stream failed")
            self._ended("error", INTERNAL_ERROR)
        finally:
            if stream is not None:
                try:
                    stream.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass

    def _open(self):
        if self.collector is None:
            return self.service.chat_completion(self.payload, stream=True)
        answer, self.collector.note = probabilities.open_stream(self.service, self.payload, self.service.label)
        return answer

    def stop(self) -> None:
        """Stop reading and abort the stream now, even in the middle of a read (from any thread)."""
        self.stopping.set()
        stream = self.stream
        if stream is not None:
            stream.abort()
