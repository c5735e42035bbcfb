"""Agent Success Rate and its parts, exactly as DESIGN §4 defines them: pure functions.

ASR = lead value × is opportunity (1/0) × conversion ratio × agent success factor × recognition,
summed over a period; test sessions never count. OSS is the mean success factor over
opportunities, CSS the mean of 0.2 × stars.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean

from domain.rules import AgentRules, Weekday
from domain.values import Assessment

SUCCESS_FACTOR = {Assessment.yes_a: 1.0, Assessment.yes_b: 1.0, Assessment.no: 0.0}
STAR_WEIGHT = 0.2


@dataclass(frozen=True)
class SessionFacts:
    """What the ASR of one session depends on, as its events established it."""

    started_at: datetime
    is_lead: bool = False
    units: float | None = None
    refused: bool = False
    unavailable: bool = False
    has_phone_or_email: bool = False
    opportunity_override: bool | None = None
    auto_assessment: Assessment | None = None
    human_assessment: Assessment | None = None
    is_test: bool = False


@dataclass(frozen=True)
class AsrFigures:
    lead_value: float
    is_opportunity: bool
    conversion_ratio: float
    in_working_hours: bool
    recognition: float
    success_factor: float | None
    asr: float


def lead_value(is_lead: bool, units: float | None, rules: AgentRules) -> float:
    if not is_lead:
        return 0.0
    valuation = rules.lead_valuation
    if valuation.value_per_unit is not None:
        return (units or 0.0) * valuation.value_per_unit
    return valuation.average_lead_value or 0.0


def is_opportunity(facts: SessionFacts) -> bool:
    """A lead the agent could act on, unless a human said otherwise."""
    if facts.opportunity_override is not None:
        return facts.opportunity_override
    return (
        facts.is_lead and not facts.refused and not facts.unavailable and facts.has_phone_or_email
    )


def effective_assessment(auto: Assessment | None, human: Assessment | None) -> Assessment | None:
    return human or auto


def success_factor(auto: Assessment | None, human: Assessment | None) -> float | None:
    """1 for Yes-A/Yes-B, 0 for No, ``None`` while nobody (and no analysis) has assessed it."""
    assessment = effective_assessment(auto, human)
    return SUCCESS_FACTOR[assessment] if assessment is not None else None


def in_working_hours(moment: datetime, rules: AgentRules) -> bool:
    local = moment.astimezone(rules.zone)
    day = rules.working_hours.get(Weekday.of(local), [])
    clock = local.time()
    return any(opening.contains(clock) for opening in day)


def recognition(started_at: datetime, rules: AgentRules) -> float:
    return _recognition(in_working_hours(started_at, rules), rules)


def _recognition(working: bool, rules: AgentRules) -> float:
    if not working:
        return 1.0  # nobody else would have answered
    setup = rules.recognition
    return 1.0 if setup.overflow else setup.missed_call_share


def session_asr(facts: SessionFacts, rules: AgentRules) -> AsrFigures:
    """Every ASR figure of one session; a test session's ASR is 0 (it never counts)."""
    value = lead_value(facts.is_lead, facts.units, rules)
    opportunity = is_opportunity(facts)
    success = success_factor(facts.auto_assessment, facts.human_assessment)
    working = in_working_hours(facts.started_at, rules)
    recognised = _recognition(working, rules)  # working hours are not looked up twice
    counted = opportunity and not facts.is_test
    asr = value * rules.conversion_ratio * (success or 0.0) * recognised if counted else 0.0
    return AsrFigures(
        lead_value=value,
        is_opportunity=opportunity,
        conversion_ratio=rules.conversion_ratio,
        in_working_hours=working,
        recognition=recognised,
        success_factor=success,
        asr=asr,
    )


def oss(success_factors: Iterable[float | None]) -> float | None:
    """Mean success factor over opportunities; unassessed ones have no factor and are skipped."""
    assessed = [factor for factor in success_factors if factor is not None]
    return fmean(assessed) if assessed else None


def css(stars: Iterable[int | None]) -> float | None:
    """Mean of 0.2 × stars over the sessions that were rated."""
    rated = [STAR_WEIGHT * star for star in stars if star is not None]
    return fmean(rated) if rated else None
