"""The condition language of routing rules: a small JSON tree, validated once, evaluated per ticket.

A condition is one of::

    {"all": [c, ...]}                      every one holds ({"all": []} holds for every ticket)
    {"any": [c, ...]}                      at least one holds (1 to 50 conditions)
    {"not": c}                             c does not hold
    {"field": F, "op": OP, "value": V}     a test of one field (text tests may add "ignore_case": true)

Fields are those of the new ticket and of the event that opened it (``subject``): ``kind``,
``category``, ``priority`` and ``severity`` (compared with their known values: ``eq``, ``in``,
``exists``); ``source``, ``detail_type``, ``tenant_id``, ``title``, ``summary`` and
``description`` (text: ``eq``, ``in``, ``contains``, ``prefix``, ``matches``, ``exists``);
``tags`` and ``resource`` (lists: the text tests, true when any item passes); and
``fields.<name>[.<name>...]``, a path into the ticket's category fields (the text tests, ``eq``
and ``in`` also with numbers and booleans, and ``gt``, ``gte``, ``lt``, ``lte`` with numbers).

``matches`` takes a regular expression in RE2's syntax (``google-re2``), searched anywhere in the
text: RE2 runs in time linear in the text, so no pattern can backtrack catastrophically
(``(a+)+$`` is accepted and stays fast); what only a backtracking engine can do (backreferences,
look-around) does not compile and is refused when the rule is written, as is a pattern longer
than ``MAX_PATTERN_LENGTH`` or whose program needs more than ``RE2_MAX_MEM`` bytes.

``parse`` validates a condition and compiles it, collecting every problem with its location
(``InvalidCondition``); the result's ``test(subject)`` evaluates it, and ``to_json()`` gives its
canonical JSON, as stored. ``json_schema()`` is the schema that the OpenAPI document shows for a
condition; it is built from the same tables as the validation, so the two agree (what the schema
cannot say: a regular expression RE2 refuses, the bounds on nesting, leaves and size).

This package has its own vocabulary (plain strings): it never imports ``shared.tickets``, which
imports it (``tests/unit/test_routing_conditions.py`` checks that the values agree).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, get_args

import re2

# ---- the vocabulary --------------------------------------------------------------------------------

Kind = Literal["incident", "request"]
Category = Literal[
    "health",
    "pipeline_failure",
    "data_freshness",
    "schema_drift",
    "security_finding",
    "cost_anomaly",
    "schema_change",
    "new_connector",
    "quota",
    "access",
    "configuration",
    "deletion_export",
]
Priority = Literal["low", "medium", "high", "critical"]
Severity = Literal["critical", "error", "warning", "info"]  # an intake event's
Visibility = Literal["platform_only", "tenant", "mixed"]
KINDS: tuple[str, ...] = get_args(Kind)
CATEGORIES: tuple[str, ...] = get_args(Category)
PRIORITIES: tuple[str, ...] = get_args(Priority)
SEVERITIES: tuple[str, ...] = get_args(Severity)
VISIBILITIES: tuple[str, ...] = get_args(Visibility)

# Fields compared with their known values, by name.
ENUM_FIELDS: dict[str, tuple[str, ...]] = {
    "kind": KINDS,
    "category": CATEGORIES,
    "priority": PRIORITIES,
    "severity": SEVERITIES,
}
TEXT_FIELDS = ("source", "detail_type", "tenant_id", "title", "summary", "description")
LIST_FIELDS = ("tags", "resource")  # a test holds when it holds for any item
FIELD_NAMES = (*ENUM_FIELDS, *TEXT_FIELDS, *LIST_FIELDS)
FIELDS_PREFIX = "fields."
FIELD_KEY = r"[A-Za-z0-9_-]{1,64}"
FIELDS_PATH_PATTERN = rf"^fields(\.{FIELD_KEY}){{1,10}}$"
_FIELDS_PATH = re.compile(FIELDS_PATH_PATTERN)

EQ, IN, CONTAINS, PREFIX, MATCHES, EXISTS = "eq", "in", "contains", "prefix", "matches", "exists"
GT, GTE, LT, LTE = "gt", "gte", "lt", "lte"
ENUM_OPS = (EQ, IN, EXISTS)
TEXT_OPS = (EQ, IN, CONTAINS, PREFIX, MATCHES, EXISTS)
COMPARE_OPS = (GT, GTE, LT, LTE)
FIELDS_OPS = (*TEXT_OPS, *COMPARE_OPS)
IGNORE_CASE_OPS = (EQ, IN, CONTAINS, PREFIX, MATCHES)

# ---- bounds ------------------------------------------------------------------------------------------

MAX_ITEMS = 50  # conditions in one all / any
MAX_IN_VALUES = 100  # values of one "in"
MAX_TEXT = 1000  # characters of a compared text value
MAX_PATTERN_LENGTH = 512  # characters of a regular expression
RE2_MAX_MEM = 1 << 20  # bytes RE2 may use for one compiled pattern (its program and its DFA cache)
MAX_DEPTH = 10  # all / any / not / test nodes on the way down to the deepest test
MAX_LEAVES = 100  # field tests in one condition
MAX_BYTES = 16 * 1024  # the condition as compact UTF-8 JSON

Loc = tuple[str | int, ...]


class InvalidCondition(ValueError):
    """A condition that cannot be used: every problem found, located inside the condition."""

    def __init__(self, errors: list[tuple[Loc, str]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, loc)) or 'condition'}: {msg}" for loc, msg in errors))
        self.errors = errors


# ---- the compiled tree --------------------------------------------------------------------------------

Subject = Mapping[str, Any]


class Condition:
    """A validated condition: ``test`` evaluates it, ``to_json`` is its canonical JSON."""

    __slots__ = ()

    def test(self, subject: Subject) -> bool:
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError


class All(Condition):
    __slots__ = ("items",)

    def __init__(self, items: tuple[Condition, ...]) -> None:
        self.items = items

    def test(self, subject: Subject) -> bool:
        return all(item.test(subject) for item in self.items)

    def to_json(self) -> dict[str, Any]:
        return {"all": [item.to_json() for item in self.items]}


class AnyOf(Condition):
    __slots__ = ("items",)

    def __init__(self, items: tuple[Condition, ...]) -> None:
        self.items = items

    def test(self, subject: Subject) -> bool:
        return any(item.test(subject) for item in self.items)

    def to_json(self) -> dict[str, Any]:
        return {"any": [item.to_json() for item in self.items]}


class Not(Condition):
    __slots__ = ("item",)

    def __init__(self, item: Condition) -> None:
        self.item = item

    def test(self, subject: Subject) -> bool:
        return not self.item.test(subject)

    def to_json(self) -> dict[str, Any]:
        return {"not": self.item.to_json()}


Check = Callable[[Any], bool]


class FieldTest(Condition):
    """One field test. ``candidates`` gives the field's values (none when it is absent, every item
    of a list), ``check`` tests one; the test holds when any candidate passes (``exists``: when
    there is a non-empty one, or none)."""

    __slots__ = ("_candidates", "_check", "field", "ignore_case", "op", "value")

    def __init__(self, field: str, op: str, value: Any, ignore_case: bool) -> None:
        self.field, self.op, self.value, self.ignore_case = field, op, value, ignore_case
        self._candidates = _candidates_of(field)
        self._check = _check_of(op, value, ignore_case)

    def test(self, subject: Subject) -> bool:
        values = self._candidates(subject)
        if self.op == EXISTS:
            return any(v not in ("", [], {}) for v in values) is self.value
        check = self._check
        return any(check(v) for v in values)

    def to_json(self) -> dict[str, Any]:
        shown = {"field": self.field, "op": self.op, "value": self.value}
        if self.ignore_case:
            shown["ignore_case"] = True
        return shown


def _candidates_of(field: str) -> Callable[[Subject], list[Any]]:
    if field.startswith(FIELDS_PREFIX):
        keys = field.split(".")[1:]
        return lambda subject: _path_values(subject.get("fields"), keys)

    def get(subject: Subject) -> list[Any]:
        value = subject.get(field)
        if value is None:
            return []
        return [v for v in value if v is not None] if isinstance(value, list | tuple) else [value]

    return get


def _path_values(root: Any, keys: list[str]) -> list[Any]:
    """The values at ``keys`` under ``root``: a list on the way is looked into item by item, and
    a list at the end gives its items."""
    current = [root]
    for key in keys:
        found = []
        for value in current:
            if isinstance(value, dict):
                if key in value:
                    found.append(value[key])
            elif isinstance(value, list):
                found.extend(item[key] for item in value if isinstance(item, dict) and key in item)
        current = found
    values: list[Any] = []
    for value in current:
        if isinstance(value, list):
            values.extend(item for item in value if item is not None)
        elif value is not None:
            values.append(value)
    return values


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _same(a: Any, b: Any) -> bool:
    """JSON equality: a boolean is not a number (Python's ``True == 1`` is not JSON's)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _check_of(op: str, value: Any, ignore_case: bool) -> Check:
    """The test of one candidate value."""
    if op == EXISTS:
        return lambda v: True
    if op == MATCHES:
        search = compile_pattern(value, ignore_case=ignore_case).search
        return lambda v: isinstance(v, str) and search(v) is not None
    if op in COMPARE_OPS:
        bound = value
        compare: dict[str, Callable[[Any], bool]] = {
            GT: lambda v: v > bound,
            GTE: lambda v: v >= bound,
            LT: lambda v: v < bound,
            LTE: lambda v: v <= bound,
        }
        test = compare[op]
        return lambda v: _is_number(v) and test(v)
    norm: Callable[[Any], Any] = _fold if ignore_case else (lambda v: v)
    if op == EQ:
        expected = norm(value)
        if isinstance(expected, str):
            return lambda v: isinstance(v, str) and norm(v) == expected
        return lambda v: _same(v, expected)
    if op == IN:
        options = [norm(item) for item in value]
        texts = frozenset(o for o in options if isinstance(o, str))
        others = [o for o in options if not isinstance(o, str)]
        return lambda v: (norm(v) in texts) if isinstance(v, str) else any(_same(v, o) for o in others)
    needle = norm(value)
    if op == CONTAINS:
        return lambda v: isinstance(v, str) and needle in norm(v)
    if op == PREFIX:
        return lambda v: isinstance(v, str) and norm(v).startswith(needle)
    raise ValueError(f"unknown op {op}")  # parse never lets one through


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> Any:
    """``pattern`` compiled by RE2 (``re2.error`` if RE2 refuses it)."""
    options = re2.Options()
    options.max_mem = RE2_MAX_MEM
    options.log_errors = False
    options.case_sensitive = not ignore_case
    return re2.compile(pattern, options)


