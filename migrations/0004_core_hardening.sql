-- Core hardening (issue 8): a public ordering of each ticket's audit trail without gaps, the time
-- of the last public change apart from internal activity, tenant ids in one documented pattern,
-- and outbox rows that cannot be published are parked instead of blocking the relay.

-- Tenants see a ticket's public events only. Numbering them by the audit seq showed gaps where
-- the internal events are; public_seq numbers the public events 1, 2, 3... per ticket (NULL for
-- internal ones). It is not part of the hash chain, which stays exactly as it was.
ALTER TABLE ticket ADD COLUMN audit_public_seq integer NOT NULL DEFAULT 0;
ALTER TABLE ticket_event ADD COLUMN public_seq integer CHECK (public_seq >= 1);
ALTER TABLE ticket_event ADD CONSTRAINT ticket_event_public_seq_matches_visibility
    CHECK ((visibility = 'public') = (public_seq IS NOT NULL)) NOT VALID;

-- The trail is append-only (for the owner too); the backfill of the new column is the one
-- sanctioned exception, inside this migration's transaction.
ALTER TABLE ticket_event DISABLE TRIGGER ticket_event_no_update_delete;
UPDATE ticket_event e SET public_seq = n.public_seq
FROM (SELECT ticket_id, seq, row_number() OVER (PARTITION BY ticket_id ORDER BY seq) AS public_seq
      FROM ticket_event WHERE visibility = 'public') n
WHERE e.ticket_id = n.ticket_id AND e.seq = n.seq;
ALTER TABLE ticket_event ENABLE TRIGGER ticket_event_no_update_delete;
ALTER TABLE ticket_event VALIDATE CONSTRAINT ticket_event_public_seq_matches_visibility;

UPDATE ticket t SET audit_public_seq = coalesce(
    (SELECT max(public_seq) FROM ticket_event e WHERE e.ticket_id = t.id), 0);

CREATE UNIQUE INDEX ticket_event_public_seq_idx ON ticket_event (ticket_id, public_seq)
    WHERE public_seq IS NOT NULL;

-- updated_at moves with every change, internal ones included (audit_verify finds changed
-- tickets by it); tenants are shown public_updated_at, the time of the last public change
-- (NULL: none since the ticket was created, so its created_at).
ALTER TABLE ticket ADD COLUMN public_updated_at timestamptz;
UPDATE ticket t SET public_updated_at =
    (SELECT max(at) FROM ticket_event e WHERE e.ticket_id = t.id AND e.visibility = 'public');

-- Tenant ids: lowercase letters, digits and "-_.", starting with a letter or digit, at most 63
-- characters (shared/auth.py TENANT_ID_PATTERN). NOT VALID: enforced on every new or changed
-- row, without failing a deploy over rows written before the rule existed.
ALTER TABLE ticket ADD CONSTRAINT ticket_tenant_id_format
    CHECK (tenant_id ~ '^[a-z0-9][a-z0-9._-]{0,62}$') NOT VALID;

-- An outbox row that cannot be published (EventBridge refuses it, e.g. too large) is parked
-- with its reason after a few attempts; the relay skips parked rows, so one poison event never
-- blocks the rows behind it. Parked rows are counted (OutboxParked) and alarmed.
ALTER TABLE outbox ADD COLUMN parked_at timestamptz;
DROP INDEX outbox_pending_idx;
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked_idx ON outbox (id) WHERE parked_at IS NOT NULL;
