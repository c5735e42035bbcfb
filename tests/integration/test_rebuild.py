"""Blue/green rebuilds against a real PostgreSQL: rules versions per generation, the live
tables untouched, the switch-over losing no event while a stream processor keeps applying,
and a rebuild killed half way (SIGKILL) resumed to the same tables."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest

from api.commands import Caller, StreamCommands
from api.queries import SessionQueries
from api.rules import WorkspaceRulesBook
from api.session_filters import SessionListQuery
from domain.envelope import Actor, ActorKind
from domain.rules import AgentRules, Recognition, RuleSet, TimeRange
from infra.database import apply_schema, create_pool
from infra.event_store import EventStore
from projections.engine import ProjectionEngine, _in_pipeline_order
from projections.generations import GenerationRefused, Generations, live_table
from projections.rebuild import BackgroundRebuilds, Rebuild, RebuildCancelled
from projections.registry import read_model_schema, streaming_projections
from tests.builders import SessionScript

WORKSPACE = "w1"
ADMIN = Caller(
    workspace_id=WORKSPACE, actor=Actor(kind=ActorKind.api_key, id="k1", name="admin key")
)
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
COMPARED_COLUMNS = "session_id, asr, recognition, conversion_ratio, lead_value, is_opportunity"


def rules(conversion_ratio: float, opens: int) -> RuleSet:
    return RuleSet(
        defaults=AgentRules(
            conversion_ratio=conversion_ratio,
            recognition=Recognition(overflow=False, missed_call_share=0.25),
            working_hours={"monday": [TimeRange(start=f"{opens:02d}:00", end="17:00")]},
        )
    )


class Ledger:
    """A store, the read-model schema, and a stand-in for the stream processor that applies
    the log in batches through the same ``LiveProjections`` the worker uses."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.store = EventStore(url, pool_size=4, group_commit=False)
        self.store.create_schema()
        apply_schema(url, read_model_schema())
        self.pool = create_pool(url, size=6, name="test")
        self.engine = ProjectionEngine(self.pool, streaming_projections(self.store), self.store)
        self.rules = WorkspaceRulesBook(self.store, StreamCommands(self.store))
        self.streamed = 0

    def publish(self, ruleset: RuleSet) -> int:
        return self.rules.publish(ruleset, "test", ADMIN).events[0].version

    def ingest_lead(self, at: datetime = MONDAY_10, **start) -> SessionScript:
        script = SessionScript(WORKSPACE, at=at, positions=itertools.count(1))
        script.start(contact={"email": "ada@example.com"}, **start).say("A table for two?")
        script.record(
            "session.analyzed", is_lead=True, auto_assessment="Yes-A", conversation_quality=4
        )
        self.store.append(script.events)
        return script

    def stream(self, batch: int = 7) -> None:
        """Apply what the log holds past what was streamed, like the worker would."""
        while events := self.store.read_log(self.streamed, batch):
            self.engine.apply_batch(events)
            self.streamed = events[-1].position

    def rows(self, table: str) -> list[tuple]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(
                f'SELECT {COMPARED_COLUMNS} FROM "{table}" ORDER BY session_id'
            ).fetchall()

    def live(self, table: str) -> str:
        with self.pool.connection() as conn:
            return live_table(conn, table)

    def close(self) -> None:
        self.pool.close()
        self.store.close()


@pytest.fixture
def ledger(database_url):
    opened = Ledger(database_url)
    yield opened
    opened.close()


