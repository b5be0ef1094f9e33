//! The `outbox` table: events for the ticket system, inserted in the same
//! transaction as the change they describe (transactional outbox), and
//! read back by the delivery worker.
//!
//! ```text
//!  write_batch tx: upsert record answered ──────────────▶ call.answered
//!                  upsert final record, not anchored ───▶ call.ended
//!                  attach media to a final record ──────▶ call.ended
//!  start: any final record still without call.ended ──▶ call.ended
//! ```
//!
//! An event's id is `<call id>:<kind>` and inserts never replace
//! (`ON CONFLICT DO NOTHING`): each call has at most one event of each
//! kind, however often the triggering write is repeated (the writer's
//! retries, a record written again at restart). The payload is built from
//! the call's row when the event is sent, so it carries what is known by
//! then (the recording, the ticket id).

use sqlx::{AnyConnection, Row};

/// What the ticket system is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A seat answered: the agent's ticket form can open with the
    /// caller's number.
    CallAnswered,
    /// The record is complete (with its recording when hotline recorded
    /// the call).
    CallEnded,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CallAnswered => "call.answered",
            EventKind::CallEnded => "call.ended",
        }
    }

    /// The order of a call's events.
    pub fn ordinal(self) -> i32 {
        match self {
            EventKind::CallAnswered => 1,
            EventKind::CallEnded => 2,
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        match s {
            "call.answered" => Some(EventKind::CallAnswered),
            "call.ended" => Some(EventKind::CallEnded),
            _ => None,
        }
    }
}

/// The id of call `call`'s event of `kind` (the Idempotency-Key).
pub fn event_id(call: &str, kind: EventKind) -> String {
    format!("{call}:{}", kind.as_str())
}

/// An event's sink, from its call's class: an emergency call's events
/// never go to the 12345 ticket system.
const SINK: &str = "CASE WHEN c.class = 'emergency' THEN 'emergency' ELSE 'tickets' END";

const INSERT: &str = "INSERT INTO outbox (id, call_id, kind, ordinal, created_at_ms, next_attempt_at_ms, sink) \
     SELECT $1, c.id, $2, $3, $4, $4, CASE WHEN c.class = 'emergency' THEN 'emergency' ELSE 'tickets' END FROM calls c WHERE c.id = $5 \
     ON CONFLICT (id) DO NOTHING";

/// Adds call `call`'s event of `kind`, happened at `at_ms`, unless it exists.
pub(super) async fn add(
    conn: &mut AnyConnection,
    call: &str,
    kind: EventKind,
    at_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT)
        .bind(event_id(call, kind))
        .bind(kind.as_str())
        .bind(kind.ordinal())
        .bind(at_ms)
        .bind(call)
        .execute(conn)
        .await?;
    Ok(())
}

/// A final record: ended, and not an overflow (whose next queue's record
/// replaces it).
const FINAL: &str = "c.ended_at_ms IS NOT NULL AND COALESCE(c.outcome, '') <> 'overflowed'";

/// Adds `call.ended` for call `call` if its record is final and, when
/// hotline anchored its media, the media is attached (the row has media
/// statistics, a recording or a recording error).
pub(super) async fn ended_if_complete(
    conn: &mut AnyConnection,
    call: &str,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO outbox (id, call_id, kind, ordinal, created_at_ms, next_attempt_at_ms, sink) \
         SELECT $1, c.id, $2, $3, c.ended_at_ms, c.ended_at_ms, {SINK} FROM calls c WHERE c.id = $4 AND {FINAL} \
         AND (c.anchored = 0 OR c.media_stats IS NOT NULL OR c.recording_path IS NOT NULL OR c.recording_error IS NOT NULL) \
         ON CONFLICT (id) DO NOTHING"
    );
    let kind = EventKind::CallEnded;
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(event_id(call, kind))
        .bind(kind.as_str())
        .bind(kind.ordinal())
        .bind(call)
        .execute(conn)
        .await?;
    Ok(())
}

/// At start, once interrupted records are closed and repaired recordings
/// attached: `call.ended` for every final anchored record that has none
/// (its media never came, because hotline stopped). Records that are not
/// anchored got theirs with their final write; rows from before the outbox
/// existed are not anchored, so an upgrade does not send old calls.
/// Returns how many were added.
pub(super) async fn ended_for_all_final(conn: &mut AnyConnection) -> Result<u64, sqlx::Error> {
    let kind = EventKind::CallEnded;
    let sql = format!(
        "INSERT INTO outbox (id, call_id, kind, ordinal, created_at_ms, next_attempt_at_ms, sink) \
         SELECT c.id || $1, c.id, $2, $3, c.ended_at_ms, c.ended_at_ms, {SINK} FROM calls c WHERE {FINAL} \
         AND c.anchored = 1 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = c.id || $1) \
         ON CONFLICT (id) DO NOTHING"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format!(":{}", kind.as_str()))
        .bind(kind.as_str())
        .bind(kind.ordinal())
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// An outbox row as the API and the delivery worker see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxEvent {
    pub id: String,
    pub call_id: String,
    pub kind: String,
    pub created_at_ms: i64,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    pub delivered_at_ms: Option<i64>,
    /// `tickets` (the 12345 ticket system) or `emergency` (the emergency
    /// side's receiver, or nowhere).
    pub sink: String,
}

