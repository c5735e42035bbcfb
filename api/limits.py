"""Request limits, checked before the API parses a request: body size (413) and NUL (422).

A declared ``Content-Length`` over the limit is refused without reading the body; a body sent
without one (chunked) or longer than declared is counted as it streams in, and refused once
it passes the limit, so no request can make the API buffer more than the limit.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = f"the request body exceeds {MAX_BODY_BYTES} bytes"


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
NUL_REASON = "text may not contain the NUL character (U+0000)"


class RequestGuard:
    """Reads each request body once, before the API parses it: over ``MAX_BODY_BYTES`` is a
    413 (a declared Content-Length at once, a chunked body as soon as it passes the limit),
    and a NUL character in a query value or a JSON string is a 422 naming the field.

    PostgreSQL text cannot hold U+0000: a query value with one would be a 500, and a body
    with one would be stored and then poison every read model that copies the text.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_bytes:
            await error_response(413, "payload_too_large", TOO_LARGE)(scope, receive, send)
            return
        field = _nul_in_query(scope.get("query_string", b""))
        if field is not None:
            await _refuse(field, scope, receive, send)
            return
        body, replay = await _buffered(receive, self.max_bytes)
        if body is None:
            await error_response(413, "payload_too_large", TOO_LARGE)(scope, receive, send)
        elif _has_nul_escape(body):
            await _refuse(_nul_in_json(body), scope, receive, send)
        else:
            await self.app(scope, replay, send)


def _has_nul_escape(body: bytes) -> bool:
    """Whether a JSON string of ``body`` holds ``\\u0000`` (not an escaped backslash before
    ``u0000``). The plain substring test first: the pattern has no literal prefix the regex
    engine could skip to, so it steps through every byte (measured: 650 µs for a 16 KB body
    of 50 events, 6 µs for the substring test), and almost no body holds the substring."""
    return b"\\u0000" in body and NUL_ESCAPE.search(body) is not None


async def _refuse(field: str | None, scope: Scope, receive: Receive, send: Send) -> None:
    message = f"{field}: {NUL_REASON}" if field else NUL_REASON
    await error_response(422, "invalid_character", message, field)(scope, receive, send)


def _nul_in_query(query: bytes) -> str | None:
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "")
    return None


async def _buffered(receive: Receive, max_bytes: int) -> tuple[bytes | None, Receive]:
    """The whole body (None once it passes ``max_bytes``) and a receive that replays it."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return b"", receive
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > max_bytes:
            return None, receive
        more = message.get("more_body", False)
    body, sent = b"".join(chunks), False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


def _nul_in_json(body: bytes) -> str | None:
    try:
        return _path_to_nul(json.loads(body), ())
    except ValueError:
        return None


def _path_to_nul(value, path: tuple) -> str | None:
    if isinstance(value, str):
        return (".".join(map(str, path)) or "body") if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return ".".join(map(str, (*path, key.replace("\x00", ""))))
        found = _path_to_nul(item, (*path, key))
        if found:
            return found
    return None
