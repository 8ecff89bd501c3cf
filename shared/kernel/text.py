"""Text as clients send it: the patterns and the trimming every request model shares.

Lengths are checked on what the client sent, before any trimming, so the server never accepts
what its own schema refuses; required text is then trimmed and must keep a non-whitespace
character. NUL characters (PostgreSQL text cannot hold them) and lone surrogates are refused
before validation (``shared.http.gate``); the patterns say so too.

"Whitespace" is spelled out rather than written ``\\s``: ``\\s`` means different characters to
Python (``str.strip``), to ECMA-262 (JSON Schema patterns: it includes U+FEFF but not U+001C-1F
or U+0085) and to other engines. ``WHITESPACE`` is exactly what ``str.strip()`` removes, so the
pattern a client validates against and the trimming the server does agree character by character.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints
from typing_extensions import TypeAliasType

WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_NUL = r"^[^\x00]*$"
SOME_TEXT = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
TEXT_NOTE = "No NUL characters or lone surrogates."


def drop_null_defaults(schema: dict[str, Any]) -> None:
    """A request model's ``json_schema_extra``: optional members are simply absent, so their schema
    carries no ``default: null``."""
    for prop in (schema.get("properties") or {}).values():
        if isinstance(prop, dict) and "default" in prop and prop["default"] is None:
            del prop["default"]


def trimmed(value: str) -> str:
    """``value`` without surrounding whitespace; refused when nothing else is left."""
    stripped = value.strip()
    if not stripped:
        raise ValueError("must contain a non-whitespace character")
    return stripped


def required_text(max_length: int) -> Any:
    """Text of 1..max_length characters as sent, then trimmed (AfterValidator(trimmed)), not blank."""
    return Field(
        min_length=1,
        max_length=max_length,
        description=f"Trimmed; not blank. {TEXT_NOTE}",
        json_schema_extra={"pattern": SOME_TEXT},
    )


def free_text(max_length: int) -> Any:
    """Text kept exactly as sent (may be empty)."""
    return Field(max_length=max_length, description=TEXT_NOTE, json_schema_extra={"pattern": NO_NUL})


# Free-form JSON (a ticket's ``fields``, a routing test's sample): any JSON value whose strings and
# keys hold no NUL character, which PostgreSQL cannot store (the door refuses it:
# shared.http.gate); the schema says so at every level, so a client validating against it is
# refused nothing it was allowed.
JsonText = Annotated[str, StringConstraints(pattern=NO_NUL)]
# Keys are JsonText: pydantic documents them as patternProperties, which leave other keys free
# unless additionalProperties says otherwise.
KEYS_ARE_TEXT = Field(json_schema_extra={"additionalProperties": False})
JsonData = TypeAliasType(
    "JsonData",
    "bool | int | float | JsonText | list[JsonData] | Annotated[dict[JsonText, JsonData], KEYS_ARE_TEXT]"
    " | None",
)
