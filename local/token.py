"""``make token``: print a bearer token the local stack accepts (the token alone is the last line).

    .venv/bin/python -m local.token --sub alice --tenant acme --roles tenant_user,tenant_admin

What the token says goes to stderr first; the token is the only thing on stdout, so both
``TOKEN=$(make token ...)`` and ``make token ... | tail -1`` work.
"""

from __future__ import annotations

import argparse
import sys
import time

from local.keys import LOCAL_AUDIENCE, LOCAL_ISSUER, build_claims, ensure_signing_key, key_dir, sign
from shared.auth import PLATFORM_ROLES, SYSTEM_PREFIX, Role, parse_roles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="local.token", description="Mint a bearer token for the local stack."
    )
    parser.add_argument("--sub", default="alice", help="subject (user or service id)")
    parser.add_argument("--tenant", default="", help="tenant id; empty for platform principals")
    parser.add_argument(
        "--roles", default="tenant_user", help="comma-separated: " + ", ".join(r.value for r in Role)
    )
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    args = parser.parse_args(argv)

    sub = args.sub.strip()
    if not sub:
        parser.error("--sub must not be empty")
    if args.ttl <= 0:
        parser.error("--ttl must be positive")
    roles = [r.strip() for r in args.roles.replace(" ", ",").split(",") if r.strip()]
    tenant = args.tenant.strip() or None

    if sub.startswith(SYSTEM_PREFIX):
        print(
            f"warning: subjects beginning with {SYSTEM_PREFIX!r} are the service's own:"
            " the authorizer will deny this token (403)",
            file=sys.stderr,
        )
    known = parse_roles(roles)
    unknown = sorted(set(roles) - {r.value for r in known})
    if unknown:
        print(f"warning: unknown role(s) {', '.join(unknown)}: the authorizer ignores them", file=sys.stderr)
    if not known:
        print("warning: no known role: the authorizer will deny this token (403)", file=sys.stderr)
    elif tenant is None and not (known & PLATFORM_ROLES):
        print(
            "warning: tenant roles without --tenant: the authorizer will deny this token (403)",
            file=sys.stderr,
        )
    elif tenant is not None and known & PLATFORM_ROLES:
        print(
            "warning: platform roles with --tenant: the authorizer will deny this token (403);"
            " leave TENANT out for platform roles",
            file=sys.stderr,
        )

    key = ensure_signing_key()
    token = sign(build_claims(sub=sub, tenant=tenant, roles=roles, ttl_s=args.ttl), key)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + args.ttl))
    print(
        f"# sub={sub} tenant={tenant or '-'} roles={','.join(roles) or '-'} expires={expires}"
        f" iss={LOCAL_ISSUER} aud={LOCAL_AUDIENCE} kid={key.kid} keys={key_dir()}",
        file=sys.stderr,
    )
    sys.stderr.flush()
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
