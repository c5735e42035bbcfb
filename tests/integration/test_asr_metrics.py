"""asr_metrics through PostgreSQL: per agent/channel and local day, exact after overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from psycopg_pool import ConnectionPool

from api.queries import AsrMetricsQueries, MetricsGroup, MetricsPeriod
from domain.rules import RuleSet
from projections.engine import ProjectionEngine
from tests.builders import REVIEWER, SessionScript
from tests.integration.test_session_list_filters import session_list_engine

# Berlin, default hours Mon-Fri 09-17; a lead is worth 100, agent b's 40 per guest; half of the
# opportunities convert; inside working hours the agent is credited with the 25 % humans miss.
RULES = RuleSet.model_validate(
    {
        "version": 7,
        "defaults": {
            "lead_valuation": {"average_lead_value": 100},
            "conversion_ratio": 0.5,
            "recognition": {"overflow": False, "missed_call_share": 0.25},
            "time_zone": "Europe/Berlin",
        },
        "agents": {
            "b": {
                "lead_valuation": {
                    "average_lead_value": None,
                    "value_per_unit": 40,
                    "unit_name": "guest",
                }
            }
        },
    }
)
EMAIL = {"email": "guest@example.com"}


def _session(at, agent="a", channel="web", contact=EMAIL, **analysis) -> SessionScript:
    script = SessionScript(at=at).start(agent_id=agent, channel=channel, contact=contact)
    if analysis:
        script.record("session.analyzed", is_lead=True, **analysis)
    return script


def _utc(day, hour, minute=0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def metrics(database_url):
    with session_list_engine(database_url, RULES) as (engine, pool):
        yield _reporting(engine, pool)


def _reporting(engine: ProjectionEngine, pool: ConnectionPool):
    sessions = {
        # Mon 10:00 Berlin, inside: 100 x 0.5 x 1 x 0.25 = 12.5
        "s1": _session(_utc(2, 9), auto_assessment="Yes-A", conversation_quality=5),
        # Mon 19:00 Berlin, outside: 100 x 0.5 x 1 x 1 = 50
        "s2": _session(_utc(2, 18), auto_assessment="Yes-B", conversation_quality=4),
        # Mon 21:00 Berlin, sms, assessed No: an opportunity worth 0
        "s3": _session(_utc(2, 20), channel="sms", auto_assessment="No", conversation_quality=3),
        # 00:30 Tuesday in Berlin (still Monday in UTC); no contact, so no opportunity
        "s4": _session(
            _utc(2, 23, 30), contact={}, auto_assessment="Yes-A", conversation_quality=1
        ),
        # Wed 11:00 Berlin, agent b, 3 guests x 40 = 120; x 0.5 x 1 x 0.25 = 15
        "s5": _session(
            _utc(4, 10), agent="b", units=3, auto_assessment="Yes-A", conversation_quality=5
        ),
        # a test session never counts
        "s6": _session(_utc(2, 10)).record(
            "session.flag_set", actor=REVIEWER, flag="is_test", value=True, reason="qa"
        ),
    }
    for script in sessions.values():
        engine.apply_batch(script.events)
    queries = AsrMetricsQueries(pool)

    def report(group_by="agent", period="day", **days):
        response = queries.report(
            "w1", group_by=MetricsGroup(group_by), period=MetricsPeriod(period), **days
        )
        return {
            (row.group, str(row.period_start)): (
                row.sessions,
                row.leads,
                row.opportunities,
                row.lead_value,
                pytest.approx(row.asr),
                row.oss and pytest.approx(row.oss),
                row.css and pytest.approx(row.css),
                row.rules_version,
            )
            for row in response.rows
        }

    def review(name, event_type, **payload):
        script = sessions[name]
        start = len(script.events)
        script.record(event_type, actor=REVIEWER, **payload)
        engine.apply_batch(script.events[start:])

    def rows(group_by, period, **days):
        response = queries.report(
            "w1", group_by=MetricsGroup(group_by), period=MetricsPeriod(period), **days
        )
        return {
            (row.group, str(row.period_start)): (str(row.first_day), str(row.last_day), row.clipped)
            for row in response.rows
        }

    report.review = review
    report.rows = rows
    return report


def test_per_agent_and_local_day(metrics):
    assert metrics("agent", "day") == {
        ("a", "2026-03-02"): (3, 3, 3, 300.0, 62.5, 2 / 3, (1.0 + 0.8 + 0.6) / 3, 7),
        ("a", "2026-03-03"): (1, 1, 0, 100.0, 0.0, None, 0.2, 7),
        ("b", "2026-03-04"): (1, 1, 1, 120.0, 15.0, 1.0, 1.0, 7),
    }


def test_weeks_and_months_recombine_the_days_exactly(metrics):
    assert metrics("agent", "week") == {
        ("a", "2026-03-02"): (4, 4, 3, 400.0, 62.5, 2 / 3, (1.0 + 0.8 + 0.6 + 0.2) / 4, 7),
        ("b", "2026-03-02"): (1, 1, 1, 120.0, 15.0, 1.0, 1.0, 7),
    }
    assert metrics("channel", "month") == {
        ("sms", "2026-03-01"): (1, 1, 1, 100.0, 0.0, 0.0, 0.6, 7),
        ("web", "2026-03-01"): (4, 4, 3, 420.0, 77.5, 1.0, (1.0 + 0.8 + 0.2 + 1.0) / 4, 7),
    }


def test_from_and_to_are_inclusive_local_days(metrics):
    assert list(metrics(first_day=date(2026, 3, 3), last_day=date(2026, 3, 3))) == [
        ("a", "2026-03-03")
    ]


def test_a_period_cut_by_from_or_to_says_which_days_it_covers(metrics):
    march = {"first_day": date(2026, 3, 1), "last_day": date(2026, 3, 31)}
    assert metrics.rows("channel", "month", **march) == {
        ("sms", "2026-03-01"): ("2026-03-01", "2026-03-31", False),
        ("web", "2026-03-01"): ("2026-03-01", "2026-03-31", False),
    }
    # The week of Monday 2 March, from Tuesday: its figures are those of Tuesday to Sunday.
    assert metrics.rows("agent", "week", first_day=date(2026, 3, 3)) == {
        ("a", "2026-03-02"): ("2026-03-03", "2026-03-08", True),
        ("b", "2026-03-02"): ("2026-03-03", "2026-03-08", True),
    }
    assert metrics.rows("agent", "month", last_day=date(2026, 3, 3)) == {
        ("a", "2026-03-01"): ("2026-03-01", "2026-03-03", True),
    }
    assert metrics.rows("agent", "day", **march)[("a", "2026-03-03")] == (
        "2026-03-03",
        "2026-03-03",
        False,
    )


def test_overrides_change_the_figures_of_their_day(metrics):
    metrics.review("s2", "session.human_assessment_set", assessment="No", reason="lost it")
    metrics.review("s4", "session.flag_set", flag="is_opportunity", value=True, reason="called")
    metrics.review("s6", "session.flag_set", flag="is_test", value=False, reason="real after all")
    assert metrics("agent", "day") == {
        # s2 now contributes 0 and a success factor of 0; s6 (no lead) now counts as a session
        ("a", "2026-03-02"): (4, 3, 3, 300.0, 12.5, 1 / 3, (1.0 + 0.8 + 0.6) / 3, 7),
        # s4 is an opportunity now, outside working hours: 100 x 0.5 x 1 x 1 = 50
        ("a", "2026-03-03"): (1, 1, 1, 100.0, 50.0, 1.0, 0.2, 7),
        ("b", "2026-03-04"): (1, 1, 1, 120.0, 15.0, 1.0, 1.0, 7),
    }


def test_a_group_whose_sessions_all_became_tests_disappears(metrics):
    metrics.review("s5", "session.flag_set", flag="is_test", value=True, reason="qa")
    assert ("b", "2026-03-04") not in metrics("agent", "day")
