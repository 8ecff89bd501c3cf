"""PagerDuty's Events API v2, as ``POST /v2/enqueue`` speaks it: the event, its validation with
PagerDuty-style error strings, and the bodies PagerDuty answers with.

Monitoring tools with a PagerDuty integration send here by changing only the URL, so the
contract is PagerDuty's (developer.pagerduty.com, "Send an Alert Event"):

- ``routing_key`` (32 letters and digits) and ``event_action`` (trigger, acknowledge, resolve)
  always; ``dedup_key`` at most 255 characters, required for acknowledge and resolve, generated
  for a trigger without one; a trigger's ``payload`` needs ``summary`` (at most 1024 characters),
  ``source`` and ``severity`` (critical, error, warning, info), and may carry ``timestamp``,
  ``component``, ``group``, ``class`` and ``custom_details``; ``images``, ``links``, ``client``
  and ``client_url`` are optional. Unknown members are ignored, as PagerDuty ignores them.
- 202 ``{"status": "success", "message": "Event processed", "dedup_key": ...}``; 400
  ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``;
  429 when a routing key sends too fast.

PagerDuty bounds only ``summary`` and ``dedup_key``; the other text is bounded here
(``TEXT_MAX``, ``URL_MAX``, ``CONTEXTS_MAX``) so that an accepted event always fits the intake
queue's message. The JSON schema of ``PagerDutyEvent`` says exactly what ``validate`` accepts.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from shared.intake.model import DEDUP_KEY_MAX, SUMMARY_MAX, Severity, bounded_details
from shared.kernel.text import drop_null_defaults
from shared.tickets.models import NO_NUL, SOME_TEXT, JsonData, JsonText

ROUTING_KEY_LENGTH = 32
ROUTING_KEY_PATTERN = r"^[A-Za-z0-9]{32}$"
_ROUTING_KEY = re.compile(ROUTING_KEY_PATTERN)
# PagerDuty's limit on an Events API request ("Events API payloads are limited to 512 KB").
MAX_BODY_BYTES = 512 * 1024
# Bounds PagerDuty does not state: text members, URLs, and images or links per event.
TEXT_MAX = 1024
URL_MAX = 2048
CONTEXTS_MAX = 100
# What an accepted event may take in the intake queue's message (the outbox detail, serialized as
# the outbox serializes it): far below SQS's 256 KiB. Over it, custom_details, then images and
# links, are left out (and named in the event's "truncated").
FORWARDED_MAX_BYTES = 48 * 1024

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")

# An ISO 8601 date-time as monitoring tools write it: RFC 3339, also with a space or a lowercase
# "t", without seconds, without an offset (read as UTC) or with one without a colon (+0000, as in
# PagerDuty's own examples).
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]"
    r"(:[0-5][0-9](\.[0-9]{1,9})?)?([Zz]|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?$"
)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_NOTE = "No NUL characters."

STATUS_SUCCESS = "success"
MESSAGE_PROCESSED = "Event processed"
STATUS_INVALID = "invalid event"
MESSAGE_INVALID = "Event object is invalid"
STATUS_THROTTLED = "throttle event"
MESSAGE_THROTTLED = "Request Limit Exceeded"
INVALID_ROUTING_KEY = "Invalid routing key"


# ---- refusals --------------------------------------------------------------------------------------


class Refused(Exception):
    """An event PagerDuty's API would refuse: its status and PagerDuty's body for it."""

    status: ClassVar[int] = 400

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {}


class InvalidEvent(Refused):
    """400: the event is malformed, or its routing key is unknown or revoked."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)

    def body(self) -> dict[str, Any]:
        return invalid_body(self.errors)


class Throttled(Refused):
    """429: the routing key sent more events this minute than its limit; nothing was queued."""

    status = 429

    def __init__(self, *, limit: int, retry_after: int) -> None:
        super().__init__(f"over {limit} events per minute")
        self.limit = limit
        self.retry_after = max(1, retry_after)

    def body(self) -> dict[str, Any]:
        return {
            "status": STATUS_THROTTLED,
            "message": MESSAGE_THROTTLED,
            "errors": [
                f"This routing key sent more than {self.limit} events this minute;"
                f" retry in {self.retry_after} seconds."
            ],
        }

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def invalid_body(errors: Sequence[str]) -> dict[str, Any]:
    return {"status": STATUS_INVALID, "message": MESSAGE_INVALID, "errors": list(errors)}


