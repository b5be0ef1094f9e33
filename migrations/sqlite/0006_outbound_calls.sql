-- Outbound callbacks (回访). Keep in step with the other flavour.

-- 'inbound': a citizen called a line (offered to a queue). 'outbound': a
-- seat called a citizen back (dialled from the desk phone, or started
-- through the API); `caller` then holds the citizen's number and `line`
-- the number they were shown. Reports count only inbound calls as offered.
ALTER TABLE calls ADD COLUMN direction TEXT NOT NULL DEFAULT 'inbound';
