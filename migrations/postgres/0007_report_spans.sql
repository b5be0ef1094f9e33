-- What reports need to answer fast (docs/metrics.md, BENCHMARKS.md
-- "Reports"), PostgreSQL flavour. Keep in step with
-- migrations/sqlite/0007_report_spans.sql. (0006 is another change's.)

-- On an agent_state event: when the state it started ended, i.e. the time
-- of the seat's next agent_state event. NULL while the seat is still in
-- it. Set by the store when it writes the seat's next change.
ALTER TABLE queue_events ADD COLUMN until_ms BIGINT;
-- On a call: the time seats spent in wrap-up after it (the agent_state
-- spans in wrap_up carrying its id), once the wrap-up has ended. NULL: no
-- wrap-up (yet).
ALTER TABLE calls ADD COLUMN wrapup_ms BIGINT;

-- Both for the events already stored.
UPDATE queue_events SET until_ms = n.next_ms
FROM (SELECT id, LEAD(at_ms) OVER (PARTITION BY seat ORDER BY at_ms, id) AS next_ms
      FROM queue_events WHERE kind = 'agent_state' AND seat IS NOT NULL) n
WHERE queue_events.id = n.id AND n.next_ms IS NOT NULL;
UPDATE calls SET wrapup_ms = w.ms
FROM (SELECT call_id, SUM(until_ms - at_ms) AS ms FROM queue_events
      WHERE kind = 'agent_state' AND detail LIKE '%->wrap_up' AND call_id IS NOT NULL AND until_ms IS NOT NULL
      GROUP BY call_id) w
WHERE calls.id = w.call_id;

-- Events of one kind in a window: overflows, rings and state changes for
-- reports.
CREATE INDEX queue_events_kind_at_ms ON queue_events (kind, at_ms);
-- Each seat's current state: the one the store closes when the next
-- change comes.
CREATE INDEX queue_events_open_state ON queue_events (seat) WHERE kind = 'agent_state' AND until_ms IS NULL;
