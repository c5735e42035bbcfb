"""A seeded generator of realistic conversations, for benchmarks, drills and tests.

Session sizes are skewed (a log-normal: most sessions are a handful of turns, a long tail
reaches a few hundred events); channels, goals, missed questions, handovers and reviewer
overrides appear in shares that resemble a production agent's traffic. The same seed always
yields the same conversations, ids included, so a run can be reproduced exactly.

A conversation is what an agent runtime would send the API: the ``POST /v1/sessions`` body and
then the event items of ``POST /v1/sessions/{id}/events`` in order, grouped into *turns*
(what one request carries when the runtime posts as the conversation happens).

    >>> conversations = Workload(seed=7).conversations(100)
    >>> conversations[0].start["session_id"], len(conversations[0].events)
"""

from __future__ import annotations

import itertools
import math
import random
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Shares, per session, of the facts that shape the read models.
CHANNEL_WEIGHTS = {"web": 50, "whatsapp": 20, "sms": 10, "voice": 8, "email": 7, "telegram": 5}
AGENTS = ("concierge", "booking-bot", "support-bot", "sales-bot", "faq-bot")
GOALS = ("booking", "lead_captured", "order_placed", "callback_requested")
SHARE_GOAL = 0.25
SHARE_MISSED_QUESTION = 0.12
SHARE_HANDOVER = 0.08
SHARE_OVERRIDE = 0.05  # a reviewer's assessment, flag or tag
SHARE_ANALYZED = 0.6
SHARE_CLOSED = 0.85
SHARE_KNOWN_CONTACT = 0.3  # returning customers: their e-mail merges leads
# log-normal message count: median ~6 messages, p99 ~ a few hundred events
MESSAGES_MU, MESSAGES_SIGMA, MAX_MESSAGES = math.log(6), 1.2, 300
QUESTIONS = (
    "Do you have vegan options?",
    "Can I bring my dog?",
    "Is there parking nearby?",
    "Do you deliver on Sundays?",
    "What is your refund policy?",
)
WORDS = "hello thanks table booking tonight tomorrow price menu order delivery time please"
WORDS += " friday people room available confirm change cancel address payment card help"
WORD_LIST = WORDS.split(" ")


@dataclass
class Conversation:
    session_id: str
    start: dict[str, Any]
    turns: list[list[dict[str, Any]]] = field(default_factory=list)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for turn in self.turns for event in turn]

    @property
    def event_count(self) -> int:
        """Events the ledger stores for it, the start included."""
        return 1 + sum(len(turn) for turn in self.turns)


