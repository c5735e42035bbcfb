"""Fault drills: a steady ingest through the API, a fault, and at the end a count of what
survived (tests/drills/audit.py). Nothing acknowledged may be lost or stored twice.

Each drill starts its own stack. Run them with `make drills`; docs/drills.md has the method
and the latest results.
"""

from __future__ import annotations

import signal
import time

import pytest

from bench import ledger_state
from infra.embedded import EmbeddedBroker
from tests.drills.conftest import assert_survived

pytestmark = [pytest.mark.drills, pytest.mark.stack]

BROKER_PAUSE = 30.0
POSTGRES_DOWN = 8.0


def test_worker_killed_mid_batch(drill):
    drill.start_ingest()
    drill.wait_acknowledged(300)
    for _ in range(3):
        _wait_worker_busy(drill)
        drill.stack.services["worker"].signal(signal.SIGKILL)  # the supervisor restarts it
        drill.recovered_after(time.monotonic())
    assert_survived(drill.finish())


def test_relay_killed_between_producing_and_recording(drill):
    drill.start_ingest(rate=300)
    drill.wait_acknowledged(200)
    relay = drill.stack.services["relay"]
    relay.signal(signal.SIGSTOP)  # a backlog builds up while it is frozen
    drill.wait_acknowledged(drill.ingest.stats.events_acknowledged + 1500)
    recorded = ledger_state.relay_position(drill.url)
    relay.signal(signal.SIGCONT)
    # Publishing 1,000 events and then recording the position: kill it as it produces.
    time.sleep(0.15)
    relay.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    drill.recovered_after(killed_at)
    report = drill.finish()
    assert_survived(report)
    print(f"relay position when killed: {recorded}; copies on Kafka: {report.kafka_copies}")


def test_broker_paused_then_restarted_empty(drill):
    if drill.stack.broker is None:
        pytest.skip("the broker is an external cluster (LEDGER_KAFKA_BOOTSTRAP)")
    drill.start_ingest()
    drill.wait_acknowledged(300)
    broker = drill.stack.broker
    broker.process.signal(signal.SIGSTOP)
    time.sleep(BROKER_PAUSE)
    broker.process.signal(signal.SIGCONT)
    drill.recovered_after(time.monotonic())

    with drill.supervisor.paused():  # a dead broker ends a supervised stack: replace it first
        broker.stop()
        drill.stack.broker = EmbeddedBroker(drill.stack.data_dir, port=broker.port)
        drill.stack.broker.start()
    drill.recovered_after(time.monotonic())
    assert_survived(drill.finish())


def test_postgres_restarted_under_load(drill_own_postgres):
    drill = drill_own_postgres
    postgres = drill.stack.postgres
    drill.start_ingest()
    drill.wait_acknowledged(300)
    with drill.supervisor.paused():  # a dead PostgreSQL ends a supervised stack
        postgres.stop()
        time.sleep(POSTGRES_DOWN)
        postgres.start()
    drill.recovered_after(time.monotonic())
    report = drill.finish()
    assert_survived(report)
    assert drill.ingest.stats.missing_retry_after == 0, "a 503 without Retry-After"
    assert report.statuses.get(503, 0) > 0, "the API never answered 503 while PostgreSQL was down"


def _wait_worker_busy(drill, timeout: float = 30) -> None:
    """Until the worker is applying batches (so a kill lands mid-batch, or near one)."""
    before = ledger_state.events_applied(drill.url)
    ledger_state.wait(
        lambda: ledger_state.events_applied(drill.url) > before,
        timeout=timeout,
        interval=0.05,
        what="the worker applying events",
    )
