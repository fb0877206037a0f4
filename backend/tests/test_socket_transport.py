"""SocketTransport, the production transport of every backend reached directly, against scripted
servers on loopback: keep-alive reuse, what happens to a socket whose answer was not read to its
end, answers cut short, silence, and the request head it writes. (The error kinds of real
backends are in test_error_classes.py and test_backend_quirks.py; the transport through a proxy
is in test_proxy_environment.py.)"""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from taleweaver.llm import socket_transport, transport
from taleweaver.llm.socket_transport import SocketTransport


class ScriptedServer:
    """A loopback server whose every connection is handled by `script(conn, request_bytes)`;
    it records the connections it accepted and whether each was closed by the client."""

    def __init__(self, script):
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.requests: list[bytes] = []
        self.client_closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def read_request(self, conn) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                return None
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += conn.recv(65536)
        self.requests.append(head + b"\r\n\r\n" + body)
        return self.requests[-1]

    def _serve(self, conn):
        try:
            self.script(self, conn)
        except OSError:
            pass
        finally:
            conn.close()

    def wait_for_client_close(self, conn, seconds: float = 5.0) -> bool:
        """Whether the client closed the connection (EOF) within the time."""
        conn.settimeout(seconds)
        try:
            return conn.recv(1) == b""
        except (socket.timeout, ConnectionResetError):
            return False

    def close(self):
        self._stopping = True
        self.listener.close()


@pytest.fixture
def scripted():
    servers = []

    def start(script):
        server = ScriptedServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _json_answer(body: bytes = b'{"ok":true}') -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def _three_requests_over_one_connection(scripted) -> None:
    def keep_alive(server, conn):
        while server.read_request(conn) is not None:
            conn.sendall(_json_answer())

    server = scripted(keep_alive)
    sender = SocketTransport()
    for _ in range(3):
        assert sender.send("GET", server.url + "/v1/models", timeout=(2, 2)).json() == {"ok": True}
    assert server.connections == 1


def test_a_read_answer_gives_its_connection_back_for_the_next_request(scripted):
    _three_requests_over_one_connection(scripted)


def test_a_stream_closed_before_its_end_closes_the_connection_and_the_next_request_opens_another(scripted):
    seen = {}

    def endless_stream(server, conn):
        if server.read_request(conn) is None:
            return
        conn.sendall(SSE_HEAD + _chunk(b'data: {"n":1}\n\n'))
        closed = server.wait_for_client_close(conn)
        seen["closed"] = [closed]

    server = scripted(endless_stream)
    sender = SocketTransport()
    answer = sender.send("POST", server.url + "/v1/chat/completions", json_body={"stream": True},
                         stream=True, timeout=(2, 5))
    lines = answer.iter_lines(5)
    assert next(lines) == b'data: {"n":1}'
    answer.close()  # the browser went away: the backend must see its connection end
    deadline = time.monotonic() + 5
    while "closed" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen["closed"] == [True]
    answer = sender.send("POST", server.url + "/v1/chat/completions", json_body={"stream": True},
                         stream=True, timeout=(2, 5))
    answer.close()
    assert server.connections == 2


def test_an_idle_connection_the_server_closed_is_not_reused(scripted):
    def one_answer_then_close(server, conn):
        if server.read_request(conn) is not None:
            conn.sendall(_json_answer())  # keep-alive answer, then the server closes it anyway

    server = scripted(one_answer_then_close)
    sender = SocketTransport()
    assert sender.send("GET", server.url + "/a", timeout=(2, 2)).json() == {"ok": True}
    time.sleep(0.1)  # the server's close reaches the idle socket
    assert sender.send("POST", server.url + "/b", json_body={}, timeout=(2, 2)).json() == {"ok": True}
    assert server.connections == 2


def test_lines_arrive_as_they_come_and_a_last_line_without_newline_is_kept(scripted):
    def close_delimited(server, conn):
        if server.read_request(conn) is not None:
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"a\":1}\r\n\r\n  \n{\"b\":2}")

    server = scripted(close_delimited)
    answer = SocketTransport().send("POST", server.url + "/api/chat", json_body={}, stream=True,
                                              timeout=(2, 2))
    assert list(answer.iter_lines(2)) == [b'{"a":1}\r', b'{"b":2}']