def test_a_rebuild_under_new_rules_fills_new_tables_and_switches_in(ledger):
    ledger.publish(rules(0.5, opens=9))
    ledger.ingest_lead()
    ledger.stream()
    live_before = ledger.rows("session_list")
    assert [row[1:4] for row in live_before] == [(1.0, 1.0, 1.0)]  # built-in rules, version 0

    v2 = ledger.publish(rules(0.8, opens=13))
    rebuild = Rebuild(ledger.pool, ledger.store, batch_size=3)
    shadow = rebuild.run(rebuild.start("asr_metrics", {WORKSPACE: v2}))

    assert shadow.status == "shadow" and shadow.tables["session_list"] == "session_list__g2"
    # 10:00 is outside Monday's 13:00-17:00: recognition 1; ASR = 1 x 0.8 x 1 x 1.
    assert [row[1:4] for row in ledger.rows("session_list__g2")] == [(0.8, 1.0, 0.8)]
    assert ledger.rows("session_list") == live_before  # the live tables never changed
    assert ledger.live("session_list") == "session_list"

    Generations(ledger.pool).switch("session_list", shadow.generation)
    assert ledger.live("session_list") == "session_list__g2"
    assert ledger.live("asr_metrics") == "asr_metrics__g2"

    ledger.ingest_lead(at=MONDAY_10.replace(hour=14))  # inside v2's hours: recognition 0.25
    ledger.stream()
    assert sorted(row[1] for row in ledger.rows("session_list__g2")) == [0.2, 0.8]
    assert len(ledger.rows("session_list")) == 1  # retired: no longer fed


@pytest.mark.parametrize("partitions", [1, 2])
def test_the_switch_over_loses_no_event_while_the_stream_processor_keeps_applying(
    ledger, partitions
):
    for _ in range(30):
        ledger.ingest_lead()
    ledger.stream()
    done = threading.Event()

    def keep_ingesting_and_streaming() -> None:
        while not done.is_set():
            ledger.ingest_lead()
            ledger.stream(batch=3)

    writer = threading.Thread(target=keep_ingesting_and_streaming)
    writer.start()
    try:
        rebuild = Rebuild(
            ledger.pool, ledger.store, batch_size=10, catch_up_distance=5, partitions=partitions
        )
        shadow = rebuild.run(rebuild.start("session_list", None))
        time.sleep(0.5)  # events after the catch-up now reach the shadow through the stream
    finally:
        done.set()
        writer.join()
    ledger.stream()
    assert shadow.status == "shadow"
    # Same rules (the built-in ones) and same folds: the two generations must be identical.
    assert ledger.rows("session_list__g2") == ledger.rows("session_list")
    assert len(ledger.rows("session_list")) > 30


def test_the_last_progress_counts_the_events_the_catch_up_applied(ledger):
    """Within ``catch_up_distance`` of the head from the start, every event is applied by the
    catch-up transaction: the last progress reported says so, as the generation records."""
    for _ in range(5):
        ledger.ingest_lead()
    reported = []
    rebuild = Rebuild(
        ledger.pool, ledger.store, catch_up_distance=10**6, on_progress=reported.append
    )
    shadow = rebuild.run(rebuild.start("session_list", None))
    events = len(ledger.store.read_log(0, 10_000))
    assert shadow.events_done == events > 0
    assert (reported[-1].events_done, reported[-1].position) == (events, shadow.position)


def test_a_second_driver_of_the_same_generation_is_refused(ledger):
    ledger.ingest_lead()
    rebuild = Rebuild(ledger.pool, ledger.store)
    generation = rebuild.start("session_list", None)
    with ledger.pool.connection() as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (generation.key,))
        with pytest.raises(GenerationRefused):
            Rebuild(ledger.pool, ledger.store).run(generation)
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (generation.key,))


