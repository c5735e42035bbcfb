"""Demo data on first start: `ledger up` imports the STAR dialogues into an empty workspace, so
the API serves real conversations at once.

The import is skipped when it already ran to the end (its last session is stored), when the
workspace holds sessions of its own (demo data must not mix with real data), when
``LEDGER_DEMO_DATA`` is empty or ``none``, or when the file is missing. An interrupted import
(Ctrl-C) left only its own sessions, so the next start resumes it; ids make that a no-op for
what is stored.
"""

from __future__ import annotations

import threading
from pathlib import Path

from api.commands import SessionCommands
from api.importers.run import ImportReport, final_session_id, import_star
from api.importers.star import IMPORTER
from infra.event_store import EVENTS_TABLE, EventStore
from infra.logging import get_logger
from infra.settings import Settings

log = get_logger("api.importers.demo")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DISABLED = {"", "none"}

# Any session event in the workspace not written by the importer. Scans (the stored bytes are
# JSON without an index), but only runs while the import has not finished.
_FOREIGN_SESSIONS = f"""
SELECT EXISTS (
    SELECT 1 FROM {EVENTS_TABLE}
    WHERE convert_from(state, 'UTF8')::jsonb
          @> jsonb_build_object('workspace_id', %s::text, 'stream_type', 'session')
      AND NOT convert_from(state, 'UTF8')::jsonb @> jsonb_build_object(
          'actor', jsonb_build_object('id', %s::text))
) AS found
"""


def demo_data_path(setting: str) -> Path | None:
    """The data set the setting names (relative paths from the project root), None if off."""
    if setting.strip().lower() in DISABLED:
        return None
    path = Path(setting).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def load_demo_data_if_empty(
    settings: Settings, database_url: str, *, stop: threading.Event | None = None
) -> ImportReport | None:
    """Import the demo data into ``settings.workspace`` unless there is a reason not to
    (see the module's doc); returns the report of an import that ran, else None."""
    path = demo_data_path(settings.demo_data)
    if path is None:
        return None
    if not path.is_file():
        print(f"Demo data: {path} not found; starting without demo data.", flush=True)
        return None
    store = EventStore(database_url, pool_size=settings.db_pool_size)
    try:
        store.create_schema()
        if not _import_needed(store, settings.workspace, path):
            return None
        print(f"Demo data: importing the STAR dialogues from {path}…", flush=True)
        report = import_star(SessionCommands(store), path, workspace=settings.workspace, stop=stop)
    except Exception as error:  # demo data is a convenience: the ledger runs without it
        log.exception("demo data import failed", path=str(path))
        print(f"Demo data: import failed ({error}); continuing without it.", flush=True)
        return None
    finally:
        store.close()
    print(f"Demo data: {report.describe()}", flush=True)
    return report


def _import_needed(store: EventStore, workspace: str, path: Path) -> bool:
    last = final_session_id(path)
    if last is None or store.read_stream(last, to_version=1):
        return False
    with store.datastore.get_connection() as conn, conn.cursor() as cur:
        cur.execute(_FOREIGN_SESSIONS, (workspace, IMPORTER.id))
        return not cur.fetchone()["found"]
