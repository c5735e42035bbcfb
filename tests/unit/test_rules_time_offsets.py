"""Working hours are local times: the rules' ``time_zone`` says where, so a time carrying a
UTC offset is refused naming the field, never stored to fail later comparisons."""

from __future__ import annotations

from datetime import time

import pytest
from pydantic import ValidationError

from domain.rules import RuleSet, Weekday

REASON = "must be a local time without a UTC offset (the rules' time_zone gives the zone)"


def _errors(day: list[dict], where: str = "defaults") -> list[tuple[str, str]]:
    rules = {"working_hours": {"monday": day}}
    document = {"defaults": rules} if where == "defaults" else {"agents": {"a1": rules}}
    with pytest.raises(ValidationError) as raised:
        RuleSet.model_validate(document)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in raised.value.errors()]


@pytest.mark.parametrize("where", ["defaults", "agents.a1"])
@pytest.mark.parametrize(
    ("day", "field"),
    [
        # all aware: once stored, the naive local time of a session could not be compared
        ([{"start": "09:00:00+02:00", "end": "17:00:00+02:00"}], "0.start"),
        # mixed: comparing start and end raised TypeError, a 500
        ([{"start": "09:00", "end": "17:00Z"}], "0.end"),
        ([{"start": "09:00", "end": "12:00"}, {"start": "13:00-05:00", "end": "17:00"}], "1.start"),
    ],
)
def test_a_time_with_an_offset_is_refused_naming_the_field(where, day, field):
    errors = _errors(day, where)
    assert errors[0][0] == f"{where}.working_hours.monday.{field}"
    assert all(message.endswith(REASON) for _, message in errors)


def test_local_times_still_pass():
    rules = RuleSet.model_validate(
        {"defaults": {"working_hours": {"monday": [{"start": "09:00", "end": "00:00"}]}}}
    )
    [hours] = rules.defaults.working_hours[Weekday.monday]
    assert (hours.start, hours.end) == (time(9), time(0))
    assert hours.start.tzinfo is None
