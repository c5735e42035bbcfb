"""The STAR data set (RasaHQ, MIT) as ledger events: one dialogue in, one session's events out.

Pure: no I/O. ``map_dialogue`` takes one parsed line of ``star_dialogues.jsonl.gz`` and returns
the events to append in one transaction, with deterministic event ids so that importing twice
stores everything once. docs/star_mapping.md explains each choice and counts what it yields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from api.commands import Caller, NewEvent
from domain.envelope import Actor, ActorKind
from domain.events import (
    Assessment,
    AuthorRole,
    Channel,
    Contact,
    DecisionTrace,
    EventPayload,
    GoalReached,
    JourneyBlockEntered,
    MessageRecorded,
    MissedQuestionSource,
    QuestionMissed,
    SentimentLabel,
    SentimentScope,
    SentimentScored,
    SessionAnalyzed,
    SessionClosed,
    SessionStarted,
)

# Never change it: every session and event id of an import derives from it.
NAMESPACE = UUID("039e86c6-8381-4955-a515-8914dd40a2d1")
IMPORTER = Actor(kind=ActorKind.system, id="star-import", name="STAR data set import")
INTEGRATION = "star-dataset"

# The label the task's schema graph reaches after a successful back-end call (``query_success``
# or ``query_book``, or ``query`` for tasks whose call cannot fail), mapped to the task it
# completes. Trip directions end with their last step; a ride is booked once the driver is
# confirmed. Trivia has no success label. ``spaceship_inform_outcome`` ends two tasks: the
# dialogue's capabilities decide which.
GOAL_LABELS: dict[str, tuple[str, ...]] = {
    "apartment_inform_booking_successful": ("apartment_schedule",),
    "apartment_inform_search_result": ("apartment_search",),
    "bank_inform_balance": ("bank_balance",),
    "bank_inform_fraud_report_submitted": ("bank_fraud_report",),
    "doctor_inform_booking_successful": ("doctor_schedule",),
    "doctor_inform_doctors_instructions": ("doctor_followup",),
    "hotel_inform_service_request_successful": ("hotel_service_request",),
    "hotel_provide_search_result": ("hotel_search",),
    "hotel_reservation_succeeded": ("hotel_book",),
    "meeting_inform_confirmed": ("meeting_schedule",),
    "party_booking_successful": ("party_plan",),
    "party_confirm_rsvp": ("party_rsvp",),
    "plane_inform_flight_details": ("plane_search",),
    "plane_reservation_succeeded": ("plane_book",),
    "restaurant_inform_booking_successful": ("restaurant_book",),
    "restaurant_inform_search_results": ("restaurant_search",),
    "ride_confirm_booking": ("ride_book",),
    "ride_provide_driver_details": ("ride_book",),
    "ride_inform_changes_successful": ("ride_change",),
    "ride_provide_booking_status": ("ride_status",),
    "spaceship_inform_outcome": ("spaceship_access_codes", "spaceship_life_support"),
    "trip_inform_last_step_and_done": ("trip_directions",),
    "weather_inform_forecast": ("weather",),
}
# Words of the labels by which the agent tells the customer that it could not deliver.
FAILURE_WORDS = (
    "unavailable",
    "failed",
    "nothing_found",
    "not_available",
    "no_venue_available",
    "cannot_authenticate",
)
OUT_OF_SCOPE = "out_of_scope"
# Tasks whose schema graph has a ``query_book`` step: the customer came to buy or book.
BOOKING_TASKS = frozenset(
    {
        "apartment_schedule",
        "doctor_schedule",
        "hotel_book",
        "party_plan",
        "plane_book",
        "restaurant_book",
        "ride_book",
    }
)
KNOWLEDGE_CHARS = 1000  # one look-up result in a decision trace; the largest item has 876

# fmt: off
_FIRST_NAMES = (
    "Alex", "Blair", "Casey", "Dana", "Eli", "Frankie", "Gale", "Harper", "Indy", "Jamie",
    "Kai", "Lane", "Morgan", "Noa", "Oakley", "Parker", "Quinn", "Riley", "Sage", "Taylor",
    "Uma", "Val", "Wren", "Yael",
)
_LAST_NAMES = (
    "Adler", "Brook", "Castillo", "Dubois", "Ekström", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Kowalski", "Laine", "Moreau", "Nakamura", "Okafor", "Petrov", "Quist", "Rossi",
    "Silva", "Tanaka", "Ueda", "Varga", "Weber", "Zhang",
)
# fmt: on


def session_id(dialogue_id: int) -> UUID:
    return uuid5(NAMESPACE, f"star:{dialogue_id}")


def event_id(dialogue_id: int, key: str) -> UUID:
    """``key`` names the source event (its index in ``Events``) or a session-level fact."""
    return uuid5(NAMESPACE, f"star:{dialogue_id}:{key}")


def importer_caller(workspace_id: str) -> Caller:
    return Caller(workspace_id=workspace_id, actor=IMPORTER)


def pseudonym(worker_id: str) -> str:
    """A stable, readable, made-up name for a crowd worker (the id stays the identity)."""
    digest = hashlib.sha256(worker_id.encode()).digest()
    return (
        f"{_FIRST_NAMES[digest[0] % len(_FIRST_NAMES)]} {_LAST_NAMES[digest[1] % len(_LAST_NAMES)]}"
    )


def agent_id(dialogue: dict[str, Any]) -> str:
    """One agent per combination of domains the wizard could serve, e.g. ``star-bank``."""
    return "star-" + "-".join(sorted({_domain(c) for c in _capabilities(dialogue)}))


def is_imported(dialogue: dict[str, Any]) -> bool:
    """Whether the dialogue becomes a session: not when it has no message at all."""
    return any(_is_message(event) for event in dialogue["Events"])


def map_dialogue(dialogue: dict[str, Any]) -> list[NewEvent]:
    """The session's events in order, or nothing when the dialogue is not imported."""
    if not is_imported(dialogue):
        return []
    mapping = _DialogueMapping(dialogue)
    mapping.run()
    return mapping.events