# ---- the event -------------------------------------------------------------------------------------


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("nul", "contains a NUL character")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "is blank")
    return value


def _alphanumeric(value: str) -> str:
    if not _ROUTING_KEY.match(value):
        raise PydanticCustomError("alphanumeric", "cannot contain non-alphanumeric characters")
    return value


def _timestamp(value: str) -> str:
    if not _TIMESTAMP.match(value):
        raise PydanticCustomError("timestamp", "is not an ISO 8601 date-time")
    return value


def _text(max_length: int, *, required: bool = False) -> Any:
    """Text of at most ``max_length`` characters without NUL; ``required``: not blank either."""
    if required:
        return Field(
            min_length=1,
            max_length=max_length,
            description=f"Not blank. {_NOTE}",
            json_schema_extra={"pattern": SOME_TEXT},
        )
    return Field(max_length=max_length, description=_NOTE, json_schema_extra={"pattern": NO_NUL})


RequiredText = Annotated[
    str, _text(TEXT_MAX, required=True), AfterValidator(_no_nul), AfterValidator(_not_blank)
]
Text = Annotated[str, _text(TEXT_MAX), AfterValidator(_no_nul)]
RequiredUrl = Annotated[
    str, _text(URL_MAX, required=True), AfterValidator(_no_nul), AfterValidator(_not_blank)
]
Url = Annotated[str, _text(URL_MAX), AfterValidator(_no_nul)]
Summary = Annotated[
    str, _text(SUMMARY_MAX, required=True), AfterValidator(_no_nul), AfterValidator(_not_blank)
]
RoutingKey = Annotated[
    str,
    Field(
        min_length=ROUTING_KEY_LENGTH,
        max_length=ROUTING_KEY_LENGTH,
        description="The integration's routing key (32 letters and digits), shown when the integration was"
        " created or its key rotated. It authenticates the event: no token is needed.",
        json_schema_extra={"pattern": ROUTING_KEY_PATTERN},
    ),
    AfterValidator(_alphanumeric),
]
Timestamp = Annotated[
    str,
    Field(
        description="When the monitoring tool saw the event: an ISO 8601 date-time (e.g."
        " 2015-07-17T08:42:58.315+0000; without an offset, UTC). Without one, the time it arrived."
        " A date that does not exist (February 30) counts as none.",
        json_schema_extra={"pattern": TIMESTAMP_PATTERN},
    ),
    AfterValidator(_timestamp),
]
TriggerDedupKey = Annotated[
    str,
    Field(
        max_length=DEDUP_KEY_MAX,
        description="Identifies the alert: later events with the same key update it. Absent (or blank), a"
        f" new key is generated and returned. {_NOTE}",
        json_schema_extra={"pattern": NO_NUL},
    ),
    AfterValidator(_no_nul),
]
FollowUpDedupKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=DEDUP_KEY_MAX,
        description="The key of the alert to acknowledge or resolve (as its trigger had, or was given)."
        f" {_NOTE}",
        json_schema_extra={"pattern": SOME_TEXT},
    ),
    AfterValidator(_no_nul),
    AfterValidator(_not_blank),
]
# custom_details: a JSON object whose strings and keys hold no NUL (PostgreSQL cannot store it).
CustomDetails = Annotated[
    dict[JsonText, JsonData],
    Field(
        description="Free-form details about the event (kept up to 32 KiB as compact JSON).",
        json_schema_extra={"additionalProperties": False},
    ),
]


class _Part(BaseModel):
    # Unknown members are ignored, as PagerDuty ignores them.
    model_config = ConfigDict(extra="ignore", json_schema_extra=drop_null_defaults)


