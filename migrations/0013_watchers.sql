-- E-mail notifications (issue 12 §6): who watches a ticket, and each person's notification
-- preferences (their address, and the e-mails they do not want). The notify worker reads both as
-- the service (Principal.system): shared.notify.watchers.for_ticket, preferences.for_subjects.

-- A watcher: a person who gets the ticket's e-mails. audience: tenant (a tenant person: only ever
-- e-mailed public content) or platform. tenant_id is the ticket's (NULL for a ticket without a
-- tenant), copied for row-level security; a tenant watcher needs a ticket with a tenant.
CREATE TABLE ticket_watcher (
    ticket_id  uuid NOT NULL REFERENCES ticket (id) ON DELETE CASCADE,
    subject    text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    tenant_id  text,
    audience   text NOT NULL CHECK (audience IN ('tenant', 'platform')),
    email      text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    added_by   text NOT NULL,
    added_at   timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, subject),
    CONSTRAINT ticket_watcher_tenant_audience CHECK (audience = 'platform' OR tenant_id IS NOT NULL)
);

-- One person's preferences. owner_key is the person's principal scope key (shared.auth.principal:
-- a digest of tenant or none, subject, and the platform flag, which a token's principal has exactly
-- when it has no tenant), the very value every transaction carries as app.principal: so row-level
-- security can tell a person's own row without a subject setting, and the worker finds anyone's
-- from (tenant, subject). tenant_id and subject say whose it is in plain text.
CREATE TABLE notification_preference (
    owner_key   text PRIMARY KEY CHECK (owner_key ~ '^[0-9a-f]{64}$'),
    tenant_id   text,
    subject     text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    email       text CHECK (length(email) BETWEEN 3 AND 254),
    opt_out     text[] NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL
);

ALTER TABLE ticket_watcher ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_preference ENABLE ROW LEVEL SECURITY;

-- Watchers: platform roles (and the service) all; a tenant's transaction the watchers of its own
-- tickets that it may see (the ticket policy applies inside the subquery: not platform-only), and
-- it writes tenant watchers only (the service lets a tenant person add, change and remove only
-- their own watch).
CREATE POLICY ticket_watcher_scope ON ticket_watcher
    USING (app_is_system() OR app_is_platform()
           OR (tenant_id = app_tenant() AND EXISTS (SELECT 1 FROM ticket t WHERE t.id = ticket_id)))
    WITH CHECK (app_is_system() OR app_is_platform()
           OR (audience = 'tenant' AND tenant_id = app_tenant()
               AND EXISTS (SELECT 1 FROM ticket t WHERE t.id = ticket_id)));

-- Preferences: each person their own (and under their own tenant); the service everyone's.
CREATE POLICY notification_preference_owner ON notification_preference
    USING (app_is_system()
           OR (owner_key = app_principal() AND tenant_id IS NOT DISTINCT FROM app_tenant()))
    WITH CHECK (app_is_system()
           OR (owner_key = app_principal() AND tenant_id IS NOT DISTINCT FROM app_tenant()));

GRANT SELECT, INSERT, UPDATE, DELETE ON ticket_watcher TO ticketing_app;
GRANT SELECT, INSERT, UPDATE ON notification_preference TO ticketing_app;