def test_a_line_past_the_bound_without_a_break_stops_the_read_and_closes_the_connection(scripted):
    sent = []

    def unbroken(server, conn):
        if server.read_request(conn) is None:
            return
        conn.sendall(SSE_HEAD + _chunk(b'data: {"n":1}\n\ndata: {"content": "'))
        try:
            for _ in range(640):  # 40 MiB more of the same line, unless the client hangs up first
                conn.sendall(_chunk(b"x" * 65536))
                sent.append(65536)
        except OSError:
            pass
        server.client_closed.set()

    server = scripted(unbroken)
    answer = SocketTransport().send("POST", server.url + "/v1/chat/completions", json_body={},
                                    stream=True, timeout=(2, 2))
    received = []
    with pytest.raises(transport.LineTooLong):
        for line in answer.iter_lines(2):
            received.append(line)
    assert received == [b'data: {"n":1}']
    assert server.client_closed.wait(10)
    assert sum(sent) < 40 * 2**20  # the client hung up long before the line's 40 MiB


@pytest.mark.parametrize("cut", [
    SSE_HEAD + _chunk(b'data: {"n":1}\n\n'),  # chunked, no last chunk
    b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\ndata: {\"n\":1}\n\n",  # shorter than its length
])
def test_a_stream_cut_short_is_a_dropped_connection_after_the_text_that_came(scripted, cut):
    def cut_short(server, conn):
        if server.read_request(conn) is not None:
            conn.sendall(cut)

    server = scripted(cut_short)
    answer = SocketTransport().send("POST", server.url + "/v1/chat/completions", json_body={},
                                              stream=True, timeout=(2, 2))
    received = []
    with pytest.raises(transport.ConnectionDropped, match="middle of the answer"):
        for line in answer.iter_lines(2):
            received.append(line)
    assert received == [b'data: {"n":1}']


@pytest.mark.parametrize("reply", [b"", b"\x15\x03\x01\x00\x02\x02\x46", b"SSH-2.0-OpenSSH_9.2\r\n"])
def test_no_http_answer_is_a_connection_closed_without_answering(scripted, reply):
    def not_http(server, conn):
        if server.read_request(conn) is not None:
            conn.sendall(reply)

    server = scripted(not_http)
    with pytest.raises(transport.ConnectionDropped, match="without answering"):
        SocketTransport().send("GET", server.url + "/v1/models", timeout=(2, 2))


def test_a_body_cut_short_without_streaming_is_a_dropped_connection(scripted):
    def short_body(server, conn):
        if server.read_request(conn) is not None:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"data\":")

    server = scripted(short_body)
    with pytest.raises(transport.ConnectionDropped):
        SocketTransport().send("GET", server.url + "/v1/models", timeout=(2, 2))


def test_silence_before_the_answer_and_in_the_middle_are_told_apart(scripted):
    release = threading.Event()

    def silent(server, conn):
        if server.read_request(conn) is None:
            return
        if len(server.requests) == 2:
            conn.sendall(SSE_HEAD + _chunk(b'data: {"n":1}\n\n'))
        release.wait(10)

    server = scripted(silent)
    sender = SocketTransport()
    try:
        with pytest.raises(transport.ReadTimedOut) as before:
            sender.send("POST", server.url + "/v1/chat/completions", json_body={}, stream=True, timeout=(2, 0.3))
        assert before.value.before_first_byte
        answer = sender.send("POST", server.url + "/v1/chat/completions", json_body={}, stream=True,
                             timeout=(2, 30))
        lines = answer.iter_lines(0.3)  # after the first line, the idle timeout applies
        assert next(lines) == b'data: {"n":1}'
        with pytest.raises(transport.ReadTimedOut) as middle:
            next(lines)
        assert not middle.value.before_first_byte
    finally:
        release.set()


def test_nothing_listening_is_a_refused_connection():
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(transport.ConnectionRefused):
        SocketTransport().send("GET", f"http://127.0.0.1:{port}/v1/models", timeout=(2, 2))


