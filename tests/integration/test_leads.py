"""leads on PostgreSQL: merging by shared identifiers, a later session joining two earlier leads,
redirects of merged leads, explanations, search, and workspace scoping."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from api.read_models import LeadQueries
from domain.errors import StreamNotFound
from domain.identity import lead_id_for_session
from tests.builders import SessionScript
from tests.review_builders import global_order, review_engine

DAY = timedelta(days=1)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def leads(database_url, store):
    positions = itertools.count(1)

    def started(days: int, workspace: str = "w1", **fields) -> SessionScript:
        script = SessionScript(workspace, at=T0 + days * DAY, positions=positions)
        return script.start(**fields)

    s1 = started(0, channel="web", contact={"name": "Ada", "email": "Ada@Example.com"})
    s2 = started(1, channel="sms", contact={"phone": "+44 20 7946 0000"})
    s3 = started(2, channel="whatsapp", contact={"phone": "0044 (0)20 7946-0000"})
    s4 = started(2, workspace="w2", contact={"email": "ada@example.com"})
    s5 = started(3, channel="voice", external_id="crm-7")
    s6 = started(4, channel="email", contact={"external_id": "crm-7", "name": "Bob"})
    engine = review_engine(database_url, store)
    engine.apply_batch(global_order(*(s.events for s in (s1, s2, s3, s4, s5, s6))))
    # A later batch: the whatsapp session learns the email of the first lead, joining the
    # two earlier leads (stored rows are re-pointed, not just the batch's).
    s3.record("session.contact_identified", contact={"email": " ada@EXAMPLE.com"})
    s1.close()
    engine.apply_batch(global_order(s3.events[-1:], s1.events[-1:]))
    scripts = {"s1": s1, "s2": s2, "s3": s3, "s4": s4, "s5": s5, "s6": s6}
    ids = {name: lead_id_for_session(script.id) for name, script in scripts.items()}
    return LeadQueries(engine.pool), ids, scripts


def test_a_later_session_joins_two_earlier_leads_and_the_oldest_survives(leads):
    queries, ids, scripts = leads
    detail = queries.detail("w1", ids["s3"])
    assert detail.lead_id == ids["s1"]
    assert (detail.requested_id, detail.merged_into) == (ids["s3"], ids["s1"])
    assert [(s.session_id, s.channel) for s in detail.session_list] == [
        (scripts["s1"].id, "web"),
        (scripts["s2"].id, "sms"),
        (scripts["s3"].id, "whatsapp"),
    ]
    assert detail.sessions == 3
    assert [s.status for s in detail.session_list] == ["closed", "active", "active"]
    assert {(i.kind, i.value) for i in detail.identifiers} == {
        ("email", "ada@example.com"),
        ("phone", "+442079460000"),
    }


def test_every_merge_explains_itself(leads):
    queries, ids, scripts = leads
    merges = queries.detail("w1", ids["s1"]).merges
    s3 = scripts["s3"]
    assert [(m.merged_lead_id, m.into_lead_id, m.identifier_kind) for m in merges] == [
        (ids["s3"], ids["s2"], "phone"),
        (ids["s2"], ids["s1"], "email"),
    ]
    by_phone, by_email = merges
    assert (by_phone.event_id, by_phone.session_id) == (s3.events[0].event_id, s3.id)
    assert (by_email.event_id, by_email.position) == (
        s3.events[-1].event_id,
        s3.events[-1].position,
    )
    assert by_email.rules_version == 0
    # the older lead was the smaller one: its single session moved, not the two of the other
    assert by_email.moved_sessions == 1
    assert by_email.explanation.startswith(
        f"merged lead {ids['s2']} into {ids['s1']} because both had email ada@example.com,"
        f" seen in event {s3.events[-1].event_id} of session {s3.id}"
    )


def test_external_ids_merge_and_the_list_shows_surviving_leads(leads):
    queries, ids, _scripts = leads
    page = queries.page("w1")
    assert [lead.lead_id for lead in page.items] == [ids["s5"], ids["s1"]]
    assert page.items[0].sessions == 2 and page.items[0].contact_name == "Bob"
    assert [lead.lead_id for lead in queries.page("w1", search="EXAMPLE.com").items] == [ids["s1"]]
    assert [lead.lead_id for lead in queries.page("w1", search="020 7946 0000").items] == []
    by_phone = queries.page("w1", search="+44 (0)20 7946 0000")
    assert [lead.lead_id for lead in by_phone.items] == [ids["s1"]]
    assert [lead.lead_id for lead in queries.page("w1", search="crm-").items] == [ids["s5"]]
    first = queries.page("w1", limit=1)
    rest = queries.page("w1", limit=1, cursor=first.next_cursor)
    assert [lead.lead_id for lead in first.items + rest.items] == [ids["s5"], ids["s1"]]


def test_leads_never_cross_workspaces(leads):
    queries, ids, _scripts = leads
    assert [lead.lead_id for lead in queries.page("w2").items] == [ids["s4"]]
    with pytest.raises(StreamNotFound):
        queries.detail("w2", ids["s1"])
