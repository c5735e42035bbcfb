"""Rules as events: a workspace's ``ruleset`` stream of ``rules.published`` events.

Each event carries one whole ``RuleSet``; its ``version`` is the event's version on the
stream, so versions are 1, 2, 3, … per workspace and strictly increasing by construction
(version 0 is the built-in ``DEFAULT_RULES``, never published). A workspace has one ruleset
stream, ``uuid5(RULESET_NAMESPACE, workspace)``, so its id is known without a lookup.

Publishing never changes a read model by itself: a read model generation is built under one
rules version per workspace and keeps it until a rebuild under another version is switched
in (``projections.generations``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from domain.envelope import Actor, Envelope
from domain.registry import EventPayload, decode_payload, event
from domain.rules import DEFAULT_RULES, RuleSet
from domain.values import NonBlank

RULESET_STREAM = "ruleset"
RULESET_NAMESPACE = uuid.UUID("5b0e3f4a-8c2d-4e71-9a36-1d7f0c9b2e58")


@event
class RulesPublished(EventPayload):
    event_type: ClassVar[str] = "rules.published"
    stream_type: ClassVar[str] = RULESET_STREAM

    rules: RuleSet
    reason: NonBlank


def ruleset_stream_id(workspace_id: str) -> uuid.UUID:
    return uuid.uuid5(RULESET_NAMESPACE, workspace_id)


@dataclass(frozen=True)
class PublishedRules:
    """One version of a workspace's rules, with who published it, when and why."""

    version: int
    rules: RuleSet
    actor: Actor | None
    published_at: datetime | None
    reason: str | None
    event_id: uuid.UUID | None = None


BUILT_IN = PublishedRules(0, DEFAULT_RULES, None, None, "built-in defaults")


def published_rules(history: Iterable[Envelope]) -> list[PublishedRules]:
    """Every version of a ruleset stream's history, the built-in version 0 first."""
    versions = [BUILT_IN]
    for envelope in history:
        payload = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
        assert isinstance(payload, RulesPublished)
        versions.append(
            PublishedRules(
                version=payload.rules.version,
                rules=payload.rules,
                actor=envelope.actor,
                published_at=envelope.recorded_at,
                reason=payload.reason,
                event_id=envelope.event_id,
            )
        )
    return versions


def next_rules(history: Sequence[Envelope], payload: RulesPublished) -> RulesPublished:
    """The payload as it is to be recorded: its rules stamped with the stream's next version."""
    version = (history[-1].version if history else 0) + 1
    return payload.model_copy(
        update={"rules": payload.rules.model_copy(update={"version": version})}
    )


@dataclass(frozen=True)
class FieldChange:
    field: str  # dotted path: defaults.working_hours.monday, agents.concierge.conversion_ratio
    before: Any
    after: Any


def diff_rules(before: RuleSet, after: RuleSet) -> list[FieldChange]:
    """Field by field, every leaf that differs between two rule sets (``version`` excluded)."""
    old = _leaves(before.model_dump(mode="json", exclude={"version"}))
    new = _leaves(after.model_dump(mode="json", exclude={"version"}))
    return [
        FieldChange(path, old.get(path), new.get(path))
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path)
    ]


def _leaves(document: Any, prefix: str = "") -> dict[str, Any]:
    """Dicts are walked into; lists (a day's opening times, identifiers) are compared whole,
    because their items have no identity of their own to pair them by."""
    if not isinstance(document, dict) or not document:
        return {prefix: sorted(document) if _is_set_like(prefix) else document}
    leaves: dict[str, Any] = {}
    for key, value in document.items():
        leaves.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return leaves


def _is_set_like(path: str) -> bool:
    # A frozenset dumps in arbitrary order; sorted, equal sets compare equal.
    return path == "lead_merge_identifiers"
