"""Value objects and closed vocabularies shared by event payloads and the aggregate state.

Every vocabulary is a ``StrEnum`` so that a value outside its set fails pydantic validation
(which the API answers with 422) and the JSON Schema export lists the allowed values.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    StringConstraints,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError, PydanticKnownError

# Text a person must actually write (a reason, a tag): surrounding blanks do not count.
NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]

# The validation context of a stored event's payload as it is decoded (``domain.registry``):
# a rule on what may be written from now on must not make an event stored before it
# unreadable, nor change what it says.
STORED = {"stored": True}
BLANK_MESSAGE = "must hold more than white space"


def _not_blank(value: str, info: ValidationInfo) -> str:
    if value.isspace() and not (info.context or {}).get("stored"):
        raise PydanticCustomError("blank", BLANK_MESSAGE)
    return value


# Refused when new if it is only white space, and kept as sent otherwise (an id or a
# question is not trimmed: the ledger records what it was told).
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_not_blank)
]
MAX_TEXT_CHARS = 20_000
Written = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(_not_blank)
]


def utc(value: datetime) -> datetime:
    """The same instant in UTC, as the ledger stores every time.

    An offset can carry a valid instant past what Python's datetime holds (year 1 to 9999)
    once converted: that is the caller's input out of range (a ValueError, which pydantic
    reports against the field), not a failure of ours."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range: in UTC it must fall within years 1 to 9999") from None


# An aware instant, held in UTC.
Instant = Annotated[AwareDatetime, AfterValidator(utc)]

# A day inside what Python's datetime holds on each side: the read models show each instant
# in its workspace's zone, and one within a day of either end has no local time in some zone
# (every read model parked it, and every later event of its session).
EARLIEST_REPORTED = datetime(1, 1, 2, tzinfo=UTC)
LATEST_REPORTED = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)


def reportable(value: datetime) -> datetime:
    if not EARLIEST_REPORTED <= value <= LATEST_REPORTED:
        raise ValueError(
            f"is out of range: in UTC it must fall between {EARLIEST_REPORTED.date()} and"
            f" {LATEST_REPORTED.date()}, so that it has a local time in every time zone"
        )
    return value


# When a client says something happened. Only what is accepted from now on is held to the
# narrower range: an instant stored before must still decode (``Instant``).
ReportedInstant = Annotated[Instant, AfterValidator(reportable)]

# The integers the ledger's JSON encoder (orjson) can write: any other would be a 500 when
# the event is sealed, after validation let it through.
STORABLE_INT_MIN = -(2**63)
STORABLE_INT_MAX = 2**64 - 1
STORABLE_INT_MESSAGE = f"Input should be an integer from {STORABLE_INT_MIN} to {STORABLE_INT_MAX}"


def storable_int(value: int) -> int:
    """``value``, refused when orjson cannot write it. A validator, not
    ``Field(ge=..., le=...)``, so the exported JSON Schemas (``schemas/events``) stay as they
    are: the bound is this encoder's limit, not part of the stored documents' contract."""
    if not STORABLE_INT_MIN <= value <= STORABLE_INT_MAX:
        raise PydanticCustomError("int_out_of_range", STORABLE_INT_MESSAGE)
    return value


StorableInt = Annotated[int, AfterValidator(storable_int)]
Scalar = str | int | float | bool | None


def _storable_scalar(value: Scalar) -> Scalar:
    # Checked on the union's result, not by constraining its members: a member that refused
    # the value would hand it to the next (an out-of-range int would become a float), and
    # pydantic would report one error per member, each under the member's name as a field.
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticKnownError("finite_number")
    if isinstance(value, int):
        return storable_int(value)
    return value


# A value a customer typed into a form or the agent collected as a key fact.
FieldValue = Annotated[Scalar, AfterValidator(_storable_scalar)]


class ValueObject(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Channel(StrEnum):
    web = "web"
    sms = "sms"
    voice = "voice"
    email = "email"
    whatsapp = "whatsapp"
    telegram = "telegram"
    messenger = "messenger"
    instagram = "instagram"
    api = "api"
    other = "other"


class AuthorRole(StrEnum):
    customer = "customer"
    ai = "ai"
    human_agent = "human_agent"
    copilot_draft = "copilot_draft"
    private_note = "private_note"


# Roles whose messages the customer exchanged; drafts and notes never count as messages.
CUSTOMER_VISIBLE_ROLES = frozenset({AuthorRole.customer, AuthorRole.ai, AuthorRole.human_agent})


class Reaction(StrEnum):
    thumbs_up = "thumbs_up"
    thumbs_down = "thumbs_down"


class ReactorRole(StrEnum):
    """Who gave a reaction: the customer in the widget, the operator, or a reviewer later."""

    customer = "customer"
    human_agent = "human_agent"
    reviewer = "reviewer"


class DeliveryStatus(StrEnum):
    sent = "sent"
    delivered = "delivered"
    read = "read"
    failed = "failed"


class SentimentScope(StrEnum):
    message = "message"
    session = "session"


class SentimentLabel(StrEnum):
    positive = "positive"
    neutral = "neutral"
    negative = "negative"


class MissedQuestionSource(StrEnum):
    workflow = "workflow"
    api = "api"


class HandoverTrigger(StrEnum):
    manual = "manual"
    automatic = "automatic"
    customer_request = "customer_request"


class Assessment(StrEnum):
    """Did the agent succeed? Yes-A and Yes-B both count as success for ASR, No does not."""

    yes_a = "Yes-A"
    yes_b = "Yes-B"
    no = "No"


class Flag(StrEnum):
    is_test = "is_test"
    is_todo = "is_todo"
    is_archived = "is_archived"
    is_favorite = "is_favorite"
    is_opportunity = "is_opportunity"


class MissedQuestionStatus(StrEnum):
    unresolved = "unresolved"
    resolved = "resolved"
    ignored = "ignored"


class Contact(ValueObject):
    name: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    external_id: str | None = Field(default=None, max_length=200)

    def merged_with(self, learnt: Contact) -> Contact:
        """This contact with every field ``learnt`` knows taking precedence."""
        return self.model_copy(update=learnt.model_dump(exclude_none=True))


class Location(ValueObject):
    country: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=200)


class Attachment(ValueObject):
    name: str = Field(max_length=500)
    url: str | None = Field(default=None, max_length=4000)
    content_type: str | None = Field(default=None, max_length=200)
    # ``ge`` inside the type: given on the field, pydantic cannot push it past the validator
    # into the optional int, and would export it as ``"ge"`` instead of ``"minimum"``.
    size_bytes: Annotated[NonNegativeInt, AfterValidator(storable_int)] | None = None


class DecisionTrace(ValueObject):
    """Why the AI said what it said: the action taken and the knowledge it used."""

    action: str | None = Field(default=None, max_length=500)
    knowledge_used: tuple[str, ...] = ()
