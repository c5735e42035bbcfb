"""The load generator's keep-alive client against a real HTTP server on a real socket."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.http_client import KeepAliveClient, TransportError


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps the connection open between requests
    connections: set[int] = set()

    def do_POST(self) -> None:
        Echo.connections.add(self.client_address[1])
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = json.dumps(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        ).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "2")
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(answer), answer))
            return
        if self.path == "/close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def server():
    Echo.connections = set()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(httpd) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def test_posts_json_with_the_headers_and_reads_the_answer(server):
    with KeepAliveClient(url(server), {"Authorization": "Bearer k"}) as http:
        answer = http.post("/v1/sessions", {"events": [1, 2]})
    assert answer.status_code == 201
    assert answer.headers["retry-after"] == "2"
    assert answer.json() == {"path": "/v1/sessions", "body": {"events": [1, 2]}, "auth": "Bearer k"}


def test_requests_share_one_connection(server):
    with KeepAliveClient(url(server), {}) as http:
        for n in range(5):
            assert http.post("/x", n).json()["body"] == n
    assert len(Echo.connections) == 1


def test_a_refused_connection_is_a_transport_error_and_the_next_call_reconnects(server):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    http = KeepAliveClient(f"http://127.0.0.1:{free}", {}, timeout=2)
    with pytest.raises(TransportError):
        http.post("/x", 1)
    http.port = server.server_address[1]  # the server is back (here: another one)
    assert http.post("/x", 2).status_code == 201
    http.close()


def test_a_connection_the_server_closed_while_idle_is_reopened(server):
    with KeepAliveClient(url(server), {}) as http:
        http.post("/x", 1)
        http._connection.shutdown(socket.SHUT_RDWR)  # as if the server had closed it
        assert http.post("/x", 2).json()["body"] == 2
    assert len(Echo.connections) == 2


def test_a_large_answer_arriving_in_pieces_is_read_whole(server):
    text = "x" * 300_000
    with KeepAliveClient(url(server), {}) as http:
        assert http.post("/x", text).json()["body"] == text
        assert http.post("/x", 1).json()["body"] == 1  # nothing of the first left behind


def test_an_answer_that_says_connection_close_closes_the_connection(server):
    with KeepAliveClient(url(server), {}) as http:
        assert http.post("/close", 1).status_code == 201
        assert http._connection is None
        assert http.post("/x", 2).json()["body"] == 2
    assert len(Echo.connections) == 2


def test_an_answer_without_a_stated_length_is_a_transport_error(server):
    with KeepAliveClient(url(server), {}) as http:
        with pytest.raises(TransportError, match="Content-Length"):
            http.post("/chunked", 1)
        assert http.post("/x", 2).status_code == 201  # on a new connection
