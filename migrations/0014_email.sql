-- E-mail notifications (issue 12 §6): every message sent (or held back) to a person about a
-- ticket, with the Message-ID SES actually used, for the e-mail intake to thread replies; and the
-- addresses SES reported as bouncing or complaining, which are never written to again.

-- One row per (event, address), about a ticket (or, to its owner, a webhook endpoint the service
-- disabled): a repeat of the event (at-least-once delivery) sends nothing
-- twice. reply_token is the per-message part of the reply address (reply+<token>@<reply domain>):
-- unguessable, it leads the e-mail intake back to the ticket and the person it was sent to.
-- status: sent; suppressed (the address bounced or complained); failed (SES refused it).
CREATE TABLE email_message (
    id                 uuid PRIMARY KEY,                 -- UUIDv7: time-ordered
    event_id           uuid NOT NULL,
    event_type         text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 64),
    ticket_id          uuid REFERENCES ticket (id) ON DELETE CASCADE,
    webhook_id         uuid,                             -- a disabled endpoint's, to its owner
    tenant_id          text,                             -- the ticket's or endpoint's
    recipient          text NOT NULL CHECK (length(recipient) BETWEEN 3 AND 254),
    recipient_subject  text,                             -- the person, when known (their sub)
    audience           text NOT NULL CHECK (audience IN ('tenant', 'platform')),
    reason             text NOT NULL CHECK (reason IN ('requester', 'assignee', 'watcher', 'escalation', 'owner')),
    reply_token        text NOT NULL UNIQUE CHECK (reply_token ~ '^[A-Za-z0-9_-]{16,64}$'),
    ses_message_id     text,
    message_id_header  text,                             -- <id@region.amazonses.com>, as SES sent it
    status             text NOT NULL CHECK (status IN ('sent', 'suppressed', 'failed')),
    error              text CHECK (length(error) <= 1000),
    sent_at            timestamptz NOT NULL,
    UNIQUE (event_id, recipient),
    CHECK (ticket_id IS NOT NULL OR webhook_id IS NOT NULL)
);

CREATE INDEX email_message_ticket_idx ON email_message (ticket_id, id);
CREATE INDEX email_message_sent_idx ON email_message (sent_at, id);
CREATE INDEX email_message_header_idx ON email_message (message_id_header) WHERE message_id_header IS NOT NULL;

-- Addresses SES reported: a permanent bounce or a complaint. Nothing more is sent to them.
CREATE TABLE email_suppression (
    address     text PRIMARY KEY CHECK (length(address) BETWEEN 3 AND 254),  -- lowercased
    reason      text NOT NULL CHECK (reason IN ('bounce', 'complaint')),
    detail      text CHECK (length(detail) <= 1000),
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    reports     integer NOT NULL DEFAULT 1 CHECK (reports >= 1)
);

-- The service writes both (the notify and feedback workers, as Principal.system); platform roles
-- read them (operators: who was told what, and why an address gets nothing).
ALTER TABLE email_message ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_suppression ENABLE ROW LEVEL SECURITY;
CREATE POLICY email_message_read ON email_message FOR SELECT USING (app_is_system() OR app_is_platform());
CREATE POLICY email_message_write ON email_message FOR INSERT WITH CHECK (app_is_system());
CREATE POLICY email_message_update ON email_message FOR UPDATE USING (app_is_system()) WITH CHECK (app_is_system());
CREATE POLICY email_suppression_read ON email_suppression FOR SELECT USING (app_is_system() OR app_is_platform());
CREATE POLICY email_suppression_write ON email_suppression FOR INSERT WITH CHECK (app_is_system());
CREATE POLICY email_suppression_update ON email_suppression FOR UPDATE
    USING (app_is_system()) WITH CHECK (app_is_system());
GRANT SELECT, INSERT, UPDATE ON email_message TO ticketing_app;
GRANT SELECT, INSERT, UPDATE ON email_suppression TO ticketing_app;
