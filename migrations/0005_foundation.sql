-- Foundation for the event-driven half (issue 9): a generic outbox (any aggregate, any
-- destination: the ticket bus or a worker's queue) and the inbound-message log that makes each
-- queue record's effect happen once.

-- The outbox held ticket events only. An event now names its aggregate (ticket, integration,
-- webhook endpoint, SLA clock...), who may see it (public: may reach the ticket's tenant;
-- internal: platform only) and where it goes: "bus" (EventBridge) or "queue:<worker>" (SQS).
ALTER TABLE outbox ADD COLUMN aggregate_type text;
ALTER TABLE outbox ADD COLUMN aggregate_id text;
UPDATE outbox SET aggregate_type = 'ticket', aggregate_id = ticket_id::text WHERE ticket_id IS NOT NULL;
UPDATE outbox SET aggregate_type = 'unknown', aggregate_id = event_id::text WHERE ticket_id IS NULL;
ALTER TABLE outbox ALTER COLUMN aggregate_type SET NOT NULL;
ALTER TABLE outbox ALTER COLUMN aggregate_id SET NOT NULL;
ALTER TABLE outbox DROP COLUMN ticket_id;
ALTER TABLE outbox ADD COLUMN visibility text NOT NULL DEFAULT 'public'
    CHECK (visibility IN ('public', 'internal'));
ALTER TABLE outbox ADD COLUMN destination text NOT NULL DEFAULT 'bus'
    CHECK (destination = 'bus' OR destination ~ '^queue:[a-z0-9_]+$');
UPDATE outbox SET visibility = 'internal' WHERE detail ->> 'event_visibility' = 'internal'
                                             OR detail ->> 'visibility' = 'platform_only';
CREATE INDEX outbox_aggregate_idx ON outbox (aggregate_type, aggregate_id);

-- Each queue record a worker handled (or refused as never processable), by its source and
-- message id: a redelivered message finds its row and has no second effect. Refused records keep
-- their reason and body for the operator (runbook: dead letters and refused records).
CREATE TABLE inbound_message (
    source      text NOT NULL,
    message_id  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    status      text NOT NULL CHECK (status IN ('processed', 'refused')),
    reason      text,
    body        text,
    PRIMARY KEY (source, message_id),
    CHECK ((status = 'refused') = (reason IS NOT NULL))
);

CREATE INDEX inbound_message_received_idx ON inbound_message (received_at);
CREATE INDEX inbound_message_refused_idx ON inbound_message (received_at) WHERE status = 'refused';

-- Only the service itself (workers run as Principal.system) reads and writes the log.
ALTER TABLE inbound_message ENABLE ROW LEVEL SECURITY;
CREATE POLICY inbound_message_system ON inbound_message
    USING (app_is_system()) WITH CHECK (app_is_system());
GRANT SELECT, INSERT, DELETE ON inbound_message TO ticketing_app;
