"""The raw limit of the streaming projection: a faust agent built like the ledger's worker
(same app settings, same ``take_events`` batches) that does nothing with the events.

    python -m bench.null_agent --bootstrap HOST:PORT --topic T --expect N --out result.json

Counts events until ``--expect`` arrived, writes the rate (from the first event to the last,
so the consumer-group join is left out, as it is for the worker) to ``--out`` and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from pathlib import Path

from consumers.worker import create_faust_app, event_topic
from infra.gc_tuning import tune_garbage_collection
from infra.settings import Settings


def build(settings: Settings, bootstrap: str, expect: int, out: Path):
    app = create_faust_app(settings, bootstrap=bootstrap, group=f"bench-null-{uuid.uuid4().hex}")

    @app.agent(event_topic(app, settings))
    async def count(stream):
        seen, first = 0, None
        async for events in stream.take_events(
            settings.worker_batch_size, within=settings.worker_batch_within
        ):
            if first is None:
                first, cpu_at_first = time.monotonic(), time.process_time()
            seen += len(events)
            if seen >= expect:
                seconds = time.monotonic() - first
                cpu = time.process_time() - cpu_at_first
                out.write_text(json.dumps({"events": seen, "seconds": seconds, "cpu": cpu}))
                os._exit(0)  # faust has no "stop after N"; the result is on disk already

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from faust.worker import Worker

    settings = Settings(topic=args.topic)
    app = build(settings, args.bootstrap, args.expect, args.out)
    tune_garbage_collection()  # as the worker does: the comparison is of the agents' bodies
    Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
