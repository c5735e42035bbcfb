"""`ledger rebuild` (blue/green, resumable, cancellable), `ledger projections` (list, switch,
drop generations) and `ledger rules diff-report` (what-if between two rules versions)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from api.cli import UsageError, database_url, positive, stop_on_signals
from api.importers.progress import LOG_EVERY, REDRAW_EVERY, Progress, bar, clock, log
from infra.settings import Settings
from projections.rebuild import DEFAULT_BATCH_SIZE, DEFAULT_PARTITIONS, RebuildProgress

STOPPED = 3  # interrupted: the generation is still building; run the command again to resume
CANCELLED = 1  # cancelled while it ran (by --cancel elsewhere): running it again starts anew


class RebuildBar(Progress):
    """Positions of the ledger covered, events/s and ETA: a bar on a terminal, log lines
    otherwise (``api.importers.progress``)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(1, what="positions", stream=stream)
        self.last: RebuildProgress | None = None

    def update(self, progress: RebuildProgress) -> None:
        self.last = progress
        now = time.monotonic()
        if now - self.shown_at >= (REDRAW_EVERY if self.on_terminal else LOG_EVERY):
            self.shown_at = now
            self.show()

    def show(self) -> None:
        p = self.last
        if p is None:
            return
        eta = clock(p.eta_seconds) if p.eta_seconds is not None else "?"
        if not self.on_terminal:
            log.info(
                "rebuilding",
                generation=p.generation,
                position=p.position,
                head=p.head,
                events_done=p.events_done,
                events_per_s=round(p.events_per_second),
                eta=eta,
            )
            return
        self.stream.write(
            f"\r{bar(p.position, p.head)} {p.position:,}/{p.head:,} positions"
            f"  {p.events_done:,} events  {p.events_per_second:,.0f} events/s  ETA {eta} "
        )
        self.stream.flush()


def _resources(settings: Settings):
    from infra.database import create_pool
    from infra.event_store import EventStore
    from projections.registry import apply_read_model_schema

    url = database_url(settings)
    store = EventStore(url, pool_size=2, group_commit=False)
    store.create_schema()
    apply_read_model_schema(url)
    return store, create_pool(url, size=3, name="rebuild")


def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from infra.gc_tuning import tune_garbage_collection
    from projections.generations import Generations
    from projections.rebuild import Rebuild, RebuildCancelled

    store, pool = _resources(settings)
    try:
        if args.generation is not None and not args.cancel:
            raise UsageError("--generation names the shadow to --cancel; a rebuild makes a new one")
        if args.cancel:
            cancelled = Generations(pool).cancel(args.name, args.generation)
            print(f"cancelled generation {cancelled.generation} of {cancelled.projection}")
            return 0
        workspace = args.workspace or settings.workspace
        versions = None if args.rules is None else {workspace: args.rules}
        bar = RebuildBar()
        rebuild = Rebuild(
            pool,
            store,
            batch_size=args.batch_size,
            partitions=args.partitions,
            on_progress=bar.update,
            stop=stop_on_signals(),
        )
        generation = rebuild.start(args.name, versions)
        print(
            f"rebuilding {generation.projection} into generation {generation.generation}"
            f" ({', '.join(generation.tables.values())}) from position {generation.position}",
            file=sys.stderr,
        )
        tune_garbage_collection()
        try:
            final = rebuild.run(generation, switch=not args.no_switch)
        except RebuildCancelled as cancelled:
            bar.finish()
            print(
                f"ledger rebuild: {cancelled}; running the command again starts a new one",
                file=sys.stderr,
            )
            return CANCELLED
        bar.finish()
        print(
            f"generation {final.generation} of {final.projection} is {final.status}"
            f" at position {final.position} ({final.events_done:,} events)"
        )
        return 0 if final.status != "building" else STOPPED
    finally:
        pool.close()
        store.close()


def cmd_projections_list(settings: Settings, args: argparse.Namespace) -> int:
    from projections.generations import Generations, rebuildable

    # An unknown name is refused, not listed as nothing.
    name = rebuildable(args.name).name if args.name is not None else None
    store, pool = _resources(settings)
    try:
        generations = Generations(pool).list(name)
    finally:
        pool.close()
        store.close()
    print(f"{'read model':<14} {'gen':>4} {'status':<10} {'position':>10} {'events':>10}  rules")
    for g in generations:
        print(
            f"{g.projection:<14} {g.generation:>4} {g.status:<10} {g.position:>10}"
            f" {g.events_done:>10}  {g.rules_versions or 'built-in'}"
        )
    return 0


