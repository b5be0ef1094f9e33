-- Transfers across sides (12345 to 110, or back). Keep in step with the
-- other flavour.

-- An agent's transfer to the other side ends the call's record there
-- (hangup_by 'transfer') and the call goes on as a new record, with the
-- receiving side's line, queue, class and recording; `parent_id` is the
-- record it continues. NULL for every other call.
ALTER TABLE calls ADD COLUMN parent_id TEXT;
CREATE INDEX calls_parent_id ON calls (parent_id) WHERE parent_id IS NOT NULL;
