"""Event details stay small: the size bound the outbox uses before serializing (pure)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.outbox.messages import MAX_VALUE_BYTES, _bound, _size, bounded_changes

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=8) | st.dictionaries(st.text(max_size=20), children, max_size=8)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=4 * MAX_VALUE_BYTES))
def test_the_bound_is_never_below_the_json_size(value: Any, budget: int) -> None:
    bound = _bound(value, budget)
    if bound is not None:
        assert _size(value) <= bound <= budget


def test_large_values_are_named_but_left_out() -> None:
    changes = {
        "state": {"old": "new", "new": "ack"},
        "description": {"old": "", "new": "d" * 2_000},
        "fields": {"old": {}, "new": {"k": ["v" * 100] * 20}},
    }
    assert bounded_changes(changes) == {
        "state": {"old": "new", "new": "ack"},
        "description": {"omitted": True},
        "fields": {"omitted": True},
    }
