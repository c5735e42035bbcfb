"""Through the real API: input the ledger cannot store as sent (a non-finite number, an
integer its JSON encoder cannot write, an unpaired surrogate) is a 422 naming the field, and
nothing is stored; the nearest input it can store is stored exactly as sent."""

from __future__ import annotations

import json
import uuid

import pytest

from api.limits import LONE_SURROGATE_REASON
from domain.values import STORABLE_INT_MAX, STORABLE_INT_MIN

pytestmark = pytest.mark.stack

JSON = {"content-type": "application/json"}
# Raw JSON, as a client may send it: Python's json reads all three, 1e400 as infinity.
NON_FINITE = ["NaN", "Infinity", "-1e400"]
TOO_LARGE = str(STORABLE_INT_MAX + 1)
TOO_SMALL = str(STORABLE_INT_MIN - 1)
# (event, its payload as raw JSON with %s where the number goes, the field named)
NUMBER_FIELDS = [
    ("session.goal_reached", '{"goal": "booked", "value": %s}', "value"),
    (
        "session.analyzed",
        '{"auto_assessment": "No", "conversation_quality": 3, "units": %s}',
        "units",
    ),
    ("session.result_collected", '{"key": "guests", "value": %s}', "value"),
    ("session.form_submitted", '{"form_name": "f", "fields": {"guests": %s}}', "fields.guests"),
]
INTEGER_FIELDS = [
    ("session.result_collected", '{"key": "guests", "value": %s}', "value", TOO_SMALL),
    ("session.form_submitted", '{"form_name": "f", "fields": {"n": %s}}', "fields.n", TOO_LARGE),
    (
        "session.message_recorded",
        '{"message_id": "m1", "author_role": "customer",'
        ' "attachments": [{"name": "a.pdf", "size_bytes": %s}]}',
        "attachments.0.size_bytes",
        TOO_LARGE,
    ),
]


RAW = "raw JSON goes here"


def _spliced(document: dict, raw: str) -> str:
    """``document`` as JSON with ``raw``, JSON that Python's json would not write, in the
    place of its one ``RAW`` value."""
    return json.dumps(document).replace(json.dumps(RAW), raw)


def _append_raw(client, session_id: str, event_type: str, payload: str):
    body = _spliced({"events": [{"type": event_type, "payload": RAW}]}, payload)
    return client.post(f"/v1/sessions/{session_id}/events", content=body, headers=JSON)


def _history(client, session_id: str) -> list[dict]:
    response = client.get(f"/v1/sessions/{session_id}/history")
    assert response.status_code == 200, response.text
    return response.json()["events"]


def _assert_refused(response, field: str) -> dict:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert error["message"].startswith(f"{field}: ")
    return error


@pytest.mark.parametrize("number", NON_FINITE)
def test_a_non_finite_number_is_422_naming_the_field_and_not_stored(client, number):
    session_id = client.start_session()["session_id"]
    for event_type, payload, field in NUMBER_FIELDS:
        response = _append_raw(client, session_id, event_type, payload % number)
        error = _assert_refused(response, f"events.0.payload.{field}")
        assert error["message"].endswith("finite number")
    assert len(_history(client, session_id)) == 1


def test_an_integer_beyond_64_bits_is_422_naming_the_field_and_not_stored(client):
    session_id = client.start_session()["session_id"]
    for event_type, payload, field, number in INTEGER_FIELDS:
        response = _append_raw(client, session_id, event_type, payload % number)
        error = _assert_refused(response, f"events.0.payload.{field}")
        assert str(STORABLE_INT_MAX) in error["message"]
    assert len(_history(client, session_id)) == 1


def test_the_largest_integers_and_finite_floats_are_stored_exactly(client):
    session_id = client.start_session()["session_id"]
    fields = {
        "signed": 2**63 - 1,
        "unsigned": STORABLE_INT_MAX,
        "smallest": STORABLE_INT_MIN,
        "largest_float": 1.7976931348623157e308,
        "fraction": 0.1,
    }
    form = json.dumps({"form_name": "f", "fields": fields})
    assert _append_raw(client, session_id, "session.form_submitted", form).status_code == 201
    goal = '{"goal": "booked", "value": 1e308}'
    assert _append_raw(client, session_id, "session.goal_reached", goal).status_code == 201
    stored = _history(client, session_id)
    assert stored[1]["payload"]["fields"] == fields
    assert stored[2]["payload"]["value"] == 1e308


@pytest.mark.parametrize(
    ("member", "value", "field"),
    [
        ("parameters", r'{"campaign": "\udfff"}', "parameters.campaign"),
        ("utm", r'{"source": "spring\ud800x"}', "utm.source"),
        ("parameters", r'{"a\udfffb": "x"}', "parameters.a\ufffdb"),
        ("contact", r'{"name": "Ada \ud83d"}', "contact.name"),
    ],
)
def test_an_unpaired_surrogate_at_start_is_422_naming_the_field_and_not_stored(
    client, member, value, field
):
    session_id = str(uuid.uuid4())
    start = {"session_id": session_id, "agent_id": "a", "channel": "web", member: RAW}
    body = _spliced(start, value)
    error = _assert_refused(client.post("/v1/sessions", content=body, headers=JSON), field)
    assert error["message"].endswith(LONE_SURROGATE_REASON)
    stored = client.sql(
        "SELECT count(*) FROM stored_events WHERE originator_id = %s", (session_id,)
    )
    assert stored == [(0,)]


def test_an_unpaired_surrogate_in_an_event_is_422_and_a_pair_is_stored_as_its_character(client):
    session_id = client.start_session(parameters={"mood": "\U0001f600"})["session_id"]
    lone = r'{"message_id": "m1", "author_role": "customer", "text": "hi \\\ude00"}'
    refused = _append_raw(client, session_id, "session.message_recorded", lone)
    _assert_refused(refused, "events.0.payload.text")
    pair = r'{"message_id": "m2", "author_role": "customer", "text": "hi \ud83d\ude00"}'
    assert _append_raw(client, session_id, "session.message_recorded", pair).status_code == 201
    started, said = _history(client, session_id)
    assert started["payload"]["parameters"] == {"mood": "\U0001f600"}
    assert said["payload"]["text"] == "hi \U0001f600"


def _rules_versions(client) -> list[int]:
    response = client.get("/v1/rules")
    assert response.status_code == 200, response.text
    return [version["version"] for version in response.json()["versions"]]


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ('{"defaults": {"lead_valuation": {"average_lead_value": NaN}}}', "average_lead_value"),
        (
            '{"defaults": {"lead_valuation": {"average_lead_value": null,'
            ' "value_per_unit": 1e400, "unit_name": "guest"}}}',
            "value_per_unit",
        ),
        (
            '{"defaults": {"session_length": {"long_from_seconds": ' + TOO_LARGE + "}}}",
            "long_from_seconds",
        ),
    ],
)
def test_rules_with_a_number_the_ledger_cannot_store_are_422_and_not_published(
    client, rules, field
):
    before = _rules_versions(client)
    body = _spliced({"reason": "try", "rules": RAW}, rules)
    response = client.post("/v1/rules", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"].endswith(f".{field}")
    assert _rules_versions(client) == before
    assert client.get(f"/v1/rules/{before[-1]}").status_code == 200
