//! The `queue_events` table: appending [`QueueEvent`]s and listing them back
//! oldest first (by time, then by insertion order). Appending a seat's
//! change of state also ends its previous state (`until_ms`) and adds a
//! finished wrap-up to its call (`calls.wrapup_ms`), for reports.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::error::StoreError;
use super::filter::{Conditions, EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT, EventFilter, clamp_limit};
use crate::model::{EventKind, QueueEvent};

const EVENT_COLUMNS: &str = "id, at_ms, call_id, queue, seat, kind, detail";

/// Adds the wrap-up a seat's change of state at `$1` ends to the call it
/// was for (the seat's open `wrap_up` span, see [`CLOSE_STATE`]).
const ADD_WRAPUP: &str = "UPDATE calls SET wrapup_ms = COALESCE(wrapup_ms, 0) + \
     (SELECT COALESCE(SUM($1 - e.at_ms), 0) FROM queue_events e WHERE e.kind = 'agent_state' AND e.seat = $2 \
     AND e.until_ms IS NULL AND e.detail LIKE '%->wrap_up' AND e.call_id = calls.id) \
     WHERE id IN (SELECT e.call_id FROM queue_events e WHERE e.kind = 'agent_state' AND e.seat = $2 \
     AND e.until_ms IS NULL AND e.detail LIKE '%->wrap_up')";

/// Ends the seat's current state at `$1`: reports read a state's time as
/// `until_ms - at_ms` (migration 0007) instead of looking for the next
/// change. Found through the partial index `queue_events_open_state`; no
/// condition on `at_ms` here or in [`ADD_WRAPUP`], or SQLite picks the
/// `(kind, at_ms)` index and scans every earlier change.
const CLOSE_STATE: &str = "UPDATE queue_events SET until_ms = $1 \
     WHERE kind = 'agent_state' AND seat = $2 AND until_ms IS NULL";

/// Adds `$1` ms of wrap-up to call `$2` (a wrap-up whose start and end
/// are in the same batch).
const ADD_WRAPUP_MS: &str =
    "UPDATE calls SET wrapup_ms = COALESCE(wrapup_ms, 0) + $1 WHERE id = $2";

const INSERT_EVENT_UNTIL: &str = "INSERT INTO queue_events (at_ms, call_id, queue, seat, kind, detail, until_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Whether `ev` is a seat's change of agent state (of `seat`).
fn state_change(ev: &QueueEvent) -> Option<&str> {
    ev.seat
        .as_deref()
        .filter(|_| ev.kind == EventKind::AgentState)
}

/// Whether a change ends a wrap-up (`wrap_up->ready`, ...).
fn leaves_wrapup(ev: &QueueEvent) -> bool {
    ev.detail
        .as_deref()
        .is_some_and(|d| d.starts_with("wrap_up->"))
}

