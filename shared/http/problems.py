"""RFC 9457 problem details: the one shape of every error the API answers."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from shared.kernel.errors import problem_type

PROBLEM_JSON = "application/problem+json"


def problem_body(status: int, detail: str, slug: str | None, title: str | None, **ext: Any) -> str:
    body = {
        "type": problem_type(slug) if slug else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **ext,
    }
    return json.dumps(body, default=str)
