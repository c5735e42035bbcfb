"""uvicorn with the API's coalescing protocol, on a real socket: plain answers whole and in
one piece, keep-alive across requests, streamed answers chunk by chunk as they are made."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from api.http_protocol import CoalescingHttpToolsProtocol
from bench.http_client import KeepAliveClient

STREAM_PAUSE = 0.3


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
        await asyncio.sleep(STREAM_PAUSE)
        await send({"type": "http.response.body", "body": b"second\n"})
        return
    body = b'{"path": "%s"}' % scope["path"].encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serving(protocol) -> Iterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=protocol, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server():
    with serving(CoalescingHttpToolsProtocol) as url:
        yield url


def test_answers_arrive_whole_on_one_kept_alive_connection(server):
    with KeepAliveClient(server, {}) as http:
        for n in range(50):
            answer = http.post(f"/answer/{n}", {"n": n})
            assert (answer.status_code, answer.json()) == (201, {"path": f"/answer/{n}"})


class CountingTransport:
    """The socket's transport, counting the writes that reach it."""

    writes: list[bytes] = []

    def __init__(self, transport) -> None:
        self._transport = transport

    def write(self, data) -> None:
        CountingTransport.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name):
        return getattr(self._transport, name)


class Counted(CoalescingHttpToolsProtocol):
    def connection_made(self, transport) -> None:
        super().connection_made(CountingTransport(transport))


def test_each_answer_reaches_the_socket_in_one_write():
    CountingTransport.writes = []
    with serving(Counted) as url, KeepAliveClient(url, {}) as http:
        for n in range(5):
            assert http.post(f"/answer/{n}", {}).status_code == 201
    writes = CountingTransport.writes
    assert len(writes) == 5
    assert all(w.startswith(b"HTTP/1.1 201") and w.endswith(b'"}') for w in writes)


def test_a_streamed_answer_is_sent_as_it_is_made(server):
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        sock.settimeout(STREAM_PAUSE * 0.8)
        early = b""
        while b"first" not in early:
            early += sock.recv(65536)  # times out if the first chunk waited for the second
        sock.settimeout(5)
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
    assert b"second" not in early and b"second" in rest
