"""Opaque keyset cursors: base64url JSON naming the last row seen and the query it belongs to.

A cursor's position is validated by type and range (a pydantic model, strictly) before anything
reaches SQL: a cursor is client input, however opaque it looks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from shared.kernel.errors import BadRequest

CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"  # base64url, unpadded
CURSOR_MAX_LENGTH = 512
_NOT_OURS = "The cursor is not one this API issued."

# A page's items stop before their JSON passes this many bytes (the first item always fits), so
# that a list response stays far below Lambda's 6 MB response limit whatever the rows hold: one
# ticket, comment or event is at most a few hundred KB (every stored text and JSON is bounded).
PAGE_BUDGET_BYTES = 1_000_000

PositionT = TypeVar("PositionT", bound="Position")
ItemT = TypeVar("ItemT", bound=BaseModel)


class Position(BaseModel):
    """Where a page ended; subclasses name the key they page on."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class IdPosition(Position):
    id: UUID


class RowPosition(Position):
    """A bigint identity key (append-only logs)."""

    row: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]


class SeqPosition(Position):
    seq: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]


class KeyPosition(Position):
    """A short text key (configuration named by its id, e.g. calendars)."""

    key: Annotated[str, Field(min_length=1, max_length=64)]


def query_fingerprint(params: dict[str, Any]) -> str:
    canonical = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode(position: Position, fingerprint: str) -> str:
    raw = json.dumps({"p": position.model_dump(mode="json"), "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, fingerprint: str, position: type[PositionT]) -> PositionT:
    """The position a cursor names, if this API issued it for this query; BadRequest otherwise."""
    try:
        if len(cursor) > CURSOR_MAX_LENGTH:
            raise ValueError
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        raw, fp = data["p"], data["q"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise BadRequest(_NOT_OURS) from exc
    if fp != fingerprint:
        raise BadRequest("The cursor belongs to a different query; start again without it.")
    try:
        # JSON mode: a UUID arrives as its string, and strict mode still refuses a bool for an int.
        return position.model_validate_json(json.dumps(raw))
    except ValidationError as exc:
        raise BadRequest(_NOT_OURS) from exc


@dataclass(frozen=True)
class Page:
    """One page, its items already serialized (each once): ``{"items": [...], "next_cursor": ...}``."""

    items: list[str]
    next_cursor: str | None

    def json(self) -> str:
        return f'{{"items":[{",".join(self.items)}],"next_cursor":{json.dumps(self.next_cursor)}}}'


def page(
    items: Sequence[ItemT],
    *,
    more: bool,
    position: Callable[[ItemT], Position],
    fingerprint: str,
    end: Position | None = None,
    budget: int = PAGE_BUDGET_BYTES,
) -> Page:
    """The page of ``items`` (already at most ``limit``) that fits ``budget`` bytes.

    ``more`` says whether rows follow; the next cursor then continues after ``end`` (where the
    query's page ended, if not at its last item) or after the last item. A page cut short by the
    budget continues after the last item it holds.
    """
    rendered: list[str] = []
    size = 0
    for item in items:
        text = item.model_dump_json()
        size += len(text.encode())
        if rendered and size > budget:
            return Page(rendered, encode(position(items[len(rendered) - 1]), fingerprint))
        rendered.append(text)
    if not more:
        return Page(rendered, None)
    after = end or (position(items[-1]) if items else None)
    return Page(rendered, encode(after, fingerprint) if after is not None else None)
