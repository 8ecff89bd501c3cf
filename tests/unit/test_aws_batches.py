"""AWS's batch limits, as the publishers apply them (pure: no network)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared import aws


def test_batches_keep_to_the_count_and_the_bytes_and_skip_what_never_fits() -> None:
    assert aws._batches([1] * 23, max_count=10, max_bytes=100) == [
        list(range(10)),
        list(range(10, 20)),
        [20, 21, 22],
    ]
    assert aws._batches([60, 50, 40, 10, 101, 100], max_count=10, max_bytes=100) == [[0], [1, 2, 3], [5]]
    assert aws._too_large([60, 101, 100], 100) == [1]
    assert aws._batches([], max_count=10, max_bytes=100) == []


def _client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutEvents")


class _Events:
    """EventBridge refusing any request that holds the entry marked bad, as invalid (400)."""

    def __init__(self) -> None:
        self.requests: list[int] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append(len(Entries))
        if any(e["Detail"] == "bad" for e in Entries):
            raise _client_error("ValidationException", 400)
        return {"Entries": [{"EventId": str(i)} for i in range(len(Entries))]}


def test_a_request_refused_as_invalid_is_retried_entry_by_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Events()
    monkeypatch.setattr(aws, "client", lambda service: fake)
    entries = [{"Source": "s", "DetailType": "t", "Detail": d} for d in ("a", "bad", "c", "x" * 300_000)]
    results = aws.put_events(entries)
    assert [r.get("ErrorCode") for r in results] == [None, "ValidationException", None, "EntryTooLarge"]
    assert fake.requests == [3, 1, 1, 1]  # one request, then each entry alone; the huge one never sent


def test_a_throttled_or_failing_request_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    class Throttled:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            raise _client_error("ThrottlingException", 400)

    monkeypatch.setattr(aws, "client", lambda service: Throttled())
    with pytest.raises(ClientError):
        aws.put_events([{"Source": "s", "DetailType": "t", "Detail": "{}"}])
