"""The rules a workspace's analytics are computed under (DESIGN §4): pure values, no I/O.

A ``RuleSet`` is one whole, versioned set of rules for a workspace; ``version`` 0 is the
built-in default (``DEFAULT_RULES``). It is a plain frozen pydantic model so that a
``rules.published`` event can embed it as it is. The rules that may differ per agent live in
``AgentRules``; a ``RuleSet`` holds the workspace's ``defaults`` and per-agent overrides, and
``rules_for`` resolves the rules one agent works under.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    model_validator,
)
from pydantic.fields import FieldInfo

from domain.values import StorableInt

Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
Money = Annotated[float, Field(ge=0.0)]


def _known_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown IANA time zone {name!r}") from error
    return name


TimeZoneName = Annotated[
    str, StringConstraints(min_length=1, max_length=100), AfterValidator(_known_time_zone)
]


class _Rules(BaseModel):
    # Every number of a rule set is finite: JSON cannot hold NaN or infinity (it would be
    # stored as null, which the stored event's own model then refuses on every later read).
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Weekday(StrEnum):
    """In ``datetime.weekday()`` order, so ``list(Weekday)[moment.weekday()]`` is its day."""

    monday = "monday"
    tuesday = "tuesday"
    wednesday = "wednesday"
    thursday = "thursday"
    friday = "friday"
    saturday = "saturday"
    sunday = "sunday"

    @classmethod
    def of(cls, moment: datetime) -> Weekday:
        return _WEEKDAYS[moment.weekday()]


# Listed once: ``Weekday.of`` runs for every session row a read model derives.
_WEEKDAYS = tuple(Weekday)


class LeadIdentifier(StrEnum):
    email = "email"
    phone = "phone"
    external_id = "external_id"


class SessionLength(StrEnum):
    short = "short"
    medium = "medium"
    long = "long"


def _local(moment: time) -> time:
    # An offset would be a second, conflicting answer to where the hours are kept, and an
    # aware time cannot be compared with the naive local times they are checked against.
    if moment.tzinfo is not None:
        raise ValueError(
            "must be a local time without a UTC offset (the rules' time_zone gives the zone)"
        )
    return moment


LocalTime = Annotated[time, AfterValidator(_local)]


class TimeRange(_Rules):
    """Local opening time ``start`` (inclusive) to ``end`` (exclusive); end 00:00 = midnight."""

    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _starts_before_it_ends(self) -> Self:
        if self.end != time(0) and self.end <= self.start:
            raise ValueError("end must be after start (00:00 means the following midnight)")
        return self

    def contains(self, moment: time) -> bool:
        return self.start <= moment and (self.end == time(0) or moment < self.end)

    def overlaps(self, other: TimeRange) -> bool:
        return self.contains(other.start) or other.contains(self.start)


def _without_overlaps(ranges: list[TimeRange]) -> list[TimeRange]:
    ordered = sorted(ranges, key=lambda r: r.start)
    for earlier, later in pairwise(ordered):
        if earlier.overlaps(later):
            raise ValueError(f"{earlier.start}-{earlier.end} overlaps {later.start}-{later.end}")
    return ordered


DaySchedule = Annotated[list[TimeRange], AfterValidator(_without_overlaps)]
OFFICE_HOURS = [TimeRange(start=time(9), end=time(17))]


class LeadValuation(_Rules):
    """What one lead is worth: a flat average, or its units (guests, m²) × value per unit.

    A per-unit lead whose units were not collected is worth 0: there is nothing to multiply.
    """

    average_lead_value: Money | None = 1.0
    value_per_unit: Money | None = None
    unit_name: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_way_to_value(self) -> Self:
        if (self.average_lead_value is None) == (self.value_per_unit is None):
            raise ValueError("give exactly one of average_lead_value and value_per_unit")
        if (self.value_per_unit is None) != (self.unit_name is None):
            raise ValueError("unit_name is given exactly when value_per_unit is")
        return self


class Recognition(_Rules):
    """How much of a conversation inside working hours the agent may claim.

    Overflow set-ups (humans answer first, the agent takes what they miss) claim all of it;
    otherwise only the historical share of calls the humans missed.
    """

    overflow: bool = True
    missed_call_share: Ratio = 1.0


class SessionLengthThresholds(_Rules):
    """Shorter than ``short_below_seconds`` is short; ``long_from_seconds`` or more is long."""

    short_below_seconds: StorableInt = Field(default=60, ge=0)
    long_from_seconds: StorableInt = Field(default=600, ge=1)

    @model_validator(mode="after")
    def _short_before_long(self) -> Self:
        if self.short_below_seconds >= self.long_from_seconds:
            raise ValueError("short_below_seconds must be less than long_from_seconds")
        return self

    def classify(self, seconds: float) -> SessionLength:
        if seconds < self.short_below_seconds:
            return SessionLength.short
        if seconds >= self.long_from_seconds:
            return SessionLength.long
        return SessionLength.medium


class AgentRules(_Rules):
    """Everything that may differ per agent, fully resolved (see ``rules_for``)."""

    lead_valuation: LeadValuation = LeadValuation()
    conversion_ratio: Ratio = 1.0
    recognition: Recognition = Recognition()
    working_hours: dict[Weekday, DaySchedule] = Field(
        default_factory=lambda: {day: OFFICE_HOURS for day in list(Weekday)[:5]},
        description="Local opening times per weekday; a day not listed is closed.",
    )
    time_zone: TimeZoneName = "UTC"
    session_length: SessionLengthThresholds = SessionLengthThresholds()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def _optional(field: FieldInfo) -> tuple[object, None]:
    constrained = (
        Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
    )
    return (constrained | None, None)


# The same fields as AgentRules, each optional: an agent overrides only what it names.
# Generated rather than restated so the two can never drift apart.
AgentOverride = create_model(
    "AgentOverride",
    __base__=_Rules,
    **{name: _optional(field) for name, field in AgentRules.model_fields.items()},
)


class MissedQuestionNormalisation(_Rules):
    """How a missed question's wording is normalised before grouping identical questions."""

    collapse_whitespace: bool = True
    case_fold: bool = False

    def normalise(self, question: str) -> str:
        text = re.sub(r"\s+", " ", question).strip() if self.collapse_whitespace else question
        return text.casefold() if self.case_fold else text


