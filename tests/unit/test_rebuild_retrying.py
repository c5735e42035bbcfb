"""A rebuild's batch is applied again while the database, not the batch, fails."""

from __future__ import annotations

import psycopg
import pytest

from projections import rebuild


class Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch):
    monkeypatch.setattr(rebuild.time, "sleep", lambda _seconds: None)


def test_a_deadlock_victim_is_applied_again():
    apply = Flaky([psycopg.errors.DeadlockDetected("deadlock detected")])
    rebuild.retrying(apply)
    assert apply.calls == 2


def test_a_database_that_keeps_failing_stops_the_rebuild_after_the_last_attempt():
    apply = Flaky([psycopg.OperationalError("server closed the connection")] * 10)
    with pytest.raises(psycopg.OperationalError):
        rebuild.retrying(apply)
    assert apply.calls == rebuild.ATTEMPTS


@pytest.mark.parametrize("error", [rebuild.RebuildCancelled("cancelled"), ValueError("a bug")])
def test_anything_else_is_not_tried_again(error):
    apply = Flaky([error])
    with pytest.raises(type(error)):
        rebuild.retrying(apply)
    assert apply.calls == 1
