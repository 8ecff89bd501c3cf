-- The SLA engine (issue 11): business calendars, ordered SLA policies, one clock per ticket and
-- metric, and the record of every timer step fired. The clock row is the truth; timer messages
-- only wake the worker that re-reads it.

-- Calendars: an IANA zone, weekly working intervals in local wall time and holidays (explicit
-- dates, and those generated for a country when the calendar was written: `holiday_dates` holds
-- the union, so the arithmetic never depends on the holidays package's next release).
CREATE TABLE sla_calendar (
    id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    time_zone     text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
    weekly        jsonb NOT NULL CHECK (jsonb_typeof(weekly) = 'object'),
    holidays      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(holidays) = 'object'),
    holiday_dates date[] NOT NULL DEFAULT '{}',
    version       integer NOT NULL DEFAULT 1,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_by    text NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- Policies, tried in position order. `match` names the kind, category, priority and tenant a
-- ticket must have (a member left out matches any); targets are minutes of business time.
CREATE TABLE sla_policy (
    id                      text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    position                integer NOT NULL CHECK (position BETWEEN 1 AND 1000000),
    name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description             text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    enabled                 boolean NOT NULL DEFAULT true,
    match                   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(match) = 'object'),
    first_response_minutes  integer CHECK (first_response_minutes > 0),
    resolution_minutes      integer CHECK (resolution_minutes > 0),
    at_risk_percent         integer NOT NULL DEFAULT 80 CHECK (at_risk_percent BETWEEN 1 AND 99),
    calendar_id             text NOT NULL REFERENCES sla_calendar (id),
    escalation              jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(escalation) = 'array'),
    version                 integer NOT NULL DEFAULT 1,
    created_by              text NOT NULL,
    created_at              timestamptz NOT NULL,
    updated_by              text NOT NULL,
    updated_at              timestamptz NOT NULL,
    CHECK (first_response_minutes IS NOT NULL OR resolution_minutes IS NOT NULL)
);

CREATE UNIQUE INDEX sla_policy_position_idx ON sla_policy (position);
CREATE INDEX sla_policy_calendar_idx ON sla_policy (calendar_id);

-- The version of policies and calendars together, moved by every change of either (a warm
-- function keeps them while it stays the same), as routing_rule_set does for routing rules.
CREATE TABLE sla_config_set (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL DEFAULT 0
);
INSERT INTO sla_config_set (singleton, version) VALUES (true, 0);

CREATE FUNCTION sla_config_set_bump() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS
$$
BEGIN
    UPDATE public.sla_config_set SET version = version + 1;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION sla_config_set_bump() FROM PUBLIC;

CREATE TRIGGER sla_calendar_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sla_calendar
    FOR EACH STATEMENT EXECUTE FUNCTION sla_config_set_bump();
CREATE TRIGGER sla_policy_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sla_policy
    FOR EACH STATEMENT EXECUTE FUNCTION sla_config_set_bump();

-- The defaults of the seed schema: 24x7, and one policy per priority (low 24 h / 72 h, medium
-- 8 h / 48 h, high 2 h / 24 h, critical 30 min / 4 h), escalating to this platform's roles.
INSERT INTO sla_calendar (id, name, time_zone, weekly, created_by, created_at, updated_by, updated_at)
VALUES ('24x7', 'Around the clock', 'UTC',
        '{"monday": [["00:00", "24:00"]], "tuesday": [["00:00", "24:00"]], "wednesday": [["00:00", "24:00"]],
          "thursday": [["00:00", "24:00"]], "friday": [["00:00", "24:00"]], "saturday": [["00:00", "24:00"]],
          "sunday": [["00:00", "24:00"]]}',
        'system:migrate', now(), 'system:migrate', now());

INSERT INTO sla_policy (id, position, name, match, first_response_minutes, resolution_minutes,
                        calendar_id, escalation, created_by, created_at, updated_by, updated_at)
VALUES
    ('default-critical', 10, 'Critical', '{"priority": ["critical"]}', 30, 240, '24x7',
     '[{"at": "at_risk", "notify": ["role:platform_operator"]},
       {"at": "breach", "notify": ["role:platform_operator", "role:platform_admin"], "raise_priority": false},
       {"at": "breach+30m", "notify": ["role:platform_admin"]}]',
     'system:migrate', now(), 'system:migrate', now()),
    ('default-high', 20, 'High', '{"priority": ["high"]}', 120, 1440, '24x7',
     '[{"at": "at_risk", "notify": ["role:platform_operator"]},
       {"at": "breach", "notify": ["role:platform_operator", "role:platform_admin"], "raise_priority": true}]',
     'system:migrate', now(), 'system:migrate', now()),
    ('default-medium', 30, 'Medium', '{"priority": ["medium"]}', 480, 2880, '24x7',
     '[{"at": "at_risk", "notify": ["role:platform_operator"]},
       {"at": "breach", "notify": ["role:platform_operator"], "raise_priority": true}]',
     'system:migrate', now(), 'system:migrate', now()),
    ('default-low', 40, 'Low', '{"priority": ["low"]}', 1440, 4320, '24x7',
     '[{"at": "breach", "notify": ["role:platform_operator"]}]',
     'system:migrate', now(), 'system:migrate', now());

