-- Core ticket service: tickets, audit trail, comments, idempotency keys, transactional outbox,
-- and the row-level security that keeps each tenant inside its own rows.

-- The application's role: no superuser, no BYPASSRLS. Runtime code connects as this role;
-- the migration runner gives it LOGIN and a password per environment.
-- Roles are cluster-wide: another database on the same server may have created it already.
DO $$
BEGIN
    CREATE ROLE ticketing_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    ALTER ROLE ticketing_app NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
END
$$;

-- The scope of the current transaction, as set by shared/db.py (set_config(..., true)).
-- Unset settings mean "no scope": every policy below then refuses the row.
CREATE FUNCTION app_tenant() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT nullif(current_setting('app.tenant_id', true), '') $$;

CREATE FUNCTION app_is_platform() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT coalesce(current_setting('app.is_platform', true), '') = 'on' $$;

CREATE FUNCTION app_is_system() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT coalesce(current_setting('app.system', true), '') = 'on' $$;

CREATE FUNCTION app_principal() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT nullif(current_setting('app.principal', true), '') $$;

CREATE SEQUENCE ticket_key_seq;

CREATE TABLE ticket (
    id                uuid PRIMARY KEY,                       -- UUIDv7: time-ordered
    key_num           bigint NOT NULL UNIQUE DEFAULT nextval('ticket_key_seq'),
    key               text GENERATED ALWAYS AS ('TCK-' || key_num) STORED,
    tenant_id         text CHECK (tenant_id <> ''),            -- NULL: platform-only
    visibility        text NOT NULL CHECK (visibility IN ('platform_only', 'tenant', 'mixed')),
    kind              text NOT NULL CHECK (kind IN ('incident', 'request')),
    category          text CHECK (category IN (
                          'health', 'pipeline_failure', 'data_freshness', 'schema_drift',
                          'security_finding', 'cost_anomaly',
                          'schema_change', 'new_connector', 'quota', 'access', 'configuration',
                          'deletion_export')),
    priority          text NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    state             text NOT NULL CHECK (state IN (
                          'new', 'ack', 'in_progress', 'wait_requester', 'wait_dependency',
                          'resolved', 'closed', 'canceled')),
    title             text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    description       text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
    requester         text NOT NULL,
    assignee          text,
    queue             text,
    tags              text[] NOT NULL DEFAULT '{}',
    fields            jsonb NOT NULL DEFAULT '{}',
    resources         text[] NOT NULL DEFAULT '{}',
    dedup_key         text,
    occurrence_count  integer NOT NULL DEFAULT 1 CHECK (occurrence_count >= 1),
    first_seen_at     timestamptz,
    last_seen_at      timestamptz,
    source            text NOT NULL DEFAULT 'api',
    correlation_id    text,
    resolution        text,
    cancel_reason     text,
    version           integer NOT NULL DEFAULT 1,
    -- Head of this ticket's audit chain, kept on the row so that extending the chain needs no
    -- read of events the writer may not see (internal ones, under a tenant's scope).
    audit_seq         integer NOT NULL DEFAULT 0,
    audit_hash        text NOT NULL DEFAULT repeat('0', 64),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    acked_at          timestamptz,
    first_response_at timestamptz,
    resolved_at       timestamptz,
    closed_at         timestamptz,
    canceled_at       timestamptz,
    search_vector     tsvector GENERATED ALWAYS AS (
                          setweight(to_tsvector('english'::regconfig, title), 'A')
                          || setweight(to_tsvector('english'::regconfig, description), 'B')
                      ) STORED,
    CONSTRAINT platform_only_without_tenant CHECK (tenant_id IS NOT NULL OR visibility = 'platform_only')
);

CREATE INDEX ticket_tenant_id_idx ON ticket (tenant_id, id DESC);
CREATE INDEX ticket_tenant_state_idx ON ticket (tenant_id, state, id DESC);
CREATE INDEX ticket_search_idx ON ticket USING gin (search_vector);
CREATE INDEX ticket_tags_idx ON ticket USING gin (tags);
CREATE INDEX ticket_assignee_idx ON ticket (assignee, id DESC) WHERE assignee IS NOT NULL;

-- The audit trail: append-only, hash-chained per ticket (hash = sha256(prev_hash || canonical row)).
CREATE TABLE ticket_event (
    ticket_id      uuid NOT NULL REFERENCES ticket (id),
    seq            integer NOT NULL CHECK (seq >= 1),
    type           text NOT NULL,
    actor          text NOT NULL,
    at             timestamptz NOT NULL,
    changes        jsonb NOT NULL DEFAULT '{}',
    visibility     text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'internal')),
    correlation_id text,
    prev_hash      text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash           text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    PRIMARY KEY (ticket_id, seq)
);

