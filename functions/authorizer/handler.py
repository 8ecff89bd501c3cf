"""API Gateway Lambda authorizer: a JWT bearer token → an IAM policy and the principal's context.

Handles TOKEN events (``authorizationToken: "Bearer ..."``) and REQUEST events (the
``Authorization`` header, matched case-insensitively).

- No token, or one that does not verify (signature, algorithm, expiry, issuer, audience):
  ``raise Exception("Unauthorized")`` — that exact message is how API Gateway answers 401.
- A verified token whose claims are not acceptable (no known role, tenant roles without a
  tenant): a Deny policy, which API Gateway answers with 403.
- Otherwise an Allow policy on every method and path of the stage (``apiId/stage/*/*``), so a
  cached decision holds across routes, and a context the route handlers read as
  ``requestContext.authorizer``: ``sub``, ``tenant`` ("" when none), ``roles`` (comma-joined).

The token itself is never logged. This function only verifies; it never signs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.auth import Principal
from shared.auth.tokens import verify_token
from shared.kernel.errors import Forbidden, Unauthorized
from shared.observability import logger

_UNAUTHORIZED = "Unauthorized"


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name and value:
            return str(value[0] if isinstance(value, list) else value)
    return None


def bearer_token(event: Mapping[str, Any]) -> str | None:
    """The token of a TOKEN or REQUEST authorizer event, without its ``Bearer`` scheme."""
    if event.get("type") == "TOKEN":
        raw = event.get("authorizationToken")
    else:
        raw = _header(event.get("headers"), "authorization") or _header(
            event.get("multiValueHeaders"), "authorization"
        )
    if not raw:
        return None
    scheme, _, token = str(raw).strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def stage_wildcard(method_arn: str) -> str:
    """``arn:aws:execute-api:region:account:apiId/stage/*/*`` from the invoked method's ARN."""
    api_part, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    if not api_part.startswith("arn:") or not stage:
        return method_arn
    return f"{api_part}/{stage}/*/*"


def policy(
    principal_id: str, effect: str, method_arn: str, context: dict[str, str] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": stage_wildcard(method_arn)}
            ],
        },
    }
    if context is not None:
        response["context"] = context
    return response


@logger.inject_lambda_context(log_event=False, clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method_arn = str(event.get("methodArn") or "")
    token = bearer_token(event)
    if token is None:
        logger.info(
            "Authorization rejected", extra={"reason": "no bearer token", "event_type": event.get("type")}
        )
        raise Exception(_UNAUTHORIZED)
    try:
        claims = verify_token(token)
    except Unauthorized as exc:
        logger.info("Authorization rejected", extra={"reason": exc.detail})
        raise Exception(_UNAUTHORIZED) from None
    raw_sub = claims.get("sub")
    # The Deny policy names the subject only when it is a plain, bounded one (it is logged and
    # echoed by API Gateway); a malformed subject is the reason for the denial.
    sub = raw_sub if isinstance(raw_sub, str) and 0 < len(raw_sub) <= 255 and raw_sub.isprintable() else "-"
    try:
        principal = Principal.from_claims(claims)
    except Unauthorized as exc:
        logger.info("Authorization rejected", extra={"reason": exc.detail})
        raise Exception(_UNAUTHORIZED) from None
    except Forbidden as exc:
        logger.info("Authorization denied", extra={"reason": exc.detail, "sub": sub})
        return policy(sub, "Deny", method_arn)
    roles = ",".join(sorted(role.value for role in principal.roles))
    logger.append_keys(sub=principal.sub, tenant=principal.tenant or "")
    logger.debug("Authorization allowed", extra={"roles": roles})
    return policy(
        principal.sub,
        "Allow",
        method_arn,
        {"sub": principal.sub, "tenant": principal.tenant or "", "roles": roles},
    )
