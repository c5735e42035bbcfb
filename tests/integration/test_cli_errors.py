"""The `ledger` command's operator paths: a refusal is a message on stderr and exit code 2,
never a traceback."""

from __future__ import annotations

import psycopg
import pytest

from api.cli import main
from api.cli.ledger_ops import _gist
from api.commands import Caller, StreamCommands
from api.rules import WorkspaceRulesBook
from domain.envelope import SYSTEM_ACTOR
from domain.rules import RuleSet
from domain.rules_events import ruleset_stream_id
from infra.settings import get_settings


@pytest.fixture
def ledger(monkeypatch, capsys):
    """``ledger ARGS`` in this process against ``url``: (exit code, stderr)."""

    # main() points structlog at this test's captured output, which closes after it: every
    # later test's log line would then fail. The commands' messages are print()s anyway.
    monkeypatch.setattr("api.cli.configure_logging", lambda *_args: None)

    def run(url: str, *args: str) -> tuple[int, str]:
        monkeypatch.setenv("LEDGER_DATABASE_URL", url)
        get_settings.cache_clear()
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's own refusals
            code = exit_.code
        finally:
            get_settings.cache_clear()
        return code, capsys.readouterr().err

    return run


@pytest.mark.parametrize(
    "args", [("status",), ("verify",), ("parked", "list"), ("keys", "list", "--workspace", "w")]
)
def test_an_unreachable_database_is_a_message_not_a_traceback(ledger, args):
    code, err = ledger("postgresql://nobody@127.0.0.1:1/nowhere", *args)
    assert code == 2
    assert "cannot reach the database" in err and "Traceback" not in err


def test_a_limit_below_one_is_refused_by_the_parser(ledger, store):
    code, err = ledger(store.url, "parked", "list", "--limit", "-1")
    assert code == 2 and "--limit" in err and "not 1 or more" in err


def test_a_file_that_is_not_gzipped_is_refused_before_anything_is_read(ledger, store, tmp_path):
    text = tmp_path / "dialogues.jsonl"
    text.write_text('{"DialogueID": 1}\n')
    code, err = ledger(store.url, "import", "star", str(text))
    assert code == 2 and "not a gzipped" in err


def test_replaying_or_verifying_what_is_not_a_session_is_not_found(ledger, store):
    caller = Caller(workspace_id="w1", actor=SYSTEM_ACTOR)
    WorkspaceRulesBook(store, StreamCommands(store)).publish(RuleSet(), "first", caller)
    rules_stream = str(ruleset_stream_id("w1"))
    code, err = ledger(store.url, "replay", rules_stream)
    assert code == 2 and "not found" in err
    code, err = ledger(store.url, "verify", "--session", "00000000-0000-4000-8000-000000000000")
    assert code == 2 and "not found" in err


def test_a_parked_error_is_shown_by_its_telling_line():
    pydantic_error = (
        "1 validation error for RulesPublished\nrules.defaults\n"
        "  Value error, give exactly one [type=value_error]\n"
        "    For further information visit https://errors.pydantic.dev/2.14/v/value_error"
    )
    assert _gist(pydantic_error) == "Value error, give exactly one [type=value_error]"
    assert _gist("NumericValueOutOfRange: out of range") == "NumericValueOutOfRange: out of range"
    assert _gist("  ") == ""


def test_a_shadow_kept_for_a_what_if_can_be_cancelled_then_dropped(ledger, store):
    assert ledger(store.url, "rebuild", "audit_trail", "--no-switch")[0] == 0
    assert ledger(store.url, "rebuild", "audit_trail", "--generation", "2")[0] == 2
    assert ledger(store.url, "rebuild", "audit_trail", "--cancel", "--generation", "2")[0] == 0
    assert ledger(store.url, "projections", "drop", "audit_trail", "--generation", "2")[0] == 0
    with psycopg.connect(store.url) as conn:
        (status,) = conn.execute(
            "SELECT status FROM read_model_generations"
            " WHERE projection = 'audit_trail' AND generation = 2"
        ).fetchone()
        (left,) = conn.execute("SELECT to_regclass('audit_trail__g2') IS NULL").fetchone()
    assert status == "dropped" and left


def test_an_empty_workspace_and_an_unknown_read_model_are_refused(ledger, store):
    code, err = ledger(store.url, "keys", "create", "--workspace", " ", "--role", "viewer")
    assert code == 2 and "workspace name is required" in err
    code, err = ledger(store.url, "projections", "list", "nope")
    assert code == 2 and "cannot be rebuilt" in err