def test_https_to_a_plain_http_server_is_a_tls_failure_that_says_so(scripted):
    def plain(server, conn):
        conn.recv(65536)  # the TLS ClientHello
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    server = scripted(plain)
    with pytest.raises(transport.TlsFailed) as failed:
        SocketTransport().send("GET", f"https://127.0.0.1:{server.port}/v1/models", timeout=(2, 2))
    assert failed.value.plain_http


@pytest.mark.parametrize("value", ["Bearer sk-abc\r\nX-Injected: 1", "Bearer sk-\u00e9\u20ac-secret"])
def test_a_header_http_cannot_carry_is_refused_without_its_value_in_the_message(scripted, value):
    server = scripted(lambda server, conn: server.read_request(conn))
    with pytest.raises(transport.TransportFailure) as refused:
        SocketTransport().send("GET", server.url + "/v1/models", headers={"Authorization": value},
                                         timeout=(2, 2))
    assert "sk-" not in str(refused.value) and "secret" not in str(refused.value)
    assert server.requests == []  # nothing was sent


def test_the_request_head_names_the_host_as_http_requires():
    head = socket_transport._request_head("POST", "/v1/chat/completions", "::1", 8080, "http",
                                   {"Content-Type": "application/json"}, b"{}")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: [::1]:8080\r\n")
    assert head.endswith(b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n")
    assert b"Host: api.openai.com\r\n" in socket_transport._request_head("GET", "/v1/models", "api.openai.com", 443,
                                                                   "https", {}, None)
    assert b"Content-Length" not in socket_transport._request_head("GET", "/", "localhost", 80, "http", {}, None)


def test_a_json_body_is_sent_whole_with_its_length(scripted):
    def echo(server, conn):
        request = server.read_request(conn)
        if request is not None:
            conn.sendall(_json_answer())

    server = scripted(echo)
    SocketTransport().send("POST", server.url + "/v1/chat/completions?x=1",
                                     json_body={"messages": [{"role": "user", "content": "\u00e9t\u00e9"}]},
                                     headers={"Authorization": "Bearer k"}, timeout=(2, 2))
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer k" in head and b"\r\nContent-Type: application/json" in head
    assert b"Content-Length: %d" % len(body) in head
    assert json.loads(body) == {"messages": [{"role": "user", "content": "\u00e9t\u00e9"}]}


def test_keep_alive_works_with_descriptors_past_select_s_limit(scripted):
    """A busy server holds more than 1,023 descriptors; select() cannot watch those."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip("the descriptor limit is too low to test this")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    filler = [socket.socket() for _ in range(1030)]
    try:
        _three_requests_over_one_connection(scripted)
    finally:
        for sock in filler:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


_UNDER_GEVENT = r'''
from gevent import monkey
monkey.patch_all()
import json, sys, time
sys.path[:0] = sys.argv[1:3]
from taleweaver.llm.socket_transport import SocketTransport
from test_socket_transport import ScriptedServer, _json_answer

def kept_alive(server, conn):
    while server.read_request(conn) is not None:
        conn.sendall(_json_answer(b"{}"))

def closed_by_server(server, conn):
    if server.read_request(conn) is not None:
        conn.sendall(_json_answer(b"{}"))

results = {}
for script in (kept_alive, closed_by_server):
    server = ScriptedServer(script)
    sender = SocketTransport()
    answers = []
    for _ in range(3):
        answers.append(sender.send("GET", server.url + "/v1/models", timeout=(2, 2)).json())
        time.sleep(0.05)  # a server's close reaches the idle socket
    results[script.__name__] = {"answers": answers, "connections": server.connections}
    server.close()
print(json.dumps(results))
'''


def test_under_gevent_a_live_idle_connection_is_reused_and_one_the_server_closed_is_not():
    """The server's workers run patched by gevent (its poll() and sockets): the idle check still
    tells a live keep-alive connection (reused) from one the server closed (a new one opened)."""
    import os
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, "-c", _UNDER_GEVENT, os.path.dirname(here), here],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["kept_alive"] == {"answers": [{}, {}, {}], "connections": 1}
    assert results["closed_by_server"] == {"answers": [{}, {}, {}], "connections": 3}
