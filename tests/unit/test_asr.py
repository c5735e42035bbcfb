"""ASR and its parts, against values computed by hand from DESIGN §4."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.asr import (
    SessionFacts,
    css,
    in_working_hours,
    is_opportunity,
    lead_value,
    oss,
    recognition,
    session_asr,
    success_factor,
)
from domain.rules import AgentRules, RuleSet, rules_for
from domain.values import Assessment

# A restaurant in Berlin: 40 per guest, 90 % of opportunities convert, and (non-overflow) the
# agent is credited with the 25 % of calls the staff historically missed while open.
RESTAURANT = AgentRules.model_validate(
    {
        "lead_valuation": {"average_lead_value": None, "value_per_unit": 40, "unit_name": "guest"},
        "conversion_ratio": 0.9,
        "recognition": {"overflow": False, "missed_call_share": 0.25},
        "time_zone": "Europe/Berlin",
        "working_hours": {"monday": [{"start": "11:00", "end": "22:00"}]},
    }
)
# Monday 2 March 2026, 12:00 in Berlin (CET, UTC+1) = 11:00 UTC: inside working hours.
MONDAY_NOON = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
# The same Monday at 10:30 in Berlin = 09:30 UTC: before opening.
MONDAY_MORNING = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LEAD = SessionFacts(
    started_at=MONDAY_NOON,
    is_lead=True,
    units=4,
    has_phone_or_email=True,
    auto_assessment=Assessment.yes_b,
)


def test_lead_value():
    assert lead_value(False, 4, RESTAURANT) == 0.0
    assert lead_value(True, 4, RESTAURANT) == 160.0  # 4 guests x 40
    assert lead_value(True, None, RESTAURANT) == 0.0
    assert lead_value(True, 4, AgentRules(lead_valuation={"average_lead_value": 250})) == 250.0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, True),
        ({"is_lead": False}, False),
        ({"refused": True}, False),
        ({"unavailable": True}, False),
        ({"has_phone_or_email": False}, False),
        ({"refused": True, "opportunity_override": True}, True),
        ({"opportunity_override": False}, False),
        ({"is_lead": False, "opportunity_override": True}, True),
    ],
)
def test_is_opportunity(change, expected):
    assert is_opportunity(SessionFacts(**{**LEAD.__dict__, **change})) is expected


def test_success_factor_prefers_the_human_assessment():
    assert success_factor(Assessment.yes_a, None) == 1.0
    assert success_factor(Assessment.yes_b, None) == 1.0
    assert success_factor(Assessment.no, None) == 0.0
    assert success_factor(Assessment.no, Assessment.yes_a) == 1.0
    assert success_factor(Assessment.yes_a, Assessment.no) == 0.0
    assert success_factor(None, None) is None


def test_working_hours_are_evaluated_in_the_rules_time_zone():
    assert in_working_hours(MONDAY_NOON, RESTAURANT)
    assert not in_working_hours(MONDAY_MORNING, RESTAURANT)
    # 21:59 Berlin is inside, 22:00 is not (end is exclusive).
    assert in_working_hours(datetime(2026, 3, 2, 20, 59, tzinfo=UTC), RESTAURANT)
    assert not in_working_hours(datetime(2026, 3, 2, 21, 0, tzinfo=UTC), RESTAURANT)
    # Tuesday is not in the schedule at all.
    assert not in_working_hours(datetime(2026, 3, 3, 11, 0, tzinfo=UTC), RESTAURANT)


def test_recognition():
    assert recognition(MONDAY_NOON, RESTAURANT) == 0.25  # inside, non-overflow
    assert recognition(MONDAY_MORNING, RESTAURANT) == 1.0  # outside working hours
    overflow = RESTAURANT.model_copy(
        update={"recognition": RESTAURANT.recognition.model_copy(update={"overflow": True})}
    )
    assert recognition(MONDAY_NOON, overflow) == 1.0


def test_asr_of_one_session_by_hand():
    # 160 (4 guests x 40) x 1 (opportunity) x 0.9 x 1 (Yes-B) x 0.25 (inside, non-overflow) = 36
    figures = session_asr(LEAD, RESTAURANT)
    assert figures.asr == pytest.approx(36.0)
    assert (figures.lead_value, figures.is_opportunity, figures.recognition) == (160.0, True, 0.25)
    # Outside working hours recognition is 1: 160 x 0.9 = 144.
    morning = SessionFacts(**{**LEAD.__dict__, "started_at": MONDAY_MORNING})
    assert session_asr(morning, RESTAURANT).asr == pytest.approx(144.0)
    # A reviewer's "No" wins over the automatic "Yes-B".
    rejected = SessionFacts(**{**LEAD.__dict__, "human_assessment": Assessment.no})
    assert session_asr(rejected, RESTAURANT).asr == 0.0


def test_test_sessions_never_count():
    figures = session_asr(SessionFacts(**{**LEAD.__dict__, "is_test": True}), RESTAURANT)
    assert figures.asr == 0.0
    assert figures.is_opportunity  # the facts stay visible; only the count is zero


def test_an_agent_override_changes_that_agents_asr():
    rules = RuleSet(defaults=RESTAURANT, agents={"bar": {"conversion_ratio": 0.5}})
    assert session_asr(LEAD, rules_for(rules, "bar")).asr == pytest.approx(160 * 0.5 * 0.25)


def test_oss_and_css_by_hand():
    assert oss([1.0, 0.0, 1.0, None]) == pytest.approx(2 / 3)
    assert oss([None]) is None
    assert css([5, 4, None, 1]) == pytest.approx((1.0 + 0.8 + 0.2) / 3)
    assert css([]) is None
