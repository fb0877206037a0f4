"""A lean fake LLM server for benchmarks: LM Studio/OpenAI (/v1, SSE) and Ollama (/api, NDJSON),
chat and text completion (/v1/completions, /api/generate).

Why not tests/fakes: those run in a thread of the calling process (they would share its GIL with
the benchmark's client) and do per-request bookkeeping for fault injection. This one is a single
asyncio loop in a process of its own, with HTTP/1.1 keep-alive and pre-encoded answers, so the
direct baseline measures little more than loopback and the client.

The answer is scripted by the last chat message (a completion's prompt): when it is a JSON object, it may set
``chunks`` (content chunks in a stream), ``interval_ms`` (pause before each chunk) and
``chunk_bytes`` (characters of content per chunk); a scripted non-streamed answer has
``chunks × chunk_bytes`` characters. Without a script the answer is a short fixed reply.

Every streamed content chunk carries the moment it was written, ``time.monotonic_ns()``
(CLOCK_MONOTONIC: one clock for every process on the machine): OpenAI chunks in an extra field
``x_sent_ns``, and in both formats as the start of the content, ``"<ns>;"`` padded to
``chunk_bytes``, because the Ollama path rebuilds every chunk and keeps only the content.

Run: ``python bench/upstream.py [--port 0]``; it prints ``{"port": N}`` once it listens.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

MODEL = "bench-model"
REPLY = "Once upon a time, in a valley where the rivers sang at night, a young weaver found a thread of light."

_OPENAI_MODELS = {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]}
_LMSTUDIO_MODELS = {
    "object": "list",
    "data": [
        {
            "id": MODEL, "object": "model", "type": "llm", "publisher": "bench", "arch": "llama",
            "compatibility_type": "gguf", "quantization": "Q4_K_M", "state": "loaded",
            "max_context_length": 4096,
        }
    ],
}
_OLLAMA_TAGS = {
    "models": [
        {
            "name": MODEL, "model": MODEL, "modified_at": "2026-01-01T00:00:00Z", "size": 2019393189,
            "digest": "0" * 64,
            "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B",
                        "quantization_level": "Q4_K_M"},
        }
    ]
}
_OLLAMA_PS = {"models": [{"name": MODEL, "model": MODEL, "size": 2019393189}]}
_OLLAMA_VERSION = {"version": "0.6.5"}


def _json(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _head(status: str, content_type: str, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n".encode()


def _whole(body: bytes, status: str = "200 OK", content_type: str = "application/json") -> bytes:
    return _head(status, content_type, len(body)) + body


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_STATIC = {
    ("GET", "/v1/models"): _whole(_json(_OPENAI_MODELS)),
    ("GET", "/api/v0/models"): _whole(_json(_LMSTUDIO_MODELS)),
    ("GET", "/api/tags"): _whole(_json(_OLLAMA_TAGS)),
    ("GET", "/api/ps"): _whole(_json(_OLLAMA_PS)),
    ("GET", "/api/version"): _whole(_json(_OLLAMA_VERSION)),
    ("GET", "/"): _whole(b"Ollama is running", content_type="text/plain"),
}
_NOT_FOUND = _whole(_json({"error": {"message": "not found", "type": "invalid_request_error"}}), "404 Not Found")
_BAD_REQUEST = _whole(_json({"error": {"message": "bad request", "type": "invalid_request_error"}}), "400 Bad Request")


def script_of(request: dict) -> dict | None:
    """The benchmark's script for this answer, from the last message (a completion's prompt), or
    None when it has none."""
    messages = request.get("messages") or [{}]
    content = request.get("prompt") if "prompt" in request else (
        messages[-1].get("content") if isinstance(messages[-1], dict) else None)
    if isinstance(content, str) and content.startswith("{"):
        try:
            return {"chunks": 20, "interval_ms": 0.0, "chunk_bytes": 0, **json.loads(content)}
        except ValueError:
            pass
    return None


def _content(sent_ns: int, chunk_bytes: int) -> str:
    text = f"{sent_ns};"
    return text + "a" * (chunk_bytes - len(text)) if chunk_bytes > len(text) else text


class Stream:
    """The pieces of one streamed answer in a backend's wire format."""

    content_type = ""

    def __init__(self, model: str):
        self.model = model

    def first(self) -> bytes | None:
        return None

    def chunk(self, sent_ns: int, chunk_bytes: int) -> bytes:
        raise NotImplementedError

    def last(self) -> bytes:
        raise NotImplementedError


class OpenAIStream(Stream):
    content_type = "text/event-stream"

    def __init__(self, model: str):
        super().__init__(model)
        self.prefix = (f'{{"id":"chatcmpl-bench","object":"chat.completion.chunk",'
                       f'"created":{int(time.time())},"model":{json.dumps(model)}')

    def _event(self, delta: dict, finish_reason=None, sent_ns: int | None = None) -> bytes:
        extra = f',"x_sent_ns":{sent_ns}' if sent_ns is not None else ""
        choices = _json([{"index": 0, "delta": delta, "finish_reason": finish_reason}]).decode()
        return f'data: {self.prefix},"choices":{choices}{extra}}}\n\n'.encode()

    def first(self) -> bytes:
        return self._event({"role": "assistant", "content": ""})

    def chunk(self, sent_ns: int, chunk_bytes: int) -> bytes:
        return self._event({"content": _content(sent_ns, chunk_bytes)}, sent_ns=sent_ns)

    def last(self) -> bytes:
        return self._event({}, "stop") + b"data: [DONE]\n\n"


