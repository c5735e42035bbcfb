"""``server_warnings`` reads the server it is connected to: a warning exactly when that
server's autovacuum is off (the embedded server has it on; the CI server has it off), and
``ledger status`` prints it under the read models."""

import os
import subprocess
import sys

import psycopg

from infra.database import apply_schema, server_warnings
from projections.registry import read_model_schema


def autovacuum(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("SHOW autovacuum").fetchone()[0]


def test_the_warning_follows_the_servers_own_setting(database_url):
    with psycopg.connect(database_url) as conn:
        warnings = server_warnings(conn)
    assert bool(warnings) == (autovacuum(database_url) == "off")


def test_ledger_status_prints_the_warning_under_the_read_models(store, database_url):
    apply_schema(database_url, read_model_schema())
    env = {**os.environ, "LEDGER_DATABASE_URL": database_url}
    status = subprocess.run(
        [sys.executable, "-m", "api.cli", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert "session_list" in status.stdout
    warned = "warning: autovacuum off" in status.stdout
    assert warned == (autovacuum(database_url) == "off")
