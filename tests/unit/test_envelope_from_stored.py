"""``Envelope.from_stored``: decoding stored bytes in one pydantic pass equals validating the
decoded document, and a malformed stored document still fails (a worker parks it)."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from consumers.worker import BatchProcessor
from domain.envelope import ActorKind, Envelope, decode_document
from infra.broker import POSITION_HEADER

text = st.text(max_size=20)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware = st.datetimes(timezones=st.one_of(st.just(UTC), offsets))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
actors = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(list(ActorKind)),
        "id": st.text(min_size=1, max_size=200),
        "name": st.text(max_size=200),
    }
)
envelope_fields = st.fixed_dictionaries(
    {
        "event_id": st.uuids(),
        "stream_id": st.uuids(),
        "stream_type": text,
        "version": st.integers(min_value=1, max_value=2**31),
        "type": text,
        "schema_version": st.integers(min_value=1, max_value=5),
        "workspace_id": text,
        "occurred_at": aware,
        "recorded_at": aware,
        "actor": actors,
        "prev_hash": text,
        "hash": text,
        "payload": st.dictionaries(text, json_values, max_size=4),
    },
    optional={
        "correlation_id": st.uuids() | st.none(),
        "causation_id": st.uuids() | st.none(),
        "rules_version": st.integers(min_value=0, max_value=100) | st.none(),
    },
)
positions = st.integers(min_value=1, max_value=2**62) | st.none()


def stored(fields: dict) -> dict:
    """The document as the store holds it: validated, dumped, and read back as bytes."""
    return decode_document(orjson.dumps(Envelope.model_validate(fields).to_document()))


@settings(max_examples=300)
@given(envelope_fields, positions)
def test_a_stored_document_decodes_as_pydantic_validates_it(fields, position):
    document = stored(fields)
    expected = Envelope.model_validate({**document, "position": position})
    fast = Envelope.from_stored(orjson.dumps(document), position)
    assert fast == expected
    assert fast.model_dump(mode="json") == expected.model_dump(mode="json")
    assert fast.model_fields_set == expected.model_fields_set
    for name, value in expected:
        assert type(getattr(fast, name)) is type(value), name
    assert type(fast.occurred_at.tzinfo) is type(expected.occurred_at.tzinfo)
    assert fast.actor == expected.actor and type(fast.actor.kind) is ActorKind
    assert fast.model_copy(update={"position": 7}).position == 7


def valid_document() -> dict:
    return stored(
        {
            "event_id": "0b0c5cf2-57a4-4e0a-9d43-1d1b3e35f0a1",
            "stream_id": "8f9d4c2e-7a35-4a7e-9a56-2f0e8c3b1d42",
            "stream_type": "session",
            "version": 1,
            "type": "session.started",
            "schema_version": 1,
            "workspace_id": "w1",
            "occurred_at": "2026-03-02T09:00:00Z",
            "recorded_at": "2026-03-02T09:00:00Z",
            "actor": {"kind": "agent", "id": "a", "name": ""},
            "prev_hash": "0" * 64,
            "hash": "h",
            "payload": {},
        }
    )


@pytest.mark.parametrize(
    "change",
    [
        {"event_id": "not-a-uuid"},
        {"version": 0},
        {"version": "one"},
        {"occurred_at": "2026-03-02T09:00:00"},  # naive
        {"occurred_at": "yesterday"},
        {"actor": {"kind": "robot", "id": "a", "name": ""}},
        {"actor": {"kind": "agent", "id": "", "name": ""}},
        {"payload": []},
        {"surprise": 1},
        {"position": "x"},  # never stored, but not silently accepted either
    ],
)
def test_a_malformed_stored_document_is_rejected(change):
    with pytest.raises(ValidationError):
        Envelope.from_stored(orjson.dumps({**valid_document(), **change}), 1)


def test_a_missing_field_is_rejected():
    document = valid_document()
    del document["hash"]
    with pytest.raises(ValidationError):
        Envelope.from_stored(orjson.dumps(document), 1)


class RecordingEngine:
    def __init__(self) -> None:
        self.parked: list[tuple] = []
        self.applied: list[Envelope] = []

    def park(self, projection, error, *, raw=None, position=None, event=None) -> None:
        self.parked.append((projection, position, raw))

    def apply_batch(self, envelopes) -> int:
        self.applied.extend(envelopes)
        return len(envelopes)


def test_the_worker_parks_what_it_cannot_decode_and_applies_the_rest():
    engine = RecordingEngine()
    good = orjson.dumps(valid_document())
    poison = orjson.dumps({**valid_document(), "occurred_at": "2026-03-02T09:00:00"})
    messages = [
        (b"not json", {POSITION_HEADER: b"1"}),
        (poison, {POSITION_HEADER: b"2"}),
        (b"[1, 2]", {POSITION_HEADER: b"3"}),
        (good, {POSITION_HEADER: b"4"}),
    ]
    assert BatchProcessor(engine).process(messages) == 1  # type: ignore[arg-type]
    assert [position for _, position, _ in engine.parked] == [1, 2, 3]
    assert [e.position for e in engine.applied] == [4]
