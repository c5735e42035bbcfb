"""A lean HTTP/1.1 keep-alive client for the load generator.

The load runs on the same two cores as the stack it measures, so every microsecond the
client spends is taken from the ledger. httpx cost ~0.65 ms of CPU per request here (measured
under the single-event scenario: 611–682 µs per event); the standard library's
``http.client`` ~0.2 ms, much of it parsing each answer's headers with the ``email``
package. This writes each request in one ``sendall`` and reads the answer off the socket
itself. Only what the load needs: POST a JSON body, read the status, the headers and a body
of stated length (the API never streams its answers to these requests).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

RECEIVE_BYTES = 65536
BODILESS = frozenset({204, 304})


class ClosedBeforeAnswer(ConnectionError):
    """The server closed the connection before any byte of the answer."""


# What a request on a connection the server already closed fails with.
STALE = (ClosedBeforeAnswer, BrokenPipeError, ConnectionResetError)


class TransportError(Exception):
    """The request may not have reached the API, or its answer was lost: send it again."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: dict[str, str]  # names in lower case
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class KeepAliveClient:
    """One connection, reopened after any transport failure; not shared between threads."""

    def __init__(self, base_url: str, headers: dict[str, str], *, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        fields = {**headers, "Content-Type": "application/json"}
        self._fields = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
        self._connection: socket.socket | None = None

    def post(self, path: str, body: Any) -> Answer:
        payload = json.dumps(body).encode()
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self._fields}"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode("latin-1") + payload
        # A kept-alive connection may have been closed by the API while idle (uvicorn does
        # after 5 s): then send once more on a new one, as browsers do. Safe: every event
        # carries its id, so a request that did arrive is stored once.
        attempts = 2 if self._connection is not None else 1
        for attempt in range(attempts):
            try:
                answer = self._exchange(request)
                break
            except STALE as error:
                if attempt == attempts - 1:
                    raise TransportError(repr(error)) from error
        if answer.headers.get("connection", "").lower() == "close":
            self.close()
        return answer

    def _exchange(self, request: bytes) -> Answer:
        try:
            connection = self._connection or self._connect()
            connection.sendall(request)
            return _read_answer(connection)
        except STALE:
            self.close()
            raise
        except (OSError, ValueError) as error:  # ValueError: an answer that is not HTTP
            self.close()
            raise TransportError(repr(error)) from error
        except TransportError:
            self.close()
            raise

    def _connect(self) -> socket.socket:
        connection = socket.create_connection((self.host, self.port), timeout=self.timeout)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connection = connection
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> KeepAliveClient:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def _read_answer(connection: socket.socket) -> Answer:
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        data += _received(connection, first=not data)
    status_line, *lines = data[:end].decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = data[end + 4 :]
    length = 0 if status in BODILESS else _stated_length(headers)
    while len(body) < length:
        body += _received(connection, first=False)
    return Answer(status, headers, body[:length])


def _received(connection: socket.socket, *, first: bool) -> bytes:
    chunk = connection.recv(RECEIVE_BYTES)
    if chunk:
        return chunk
    if first:
        raise ClosedBeforeAnswer("the connection was closed before the answer")
    raise TransportError("the connection was closed in the middle of the answer")


def _stated_length(headers: dict[str, str]) -> int:
    if "content-length" not in headers:
        raise TransportError(f"an answer without Content-Length is not read here: {headers}")
    return int(headers["content-length"])
