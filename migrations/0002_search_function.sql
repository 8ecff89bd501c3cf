-- Full-text search that can use its indexes under row-level security.
--
-- Under RLS the planner must evaluate the ticket_scope policy before any condition whose
-- function is not LEAKPROOF, and `tsvector @@ tsquery` is not: a tenant's search read every row
-- of the tenant instead of using ticket_search_idx. ticket_search_ids() finds the ids of one
-- page as the owner of the tables (to whom RLS does not apply: it is not FORCEd), so the
-- planner may use any index, and applies the caller's scope itself from the very settings the
-- policy reads (app_is_platform(), app_tenant()). It returns ids only; shared/search.py then
-- reads the rows as ticketing_app through RLS and its own tenant filter, so both walls still
-- stand in front of every row a caller receives.

-- A GIN index over (tenant_id, search_vector) (btree_gin gives GIN the equality operator class
-- for text): one index scan finds a tenant's matches without walking the other tenants' entries,
-- where a BitmapAnd of ticket_search_idx and a tenant btree read the whole posting lists of
-- common words. A multicolumn GIN index serves a condition on any subset of its columns as well
-- as a single-column one, so it replaces ticket_search_idx for platform-wide searches too
-- (measured: docs/bench-notes.md) and each write maintains one full-text index, not two.
-- btree_gin is a trusted extension: the migration runner (database owner) may create it, on RDS too.
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE INDEX ticket_tenant_search_idx ON ticket USING gin (tenant_id, search_vector);
DROP INDEX ticket_search_idx;

-- The ids of one page of tickets matching ``q`` and the filters, newest first (id DESC), within
-- the scope of the current transaction (shared/db.py set_scope): every ticket for a platform
-- principal, the tenant's own non-platform-only tickets for a tenant principal, nothing when no
-- scope is set. ``tenant_id`` is a filter on top of that scope, never the scope itself.
-- NULL parameters mean "no such filter"; ``after`` is the keyset cursor (ids below it);
-- ``row_limit`` is clamped to 1..201 (the API asks for limit + 1 to know if there is more).
-- The statement is built for the parameters actually given and run with EXECUTE ... USING, so
-- each call is planned for its own shape and values (never a generic plan), and values are
-- only ever bound, never interpolated.
CREATE FUNCTION ticket_search_ids(
    q text DEFAULT NULL,
    states text[] DEFAULT NULL,
    priorities text[] DEFAULT NULL,
    kind text DEFAULT NULL,
    categories text[] DEFAULT NULL,
    tenant_id text DEFAULT NULL,
    assignee text DEFAULT NULL,
    tag text DEFAULT NULL,
    after uuid DEFAULT NULL,
    row_limit integer DEFAULT 51
) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
-- pg_temp last: a caller's temporary objects can never stand in for ours.
SET search_path = pg_catalog, public, pg_temp
AS $fn$
DECLARE
    scope_tenant text;
    conditions text[] := ARRAY[]::text[];
    statement text;
BEGIN
    -- The caller's scope, from the settings the ticket_scope policy reads. Evaluated once here
    -- (both functions are STABLE: the same answer for every row of the statement), so that the
    -- planner sees a plain tenant_id = $11 it can use as an index condition.
    IF NOT public.app_is_platform() THEN
        scope_tenant := public.app_tenant();
        IF scope_tenant IS NULL THEN
            RETURN;  -- no scope: no rows, as under the policy
        END IF;
        conditions := conditions
            || 't.tenant_id = $11'::text
            || 't.visibility <> ''platform_only'''::text;
    END IF;

    IF q IS NOT NULL THEN
        conditions := conditions || 't.search_vector @@ websearch_to_tsquery(''english'', $1)'::text;
    END IF;
    IF states IS NOT NULL THEN
        conditions := conditions || format('t.%I = ANY($%s)', 'state', 2);
    END IF;
    IF priorities IS NOT NULL THEN
        conditions := conditions || format('t.%I = ANY($%s)', 'priority', 3);
    END IF;
    IF kind IS NOT NULL THEN
        conditions := conditions || format('t.%I = $%s', 'kind', 4);
    END IF;
    IF categories IS NOT NULL THEN
        conditions := conditions || format('t.%I = ANY($%s)', 'category', 5);
    END IF;
    IF tenant_id IS NOT NULL THEN
        conditions := conditions || format('t.%I = $%s', 'tenant_id', 6);
    END IF;
    IF assignee IS NOT NULL THEN
        conditions := conditions || format('t.%I = $%s', 'assignee', 7);
    END IF;
    IF tag IS NOT NULL THEN
        conditions := conditions || format('t.%I @> ARRAY[$%s]::text[]', 'tags', 8);
    END IF;
    IF after IS NOT NULL THEN
        conditions := conditions || 't.id < $9'::text;
    END IF;

    statement := format(
        'SELECT t.id FROM public.ticket AS t WHERE %s ORDER BY t.id DESC LIMIT $10',
        coalesce(nullif(array_to_string(conditions, ' AND '), ''), 'TRUE')
    );
    RETURN QUERY EXECUTE statement
        USING q, states, priorities, kind, categories, tenant_id, assignee, tag, after,
              greatest(1, least(coalesce(row_limit, 51), 201)), scope_tenant;
END
$fn$;

REVOKE ALL ON FUNCTION ticket_search_ids(text, text[], text[], text, text[], text, text, text, uuid, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_search_ids(text, text[], text[], text, text[], text, text, text, uuid, integer)
    TO ticketing_app;