/// Appends `evs`, in order. A seat's change of state ends its previous
/// state: the stored one (an UPDATE, for the seat's first change in
/// `evs`), or the one just before it in `evs` (whose `until_ms` is then
/// written with it). A wrap-up that ends is added to its call's
/// `wrapup_ms`. So a batch costs one UPDATE per seat, plus one per call
/// whose wrap-up ends, rather than two per change.
pub(super) async fn insert_all(
    conn: &mut AnyConnection,
    evs: &[QueueEvent],
) -> Result<(), sqlx::Error> {
    // For each event: the time of the same seat's next change in `evs`.
    let mut until: Vec<Option<i64>> = vec![None; evs.len()];
    // For each event: the index of the same seat's previous change in `evs`.
    let mut prev: Vec<Option<usize>> = vec![None; evs.len()];
    let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, ev) in evs.iter().enumerate() {
        if let Some(seat) = state_change(ev)
            && let Some(p) = last.insert(seat, i)
        {
            until[p] = Some(ev.at_ms);
            prev[i] = Some(p);
        }
    }
    for (i, ev) in evs.iter().enumerate() {
        if let Some(seat) = state_change(ev) {
            match prev[i] {
                None => {
                    if leaves_wrapup(ev) {
                        sqlx::query(ADD_WRAPUP)
                            .bind(ev.at_ms)
                            .bind(seat)
                            .execute(&mut *conn)
                            .await?;
                    }
                    sqlx::query(CLOSE_STATE)
                        .bind(ev.at_ms)
                        .bind(seat)
                        .execute(&mut *conn)
                        .await?;
                }
                Some(p) => {
                    let before = &evs[p];
                    let was_wrapup = before
                        .detail
                        .as_deref()
                        .is_some_and(|d| d.ends_with("->wrap_up"));
                    if was_wrapup && let Some(call) = before.call_id.as_deref() {
                        sqlx::query(ADD_WRAPUP_MS)
                            .bind(ev.at_ms - before.at_ms)
                            .bind(call)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
            }
        }
        sqlx::query(INSERT_EVENT_UNTIL)
            .bind(ev.at_ms)
            .bind(ev.call_id.as_deref())
            .bind(ev.queue.as_deref())
            .bind(ev.seat.as_deref())
            .bind(ev.kind.as_str())
            .bind(ev.detail.as_deref())
            .bind(until[i])
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Events matching `f`, oldest first.
pub(super) async fn list(
    conn: &mut AnyConnection,
    f: &EventFilter,
) -> Result<Vec<QueueEvent>, StoreError> {
    let mut c = Conditions::default();
    c.eq("call_id", f.call_id.as_deref());
    c.eq("queue", f.queue.as_deref());
    c.eq("seat", f.seat.as_deref());
    c.eq("kind", f.kind.map(|k| k.as_str()));
    c.range("at_ms", f.from_ms, f.to_ms);
    let sql = c.select(EVENT_COLUMNS, "queue_events", "at_ms ASC, id ASC");
    let limit = clamp_limit(f.limit, EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT);
    let rows = c
        .bind(
            sqlx::query(AssertSqlSafe(sql)),
            limit,
            f.offset.unwrap_or(0),
        )
        .fetch_all(conn)
        .await
        .map_err(StoreError::query("list events"))?;
    rows.iter().map(from_row).collect()
}

/// Reads one row selected with [`EVENT_COLUMNS`].
fn from_row(row: &AnyRow) -> Result<QueueEvent, StoreError> {
    let q = || StoreError::query("read event row");
    let id: i64 = row.try_get("id").map_err(q())?;
    let kind: String = row.try_get("kind").map_err(q())?;
    let kind = kind.parse().map_err(|_| StoreError::Corrupt {
        table: "queue_events",
        id: id.to_string(),
        column: "kind",
        value: kind.clone(),
    })?;
    Ok(QueueEvent {
        at_ms: row.try_get("at_ms").map_err(q())?,
        call_id: row.try_get("call_id").map_err(q())?,
        queue: row.try_get("queue").map_err(q())?,
        seat: row.try_get("seat").map_err(q())?,
        kind,
        detail: row.try_get("detail").map_err(q())?,
    })
}

/// One download of a call's recording, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordingAccess {
    pub at_ms: i64,
    pub call_id: String,
    pub who: String,
    pub remote: String,
    /// The Range header, when only part was asked for.
    pub byte_range: Option<String>,
}

pub(super) async fn insert_access(
    conn: &mut sqlx::AnyConnection,
    a: &RecordingAccess,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO recording_access (at_ms, call_id, who, remote, byte_range) VALUES ($1, $2, $3, $4, $5)")
        .bind(a.at_ms)
        .bind(a.call_id.as_str())
        .bind(a.who.as_str())
        .bind(a.remote.as_str())
        .bind(a.byte_range.as_deref())
        .execute(conn)
        .await?;
    Ok(())
}

pub(super) async fn list_access(
    conn: &mut sqlx::AnyConnection,
    call_id: &str,
) -> Result<Vec<RecordingAccess>, sqlx::Error> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT at_ms, call_id, who, remote, byte_range FROM recording_access WHERE call_id = $1 ORDER BY id")
        .bind(call_id)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(RecordingAccess {
                at_ms: r.try_get("at_ms")?,
                call_id: r.try_get("call_id")?,
                who: r.try_get("who")?,
                remote: r.try_get("remote")?,
                byte_range: r.try_get("byte_range")?,
            })
        })
        .collect()
}
