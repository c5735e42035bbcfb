"""Every refusal the domain can give, each a distinct, named error.

The API maps ``DomainError.http_status`` to the response; the CLI maps any of them to exit
code 2. ``code`` is stable and machine-readable; ``message`` is for people.
"""

from __future__ import annotations

from typing import Any

import orjson


def as_json(value: Any) -> str:
    """A value in a message as the API shows it (``null``, ``"No"``), not as Python's repr."""
    return orjson.dumps(value, default=str).decode()


class DomainError(Exception):
    code = "domain_error"
    http_status = 409

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class StreamNotFound(DomainError):
    code = "not_found"
    http_status = 404


class SessionAlreadyStarted(DomainError):
    code = "session_already_started"


class SessionNotStarted(DomainError):
    code = "session_not_started"


class SessionClosed(DomainError):
    code = "session_closed"


class VersionConflict(DomainError):
    """The stream is not at the version the caller expected (optimistic concurrency)."""

    code = "version_conflict"

    def __init__(
        self, message: str, *, expected: int | None, actual: int, field: str = "expected_version"
    ) -> None:
        super().__init__(message, field=field)
        self.expected = expected
        self.actual = actual


class EventIdReused(DomainError):
    """An event id already stored names a different event: a retry must resend the same one."""

    code = "event_id_reused"
    http_status = 409


class UnknownEventType(DomainError):
    code = "unknown_event_type"
    http_status = 422


class UnsupportedSchemaVersion(DomainError):
    """A payload claims a schema version this catalog cannot read (newer, or below 1)."""

    code = "unsupported_schema_version"
    http_status = 422


class WrongStream(DomainError):
    """An event of another stream type (say ``missed_question.*``) was sent to a session."""

    code = "wrong_stream"
    http_status = 422


class MessageAlreadyRecorded(DomainError):
    """Message ids are unique per session: reactions, deliveries and misses refer to them."""

    code = "message_already_recorded"


class UnknownMessage(DomainError):
    """The event refers to a message this session has not recorded (yet)."""

    code = "unknown_message"


class HandoverNotPermitted(DomainError):
    """A person or API key asked for a handover without the ``handover`` permission."""

    code = "handover_not_permitted"
    http_status = 403


class HandoverSessionFinished(DomainError):
    """The session is closed or resolved: there is nobody left to hand over to."""

    code = "handover_session_finished"


class HandoverAlreadyWithOperator(DomainError):
    """A handover was already requested or assigned and has not been resolved."""

    code = "handover_already_with_operator"


class AssignmentWithoutHandover(DomainError):
    """A human agent can only be assigned to a session whose handover is open."""

    code = "assignment_without_handover"


class ResolveWithoutHumanOwner(DomainError):
    """Only a session a human agent owns can be resolved."""

    code = "resolve_without_human_owner"


class SessionAlreadyResolved(DomainError):
    code = "session_already_resolved"


class PreviousValueMismatch(DomainError):
    """An override named the value it replaces, and the session holds another one.

    Two reviewers editing the same judgement: the second one saw a stale value.
    """

    code = "previous_value_mismatch"

    def __init__(self, message: str, *, expected: object, actual: object) -> None:
        super().__init__(message, field="previous")
        self.expected = expected
        self.actual = actual