class PagerDutyImage(_Part):
    src: RequiredUrl = Field(description="The image's URL (PagerDuty shows only HTTPS images).")
    href: Url | None = None
    alt: Text | None = None


class PagerDutyLink(_Part):
    href: RequiredUrl
    text: Text | None = None


class PagerDutyPayload(_Part):
    summary: Summary = Field(description="What happened; it becomes the ticket's title.")
    source: RequiredText = Field(description="Where: the affected system, preferably a hostname or FQDN.")
    severity: Severity
    timestamp: Timestamp | None = None
    component: Text | None = None
    group: Text | None = None
    class_: Text | None = Field(default=None, alias="class")
    custom_details: CustomDetails | None = None


class _Event(_Part):
    routing_key: RoutingKey
    client: Text | None = Field(default=None, description="The monitoring tool's name.")
    client_url: Url | None = Field(default=None, description="The monitoring tool's URL.")
    images: list[PagerDutyImage] | None = Field(default=None, max_length=CONTEXTS_MAX)
    links: list[PagerDutyLink] | None = Field(default=None, max_length=CONTEXTS_MAX)


class PagerDutyTrigger(_Event):
    """A new problem, or a problem seen again (same ``dedup_key``)."""

    event_action: Literal["trigger"]
    dedup_key: TriggerDedupKey | None = None
    payload: PagerDutyPayload


class PagerDutyFollowUp(_Event):
    """The problem ``dedup_key`` names is being worked on (acknowledge) or is over (resolve).
    A ``payload`` is ignored."""

    event_action: Literal["acknowledge", "resolve"]
    dedup_key: FollowUpDedupKey


class PagerDutyEvent(
    RootModel[Annotated[PagerDutyTrigger | PagerDutyFollowUp, Field(discriminator="event_action")]]
):
    """A PagerDuty Events API v2 alert event: a trigger (with a payload), an acknowledge or a resolve
    (with the dedup_key of the alert)."""


class PagerDutyAccepted(BaseModel):
    status: Literal["success"] = Field(description='"success".')
    message: str = Field(description='"Event processed".')
    dedup_key: str = Field(description="The event's dedup_key: the one sent, or the one generated for it.")


class PagerDutyError(BaseModel):
    status: str = Field(description='"invalid event" (400) or "throttle event" (429).')
    message: str = Field(description='"Event object is invalid" (400) or "Request Limit Exceeded" (429).')
    errors: list[str] = Field(
        default_factory=list, description="What is wrong, one sentence per problem found."
    )


# ---- validation with PagerDuty's words ---------------------------------------------------------------


def validate(document: Any) -> PagerDutyTrigger | PagerDutyFollowUp:
    """The event ``document`` (parsed JSON) holds; ``InvalidEvent`` naming every problem else."""
    try:
        return PagerDutyEvent.model_validate(document).root
    except ValidationError as exc:
        raise InvalidEvent(describe(exc.errors())) from None


def describe(errors: Sequence[Any]) -> list[str]:
    """PagerDuty-style sentences for pydantic's errors (``'payload.summary' is missing or blank``),
    each once, in order; never the values sent."""
    described: list[str] = []
    for error in errors:
        sentence = _sentence(error)
        if sentence not in described:
            described.append(sentence)
    return described


_DETAILS = "payload.custom_details"