# --- questionnaires --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answers:
    """The questionnaire answers the mapping uses; ``None`` when the question was not asked."""

    calm: bool | None = None  # customer: the assistant stayed calm and helpful
    task_success: tuple[bool, ...] = ()  # customer: "did the assistant book / find / ...?"
    annoyed: bool | None = None  # agent: the customer became aggressive or annoyed
    unsure: bool | None = None  # agent: the agent was unsure what to do

    @property
    def task_confirmed(self) -> bool:
        return bool(self.task_success) and all(self.task_success)

    @property
    def task_denied(self) -> bool:
        return not all(self.task_success)


def read_answers(dialogue: dict[str, Any]) -> Answers:
    calm, success = None, []
    for item in dialogue["UserQuestionnaire"]:
        question, answer = item["Question"], item["Answer"]
        if "calm and helpful" in question:
            calm = answer
        elif "enjoy this task" not in question:  # about the crowd task, not the assistant
            success.append(answer)
    wizard = {item["Question"]: item["Answer"] for item in dialogue["WizardQuestionnaire"]}
    return Answers(
        calm=calm,
        task_success=tuple(success),
        annoyed=_answer_to(wizard, "aggressive or annoyed"),
        unsure=_answer_to(wizard, "unsure about what to do"),
    )


def assess(answers: Answers, *, completed: bool, goals_reached: bool) -> Assessment:
    """Yes-A: the customer confirmed the task and the assistant stayed calm. Yes-B: success by
    weaker evidence (the task confirmed but the assistant not calm, or no task question asked
    and the agent reported success). No: abandoned, the customer denied the task, or no
    evidence of success at all."""
    if not completed or answers.task_denied:
        return Assessment.no
    if answers.task_confirmed:
        return Assessment.yes_b if answers.calm is False else Assessment.yes_a
    return Assessment.yes_b if goals_reached else Assessment.no


def conversation_quality(answers: Answers, *, completed: bool) -> int:
    """Stars: 3, one more for each confirmation by the customer (calm, task done), one less
    for each reported problem (not calm, task not done, customer annoyed, agent unsure,
    abandoned), within 1..5. An unasked question counts for nothing."""
    good = (answers.calm is True) + answers.task_confirmed
    bad = (
        (answers.calm is False)
        + (bool(answers.task_success) and answers.task_denied)
        + (answers.annoyed is True)
        + (answers.unsure is True)
        + (not completed)
    )
    return max(1, min(5, 3 + good - bad))


def customer_sentiment(answers: Answers) -> tuple[SentimentLabel, float] | None:
    """The mean of the customer's own answers (yes +1, no -1) and the agent's report of an
    annoyed customer (-1); the sign is the label. ``None`` without any such answer."""
    votes = [*answers.task_success, *([answers.calm] if answers.calm is not None else [])]
    signals = [1.0 if vote else -1.0 for vote in votes]
    if answers.annoyed:
        signals.append(-1.0)
    if not signals:
        return None
    score = sum(signals) / len(signals)
    if score > 0:
        return SentimentLabel.positive, score
    return (SentimentLabel.negative, score) if score < 0 else (SentimentLabel.neutral, 0.0)


def _answer_to(answers: dict[str, bool], words: str) -> bool | None:
    # Some questions exist in shorter variants ("...become aggressive or annoyed ..."), so
    # they are matched by their distinctive words.
    return next((answer for question, answer in answers.items() if words in question), None)


