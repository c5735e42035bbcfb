"""The deployment files in infra/deploy stay true to the code: every service runs a real
`ledger` command, every variable they set is a setting, the image holds every package."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from api.cli import build_parser
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "infra" / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
LEDGER_SERVICES = {
    name: service
    for name, service in COMPOSE["services"].items()
    if service.get("image") == "conversation-ledger:latest"
}


def test_the_api_relay_and_worker_run_from_the_ledger_image():
    assert set(LEDGER_SERVICES) == {"api", "relay", "worker"}


@pytest.mark.parametrize("name", sorted(LEDGER_SERVICES))
def test_each_service_runs_a_ledger_command(name):
    args = build_parser().parse_args(LEDGER_SERVICES[name]["command"])
    assert args.command == name


@pytest.mark.parametrize("name", sorted(LEDGER_SERVICES))
def test_each_variable_is_a_ledger_setting(name):
    environment = LEDGER_SERVICES[name]["environment"]
    fields = {f"LEDGER_{field.upper()}" for field in Settings.model_fields}
    assert set(environment) <= fields
    Settings(**{k.removeprefix("LEDGER_").lower(): v for k, v in environment.items()})


def test_the_services_name_real_servers_never_embedded_ones():
    for service in LEDGER_SERVICES.values():
        assert service["environment"]["LEDGER_DATABASE_URL"]
        assert service["environment"]["LEDGER_KAFKA_BOOTSTRAP"]


def test_the_image_copies_every_package_the_project_installs():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = set(re.findall(r"^COPY (\w+) \1$", (DEPLOY / "Dockerfile").read_text(), re.M))
    assert copied == packages
