"""The ``missed_question`` stream: a reviewer's decision about a question the agent missed.

Catalog models only; the stream's aggregate belongs with the missed-questions work.
"""

from __future__ import annotations

from typing import ClassVar

from domain.registry import EventPayload, event
from domain.values import MissedQuestionStatus, NonBlank


@event
class MissedQuestionStatusChanged(EventPayload):
    event_type: ClassVar[str] = "missed_question.status_changed"
    stream_type: ClassVar[str] = "missed_question"

    status: MissedQuestionStatus
    reason: NonBlank | None = None
    previous: MissedQuestionStatus | None = None
