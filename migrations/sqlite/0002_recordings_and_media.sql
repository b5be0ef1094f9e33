-- Recordings and media statistics on call records, SQLite flavour. Keep in
-- step with migrations/postgres/0002_recordings_and_media.sql.
--
-- The media task attaches these after the call ended (Store::attach_call_media,
-- StoreCmd::CallMedia); the engine's upserts of the record never touch them.
-- All nullable: rows written before this migration keep NULL, as do calls
-- without media (rejected, abandoned while waiting) or not recorded.

-- The call's WAV, relative to the recordings root; the four are set together.
ALTER TABLE calls ADD COLUMN recording_path        TEXT;
ALTER TABLE calls ADD COLUMN recording_duration_ms INTEGER;
-- Bytes.
ALTER TABLE calls ADD COLUMN recording_size        INTEGER;
-- Lower-case hex SHA-256 of the whole file.
ALTER TABLE calls ADD COLUMN recording_sha256      TEXT;
-- Why the recording failed or is incomplete.
ALTER TABLE calls ADD COLUMN recording_error       TEXT;
-- JSON (model::MediaStats): {"caller": {"codec": ..., "packets": ..., "lost": ...,
-- "jitter_ms": ..., ...}, "agent": {...}}.
ALTER TABLE calls ADD COLUMN media_stats           TEXT;
