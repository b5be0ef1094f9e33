-- The satisfaction survey's answer on call records, SQLite flavour. Keep in
-- step with migrations/postgres/0003_survey.sql.
--
-- Written by the engine with the rest of the record (the call's last
-- upsert comes after the survey). "1" satisfied, "2" fairly satisfied,
-- "3" dissatisfied, "none" (no digit in time), "hangup" (the caller hung
-- up during the survey); NULL when the caller was not asked.
ALTER TABLE calls ADD COLUMN survey TEXT;
