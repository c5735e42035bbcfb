"""The exported JSON Schemas: present and fresh on disk, and describing what is really stored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from domain.envelope import Actor, ActorKind
from domain.events import (
    Contact,
    FlagSet,
    MessageReacted,
    MessageRecorded,
    SessionStarted,
    catalog,
)
from domain.schema_export import (
    REGENERATE_COMMAND,
    event_json_schemas,
    expected_files,
    schema_id,
)
from domain.session import EventContext, Session

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "events"
EXPECTED = expected_files()


def test_no_schema_file_is_missing_or_left_over():
    on_disk = {path.name for path in SCHEMA_DIR.glob("*.json")}
    missing, extra = EXPECTED.keys() - on_disk, on_disk - EXPECTED.keys()
    assert not missing and not extra, (
        f"schemas/events is out of date (missing {sorted(missing)}, left over {sorted(extra)}); "
        f"regenerate with: {REGENERATE_COMMAND}"
    )


@pytest.mark.parametrize("file_name", sorted(EXPECTED))
def test_schema_file_is_fresh(file_name):
    path = SCHEMA_DIR / file_name
    assert path.exists(), f"{path} is missing; regenerate with: {REGENERATE_COMMAND}"
    assert path.read_text(encoding="utf-8") == EXPECTED[file_name], (
        f"{path} is stale; regenerate with: {REGENERATE_COMMAND}"
    )


def test_every_event_type_has_an_identified_versioned_schema():
    schemas = event_json_schemas()
    assert schemas.keys() == catalog().keys()
    for event_type, schema in schemas.items():
        version = catalog()[event_type].schema_version
        assert schema["$id"] == schema_id(event_type, version)
        assert schema["properties"]["type"]["const"] == event_type
        assert schema["properties"]["schema_version"]["const"] == version
    assert schemas["session.message_reacted"]["properties"]["schema_version"]["const"] == 2


def test_schemas_describe_the_stored_documents():
    context = EventContext(
        workspace_id="ws-1",
        actor=Actor(kind=ActorKind.user, id="reviewer-1"),
        recorded_at=datetime(2025, 3, 1, tzinfo=UTC),
    )
    session = Session(uuid4())
    for payload in (
        SessionStarted(agent_id="a1", channel="voice", contact=Contact(phone="+351900000000")),
        MessageRecorded(message_id="m1", author_role="customer", text="Hi"),
        MessageReacted(message_id="m1", reaction="thumbs_up", by_role="customer"),
        FlagSet(flag="is_test", value=True, reason="QA call"),
    ):
        session.record(payload, context)
    schemas = event_json_schemas()
    for envelope in session.collect_events():
        document, schema = envelope.to_document(), schemas[envelope.type]
        assert_fits(document, schema)
        payload_schema = schema["$defs"][schema["properties"]["payload"]["$ref"].split("/")[-1]]
        assert_fits(document["payload"], payload_schema)


def assert_fits(document: dict, schema: dict) -> None:
    """Every required key present, no key the schema does not name (it forbids extras)."""
    assert set(schema["required"]) <= document.keys()
    assert document.keys() <= schema["properties"].keys()
    assert schema["additionalProperties"] is False
