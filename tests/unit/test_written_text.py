"""Ids and text a person writes (an agent id, a comment, a missed question) are refused when
they hold only white space, in every body that can carry them; an event stored before the
rule still decodes exactly as stored."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import BaseModel, ValidationError

from api.errors import _field_path
from api.schemas import (
    AddCommentRequest,
    AppendEventsRequest,
    AssignHumanAgentRequest,
    ReportMissedQuestionRequest,
    StartSessionRequest,
)
from domain.registry import decode_payload
from domain.values import BLANK_MESSAGE

BLANKS = [" ", "\t\n", "\u3000"]


def _refusal(model: type[BaseModel], body: dict) -> tuple[str, str]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    error = refused.value.errors()[0]
    return _field_path(("body", *error["loc"])), error["msg"]


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (StartSessionRequest, {"channel": "web", "agent_id": "{}"}, "agent_id"),
        (AddCommentRequest, {"text": "{}"}, "text"),
        (AddCommentRequest, {"text": "ok", "comment_id": "{}"}, "comment_id"),
        (AssignHumanAgentRequest, {"agent_id": "{}"}, "agent_id"),
        (
            ReportMissedQuestionRequest,
            {"session_id": str(uuid4()), "message_id": "m1", "question": "{}"},
            "question",
        ),
        (
            AppendEventsRequest,
            {
                "events": [
                    {"type": "session.comment_added", "payload": {"comment_id": "c", "text": "ok"}},
                    {
                        "type": "session.question_missed",
                        "payload": {"message_id": "m1", "question": "{}", "source": "api"},
                    },
                ]
            },
            "events.1.payload.question",
        ),
    ],
)
def test_white_space_alone_is_refused_naming_the_field(model, body, field, blank):
    body = _filled(body, blank)
    assert _refusal(model, body) == (field, BLANK_MESSAGE)


def _filled(value, blank: str):
    if isinstance(value, dict):
        return {key: _filled(item, blank) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, blank) for item in value]
    return blank if value == "{}" else value


def test_text_around_white_space_is_kept_as_sent():
    comment = AddCommentRequest.model_validate({"text": "  fine, thanks \n"})
    assert comment.text == "  fine, thanks \n"


@pytest.mark.parametrize(
    ("event_type", "document", "field"),
    [
        ("session.started", {"agent_id": " ", "channel": "web"}, "agent_id"),
        ("session.comment_added", {"comment_id": "c", "text": "\n"}, "text"),
        (
            "session.question_missed",
            {"message_id": "m", "question": " ", "source": "api"},
            "question",
        ),
    ],
)
def test_an_event_stored_before_the_rule_decodes_as_stored(event_type, document, field):
    payload = decode_payload(event_type, 1, document)
    assert getattr(payload, field) == document[field]