-- One clock per ticket and metric. `elapsed` is the business time counted before
-- `running_since` (NULL while paused or stopped); due_at / at_risk_at are absolute instants from
-- the calendar (NULL while paused). `steps` is the schedule the clock was computed with (the
-- policy's thresholds and escalation chain, as elapsed business seconds), `fired` the steps that
-- fired. `next_step` / `next_due_at` is what the timer must do next; `generation` moves whenever
-- that changes, so a timer message for an older generation finds nothing to do.
CREATE TABLE sla_clock (
    id                  uuid PRIMARY KEY,
    ticket_id           uuid NOT NULL REFERENCES ticket (id),
    metric              text NOT NULL CHECK (metric IN ('first_response', 'resolution')),
    state               text NOT NULL CHECK (state IN ('running', 'paused', 'met', 'breached', 'canceled')),
    policy_id           text NOT NULL,
    policy_version      integer NOT NULL,
    calendar_id         text NOT NULL,
    target_s            integer NOT NULL CHECK (target_s > 0),
    at_risk_s           integer NOT NULL CHECK (at_risk_s > 0),
    steps               jsonb NOT NULL CHECK (jsonb_typeof(steps) = 'array'),
    elapsed             interval NOT NULL DEFAULT '0',
    running_since       timestamptz,
    started_at          timestamptz NOT NULL,
    due_at              timestamptz,
    at_risk_at          timestamptz,
    breached_at         timestamptz,
    met_at              timestamptz,
    canceled_at         timestamptz,
    fired               text[] NOT NULL DEFAULT '{}',
    next_step           text,
    next_due_at         timestamptz,
    generation          integer NOT NULL DEFAULT 1,
    enqueued_generation integer,
    enqueued_at         timestamptz,                -- when that message was sent (the sweeper's resend)
    updated_at          timestamptz NOT NULL,
    UNIQUE (ticket_id, metric),
    CHECK ((next_step IS NULL) = (next_due_at IS NULL))
);

-- The sweeper's question: which clocks come due soon (or are overdue)?
CREATE INDEX sla_clock_next_due_idx ON sla_clock (next_due_at) WHERE next_due_at IS NOT NULL;

-- Each step fired once per clock generation (the timer worker's and the backfill's claim);
-- `late_s` is how long after its due instant it fired.
CREATE TABLE sla_firing (
    clock_id   uuid NOT NULL REFERENCES sla_clock (id),
    step       text NOT NULL,
    generation integer NOT NULL,
    ticket_id  uuid NOT NULL,
    due_at     timestamptz NOT NULL,
    fired_at   timestamptz NOT NULL,
    late_s     double precision NOT NULL,
    fired_by   text NOT NULL CHECK (fired_by IN ('timer', 'backfill', 'repair', 'change')),
    PRIMARY KEY (clock_id, step, generation)
);
CREATE INDEX sla_firing_fired_idx ON sla_firing (fired_at);

-- What clients see of the SLA on every ticket, kept by the engine in the transaction that moves
-- the clocks: `sla` is the clocks' summary (tickets.models.SlaSummary), `sla_status` the status
-- the list filter reads, `sla_due_at` the next breach instant of a running clock (sort=sla_due).
ALTER TABLE ticket ADD COLUMN sla jsonb;
ALTER TABLE ticket ADD COLUMN sla_status text NOT NULL DEFAULT 'none'
    CHECK (sla_status IN ('none', 'on_track', 'at_risk', 'breached', 'met', 'paused'));
ALTER TABLE ticket ADD COLUMN sla_due_at timestamptz;
ALTER TABLE ticket ADD COLUMN sla_escalation_level integer NOT NULL DEFAULT 0;

CREATE INDEX ticket_sla_due_idx ON ticket (sla_due_at, id) WHERE sla_due_at IS NOT NULL;
CREATE INDEX ticket_sla_status_idx ON ticket (sla_status, id) WHERE sla_status IN ('at_risk', 'breached');

-- Every scoped transaction reads policies and calendars (a tenant's new ticket gets its SLA in
-- the tenant's own transaction); only platform scopes write them.
ALTER TABLE sla_calendar ENABLE ROW LEVEL SECURITY;
CREATE POLICY sla_calendar_read ON sla_calendar FOR SELECT USING (app_is_platform() OR app_tenant() IS NOT NULL);
CREATE POLICY sla_calendar_insert ON sla_calendar FOR INSERT WITH CHECK (app_is_platform());
CREATE POLICY sla_calendar_update ON sla_calendar FOR UPDATE USING (app_is_platform()) WITH CHECK (app_is_platform());
CREATE POLICY sla_calendar_delete ON sla_calendar FOR DELETE USING (app_is_platform());

ALTER TABLE sla_policy ENABLE ROW LEVEL SECURITY;
CREATE POLICY sla_policy_read ON sla_policy FOR SELECT USING (app_is_platform() OR app_tenant() IS NOT NULL);
CREATE POLICY sla_policy_insert ON sla_policy FOR INSERT WITH CHECK (app_is_platform());
CREATE POLICY sla_policy_update ON sla_policy FOR UPDATE USING (app_is_platform()) WITH CHECK (app_is_platform());
CREATE POLICY sla_policy_delete ON sla_policy FOR DELETE USING (app_is_platform());

ALTER TABLE sla_config_set ENABLE ROW LEVEL SECURITY;
CREATE POLICY sla_config_set_read ON sla_config_set FOR SELECT USING (app_is_platform() OR app_tenant() IS NOT NULL);

-- Clocks follow their ticket: a tenant's transaction moves the clocks of its own tickets (a
-- tenant reopening a ticket resumes its resolution clock), never another tenant's.
ALTER TABLE sla_clock ENABLE ROW LEVEL SECURITY;
CREATE POLICY sla_clock_scope ON sla_clock
    USING (app_is_platform() OR EXISTS (SELECT 1 FROM ticket t WHERE t.id = ticket_id))
    WITH CHECK (app_is_platform() OR EXISTS (SELECT 1 FROM ticket t WHERE t.id = ticket_id));

-- Only the service itself (the timer worker, backfill, repair) records firings.
ALTER TABLE sla_firing ENABLE ROW LEVEL SECURITY;
CREATE POLICY sla_firing_system ON sla_firing USING (app_is_system()) WITH CHECK (app_is_system());
CREATE POLICY sla_firing_platform_read ON sla_firing FOR SELECT USING (app_is_platform());

GRANT SELECT, INSERT, UPDATE, DELETE ON sla_calendar TO ticketing_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON sla_policy TO ticketing_app;
GRANT SELECT ON sla_config_set TO ticketing_app;
GRANT SELECT, INSERT, UPDATE ON sla_clock TO ticketing_app;
GRANT SELECT, INSERT ON sla_firing TO ticketing_app;

-- A timer message may be published with a delay: the SQS publisher sends it with DelaySeconds up
-- to this instant (the relay too, computing the delay left when it publishes).
ALTER TABLE outbox ADD COLUMN deliver_at timestamptz;

-- GET /tickets?sla_status=at_risk,breached&sort=sla_due: the search function takes the SLA status
-- filter and the order by next breach (soonest first, tickets without a running clock last),
-- keyset-paged on (sla_due_at, id). Migration 0002 explains the function; only these are new.
DROP FUNCTION ticket_search_ids(text, text[], text[], text, text[], text, text, text, uuid, integer, text);

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
    dedup_key text DEFAULT NULL,
    sla_statuses text[] DEFAULT NULL,
    sort text DEFAULT 'newest',
    after_due timestamptz DEFAULT NULL
) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $fn$
DECLARE
    scope_tenant text;
    conditions text[] := ARRAY[]::text[];
    ordering text := 't.id DESC';
    statement text;
BEGIN
    IF NOT public.app_is_platform() THEN
        scope_tenant := public.app_tenant();
        IF scope_tenant IS NULL THEN
            RETURN;
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
    IF sla_statuses IS NOT NULL THEN
        conditions := conditions || format('t.%I = ANY($%s)', 'sla_status', 13);
    END IF;
    IF sort = 'sla_due' THEN
        ordering := 't.sla_due_at ASC NULLS LAST, t.id ASC';
        IF after IS NOT NULL AND after_due IS NOT NULL THEN
            conditions := conditions || '((t.sla_due_at, t.id) > ($14, $9) OR t.sla_due_at IS NULL)'::text;
        ELSIF after IS NOT NULL THEN
            conditions := conditions || '(t.sla_due_at IS NULL AND t.id > $9)'::text;
        END IF;
    ELSIF after IS NOT NULL THEN
        conditions := conditions || 't.id < $9'::text;
    END IF;

    statement := format(
        'SELECT t.id FROM public.ticket AS t WHERE %s ORDER BY %s LIMIT $10',
        coalesce(nullif(array_to_string(conditions, ' AND '), ''), 'TRUE'),
        ordering
    );
    RETURN QUERY EXECUTE statement
        USING q, states, priorities, kind, categories, tenant_id, assignee, tag, after,
              greatest(1, least(coalesce(row_limit, 51), 201)), scope_tenant, dedup_key, sla_statuses,
              after_due;
END
$fn$;

REVOKE ALL ON FUNCTION ticket_search_ids(text, text[], text[], text, text[], text, text, text, uuid, integer,
                                         text, text[], text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_search_ids(text, text[], text[], text, text[], text, text, text, uuid, integer,
                                            text, text[], text, timestamptz) TO ticketing_app;
