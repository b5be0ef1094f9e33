-- The recording access audit log, SQLite flavour. Keep in step with
-- migrations/postgres/0005_recording_access.sql.
--
-- One row per download of a call's recording (GET /api/calls/{id}/recording):
-- who, when, from where, which part. Append-only.
CREATE TABLE recording_access (
    id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at_ms   INTEGER NOT NULL,
    call_id TEXT NOT NULL,
    -- Who asked: the caller's name for itself (X-Hotline-User), until API
    -- tokens name it.
    who     TEXT NOT NULL,
    -- The client's address.
    remote  TEXT NOT NULL,
    -- The Range header, if only part was asked for.
    byte_range TEXT
);

CREATE INDEX recording_access_call_id ON recording_access (call_id);
CREATE INDEX recording_access_at_ms ON recording_access (at_ms);