# --- one dialogue ----------------------------------------------------------------------------

_MESSAGE_ACTIONS = {("User", "utter"), ("Wizard", "utter"), ("Wizard", "pick_suggestion")}


def _is_message(event: dict[str, Any]) -> bool:
    return (event["Agent"], event["Action"]) in _MESSAGE_ACTIONS


def _capabilities(dialogue: dict[str, Any]) -> list[dict[str, Any]]:
    return dialogue["Scenario"]["WizardCapabilities"]


def _domain(capability: dict[str, Any]) -> str:
    # Trivia's capability sometimes has no domain; its task name starts with it.
    return capability["Domain"] or capability["Task"].split("_")[0]


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _item(item: dict[str, Any]) -> str:
    return _compact({k: v for k, v in item.items() if k != "APIName"})[:KNOWLEDGE_CHARS]


def _at(unix_time: int) -> datetime:
    return datetime.fromtimestamp(unix_time, UTC)


@dataclass
class _DialogueMapping:
    """Walks one dialogue's events in order, remembering what later events refer to."""

    dialogue: dict[str, Any]
    events: list[NewEvent] = field(default_factory=list)
    knowledge: list[str] = field(default_factory=list)  # for the next agent message
    last_query: dict[str, Any] | None = None
    last_customer_message: tuple[str, str] | None = None  # (message id, text)
    missed: set[str] = field(default_factory=set)
    task: str | None = None
    goals: set[str] = field(default_factory=set)
    failed: bool = False
    completed: bool = False

    def __post_init__(self) -> None:
        self.id: int = self.dialogue["DialogueID"]
        times = [e["UnixTime"] for e in self.dialogue["Events"] if "UnixTime" in e]
        self.at = _at(times[0])
        self.tasks_served = {c["Task"] for c in _capabilities(self.dialogue)}
        self.handlers: dict[tuple[str, str], Callable[[int, dict[str, Any]], None]] = {
            ("User", "utter"): self.customer_message,
            ("Wizard", "utter"): self.agent_message,
            ("Wizard", "pick_suggestion"): self.agent_message,
            ("Wizard", "query"): self.query,
            ("KnowledgeBase", "return_item"): self.lookup_result,
            ("Wizard", "select_task"): self.task_selected,
            ("Wizard", "select_primary"): self.item_selected,
            ("Wizard", "select_secondary"): self.item_selected,
            ("User", "complete"): self.complete,
            # Skipped: the agent's drafts (request_suggestions) and the collection tool's
            # instructions to the customer (UserGuide instruct) are not conversation.
        }

    def run(self) -> None:
        self.emit("started", self.started())
        for index, event in enumerate(self.dialogue["Events"]):
            # return_item has no time of its own: it happened when its query did.
            self.at = _at(event["UnixTime"]) if "UnixTime" in event else self.at
            handler = self.handlers.get((event["Agent"], event["Action"]))
            if handler:
                handler(index, event)
        self.finish()

    def emit(self, key: str, payload: EventPayload) -> None:
        self.events.append(NewEvent(payload, event_id(self.id, key), self.at))

    # --- events ----------------------------------------------------------------------------

    def started(self) -> SessionStarted:
        dialogue, scenario = self.dialogue, self.dialogue["Scenario"]
        user = dialogue["AnonymizedUserWorkerID"]
        return SessionStarted(
            agent_id=agent_id(dialogue),
            channel=Channel.web,
            contact=Contact(name=pseudonym(user), external_id=user),
            integration=INTEGRATION,
            parameters={
                "star_dialogue_id": str(self.id),
                "star_batch_id": dialogue["BatchID"],
                "wizard_worker_id": dialogue["AnonymizedWizardWorkerID"],
                "happy_path": str(scenario["Happy"]).lower(),
                "multi_task": str(scenario["MultiTask"]).lower(),
                "tasks": ",".join(sorted(self.tasks_served)),
            },
        )

    def customer_message(self, index: int, event: dict[str, Any]) -> None:
        message_id = f"m{index}"
        self.emit(
            str(index),
            MessageRecorded(
                message_id=message_id, author_role=AuthorRole.customer, text=event["Text"]
            ),
        )
        self.last_customer_message = (message_id, event["Text"])

    def agent_message(self, index: int, event: dict[str, Any]) -> None:
        message_id, label = f"m{index}", event.get("ActionLabel")
        self.emit(
            str(index),
            MessageRecorded(
                message_id=message_id,
                author_role=AuthorRole.ai,
                text=event["Text"],
                decision_trace=self.decision_trace(label, event),
            ),
        )
        self.knowledge = []
        if label == OUT_OF_SCOPE:
            self.question_missed(index)
        elif label in GOAL_LABELS:
            self.goal_reached(index, label, message_id)
        elif label and any(word in label for word in FAILURE_WORDS):
            self.failed = True

    def decision_trace(self, label: str | None, event: dict[str, Any]) -> DecisionTrace | None:
        # An item on screen that a look-up just returned is already in the trace.
        shown = [_item(event[k]) for k in ("PrimaryItem", "SecondaryItem") if k in event]
        knowledge = [*self.knowledge]
        for item in shown:
            if not any(item in known for known in knowledge):
                knowledge.append(f"item: {item}")
        if not (label or knowledge):
            return None
        return DecisionTrace(action=label, knowledge_used=tuple(knowledge))

    def question_missed(self, index: int) -> None:
        # The customer's last message is the one the agent could not handle; it is missed
        # once, however often the agent repeats that it cannot help.
        if self.last_customer_message is None or self.last_customer_message[0] in self.missed:
            return
        message_id, text = self.last_customer_message
        self.missed.add(message_id)
        self.emit(
            f"{index}:missed",
            QuestionMissed(
                message_id=message_id,
                question=text,
                source=MissedQuestionSource.workflow,
                node=self.task,
            ),
        )

    def goal_reached(self, index: int, label: str, message_id: str) -> None:
        candidates = GOAL_LABELS[label]
        goal = next((t for t in candidates if t in self.tasks_served), candidates[0])
        if goal in self.goals:  # a repeated confirmation is the same goal
            return
        self.goals.add(goal)
        self.emit(f"{index}:goal", GoalReached(goal=goal, message_id=message_id))

    def query(self, _index: int, event: dict[str, Any]) -> None:
        self.last_query = event

    def lookup_result(self, _index: int, event: dict[str, Any]) -> None:
        constraints = ", ".join(
            f"{name}={value}"
            for c in (self.last_query or {}).get("Constraints", ())
            for name, value in c.items()
        )
        total = event["TotalItems"]
        if total == 0:
            result = "nothing found"
        elif total > 0:
            result = f"{total} found, shown: {_item(event['Item'])}"
        else:
            result = _item(event["Item"])
        self.knowledge.append(f"{event['APIName']}({constraints}) → {result}")

    def item_selected(self, _index: int, event: dict[str, Any]) -> None:
        item = event.get("PrimaryItem") or event.get("SecondaryItem")
        if item:
            self.knowledge.append(f"selected: {_item(item)}")

    def task_selected(self, index: int, event: dict[str, Any]) -> None:
        if event["Task"] == self.task:  # reopening the open form is no new step
            return
        self.task = event["Task"]
        name = self.task.replace("_", " ").capitalize()
        self.emit(f"{index}:journey", JourneyBlockEntered(block_id=self.task, name=name))

    def complete(self, _index: int, _event: dict[str, Any]) -> None:
        self.completed = True

    # --- the end ---------------------------------------------------------------------------

    def finish(self) -> None:
        self.emit("closed", SessionClosed(reason="completed" if self.completed else "abandoned"))
        answers = read_answers(self.dialogue)
        sentiment = customer_sentiment(answers)
        if sentiment:
            label, score = sentiment
            self.emit(
                "sentiment", SentimentScored(scope=SentimentScope.session, label=label, score=score)
            )
        self.emit("analyzed", self.analysis(answers))

    def analysis(self, answers: Answers) -> SessionAnalyzed:
        scenario = self.dialogue["Scenario"]
        return SessionAnalyzed(
            summary=self.summary(),
            session_type="multi_task" if scenario["MultiTask"] else "single_task",
            is_lead=bool(self.tasks_served & BOOKING_TASKS),
            unavailable=self.failed and not self.goals,
            actual_result=", ".join(sorted(self.goals)) or "no goal reached",
            expected_result=scenario["WizardTask"],
            auto_assessment=assess(
                answers, completed=self.completed, goals_reached=bool(self.goals)
            ),
            conversation_quality=conversation_quality(answers, completed=self.completed),
        )

    def summary(self) -> str:
        path = "happy" if self.dialogue["Scenario"]["Happy"] else "unhappy"
        goals = ", ".join(sorted(self.goals)) or "none"
        return (
            f"STAR dialogue {self.id} ({path} path; tasks: {', '.join(sorted(self.tasks_served))})"
            f"; goals reached: {goals}; {self.dialogue['CompletionLevel']}."
        )


def count_types(events: Iterable[NewEvent]) -> dict[str, int]:
    """Events per type, e.g. for an import's report."""
    counts: dict[str, int] = {}
    for item in events:
        counts[item.payload.event_type] = counts.get(item.payload.event_type, 0) + 1
    return counts