def _where(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ACTIONS:  # the discriminated union's branch, not a member
        parts = parts[1:]
    return ".".join(parts)


def _sentence(error: Any) -> str:
    kind = str(error.get("type", ""))
    loc = tuple(error.get("loc") or ())
    where = _where(loc)
    ctx = error.get("ctx") or {}
    if kind == "union_tag_not_found":
        return "'event_action' is missing or blank"
    if kind == "union_tag_invalid":
        return f"'event_action' is invalid (should be one of {', '.join(ACTIONS)})"
    if not where:
        return "The event must be a JSON object."
    if kind == "string_unicode":  # a lone surrogate ("\ud800" in JSON), which no text may hold
        return f"'{_DETAILS if where.startswith(_DETAILS) else where}' cannot contain lone surrogates"
    if where.startswith(_DETAILS + "."):
        # Inside custom_details any JSON is fine but a NUL character (in a string or a key); the
        # location would name pydantic's union members, not the client's keys.
        return f"'{_DETAILS}' cannot contain NUL characters"
    if where == "routing_key" and kind in ("string_too_short", "string_too_long"):
        return f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)"
    if kind in ("missing", "blank") or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return f"'{where}' is missing or blank"
    if kind == "alphanumeric":
        return f"'{where}' cannot contain non-alphanumeric characters."
    if kind == "nul" or (kind == "string_pattern_mismatch" and ctx.get("pattern") == NO_NUL):
        return f"'{where}' cannot contain NUL characters"
    if kind == "string_too_long":
        return f"Length of '{where}' is too long (should be at most {ctx.get('max_length')} characters)"
    if kind == "too_long":
        return f"'{where}' has too many items (should be at most {ctx.get('max_length')})"
    if kind == "literal_error" and where.endswith("severity"):
        return f"'{where}' is invalid (should be one of {', '.join(SEVERITIES)})"
    if kind == "timestamp":
        return f"'{where}' is invalid (should be an ISO 8601 date-time, e.g. 2015-07-17T08:42:58.315+0000)"
    if kind == "string_type":
        return f"'{where}' should be a string"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"'{where}' should be an object"
    if kind == "list_type":
        return f"'{where}' should be an array"
    return f"'{where}' is invalid"


# ---- what is queued ----------------------------------------------------------------------------------


def new_dedup_key() -> str:
    """A dedup key for a trigger that came without one (PagerDuty generates a UUID too)."""
    return uuid.uuid4().hex


def dedup_key_of(event: PagerDutyTrigger | PagerDutyFollowUp) -> str | None:
    """The event's own dedup key; None for a trigger without one (or with a blank one)."""
    key = event.dedup_key
    return key if key is not None and key.strip() else None


def normalized_timestamp(value: str | None) -> str | None:
    """An RFC 3339 UTC time for ``value`` (offset-less times are UTC); None if it names no real
    instant (February 30, year 0)."""
    if value is None:
        return None
    text = value.upper()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC).isoformat()
    except OverflowError:  # year 1 with a positive offset
        return None


def forwarded(event: PagerDutyTrigger | PagerDutyFollowUp, dedup_key: str) -> dict[str, Any]:
    """The event as the intake worker receives it (``EnqueuedEvent.event``): the validated members
    that were sent, without the routing key (a secret), with ``dedup_key`` filled in, the
    timestamp as RFC 3339 UTC (left out if it names no real instant) and ``custom_details``
    bounded (``shared.intake.model.bounded_details``). If the whole is still larger than
    ``FORWARDED_MAX_BYTES``, custom_details and then images and links are left out and named in
    ``truncated``."""
    data = event.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"routing_key"})
    data["dedup_key"] = dedup_key
    payload = data.get("payload")
    if isinstance(payload, dict):
        timestamp = normalized_timestamp(payload.pop("timestamp", None))
        if timestamp is not None:
            payload["timestamp"] = timestamp
        if "custom_details" in payload:
            payload["custom_details"] = bounded_details(payload["custom_details"])
    truncated: list[str] = []
    if _size(data) > FORWARDED_MAX_BYTES and isinstance(payload, dict) and payload.get("custom_details"):
        payload["custom_details"] = bounded_details(payload["custom_details"], limit=0)
        truncated.append("payload.custom_details")
    for member in ("images", "links"):
        if _size(data) > FORWARDED_MAX_BYTES and data.get(member):
            del data[member]
            truncated.append(member)
    if truncated:
        data["truncated"] = truncated
    return data


def _size(value: Any) -> int:
    """Bytes of ``value`` as the outbox serializes a detail (``json.dumps``, ASCII escapes)."""
    return len(json.dumps(value, default=str))


def accepted_body(dedup_key: str) -> dict[str, Any]:
    return {"status": STATUS_SUCCESS, "message": MESSAGE_PROCESSED, "dedup_key": dedup_key}
