-- Emergency call events have a sink of their own. Keep in step with the
-- other flavour.
--
-- 'tickets': the 12345 ticket system ([tickets]). 'emergency': the
-- emergency side's own receiver ([emergency_tickets]), or nowhere: an
-- emergency call's events never go to [tickets]. Each delivery worker
-- takes only its sink's events.
ALTER TABLE outbox ADD COLUMN sink TEXT NOT NULL DEFAULT 'tickets';
-- Events written before this migration: an emergency call's go to the
-- emergency sink from now on, even those still waiting.
UPDATE outbox SET sink = 'emergency' WHERE call_id IN (SELECT id FROM calls WHERE class = 'emergency');
