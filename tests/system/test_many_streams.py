"""More streams open at once than any thread pool the server could give them: with gevent
workers a stream holds a greenlet, so 2 workers keep 400 streams open together (2 workers x
128 threads would hold 256 and make the rest wait for one to end)."""
from __future__ import annotations

import json
import socket

from tests.support import TaleweaverServer, configure_fake

STREAMS = 400


def open_stream(port: int) -> socket.socket:
    body = json.dumps({"messages": [{"role": "user", "content": "Go"}], "stream": True}).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.sendall(b"POST /proxy/llm/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (port, len(body), body))
    return sock


def first_event(sock: socket.socket) -> bytes:
    """The response up to its first SSE data event."""
    received = b""
    while b"data: " not in received:
        piece = sock.recv(65536)
        if not piece:
            break
        received += piece
    return received


def test_hundreds_of_streams_are_open_at_once_on_two_workers(fake_factory):
    fake = fake_factory("lmstudio", reply="a b c d e f")
    # Every stream sends its first chunks, then stays open (silent) until the client leaves.
    fake.set_fault("stall_after_chunks", chunks=2, seconds=600)
    server = TaleweaverServer(workers=2).start()
    sockets = []
    try:
        configure_fake(server, fake, fake.models[0])
        sockets = [open_stream(server.port) for _ in range(STREAMS)]
        heads = [first_event(sock) for sock in sockets]

        assert all(head.startswith(b"HTTP/1.1 200") for head in heads)
        assert all(b"data: {" in head for head in heads)
        assert fake.stats["active_streams"] == STREAMS
    finally:
        for sock in sockets:
            sock.close()
        server.close()