def _generation_command(action: str):
    def command(settings: Settings, args: argparse.Namespace) -> int:
        from projections.generations import Generations

        store, pool = _resources(settings)
        try:
            result = getattr(Generations(pool), action)(args.name, args.generation)
        finally:
            pool.close()
            store.close()
        print(f"generation {result.generation} of {result.projection} is {result.status}")
        return 0

    return command


def cmd_rules_diff_report(settings: Settings, args: argparse.Namespace) -> int:
    from api.rules import what_if

    store, pool = _resources(settings)
    try:
        report = what_if(pool, args.workspace or settings.workspace, args.from_, args.to)
    finally:
        pool.close()
        store.close()
    print(
        f"rules v{report.from_version} (generation {report.from_generation}) ->"
        f" v{report.to_version} (generation {report.to_generation})"
    )
    print(f"{'agent':<20} {'month':<8} {'figure':<14} {'before':>12} {'after':>12} {'change':>12}")
    for row in report.rows:
        for name, compared in row.figures.items():
            print(
                f"{row.agent_id:<20} {row.month:<8} {name:<14} {_number(compared.before):>12}"
                f" {_number(compared.after):>12} {_number(compared.change):>12}"
            )
    return 0


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def register(subparsers) -> None:
    rebuild = subparsers.add_parser(
        "rebuild",
        help="rebuild a read model into new tables beside the live ones (resumes a running one)",
        epilog="exit status: 0 built (switched in unless --no-switch); 3 interrupted, still"
        " building: run it again to resume; 1 cancelled while it ran; 2 refused",
    )
    rebuild.add_argument(
        "name",
        help="session_list (with asr_metrics), missed_questions, leads or audit_trail",
    )
    rebuild.add_argument("--rules", type=int, metavar="VERSION", help="default: the live one's")
    rebuild.add_argument("--workspace", help="whose rules version --rules is (LEDGER_WORKSPACE)")
    rebuild.add_argument(
        "--no-switch", action="store_true", help="keep it as a caught-up shadow (for a what-if)"
    )
    rebuild.add_argument("--batch-size", type=positive, default=DEFAULT_BATCH_SIZE, metavar="N")
    rebuild.add_argument(
        "--partitions",
        type=positive,
        default=DEFAULT_PARTITIONS,
        metavar="N",
        help="processes applying a read model whose streams are independent (all but leads)"
        f" at once, each its share of the streams (default {DEFAULT_PARTITIONS})",
    )
    rebuild.add_argument(
        "--cancel",
        action="store_true",
        help="cancel the running rebuild, or with --generation a caught-up shadow (the worker"
        " stops feeding it; `projections drop` then removes its tables)",
    )
    rebuild.add_argument(
        "--generation", type=positive, metavar="N", help="with --cancel: the generation"
    )
    rebuild.set_defaults(handler=cmd_rebuild)

    projections = subparsers.add_parser("projections", help="read model generations")
    commands = projections.add_subparsers(dest="projections_command", required=True)
    listing = commands.add_parser("list", help="every generation and its status")
    listing.add_argument("name", nargs="?")
    listing.set_defaults(handler=cmd_projections_list)
    for action, text in (
        ("switch", "switch a caught-up (shadow) generation in"),
        ("drop", "drop a retired or cancelled generation's tables"),
    ):
        parser = commands.add_parser(action, help=text)
        parser.add_argument("name")
        parser.add_argument("--generation", type=int, required=True)
        parser.set_defaults(handler=_generation_command(action))

    rules = subparsers.add_parser("rules", help="versioned rules")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True)
    report = rules_commands.add_parser(
        "diff-report", help="ASR, opportunities, OSS, CSS per agent and month under two versions"
    )
    report.add_argument("--from", dest="from_", type=int, required=True, metavar="V1")
    report.add_argument("--to", type=int, required=True, metavar="V2")
    report.add_argument("--workspace")
    report.set_defaults(handler=cmd_rules_diff_report)
