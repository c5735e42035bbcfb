"""`ledger import SOURCE PATH`: outside data sets into the ledger, through the command path."""

from __future__ import annotations

import argparse
from pathlib import Path

from api.cli import ArgumentParser, UsageError, database_url, positive, stop_on_signals
from infra.settings import Settings

GZIP_MAGIC = b"\x1f\x8b"


def cmd_import_star(settings: Settings, args: argparse.Namespace) -> int:
    from api.commands import SessionCommands
    from api.importers.run import DEFAULT_WORKERS, first_session_id, import_star
    from infra.event_store import EventStore

    path: Path = args.path
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    with path.open("rb") as file:
        if file.read(2) != GZIP_MAGIC:
            raise UsageError(f"{path} is not a gzipped JSON-lines file (the STAR data set's form)")
    workspace = args.workspace or settings.workspace
    store = EventStore(database_url(settings), pool_size=DEFAULT_WORKERS + 2)
    try:
        store.create_schema()
        _check_not_elsewhere(store, first_session_id(path, args.limit), workspace)
        report = import_star(
            SessionCommands(store, max_retries=settings.max_append_retries),
            path,
            workspace=workspace,
            limit=args.limit,
            stop=stop_on_signals(),
        )
    finally:
        store.close()
    print(f"ledger import star: {report.describe()}")
    return 130 if report.interrupted else 0


def _check_not_elsewhere(store, session_id, workspace: str) -> None:
    # Session ids derive from the dialogue alone, so the data set lives in one workspace per
    # ledger; importing it into a second one would fail on the first session with "not found".
    existing = store.read_stream(session_id, to_version=1) if session_id else []
    if existing and existing[0].workspace_id != workspace:
        raise UsageError(
            f"the STAR dialogues are already in workspace {existing[0].workspace_id!r}; "
            "a ledger holds them in one workspace only"
        )


def register(subparsers) -> None:
    help_text = "import a data set into the ledger (through the same commands as the API)"
    sources = subparsers.add_parser("import", help=help_text, description=help_text)
    kinds = sources.add_subparsers(
        dest="source", required=True, metavar="SOURCE", parser_class=ArgumentParser
    )
    star_help = "the STAR dialogues (RasaHQ, MIT): star_dialogues.jsonl.gz"
    star = kinds.add_parser("star", help=star_help, description=star_help)
    star.add_argument("path", type=Path, metavar="PATH", help="star_dialogues.jsonl.gz")
    star.add_argument("--limit", type=positive, metavar="N", help="only the first N dialogues")
    star.add_argument("--workspace", metavar="W", help="default: LEDGER_WORKSPACE")
    star.set_defaults(handler=cmd_import_star)