def _indexes(url: str, table: str) -> list[str]:
    """The table's index definitions, written as if over the live table."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (table,)
        ).fetchall()
    return sorted(definition.replace(table, "session_list") for (definition,) in rows)


def test_a_rebuild_defers_the_list_indexes_and_ends_with_all_of_them(ledger):
    for _ in range(12):
        ledger.ingest_lead()
    ledger.stream()
    while_loading: list[int] = []  # how many indexes the new table had, batch by batch
    rebuild = Rebuild(
        ledger.pool,
        ledger.store,
        batch_size=5,
        catch_up_distance=2,
        on_progress=lambda _: while_loading.append(len(_indexes(ledger.url, "session_list__g2"))),
    )
    shadow = rebuild.run(rebuild.start("session_list", None))
    assert shadow.status == "shadow"
    # Loading: only the primary key; the last report is the caught-up one.
    assert len(while_loading) > 3 and set(while_loading[:-1]) == {1}
    assert len(_indexes(ledger.url, "session_list")) > 10
    assert _indexes(ledger.url, "session_list__g2") == _indexes(ledger.url, "session_list")
    assert ledger.rows("session_list__g2") == ledger.rows("session_list")


def _position(url: str, generation: int) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT position FROM read_model_generations WHERE generation = %s", (generation,)
        ).fetchone()
    return row[0] if row else 0


def test_a_rebuild_killed_half_way_resumes_to_the_same_tables(ledger):
    for _ in range(60):
        ledger.ingest_lead()
    ledger.stream()
    head = ledger.store.max_position()
    command = [sys.executable, "-m", "api.cli", "rebuild", "session_list", "--batch-size", "5"]
    env = {**os.environ, "LEDGER_DATABASE_URL": ledger.url, "LEDGER_LOG_JSON": "true"}
    first = subprocess.Popen(
        [*command, "--no-switch"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while _position(ledger.url, 2) <= head // 2:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the rebuild did not get half way"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = _position(ledger.url, 2)
    assert killed_at < head, "killed too late to prove anything"

    resumed = subprocess.run(
        [*command, "--no-switch"], env=env, capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"from position {killed_at}" in resumed.stderr
    assert ledger.rows("session_list__g2") == ledger.rows("session_list")
    with psycopg.connect(ledger.url) as conn:
        metrics = [
            conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4").fetchall()
            for table in ("asr_metrics", "asr_metrics__g2")
        ]
    assert metrics[0] == metrics[1]


def test_the_session_list_reads_naive_times_in_the_live_generations_time_zone(ledger):
    """10:00 UTC on a Monday is 11:00 in Berlin: a filter "from 10:30" (naive, local)
    includes the session under rules in Berlin time and excludes it under UTC rules."""
    ledger.ingest_lead()
    ledger.stream()
    berlin = rules(0.5, opens=9)
    berlin = berlin.model_copy(
        update={"defaults": berlin.defaults.model_copy(update={"time_zone": "Europe/Berlin"})}
    )
    version = ledger.publish(berlin)
    queries = SessionQueries(ledger.pool, source=ledger.store)
    from_half_past_ten = SessionListQuery(started_from=datetime(2026, 3, 2, 10, 30))

    assert queries.page(WORKSPACE, from_half_past_ten).items == []  # live: built-in, UTC

    rebuild = Rebuild(ledger.pool, ledger.store, batch_size=3)
    shadow = rebuild.run(rebuild.start("session_list", {WORKSPACE: version}))
    assert queries.page(WORKSPACE, from_half_past_ten).items == []  # a shadow is not read
    Generations(ledger.pool).switch("session_list", shadow.generation)

    assert len(queries.page(WORKSPACE, from_half_past_ten).items) == 1
    assert queries.view(WORKSPACE)[1].defaults.time_zone == "Europe/Berlin"
    assert queries.view("another workspace")[1].defaults.time_zone == "UTC"


def test_a_partitioned_rebuild_cancelled_half_way_stops_and_leaves_its_processes_ended(ledger):
    for _ in range(40):
        ledger.ingest_lead()
    ledger.stream()
    generations = Generations(ledger.pool)

    def cancel_once_started(progress) -> None:
        # Reported before each batch is handed out; by the fourth, two have been recorded.
        if progress.events_done >= 30:
            generations.cancel("session_list")

    rebuild = Rebuild(
        ledger.pool, ledger.store, batch_size=10, partitions=2, on_progress=cancel_once_started
    )
    generation = rebuild.start("session_list", None)
    with pytest.raises(RebuildCancelled):
        rebuild.run(generation)
    cancelled = generations.get("session_list", generation.generation)
    assert cancelled.status == "cancelled"
    assert 0 < cancelled.position < ledger.store.max_position()
    assert multiprocessing.active_children() == []


def test_a_partitioned_rebuild_stopped_half_way_records_every_batch_it_handed_out(ledger):
    """Batches are handed to the partitions ahead of the one applying; a stop waits for
    them, so the recorded progress covers exactly what was applied, and a resumed rebuild
    starts there and ends with the live tables."""
    for _ in range(40):
        ledger.ingest_lead()
    ledger.stream()
    stop = threading.Event()
    reported: list[int] = []

    def stop_at_the_fourth_batch(progress) -> None:  # reported before each batch
        reported.append(progress.events_done)
        if len(reported) == 4:
            stop.set()

    rebuild = Rebuild(
        ledger.pool,
        ledger.store,
        batch_size=10,
        partitions=2,
        catch_up_distance=0,
        on_progress=stop_at_the_fourth_batch,
        stop=stop,
    )
    stopped = rebuild.run(rebuild.start("session_list", None))
    assert stopped.status == "building"
    # Four batches of ten handed out, the fourth still applying when the stop was seen.
    assert (stopped.position, stopped.events_done) == (40, 40)

    resumed = Rebuild(ledger.pool, ledger.store, batch_size=10, partitions=2)
    assert resumed.run(resumed.start("session_list", None)).status == "shadow"
    assert ledger.rows("session_list__g2") == ledger.rows("session_list")


def test_a_batch_applies_the_largest_write_first_and_the_log_ordered_read_model_before_it(ledger):
    """In the worker's pipeline a read waits for every write sent before it: leads (which
    reads its cursor and state each batch) goes first, then session_list's generations (the
    largest write, which PostgreSQL runs while the worker folds the rest)."""
    rebuild = Rebuild(ledger.pool, ledger.store)
    generation = rebuild.run(rebuild.start("missed_questions", None))
    assert generation.status == "shadow"
    live = streaming_projections(ledger.store)
    with ledger.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        fed = live.current(cur)
    names = [projection.name for projection in fed]
    assert names == ["session_list", "missed_questions", generation.key, "leads", "audit_trail"]
    applied = [projection.name for projection in _in_pipeline_order(fed)]
    assert applied == ["leads", "session_list", "missed_questions", generation.key, "audit_trail"]


def test_an_older_shadow_switches_in_after_a_newer_one(ledger):
    """The one-live index is checked row by row: promoting a generation whose row comes
    before the live one's must still succeed."""
    ledger.ingest_lead()
    ledger.stream()
    rebuild = Rebuild(ledger.pool, ledger.store)
    older = rebuild.run(rebuild.start("audit_trail", None))
    newer = rebuild.run(rebuild.start("audit_trail", None))
    generations = Generations(ledger.pool)
    generations.switch("audit_trail", newer.generation)
    generations.switch("audit_trail", older.generation)
    assert ledger.live("audit_trail") == f"audit_trail__g{older.generation}"
    statuses = {g.generation: g.status for g in generations.list("audit_trail")}
    assert statuses[newer.generation] == "retired" and statuses[older.generation] == "live"


