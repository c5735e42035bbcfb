"""Sealing: the envelope ``seal_envelope`` returns carries the exact bytes its hash covers, so
the store can write them unchecked; any other envelope (copied, built by hand) is checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.envelope import (
    Envelope,
    compute_hash,
    decode_document,
    is_sealed,
    seal,
    seal_envelope,
    sealed_bytes,
)

DOCUMENT = {
    "event_id": "0b0c5cf2-57a4-4e0a-9d43-1d1b3e35f0a1",
    "stream_id": "8f9d4c2e-7a35-4a7e-9a56-2f0e8c3b1d42",
    "stream_type": "session",
    "version": 2,
    "type": "session.message_recorded",
    "schema_version": 1,
    "workspace_id": "w1",
    "occurred_at": "2026-03-02T11:00:00.5+02:00",
    "recorded_at": "2026-03-02T09:00:01Z",
    "actor": {"kind": "agent", "id": "a", "name": ""},
    "prev_hash": "0" * 64,
    "payload": {"message_id": "m1", "author_role": "customer", "text": "Hi"},
}
# Sealed before sealing validated once: a change here would break every stored chain.
PINNED_HASH = "b4f996167c3c22f1601afde6a5e9a3158370305d3d2afc0be413301ffb447436"
PINNED_BYTES = (
    b'{"event_id":"0b0c5cf2-57a4-4e0a-9d43-1d1b3e35f0a1",'
    b'"stream_id":"8f9d4c2e-7a35-4a7e-9a56-2f0e8c3b1d42","stream_type":"session","version":2,'
    b'"type":"session.message_recorded","schema_version":1,"workspace_id":"w1",'
    b'"occurred_at":"2026-03-02T09:00:00.500000Z","recorded_at":"2026-03-02T09:00:01Z",'
    b'"actor":{"kind":"agent","id":"a","name":""},"correlation_id":null,"causation_id":null,'
    b'"rules_version":null,"prev_hash":"' + b"0" * 64 + b'","hash":"' + PINNED_HASH.encode() + b'",'
    b'"payload":{"message_id":"m1","author_role":"customer","text":"Hi"}}'
)

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# A day inside Python's range on each side: an offset must not carry the UTC instant out of it
# (such an instant is refused, below).
instants = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.one_of(st.just(UTC), offsets),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def test_the_seal_of_a_fixed_document_never_changes():
    envelope = seal_envelope(DOCUMENT)
    assert envelope.hash == PINNED_HASH
    assert sealed_bytes(envelope) == PINNED_BYTES


@settings(max_examples=200)
@given(
    occurred_at=instants,
    recorded_at=instants,
    payload=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    correlation_id=st.uuids() | st.none(),
)
def test_a_sealed_envelope_carries_the_bytes_its_hash_covers(
    occurred_at: datetime, recorded_at: datetime, payload: dict, correlation_id: UUID | None
):
    envelope = seal_envelope(
        {
            **DOCUMENT,
            "occurred_at": occurred_at,
            "recorded_at": recorded_at.isoformat(),
            "correlation_id": correlation_id,
            "payload": payload,
        }
    )
    data = sealed_bytes(envelope)
    assert data is not None
    assert compute_hash(decode_document(data)) == envelope.hash
    assert decode_document(data) == envelope.to_document()
    assert Envelope.from_stored(data, None) == envelope
    # What the store would have written after checking the seal itself.
    assert sealed_bytes(envelope.model_copy()) == data


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:00-00:01"])
def test_an_instant_that_utc_cannot_hold_is_refused_as_input(instant: str):
    with pytest.raises(ValidationError, match="out of range"):
        seal_envelope({**DOCUMENT, "occurred_at": instant})


def test_a_copy_with_other_content_is_not_taken_as_sealed():
    envelope = seal_envelope(DOCUMENT)
    tampered = envelope.model_copy(update={"payload": {**envelope.payload, "text": "Bye"}})
    assert tampered.hash == envelope.hash
    assert sealed_bytes(tampered) is None and not is_sealed(tampered)


def test_a_hand_built_envelope_is_sealed_only_when_its_hash_covers_it():
    document = seal_envelope(DOCUMENT).to_document()
    assert not is_sealed(Envelope.model_validate({**document, "hash": "f" * 64}))
    assert sealed_bytes(Envelope.model_validate(seal(document))) == PINNED_BYTES


@pytest.mark.parametrize("position", [None, 7])
def test_placing_an_envelope_keeps_its_seal(position):
    envelope = seal_envelope(DOCUMENT)
    assert envelope.placed_at(position) is envelope
    assert envelope == Envelope.from_stored(PINNED_BYTES, position)
    assert "position" in envelope.model_fields_set
    assert sealed_bytes(envelope) == PINNED_BYTES
