"""Numbers the ledger cannot store exactly are refused by the models, naming the field: a
non-finite float (JSON has no NaN or infinity: it would be stored as null) and an integer
orjson cannot write (a 500 when the event is sealed). What it can store passes unchanged."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationError

from domain.envelope import decode_document, seal_envelope
from domain.events import (
    FormSubmitted,
    GoalReached,
    MessageRecorded,
    ResultCollected,
    SentimentScored,
    SessionAnalyzed,
)
from domain.rules import RuleSet
from domain.values import STORABLE_INT_MAX, STORABLE_INT_MIN
from tests.unit.test_sealing import DOCUMENT

# As the API may receive them: Python's json reads all three (1e400 as infinity), and so
# does pydantic's JSON parser.
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]
OUT_OF_RANGE = [str(STORABLE_INT_MAX + 1), str(STORABLE_INT_MIN - 1), "1" + "0" * 30]
ANALYZED = '{"auto_assessment": "No", "conversation_quality": 3, "units": %s}'
SENTIMENT = '{"scope": "session", "label": "neutral", "score": %s}'
RULES_FLOATS = [
    '{"defaults": {"lead_valuation": {"average_lead_value": %s}}}',
    '{"defaults": {"conversion_ratio": %s}}',
    '{"agents": {"a": {"lead_valuation": {"average_lead_value": null,'
    ' "value_per_unit": %s, "unit_name": "guest"}}}}',
    '{"agents": {"a": {"recognition": {"missed_call_share": %s}}}}',
]
RULES_INTS = [
    '{"defaults": {"session_length": {"short_below_seconds": 1, "long_from_seconds": %s}}}',
    '{"agents": {"a": {"session_length": {"short_below_seconds": %s}}}}',
    '{"version": %s}',
]


def _refusal(model: type[BaseModel], document: str) -> list[tuple[str, str]]:
    """The (field, message) of every error, alike from the JSON bytes (the ingest routes)
    and from the document Python's json read (FastAPI's own validation)."""
    errors = []
    for validate in (model.model_validate_json, lambda d: model.model_validate(json.loads(d))):
        with pytest.raises(ValidationError) as raised:
            validate(document)
        errors.append([(".".join(map(str, e["loc"])), e["msg"]) for e in raised.value.errors()])
    assert errors[0] == errors[1]
    return errors[0]


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize(
    ("model", "template", "location"),
    [
        (GoalReached, '{"goal": "g", "value": %s}', "value"),
        (SessionAnalyzed, ANALYZED, "units"),
        (SentimentScored, SENTIMENT, "score"),
        (ResultCollected, '{"key": "k", "value": %s}', "value"),
        (FormSubmitted, '{"form_name": "f", "fields": {"ok": 1.5, "guests": %s}}', "fields.guests"),
    ],
)
def test_a_non_finite_number_in_a_payload_is_refused_naming_the_field(
    model, template, location, number
):
    assert _refusal(model, template % number) == [(location, "Input should be a finite number")]


ATTACHMENT = (
    '{"message_id": "m", "author_role": "customer",'
    ' "attachments": [{"name": "a.pdf", "size_bytes": %s}]}'
)


@pytest.mark.parametrize(
    ("model", "template", "location", "number"),
    [
        *[(ResultCollected, '{"key": "k", "value": %s}', "value", n) for n in OUT_OF_RANGE],
        *[
            (FormSubmitted, '{"form_name": "f", "fields": {"ok": 1, "n": %s}}', "fields.n", n)
            for n in OUT_OF_RANGE
        ],
        # a size is never negative: only the upper limit is the encoder's
        *[
            (MessageRecorded, ATTACHMENT, "attachments.0.size_bytes", n)
            for n in OUT_OF_RANGE
            if not n.startswith("-")
        ],
    ],
)
def test_an_integer_orjson_cannot_write_is_refused_naming_the_field(
    model, template, location, number
):
    [(field, message)] = _refusal(model, template % number)
    assert field == location
    assert str(STORABLE_INT_MIN) in message and str(STORABLE_INT_MAX) in message


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize("template", RULES_FLOATS)
def test_a_non_finite_number_in_the_rules_is_refused_naming_the_field(template, number):
    [(_field, message)] = _refusal(RuleSet, template % number)
    assert message == "Input should be a finite number"


@pytest.mark.parametrize(
    ("template", "location"),
    zip(
        RULES_INTS,
        [
            "defaults.session_length.long_from_seconds",
            "agents.a.session_length.short_below_seconds",
            "version",
        ],
        strict=True,
    ),
)
def test_an_integer_orjson_cannot_write_in_the_rules_is_refused_naming_the_field(
    template, location
):
    [(field, _message)] = _refusal(RuleSet, template % (STORABLE_INT_MAX + 1))
    assert field == location


def test_the_limits_themselves_and_every_scalar_kind_pass_and_seal_unchanged():
    fields = {
        "largest": STORABLE_INT_MAX,
        "signed": 2**63 - 1,
        "smallest": STORABLE_INT_MIN,
        "float": 1.7976931348623157e308,
        "tiny": -5e-324,
        "flag": True,
        "text": "NaN",
        "nothing": None,
    }
    payload = FormSubmitted(form_name="booking", fields=fields)
    assert payload.fields == fields and payload.fields["flag"] is True
    envelope = seal_envelope(
        {**DOCUMENT, "type": FormSubmitted.event_type, "payload": payload.model_dump(mode="json")}
    )
    assert decode_document(envelope._stored)["payload"]["fields"] == fields


def test_finite_numbers_in_the_rules_pass():
    document = {
        "version": 3,
        "defaults": {
            "lead_valuation": {"average_lead_value": 1e300},
            "session_length": {"short_below_seconds": 0, "long_from_seconds": STORABLE_INT_MAX},
        },
    }
    rules = RuleSet.model_validate_json(json.dumps(document))
    assert rules.defaults.lead_valuation.average_lead_value == 1e300
    assert rules.defaults.session_length.long_from_seconds == STORABLE_INT_MAX
