-- hotline store schema, PostgreSQL flavour. Keep in step with
-- migrations/sqlite/0001_calls_and_queue_events.sql: same tables, same
-- columns, same meaning. Times are Unix milliseconds.

-- One row per offered call (model::CallRecord), keyed by hotline's call id.
CREATE TABLE calls (
    id             TEXT    NOT NULL PRIMARY KEY,
    sip_call_id    TEXT    NOT NULL,
    line           TEXT    NOT NULL,
    tag            TEXT,
    class          TEXT    NOT NULL,
    caller         TEXT    NOT NULL,
    queue          TEXT,
    seat           TEXT,
    offered_at_ms  BIGINT  NOT NULL,
    answered_at_ms BIGINT,
    ended_at_ms    BIGINT,
    outcome        TEXT,
    hangup_by      TEXT,
    reason         TEXT,
    wait_ms        BIGINT  NOT NULL DEFAULT 0,
    talk_ms        BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX calls_offered_at_ms ON calls (offered_at_ms);
CREATE INDEX calls_line ON calls (line);
CREATE INDEX calls_queue ON calls (queue);
CREATE INDEX calls_seat ON calls (seat);
CREATE INDEX calls_outcome ON calls (outcome);
-- Calls still open: what close_interrupted() looks for at start.
CREATE INDEX calls_open ON calls (id) WHERE ended_at_ms IS NULL;

-- The queue and agent event log (model::QueueEvent), append-only.
CREATE TABLE queue_events (
    id      BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms   BIGINT  NOT NULL,
    call_id TEXT,
    queue   TEXT,
    seat    TEXT,
    kind    TEXT    NOT NULL,
    detail  TEXT
);

CREATE INDEX queue_events_at_ms ON queue_events (at_ms);
CREATE INDEX queue_events_call_id ON queue_events (call_id);
