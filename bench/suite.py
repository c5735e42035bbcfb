"""The benchmark suite (`make bench`): starts the real stack in a scratch directory, runs the
scenarios, prints a table and writes JSON to bench-results/.

    python -m bench.suite [--scale 0.1] [--freshness-seconds 10] [--only freshness ...]

Sizes default to the issue's (freshness 60 s at 1,000 events/s; a 1,000,000-event store and
1,000,000 listed sessions) and finish in well under 15 minutes on 2 cores. With
``LEDGER_DATABASE_URL`` set, the stack and every scratch database live on that PostgreSQL
server (in databases of their own, dropped afterwards) instead of the embedded one; the
report names the server it measured.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench import ledger_state
from bench.harness import (
    RESULTS_DIR,
    BenchStack,
    MemorySampler,
    Row,
    cpu_probe_seconds,
    table,
    write_results,
)
from bench.scenarios import SCENARIOS, Sizes

# Seconds a scenario's backlog may take to drain before the next scenario starts.
DRAIN_TIMEOUT = 900


def run(names: list[str], sizes: Sizes, work_dir: Path) -> tuple[list[Row], str]:
    """The scenarios' rows, and which PostgreSQL they were measured on."""
    rows: list[Row] = []
    with BenchStack(work_dir) as bench, MemorySampler(bench.stack) as memory:
        database = bench.describe_database()
        print(f"-- on {database}", file=sys.stderr, flush=True)
        for name in names:
            began = time.monotonic()
            print(f"-- {name} ...", file=sys.stderr, flush=True)
            rows.extend(SCENARIOS[name](bench, sizes))
            print(f"   {name}: {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
            rows.extend(_drained(bench, name))
    return rows + memory.rows(), database


def _drained(bench: BenchStack, scenario: str) -> list[Row]:
    """Wait until the relay and the worker have caught up with what the scenario stored, so
    the next one starts on a quiet stack (freshness, measured behind a backlog left by the
    ingest scenarios, measured the backlog); a row says how long that took when it was not
    at once, which shows whether the read models kept up with the scenario's ingest."""
    ended = time.monotonic()
    caught_up = ledger_state.wait_caught_up(bench.url, timeout=DRAIN_TIMEOUT)
    seconds = caught_up - ended
    if seconds < 1:
        return []
    note = "from the scenario's end until every read model had applied what it stored"
    return [Row(f"read models caught up after {scenario}", seconds, "s", "—", note=note)]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every size")
    parser.add_argument("--freshness-seconds", type=float, help="default 60")
    parser.add_argument("--freshness-rate", type=float, help="events/s, default 1000")
    parser.add_argument(
        "--streaming-concurrency",
        type=int,
        help="conversations the streaming backlog interleaves (default 500; 0: stored whole)",
    )
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Row]:
    options = parse(argv)
    sizes = Sizes.scaled(
        options.scale,
        freshness_seconds=options.freshness_seconds,
        freshness_rate=options.freshness_rate,
        streaming_concurrency=options.streaming_concurrency,
    )
    started = time.monotonic()
    probe_before = cpu_probe_seconds()
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as scratch:
        rows, database = run(options.only, sizes, Path(scratch))
    probe = {"before": probe_before, "after": cpu_probe_seconds()}
    print(
        f"on {database}; CPU probe {probe['before']} s before, {probe['after']} s after"
        " (a fixed Python loop on one core: compare runs only when these are close)"
    )
    print(table(rows))
    details = {
        **vars(options),
        "sizes": vars(sizes),
        "database": database,
        "cpu_probe_seconds": probe,
    }
    path = write_results(rows, details, started, options.out)
    print(f"\nresults: {path} ({time.monotonic() - started:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
