"""leads: a workspace's sessions merged into leads by shared identifiers, as a union-find.

``LeadBook`` is the pure part: an in-memory slice of the union-find (the leads, sessions and
identifiers one batch touches), folded event by event in global order. It records what the
tables must gain: new leads, sessions and identifiers, and every merge with the identifier,
event and rules version that caused it. ``LeadsProjection`` loads the slice, folds, and writes.

Merging: the lead whose first session started first survives (ties: the smaller id), so the
final partition and its lead ids do not depend on the order events arrive in. Storage is
re-pointed on the other axis, size: members and identifiers belong to a cluster, and a merge
moves the smaller cluster's rows into the larger one.

Rules: per workspace, ``lead_merge_identifiers`` say which identifier kinds merge leads and
``default_country_code`` the country a phone number without an international prefix is read
in (``domain.rules``); each merge records its workspace's rules version. A generation is built
under one rules version per workspace, so a rebuild under rules that stop merging on phone
re-partitions from the first event: leads joined only by a phone number stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from psycopg import Cursor

from domain.envelope import Envelope
from domain.events import (
    ContactIdentified,
    EventPayload,
    HandoverRequested,
    HumanAgentAssigned,
    SessionClosed,
    SessionResolved,
    SessionStarted,
    decode_payload,
)
from domain.identity import ContactIdentifier, contact_identifiers, lead_id_for_session
from domain.rules import WorkspaceRules
from domain.session_state import SessionStatus
from projections.batch import execute_json, json_rows, uuid_array
from projections.engine import GLOBAL_ORDER
from projections.tables import TableSet

# (workspace, kind, normalised value): identifiers never merge across workspaces
IdentifierKey = tuple[str, str, str]

STATUS_AFTER = {
    HandoverRequested.event_type: SessionStatus.handed_over,
    HumanAgentAssigned.event_type: SessionStatus.handed_over,
    SessionResolved.event_type: SessionStatus.resolved,
    SessionClosed.event_type: SessionStatus.closed,
}
FOLDED_TYPES = frozenset({SessionStarted.event_type, ContactIdentified.event_type, *STATUS_AFTER})
TABLES = ("leads", "lead_members", "lead_identifiers", "lead_merges")


@dataclass
class LeadNode:
    lead_id: UUID
    workspace_id: str
    cluster_id: UUID
    first_session_id: UUID
    first_started_at: datetime
    size: int
    merged_into: UUID | None = None

    @property
    def seniority(self) -> tuple[datetime, str]:
        return (self.first_started_at, str(self.lead_id))


@dataclass(frozen=True)
class Member:
    session_id: UUID
    workspace_id: str
    cluster_id: UUID
    channel: str
    agent_id: str
    started_at: datetime
    status: str
    contact_name: str | None
    email: str | None
    phone: str | None
    external_id: str | None
    version: int


@dataclass(frozen=True)
class IdentifierSeen:
    key: IdentifierKey
    event_id: UUID
    session_id: UUID
    position: int | None


@dataclass(frozen=True)
class Merge:
    survivor_id: UUID
    merged_id: UUID
    workspace_id: str
    identifier: ContactIdentifier
    event_id: UUID
    session_id: UUID
    position: int | None
    occurred_at: datetime
    rules_version: int
    moved_sessions: int
    from_cluster: UUID
    to_cluster: UUID


@dataclass
class LeadBook:
    """The slice of the union-find a batch touches; ``apply`` folds one event into it.

    ``rules`` say per workspace which identifier kinds merge leads (an identifier of another
    kind is not a lead identifier at all) and the country of national phone numbers."""

    rules: WorkspaceRules = field(default_factory=WorkspaceRules)
    leads: dict[UUID, LeadNode] = field(default_factory=dict)
    alive: dict[UUID, UUID] = field(default_factory=dict)  # cluster -> its surviving lead
    identifiers: dict[IdentifierKey, UUID] = field(default_factory=dict)  # -> cluster
    members: dict[UUID, Member] = field(default_factory=dict)
    new_identifiers: dict[IdentifierKey, IdentifierSeen] = field(default_factory=dict)
    merges: list[Merge] = field(default_factory=list)

    def add_lead(self, lead: LeadNode) -> None:
        self.leads[lead.lead_id] = lead
        if lead.merged_into is None:
            self.alive[lead.cluster_id] = lead.lead_id

    def lead_of(self, session_id: UUID) -> LeadNode:
        return self.leads[self.alive[self.members[session_id].cluster_id]]

    def apply(self, event: Envelope, payload: EventPayload) -> None:
        if isinstance(payload, SessionStarted):
            self._started(event, payload)
        elif event.stream_id not in self.members:
            return  # not a started session: nothing to attach to
        elif isinstance(payload, ContactIdentified):
            self._identified(event, payload)
        else:
            status = STATUS_AFTER[event.type].value
            self._update_member(event, status=status)

    def identifiers_in(self, event: Envelope, payload: EventPayload) -> list[IdentifierKey]:
        contact = getattr(payload, "contact", None)
        if contact is None:
            return []
        rules = self.rules.of(event.workspace_id)
        found = contact_identifiers(
            email=contact.email,
            phone=contact.phone,
            external_id=contact.external_id,
            default_country_code=rules.default_country_code,
        )
        if isinstance(payload, SessionStarted):
            found += contact_identifiers(external_id=payload.external_id)
        merging = [i for i in found if i.kind.value in rules.lead_merge_identifiers]
        return list(dict.fromkeys((event.workspace_id, i.kind.value, i.value) for i in merging))

    # --- events -------------------------------------------------------------------------------

    def _started(self, event: Envelope, payload: SessionStarted) -> None:
        lead_id = lead_id_for_session(event.stream_id)
        self.add_lead(
            LeadNode(lead_id, event.workspace_id, lead_id, event.stream_id, event.occurred_at, 1)
        )
        self.members[event.stream_id] = Member(
            session_id=event.stream_id,
            workspace_id=event.workspace_id,
            cluster_id=lead_id,
            channel=payload.channel.value,
            agent_id=payload.agent_id,
            started_at=event.occurred_at,
            status=SessionStatus.active.value,
            contact_name=payload.contact.name,
            email=payload.contact.email,
            phone=payload.contact.phone,
            external_id=payload.external_id or payload.contact.external_id,
            version=event.version,
        )
        self._claim_all(event, payload)

    def _identified(self, event: Envelope, payload: ContactIdentified) -> None:
        learnt = payload.contact.model_dump(exclude_none=True)
        if self.members[event.stream_id].external_id is not None:
            # As the session list and the session's state have it: an external id learnt
            # later only fills the one the start left empty (it still merges leads).
            learnt.pop("external_id", None)
        self._update_member(
            event, **{"contact_name" if k == "name" else k: v for k, v in learnt.items()}
        )
        self._claim_all(event, payload)

    def _update_member(self, event: Envelope, **changes: object) -> None:
        member = self.members[event.stream_id]
        self.members[event.stream_id] = replace(member, version=event.version, **changes)

    # --- union-find ---------------------------------------------------------------------------

    def _claim_all(self, event: Envelope, payload: EventPayload) -> None:
        for key in self.identifiers_in(event, payload):
            self._claim(key, event)

    def _claim(self, key: IdentifierKey, event: Envelope) -> None:
        own = self.members[event.stream_id].cluster_id
        other = self.identifiers.get(key)
        if other is None:
            self.identifiers[key] = own
            self.new_identifiers[key] = IdentifierSeen(
                key, event.event_id, event.stream_id, event.position
            )
        elif other != own:
            self._union(own, other, key, event)

    def _union(self, one: UUID, other: UUID, key: IdentifierKey, event: Envelope) -> None:
        first, second = self.leads[self.alive[one]], self.leads[self.alive[other]]
        survivor, merged = sorted((first, second), key=lambda lead: lead.seniority)
        larger, smaller = (merged, survivor) if merged.size > survivor.size else (survivor, merged)
        moved, kept = smaller.cluster_id, larger.cluster_id
        self.merges.append(
            Merge(
                survivor_id=survivor.lead_id,
                merged_id=merged.lead_id,
                workspace_id=survivor.workspace_id,
                identifier=ContactIdentifier(key[1], key[2]),
                event_id=event.event_id,
                session_id=event.stream_id,
                position=event.position,
                occurred_at=event.occurred_at,
                rules_version=self.rules.of(survivor.workspace_id).version,
                moved_sessions=smaller.size,
                from_cluster=moved,
                to_cluster=kept,
            )
        )
        survivor.size += merged.size
        merged.merged_into = survivor.lead_id
        del self.alive[moved]
        self.alive[kept] = survivor.lead_id
        self._repoint(moved, kept)

    def _repoint(self, moved: UUID, kept: UUID) -> None:
        """Move the slice's rows of cluster ``moved`` to ``kept`` (the tables do the rest)."""
        for lead in self.leads.values():
            if lead.cluster_id == moved:
                lead.cluster_id = kept
        for key, cluster in self.identifiers.items():
            if cluster == moved:
                self.identifiers[key] = kept
        for session_id, member in self.members.items():
            if member.cluster_id == moved:
                self.members[session_id] = replace(member, cluster_id=kept)


