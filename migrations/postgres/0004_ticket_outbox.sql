-- Ticket integration, PostgreSQL flavour. Keep in step with
-- migrations/sqlite/0004_ticket_outbox.sql.

-- 1 when hotline carries the call's audio: its recording and media
-- statistics are attached after the record ends, and call.ended waits for
-- them. Rows written before this migration: 0.
ALTER TABLE calls ADD COLUMN anchored INTEGER NOT NULL DEFAULT 0;
-- The ticket (工单) this call belongs to, as the ticket system names it:
-- from its answer to call.ended, or set later through the API. One ticket,
-- many calls (first call, callbacks, transfers).
ALTER TABLE calls ADD COLUMN ticket_id TEXT;
CREATE INDEX calls_ticket_id ON calls (ticket_id);

-- The transactional outbox: events for the ticket system, inserted in the
-- transaction that makes the change they describe, delivered (and retried)
-- by the delivery worker. The payload is built from the call's row when it
-- is sent (docs/events.md).
CREATE TABLE outbox (
    -- The event id, also the Idempotency-Key: "<call id>:<kind>".
    id                 TEXT    NOT NULL PRIMARY KEY,
    call_id            TEXT    NOT NULL,
    -- call.answered | call.ended
    kind               TEXT    NOT NULL,
    -- Order of the call's events (call.answered 1, call.ended 2): the
    -- worker never sends an event while an earlier one of its call is
    -- undelivered.
    ordinal            INTEGER NOT NULL,
    created_at_ms      BIGINT  NOT NULL,
    -- pending | delivered | dead
    state              TEXT    NOT NULL DEFAULT 'pending',
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT  NOT NULL,
    -- The worker holding it (lease), until when.
    lease_owner        TEXT,
    lease_until_ms     BIGINT,
    last_error         TEXT,
    delivered_at_ms    BIGINT
);

CREATE INDEX outbox_due ON outbox (state, next_attempt_at_ms);
CREATE INDEX outbox_call ON outbox (call_id, ordinal);