# ---- validation --------------------------------------------------------------------------------------


def parse(raw: Any) -> Condition:
    """Validate and compile a condition (JSON as a client sent it). ``InvalidCondition`` lists every
    problem, located relative to the condition: ``("all", 0, "op")``."""
    parser = _Parser()
    node = parser.node(raw, (), depth=1)
    if parser.leaves > MAX_LEAVES:
        parser.error((), f"a condition has at most {MAX_LEAVES} field tests, not {parser.leaves}")
    if not parser.errors:
        size = len(json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_BYTES:
            parser.error((), f"a condition is at most {MAX_BYTES} bytes as compact JSON, not {size}")
    if parser.errors or node is None:
        raise InvalidCondition(parser.errors or [((), "not a condition")])
    return node


_SHAPES = (
    'a condition is an object: {"all": [...]}, {"any": [...]}, {"not": {...}} or'
    ' {"field": ..., "op": ..., "value": ...}'
)


def _text_error(value: Any, limit: int = MAX_TEXT) -> str | None:
    if not isinstance(value, str):
        return "must be text"
    if not 1 <= len(value) <= limit:
        return f"must be 1 to {limit} characters"
    return None


class _Parser:
    def __init__(self) -> None:
        self.errors: list[tuple[Loc, str]] = []
        self.leaves = 0

    def error(self, loc: Loc, msg: str) -> None:
        self.errors.append((loc, msg))

    def node(self, raw: Any, loc: Loc, depth: int) -> Condition | None:
        if not isinstance(raw, dict):
            self.error(loc, _SHAPES)
            return None
        if depth > MAX_DEPTH:
            self.error(loc, f"conditions nest at most {MAX_DEPTH} levels")
            return None
        combinators = [key for key in ("all", "any", "not") if key in raw]
        if len(combinators) == 1 and len(raw) == 1:
            key = combinators[0]
            if key == "not":
                item = self.node(raw["not"], (*loc, "not"), depth + 1)
                return Not(item) if item is not None else None
            items = raw[key]
            minimum = 0 if key == "all" else 1
            if not isinstance(items, list) or not minimum <= len(items) <= MAX_ITEMS:
                self.error((*loc, key), f"must be a list of {minimum} to {MAX_ITEMS} conditions")
                return None
            nodes = [self.node(item, (*loc, key, i), depth + 1) for i, item in enumerate(items)]
            if any(n is None for n in nodes):
                return None
            children = tuple(n for n in nodes if n is not None)
            return All(children) if key == "all" else AnyOf(children)
        if combinators:
            self.error(loc, 'give exactly one of "all", "any" or "not", alone in its object')
            return None
        if "field" not in raw and "op" not in raw:
            self.error(loc, _SHAPES)
            return None
        return self.field_test(raw, loc)

    def field_test(self, raw: dict[str, Any], loc: Loc) -> Condition | None:
        self.leaves += 1
        before = len(self.errors)
        for key in raw:
            if key not in ("field", "op", "value", "ignore_case"):
                self.error((*loc, key), "unknown member of a field test (field, op, value, ignore_case)")
        for key in ("field", "op", "value"):
            if key not in raw:
                self.error((*loc, key), "missing")
        op, value = raw.get("op"), raw.get("value")
        ignore_case = raw.get("ignore_case", False)
        if "field" not in raw:
            return None
        field = raw["field"]
        ops = self._ops(field, (*loc, "field"))
        if ops is None or "op" not in raw:
            return None
        assert isinstance(field, str)  # _ops knows it
        if op not in ops:
            self.error((*loc, "op"), f"{op!r} does not apply to {field}; use one of: {', '.join(ops)}")
            return None
        if not isinstance(ignore_case, bool):
            self.error((*loc, "ignore_case"), "must be true or false")
        elif ignore_case and (op not in IGNORE_CASE_OPS or field in ENUM_FIELDS):
            self.error((*loc, "ignore_case"), f"applies to text tests only, not to {op} on {field}")
        if "value" in raw:
            self._value(field, op, value, ignore_case is True, (*loc, "value"))
        if len(self.errors) > before:
            return None
        if isinstance(value, list):
            value = list(value)  # a copy: the condition never shares the client's list
        return FieldTest(field, op, value, ignore_case is True)

    def _ops(self, field: Any, loc: Loc) -> tuple[str, ...] | None:
        if isinstance(field, str):
            if field in ENUM_FIELDS:
                return ENUM_OPS
            if field in TEXT_FIELDS or field in LIST_FIELDS:
                return TEXT_OPS
            if _FIELDS_PATH.fullmatch(field):
                return FIELDS_OPS
        self.error(
            loc,
            f"unknown field {field!r}; use one of: {', '.join(FIELD_NAMES)}, or fields.<name>"
            " (a path of 1 to 10 names of letters, digits, '_' and '-')",
        )
        return None

    def _value(self, field: str, op: str, value: Any, ignore_case: bool, loc: Loc) -> None:
        fields_path = field.startswith(FIELDS_PREFIX)
        if op == EXISTS:
            if not isinstance(value, bool):
                self.error(loc, "must be true or false")
        elif op in COMPARE_OPS:
            if not _is_number(value):
                self.error(loc, "must be a number")
        elif op == IN:
            if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
                self.error(loc, f"must be a list of 1 to {MAX_IN_VALUES} values")
                return
            for i, item in enumerate(value):
                self._scalar(field, item, fields_path, ignore_case, (*loc, i))
        elif op == EQ:
            self._scalar(field, value, fields_path, ignore_case, loc)
        elif op == MATCHES:
            problem = _text_error(value, MAX_PATTERN_LENGTH)
            if problem is None:
                try:
                    compile_pattern(value, ignore_case=ignore_case)
                except re2.error as exc:
                    reason = exc.args[0] if exc.args else "refused"
                    if isinstance(reason, bytes):
                        reason = reason.decode("utf-8", "replace")
                    problem = f"not a regular expression RE2 accepts ({reason})"
            if problem:
                self.error(loc, problem)
        else:  # contains, prefix
            problem = _text_error(value)
            if problem:
                self.error(loc, problem)

    def _scalar(self, field: str, value: Any, fields_path: bool, ignore_case: bool, loc: Loc) -> None:
        if field in ENUM_FIELDS:
            if value not in ENUM_FIELDS[field] or not isinstance(value, str):
                self.error(loc, f"{field} is one of: {', '.join(ENUM_FIELDS[field])}")
            return
        if fields_path and (_is_number(value) or isinstance(value, bool)):
            if ignore_case:
                self.error(loc, "ignore_case compares text: give text values only")
            return
        problem = _text_error(value)
        if problem:
            self.error(
                loc, problem + (", a number or true/false" if fields_path and "text" in problem else "")
            )


# ---- the subject: what a condition is tested against ----------------------------------------------


def subject(values: Mapping[str, Any], event: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The fields a condition tests, from a new ticket's ``values`` and the event that opened it.

    ``source`` is the event's source when an event opened the ticket, else the ticket's (``api``,
    ``email``); ``summary`` is the event's summary, else the ticket's title; ``resource`` lists the
    ticket's linked resources and the event's resource; ``detail_type`` and ``severity`` exist only
    for tickets opened by an event.
    """
    event = event or {}
    resources = list(values.get("resources") or ())
    if event.get("resource"):
        resources.append(event["resource"])
    return {
        "source": event.get("source") or values.get("source"),
        "detail_type": event.get("detail_type"),
        "kind": values.get("kind"),
        "category": values.get("category"),
        "priority": values.get("priority"),
        "severity": event.get("severity"),
        "tenant_id": values.get("tenant_id"),
        "title": values.get("title"),
        "summary": event.get("summary") or values.get("title"),
        "description": values.get("description"),
        "tags": list(values.get("tags") or ()),
        "resource": resources,
        "fields": values.get("fields") or {},
    }


# ---- the JSON Schema a condition is documented with --------------------------------------------------

_TEXT_VALUE = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": r"^[^\x00]*$"}
_PATTERN_VALUE = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_PATTERN_LENGTH,
    "pattern": r"^[^\x00]*$",
    "description": "A regular expression in RE2 syntax, searched anywhere in the text (no backreferences"
    " or look-around; RE2 must compile it, else 422).",
}
_FIELDS_PATH_SCHEMA = {
    "type": "string",
    "pattern": FIELDS_PATH_PATTERN,
    "description": "A path into the ticket's category fields, e.g. fields.pipeline.",
}
_NUMBER = {"type": "number"}
_BOOLEAN = {"type": "boolean"}


def _enum(values: Iterable[str]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _test_schema(
    title: str, field: dict[str, Any], ops: Iterable[str], value: dict[str, Any], *, ignore_case: bool
) -> dict[str, Any]:
    properties: dict[str, Any] = {"field": field, "op": _enum(ops), "value": value}
    if ignore_case:
        properties["ignore_case"] = {**_BOOLEAN, "description": "Compare text case-insensitively."}
    else:  # false is accepted (it is the default) wherever true would not be
        properties["ignore_case"] = {**_BOOLEAN, "const": False}
    return {
        "title": title,
        "type": "object",
        "required": ["field", "op", "value"],
        "properties": properties,
        "additionalProperties": False,
    }


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "maxItems": MAX_IN_VALUES, "items": item}


def field_test_schemas() -> list[dict[str, Any]]:
    """Every shape of a field test, exactly as ``parse`` takes it (each an object schema)."""
    text_fields = _enum((*TEXT_FIELDS, *LIST_FIELDS))
    scalar = {"anyOf": [_TEXT_VALUE, _NUMBER, _BOOLEAN]}
    schemas = [
        _test_schema("text test", text_fields, (EQ, CONTAINS, PREFIX), _TEXT_VALUE, ignore_case=True),
        _test_schema("text in", text_fields, (IN,), _list_of(_TEXT_VALUE), ignore_case=True),
        _test_schema("text matches", text_fields, (MATCHES,), _PATTERN_VALUE, ignore_case=True),
        _test_schema("exists", _enum(FIELD_NAMES), (EXISTS,), _BOOLEAN, ignore_case=False),
        _test_schema(
            "fields text test", _FIELDS_PATH_SCHEMA, (EQ, CONTAINS, PREFIX), _TEXT_VALUE, ignore_case=True
        ),
        _test_schema(
            "fields equals", _FIELDS_PATH_SCHEMA, (EQ,), {"anyOf": [_NUMBER, _BOOLEAN]}, ignore_case=False
        ),
        _test_schema("fields in", _FIELDS_PATH_SCHEMA, (IN,), _list_of(scalar), ignore_case=False),
        _test_schema("fields text in", _FIELDS_PATH_SCHEMA, (IN,), _list_of(_TEXT_VALUE), ignore_case=True),
        _test_schema("fields matches", _FIELDS_PATH_SCHEMA, (MATCHES,), _PATTERN_VALUE, ignore_case=True),
        _test_schema("fields compare", _FIELDS_PATH_SCHEMA, COMPARE_OPS, _NUMBER, ignore_case=False),
        _test_schema("fields exists", _FIELDS_PATH_SCHEMA, (EXISTS,), _BOOLEAN, ignore_case=False),
    ]
    for name, values in ENUM_FIELDS.items():
        field = {"type": "string", "const": name}
        schemas.append(_test_schema(f"{name} equals", field, (EQ,), _enum(values), ignore_case=False))
        schemas.append(_test_schema(f"{name} in", field, (IN,), _list_of(_enum(values)), ignore_case=False))
    return schemas
