-- Integrations (issue 10 §3): a routing key per integration for the PagerDuty Events API v2
-- compatible POST /v2/enqueue, managed by platform admins and by tenant admins for their own
-- tenant; and the per-minute counter that rate-limits each key.

-- The transaction's roles (comma-separated, set by shared.db.transaction as app.roles), for the
-- policies that tell roles apart: who may read integrations is not who may change them. Unset
-- means no role, so no such policy lets a row through.
CREATE FUNCTION app_has_role(wanted text) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT wanted = ANY (string_to_array(coalesce(current_setting('app.roles', true), ''), ',')) $$;

GRANT EXECUTE ON FUNCTION app_has_role(text) TO ticketing_app;

-- One integration: whose events it opens tickets for (a tenant, or NULL: platform-wide), the
-- defaults of those tickets, and its routing key. The key itself is never stored: key_hash is
-- the hex SHA-256 of it (keys are 128 random bits, so a plain digest cannot be reversed by
-- guessing), key_hint its last four characters so that people can tell keys apart. Revoking
-- keeps the row (the audit log and the tickets name it); rotating replaces the hash.
CREATE TABLE integration (
    id                    uuid PRIMARY KEY,                  -- UUIDv7: time-ordered
    tenant_id             text CONSTRAINT integration_tenant_id_format
                              CHECK (tenant_id ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    category              text CHECK (category IN (
                              'health', 'pipeline_failure', 'data_freshness', 'schema_drift',
                              'security_finding', 'cost_anomaly')),
    queue                 text CHECK (length(queue) BETWEEN 1 AND 200),
    tags                  text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 50),
    -- NULL: the service's setting (ENQUEUE_RATE_LIMIT_PER_MINUTE, 120 unless set).
    rate_limit_per_minute integer CHECK (rate_limit_per_minute BETWEEN 1 AND 100000),
    key_hash              text NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    key_hint              text NOT NULL CHECK (key_hint ~ '^[A-Za-z0-9]{4}$'),
    created_at            timestamptz NOT NULL,
    created_by            text NOT NULL,
    rotated_at            timestamptz,
    rotated_by            text,
    revoked_at            timestamptz,
    revoked_by            text,
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)),
    CHECK ((rotated_at IS NULL) = (rotated_by IS NULL))
);

-- POST /v2/enqueue finds its integration by the key's hash.
CREATE UNIQUE INDEX integration_key_hash_idx ON integration (key_hash);
CREATE INDEX integration_tenant_idx ON integration (tenant_id, id DESC);

-- Calls per integration per minute (fixed windows): POST /v2/enqueue upserts the current
-- window's row and reads its count back; when a new window starts it deletes the integration's
-- older rows, so each integration keeps about one row.
CREATE TABLE integration_rate (
    integration_id uuid NOT NULL REFERENCES integration (id),
    window_start   timestamptz NOT NULL,
    count          integer NOT NULL CHECK (count >= 1),
    PRIMARY KEY (integration_id, window_start)
);

-- Platform admins and operators read every integration, tenant admins their tenant's; platform
-- admins change any, tenant admins their tenant's (tenant users, the service role: nothing). The
-- service itself (POST /v2/enqueue, as Principal.system) reads, to check a key, and never writes.
ALTER TABLE integration ENABLE ROW LEVEL SECURITY;
CREATE POLICY integration_read ON integration FOR SELECT
    USING (app_is_system() OR app_has_role('platform_admin') OR app_has_role('platform_operator')
           OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')));
CREATE POLICY integration_create ON integration FOR INSERT
    WITH CHECK (app_has_role('platform_admin') OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')));
CREATE POLICY integration_change ON integration FOR UPDATE
    USING (app_has_role('platform_admin') OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')))
    WITH CHECK (app_has_role('platform_admin') OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')));
GRANT SELECT, INSERT, UPDATE ON integration TO ticketing_app;

-- Only the service itself counts calls.
ALTER TABLE integration_rate ENABLE ROW LEVEL SECURITY;
CREATE POLICY integration_rate_system ON integration_rate
    USING (app_is_system()) WITH CHECK (app_is_system());
GRANT SELECT, INSERT, UPDATE, DELETE ON integration_rate TO ticketing_app;
