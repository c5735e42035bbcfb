"""JSON Schemas of every stored event, for consumers that do not read Python.

One schema per event type: the whole stored document (envelope fields plus the typed payload),
with ``type``, ``stream_type`` and ``schema_version`` pinned to that event's values.
``event_json_schemas`` is pure; the files under ``schemas/events/`` are written by::

    python -m domain.schema_export --write schemas/events
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import create_model

from domain.envelope import Envelope
from domain.events import EventPayload, catalog

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_PREFIX = "urn:conversation-ledger:schemas:events:"
REGENERATE_COMMAND = "python -m domain.schema_export --write schemas/events"


def schema_id(event_type: str, schema_version: int) -> str:
    return f"{SCHEMA_ID_PREFIX}{event_type}:v{schema_version}"


def _document_model(payload_type: type[EventPayload]) -> type[Envelope]:
    """The envelope model with this event's payload and constants in place of the generic ones."""
    name = "".join(part.title() for part in payload_type.event_type.replace(".", "_").split("_"))
    return create_model(
        f"{name}Event",
        __base__=Envelope,
        __doc__=payload_type.__doc__ or f"A stored {payload_type.event_type} event.",
        stream_type=(Literal[payload_type.stream_type], ...),
        type=(Literal[payload_type.event_type], ...),
        schema_version=(Literal[payload_type.schema_version], ...),
        payload=(payload_type, ...),
    )


def event_json_schema(payload_type: type[EventPayload]) -> dict[str, Any]:
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(payload_type.event_type, payload_type.schema_version),
        "x-event-type": payload_type.event_type,
        "x-schema-version": payload_type.schema_version,
        **_document_model(payload_type).model_json_schema(),
    }


def event_json_schemas() -> dict[str, dict[str, Any]]:
    """Every event type's JSON Schema, keyed by type name."""
    return {name: event_json_schema(cls) for name, cls in sorted(catalog().items())}


def render(schema: dict[str, Any]) -> str:
    """The exact text of a schema file, stable across runs so staleness is a plain diff."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def file_name(event_type: str) -> str:
    return f"{event_type}.json"


def expected_files() -> dict[str, str]:
    """File name -> content of the ``schemas/events`` folder as it must be."""
    return {file_name(name): render(schema) for name, schema in event_json_schemas().items()}


def _write(folder: str) -> None:
    # The only I/O in domain/: a developer command, never used by the running ledger.
    from pathlib import Path

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    expected = expected_files()
    for stale in {p.name for p in target.glob("*.json")} - expected.keys():
        (target / stale).unlink()
    for name, content in expected.items():
        (target / name).write_text(content, encoding="utf-8")
    print(f"wrote {len(expected)} schemas to {target}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Export the event JSON Schemas.")
    parser.add_argument("--write", metavar="FOLDER", required=True, help="e.g. schemas/events")
    _write(parser.parse_args().write)
