"""What clients send and see of watchers and notification preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shared.kernel.text import drop_null_defaults
from shared.tickets.models import TenantId

# The e-mails the service sends (shared.notify.sending); each person may opt out of any of them.
EMAIL_EVENT_TYPES: dict[str, str] = {
    "ticket.created": "The confirmation a requester gets for a new ticket.",
    "ticket.commented": "A public comment by someone else (to the requester, the assignee and watchers).",
    "ticket.state_changed": "The ticket waits for its requester, or was resolved or closed (to the"
    " requester, the assignee and watchers).",
    "sla.at_risk": "An SLA clock passed its at-risk threshold (to the assignee and escalation targets).",
    "sla.breached": "An SLA clock passed its target (to the assignee and escalation targets).",
}
EmailEventType = Literal[
    "ticket.created", "ticket.commented", "ticket.state_changed", "sla.at_risk", "sla.breached"
]
assert list(get_args(EmailEventType)) == list(EMAIL_EVENT_TYPES)

Audience = Literal["tenant", "platform"]
# At most this many watchers per ticket: the list is one response, and every watcher is one e-mail
# per public comment or state change.
MAX_WATCHERS = 100

# A plausible address, as SES takes it: a dot-atom local part (RFC 5322 atext, ASCII) and a domain
# of at least two DNS labels (ASCII: an internationalized domain in its xn-- form). Written for
# both Python's and ECMA-262's regular expressions (the schema carries it), without \s or
# look-around; nothing is trimmed, so the server accepts exactly what the pattern allows.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})+$"


def _lower_domain(value: str) -> str:
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=254, pattern=EMAIL_PATTERN),
    Field(description="An e-mail address (local@domain, ASCII); its domain is stored lowercased."),
    AfterValidator(_lower_domain),
]
Subject = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$"),
    Field(description="A person's subject (the `sub` of their token)."),
]


class WatcherAdd(BaseModel):
    """Watch a ticket yourself (``email`` only), or, platform roles, make someone else watch it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_null_defaults)

    email: Email = Field(description="Where the ticket's e-mails go for this watcher.")
    subject: Subject | None = Field(
        default=None,
        description="Someone else (platform roles only; a tenant role may name only itself); the caller"
        " when left out.",
    )
    tenant_id: TenantId | None = Field(
        default=None,
        description="Platform roles: the watcher is a tenant person of this tenant, which must be the"
        " ticket's (422; a platform-only ticket has platform watchers only); left out, a platform person."
        " A tenant person is only ever e-mailed public content. Tenant roles watch as themselves (their"
        " own tenant).",
    )


class Watcher(BaseModel):
    ticket_id: str = Field(description="The ticket's id.")
    subject: str = Field(description="The watcher's subject (the `sub` of their token).")
    tenant_id: str | None = Field(description="The tenant of a tenant person; null for a platform person.")
    audience: Audience = Field(
        description="tenant: a tenant person, only ever e-mailed public content; platform: a platform"
        " person, e-mailed what platform roles see."
    )
    email: str | None = Field(
        description="Where the ticket's e-mails go for this watcher; shown to platform roles and to the"
        " watcher themselves only (null for a tenant role reading someone else's)."
    )
    added_by: str = Field(description="Who added the watch (the watcher, or a platform role).")
    added_at: datetime


class WatcherList(BaseModel):
    items: list[Watcher] = Field(
        description=f"Oldest first; a ticket has at most {MAX_WATCHERS} watchers.", max_length=MAX_WATCHERS
    )


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class NotificationPreferences(BaseModel):
    """One person's e-mail preferences: the whole document (PUT replaces it)."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = Field(
        default=None,
        description="Where e-mails about the tickets you requested or are assigned go (tickets name"
        " people by subject); null: you get none of those. A watch carries its own address.",
    )
    opt_out: Annotated[list[EmailEventType], Field(max_length=20), AfterValidator(_unique)] = Field(
        default_factory=list,
        description="The e-mails you do not want (repeats count once): "
        + "; ".join(f"`{k}`: {v}" for k, v in EMAIL_EVENT_TYPES.items()),
    )


class StoredPreferences(NotificationPreferences):
    updated_at: datetime | None = Field(default=None, description="When they were last saved; null: never.")
