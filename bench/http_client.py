"""A lean HTTP/1.1 keep-alive client for the load generator.

The load runs on the same two cores as the stack it measures, so every microsecond the
client spends is taken from the ledger. httpx cost ~0.65 ms of CPU per request here (measured
under the single-event scenario: 611–682 µs per event), close to the API's own ~0.9 ms; the
standard library's ``http.client`` on one kept-alive connection does the same work for a
fraction of that. Only what the load needs: POST a JSON body, read the status, the headers
and the body.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# What a request on a connection the server already closed fails with.
STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


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
        self.headers = {**headers, "Content-Type": "application/json"}
        self._connection: http.client.HTTPConnection | None = None

    def post(self, path: str, body: Any) -> Answer:
        payload = json.dumps(body).encode()
        # A kept-alive connection may have been closed by the API while idle (uvicorn does
        # after 5 s): then send once more on a new one, as browsers do. Safe: every event
        # carries its id, so a request that did arrive is stored once.
        attempts = 2 if self._connection is not None else 1
        for attempt in range(attempts):
            try:
                response, content = self._exchange(path, payload)
                break
            except STALE as error:
                if attempt == attempts - 1:
                    raise TransportError(repr(error)) from error
        if response.will_close:
            self.close()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, headers, content)

    def _exchange(self, path: str, payload: bytes) -> tuple[http.client.HTTPResponse, bytes]:
        connection = self._connection or self._connect()
        try:
            connection.request("POST", path, payload, self.headers)
            response = connection.getresponse()
            return response, response.read()
        except STALE:
            self.close()
            raise
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise TransportError(repr(error)) from error

    def _connect(self) -> http.client.HTTPConnection:
        self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> KeepAliveClient:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
