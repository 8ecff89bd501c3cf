"""Real-shaped AWS events for the local gateway and the tests.

The API Gateway REST proxy event is built from the sample AWS delivers
(tests/fixtures/events/apiGatewayProxyEvent.json), so what a handler sees locally is what it
sees behind API Gateway: the resource template, path parameters, single- and multi-value
headers and query strings, a base64 body when asked, and requestContext.authorizer as a
Lambda authorizer fills it.
"""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "events"


@cache
def _sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def match_path(template: str, path: str) -> dict[str, str] | None:
    """Path parameters if ``path`` matches the API Gateway resource ``template``; each segment is
    percent-decoded, as API Gateway decodes path parameters (``TCK%2D1`` is ``TCK-1``)."""
    t_parts = template.strip("/").split("/")
    p_parts = [unquote(part) for part in path.strip("/").split("/")]
    if len(t_parts) != len(p_parts):
        return None
    params: dict[str, str] = {}
    for t, p in zip(t_parts, p_parts, strict=True):
        if t.startswith("{") and t.endswith("}"):
            if not p:
                return None
            params[t[1:-1]] = p
        elif t != p:
            return None
    return params


def api_gateway_event(
    *,
    method: str,
    resource: str,
    path: str,
    headers: dict[str, str] | None = None,
    query: str | dict[str, str | list[str]] | None = None,
    body: str | bytes | dict[str, Any] | list[Any] | None = None,
    authorizer: dict[str, Any] | None = None,
    base64_body: bool = False,
    source_ip: str = "127.0.0.1",
    stage: str = "local",
) -> dict[str, Any]:
    event = copy.deepcopy(_sample("apiGatewayProxyEvent.json"))
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, str | bytes):
        body = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(query, str):
        multi = {k: v for k, v in parse_qs(query, keep_blank_values=True).items()}
    else:
        multi = {k: (v if isinstance(v, list) else [v]) for k, v in (query or {}).items()}
    if isinstance(body, bytes):
        raw = body
    elif isinstance(body, str):
        raw = body.encode()
    else:
        raw = None
    request_id = str(uuid.uuid4())
    now = time.time()
    event.update(
        resource=resource,
        path=path,
        httpMethod=method,
        headers=hdrs or None,
        multiValueHeaders={k: [v] for k, v in hdrs.items()} or None,
        queryStringParameters={k: v[-1] for k, v in multi.items()} or None,
        multiValueQueryStringParameters=multi or None,
        pathParameters=match_path(resource, path) or None,
        stageVariables=None,
        body=(base64.b64encode(raw).decode() if base64_body else raw.decode()) if raw is not None else None,
        isBase64Encoded=bool(base64_body and raw is not None),
    )
    ctx = event["requestContext"]
    ctx.update(
        resourcePath=resource,
        httpMethod=method,
        path=f"/{stage}{path}",
        stage=stage,
        requestId=request_id,
        extendedRequestId=request_id,
        requestTimeEpoch=int(now * 1000),
        requestTime=time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        authorizer=authorizer,
    )
    ctx["identity"]["sourceIp"] = source_ip
    return event


def authorizer_context(sub: str, tenant: str | None, roles: list[str] | str) -> dict[str, Any]:
    """requestContext.authorizer as functions/authorizer fills it (context values are strings)."""
    role_list = roles.split(",") if isinstance(roles, str) else roles
    return {
        "principalId": sub,
        "sub": sub,
        "tenant": tenant or "",
        "roles": ",".join(role_list),
        "integrationLatency": 0,
    }


def sqs_event(
    bodies: list[str], *, queue_arn: str = "arn:aws:sqs:eu-west-1:123456789012:queue"
) -> dict[str, Any]:
    sample = _sample("sqsEvent.json")
    records = []
    for body in bodies:
        record = copy.deepcopy(sample["Records"][0])
        record.update(messageId=str(uuid.uuid4()), body=body, eventSourceARN=queue_arn)
        records.append(record)
    return {"Records": records}


def sqs_event_of(
    messages: list[dict[str, Any]], *, queue_arn: str = "arn:aws:sqs:eu-west-1:123456789012:queue"
) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping hands a function for ``messages`` (the
    ``Messages`` of a ReceiveMessage answer, asked with ``MessageAttributeNames=["All"]``): their
    ids, receipt handles, attributes, and message attributes as the mapping spells them."""
    event = sqs_event([m["Body"] for m in messages], queue_arn=queue_arn)
    for record, message in zip(event["Records"], messages, strict=True):
        record.update(messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"])
        record["attributes"] = {**record.get("attributes", {}), **message.get("Attributes", {})}
        record["messageAttributes"] = {
            name: {
                "stringValue": a.get("StringValue"),
                "binaryValue": a.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": a["DataType"],
            }
            for name, a in (message.get("MessageAttributes") or {}).items()
        }
    return event


def scheduled_event(
    *, rule_arn: str = "arn:aws:events:eu-west-1:123456789012:rule/ticketing-relay"
) -> dict[str, Any]:
    event = copy.deepcopy(_sample("eventBridgeEvent.json"))
    event.update(
        id=str(uuid.uuid4()),
        source="aws.events",
        resources=[rule_arn],
        time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        detail={},
    )
    event["detail-type"] = "Scheduled Event"
    event.pop("replay-name", None)
    return event


@dataclass
class LambdaContext:
    """What a handler reads from the Lambda context object."""

    function_name: str = "ticketing-local"
    memory_limit_in_mb: int = 512
    timeout_ms: int = 30_000
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:ticketing-local"
    log_group_name: str = "/aws/lambda/ticketing-local"
    log_stream_name: str = "local"
    _start: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self._start) * 1000))
