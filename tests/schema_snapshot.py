"""The database schema the migrations build, as sorted text lines: one fact per line.

``snapshot(conn)`` reads the catalogs of the ``public`` schema (not pg_dump, which may be absent
or of another version than the server) and returns lines that depend on neither OIDs, the
database name nor the server version (15-18): tables and columns, indexes, constraints,
row-level security and policies, grants, triggers, functions, sequences, types, extensions and
the application role's attributes. ``compare`` turns two snapshots into a report: a unified diff
of the differing lines and how to regenerate the expected file.

Regenerate the checked-in expected file after an intended schema change with
``make schema-snapshot`` (``python -m tests.schema_snapshot``): it applies every migration to a
fresh database on the test server (the embedded one unless ``TEST_DATABASE_URL`` is set) and
rewrites ``tests/integration/schema/expected_schema.txt``.

Normalised: the role that ran the migrations (the server's superuser in tests) is shown as
``<migrator>``; expressions deparsed over several lines are joined into one; a function body is a
SHA-256 (exact text) plus its text when short; a view is described by the columns and functions
it reads, because pg_get_viewdef's text changed in PostgreSQL 16. Objects of extensions (btree_gin
creates its functions in ``public``) and a range type's constructors are left out, as are row
contents (``schema_migration``'s names and checksums; its shape is kept), the application role's
LOGIN and password (set per environment by the runner), NOT NULL constraints as pg_constraint rows
(PostgreSQL 18 only; the columns' "not null" says the same on every version), and the MAINTAIN
privilege (PostgreSQL 17+, part of ``GRANT ALL`` there but not on 15). Schemas other than
``public`` are listed by name and owner only.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from shared.db import migrate

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_FILE = ROOT / "tests" / "integration" / "schema" / "expected_schema.txt"
EXPECTED_NAME = str(EXPECTED_FILE.relative_to(ROOT))
REGENERATE = "make schema-snapshot"
SCHEMA = "public"
APP_ROLE = migrate.APP_ROLE
# The role that ran the migrations, as an owner or grantee.
MIGRATOR = "<migrator>"
# Role attributes that matter for security. LOGIN (and the password) is set per environment by
# the runner, so it is not part of the schema.
ROLE_ATTRIBUTES = {
    "rolsuper": "SUPERUSER",
    "rolbypassrls": "BYPASSRLS",
    "rolcreatedb": "CREATEDB",
    "rolcreaterole": "CREATEROLE",
    "rolreplication": "REPLICATION",
    "rolinherit": "INHERIT",
}
_SHORT_BODY = 120

# Each query returns one text column: a finished line. %(schema)s is the schema, %(migrator)s
# the placeholder for the current user (the migrating role) as an owner.
_OWNER = "CASE WHEN {col} = current_user::regrole THEN %(migrator)s ELSE {col}::regrole::text END"

_QUERIES: dict[str, str] = {
    "schemas": f"""
        SELECT 'schema ' || n.nspname || ': owner ' || {_OWNER.format(col="n.nspowner")}
        FROM pg_namespace n
        WHERE n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                          AND d.objid = n.oid AND d.deptype = 'e')
    """,
    "extensions": "SELECT 'extension ' || extname FROM pg_extension",
    "relations": f"""
        SELECT 'relation ' || c.relname || ': '
               || CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
                                 WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                                 WHEN 'f' THEN 'foreign table' WHEN 'S' THEN 'sequence'
                                 WHEN 'c' THEN 'composite type' ELSE c.relkind::text END
               || CASE c.relpersistence WHEN 'u' THEN ', unlogged' ELSE '' END
               || ', owner ' || {_OWNER.format(col="c.relowner")}
               || CASE WHEN c.relispartition
                       THEN ', partition of ' || (SELECT i.inhparent::regclass::text FROM pg_inherits i
                                                  WHERE i.inhrelid = c.oid)
                            || ' ' || pg_get_expr(c.relpartbound, c.oid) ELSE '' END
               || CASE WHEN c.relkind = 'p' THEN ', partition by ' || pg_get_partkeydef(c.oid) ELSE '' END
               || coalesce(', options (' || array_to_string(c.reloptions, ', ') || ')', '')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
    """,
    # A view's query is represented by what it reads, not by its text: pg_get_viewdef's output
    # changed in PostgreSQL 16 (columns of a single-table query are no longer qualified).
    "views": """
        SELECT DISTINCT 'view ' || v.relname || ' reads '
               || CASE WHEN d.refclassid = 'pg_proc'::regclass
                       THEN 'function ' || d.refobjid::regprocedure::text
                       WHEN d.refobjsubid = 0 THEN 'relation ' || t.relname
                       ELSE 'column ' || t.relname || '.' || a.attname END
        FROM pg_rewrite r
        JOIN pg_class v ON v.oid = r.ev_class
        JOIN pg_namespace n ON n.oid = v.relnamespace
        JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                        AND d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass)
                        AND d.refobjid <> v.oid
        LEFT JOIN pg_class t ON d.refclassid = 'pg_class'::regclass AND t.oid = d.refobjid
        LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        WHERE n.nspname = %(schema)s AND v.relkind IN ('v', 'm')
    """,
    "columns": """
        SELECT 'column ' || c.relname || '.' || a.attname || ': ' || format_type(a.atttypid, a.atttypmod)
               || CASE WHEN a.attcollation <> t.typcollation
                       THEN ' collate ' || (SELECT quote_ident(co.collname) FROM pg_collation co
                                            WHERE co.oid = a.attcollation) ELSE '' END
               || CASE WHEN a.attnotnull THEN ' not null' ELSE ' null' END
               || CASE a.attidentity WHEN 'a' THEN ' generated always as identity'
                                     WHEN 'd' THEN ' generated by default as identity' ELSE '' END
               || CASE WHEN a.attgenerated <> '' THEN ' generated always as ('
                            || pg_get_expr(ad.adbin, ad.adrelid) || ')'
                            || CASE a.attgenerated WHEN 's' THEN ' stored' ELSE ' virtual' END
                       WHEN ad.adbin IS NOT NULL THEN ' default ' || pg_get_expr(ad.adbin, ad.adrelid)
                       ELSE '' END
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
          AND a.attnum > 0 AND NOT a.attisdropped
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
    """,
    "row_level_security": """
        SELECT 'row level security ' || c.relname || ': '
               || CASE WHEN c.relrowsecurity THEN 'enabled' ELSE 'disabled' END
               || CASE WHEN c.relforcerowsecurity THEN ', forced' ELSE ', not forced' END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')
    """,
    "policies": """
        SELECT 'policy ' || c.relname || '.' || p.polname || ': '
               || CASE p.polcmd WHEN '*' THEN 'ALL' WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
                                WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' END
               || CASE WHEN p.polpermissive THEN ' permissive' ELSE ' restrictive' END
               || ' to ' || (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE r::regrole::text END,
                                               ', ' ORDER BY CASE WHEN r = 0 THEN 'PUBLIC'
                                                                  ELSE r::regrole::text END)
                             FROM unnest(p.polroles) AS r)
               || coalesce(' using (' || pg_get_expr(p.polqual, p.polrelid) || ')', '')
               || coalesce(' with check (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')', '')
        FROM pg_policy p
        JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s
    """,
    "indexes": """
        SELECT 'index ' || t.relname || '.' || i.relname || ': ' || pg_get_indexdef(i.oid)
               || CASE WHEN x.indisvalid THEN '' ELSE ' (invalid)' END
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = %(schema)s
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = t.oid AND d.deptype = 'e')
    """,
    # contype 'n' (NOT NULL, PostgreSQL 18+) is left to the columns' "not null"; 't' (constraint
    # triggers) appears among the triggers.
    "constraints": """
        SELECT 'constraint ' || coalesce(c.relname, ty.typname) || '.' || k.conname || ': '
               || pg_get_constraintdef(k.oid)
               || CASE WHEN k.convalidated THEN ' (validated)' ELSE ' (not validated)' END
        FROM pg_constraint k
        JOIN pg_namespace n ON n.oid = k.connamespace
        LEFT JOIN pg_class c ON c.oid = k.conrelid
        LEFT JOIN pg_type ty ON ty.oid = k.contypid
        WHERE n.nspname = %(schema)s AND k.contype IN ('c', 'f', 'p', 'u', 'x')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
    """,
    "triggers": """
        SELECT 'trigger ' || c.relname || '.' || g.tgname || ': '
               || CASE g.tgenabled WHEN 'O' THEN 'enabled' WHEN 'D' THEN 'disabled'
                                   WHEN 'R' THEN 'enabled replica' WHEN 'A' THEN 'enabled always' END
               || ', ' || pg_get_triggerdef(g.oid)
        FROM pg_trigger g
        JOIN pg_class c ON c.oid = g.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND NOT g.tgisinternal
    """,
    "sequences": """
        SELECT 'sequence ' || c.relname || ': ' || format_type(s.seqtypid, NULL)
               || ' start ' || s.seqstart || ' increment ' || s.seqincrement
               || ' min ' || s.seqmin || ' max ' || s.seqmax || ' cache ' || s.seqcache
               || CASE WHEN s.seqcycle THEN ' cycle' ELSE ' no cycle' END
               || coalesce((SELECT ' owned by ' || t.relname || '.' || a.attname
                                   || CASE d.deptype WHEN 'i' THEN ' (identity)' ELSE '' END
                            FROM pg_depend d
                            JOIN pg_class t ON t.oid = d.refobjid
                            JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                              AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')), '')
        FROM pg_sequence s
        JOIN pg_class c ON c.oid = s.seqrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s
    """,
    "types": """
        SELECT 'type ' || t.typname || ': '
               || CASE t.typtype
                    WHEN 'e' THEN 'enum (' || (SELECT string_agg(quote_literal(e.enumlabel), ', '
                                                                 ORDER BY e.enumsortorder)
                                               FROM pg_enum e WHERE e.enumtypid = t.oid) || ')'
                    WHEN 'd' THEN 'domain over ' || format_type(t.typbasetype, t.typtypmod)
                                  || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
                                  || coalesce(' default ' || t.typdefault, '')
                    WHEN 'r' THEN 'range'
                    WHEN 'm' THEN 'multirange'
                    WHEN 'b' THEN 'base'
                    WHEN 'p' THEN 'pseudo'
                    ELSE t.typtype::text END
               || ', owner ' || CASE WHEN t.typowner = current_user::regrole THEN %(migrator)s
                                     ELSE t.typowner::regrole::text END
        FROM pg_type t
        JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = %(schema)s AND t.typtype IN ('e', 'd', 'r', 'm', 'b', 'p')
          AND NOT EXISTS (SELECT 1 FROM pg_type el WHERE el.typarray = t.oid)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                          AND d.objid = t.oid AND d.deptype IN ('e', 'i'))
    """,
    # Grants to anyone but the object's owner, one privilege per line. Table, sequence and
    # function ACLs of NULL mean the built-in default (acldefault), e.g. EXECUTE to PUBLIC.
    "grants": """
        WITH objects(kind, name, owner, acl) AS (
            SELECT 'schema', n.nspname::text, n.nspowner, coalesce(n.nspacl, acldefault('n', n.nspowner))
            FROM pg_namespace n WHERE n.nspname = %(schema)s
          UNION ALL
            SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END, c.relname, c.relowner,
                   coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                                 c.relowner))
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                              AND d.objid = c.oid AND d.deptype = 'e')
          UNION ALL
            SELECT 'column', c.relname || '.' || a.attname, c.relowner, a.attacl
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %(schema)s AND a.attacl IS NOT NULL AND a.attnum > 0
              AND NOT a.attisdropped
          UNION ALL
            SELECT CASE WHEN p.prokind = 'p' THEN 'procedure' ELSE 'function' END, p.oid::regprocedure::text,
                   p.proowner, coalesce(p.proacl, acldefault('f', p.proowner))
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = %(schema)s
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                              AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
          UNION ALL
            SELECT 'type', t.typname, t.typowner, t.typacl
            FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE n.nspname = %(schema)s AND t.typacl IS NOT NULL
        )
        SELECT 'grant ' || o.kind || ' ' || o.name || ' to '
               || CASE WHEN x.grantee = 0 THEN 'PUBLIC'
                       WHEN x.grantee = current_user::regrole THEN %(migrator)s
                       ELSE x.grantee::regrole::text END
               || ': ' || x.privilege_type
               || CASE WHEN x.is_grantable THEN ' with grant option' ELSE '' END
        FROM objects o, aclexplode(o.acl) x
        WHERE x.grantee <> o.owner AND x.privilege_type <> 'MAINTAIN'
    """,
    "default_privileges": """
        SELECT 'default privileges of '
               || CASE WHEN d.defaclrole = current_user::regrole THEN %(migrator)s
                       ELSE d.defaclrole::regrole::text END
               || coalesce(' in schema ' || n.nspname, '') || ' on '
               || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                                       WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types'
                                       WHEN 'n' THEN 'schemas' ELSE d.defaclobjtype::text END
               || ' to '
               || CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE x.grantee::regrole::text END
               || ': ' || x.privilege_type
               || CASE WHEN x.is_grantable THEN ' with grant option' ELSE '' END
        FROM pg_default_acl d
        LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
        CROSS JOIN aclexplode(d.defaclacl) x
        WHERE x.privilege_type <> 'MAINTAIN'
    """,
}

# Functions: attributes on one line, settings (proconfig) and body on lines of their own, so a
# changed search_path or body shows as exactly that.
_FUNCTIONS = f"""
    SELECT p.oid::regprocedure::text AS name,
           CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window'
                          ELSE 'function' END AS kind,
           pg_get_function_arguments(p.oid) AS arguments,
           coalesce(pg_get_function_result(p.oid), '') AS result,
           l.lanname AS language,
           CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END
               AS volatility,
           CASE p.proparallel WHEN 's' THEN 'parallel safe' WHEN 'r' THEN 'parallel restricted'
                              ELSE 'parallel unsafe' END AS parallel,
           p.proisstrict AS strict,
           p.prosecdef AS security_definer,
           p.proleakproof AS leakproof,
           {_OWNER.format(col="p.proowner")} AS owner,
           p.proconfig AS config,
           CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid) ELSE p.prosrc END AS body
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    JOIN pg_language l ON l.oid = p.prolang
    WHERE n.nspname = %(schema)s  -- not extension members, nor a range type's constructors
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                      AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
"""


def _one_line(text: str) -> str:
    # Deparsed subqueries (in policies, say) come out over several indented lines.
    return re.sub(r"\s*\n\s*", " ", text)


def _function_lines(row: dict[str, Any]) -> list[str]:
    head = f"{row['kind']} {row['name']}"
    attributes = [
        f"args ({row['arguments']})",
        f"returns {row['result']}" if row["result"] else "no result",
        f"language {row['language']}",
        row["volatility"],
        row["parallel"],
        "strict" if row["strict"] else "called on null input",
        "security definer" if row["security_definer"] else "security invoker",
        *(["leakproof"] if row["leakproof"] else []),
        f"owner {row['owner']}",
    ]
    lines = [f"{head}: {', '.join(attributes)}"]
    lines += [f"{head} set: {setting}" for setting in row["config"] or []]
    body: str = row["body"] or ""
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    shown = re.sub(r"\s+", " ", body).strip()
    hint = f" {shown}" if len(shown) <= _SHORT_BODY else f" ({len(body.splitlines())} lines)"
    lines.append(f"{head} body: sha256:{digest}{hint}")
    return lines


def _role_lines(conn: psycopg.Connection[Any], role: str) -> list[str]:
    columns = ", ".join(ROLE_ATTRIBUTES)
    row = conn.execute(f"SELECT {columns} FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if row is None:
        return [f"role {role}: missing"]
    lines = [
        f"role {role}: {'' if value else 'NO'}{attribute}"
        for attribute, value in zip(ROLE_ATTRIBUTES.values(), row, strict=True)
    ]
    memberships = conn.execute(
        "SELECT m.roleid::regrole::text, m.admin_option FROM pg_auth_members m WHERE m.member = %s::regrole",
        (role,),
    ).fetchall()
    lines += [
        f"role {role}: member of {name}{' with admin option' if admin else ''}" for name, admin in memberships
    ]
    return lines


def snapshot(conn: psycopg.Connection[Any], *, schema: str = SCHEMA, role: str = APP_ROLE) -> list[str]:
    """The schema as sorted lines, read through ``conn`` (as the role that ran the migrations).

    Runs in a transaction (a savepoint if ``conn`` is already in one) so that it sees a
    consistent catalog; it changes nothing.
    """
    params = {"schema": schema, "migrator": MIGRATOR}
    lines: list[str] = []
    with conn.transaction():
        # Expressions name objects relative to the search path: make it the same everywhere.
        conn.execute("SET LOCAL search_path = public")
        for query in _QUERIES.values():
            lines += [_one_line(row[0]) for row in conn.execute(query, params)]
        cursor = conn.cursor(row_factory=dict_row)
        for function in cursor.execute(_FUNCTIONS, params):
            lines += _function_lines(function)
        lines += _role_lines(conn, role)
    return sorted(lines)


def read_expected(path: Path = EXPECTED_FILE) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def render(lines: Iterable[str]) -> str:
    header = (
        "# The schema that migrations/ builds on an empty database (tests/schema_snapshot.py).\n"
        f"# Generated: do not edit. After an intended schema change run `{REGENERATE}`.\n"
    )
    return header + "".join(f"{line}\n" for line in lines)


def changes(expected: list[str], actual: list[str]) -> tuple[list[str], list[str]]:
    """The lines only in ``expected`` (missing now) and the lines only in ``actual`` (new)."""
    expected_set, actual_set = set(expected), set(actual)
    return (
        [line for line in expected if line not in actual_set],
        [line for line in actual if line not in expected_set],
    )


def compare(expected: list[str], actual: list[str], *, expected_name: str = EXPECTED_NAME) -> str | None:
    """None when equal; otherwise what differs, as a unified diff with a little context."""
    if expected == actual:
        return None
    missing, new = changes(expected, actual)
    diff = difflib.unified_diff(
        expected, actual, fromfile=expected_name, tofile="actual (migrations applied)", n=2, lineterm=""
    )
    return (
        f"the schema differs from {expected_name}: {len(missing)} line(s) missing, {len(new)} new\n"
        + "\n".join(diff)
        + f"\nIf the change is intended, regenerate the expected file with `{REGENERATE}` and commit it."
    )


def build(server_url: str) -> list[str]:
    """Apply every migration to a new, empty database on ``server_url`` and snapshot it."""
    from psycopg import sql

    from tests.conftest import with_db

    name = f"schema_snapshot_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            url = with_db(server_url, name)
            migrate.apply(url)
            with psycopg.connect(url, autocommit=True) as conn:
                return snapshot(conn)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> int:
    """Rewrite the expected file from the migrations (``make schema-snapshot``)."""
    import os

    from tests.conftest import _embedded_admin_url

    server_url = os.environ.get("TEST_DATABASE_URL") or _embedded_admin_url()
    lines = build(server_url)
    EXPECTED_FILE.parent.mkdir(parents=True, exist_ok=True)
    before = EXPECTED_FILE.read_text(encoding="utf-8") if EXPECTED_FILE.exists() else None
    after = render(lines)
    EXPECTED_FILE.write_text(after, encoding="utf-8")
    state = "unchanged" if before == after else "rewritten"
    print(f"{EXPECTED_NAME}: {len(lines)} lines, {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
