"""The raw limits the ledger's figures are compared with, measured on the same server in the
same run: eventsourcing's PostgreSQL recorder saving events with no API, no domain and no
group commit in front of it (one caller, a table of its own)."""

from __future__ import annotations

import time
import uuid

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

from infra.database import datastore_kwargs

STATE = b'{"payload": {"text": "' + b"x" * 360 + b'"}}'  # ~400 bytes, like a message event


def eventsourcing_saves(url: str, *, events_per_save: int, seconds: float) -> float:
    """Events/s of ``insert_events`` with ``events_per_save`` events per transaction."""
    datastore = PostgresDatastore(**datastore_kwargs(url), pool_size=2)
    recorder = PostgresApplicationRecorder(datastore, events_table_name="raw_limit_events")
    recorder.create_table()
    try:
        saved, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            stream = uuid.uuid4()
            recorder.insert_events(
                [
                    StoredEvent(stream, version, "bench.raw", STATE)
                    for version in range(1, events_per_save + 1)
                ]
            )
            saved += events_per_save
        return saved / (time.perf_counter() - started)
    finally:
        datastore.close()
