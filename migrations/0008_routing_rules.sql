-- Routing rules (issue 10 §5): ordered rules that set a new ticket's queue, assignee, priority,
-- visibility, tags and SLA policy, applied in the transaction that creates the ticket.

-- The SLA policy a rule chose for a ticket (the SLA engine reads it). NULL: none chosen.
ALTER TABLE ticket ADD COLUMN sla_policy text;
-- New column, all NULL: NOT VALID only spares the scan of every existing row under the lock.
ALTER TABLE ticket ADD CONSTRAINT ticket_sla_policy_format
    CHECK (sla_policy ~ '^[A-Za-z0-9_.:-]{1,64}$') NOT VALID;

CREATE TABLE routing_rule (
    id          uuid PRIMARY KEY,                        -- UUIDv7
    position    integer NOT NULL CHECK (position BETWEEN 1 AND 1000000),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    enabled     boolean NOT NULL DEFAULT true,
    conditions  jsonb NOT NULL CHECK (jsonb_typeof(conditions) = 'object'),
    actions     jsonb NOT NULL CHECK (jsonb_typeof(actions) = 'object'),
    "continue"  boolean NOT NULL DEFAULT false,          -- after applying, go on matching
    version     integer NOT NULL DEFAULT 1,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL,
    -- Deleting marks the rule: tickets' audit events and config_change name it by id.
    deleted_by  text,
    deleted_at  timestamptz,
    CHECK ((deleted_at IS NULL) = (deleted_by IS NULL))
);

-- Rules are tried in position order; two live rules never share a position.
CREATE UNIQUE INDEX routing_rule_position_idx ON routing_rule (position) WHERE deleted_at IS NULL;

-- The version of the whole rule set, moved by every change of routing_rule (the trigger below):
-- a function that compiled the rules keeps them while this number stays the same. One row.
CREATE TABLE routing_rule_set (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL DEFAULT 0
);
INSERT INTO routing_rule_set (singleton, version) VALUES (true, 0);

-- SECURITY DEFINER: the app role may read the version but not write it; only a change of the
-- rules (which RLS allows platform scopes alone) moves it.
CREATE FUNCTION routing_rule_set_bump() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS
$$
BEGIN
    UPDATE public.routing_rule_set SET version = version + 1;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION routing_rule_set_bump() FROM PUBLIC;

CREATE TRIGGER routing_rule_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing_rule
    FOR EACH STATEMENT EXECUTE FUNCTION routing_rule_set_bump();

-- Every scoped transaction reads the rules (a tenant's new ticket is routed in the tenant's own
-- transaction); only platform scopes write them (the API allows platform admins alone). A
-- transaction without a scope sees nothing, as everywhere else.
ALTER TABLE routing_rule ENABLE ROW LEVEL SECURITY;
CREATE POLICY routing_rule_read ON routing_rule FOR SELECT
    USING (app_is_platform() OR app_tenant() IS NOT NULL);
CREATE POLICY routing_rule_insert ON routing_rule FOR INSERT
    WITH CHECK (app_is_platform());
CREATE POLICY routing_rule_update ON routing_rule FOR UPDATE
    USING (app_is_platform()) WITH CHECK (app_is_platform());

ALTER TABLE routing_rule_set ENABLE ROW LEVEL SECURITY;
CREATE POLICY routing_rule_set_read ON routing_rule_set FOR SELECT
    USING (app_is_platform() OR app_tenant() IS NOT NULL);

-- No DELETE grant: deleting a rule marks it.
GRANT SELECT, INSERT, UPDATE ON routing_rule TO ticketing_app;
GRANT SELECT ON routing_rule_set TO ticketing_app;
