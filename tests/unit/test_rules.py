"""The rule set: validation names the field, agent overrides resolve over the defaults."""

from __future__ import annotations

from datetime import time

import pytest
from pydantic import ValidationError

from domain.rules import (
    DEFAULT_RULES,
    LeadIdentifier,
    MissedQuestionNormalisation,
    RuleSet,
    SessionLength,
    SessionLengthThresholds,
    Weekday,
    rules_for,
)


def _error_location(document: dict) -> str:
    with pytest.raises(ValidationError) as raised:
        RuleSet.model_validate(document)
    return ".".join(str(part) for part in raised.value.errors()[0]["loc"])


@pytest.mark.parametrize(
    ("document", "location"),
    [
        ({"defaults": {"conversion_ratio": 1.2}}, "defaults.conversion_ratio"),
        ({"defaults": {"time_zone": "Mars/Olympus"}}, "defaults.time_zone"),
        (
            {"defaults": {"recognition": {"missed_call_share": -0.1}}},
            "defaults.recognition.missed_call_share",
        ),
        ({"agents": {"a": {"conversion_ratio": 2}}}, "agents.a.conversion_ratio"),
        ({"agents": {"a": {"time_zone": "Nowhere"}}}, "agents.a.time_zone"),
        ({"lead_merge_identifiers": ["email", "fax"]}, "lead_merge_identifiers.1"),
        ({"default_country_code": "+44"}, "default_country_code"),
        ({"default_country_code": "0044"}, "default_country_code"),
        ({"version": -1}, "version"),
        ({"defaults": {"surprise": 1}}, "defaults.surprise"),
    ],
)
def test_invalid_values_name_their_field(document, location):
    assert _error_location(document) == location


def test_overlapping_opening_times_are_refused_for_that_day():
    day = [{"start": "09:00", "end": "12:00"}, {"start": "11:30", "end": "14:00"}]
    assert _error_location({"defaults": {"working_hours": {"monday": day}}}) == (
        "defaults.working_hours.monday"
    )


def test_an_opening_time_must_end_after_it_starts_except_at_midnight():
    backwards = [{"start": "17:00", "end": "09:00"}]
    assert _error_location({"defaults": {"working_hours": {"friday": backwards}}}).startswith(
        "defaults.working_hours.friday.0"
    )
    late = RuleSet.model_validate(
        {"defaults": {"working_hours": {"friday": [{"start": "18:00", "end": "00:00"}]}}}
    )
    assert late.defaults.working_hours[Weekday.friday][0].contains(time(23, 59))


def test_session_length_thresholds_must_be_ordered():
    assert (
        _error_location(
            {"defaults": {"session_length": {"short_below_seconds": 600, "long_from_seconds": 60}}}
        )
        == "defaults.session_length"
    )


def test_lead_value_is_either_an_average_or_per_unit_with_a_unit_name():
    assert (
        _error_location(
            {"defaults": {"lead_valuation": {"average_lead_value": None, "value_per_unit": 30}}}
        )
        == "defaults.lead_valuation"
    )
    per_unit = RuleSet.model_validate(
        {
            "defaults": {
                "lead_valuation": {
                    "average_lead_value": None,
                    "value_per_unit": 30,
                    "unit_name": "guest",
                }
            }
        }
    )
    assert per_unit.defaults.lead_valuation.unit_name == "guest"


def test_an_agent_override_changes_only_what_it_names():
    rules = RuleSet.model_validate(
        {
            "version": 3,
            "defaults": {"conversion_ratio": 0.9, "time_zone": "Europe/Berlin"},
            "agents": {"night-bot": {"conversion_ratio": 0.5, "recognition": {"overflow": False}}},
        }
    )
    night = rules_for(rules, "night-bot")
    assert night.conversion_ratio == 0.5
    assert night.recognition.overflow is False
    assert night.time_zone == "Europe/Berlin"  # inherited
    assert rules_for(rules, "someone-else") == rules.defaults
    assert rules_for(rules, None) == rules.defaults


def test_defaults_are_version_zero_and_round_trip_as_json():
    assert DEFAULT_RULES.version == 0
    assert DEFAULT_RULES.lead_merge_identifiers == frozenset(LeadIdentifier)
    assert RuleSet.model_validate_json(DEFAULT_RULES.model_dump_json()) == DEFAULT_RULES


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, SessionLength.short),
        (59, SessionLength.short),
        (60, SessionLength.medium),
        (599, SessionLength.medium),
        (600, SessionLength.long),
    ],
)
def test_session_length_classes(seconds, expected):
    assert SessionLengthThresholds().classify(seconds) is expected


def test_missed_question_normalisation():
    text = "  Do you   have\tparking?\n"
    assert MissedQuestionNormalisation().normalise(text) == "Do you have parking?"
    folded = MissedQuestionNormalisation(case_fold=True).normalise(text)
    assert folded == "do you have parking?"
    assert MissedQuestionNormalisation(collapse_whitespace=False).normalise("a  b") == "a  b"
