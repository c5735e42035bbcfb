"""Property, through PostgreSQL: the stored history is exactly what the aggregate decided, and
folding every stored prefix gives the live state at that point."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings

from api.commands import Caller, NewEvent, SessionCommands
from domain.errors import DomainError
from domain.replay import history_as_of, replay
from domain.session import Session
from infra.verification import verify_ledger
from tests.unit.test_domain_replay_property import T0, callers, commands, start


def as_caller(context) -> Caller:
    return Caller(
        workspace_id=context.workspace_id, actor=context.actor, permissions=context.permissions
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=commands, first_caller=callers)
def test_stored_history_replays_to_the_live_state_at_every_prefix(store, batch, first_caller):
    service = SessionCommands(store, clock=lambda: T0)
    live = Session(uuid.uuid4())
    live_states = [live.state.model_copy(deep=True)]
    for payload, context, occurred_at in [(start, first_caller, T0), *batch]:
        event_id = uuid.uuid4()
        item = NewEvent(payload, event_id, occurred_at)
        try:
            live.record(payload, context, event_id=event_id, occurred_at=occurred_at)
        except DomainError as refusal:
            before = store.read_stream(live.id)
            try:
                service.append(live.id, [item], as_caller(context))
            except DomainError as stored_refusal:
                assert type(stored_refusal) is type(refusal)
            assert store.read_stream(live.id) == before, "a refused command stored something"
            continue
        service.append(live.id, [item], as_caller(context))
        live_states.append(live.state.model_copy(deep=True))

    stored = store.read_stream(live.id)
    decided = live.collect_events()
    assert [e.to_document() for e in stored] == [e.to_document() for e in decided]
    for version, state in enumerate(live_states):
        if version:
            assert replay(live.id, history_as_of(stored, version=version)).state == state
    assert verify_ledger(store.url, stream_id=live.id).ok
