"""Tampered and out-of-range input to the API's pure helpers: refused by name, never a crash.

Pagination cursors, the missed-question date range, a live stream's ``Last-Event-ID`` and
the 422 bodies of requests whose body is not a JSON object at all.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.consistency import MAX_POSITION
from api.errors import install_error_handlers
from api.exports import local_text
from api.read_models import InvalidKeysetCursor, _range_params, decode_keyset, encode_keyset
from api.routes.live import resumed_position
from api.session_filters import (
    NO_KEY,
    InvalidCursor,
    SortKey,
    SortOrder,
    cursor_instant,
    decode_cursor,
    encode_cursor,
)


def tampered(document) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(document)).decode()


def session_cursor(**changes) -> str:
    document = {"sort": "started_at", "order": "desc", "key": "2026-01-01T00:00:00+00:00"}
    return tampered({**document, "id": str(uuid4()), **changes})


# --- the session list's cursor ----------------------------------------------------------------


def test_a_session_cursor_the_api_issued_decodes_to_its_instant_and_id():
    session_id, key = uuid4(), datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    cursor = encode_cursor(SortKey.started_at, SortOrder.desc, key, session_id)
    assert decode_cursor(cursor, SortKey.started_at, SortOrder.desc) == (key, session_id)
    no_message = encode_cursor(SortKey.last_message_at, SortOrder.asc, None, session_id)
    assert decode_cursor(no_message, SortKey.last_message_at, SortOrder.asc) == (
        NO_KEY,
        session_id,
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"id": 123},
        {"id": [str(uuid4())]},
        {"id": None},
        {"key": 20260101},
        {"key": "2026-01-01T00:00:00"},  # no zone: no timestamptz column wrote it
        {"key": "0001-01-01T00:00:00+05:30"},  # before year 1 in UTC
    ],
)
def test_a_tampered_session_cursor_is_an_invalid_cursor(changes):
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor(session_cursor(**changes), SortKey.started_at, SortOrder.desc)
    assert (refused.value.code, refused.value.field) == ("invalid_cursor", "cursor")


@pytest.mark.parametrize("document", [[1, 2], "text", 5, None])
def test_a_session_cursor_that_is_not_an_object_is_an_invalid_cursor(document):
    with pytest.raises(InvalidCursor):
        decode_cursor(tampered(document), SortKey.started_at, SortOrder.desc)


@pytest.mark.parametrize(
    ("key", "instant"),
    [
        ("2026-W01-1", None),  # an ISO week date PostgreSQL does not read: refused here
        (
            "2026-01-01T00:00:00+05:30:45.5",
            datetime(2025, 12, 31, 18, 29, 14, 500000, tzinfo=UTC),
        ),
    ],
)
def test_a_session_cursor_key_reaches_sql_as_an_instant_in_utc(key, instant):
    cursor = session_cursor(key=key)
    if instant is None:
        with pytest.raises(InvalidCursor):
            decode_cursor(cursor, SortKey.started_at, SortOrder.desc)
        return
    decoded, _ = decode_cursor(cursor, SortKey.started_at, SortOrder.desc)
    assert decoded == instant and decoded.utcoffset().total_seconds() == 0


def test_a_cursor_instant_is_always_utc():
    assert cursor_instant("2026-01-01T05:30:00+05:30") == datetime(2026, 1, 1, tzinfo=UTC)


# --- keyset cursors of the review read models -------------------------------------------------


def test_a_keyset_cursor_the_api_issued_decodes_to_its_keys():
    at, event_id = datetime(2026, 1, 1, tzinfo=UTC), uuid4()
    assert decode_keyset(encode_keyset(at, event_id), cursor_instant, UUID) == [at, event_id]
    assert decode_keyset(encode_keyset(7, event_id), int, UUID) == [7, event_id]


@pytest.mark.parametrize(
    ("document", "types"),
    [
        (["2026-01-01T00:00:00+00:00", 1], (cursor_instant, UUID)),  # leads, audit
        ([1, 1], (int, UUID)),  # missed questions by occurrences
        ([1.5, str(uuid4())], (int, UUID)),
        ([True, str(uuid4())], (int, UUID)),
        (["2026-01-01T00:00:00+05:30:45.5x", str(uuid4())], (cursor_instant, UUID)),
        (["2026-01-01T00:00:00", str(uuid4())], (cursor_instant, UUID)),
        ({"a": "1", "b": "2"}, (int, UUID)),
        ("12", (int, UUID)),
    ],
)
def test_a_tampered_keyset_cursor_is_an_invalid_cursor(document, types):
    with pytest.raises(InvalidKeysetCursor) as refused:
        decode_keyset(tampered(document), *types)
    assert refused.value.field == "cursor"


def test_a_keyset_instant_with_an_offset_postgresql_refuses_is_sent_in_utc():
    cursor = tampered(["2026-01-01T00:00:00+05:30:45.5", str(uuid4())])
    at, _ = decode_keyset(cursor, cursor_instant, UUID)
    assert at.utcoffset().total_seconds() == 0


# --- the missed-question date range -----------------------------------------------------------


def test_the_last_day_python_holds_leaves_the_range_open():
    widest = _range_params(date.min, date.max)
    assert widest == {
        "start": datetime.min.replace(tzinfo=UTC),
        "end": datetime.max.replace(tzinfo=UTC),
    }
    assert _range_params(None, date(2026, 1, 1))["end"] == datetime(2026, 1, 2, tzinfo=UTC)


# --- Last-Event-ID ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "position"),
    [
        ("42", 42),
        ("0", 0),
        (None, None),
        ("", None),
        ("²", None),
        ("٣", None),  # an Arabic-Indic digit: int() reads it, no stream of ours sent it
        ("-1", None),
        ("4x", None),
        ("9" * 5000, None),
        (str(MAX_POSITION), None),
    ],
)
def test_a_last_event_id_is_a_position_only_when_the_stream_could_have_sent_it(header, position):
    assert resumed_position(header) == position


# --- request bodies that are no JSON object ---------------------------------------------------


class Start(BaseModel):
    agent_id: str


@pytest.fixture(scope="module")
def http() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/start")
    def start(body: Start) -> dict:
        return {"agent_id": body.agent_id}

    return TestClient(app)


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"content": b""},
        {"content": b"", "headers": JSON},
        {"json": [{"agent_id": "a"}]},
        {"content": b"agent_id=a", "headers": {"content-type": "text/plain"}},
    ],
)
def test_a_body_that_is_no_json_object_is_named_body(http, request_kwargs):
    answer = http.post("/start", **request_kwargs)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert (error["field"], error["message"]) == ("body", "a JSON object body is required")


def test_malformed_json_says_where_and_why(http):
    answer = http.post("/start", content=b'{"agent_id":', headers=JSON)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "body"
    assert error["message"] == "invalid JSON at character 12: Expecting value"


def test_a_field_of_the_body_is_still_named_by_its_path(http):
    error = http.post("/start", json={}).json()["error"]
    assert (error["field"], error["message"]) == ("agent_id", "agent_id: Field required")


def test_an_exported_time_writes_the_year_in_four_digits():
    assert local_text(datetime(1, 1, 2, 5, tzinfo=UTC), ZoneInfo("UTC")) == "0001-01-02 05:00:00"
    berlin = ZoneInfo("Europe/Berlin")
    assert local_text(datetime(2026, 3, 2, 9, tzinfo=UTC), berlin) == "2026-03-02 10:00:00"
