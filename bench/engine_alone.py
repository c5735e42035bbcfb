"""The read models' part of streaming, without faust or Kafka: the projection engine applies
an interleaved backlog read from the event store, in the worker's batches, to a fresh copy of
a seeded template database. Each run starts from the same state, so two checkouts can be
compared run for run, alternately (the streaming scenario's rate swings by ten points
between runs on a shared machine; this one by less).

    python -m bench.engine_alone --server URL seed NAME [--events 50000]
    python -m bench.engine_alone --server URL run NAME [--batch 1000] [--segments 4]
    python -m bench.engine_alone --server URL drop NAME

``--server`` is any database URL of a PostgreSQL server (default: ``LEDGER_DATABASE_URL``).
The garbage collector is tuned as in the worker's child: left at its defaults, collections
walking the backlog held in memory were charged to whichever read model allocated next
(measured: 25 µs/event to one read model's row reading, 1 µs with the tuning).
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

import psycopg
from psycopg import sql

from bench.harness import micros_each, postgres_cpu_seconds
from bench.scenarios import seed_store
from infra.database import apply_schema, create_database, create_pool, drop_database, server_url
from infra.event_store import EventStore
from infra.gc_tuning import tune_garbage_collection
from projections.engine import ProjectionEngine
from projections.registry import read_model_schema, streaming_projections

WORKSPACE = "bench"
CONCURRENT_CONVERSATIONS = 500
WARM_UP_EVENTS = 10  # the first batch reads the generations and prepares statements


def seed(server: str, name: str, events: int) -> int:
    url = server_url(server, name)
    drop_database(url)
    create_database(url)
    store = EventStore(url, pool_size=2)
    try:
        store.create_schema()
        apply_schema(url, read_model_schema())
        stored = seed_store(url, events, workspace=WORKSPACE, concurrent=CONCURRENT_CONVERSATIONS)
    finally:
        store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return stored


def run(server: str, template: str, batch: int, segments: int = 1) -> str:
    copy = f"engine_alone_{uuid.uuid4().hex[:8]}"
    url = server_url(server, copy)
    with psycopg.connect(server_url(server), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(copy), sql.Identifier(template)
            )
        )
    try:
        return _apply_backlog(url, batch, segments)
    finally:
        drop_database(url)


def _apply_backlog(url: str, batch: int, segments: int) -> str:
    """The backlog applied in ``segments`` consecutive parts, each timed on its own: whether
    the cost per event stays flat as the read models' tables grow."""
    store = EventStore(url, pool_size=2)
    pool = create_pool(url, size=2, name="engine-alone")
    try:
        backlog = _read_all(store)
        engine = ProjectionEngine(pool, streaming_projections(store), store)
        engine.apply_batch(backlog[:WARM_UP_EVENTS])
        backlog = backlog[WARM_UP_EVENTS:]
        tune_garbage_collection()
        lines = []
        size = -(-len(backlog) // segments)  # the last segment may be shorter
        for first in range(0, len(backlog), size):
            part = backlog[first : first + size]
            lines.append(
                _apply_timed(engine, part, batch, f"events {first + 1:,}-{first + len(part):,}")
            )
    finally:
        pool.close()
        store.close()
    return "\n".join(lines)


def _apply_timed(engine: ProjectionEngine, events: list, batch: int, label: str) -> str:
    postgres, cpu, started = postgres_cpu_seconds(), time.process_time(), time.perf_counter()
    for start in range(0, len(events), batch):
        engine.apply_batch(events[start : start + batch])
    wall = time.perf_counter() - started
    cpu, postgres = time.process_time() - cpu, postgres_cpu_seconds() - postgres
    count = len(events)
    return (
        f"{label} in batches of {batch}: {count / wall:,.0f} events/s;"
        f" µs/event: wall {micros_each(wall, count)}, engine CPU {micros_each(cpu, count)},"
        f" PostgreSQL CPU {micros_each(postgres, count)}"
    )


def _read_all(store: EventStore) -> list:
    events, after = [], 0
    while chunk := store.read_log(after, 5_000):
        events.extend(chunk)
        after = chunk[-1].position
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("LEDGER_DATABASE_URL"))
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed", help="store an interleaved backlog in a template")
    seeding.add_argument("name")
    seeding.add_argument("--events", type=int, default=50_000)
    running = commands.add_parser("run", help="apply the template's backlog to a copy of it")
    running.add_argument("name")
    running.add_argument("--batch", type=int, default=1_000)
    running.add_argument("--segments", type=int, default=1, help="time the backlog in parts")
    dropping = commands.add_parser("drop", help="drop the template")
    dropping.add_argument("name")
    args = parser.parse_args()
    if not args.server:
        parser.error("--server (or LEDGER_DATABASE_URL) is required")
    if args.command == "seed":
        print(f"stored {seed(args.server, args.name, args.events):,} events in {args.name}")
    elif args.command == "run":
        print(run(args.server, args.name, args.batch, args.segments))
    else:
        drop_database(server_url(args.server, args.name))


if __name__ == "__main__":
    main()
