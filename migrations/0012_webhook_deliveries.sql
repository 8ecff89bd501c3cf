-- Outbound webhooks (issue 12 §2-§4): one delivery per (endpoint, event, event type), its attempts,
-- the per-endpoint concurrency leases of the dispatcher, and replay jobs.

-- A delivery is one message to one endpoint. Its body is rendered once, when the event is fanned
-- out (the ticket as the endpoint's owner may see it), and sent byte for byte on every attempt,
-- retry and replay, under the same msg_id (the Standard Webhooks `webhook-id`).
--
-- status: pending (an attempt is due at next_attempt_at; or, with next_attempt_at NULL, it waits
-- for its endpoint to be enabled again: paused, quarantined or disabled), succeeded, failed (the
-- retry schedule is exhausted: the message went to the webhook DLQ).
-- generation: bumped whenever the delivery is rescheduled (a retry, a manual retry, a replay, a
-- resume); a queue message for an older generation finds nothing to do (as SLA timers).
-- round_attempts: attempts since the schedule last started over (a manual retry, a replay, a
-- re-drive from the DLQ start it over); attempts: every attempt ever made.
CREATE TABLE webhook_delivery (
    id               uuid PRIMARY KEY,                   -- UUIDv7: time-ordered (the log's order)
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoint (id) ON DELETE CASCADE,
    tenant_id        text,                               -- the endpoint's tenant (row-level security)
    msg_id           text NOT NULL UNIQUE CHECK (msg_id ~ '^msg_[0-9a-f]{32}$'),
    event_id         uuid,                               -- the outbox event (none for webhook.test)
    event_type       text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 64),
    ticket_id        uuid,
    body             text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    round_attempts   integer NOT NULL DEFAULT 0 CHECK (round_attempts >= 0),
    generation       integer NOT NULL DEFAULT 1 CHECK (generation >= 1),
    next_attempt_at  timestamptz,
    -- What the next attempt is for (the attempt log shows it).
    next_trigger     text NOT NULL DEFAULT 'scheduled'
                         CHECK (next_trigger IN ('scheduled', 'retry', 'replay', 'redrive', 'resume')),
    enqueued_at      timestamptz,                        -- when a queue message was last sent for it
    last_attempt_at  timestamptz,
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK (status = 'pending' OR next_attempt_at IS NULL)
);

-- One delivery per endpoint, event and type: a fan-out that runs twice (SQS redelivers, the relay
-- and the post-commit publish both send) adds nothing.
CREATE UNIQUE INDEX webhook_delivery_event_key ON webhook_delivery (endpoint_id, event_id, event_type)
    WHERE event_id IS NOT NULL;
CREATE INDEX webhook_delivery_endpoint_idx ON webhook_delivery (endpoint_id, id DESC);
CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (next_attempt_at)
    WHERE status = 'pending' AND next_attempt_at IS NOT NULL;
CREATE INDEX webhook_delivery_waiting_idx ON webhook_delivery (endpoint_id)
    WHERE status = 'pending' AND next_attempt_at IS NULL;
CREATE INDEX webhook_delivery_created_idx ON webhook_delivery (created_at);

-- Every attempt: when, what came back (status, latency, the first 1 KB of the body) or why nothing
-- did (error). Kept as long as its delivery (30 days).
CREATE TABLE webhook_attempt (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id   uuid NOT NULL REFERENCES webhook_delivery (id) ON DELETE CASCADE,
    endpoint_id   uuid NOT NULL,
    tenant_id     text,
    attempted_at  timestamptz NOT NULL,
    trigger       text NOT NULL CHECK (trigger IN ('scheduled', 'retry', 'replay', 'redrive', 'resume')),
    outcome       text NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'throttled', 'gone', 'refused')),
    status        integer CHECK (status BETWEEN 100 AND 599),
    latency_ms    integer CHECK (latency_ms >= 0),
    response_body text CHECK (length(response_body) <= 1024),
    error         text CHECK (length(error) <= 1000)
);

CREATE INDEX webhook_attempt_delivery_idx ON webhook_attempt (delivery_id, id);

-- The dispatcher's per-endpoint concurrency: an attempt holds a lease on its endpoint while its
-- request is in flight; at most WEBHOOK_MAX_IN_FLIGHT leases per endpoint. A lease expires by
-- itself (a worker that died mid-request cannot hold a slot for ever).
CREATE TABLE webhook_lease (
    delivery_id  uuid PRIMARY KEY,
    endpoint_id  uuid NOT NULL,
    expires_at   timestamptz NOT NULL
);

CREATE INDEX webhook_lease_endpoint_idx ON webhook_lease (endpoint_id, expires_at);

-- A replay job: re-send an endpoint's deliveries of [since, until) (optionally only those of one
-- status), with their own msg_ids, in the background; its progress is read with GET.
CREATE TABLE webhook_replay (
    id            uuid PRIMARY KEY,
    endpoint_id   uuid NOT NULL REFERENCES webhook_endpoint (id) ON DELETE CASCADE,
    tenant_id     text,
    since         timestamptz NOT NULL,
    until         timestamptz NOT NULL,
    status_filter text CHECK (status_filter IN ('pending', 'succeeded', 'failed')),
    state         text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'completed')),
    total         integer NOT NULL CHECK (total >= 0),
    replayed      integer NOT NULL DEFAULT 0 CHECK (replayed >= 0),
    cursor        uuid,                                   -- the last delivery replayed (keyset)
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL,
    started_at    timestamptz,
    completed_at  timestamptz,
    CHECK (since < until)
);

CREATE INDEX webhook_replay_endpoint_idx ON webhook_replay (endpoint_id, id DESC);

-- Who sees and does what: as the endpoints (migration 0011). Platform admins and operators read
-- every delivery and replay, tenant admins their tenant's; they (and the service) retry, replay
-- and test; only the service records attempts and holds leases.
ALTER TABLE webhook_delivery ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempt ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_lease ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_replay ENABLE ROW LEVEL SECURITY;

CREATE POLICY webhook_delivery_scope ON webhook_delivery
    USING (app_is_system() OR app_has_role('platform_admin') OR app_has_role('platform_operator')
           OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')))
    WITH CHECK (app_is_system() OR app_has_role('platform_admin') OR app_has_role('platform_operator')
                OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')));
CREATE POLICY webhook_attempt_read ON webhook_attempt FOR SELECT
    USING (app_is_system() OR app_has_role('platform_admin') OR app_has_role('platform_operator')
           OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')));
CREATE POLICY webhook_attempt_write ON webhook_attempt FOR INSERT WITH CHECK (app_is_system());
CREATE POLICY webhook_lease_system ON webhook_lease USING (app_is_system()) WITH CHECK (app_is_system());
CREATE POLICY webhook_replay_scope ON webhook_replay
    USING (app_is_system() OR app_has_role('platform_admin') OR app_has_role('platform_operator')
           OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')))
    WITH CHECK (app_is_system() OR app_has_role('platform_admin') OR app_has_role('platform_operator')
                OR (tenant_id = app_tenant() AND app_has_role('tenant_admin')));

GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_delivery TO ticketing_app;
GRANT SELECT, INSERT, DELETE ON webhook_attempt TO ticketing_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_lease TO ticketing_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_replay TO ticketing_app;
