"""Refusals as the API answers them: every 503 says when to retry; an unknown event type is
named by its item's ``type``."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.commands import AppendContention
from api.errors import _problem, install_error_handlers
from api.schemas import AppendEventsRequest


def test_a_503_refusal_always_carries_retry_after():
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/append")
    def append():
        raise AppendContention("session s: too many concurrent writers, retry")

    answer = TestClient(app).post("/append")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"].isdigit()
    assert answer.json()["error"]["code"] == "append_contention"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"type": "missed_question.status_changed", "payload": {"status": "resolved"}},
            "Input tag",
        ),
        ({"type": "rules.published", "payload": {}}, "Input tag"),
        ({"payload": {}}, "Unable to extract tag"),
    ],
)
def test_an_event_type_the_session_route_does_not_take_names_its_type(event, message):
    """Another stream's event (it has a route of its own) or none at all: the item's
    ``type`` is named, as a 422, not a 409 from the aggregate without a field."""
    with pytest.raises(ValidationError) as refused:
        AppendEventsRequest.model_validate({"events": [{"type": "session.closed"}, event]})
    problems = [_problem({**e, "loc": ("body", *e["loc"])}) for e in refused.value.errors()]
    assert [p["field"] for p in problems] == ["events.0.payload", "events.1.type"]
    assert problems[1]["message"].startswith(message)
