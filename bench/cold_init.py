"""Cold start of a route function: a fresh Python process imports ``get_ticket``'s handler and
invokes it once (a real API Gateway event, one ticket read from PostgreSQL as ``ticketing_app``
under row-level security), against a bare powertools resolver doing the same read.

    make bench-cold-init            # or: python -m bench.cold_init --runs 15 [--tree /path/to/other/checkout]

Each run is a new process, as a Lambda cold start is: the figures are the process's own clock
from its first line (``import``: the handler module and everything it pulls in; ``invoke``: the
first invocation, connection included) and the parent's wall clock for the whole process
(interpreter start-up included). ``--tree`` times the handler of another checkout of the project
(its ``functions/`` and ``shared/``) against the same database, e.g. the code before a change.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from bench import common

DB_NAME = "ticketing_bench_cold"

# The handler as deployed: import its module (the resolver, the shared package), invoke it once.
HANDLER = textwrap.dedent(
    """
    import json, sys, time
    started = time.perf_counter()
    from functions.get_ticket import handler as module
    imported = time.perf_counter()
    from local.events import LambdaContext, api_gateway_event, authorizer_context
    event = api_gateway_event(method="GET", resource="/tickets/{ticket_id}", path="/tickets/" + sys.argv[1],
                              authorizer=authorizer_context("alice", "acme", ["tenant_user"]))
    prepared = time.perf_counter()
    result = module.handler(event, LambdaContext(function_name="get_ticket"))
    done = time.perf_counter()
    assert result["statusCode"] == 200, result
    print(json.dumps({"import": imported - started, "invoke": done - prepared}))
    """
)

# The same read with nothing but powertools' resolver and psycopg: the floor a route can reach.
BARE = textwrap.dedent(
    """
    import json, os, sys, time
    started = time.perf_counter()
    import psycopg
    from psycopg.rows import dict_row
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
    app = APIGatewayRestResolver(enable_validation=True)

    @app.get("/tickets/<ticket_id>")
    def get_ticket(ticket_id: str):
        with psycopg.connect(os.environ["DATABASE_URL"], row_factory=dict_row) as conn:
            conn.execute("SELECT set_config('app.tenant_id', 'acme', true),"
                         " set_config('app.is_platform', 'off', true)")
            number = int(ticket_id.split('-')[1])
            row = conn.execute("SELECT * FROM ticket WHERE key_num = %s", (number,)).fetchone()
        body = json.dumps({k: v for k, v in row.items() if k != "search_vector"}, default=str)
        return Response(status_code=200, content_type="application/json", body=body)

    handler = app.resolve
    imported = time.perf_counter()
    from local.events import LambdaContext, api_gateway_event, authorizer_context
    event = api_gateway_event(method="GET", resource="/tickets/{ticket_id}", path="/tickets/" + sys.argv[1],
                              authorizer=authorizer_context("alice", "acme", ["tenant_user"]))
    prepared = time.perf_counter()
    result = handler(event, LambdaContext(function_name="bare"))
    done = time.perf_counter()
    assert result["statusCode"] == 200, result
    print(json.dumps({"import": imported - started, "invoke": done - prepared}))
    """
)


def once(script: str, key: str, tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{common.ROOT}", "PYTHONDONTWRITEBYTECODE": ""}
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script, key], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "process": wall}


def seed(admin_url: str) -> str:
    """One ticket of tenant acme, written through the handler; returns its key."""
    from functions.create_ticket import handler as module
    from local.events import LambdaContext, api_gateway_event, authorizer_context

    event = api_gateway_event(
        method="POST",
        resource="/tickets",
        path="/tickets",
        body={"title": "Cold start probe", "category": "quota"},
        authorizer=authorizer_context("alice", "acme", ["tenant_user"]),
    )
    result = module.handler(event, LambdaContext(function_name="create_ticket"))
    if result["statusCode"] != 201:
        raise RuntimeError(result)
    key: str = json.loads(result["body"])["key"]
    return key


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--tree",
        type=Path,
        action="append",
        help="also time the handler of this checkout (e.g. the code before a change); repeatable",
    )
    args = parser.parse_args(argv)
    load = common.machine_load()
    warning = common.busy_warning()
    common.configure_env()
    os.environ.setdefault("EVENT_BUS_NAME", "ticketing-bench")
    admin_url, _ = common.prepare_database(DB_NAME, fresh=True)
    print(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if warning:
        print(warning)
    from bench.create_ticket import offline_event_bus

    with offline_event_bus("in-process"):  # the create's publish goes to moto; the timed ones publish nothing
        key = seed(admin_url)
    trees = {"handler": common.ROOT}
    trees.update({f"handler of {t}": t.resolve() for t in args.tree or []})
    print(f"cold init of get_ticket: {args.runs} fresh processes per path, in turns")
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    samples["bare resolver"] = []
    for _ in range(args.runs):  # in turns, so that machine noise falls on every path alike
        for name, tree in trees.items():
            samples[name].append(once(HANDLER, key, tree))
        samples["bare resolver"].append(once(BARE, key, common.ROOT))
    rows = []
    for name, runs in samples.items():
        rows.append(
            [name]
            + [
                f"{common.median([r[part] for r in runs]) * 1000:.0f}"
                for part in ("import", "invoke", "process")
            ]
        )
    print(common.table(["path", "import ms (median)", "first invoke ms", "whole process ms"], rows))
    bare_total = common.median([r["import"] + r["invoke"] for r in samples["bare resolver"]])
    for name in trees:
        total = common.median([r["import"] + r["invoke"] for r in samples[name]])
        print(
            f"import + first invocation, {name}: {total * 1000:.0f} ms against the bare resolver's"
            f" {bare_total * 1000:.0f} ms (+{(total - bare_total) * 1000:.0f} ms, x{total / bare_total:.2f})"
        )


if __name__ == "__main__":
    main()