def test_the_same_rebuild_asked_again_resumes_when_the_live_rules_name_other_workspaces(ledger):
    other = Caller(workspace_id="w2", actor=ADMIN.actor)
    rebuild = Rebuild(ledger.pool, ledger.store)
    generations = Generations(ledger.pool)
    generations.switch(
        "session_list",
        rebuild.run(
            rebuild.start("session_list", {WORKSPACE: ledger.publish(RuleSet())})
        ).generation,
    )
    w2_v1 = ledger.rules.publish(RuleSet(), "w2's first", other).version
    building = rebuild.start("session_list", {"w2": w2_v1})
    assert building.rules_versions == {WORKSPACE: 1, "w2": 1}
    assert rebuild.start("session_list", {"w2": w2_v1}).generation == building.generation
    w2_v2 = ledger.rules.publish(RuleSet(), "w2's second", other).version
    with pytest.raises(GenerationRefused, match="cancel it first"):
        rebuild.start("session_list", {"w2": w2_v2})


def test_a_background_rebuild_another_process_drives_is_refused_not_accepted(ledger):
    """Refused at once (409), not answered 202 while its thread gives up: the caller's
    switch would be lost."""
    rebuild = Rebuild(ledger.pool, ledger.store)
    generation = rebuild.start("audit_trail", None)
    background = BackgroundRebuilds(ledger.pool, ledger.store)
    with psycopg.connect(ledger.url, autocommit=True) as driver:
        driver.execute("SELECT pg_advisory_lock(hashtext(%s))", (generation.key,))
        with pytest.raises(GenerationRefused, match="another process"):
            background.start("audit_trail", None, switch=True)
    resumed = background.start("audit_trail", None, switch=True)  # the driver is gone
    background.close()
    assert resumed.generation == generation.generation
