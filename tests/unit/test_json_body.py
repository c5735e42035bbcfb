"""``JsonBodyRoute`` accepts, refuses and documents a body exactly as a plain FastAPI route."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from api.errors import install_error_handlers
from api.json_body import JsonBodyRoute
from api.schemas import AppendEventsRequest, StartSessionRequest

MESSAGE = {
    "type": "session.message_recorded",
    "payload": {"message_id": "m1", "author_role": "customer", "text": "hi"},
}


def _app(route_class: type | None) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter(route_class=route_class) if route_class else APIRouter()

    @router.post("/events")
    def append(body: AppendEventsRequest) -> dict:
        return body.model_dump(mode="json")

    @router.post("/sessions")
    def start(body: StartSessionRequest) -> dict:
        return body.model_dump(mode="json")

    app.include_router(router)
    return app


PLAIN, ONE_PASS = _app(None), _app(JsonBodyRoute)

BODIES = [
    ("/events", {"events": [MESSAGE]}),
    ("/events", {"events": [{**MESSAGE, "occurred_at": "2024-01-01T00:00:00+02:00"}]}),
    ("/events", {"events": []}),
    ("/events", {"events": [{"type": "no.such_type"}]}),
    ("/events", {"events": [{**MESSAGE, "payload": {"message_id": 3}}]}),
    ("/events", {"events": [MESSAGE], "expected_version": -1}),
    ("/events", {"events": [MESSAGE], "unknown": 1}),
    ("/events", {"events": [{**MESSAGE, "event_id": "not-a-uuid"}]}),
    ("/events", {"events": [{**MESSAGE, "occurred_at": "2024-01-01T00:00:00"}]}),
    ("/events", b'{"events": ['),
    ("/events", b"null"),
    ("/sessions", {"agent_id": "a", "channel": "web"}),
    ("/sessions", {"agent_id": "a", "channel": "fax"}),
]


@pytest.mark.parametrize(("path", "body"), BODIES)
def test_answers_as_a_plain_route(path, body):
    sent = (
        {"content": body, "headers": {"content-type": "application/json"}}
        if isinstance(body, bytes)
        else {"json": body}
    )
    plain = TestClient(PLAIN).post(path, **sent)
    one_pass = TestClient(ONE_PASS).post(path, **sent)
    assert (one_pass.status_code, one_pass.json()) == (plain.status_code, plain.json())


def test_the_openapi_document_is_unchanged():
    assert ONE_PASS.openapi() == PLAIN.openapi()
