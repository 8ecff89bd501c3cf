-- The configuration audit log (issue 10): every change to an integration, a routing rule and,
-- later, SLA policies and webhook endpoints, with who, when, and the entity before and after.
-- Append-only like ticket_event: the database itself refuses UPDATE, DELETE and TRUNCATE.
-- Secrets (routing keys, signing secrets) are never written here, only their presence.
CREATE TABLE config_change (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    tenant_id   text,                           -- the tenant the entity belongs to; NULL: platform
    entity_type text NOT NULL CHECK (entity_type ~ '^[a-z_]{1,64}$'),
    entity_id   text NOT NULL,
    action      text NOT NULL CHECK (action ~ '^[a-z_]{1,64}$'),
    before      jsonb,
    after       jsonb,
    correlation_id text
);

CREATE INDEX config_change_entity_idx ON config_change (entity_type, entity_id, id);
CREATE INDEX config_change_at_idx ON config_change (at);

CREATE TRIGGER config_change_no_update_delete
    BEFORE UPDATE OR DELETE ON config_change
    FOR EACH ROW EXECUTE FUNCTION ticket_event_refuse_change();

CREATE TRIGGER config_change_no_truncate
    BEFORE TRUNCATE ON config_change
    FOR EACH STATEMENT EXECUTE FUNCTION ticket_event_refuse_change();

-- Platform roles (and the service) see and write every change; a tenant role (a tenant admin
-- managing its own integrations) only its own tenant's.
ALTER TABLE config_change ENABLE ROW LEVEL SECURITY;
CREATE POLICY config_change_scope ON config_change
    USING (app_is_platform() OR app_is_system() OR tenant_id = app_tenant())
    WITH CHECK (app_is_platform() OR app_is_system() OR tenant_id = app_tenant());
GRANT SELECT, INSERT ON config_change TO ticketing_app;
