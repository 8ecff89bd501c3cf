"""The local stack over HTTP: auth at the gateway, a ticket's life, comments, search, tenant privacy."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Call, Stack

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    return body


@pytest.fixture(scope="module")
def alice(stack: Stack) -> str:
    return stack.token("alice", tenant="acme", roles="tenant_user")


@pytest.fixture(scope="module")
def olga(stack: Stack) -> str:
    return stack.token("olga", roles="platform_operator")


@pytest.fixture(scope="module")
def gus(stack: Stack) -> str:
    return stack.token("gus", tenant="globex", roles="tenant_user,tenant_admin")


def test_health_needs_no_token(call: Call) -> None:
    assert call("GET", "/healthz").status_code == 200
    assert call("GET", "/readyz").status_code == 200


def test_no_token_is_401_problem(call: Call) -> None:
    body = assert_problem(call("GET", "/tickets"), 401)
    assert body["type"].endswith("unauthorized")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_invalid_token_is_401_problem(call: Call, token: str) -> None:
    assert_problem(call("GET", "/tickets", token=token), 401)


def test_a_token_signed_by_another_key_is_401(call: Call) -> None:
    from local.keys import build_claims, generate_private_key, sign, signing_key_from

    stranger = signing_key_from(generate_private_key("ES256"))
    forged = sign(build_claims(sub="mallory", tenant="acme", roles=["platform_admin"], ttl_s=300), stranger)
    assert_problem(call("GET", "/tickets", token=forged), 401)


def test_a_token_minted_before_the_stack_started_is_accepted(stack: Stack, call: Call) -> None:
    response = call("GET", "/tickets", token=stack.early_token)
    assert response.status_code == 200, response.text


def test_tenant_role_without_tenant_is_403_problem(stack: Stack, call: Call) -> None:
    assert_problem(call("GET", "/tickets", token=stack.token("nobody", tenant="", roles="tenant_user")), 403)


@pytest.mark.parametrize(
    ("sub", "tenant", "roles"),
    [
        ("system:outbox", "", "service"),
        ("system:relay", "", "platform_admin"),
        ("system:x", "acme", "tenant_user"),
    ],
)
def test_the_reserved_system_subjects_are_403_whatever_the_roles(
    stack: Stack, call: Call, sub: str, tenant: str, roles: str
) -> None:
    # Issue 9 §8: only the service's own Principal.system() has the system scope; a token never does.
    token = stack.token(sub, tenant=tenant, roles=roles)
    assert_problem(call("GET", "/tickets", token=token), 403)
    assert_problem(call("POST", "/tickets", token=token, json={"title": "x", "kind": "incident"}), 403)


def test_unknown_route_is_404_and_wrong_method_is_405(call: Call, alice: str) -> None:
    assert_problem(call("GET", "/nowhere", token=alice), 404)
    response = call("DELETE", "/tickets", token=alice)
    assert_problem(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_jwks_is_published(call: Call) -> None:
    keys = call("GET", "/.well-known/jwks.json").json()["keys"]
    assert keys
    assert all("d" not in key for key in keys)  # public halves only


def test_a_ticket_from_open_to_in_progress(stack: Stack, call: Call, alice: str, olga: str, gus: str) -> None:
    word = f"zebra{uuid.uuid4().hex[:10]}"
    created = call(
        "POST",
        "/tickets",
        token=alice,
        json={
            "title": f"Notebook kernel {word} keeps dying",
            "kind": "request",
            "description": "Since Monday.",
        },
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    ticket_id, key = ticket["id"], ticket["key"]
    assert ticket["state"] == "new"
    assert ticket["tenant_id"] == "acme"

    for target in ("ack", "in_progress"):
        moved = call("POST", f"/tickets/{ticket_id}/transitions", token=olga, json={"to": target})
        assert moved.status_code == 200, moved.text
        assert moved.json()["state"] == target

    commented = call(
        "POST",
        f"/tickets/{ticket_id}/comments",
        token=olga,
        json={"body": "Looking into it.", "visibility": "public"},
    )
    assert commented.status_code == 201, commented.text

    # The requester sees the public comment, and the ticket by its key.
    comments = call("GET", f"/tickets/{ticket_id}/comments", token=alice)
    assert comments.status_code == 200, comments.text
    listed = comments.json()
    items = listed["items"] if isinstance(listed, dict) else listed
    assert any(c["body"] == "Looking into it." for c in items)
    by_key = call("GET", f"/tickets/{key}", token=alice)
    assert by_key.status_code == 200, by_key.text
    # a percent-encoded key is decoded, as API Gateway decodes path parameters (urllib sends it
    # as written; requests would normalise %2D to "-" itself)
    import json as _json
    import urllib.request

    escaped = urllib.request.Request(  # noqa: S310 - the local stack's http URL
        f"{stack.url}/tickets/{key.replace('-', '%2D')}", headers={"Authorization": f"Bearer {alice}"}
    )
    with urllib.request.urlopen(escaped, timeout=30) as answer:  # noqa: S310 - the local stack
        assert answer.status == 200 and _json.loads(answer.read())["id"] == ticket_id
    assert by_key.json()["id"] == ticket_id
    assert by_key.json()["state"] == "in_progress"

    # Search finds it by a word of its title.
    found = call("GET", "/tickets", token=alice, params={"q": word})
    assert found.status_code == 200, found.text
    assert [t["id"] for t in found.json()["items"]] == [ticket_id]
    assert "next_cursor" in found.json()

    # Another tenant can neither read nor find it.
    assert_problem(call("GET", f"/tickets/{ticket_id}", token=gus), 404)
    assert_problem(call("GET", f"/tickets/{key}", token=gus), 404)
    hidden = call("GET", "/tickets", token=gus, params={"q": word})
    assert hidden.status_code == 200, hidden.text
    assert hidden.json()["items"] == []

    # The audit trail recorded the creation and both transitions.
    events = call("GET", f"/tickets/{ticket_id}/events", token=olga)
    assert events.status_code == 200, events.text
    trail = events.json()
    assert len(trail["items"] if isinstance(trail, dict) else trail) >= 3

    # What was published on the bus shows up in the stack's console (the tap queue).
    deadline = time.monotonic() + 15
    while True:
        published = [
            line for line in stack.console_lines() if "event published" in line and ticket_id in line
        ]
        if len(published) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert any('type="Ticket Created"' in line for line in published), stack.console_tail()
    assert len(published) >= 3, stack.console_tail()


def test_operators_invoke_the_audit_verification_as_with_aws_lambda_invoke(
    stack: Stack, call: Call, alice: str
) -> None:
    import json
    import subprocess
    import sys

    import boto3
    from botocore.exceptions import ClientError

    created = call(
        "POST", "/tickets", token=alice, json={"title": "Audit me", "category": "access", "kind": "request"}
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]

    # `make invoke FN=audit_verify PAYLOAD=...` (local.invoke): the result, exit 0
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.invoke",
            "audit_verify",
            json.dumps({"ticket": key}),
            "--url",
            stack.url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "tickets": 1,
        "events": 2,  # ticket.created, sla.applied
        "broken_count": 0,
        "broken": [],
        "complete": True,
        "next_after": None,
    }

    # what `aws lambda invoke --endpoint-url <stack>` sends, by the deployed-style name
    client = boto3.client(
        "lambda",
        endpoint_url=stack.url,
        region_name="eu-west-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    answer = client.invoke(FunctionName="ticketing-audit-verify", Payload=json.dumps({"tenant_id": "acme"}))
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read())["tickets"] >= 1

    # A typo is a structured result (issue 9), not a function error that would page on-call.
    refused = client.invoke(FunctionName="audit_verify", Payload=json.dumps({"tiket": key}))
    assert "FunctionError" not in refused
    error = json.loads(refused["Payload"].read())["error"]
    assert error["type"] == "invalid_request" and "tiket" in error["message"]

    with pytest.raises(ClientError) as missing:  # HTTP routes are not invocable this way
        client.invoke(FunctionName="create_ticket", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_operators_replay_the_dead_letter_queues_as_with_aws_lambda_invoke(stack: Stack) -> None:
    """``aws lambda invoke --endpoint-url <stack> --function-name ticketing-replay-dlq out.json``
    and ``make invoke FN=replay_dlq``: the local stack's DLQs are its workers' (none may exist
    yet), all empty, so every count is zero."""
    import json
    import subprocess
    import sys

    import boto3

    from shared.runtime.catalog import WORKERS

    client = boto3.client(
        "lambda",
        endpoint_url=stack.url,
        region_name="eu-west-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    workers = [w.function for w in WORKERS]

    def check(result: dict[str, Any], *, dry_run: bool) -> None:
        assert result["dry_run"] is dry_run and result["complete"] is True, result
        assert (result["found"], result["moved"], result["failed"]) == (0, 0, 0), result
        assert [q["name"] for q in result["queues"]] == workers
        assert all((q["found"], q["moved"], q["failed"]) == (0, 0, 0) for q in result["queues"]), result

    answer = client.invoke(FunctionName="ticketing-replay-dlq")  # no --payload: an empty body
    assert "FunctionError" not in answer
    check(json.loads(answer["Payload"].read()), dry_run=False)

    dry = client.invoke(FunctionName="ticketing-replay-dlq", Payload=json.dumps({"dry_run": True}))
    assert "FunctionError" not in dry
    check(json.loads(dry["Payload"].read()), dry_run=True)

    unknown = client.invoke(FunctionName="ticketing-replay-dlq", Payload=json.dumps({"queue": "nowhere"}))
    assert "FunctionError" not in unknown
    error = json.loads(unknown["Payload"].read())["error"]
    assert error["type"] == "unknown_queue" and error["known"] == sorted(workers)

    done = subprocess.run(  # make invoke FN=replay_dlq
        [sys.executable, "-m", "local.invoke", "replay_dlq", "--url", stack.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    check(json.loads(done.stdout), dry_run=False)
