"""The STAR mapping on real dialogues from the data set: what each becomes, and the rules that
turn questionnaire answers into an assessment, stars and a sentiment."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from api.importers.demo import demo_data_path
from api.importers.star import (
    IMPORTER,
    Answers,
    assess,
    conversation_quality,
    customer_sentiment,
    map_dialogue,
    pseudonym,
    read_answers,
    session_id,
)
from domain.events import Assessment, SentimentLabel
from domain.session import EventContext, Session
from infra.settings import Settings
from tests.helpers import needs_data

STAR_FILE = demo_data_path(Settings.model_fields["demo_data"].default)
COMPLETE, EARLY_DISCONNECT, EMPTY_DISCONNECT, OUT_OF_SCOPE = 1, 24, 44, 2016

pytestmark = needs_data(STAR_FILE, "the STAR data set")


@pytest.fixture(scope="module")
def dialogues() -> dict[int, dict[str, Any]]:
    wanted = {COMPLETE, EARLY_DISCONNECT, EMPTY_DISCONNECT, OUT_OF_SCOPE}
    found: dict[int, dict[str, Any]] = {}
    with gzip.open(STAR_FILE, "rt", encoding="utf-8") as lines:
        for line in lines:
            dialogue = json.loads(line)
            if dialogue["DialogueID"] in wanted:
                found[dialogue["DialogueID"]] = dialogue
            if len(found) == len(wanted):
                return found
    raise AssertionError(f"dialogues {wanted - set(found)} are missing from the file")


def recorded(dialogue: dict[str, Any]) -> Session:
    """The mapped events recorded through the real aggregate: every rule must accept them."""
    session = Session(session_id(dialogue["DialogueID"]))
    context = EventContext(workspace_id="w", actor=IMPORTER, recorded_at=datetime.now(UTC))
    for item in map_dialogue(dialogue):
        session.record(item.payload, context, event_id=item.event_id, occurred_at=item.occurred_at)
    return session


def test_a_complete_dialogue_becomes_a_closed_session_with_its_messages(dialogues):
    dialogue = dialogues[COMPLETE]
    state = recorded(dialogue).state

    assert state.agent_id == "star-doctor"
    assert state.channel == "web"
    user = dialogue["AnonymizedUserWorkerID"]
    assert state.contact.external_id == user
    assert state.contact.name == pseudonym(user)
    assert state.started_at == datetime.fromtimestamp(dialogue["Events"][0]["UnixTime"], UTC)
    assert [(e.author_role, e.text) for e in state.transcript] == [
        ("customer" if e["Agent"] == "User" else "ai", e["Text"])
        for e in dialogue["Events"]
        if e["Action"] in ("utter", "pick_suggestion")
    ]
    assert state.status == "closed"
    assert state.close_reason == "completed"


def test_agent_messages_carry_the_action_label_and_the_look_ups_behind_them(dialogues):
    state = recorded(dialogues[COMPLETE]).state

    instructions = state.transcript_entry("m11")
    assert instructions.decision_trace.action == "doctor_inform_doctors_instructions"
    (look_up,) = instructions.decision_trace.knowledge_used
    assert look_up.startswith('doctor_followup(Name=api.is_equal_to("Dr. Johnson")')
    assert "Take your medicine before you go to sleep" in look_up
    assert [goal.goal for goal in state.goals] == ["doctor_followup"]
    assert state.goals[0].message_id == "m11"


def test_questionnaires_become_sentiment_and_an_analysis(dialogues):
    state = recorded(dialogues[COMPLETE]).state

    # The customer found the assistant calm and helpful, and the agent reported success, but
    # no task question was asked: success only on the agent's word.
    assert state.sentiment.label == "positive"
    assert state.analysis.auto_assessment == Assessment.yes_b
    assert state.analysis.conversation_quality == 4
    assert state.analysis.actual_result == "doctor_followup"


def test_an_early_disconnect_is_an_abandoned_session_without_sentiment(dialogues):
    state = recorded(dialogues[EARLY_DISCONNECT]).state

    assert [e.author_role for e in state.transcript] == ["customer", "ai", "customer", "ai"]
    assert state.close_reason == "abandoned"
    assert state.sentiment is None  # nobody answered a questionnaire
    assert state.analysis.auto_assessment == Assessment.no


def test_an_early_disconnect_without_any_message_is_not_imported(dialogues):
    assert map_dialogue(dialogues[EMPTY_DISCONNECT]) == []


def test_an_out_of_scope_answer_misses_the_customer_message_before_it(dialogues):
    dialogue = dialogues[OUT_OF_SCOPE]
    state = recorded(dialogue).state

    (missed,) = state.missed_questions
    assert missed.message_id == "m11"
    assert missed.question == dialogue["Events"][11]["Text"]
    assert missed.source == "workflow"
    assert state.transcript_entry("m11").missed
    payloads = [item.payload for item in map_dialogue(dialogue)]
    at = next(k for k, p in enumerate(payloads) if p.event_type == "session.question_missed")
    assert payloads[at - 1].decision_trace.action == "out_of_scope"  # recorded right after it


def test_drafts_and_instructions_are_not_messages(dialogues):
    dialogue = dialogues[COMPLETE]
    texts = {e.text for e in recorded(dialogue).state.transcript}

    for event in dialogue["Events"]:
        if event["Action"] in ("request_suggestions", "instruct"):
            assert event["Text"] not in texts


def test_ids_are_deterministic_and_unique(dialogues):
    first = [item.event_id for item in map_dialogue(dialogues[OUT_OF_SCOPE])]
    again = [item.event_id for item in map_dialogue(dialogues[OUT_OF_SCOPE])]

    assert first == again
    assert len(set(first)) == len(first)
    assert session_id(OUT_OF_SCOPE) != session_id(COMPLETE)


def test_every_hand_picked_dialogue_reads_its_questionnaires(dialogues):
    answers = read_answers(dialogues[OUT_OF_SCOPE])
    assert answers == Answers(calm=True, task_success=(), annoyed=False, unsure=False)


@pytest.mark.parametrize(
    ("answers", "completed", "goals", "expected"),
    [
        (Answers(calm=True, task_success=(True,)), True, False, Assessment.yes_a),
        (Answers(calm=False, task_success=(True,)), True, False, Assessment.yes_b),
        (Answers(calm=True), True, True, Assessment.yes_b),
        (Answers(calm=True), True, False, Assessment.no),
        (Answers(calm=True, task_success=(True, False)), True, True, Assessment.no),
        (Answers(calm=True, task_success=(True,)), False, True, Assessment.no),
    ],
)
def test_auto_assessment(answers, completed, goals, expected):
    assert assess(answers, completed=completed, goals_reached=goals) == expected


@pytest.mark.parametrize(
    ("answers", "completed", "stars"),
    [
        (Answers(calm=True, task_success=(True,), annoyed=False, unsure=False), True, 5),
        (Answers(), True, 3),
        (Answers(calm=False, task_success=(False,), annoyed=True, unsure=True), True, 1),
        (Answers(calm=True), False, 3),
    ],
)
def test_conversation_quality(answers, completed, stars):
    assert conversation_quality(answers, completed=completed) == stars


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (Answers(calm=True, task_success=(True,)), (SentimentLabel.positive, 1.0)),
        (Answers(calm=True, task_success=(False,)), (SentimentLabel.neutral, 0.0)),
        (
            Answers(calm=True, annoyed=True, task_success=(False,)),
            (SentimentLabel.negative, -1 / 3),
        ),
        (Answers(annoyed=False), None),
    ],
)
def test_customer_sentiment(answers, expected):
    assert customer_sentiment(answers) == expected
