"""`ledger keys create|list|revoke`, and the demo admin key `ledger up` issues on a fresh
workspace so the stack is usable at once (README: ``export KEY=$(cat .ledger/demo-admin.key)``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from api.auth import ApiKey, ApiKeys, IssuedKey, Role
from api.cli import database_url
from infra.database import apply_schema, create_pool, sql_file
from infra.settings import Settings

DEMO_KEY_FILE = "demo-admin.key"
DEMO_KEY_NAME = "demo admin (ledger up)"


@contextmanager
def api_keys(database_url: str) -> Iterator[ApiKeys]:
    # The keys table may not exist yet when an operator issues keys before the first start.
    apply_schema(database_url, [sql_file("infra", "auth.sql")])
    pool = create_pool(database_url, size=1, name="ledger-keys")
    try:
        yield ApiKeys(pool)
    finally:
        pool.close()


def issue_key(database_url: str, workspace_id: str, role: Role, name: str) -> IssuedKey:
    """What `ledger keys create` does (the test fixtures issue their keys through it too)."""
    with api_keys(database_url) as keys:
        return keys.create(workspace_id, role, name)


def ensure_demo_admin_key(settings: Settings, database_url: str, data_dir: Path) -> str | None:
    """On a workspace that never had a key, issue an admin key, write it to
    ``<data dir>/demo-admin.key`` (readable by the owner only) and return it; else None."""
    with api_keys(database_url) as keys:
        if keys.any_issued(settings.workspace):
            return None
        issued = keys.create(settings.workspace, Role.admin, DEMO_KEY_NAME)
    path = data_dir / DEMO_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(issued.secret + "\n")
    path.chmod(0o600)  # O_CREAT's mode does not apply to a file that already existed
    return issued.secret


def cmd_create(settings: Settings, args: argparse.Namespace) -> int:
    url = database_url(settings)
    issued = issue_key(url, args.workspace, Role(args.role), args.name or f"{args.role} key")
    print(_row(issued.key))
    print(f"key: {issued.secret}")
    print("Store it now: it is not shown again (only its hash is kept).")
    return 0


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    with api_keys(database_url(settings)) as keys:
        for key in keys.issued(args.workspace):
            print(_row(key))
    return 0


def cmd_revoke(settings: Settings, args: argparse.Namespace) -> int:
    with api_keys(database_url(settings)) as keys:
        print(_row(keys.revoke(args.id)))
    return 0


def _row(key: ApiKey) -> str:
    revoked = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
    return (
        f"{key.id}  {key.workspace_id}  {key.role:<8}  {key.name}  "
        f"created {key.created_at:%Y-%m-%d %H:%M}  {revoked}"
    )


def _workspace(text: str) -> str:
    """An argparse type: a workspace is named (a key for "" could reach nothing)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a workspace name is required")
    return text


def register(subparsers) -> None:
    keys = subparsers.add_parser("keys", help="issue, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="issue a key (printed once)")
    create.add_argument("--workspace", required=True, type=_workspace)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", default="", help="who or what uses the key")
    create.set_defaults(handler=cmd_create)
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--workspace", default=None)
    listing.set_defaults(handler=cmd_list)
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id")
    revoke.set_defaults(handler=cmd_revoke)
