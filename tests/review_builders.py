"""Sealed events of streams SessionScript does not build (the ``missed_question`` stream), and
the engine wiring the review read-model tests share."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from datetime import datetime

from domain.envelope import GENESIS_HASH, Actor, Envelope, seal
from domain.events import MissedQuestionStatusChanged
from infra.database import apply_schema, create_pool
from projections.audit_trail import AuditTrailProjection
from projections.engine import ProjectionEngine
from projections.leads import LeadsProjection
from projections.missed_questions import MissedQuestionsProjection
from projections.registry import read_model_schema
from tests.builders import REVIEWER


def status_changes(
    group_id: uuid.UUID,
    workspace: str,
    changes: Iterable[tuple[str, str | None, datetime]],
    *,
    positions: Iterable[int],
    actor: Actor = REVIEWER,
) -> list[Envelope]:
    """A missed_question stream: (status, reason, when) per event, ``previous`` chained."""
    events: list[Envelope] = []
    previous, prev_hash = "unresolved", GENESIS_HASH
    for version, ((status, reason, at), position) in enumerate(
        zip(changes, positions, strict=False), start=1
    ):
        payload = MissedQuestionStatusChanged(status=status, reason=reason, previous=previous)
        document = {
            "event_id": str(uuid.uuid4()),
            "stream_id": str(group_id),
            "stream_type": payload.stream_type,
            "version": version,
            "type": payload.event_type,
            "schema_version": payload.schema_version,
            "workspace_id": workspace,
            "occurred_at": at.isoformat(),
            "recorded_at": at.isoformat(),
            "actor": actor.model_dump(mode="json"),
            "prev_hash": prev_hash,
            "hash": "",
            "payload": payload.model_dump(mode="json"),
        }
        envelope = Envelope.model_validate(seal(Envelope.model_validate(document).to_document()))
        events.append(envelope.model_copy(update={"position": position}))
        previous, prev_hash = status, envelope.hash
    return events


class DeliveringEngine(ProjectionEngine):
    """The pipeline in miniature: events are stored first, as the command side stores them,
    then their stored copies (with the store's positions) are delivered to the read models.
    Read models that fold in the ledger's order read the store's log, so this matters."""

    def apply_batch(self, events):
        ids = [e.event_id for e in events]
        known = self.source.find_events(ids)
        fresh = [e.model_copy(update={"position": None}) for e in events if e.event_id not in known]
        if fresh:
            self.source.append(fresh)
        stored = self.source.find_events(ids)
        return super().apply_batch([stored[event_id] for event_id in ids])


def review_engine(database_url: str, store, **leads_options) -> ProjectionEngine:
    """An engine with this work's three read models on a fresh schema."""
    apply_schema(database_url, read_model_schema())
    projections = [
        MissedQuestionsProjection(),
        LeadsProjection(**leads_options),
        AuditTrailProjection(),
    ]
    return DeliveringEngine(create_pool(database_url), projections, store)


def global_order(*histories: Iterable[Envelope]) -> list[Envelope]:
    return sorted(itertools.chain(*histories), key=lambda e: e.position or 0)