class OllamaStream(Stream):
    content_type = "application/x-ndjson"

    def chunk(self, sent_ns: int, chunk_bytes: int) -> bytes:
        return _json(
            {"model": self.model, "created_at": "2026-01-01T00:00:00Z",
             "message": {"role": "assistant", "content": _content(sent_ns, chunk_bytes)}, "done": False}
        ) + b"\n"

    def last(self) -> bytes:
        return _json(
            {"model": self.model, "created_at": "2026-01-01T00:00:00Z",
             "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
             "total_duration": 1000, "prompt_eval_count": 12, "eval_count": 20}
        ) + b"\n"


class CompletionStream(Stream):
    """OpenAI's text_completion chunks: the text in choices[0].text."""

    content_type = "text/event-stream"

    def __init__(self, model: str):
        super().__init__(model)
        self.prefix = (f'{{"id":"cmpl-bench","object":"text_completion",'
                       f'"created":{int(time.time())},"model":{json.dumps(model)}')

    def _text(self, text: str, finish_reason=None, sent_ns: int | None = None) -> bytes:
        extra = f',"x_sent_ns":{sent_ns}' if sent_ns is not None else ""
        choices = _json([{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}]).decode()
        return f'data: {self.prefix},"choices":{choices}{extra}}}\n\n'.encode()

    def chunk(self, sent_ns: int, chunk_bytes: int) -> bytes:
        return self._text(_content(sent_ns, chunk_bytes), sent_ns=sent_ns)

    def last(self) -> bytes:
        return self._text("", "stop") + b"data: [DONE]\n\n"


class GenerateStream(Stream):
    """Ollama's /api/generate NDJSON: the text in `response`."""

    content_type = "application/x-ndjson"

    def chunk(self, sent_ns: int, chunk_bytes: int) -> bytes:
        return _json({"model": self.model, "created_at": "2026-01-01T00:00:00Z",
                      "response": _content(sent_ns, chunk_bytes), "done": False}) + b"\n"

    def last(self) -> bytes:
        return _json({"model": self.model, "created_at": "2026-01-01T00:00:00Z", "response": "", "done": True,
                      "done_reason": "stop", "total_duration": 1000, "prompt_eval_count": 12,
                      "eval_count": 20}) + b"\n"


STREAMS = {"/v1/chat/completions": OpenAIStream, "/api/chat": OllamaStream, "/v1/completions": CompletionStream,
           "/api/generate": GenerateStream}


def complete_answer(path: str, model: str, script: dict | None) -> bytes:
    """A non-streamed answer in the format of the path's backend (scripted: chunks × chunk_bytes)."""
    reply = REPLY if script is None else "a" * (int(script["chunks"]) * int(script["chunk_bytes"]))
    if path == "/api/generate":
        return _whole(_json(
            {"model": model, "created_at": "2026-01-01T00:00:00Z", "response": reply, "done": True,
             "done_reason": "stop", "total_duration": 1000, "prompt_eval_count": 12, "eval_count": 20}
        ))
    if path == "/v1/completions":
        return _whole(_json(
            {"id": "cmpl-bench", "object": "text_completion", "created": int(time.time()), "model": model,
             "choices": [{"text": reply, "index": 0, "logprobs": None, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32}}
        ))
    if path == "/api/chat":
        return _whole(_json(
            {"model": model, "created_at": "2026-01-01T00:00:00Z",
             "message": {"role": "assistant", "content": reply}, "done": True, "done_reason": "stop",
             "total_duration": 1000, "prompt_eval_count": 12, "eval_count": 20}
        ))
    return _whole(_json(
        {"id": "chatcmpl-bench", "object": "chat.completion", "created": int(time.time()), "model": model,
         "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32}}
    ))


async def stream_answer(writer: asyncio.StreamWriter, stream: Stream, script: dict) -> None:
    writer.write(_head("200 OK", stream.content_type, None))
    first = stream.first()
    if first:
        writer.write(_http_chunk(first))
    interval = float(script["interval_ms"]) / 1000
    chunk_bytes = int(script["chunk_bytes"])
    for _ in range(int(script["chunks"])):
        if interval:
            await asyncio.sleep(interval)
        writer.write(_http_chunk(stream.chunk(time.monotonic_ns(), chunk_bytes)))
        await writer.drain()
    writer.write(_http_chunk(stream.last()) + b"0\r\n\r\n")
    await writer.drain()


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer requests on one keep-alive connection until the client closes it."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            path = target.split("?", 1)[0]
            length = 0
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            static = _STATIC.get((method, path))
            if static is not None:
                writer.write(static)
            elif method == "POST" and path in STREAMS:
                try:
                    request = json.loads(body)
                except ValueError:
                    writer.write(_BAD_REQUEST)
                    continue
                model = request.get("model") or MODEL
                # Ollama streams unless told not to; OpenAI only when asked.
                streamed = request.get("stream", path.startswith("/api/"))
                script = script_of(request)
                if streamed:
                    stream = STREAMS[path](model)
                    await stream_answer(writer, stream, script or {"chunks": 20, "interval_ms": 0, "chunk_bytes": 0})
                else:
                    writer.write(complete_answer(path, model, script))
            else:
                writer.write(_NOT_FOUND)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(serve_connection, "127.0.0.1", port, backlog=1024)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    try:
        asyncio.run(main(parser.parse_args().port))
    except KeyboardInterrupt:
        sys.exit(0)