CREATE FUNCTION ticket_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'ticket_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER ticket_event_no_update_delete
    BEFORE UPDATE OR DELETE ON ticket_event
    FOR EACH ROW EXECUTE FUNCTION ticket_event_refuse_change();

CREATE TRIGGER ticket_event_no_truncate
    BEFORE TRUNCATE ON ticket_event
    FOR EACH STATEMENT EXECUTE FUNCTION ticket_event_refuse_change();

CREATE TABLE ticket_comment (
    id         uuid PRIMARY KEY,
    ticket_id  uuid NOT NULL REFERENCES ticket (id),
    author     text NOT NULL,
    body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    visibility text NOT NULL CHECK (visibility IN ('public', 'internal')),
    created_at timestamptz NOT NULL
);

CREATE INDEX ticket_comment_ticket_idx ON ticket_comment (ticket_id, id);

-- Idempotency keys, per principal; kept at least 24 h (expires_at), purged by the relay.
CREATE TABLE idempotency_key (
    principal     text NOT NULL,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash  text NOT NULL,
    status_code   integer,
    response_body jsonb,
    headers       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (principal, key)
);

CREATE INDEX idempotency_key_expires_idx ON idempotency_key (expires_at);

-- The transactional outbox: written with the change, published to EventBridge after commit
-- and again by the relay for anything left behind.
CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    detail_type  text NOT NULL,
    tenant_id    text,
    ticket_id    uuid,
    detail       jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);

CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL;

-- Row-level security: the second wall behind every query's own tenant filter.
ALTER TABLE ticket ENABLE ROW LEVEL SECURITY;
ALTER TABLE ticket_event ENABLE ROW LEVEL SECURITY;
ALTER TABLE ticket_comment ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_key ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;

-- A tenant sees its own tickets unless they are platform-only; platform roles see all.
CREATE POLICY ticket_scope ON ticket
    USING (app_is_platform() OR (tenant_id = app_tenant() AND visibility <> 'platform_only'))
    WITH CHECK (app_is_platform() OR (tenant_id = app_tenant() AND visibility <> 'platform_only'));

-- Events and comments follow their ticket (the ticket policy applies inside the subquery);
-- internal ones are for platform roles only.
CREATE POLICY ticket_event_scope ON ticket_event
    USING (app_is_platform()
           OR (visibility = 'public' AND EXISTS (SELECT 1 FROM ticket t WHERE t.id = ticket_id)))
    WITH CHECK (app_is_platform() OR EXISTS (SELECT 1 FROM ticket t WHERE t.id = ticket_id));

CREATE POLICY ticket_comment_scope ON ticket_comment
    USING (app_is_platform()
           OR (visibility = 'public' AND EXISTS (SELECT 1 FROM ticket t WHERE t.id = ticket_id)))
    WITH CHECK (app_is_platform()
           OR (visibility = 'public' AND EXISTS (SELECT 1 FROM ticket t WHERE t.id = ticket_id)));

CREATE POLICY idempotency_key_scope ON idempotency_key
    USING (principal = app_principal() OR app_is_system())
    WITH CHECK (principal = app_principal());

-- Anyone in a transaction may append to the outbox; only the service itself reads and marks it.
CREATE POLICY outbox_append ON outbox FOR INSERT WITH CHECK (true);
CREATE POLICY outbox_system_read ON outbox FOR SELECT USING (app_is_system());
CREATE POLICY outbox_system_mark ON outbox FOR UPDATE USING (app_is_system()) WITH CHECK (app_is_system());
CREATE POLICY outbox_system_purge ON outbox FOR DELETE USING (app_is_system());

GRANT USAGE ON SCHEMA public TO ticketing_app;
GRANT SELECT, INSERT, UPDATE ON ticket TO ticketing_app;
GRANT SELECT, INSERT ON ticket_event TO ticketing_app;
GRANT SELECT, INSERT ON ticket_comment TO ticketing_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_key TO ticketing_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox TO ticketing_app;
GRANT USAGE ON SEQUENCE ticket_key_seq TO ticketing_app;
GRANT EXECUTE ON FUNCTION app_tenant(), app_is_platform(), app_is_system(), app_principal() TO ticketing_app;
