"""Identities the read models derive from events: contact identifiers and missed-question groups.

Pure functions, no I/O. They live in the domain because commands use them too: a reviewer
command addresses a missed-question group by the same id the read model files it under.

Phone numbers are normalised to E.164 without a phone library, so the rules are deliberately
small. Limits: numbers written without an international prefix need ``default_country_code``
and lose one national trunk ``0`` (right for most of Europe, wrong for Italy, whose numbers
keep it); ``(0)`` after a country code is dropped; only ``+`` and ``00`` are recognised as
international prefixes (not ``011`` and other national exit codes); an extension (``ext``,
``x``, ``#``) is cut off; letters (vanity numbers) make a number unusable; and the length is
checked against E.164's 7–15 digits, not against any country's numbering plan.
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import NamedTuple

import orjson

MIN_E164_DIGITS = 7
MAX_E164_DIGITS = 15
_EXTENSION = re.compile(r"\s*(?:ext\.?|x|#)\s*\d+\s*$", re.IGNORECASE)
_FORMATTING = re.compile(r"[\s\-./()]")
# Fixed namespaces: group and lead ids must be the same on every rebuild.
MISSED_QUESTION_NAMESPACE = uuid.UUID("6f1d7c1e-3d0e-4c55-9a7e-6a4b1c0f2e11")
LEAD_NAMESPACE = uuid.UUID("0c8a9b52-7f3e-4b0a-8d61-2f5e9c4a7d30")


class IdentifierKind(StrEnum):
    email = "email"
    phone = "phone"
    external_id = "external_id"


class ContactIdentifier(NamedTuple):
    kind: IdentifierKind
    value: str


def normalise_email(raw: str | None) -> str | None:
    """Case-folded and stripped; ``None`` for anything that is not ``local@domain``."""
    if not raw:
        return None
    email = raw.strip().casefold()
    local, at, domain = email.partition("@")
    return email if at and local and domain and not any(c.isspace() for c in email) else None


def normalise_phone(raw: str | None, default_country_code: str | None = None) -> str | None:
    """The number in E.164 (``+4930123456``), or ``None`` when it cannot be made one."""
    if not raw:
        return None
    text = _FORMATTING.sub("", _EXTENSION.sub("", raw.strip()).replace("(0)", ""))
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    elif default_country_code:
        digits = default_country_code.lstrip("+") + text.removeprefix("0")
    else:
        return None  # a national number without a country to put it in
    if not digits.isdigit() or digits.startswith("0"):
        return None
    return f"+{digits}" if MIN_E164_DIGITS <= len(digits) <= MAX_E164_DIGITS else None


def normalise_external_id(raw: str | None) -> str | None:
    value = raw.strip() if raw else ""
    return value or None


def contact_identifiers(
    *,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
    default_country_code: str | None = None,
) -> list[ContactIdentifier]:
    """The usable identifiers among these raw values, normalised; unusable ones are left out."""
    candidates = (
        (IdentifierKind.email, normalise_email(email)),
        (IdentifierKind.phone, normalise_phone(phone, default_country_code)),
        (IdentifierKind.external_id, normalise_external_id(external_id)),
    )
    return [ContactIdentifier(kind, value) for kind, value in candidates if value]


def normalise_question(text: str) -> str:
    """The built-in normalisation (``MissedQuestionNormalisation()``'s): runs of whitespace
    collapsed to one space, ends stripped; case and punctuation kept."""
    return " ".join(text.split())


def missed_question_group_id(workspace_id: str, agent_id: str, question: str) -> uuid.UUID:
    """The id of the group ``question`` (as reported) falls in under the built-in
    normalisation, which is also the id of its ``missed_question`` stream.

    It is the question's *wording id*: a reviewer's status recorded on it stays the question's
    when rules that normalise differently regroup it (``projections.missed_questions``)."""
    return normalised_question_group_id(workspace_id, agent_id, normalise_question(question))


def normalised_question_group_id(workspace_id: str, agent_id: str, wording: str) -> uuid.UUID:
    """The id of the group of questions whose normalised wording is ``wording``, taken as it
    is: the caller normalised it, under whichever rules it groups by."""
    key = orjson.dumps([workspace_id, agent_id, wording]).decode()
    return uuid.uuid5(MISSED_QUESTION_NAMESPACE, key)


def lead_id_for_session(session_id: uuid.UUID) -> uuid.UUID:
    """The lead a session opens when it starts (distinct from the session id on purpose)."""
    return uuid.uuid5(LEAD_NAMESPACE, str(session_id))