/// Events in `state` (all if `None`), oldest first, at most `limit`.
pub(super) async fn list(
    conn: &mut AnyConnection,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxEvent>, sqlx::Error> {
    let filter = if state.is_some() {
        "WHERE state = $2"
    } else {
        ""
    };
    let sql = format!(
        "SELECT id, call_id, kind, created_at_ms, state, attempts, next_attempt_at_ms, last_error, delivered_at_ms, sink \
         FROM outbox {filter} ORDER BY created_at_ms, call_id, ordinal LIMIT $1"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit);
    if let Some(state) = state {
        query = query.bind(state);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// Takes up to `limit` events due at `now_ms` for `owner` until
/// `lease_until_ms`: pending, due, not leased by another worker (or its
/// lease ran out), and no earlier event of the same call still pending (a
/// call's events go out in order). Each is taken by a conditional update,
/// so two workers (or two nodes on one database) never hold the same
/// event.
pub(super) async fn claim(
    conn: &mut AnyConnection,
    owner: &str,
    sink: &str,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
) -> Result<Vec<OutboxEvent>, sqlx::Error> {
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT o.id FROM outbox o WHERE o.state = 'pending' AND o.sink = $3 AND o.next_attempt_at_ms <= $1 \
         AND (o.lease_until_ms IS NULL OR o.lease_until_ms < $1) \
         AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.call_id = o.call_id AND p.ordinal < o.ordinal AND p.state = 'pending') \
         ORDER BY o.next_attempt_at_ms, o.created_at_ms LIMIT $2",
    )
    .bind(now_ms)
    .bind(limit)
    .bind(sink)
    .fetch_all(&mut *conn)
    .await?;
    let mut taken = Vec::new();
    for id in due {
        let done = sqlx::query(
            "UPDATE outbox SET lease_owner = $1, lease_until_ms = $2 WHERE id = $3 AND state = 'pending' \
             AND (lease_until_ms IS NULL OR lease_until_ms < $4)",
        )
        .bind(owner)
        .bind(lease_until_ms)
        .bind(&id)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 1 {
            taken.push(id);
        }
    }
    let mut events = Vec::new();
    for id in taken {
        if let Some(ev) = get(conn, &id).await? {
            events.push(ev);
        }
    }
    Ok(events)
}

/// One event by id.
pub(super) async fn get(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<OutboxEvent>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, call_id, kind, created_at_ms, state, attempts, next_attempt_at_ms, last_error, delivered_at_ms, sink \
         FROM outbox WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| from_row(&r)).transpose()
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<OutboxEvent, sqlx::Error> {
    Ok(OutboxEvent {
        id: r.try_get("id")?,
        call_id: r.try_get("call_id")?,
        kind: r.try_get("kind")?,
        created_at_ms: r.try_get("created_at_ms")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at_ms: r.try_get("next_attempt_at_ms")?,
        last_error: r.try_get("last_error")?,
        delivered_at_ms: r.try_get("delivered_at_ms")?,
        sink: r.try_get("sink")?,
    })
}

/// `owner` delivered event `id`: done for good; a ticket id the answer
/// named goes on the call. False if `owner` no longer held it.
pub(super) async fn delivered(
    conn: &mut AnyConnection,
    id: &str,
    owner: &str,
    now_ms: i64,
    ticket_id: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox SET state = 'delivered', delivered_at_ms = $1, attempts = attempts + 1, \
         lease_owner = NULL, lease_until_ms = NULL, last_error = NULL WHERE id = $2 AND lease_owner = $3",
    )
    .bind(now_ms)
    .bind(id)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    if let Some(ticket) = ticket_id {
        sqlx::query(
            "UPDATE calls SET ticket_id = $1 WHERE id = (SELECT call_id FROM outbox WHERE id = $2)",
        )
        .bind(ticket)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(done.rows_affected() == 1)
}

/// `owner`'s attempt at event `id` failed with `error`: tried again at
/// `next_attempt_at_ms`, or dead-lettered when `dead`.
pub(super) async fn failed(
    conn: &mut AnyConnection,
    id: &str,
    owner: &str,
    error: &str,
    next_attempt_at_ms: i64,
    dead: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox SET state = $1, attempts = attempts + 1, next_attempt_at_ms = $2, last_error = $3, \
         lease_owner = NULL, lease_until_ms = NULL WHERE id = $4 AND lease_owner = $5",
    )
    .bind(if dead { "dead" } else { "pending" })
    .bind(next_attempt_at_ms)
    .bind(error)
    .bind(id)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts dead event `id` back in line, due at `now_ms`, its attempts
/// counted afresh. False if there is no such dead event.
pub(super) async fn replay(
    conn: &mut AnyConnection,
    id: &str,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at_ms = $1, lease_owner = NULL, \
         lease_until_ms = NULL WHERE id = $2 AND state = 'dead'",
    )
    .bind(now_ms)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
