"""Exact replay: a session's state as it was at a version, or as the ledger knew it at a time.

"As of a time" means the events the ledger had *accepted* by then (``recorded_at``), which is
what a reviewer saw at that moment; events reported late with an earlier ``occurred_at`` were
not known before they arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from domain.envelope import Envelope
from domain.errors import DomainError
from domain.session import Session


class InvalidReplayPoint(DomainError):
    code = "invalid_replay_point"
    http_status = 422


class NotYetRecorded(DomainError):
    """A time before the ledger knew of the session: there is no state to show."""

    code = "not_yet_recorded"
    http_status = 404


def history_as_of(
    events: Sequence[Envelope], *, version: int | None = None, at: datetime | None = None
) -> list[Envelope]:
    if version is not None and at is not None:
        raise InvalidReplayPoint("give a version or a time, not both", field="as_of")
    if version is not None:
        if version < 1:
            raise InvalidReplayPoint("a version starts at 1", field="as_of_version")
        return [e for e in events if e.version <= version]
    if at is not None:
        if at.tzinfo is None:
            raise InvalidReplayPoint("the time needs a time zone (e.g. Z)", field="as_of")
        known = [e for e in events if e.recorded_at <= at]
        if events and not known:
            # An empty state would read as a session that existed with nothing in it.
            raise NotYetRecorded(
                f"the session did not exist yet at {at.isoformat()}: its first event was"
                f" recorded at {events[0].recorded_at.isoformat()}",
                field="as_of",
            )
        return known
    return list(events)


def replay(stream_id: UUID, events: Sequence[Envelope]) -> Session:
    return Session.replay(stream_id, events)