# --- SQL ------------------------------------------------------------------------------------
# Fields in braces are the tables (see ``projections.tables``).

MEMBER_COLUMNS = (
    "session_id, workspace_id, cluster_id, channel, agent_id, started_at, status, contact_name,"
    " email, phone, external_id, version"
)
LEAD_COLUMNS = (
    "lead_id, workspace_id, cluster_id, first_session_id, first_started_at, size, merged_into"
)
LOAD_MEMBERS = f"SELECT {MEMBER_COLUMNS} FROM {{lead_members}} WHERE session_id = ANY(%s::uuid[])"
LOAD_IDENTIFIERS = (
    "SELECT workspace_id, kind, value, cluster_id FROM {lead_identifiers}"
    " WHERE (workspace_id, kind, value) IN"
    " (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]))"
)
LOAD_ALIVE_LEADS = (
    f"SELECT {LEAD_COLUMNS} FROM {{leads}} WHERE cluster_id = ANY(%s) AND merged_into IS NULL"
)
# Serialises the workspace's lead merging across workers that consume other partitions; per
# leads table, so a rebuild does not wait for the live generation's workers.
LOCK_WORKSPACE = "SELECT pg_advisory_xact_lock(hashtextextended(%s || ':' || %s, 0))"
# Every cluster a batch moved, to where it ended up, in one statement per table.
REPOINT = {
    f"repoint_{table}": f"UPDATE {{{table}}} AS t SET cluster_id = m.to_cluster"
    " FROM unnest(%s::uuid[], %s::uuid[]) AS m(from_cluster, to_cluster)"
    " WHERE t.cluster_id = m.from_cluster"
    for table in ("lead_members", "lead_identifiers", "leads")
}
# Each statement writes a whole batch: the rows as one JSON array (``projections.batch``).
STORE_LEADS = json_rows("leads", LEAD_COLUMNS) + (
    " ON CONFLICT (lead_id) DO UPDATE SET cluster_id = EXCLUDED.cluster_id,"
    " size = EXCLUDED.size, merged_into = EXCLUDED.merged_into"
)
STORE_MEMBERS = json_rows("lead_members", MEMBER_COLUMNS) + (
    " ON CONFLICT (session_id) DO UPDATE"
    " SET cluster_id = EXCLUDED.cluster_id, status = EXCLUDED.status,"
    " contact_name = EXCLUDED.contact_name, email = EXCLUDED.email, phone = EXCLUDED.phone,"
    " external_id = EXCLUDED.external_id, version = EXCLUDED.version"
)
INSERT_IDENTIFIERS = json_rows(
    "lead_identifiers",
    "workspace_id, kind, value, cluster_id, first_event_id, first_session_id, first_position",
)
INSERT_MERGES = json_rows(
    "lead_merges",
    "merged_id, survivor_id, workspace_id, identifier_kind, identifier_value, event_id,"
    " session_id, position, occurred_at, rules_version, moved_sessions",
)