class Workload:
    """Conversations drawn from one seeded random generator: the same seed, the same data."""

    def __init__(
        self, seed: int = 42, *, min_messages: int = 1, max_messages: int = MAX_MESSAGES
    ) -> None:
        self.rng = random.Random(seed)
        self.min_messages = min_messages
        self.max_messages = max_messages
        self.contacts = [f"customer{n}@example.com" for n in range(500)]

    def conversations(self, count: int) -> list[Conversation]:
        return [self.conversation() for _ in range(count)]

    def stream(self) -> Iterator[Conversation]:
        while True:
            yield self.conversation()

    def conversations_with_events(self, events: int) -> list[Conversation]:
        """Whole conversations until at least ``events`` stored events."""
        result, total = [], 0
        while total < events:
            result.append(self.conversation())
            total += result[-1].event_count
        return result

    def conversation(self) -> Conversation:
        rng = self.rng
        session_id = self._uuid()
        conversation = Conversation(session_id, self._start(session_id))
        messages = self._message_count()
        for turn in range(0, messages, 2):
            conversation.turns.append(self._turn(turn, last=turn + 2 >= messages))
        if rng.random() < SHARE_HANDOVER:
            conversation.turns.append(self._handover())
        if rng.random() < SHARE_ANALYZED:
            conversation.turns.append([self._analyzed()])
        if rng.random() < SHARE_OVERRIDE:
            conversation.turns.append([self._override()])
        if rng.random() < SHARE_CLOSED:
            conversation.turns.append([_item("session.closed", self._uuid(), reason="completed")])
        return conversation

    # --- parts ------------------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _message_count(self) -> int:
        drawn = int(self.rng.lognormvariate(MESSAGES_MU, MESSAGES_SIGMA))
        return max(self.min_messages, min(drawn, self.max_messages))

    def _start(self, session_id: str) -> dict[str, Any]:
        rng = self.rng
        # The id's first 8 digits make the name unique enough to find it with the list's
        # contact search (how the freshness benchmark sees a session appear).
        contact: dict[str, str] = {"name": f"Guest {session_id[:8]}"}
        if rng.random() < SHARE_KNOWN_CONTACT:
            contact["email"] = rng.choice(self.contacts)
        return {
            "session_id": session_id,
            "event_id": self._uuid(),
            "agent_id": rng.choice(AGENTS),
            "channel": rng.choices(list(CHANNEL_WEIGHTS), weights=CHANNEL_WEIGHTS.values())[0],
            "contact": contact,
            "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
        }

    def _text(self, low: int = 4, high: int = 30) -> str:
        return " ".join(self.rng.choices(WORD_LIST, k=self.rng.randrange(low, high)))

    def _message(self, role: str) -> dict[str, Any]:
        return _item(
            "session.message_recorded",
            self._uuid(),
            message_id=self._uuid(),
            author_role=role,
            text=self._text(),
        )

    def _turn(self, index: int, *, last: bool) -> list[dict[str, Any]]:
        """A customer message and the AI's answer, sometimes with what the AI noticed."""
        question, answer = self._message("customer"), self._message("ai")
        turn = [question, answer]
        message_id = question["payload"]["message_id"]
        if self.rng.random() < SHARE_MISSED_QUESTION / 3:
            turn.append(
                _item(
                    "session.question_missed",
                    self._uuid(),
                    message_id=message_id,
                    question=self.rng.choice(QUESTIONS),
                    source="workflow",
                )
            )
        if last and self.rng.random() < SHARE_GOAL:
            turn.append(_item("session.goal_reached", self._uuid(), goal=self.rng.choice(GOALS)))
        return turn

    def _handover(self) -> list[dict[str, Any]]:
        return [
            _item("session.handover_requested", self._uuid(), trigger="customer_request"),
            _item(
                "session.human_agent_assigned", self._uuid(), agent_id="op-7", agent_name="Grace"
            ),
            self._message("human_agent"),
        ]

    def _analyzed(self) -> dict[str, Any]:
        rng = self.rng
        return _item(
            "session.analyzed",
            self._uuid(),
            summary=self._text(),
            is_lead=rng.random() < 0.3,
            auto_assessment=rng.choice(["Yes-A", "Yes-B", "No"]),
            conversation_quality=rng.randrange(1, 6),
        )

    def _override(self) -> dict[str, Any]:
        choice = self.rng.randrange(3)
        if choice == 0:
            return _item(
                "session.human_assessment_set", self._uuid(), assessment="No", reason="re-checked"
            )
        if choice == 1:
            return _item(
                "session.flag_set", self._uuid(), flag="is_favorite", value=True, reason="good"
            )
        return _item("session.tag_added", self._uuid(), tag="vip")


def _item(event_type: str, event_id: str | None = None, **payload: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"type": event_type, "payload": payload}
    if event_id:
        item["event_id"] = event_id
    return item


def batches(events: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


def as_commands(conversation: Conversation):
    """The conversation as the command service takes it: (session id, start, the rest)."""
    from api.commands import NewEvent
    from api.schemas import AppendEventsRequest, StartSessionRequest

    start = StartSessionRequest.model_validate(conversation.start)
    rest = AppendEventsRequest.model_validate({"events": conversation.events}).events
    return (
        uuid.UUID(conversation.session_id),
        NewEvent(start.payload(), start.event_id),
        [NewEvent(e.payload, e.event_id, e.occurred_at) for e in rest],
    )


def interleaved(sequences: Iterable[Iterable[Any]], concurrent: int) -> Iterator[Any]:
    """The items of ``sequences`` as live traffic interleaves conversations: round-robin
    over ``concurrent`` of them at a time, the next one joining as one ends. Each
    sequence's own order is kept."""
    pending = iter(sequences)
    active = deque(iter(sequence) for sequence in itertools.islice(pending, concurrent))
    while active:
        items = active.popleft()
        for item in items:
            yield item
            active.append(items)
            break
        else:  # this one ended: the next conversation begins
            following = next(pending, None)
            if following is not None:
                active.append(iter(following))
