"""The last day of a metrics period, which a clipped row's `last_day` is measured against."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from api.queries import MetricsPeriod


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(9999, 11, 30)))
def test_a_month_ends_on_the_day_before_the_next_month_begins(day):
    start = day.replace(day=1)
    end = MetricsPeriod.month.last_day(start)
    assert end.month == start.month
    assert (end + timedelta(days=1)).day == 1


def test_weeks_and_days():
    assert MetricsPeriod.week.last_day(date(2026, 11, 16)) == date(2026, 11, 22)
    assert MetricsPeriod.day.last_day(date(2026, 11, 16)) == date(2026, 11, 16)
    assert MetricsPeriod.month.last_day(date(2028, 2, 1)) == date(2028, 2, 29)
    assert MetricsPeriod.month.last_day(date(9999, 12, 1)) == date(9999, 12, 31)