def final_clusters(merges: list[Merge]) -> dict[UUID, UUID]:
    """Each cluster the merges moved -> the cluster it is in after all of them: what
    applying the moves one by one, in order, does to a stored row (a cluster is moved
    once, but the cluster it moved into may itself move later in the batch)."""
    moved = {merge.from_cluster: merge.to_cluster for merge in merges}
    final = {}
    for cluster, target in moved.items():
        while target in moved:
            target = moved[target]
        final[cluster] = target
    return final


def _merge_values(merge: Merge) -> dict:
    values = {name: value for name, value in vars(merge).items() if name != "identifier"}
    return {
        **values,
        "identifier_kind": merge.identifier.kind,
        "identifier_value": merge.identifier.value,
    }


def _identifier_values(key: IdentifierKey, seen: IdentifierSeen, cluster_id: UUID) -> dict:
    workspace_id, kind, value = key
    return {
        "workspace_id": workspace_id,
        "kind": kind,
        "value": value,
        "cluster_id": cluster_id,
        "first_event_id": seen.event_id,
        "first_session_id": seen.session_id,
        "first_position": seen.position,
    }


class LeadsProjection(TableSet):
    # ``name`` keys the exactly-once bookkeeping, here the log cursor.
    name = "leads"
    # Which session claimed an identifier first decides merges: fold in the ledger's order.
    order = GLOBAL_ORDER
    event_types = tuple(sorted(FOLDED_TYPES))
    TABLES = TABLES
    SCHEMA = "leads.sql"
    STATEMENTS = {
        "load_members": LOAD_MEMBERS,
        "load_identifiers": LOAD_IDENTIFIERS,
        "load_alive_leads": LOAD_ALIVE_LEADS,
        "store_leads": STORE_LEADS,
        "store_members": STORE_MEMBERS,
        "insert_identifiers": INSERT_IDENTIFIERS,
        "insert_merges": INSERT_MERGES,
        **REPOINT,
    }

    def apply(self, cur: Cursor, streams: dict[UUID, list[Envelope]]) -> None:
        # Merges depend on which session claimed an identifier first: fold in global order.
        events = sorted(
            (e for evs in streams.values() for e in evs if e.type in FOLDED_TYPES),
            key=lambda e: (e.position or 0, e.version),
        )
        if not events:
            return
        decoded = [(e, decode_payload(e.type, e.schema_version, e.payload)) for e in events]
        book = LeadBook(self.rules)
        for workspace_id in sorted({e.workspace_id for e in events}):
            cur.execute(LOCK_WORKSPACE, (self.tables["leads"], workspace_id))
        self._load(cur, book, decoded)
        for event, payload in decoded:
            book.apply(event, payload)
        self._store(cur, book)

    def _load(
        self, cur: Cursor, book: LeadBook, decoded: list[tuple[Envelope, EventPayload]]
    ) -> None:
        cur.execute(self.sql.load_members, (uuid_array({e.stream_id for e, _ in decoded}),))
        for row in cur.fetchall():
            book.members[row[0]] = Member(*row)
        keys = list({key for e, p in decoded for key in book.identifiers_in(e, p)})
        if keys:
            columns = [list(column) for column in zip(*keys, strict=True)]
            cur.execute(self.sql.load_identifiers, columns)
            book.identifiers.update({(r[0], r[1], r[2]): r[3] for r in cur.fetchall()})
        clusters = {m.cluster_id for m in book.members.values()} | set(book.identifiers.values())
        cur.execute(self.sql.load_alive_leads, (list(clusters),))
        for row in cur.fetchall():
            book.add_lead(LeadNode(*row))

    def _store(self, cur: Cursor, book: LeadBook) -> None:
        # Rows the slice did not load (older members, dead leads) follow their cluster.
        final = final_clusters(book.merges)
        if final:
            for table in REPOINT:
                cur.execute(getattr(self.sql, table), (list(final), list(final.values())))
        execute_json(cur, self.sql.store_leads, list(book.leads.values()))
        execute_json(cur, self.sql.store_members, list(book.members.values()))
        execute_json(
            cur,
            self.sql.insert_identifiers,
            [
                _identifier_values(key, seen, book.identifiers[key])
                for key, seen in book.new_identifiers.items()
            ],
        )
        execute_json(cur, self.sql.insert_merges, [_merge_values(m) for m in book.merges])
