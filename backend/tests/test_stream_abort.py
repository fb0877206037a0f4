"""abort() on a streamed answer: whoever holds a stream (a proxied request whose browser went away,
a story generation's job on Stop) ends the backend's answer from another thread at once, so the
backend stops generating; twice, or after the answer has ended, it does nothing (a connection
that went back for keep-alive stays usable)."""
from __future__ import annotations

import json
import threading

import pytest

from taleweaver.llm import transport
from taleweaver.llm.socket_transport import SocketTransport
from taleweaver.llm.backends.lmstudio_service import LMStudioService
from taleweaver.llm.backends.ollama_service import OllamaService
from taleweaver.llm.errors import BackendError
from tests.test_socket_transport import SSE_HEAD, _chunk, scripted  # noqa: F401  (scripted: the fixture)

NDJSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
FIRST_PART = {
    LMStudioService: SSE_HEAD + _chunk(b'data: {"choices":[{"index":0,"delta":{"content":"Once"}}]}\n\n'),
    OllamaService: NDJSON_HEAD + _chunk(b'{"model":"m","message":{"role":"assistant","content":"Once"},"done":false}\n'),
}


def as_text(chunk) -> str:
    return chunk.decode() if isinstance(chunk, (bytes, bytearray)) else json.dumps(chunk)


def first_part_then_silence(first_part: bytes):
    """A backend that sends the start of a streamed answer, then nothing until the client closes
    the connection (which it records)."""
    def script(server, conn):
        if server.read_request(conn) is None:
            return
        conn.sendall(first_part)
        if server.wait_for_client_close(conn, 30):
            server.client_closed.set()
    return script


def test_abort_from_another_thread_ends_a_read_waiting_for_the_backend_and_closes_the_connection(scripted):
    server = scripted(first_part_then_silence(FIRST_PART[LMStudioService]))
    answer = SocketTransport().send("POST", server.url + "/v1/chat/completions", json_body={},
                                              stream=True, timeout=(2, 30))
    lines = answer.iter_lines(30)
    assert next(lines).startswith(b"data: ")

    threading.Timer(0.1, answer.abort).start()
    with pytest.raises(transport.ConnectionDropped):
        next(lines)  # without the abort: 30 s of silence, then a read timeout

    assert server.client_closed.wait(5)
    answer.abort()  # a second time, after the answer let its connection go: nothing happens


def test_abort_after_an_answer_was_read_to_its_end_leaves_its_connection_to_the_next_request(scripted):
    def kept_alive(server, conn):
        while server.read_request(conn) is not None:
            conn.sendall(SSE_HEAD + _chunk(b"data: [DONE]\n\n") + _chunk(b""))

    server = scripted(kept_alive)
    sender = SocketTransport()
    for _ in range(2):
        answer = sender.send("POST", server.url + "/v1/chat/completions", json_body={}, stream=True, timeout=(2, 5))
        assert list(answer.iter_lines(5)) == [b"data: [DONE]"]
        answer.abort()

    assert server.connections == 1


@pytest.mark.parametrize("service_class", [LMStudioService, OllamaService])
def test_a_services_stream_aborted_by_its_holder_ends_and_the_backend_sees_the_connection_closed(scripted, service_class):
    server = scripted(first_part_then_silence(FIRST_PART[service_class]))
    service = service_class(server.url, default_model="m", first_token_timeout=30, idle_timeout=30,
                            transport=SocketTransport())
    stream = service.chat_completion({"messages": [{"role": "user", "content": "Go."}]}, stream=True)
    chunks = iter(stream)
    assert next(chunk for chunk in chunks if "Once" in as_text(chunk))  # Ollama's translation starts with the role

    threading.Timer(0.1, stream.abort).start()
    with pytest.raises(BackendError, match="closed the connection in the middle of the answer"):
        next(chunks)

    assert server.client_closed.wait(5)
    stream.close()
