"""Build real, sealed event histories through the Session aggregate, without the API.

script = SessionScript(workspace="w1")
script.start(agent_id="a", channel="web").say("hi").reply("hello").close()
script.events  # sealed envelopes with versions 1..n and global positions
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.envelope import Actor, ActorKind, Envelope
from domain.events import EventPayload, parse_payload
from domain.session import EventContext, Session

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_positions = itertools.count(1)
REVIEWER = Actor(kind=ActorKind.user, id="rev-1", name="Rita Reviewer")
AGENT = Actor(kind=ActorKind.agent, id="agent-runtime", name="Agent runtime")


class SessionScript:
    def __init__(
        self,
        workspace: str = "w1",
        *,
        session_id: uuid.UUID | None = None,
        at: datetime = START,
        step: timedelta = timedelta(seconds=30),
        positions=None,
    ) -> None:
        self.session = Session(session_id or uuid.uuid4())
        self.workspace = workspace
        self.clock = at
        self.step = step
        self.positions = positions or _positions
        self.events: list[Envelope] = []

    @property
    def id(self) -> uuid.UUID:
        return self.session.id

    def record(
        self,
        event_type: str,
        actor: Actor = AGENT,
        permissions: frozenset[str] = frozenset({"handover"}),
        **payload: Any,
    ) -> SessionScript:
        body: EventPayload = parse_payload(event_type, payload)
        context = EventContext(
            workspace_id=self.workspace,
            actor=actor,
            recorded_at=self.clock,
            permissions=permissions,
        )
        envelope = self.session.record(body, context, occurred_at=self.clock)
        self.events.append(envelope.model_copy(update={"position": next(self.positions)}))
        self.clock += self.step
        return self

    def start(self, **fields: Any) -> SessionScript:
        return self.record("session.started", **{"agent_id": "agent-1", "channel": "web", **fields})

    def say(self, text: str, role: str = "customer", **fields: Any) -> SessionScript:
        message_id = fields.pop("message_id", uuid.uuid4().hex[:12])
        return self.record(
            "session.message_recorded",
            message_id=message_id,
            author_role=role,
            text=text,
            **fields,
        )

    def reply(self, text: str, **fields: Any) -> SessionScript:
        return self.say(text, role="ai", **fields)

    def close(self, reason: str = "completed") -> SessionScript:
        return self.record("session.closed", reason=reason)

    def last_message_id(self) -> str:
        return self.session.state.transcript[-1].message_id