# An E.164 country calling code, digits only: 1 to 3 of them, never starting with 0.
CountryCallingCode = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,2}$")]


class RuleSet(_Rules):
    """One workspace's whole set of rules at one version (0: the built-in defaults)."""

    version: StorableInt = Field(default=0, ge=0)
    defaults: AgentRules = AgentRules()
    agents: dict[str, AgentOverride] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="Per agent id: the rules that differ for it."
    )
    lead_merge_identifiers: frozenset[LeadIdentifier] = frozenset(LeadIdentifier)
    default_country_code: CountryCallingCode | None = Field(
        default=None,
        description="E.164 country calling code (digits, e.g. '44') that a phone number"
        " written without an international prefix is read in; none: such numbers do not"
        " merge leads.",
    )
    missed_questions: MissedQuestionNormalisation = MissedQuestionNormalisation()


DEFAULT_RULES = RuleSet()


def rules_for(ruleset: RuleSet, agent_id: str | None) -> AgentRules:
    """The rules ``agent_id`` works under: the workspace defaults with its overrides applied."""
    override = ruleset.agents.get(agent_id) if agent_id is not None else None
    if override is None:
        return ruleset.defaults
    changed = {name: getattr(override, name) for name in override.model_fields_set}
    return ruleset.defaults.model_copy(
        update={name: value for name, value in changed.items() if value is not None}
    )


class WorkspaceRules:
    """The rule set each workspace's rows are computed under in one read model generation
    (a workspace not named works under ``default``, the built-in rules unless given)."""

    def __init__(
        self, by_workspace: dict[str, RuleSet] | None = None, default: RuleSet = DEFAULT_RULES
    ) -> None:
        self.by_workspace = dict(by_workspace or {})
        self.default = default

    @classmethod
    def of_any(cls, rules: RuleSet | WorkspaceRules) -> WorkspaceRules:
        return rules if isinstance(rules, WorkspaceRules) else cls(default=rules)

    def of(self, workspace_id: str) -> RuleSet:
        return self.by_workspace.get(workspace_id, self.default)
