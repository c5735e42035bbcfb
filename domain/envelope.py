"""The event envelope every stored event carries, and its tamper-evident hash chain.

An event's ``hash`` is SHA-256 over the canonical bytes of its envelope and payload (JSON,
keys sorted, no ``hash`` and no ``position``), and that content includes ``prev_hash``, the
hash of the previous event in the same stream. Editing any stored byte breaks the chain.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field

from domain.values import Instant

GENESIS_HASH = "0" * 64
# Fields that are not part of what the ledger attests: ``hash`` is the attestation itself,
# ``position`` is assigned by the store after the bytes were written.
UNHASHED_FIELDS = frozenset({"hash", "position"})


class ActorKind(StrEnum):
    agent = "agent"
    user = "user"
    api_key = "api_key"
    system = "system"


class Actor(BaseModel):
    """Who caused an event, kept by value so the record outlives the actor's account."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActorKind
    id: str = Field(min_length=1, max_length=200)
    name: str = Field(default="", max_length=200)


SYSTEM_ACTOR = Actor(kind=ActorKind.system, id="ledger", name="Conversation Ledger")


class Envelope(BaseModel):
    """Metadata of one stored event; ``payload`` is the typed body (see ``domain.events``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # ``_stored``: the bytes ``seal_envelope`` hashed, so the store needs no second dump and
    # hash. A slot, not a pydantic private attribute: a copy (``model_copy(update=...)`` may
    # change the content) does not inherit it, and it takes no part in ``==``.
    __slots__ = ("_stored",)

    event_id: UUID
    stream_id: UUID
    stream_type: str
    version: int = Field(ge=1)
    type: str
    schema_version: int = Field(ge=1)
    workspace_id: str
    occurred_at: Instant
    recorded_at: Instant
    actor: Actor
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    rules_version: int | None = None
    prev_hash: str
    hash: str
    payload: dict[str, Any]
    position: int | None = Field(default=None, description="Global position in the ledger.")

    @classmethod
    def from_stored(cls, data: bytes, position: int | None) -> Envelope:
        """The envelope of stored bytes (from the store, or the topic, which relays them),
        parsed and validated by pydantic in one pass: ~20 % less CPU than orjson then
        ``model_validate`` (a hand-written constructor skipping validation measured slower
        still). Equal to ``model_validate`` of the decoded document with ``position``; a
        malformed document raises ``ValidationError`` as it always did."""
        return cls.model_validate_json(data).placed_at(position)

    def placed_at(self, position: int | None) -> Envelope:
        """This envelope with its store-assigned ``position``, set as validation would have.

        In place, not a copy (``model_copy`` costs ~3 µs an event): only for an envelope no one
        else holds yet, such as one just decoded, or just sealed and stored."""
        self.__dict__["position"] = position
        self.__pydantic_fields_set__.add("position")
        return self

    def to_document(self) -> dict[str, Any]:
        """The JSON document as stored (without the store-assigned position)."""
        return self.model_dump(mode="json", exclude={"position"})


def canonical_bytes(document: dict[str, Any]) -> bytes:
    attested = {k: v for k, v in document.items() if k not in UNHASHED_FIELDS}
    return orjson.dumps(attested, option=orjson.OPT_SORT_KEYS)


def compute_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(document)).hexdigest()


def seal(document: dict[str, Any]) -> dict[str, Any]:
    """Return the document with its ``hash`` set over its canonical bytes."""
    return {**document, "hash": compute_hash(document)}


def seal_envelope(document: dict[str, Any]) -> Envelope:
    """Seal a document as the store will write it: normalised through the model first, so
    the hash covers exactly the stored JSON (e.g. ``Z``, not ``+00:00``, in timestamps).

    One validation and one dump: the envelope is completed in place, as validating the
    sealed document would have made it, before anyone else sees it."""
    envelope = Envelope.model_validate({**document, "hash": ""})
    stored = envelope.to_document()
    stored["hash"] = compute_hash(stored)
    envelope.__dict__["hash"] = stored["hash"]
    # As a reader decodes it: JSON values, shared with no caller.
    envelope.__dict__["payload"] = stored["payload"]
    object.__setattr__(envelope, "_stored", encode_document(stored))
    return envelope


def is_sealed(envelope: Envelope) -> bool:
    """Whether the envelope's hash covers the bytes it will be stored as."""
    return sealed_bytes(envelope) is not None


def sealed_bytes(envelope: Envelope) -> bytes | None:
    """The bytes the envelope is stored as, or None when its hash does not cover them.

    An envelope from ``seal_envelope`` carries them; any other (read, copied, built by
    hand) is dumped and hashed again."""
    stored = getattr(envelope, "_stored", None)
    if stored is not None:
        return stored
    document = envelope.to_document()
    return encode_document(document) if compute_hash(document) == envelope.hash else None


def encode_document(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)


def decode_document(data: bytes) -> dict[str, Any]:
    return orjson.loads(data)
