-- Machine-event intake (issue 10): one open incident per problem, its occurrences, and the
-- events intake refused.

-- At most one open ticket per fingerprint: per tenant (platform-wide events, tenant NULL, have
-- their own scope) and dedup key. The database holds this under concurrency, not only the code:
-- two workers racing on the same new fingerprint, one insert wins and the other adds an
-- occurrence to it (shared/intake/service.py).
CREATE UNIQUE INDEX ticket_open_dedup_idx ON ticket (coalesce(tenant_id, ''), dedup_key)
    WHERE dedup_key IS NOT NULL AND state NOT IN ('resolved', 'closed', 'canceled');
-- GET /tickets?dedup_key=..., and the previous ticket of a fingerprint (reopen window, refers-to).
CREATE INDEX ticket_dedup_key_idx ON ticket (dedup_key, id DESC) WHERE dedup_key IS NOT NULL;

ALTER TABLE ticket ADD CONSTRAINT ticket_dedup_key_length
    CHECK (dedup_key IS NULL OR length(dedup_key) BETWEEN 1 AND 255);
-- A ticket opened for a fingerprint whose previous ticket was resolved refers to that one.
ALTER TABLE ticket ADD COLUMN previous_ticket_id uuid REFERENCES ticket (id);
-- When the source last said "trigger": a resolve that happened before it is stale (delivery can
-- be out of order) and does not resolve the ticket.
ALTER TABLE ticket ADD COLUMN last_trigger_at timestamptz;
-- Storm control: occurrences reach the audit trail and the bus as at most one "Occurrences
-- Added" event per ticket per minute; these say how far the last one went (docs/decisions.md).
ALTER TABLE ticket ADD COLUMN occurrences_reported integer NOT NULL DEFAULT 1;
ALTER TABLE ticket ADD COLUMN occurrences_reported_at timestamptz;
CREATE INDEX ticket_occurrences_unreported_idx ON ticket (occurrences_reported_at)
    WHERE occurrence_count > occurrences_reported;

-- Every event intake took, by its id: what it was and what it did (opened, occurrence,
-- acknowledged, resolved, reopened, ignored, stale). A redelivered event finds its row and adds
-- nothing. Rows of a ticket are its occurrence log (GET /tickets/{id}/occurrences).
CREATE TABLE intake_event (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    text NOT NULL UNIQUE CHECK (length(event_id) BETWEEN 1 AND 512),
    ticket_id   uuid REFERENCES ticket (id),          -- NULL: ignored, no ticket
    tenant_id   text,
    dedup_key   text NOT NULL,
    action      text NOT NULL CHECK (action IN ('trigger', 'acknowledge', 'resolve')),
    outcome     text NOT NULL CHECK (outcome IN (
                    'opened', 'occurrence', 'reopened', 'acknowledged', 'resolved', 'ignored', 'stale')),
    at          timestamptz NOT NULL,                 -- when the source saw it
    received_at timestamptz NOT NULL DEFAULT now(),
    source      text NOT NULL,
    detail_type text NOT NULL,
    summary     text,
    severity    text CHECK (severity IN ('critical', 'error', 'warning', 'info')),
    details     jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX intake_event_ticket_idx ON intake_event (ticket_id, id) WHERE ticket_id IS NOT NULL;
CREATE INDEX intake_event_received_idx ON intake_event (received_at);

-- Events intake could not take (they fail their schema): kept for the operator with the source,
-- the reason, a digest of the payload and its first 4 KB (GET /intake/rejections).
CREATE TABLE intake_rejection (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at    timestamptz NOT NULL DEFAULT now(),
    source         text NOT NULL,
    detail_type    text,
    message_id     text,
    reason         text NOT NULL,
    payload_sha256 text NOT NULL CHECK (payload_sha256 ~ '^[0-9a-f]{64}$'),
    payload_bytes  integer NOT NULL,
    payload_head   text NOT NULL CHECK (octet_length(payload_head) <= 4096)
);

CREATE INDEX intake_rejection_received_idx ON intake_rejection (received_at DESC, id DESC);

-- Occurrences follow their ticket's visibility (the ticket policy applies inside the subquery);
-- only the service writes them. Rejections are the platform's.
ALTER TABLE intake_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY intake_event_read ON intake_event FOR SELECT
    USING (app_is_platform() OR app_is_system()
           OR (ticket_id IS NOT NULL AND EXISTS (SELECT 1 FROM ticket t WHERE t.id = ticket_id)));
CREATE POLICY intake_event_write ON intake_event FOR INSERT WITH CHECK (app_is_system());
CREATE POLICY intake_event_link ON intake_event FOR UPDATE USING (app_is_system()) WITH CHECK (app_is_system());
CREATE POLICY intake_event_purge ON intake_event FOR DELETE USING (app_is_system());

ALTER TABLE intake_rejection ENABLE ROW LEVEL SECURITY;
CREATE POLICY intake_rejection_read ON intake_rejection FOR SELECT USING (app_is_platform() OR app_is_system());
CREATE POLICY intake_rejection_write ON intake_rejection FOR INSERT WITH CHECK (app_is_system());
CREATE POLICY intake_rejection_purge ON intake_rejection FOR DELETE USING (app_is_system());

GRANT SELECT, INSERT, UPDATE, DELETE ON intake_event TO ticketing_app;
GRANT SELECT, INSERT, DELETE ON intake_rejection TO ticketing_app;

-- GET /tickets?dedup_key=...: the search function takes the fingerprint as one more filter
-- (migration 0002 explains the function; only the dedup_key condition is new).
DROP FUNCTION ticket_search_ids(text, text[], text[], text, text[], text, text, text, uuid, integer);

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
    row_limit integer DEFAULT 51,
    dedup_key text DEFAULT NULL
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
    IF dedup_key IS NOT NULL THEN
        conditions := conditions || format('t.%I = $%s', 'dedup_key', 12);
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
              greatest(1, least(coalesce(row_limit, 51), 201)), scope_tenant, dedup_key;
END
$fn$;

REVOKE ALL ON FUNCTION ticket_search_ids(text, text[], text[], text, text[], text, text, text, uuid, integer, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_search_ids(text, text[], text[], text, text[], text, text, text, uuid, integer, text)
    TO ticketing_app;
