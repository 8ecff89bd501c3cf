-- A replayed idempotent request answers the first response's exact bytes. jsonb keeps neither
-- key order nor spacing, so the stored body becomes the JSON text as it was sent.
ALTER TABLE idempotency_key ALTER COLUMN response_body TYPE text USING response_body::text;
