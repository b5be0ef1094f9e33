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

const INSERT: &str = "INSERT INTO outbox (id, call_id, kind, ordinal, created_at_ms, next_attempt_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING";

/// Adds call `call`'s event of `kind`, happened at `at_ms`, unless it exists.
pub(super) async fn add(conn: &mut AnyConnection, call: &str, kind: EventKind, at_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT)
        .bind(event_id(call, kind))
        .bind(call)
        .bind(kind.as_str())
        .bind(kind.ordinal())
        .bind(at_ms)
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
pub(super) async fn ended_if_complete(conn: &mut AnyConnection, call: &str) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO outbox (id, call_id, kind, ordinal, created_at_ms, next_attempt_at_ms) \
         SELECT $1, c.id, $2, $3, c.ended_at_ms, c.ended_at_ms FROM calls c WHERE c.id = $4 AND {FINAL} \
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
        "INSERT INTO outbox (id, call_id, kind, ordinal, created_at_ms, next_attempt_at_ms) \
         SELECT c.id || $1, c.id, $2, $3, c.ended_at_ms, c.ended_at_ms FROM calls c WHERE {FINAL} \
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
}

/// Events in `state` (all if `None`), oldest first, at most `limit`.
pub(super) async fn list(conn: &mut AnyConnection, state: Option<&str>, limit: i64) -> Result<Vec<OutboxEvent>, sqlx::Error> {
    let filter = if state.is_some() { "WHERE state = $2" } else { "" };
    let sql = format!(
        "SELECT id, call_id, kind, created_at_ms, state, attempts, next_attempt_at_ms, last_error, delivered_at_ms \
         FROM outbox {filter} ORDER BY created_at_ms, call_id, ordinal LIMIT $1"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit);
    if let Some(state) = state {
        query = query.bind(state);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
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
            })
        })
        .collect()
}
