-- Outbound webhooks (issue 12 §1): the endpoints tenants and the platform register, with their
-- signing secrets and their state. Deliveries and their attempts come with the dispatcher.

-- One endpoint: where to (url), what (event_types, '*' for every type), and whose tickets: a
-- tenant's, or every tenant's (tenant_id NULL, platform admins only).
--
-- The signing secret must be readable by the dispatcher to sign (an HMAC key cannot be kept as a
-- digest): it is stored as issued (`whsec_` + base64), readable under row-level security only,
-- and shown to clients once, when it is made (create, rotate-secret); reads show `secret_hint`.
-- After a rotation the previous secret signs too, until previous_secret_expires_at (24 hours).
--
-- state: enabled; paused (by its owner: deliveries wait); quarantined (by an operator, with a
-- reason shown to the owner: deliveries wait); disabled (by the service: 410 Gone, or every
-- attempt failing for 5 days). `resume` by the owner makes any of them enabled again.
CREATE TABLE webhook_endpoint (
    id                          uuid PRIMARY KEY,                  -- UUIDv7: time-ordered
    tenant_id                   text CONSTRAINT webhook_endpoint_tenant_id_format
                                    CHECK (tenant_id ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    url                         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    description                 text CHECK (length(description) <= 500),
    event_types                 text[] NOT NULL
                                    CHECK (cardinality(event_types) BETWEEN 1 AND 50),
    state                       text NOT NULL DEFAULT 'enabled'
                                    CHECK (state IN ('enabled', 'paused', 'quarantined', 'disabled')),
    state_reason                text CHECK (length(state_reason) <= 500),
    state_changed_at            timestamptz,
    state_changed_by            text,
    secret                      text NOT NULL CHECK (secret ~ '^whsec_[A-Za-z0-9+/]+={0,2}$'),
    secret_hint                 text NOT NULL CHECK (length(secret_hint) = 4),
    previous_secret             text CHECK (previous_secret ~ '^whsec_[A-Za-z0-9+/]+={0,2}$'),
    previous_secret_expires_at  timestamptz,
    -- The first failed attempt of the current run of failures (none: the last attempt succeeded).
    failing_since               timestamptz,
    version                     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at                  timestamptz NOT NULL,
    created_by                  text NOT NULL,
    updated_at                  timestamptz NOT NULL,
    updated_by                  text NOT NULL,
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL)),
    -- A quarantine or a disabling always says why; enabled has nothing to say.
    CHECK (CASE state WHEN 'enabled' THEN state_reason IS NULL
                      WHEN 'paused' THEN TRUE
                      ELSE state_reason IS NOT NULL END)
);

CREATE INDEX webhook_endpoint_tenant_idx ON webhook_endpoint (tenant_id, id DESC);

-- Platform admins and operators read every endpoint, tenant admins their tenant's; platform
-- admins change any, tenant admins their tenant's; operators change only an endpoint's state
-- (quarantine), which the service checks (a policy cannot name columns). The service itself
-- (the dispatcher, as Principal.system) reads every endpoint and records their health.
ALTER TABLE webhook_endpoint ENABLE ROW LEVEL SECURITY;
CREATE POLICY webhook_endpoint_read ON webhook_endpoint FOR SELECT
    USING (app_is_system() OR app_has_role('platform_admin') OR app_has_role('platform_operator')
           OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')));
CREATE POLICY webhook_endpoint_create ON webhook_endpoint FOR INSERT
    WITH CHECK (app_has_role('platform_admin') OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')));
CREATE POLICY webhook_endpoint_change ON webhook_endpoint FOR UPDATE
    USING (app_is_system() OR app_has_role('platform_admin') OR app_has_role('platform_operator')
           OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')))
    WITH CHECK (app_is_system() OR app_has_role('platform_admin') OR app_has_role('platform_operator')
                OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')));
CREATE POLICY webhook_endpoint_delete ON webhook_endpoint FOR DELETE
    USING (app_has_role('platform_admin') OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')));
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoint TO ticketing_app;
