-- Recording retention. Keep in step with the other flavour.
--
-- When the retention sweep deleted the call's WAV ([recordings]
-- retention_days, emergency_retention_days); the recording's metadata
-- (duration, SHA-256) stays on the record.
ALTER TABLE calls ADD COLUMN recording_deleted_at_ms BIGINT;
