"""The catalog machinery: how event payload models are registered, looked up and upcast.

Type names (``session.message_recorded``) are the public contract of the Kafka topic and never
change; a payload that needs to change gets a new ``schema_version`` and an upcaster from the
old one, so events stored long ago are read as the current model while their stored bytes
(and so their hashes) stay exactly as written. The models themselves live in
``domain.session_events`` and ``domain.missed_question_events``; import ``domain.events`` to
have all of them registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from domain.errors import UnknownEventType, UnsupportedSchemaVersion
from domain.values import STORED

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventPayload(BaseModel):
    """Base of every event body. Subclasses set ``event_type`` and register themselves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    stream_type: ClassVar[str] = "session"


P = TypeVar("P", bound=EventPayload)
_CATALOG: dict[str, type[EventPayload]] = {}
# (event_type, from_version) -> function turning a document of from_version into from_version+1
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}
# (id of the stored document, type, schema version) -> (the document, its payload), while a
# ``decoding_once`` scope is open in this context (thread or task); None outside of one.
_DECODED: ContextVar[dict[tuple[int, str, int], tuple[dict[str, Any], EventPayload]] | None] = (
    ContextVar("decoded_payloads", default=None)
)


def event(cls: type[P]) -> type[P]:
    """Class decorator: add an event payload model to the catalog under its type name."""
    if cls.event_type in _CATALOG:
        raise ValueError(f"event type {cls.event_type!r} registered twice")
    _CATALOG[cls.event_type] = cls
    return cls


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register the step that turns a stored ``from_version`` payload into the next version.

    An upcaster receives a copy of the stored payload and returns the new document; it must
    not mutate nested values, because the stored envelope (whose hash covers them) shares them.
    """

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def catalog() -> dict[str, type[EventPayload]]:
    return dict(_CATALOG)


def payload_class(event_type: str) -> type[EventPayload]:
    try:
        return _CATALOG[event_type]
    except KeyError:
        raise UnknownEventType(
            f"unknown event type {event_type!r}; known: {', '.join(sorted(_CATALOG))}",
            field="type",
        ) from None


def upcast(event_type: str, schema_version: int, document: dict[str, Any]) -> dict[str, Any]:
    target = payload_class(event_type).schema_version
    if not 1 <= schema_version <= target:
        raise UnsupportedSchemaVersion(
            f"{event_type} has schema versions 1..{target}, not {schema_version}",
            field="schema_version",
        )
    while schema_version < target:
        document = _UPCASTERS[(event_type, schema_version)](dict(document))
        schema_version += 1
    return document


def decode_payload(event_type: str, schema_version: int, document: dict[str, Any]) -> EventPayload:
    """Read a stored payload as the current model, upcasting older schema versions; inside
    ``decoding_once``, each document only the first time."""
    decoded = _DECODED.get()
    if decoded is None:
        return _decode(event_type, schema_version, document)
    # The entry holds the document, so its id cannot be reused by another while the scope
    # lasts; the payload models are frozen, so every reader may share one.
    key = (id(document), event_type, schema_version)
    entry = decoded.get(key)
    if entry is None:
        entry = decoded[key] = (document, _decode(event_type, schema_version, document))
    return entry[1]


def _decode(event_type: str, schema_version: int, document: dict[str, Any]) -> EventPayload:
    document = upcast(event_type, schema_version, document)
    return payload_class(event_type).model_validate(document, context=STORED)


@contextmanager
def decoding_once() -> Iterator[None]:
    """A scope (one batch of the projection engine) in which ``decode_payload`` validates
    each stored document once, however many read models fold it: pydantic validation is a
    large part of what a fold costs. Nested scopes share the outermost one's decodings."""
    if _DECODED.get() is not None:
        yield
        return
    token = _DECODED.set({})
    try:
        yield
    finally:
        _DECODED.reset(token)


def parse_payload(event_type: str, document: dict[str, Any]) -> EventPayload:
    """Validate a payload submitted at the current schema version (raises ValidationError)."""
    return payload_class(event_type).model_validate(document)
