"""The leads fold: union-find merging whose final partition does not depend on event order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.events import decode_payload
from domain.identity import ContactIdentifier, lead_id_for_session
from domain.rules import LeadIdentifier, RuleSet, WorkspaceRules
from projections.leads import LeadBook, Merge, final_clusters
from tests.builders import SessionScript

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EMAILS = st.sampled_from([None, "a@x.io", "B@x.io", "b@x.io "])
PHONES = st.sampled_from([None, "+1 202 555 0101", "001 202 555 0102"])
SESSION = st.tuples(st.integers(0, 5), EMAILS, PHONES, st.one_of(st.none(), EMAILS))


def histories(sessions) -> list[list]:
    """Per session: started (at day, email, phone), then maybe the email it revealed later."""
    result = []
    for day, email, phone, learnt in sessions:
        script = SessionScript("w1", at=T0 + timedelta(days=day))
        script.start(contact={"email": email, "phone": phone})
        if learnt:
            script.record("session.contact_identified", contact={"email": learnt})
        result.append(script.events)
    return result


def fold(events, rules: WorkspaceRules | None = None) -> LeadBook:
    book = LeadBook(rules or WorkspaceRules())
    for event in events:
        book.apply(event, decode_payload(event.type, event.schema_version, event.payload))
    return book


def partition(book: LeadBook) -> set[tuple[object, frozenset]]:
    """Each lead as (surviving lead id, its sessions)."""
    clusters: dict = {}
    for member in book.members.values():
        clusters.setdefault(member.cluster_id, set()).add(member.session_id)
    return {(book.alive[c], frozenset(sessions)) for c, sessions in clusters.items()}


def interleave(streams: list[list], choices: list[int]) -> list:
    """One global order that keeps each stream's own order."""
    queues = [list(s) for s in streams]
    order = []
    for choice in itertools.chain(choices, itertools.repeat(0)):
        live = [q for q in queues if q]
        if not live:
            return order
        order.append(live[choice % len(live)].pop(0))
    return order


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SESSION, min_size=1, max_size=7), st.lists(st.integers(0, 20), max_size=20))
def test_the_partition_and_its_survivors_do_not_depend_on_order(sessions, choices):
    streams = histories(sessions)
    in_order = fold(interleave(streams, []))
    shuffled = fold(interleave(list(reversed(streams)), choices))
    assert partition(shuffled) == partition(in_order)
    for survivor, members in partition(in_order):
        oldest = min(
            (stream[0].occurred_at, str(lead_id_for_session(stream[0].stream_id)))
            for stream in streams
            if stream[0].stream_id in members
        )
        assert str(survivor) == oldest[1]  # the lead whose first session started first
    merged = {m.merged_id for m in in_order.merges}
    assert len(merged) == len(in_order.merges) == len(streams) - len(partition(in_order))


def test_a_merge_moves_the_smaller_cluster_and_keeps_the_older_lead():
    old = SessionScript("w1", at=T0).start(contact={"email": "a@x.io"}).events
    newer = [
        SessionScript("w1", at=T0 + timedelta(days=d)).start(contact={"phone": "+12025550101"})
        for d in (1, 2)
    ]
    joiner = newer[1].record("session.contact_identified", contact={"email": "A@X.IO"})
    book = fold([*old, *newer[0].events, *joiner.events])
    *_, last = book.merges
    assert last.survivor_id == lead_id_for_session(old[0].stream_id)
    assert (last.identifier.value, last.moved_sessions) == ("a@x.io", 1)
    assert last.to_cluster == lead_id_for_session(newer[0].id)  # the bigger side's storage


def test_the_rules_say_which_identifiers_merge_and_where_national_numbers_are():
    def started(day: int, **contact):
        return SessionScript("w1", at=T0 + timedelta(days=day)).start(contact=contact).events

    by_phone = [*started(0, phone="+44 20 7946 0000"), *started(1, phone="020 7946 0000")]
    by_email = [*started(2, email="a@x.io", phone="+44 20 7946 0000"), *started(3, email="a@x.io")]
    events = [*by_phone, *by_email]
    sessions = [e.stream_id for e in events]
    # Built-in rules: every kind merges, but the national number has no country to be in.
    built_in = {members for _lead, members in partition(fold(events))}
    assert built_in == {frozenset([sessions[0], *sessions[2:]]), frozenset(sessions[1:2])}
    uk = RuleSet(version=4, default_country_code="44")
    merged = fold(events, WorkspaceRules({"w1": uk}))
    assert partition(merged) == {(lead_id_for_session(sessions[0]), frozenset(sessions))}
    assert {m.rules_version for m in merged.merges} == {4}
    no_phone = uk.model_copy(update={"lead_merge_identifiers": frozenset({LeadIdentifier.email})})
    split = fold(events, WorkspaceRules({"w1": no_phone}))
    assert {members for _lead, members in partition(split)} == {
        frozenset(sessions[:1]),
        frozenset(sessions[1:2]),
        frozenset(sessions[2:]),
    }
    assert {key[1] for key in split.identifiers} == {"email"}
    # Another workspace's rules do not apply here.
    assert len(partition(fold(events, WorkspaceRules({"w2": uk})))) == 2


def test_a_batch_repoints_each_moved_cluster_to_where_its_chain_ends():
    a, b, c, d, e = (uuid4() for _ in range(5))

    def moved(source, target):
        at = datetime(2026, 1, 1, tzinfo=UTC)
        identifier = ContactIdentifier("email", "x@example.com")
        return Merge(a, b, "w1", identifier, uuid4(), uuid4(), 1, at, 0, 1, source, target)

    # a into b, then b into c: a stored row of a ends in c, as two UPDATEs in order leave it.
    merges = [moved(a, b), moved(d, e), moved(b, c)]
    assert final_clusters(merges) == {a: c, d: e, b: c}
    assert final_clusters([]) == {}


def test_a_members_external_id_is_the_sessions_as_the_list_has_it():
    """Learnt later, an external id only fills an empty one, as in the session list and
    the session's state; the new one still merges leads."""
    first = SessionScript("w1", at=T0).start(contact={"external_id": "crm-A"})
    first.record("session.contact_identified", contact={"external_id": "crm-B", "name": "Eve"})
    unnamed = SessionScript("w1", at=T0).start()
    unnamed.record("session.contact_identified", contact={"external_id": "crm-C"})
    other = SessionScript("w1", at=T0 + timedelta(days=1)).start(contact={"external_id": "crm-B"})
    book = fold([*first.events, *unnamed.events, *other.events])
    member = book.members[first.id]
    assert (member.external_id, member.contact_name) == ("crm-A", "Eve")
    assert book.members[unnamed.id].external_id == "crm-C"
    assert book.lead_of(other.id) == book.lead_of(first.id)
