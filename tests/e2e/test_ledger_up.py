"""`ledger up` itself (what `make run` runs): it starts the whole stack, says where each part
listens, serves the API, and stops every part on Ctrl-C; an unreachable part is a clear
message and a non-zero exit, not a hang."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from infra.processes import free_port, port_open
from tests.conftest import SERVER_URL

pytestmark = pytest.mark.stack


def ledger_up(tmp_path, new_database, **env) -> subprocess.Popen:
    environment = {
        **os.environ,
        "LEDGER_DATA_DIR": str(tmp_path / "ledger"),
        "LEDGER_API_PORT": str(free_port()),
        "LEDGER_DEMO_DATA": "none",
        # Against a server, a database of its own; otherwise the embedded default.
        "LEDGER_DATABASE_URL": new_database() if SERVER_URL else "",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "up"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until(process: subprocess.Popen, marker: str, timeout: float = 90) -> str:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} within {timeout}s:\n{''.join(seen)}")


def test_ledger_up_serves_the_api_and_stops_everything_on_ctrl_c(tmp_path, new_database):
    process = ledger_up(tmp_path, new_database)
    try:
        banner = read_until(process, "Ready.")
    except AssertionError:
        process.kill()
        raise
    api_url = next(
        line.split()[1] for line in banner.splitlines() if line.strip().startswith("API")
    )
    key = (tmp_path / "ledger" / "demo-admin.key").read_text().strip()
    response = httpx.get(f"{api_url}/v1/sessions", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert "PostgreSQL" in banner and "Kafka" in banner

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    port = int(api_url.rsplit(":", 1)[1])
    assert not port_open("127.0.0.1", port), "the API is still listening after Ctrl-C"
    assert not (tmp_path / "ledger" / "endpoints.json").exists()


def test_an_unreachable_broker_is_a_clear_error(tmp_path, new_database):
    process = ledger_up(tmp_path, new_database, LEDGER_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "no Kafka broker reachable" in output
    assert "Traceback" not in output
