"""Request limits, checked before the API parses a request: body size (413), a body that is
not UTF-8 or names a key twice in one object (422), and NUL or an unpaired surrogate in the
text (422).

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

# A surrogate escape that is not half of a pair. The match starts at the first backslash of
# a run, so the run is counted whole: an odd run ends in an escape, an even one is escaped
# backslashes. Starting with a literal lets the engine skip from backslash to backslash.
LONE_SURROGATE_ESCAPE = re.compile(
    rb"""
    \\ (?<!\\\\)
    (?:
        (?:\\\\)* u %(high)s (?!\\u %(low)s)    # a high one, no low one right after it
      | (?<!\\u %(high)s \\) u %(low)s           # a low one right after no high one
      | (?:\\\\)+ u %(low)s                    # a low one after escaped backslashes
      | \\ (?:\\\\)* u %(high)s \\u %(low)s      # a low one after a high one's text, not escape
    )
    """
    % {b"high": rb"[dD][89abAB][0-9a-fA-F]{2}", b"low": rb"[dD][c-fC-F][0-9a-fA-F]{2}"},
    re.VERBOSE,
)
# Any surrogate escape, paired or not, or text that looks like one: most bodies hold none.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
LONE_SURROGATE_REASON = "text may not contain an unpaired surrogate (U+D800–U+DFFF)"


class RequestGuard:
    """Reads each request body once, before the API parses it: over ``MAX_BODY_BYTES`` is a
    413 (a declared Content-Length at once, a chunked body as soon as it passes the limit),
    and a NUL character in a query value or a JSON string, or an unpaired surrogate in a JSON
    string, is a 422 naming the field.

    PostgreSQL text cannot hold U+0000: a query value with one would be a 500, and a body
    with one would be stored and then poison every read model that copies the text. UTF-8
    cannot hold a surrogate alone: the JSON encoder refuses one in a value (a 500 when the
    event is sealed), and one in an object key was stored replaced by U+FFFD, not as sent.
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
            await _refuse(NUL_REASON, field, scope, receive, send)
            return
        body, replay = await _buffered(receive, self.max_bytes)
        if body is None:
            await error_response(413, "payload_too_large", TOO_LARGE)(scope, receive, send)
            return
        for has_escape, character, reason in TEXT_CHECKS:
            if has_escape(body):
                await _refuse(reason, _path_in_json(body, character), scope, receive, send)
                return
        problem = _unreadable(body)
        if problem is not None:
            field, reason = problem
            await error_response(422, "validation_error", reason, field)(scope, receive, send)
            return
        await self.app(scope, replay, send)


NOT_UTF8_REASON = "the body is not UTF-8 (JSON must be)"
DUPLICATE_KEY_REASON = "the key appears more than once in its object"
# Python's parser gives up some hundreds of levels down (its recursion limit); FastAPI then
# answered a bare 400, and every check here would have failed the same way.
TOO_DEEP_REASON = "the body is nested too deeply to be read"


def _unreadable(body: bytes) -> tuple[str, str] | None:
    """(field, message) when ``body`` cannot be read one way only: bytes that are not UTF-8
    (FastAPI answered a bare 400), or an object naming a key twice. JSON parsers disagree on
    which of two values a repeated key has (Python's and pydantic's keep the last, others the
    first or both), so a ledger that stored one of them would attest to something other than
    what the sender may have meant. Costs ~75 µs for a 19 KB body of 50 events (~1.5 µs an
    event). A body that is not JSON at all is left to FastAPI, which says where it breaks."""
    if not body:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return "body", f"{NOT_UTF8_REASON}: byte {error.start} is {body[error.start]:#04x}"
    try:
        json.loads(text, object_pairs_hook=_refusing_duplicates)
    except _DuplicateKey:
        return _duplicate_key_problem(text)
    except RecursionError:
        return "body", TOO_DEEP_REASON
    except ValueError:
        return None
    return None


def _duplicate_key_problem(text: str) -> tuple[str, str]:
    try:
        field = _duplicate_key_path(json.loads(text, object_pairs_hook=_Pairs), ())
    except RecursionError:  # parsed once, but the walk adds frames of its own
        return "body", TOO_DEEP_REASON
    return field, f"{field}: {DUPLICATE_KEY_REASON}"


class _DuplicateKey(Exception):
    pass


def _refusing_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _DuplicateKey
    return document


class _Pairs(list):
    """An object as parsed, its pairs in order, repeated keys kept."""


def _duplicate_key_path(value: object, path: tuple) -> str | None:
    """The path of the first key that appears twice in its object (objects as ``_Pairs``)."""
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, _ in value:
            if key in seen:
                return ".".join(map(str, (*path, key)))
            seen.add(key)
        items = iter(value)
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _duplicate_key_path(item, (*path, key))
        if found:
            return found
    return None


def _has_nul_escape(body: bytes) -> bool:
    """Whether a JSON string of ``body`` holds ``\\u0000`` (not an escaped backslash before
    ``u0000``). The plain substring test first: the pattern has no literal prefix the regex
    engine could skip to, so it steps through every byte (measured: 650 µs for a 16 KB body
    of 50 events, 6 µs for the substring test), and almost no body holds the substring."""
    return b"\\u0000" in body and NUL_ESCAPE.search(body) is not None


def _has_lone_surrogate_escape(body: bytes) -> bool:
    """Whether a JSON string of ``body`` holds a surrogate escape that is not half of a pair.
    A search for any surrogate escape first, as for NUL: it has a literal prefix to skip to
    (measured on 16 KB bodies of 50 events: 10 µs, 30 µs when every text holds an escaped
    accent), while the whole pattern tries four ways at every backslash (90 µs when every
    text holds an escaped emoji, 280 µs with the accents)."""
    return SURROGATE_ESCAPE.search(body) is not None and (
        LONE_SURROGATE_ESCAPE.search(body) is not None
    )


# Per character no JSON string may hold: the test of the raw body (run on every request),
# the character as a string holds it once decoded (to find the field), and why.
TEXT_CHECKS = (
    (_has_nul_escape, re.compile("\x00"), NUL_REASON),
    (_has_lone_surrogate_escape, re.compile("[\ud800-\udfff]"), LONE_SURROGATE_REASON),
)


async def _refuse(
    reason: str, field: str | None, scope: Scope, receive: Receive, send: Send
) -> None:
    message = f"{field}: {reason}" if field else reason
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


def _path_in_json(body: bytes, character: re.Pattern[str]) -> str | None:
    """The path of the first JSON string of ``body`` holding ``character`` (None when the
    body is not JSON). In a key, the character is shown as U+FFFD: the path goes into the
    JSON answer, which cannot hold a lone surrogate either."""
    try:
        return _path_to(character, json.loads(body), ())
    except (ValueError, RecursionError):
        return None


def _path_to(character: re.Pattern[str], value, path: tuple) -> str | None:
    if isinstance(value, str):
        return (".".join(map(str, path)) or "body") if character.search(value) else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and character.search(key):
            return ".".join(map(str, (*path, character.sub("\ufffd", key))))
        found = _path_to(character, item, (*path, key))
        if found:
            return found
    return None
