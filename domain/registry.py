"""The catalog machinery: how event payload models are registered, looked up and upcast.

Type names (``session.message_recorded``) are the public contract of the Kafka topic and never
change; a payload that needs to change gets a new ``schema_version`` and an upcaster from the
old one, so events stored long ago are read as the current model while their stored bytes
(and so their hashes) stay exactly as written. The models themselves live in
``domain.session_events`` and ``domain.missed_question_events``; import ``domain.events`` to
have all of them registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from domain.errors import UnknownEventType, UnsupportedSchemaVersion

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
    """Read a stored payload as the current model, upcasting older schema versions."""
    return payload_class(event_type).model_validate(upcast(event_type, schema_version, document))


def parse_payload(event_type: str, document: dict[str, Any]) -> EventPayload:
    """Validate a payload submitted at the current schema version (raises ValidationError)."""
    return payload_class(event_type).model_validate(document)
