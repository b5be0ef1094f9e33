//! Closing call records that a crash left open. A record still open when
//! hotline starts belongs to a call that no process owns any more; it is
//! closed at the last moment we know the call was alive.

use sqlx::{AnyConnection, Connection, Row};

use super::error::StoreError;
use crate::model::{HangupBy, Outcome};

/// Open calls, with the time of the latest event logged for each.
const SELECT_OPEN: &str = "SELECT c.id, c.offered_at_ms, c.answered_at_ms, \
     (SELECT MAX(e.at_ms) FROM queue_events e WHERE e.call_id = c.id) AS last_event_ms \
     FROM calls c WHERE c.ended_at_ms IS NULL";

/// Closes one open call; `hangup_by` stays as stored when `$4` is NULL.
const CLOSE: &str = "UPDATE calls SET ended_at_ms = $2, outcome = $3, \
     hangup_by = COALESCE($4, hangup_by), reason = $5, wait_ms = $6, talk_ms = $7 \
     WHERE id = $1 AND ended_at_ms IS NULL";

/// How an interrupted call is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Closing {
    pub ended_at_ms: i64,
    pub outcome: Outcome,
    pub hangup_by: Option<HangupBy>,
    pub wait_ms: i64,
    pub talk_ms: i64,
}

/// Decides how to close a call offered at `offered`, answered at `answered`,
/// whose latest logged event is `last_event`: it ends at that event (or at
/// `now` if none was logged), but never before it was offered or answered.
/// An answered call ends `answered` with `hangup_by = system`; any other
/// call `failed`.
pub(super) fn closing(
    offered: i64,
    answered: Option<i64>,
    last_event: Option<i64>,
    now: i64,
) -> Closing {
    let floor = answered.map_or(offered, |a| a.max(offered));
    let ended_at_ms = last_event.unwrap_or(now).max(floor);
    match answered {
        Some(a) => Closing {
            ended_at_ms,
            outcome: Outcome::Answered,
            hangup_by: Some(HangupBy::System),
            wait_ms: (a - offered).max(0),
            talk_ms: ended_at_ms - floor,
        },
        None => Closing {
            ended_at_ms,
            outcome: Outcome::Failed,
            hangup_by: None,
            wait_ms: ended_at_ms - offered,
            talk_ms: 0,
        },
    }
}

/// Closes every open call (see [`closing`]) with `reason`, in one
/// transaction; returns how many were closed.
pub(super) async fn close_interrupted(
    conn: &mut AnyConnection,
    now_ms: i64,
    reason: &str,
) -> Result<u64, StoreError> {
    let q = StoreError::query;
    let mut tx = conn.begin().await.map_err(q("begin close_interrupted"))?;
    let open = sqlx::query(SELECT_OPEN)
        .fetch_all(&mut *tx)
        .await
        .map_err(q("find interrupted calls"))?;
    let mut closed = 0;
    for row in &open {
        let read = || q("read interrupted call");
        let id: String = row.try_get("id").map_err(read())?;
        let offered: i64 = row.try_get("offered_at_ms").map_err(read())?;
        let answered: Option<i64> = row.try_get("answered_at_ms").map_err(read())?;
        let last: Option<i64> = row.try_get("last_event_ms").map_err(read())?;
        let c = closing(offered, answered, last, now_ms);
        let done = sqlx::query(CLOSE)
            .bind(id.as_str())
            .bind(c.ended_at_ms)
            .bind(c.outcome.as_str())
            .bind(c.hangup_by.map(|h| h.as_str()))
            .bind(reason)
            .bind(c.wait_ms)
            .bind(c.talk_ms)
            .execute(&mut *tx)
            .await
            .map_err(q("close interrupted call"))?;
        closed += done.rows_affected();
        // Its end for the ticket system, in the same transaction; an
        // anchored call's waits for its repaired recording (or the sweep
        // at start, Store::add_missing_call_ended).
        super::outbox::ended_if_complete(&mut tx, &id)
            .await
            .map_err(q("add call.ended"))?;
        tracing::warn!(call_id = %id, outcome = %c.outcome, ended_at_ms = c.ended_at_ms, reason, "closed call record left open by an interrupted run");
    }
    tx.commit().await.map_err(q("commit close_interrupted"))?;
    Ok(closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanswered_call_fails_at_its_last_event_or_now() {
        let c = closing(1_000, None, Some(4_000), 9_000);
        assert_eq!(
            (c.ended_at_ms, c.outcome, c.wait_ms, c.talk_ms),
            (4_000, Outcome::Failed, 3_000, 0)
        );
        assert_eq!(c.hangup_by, None);
        let c = closing(1_000, None, None, 9_000);
        assert_eq!((c.ended_at_ms, c.wait_ms), (9_000, 8_000));
    }

    #[test]
    fn answered_call_is_answered_and_hung_up_by_system() {
        let c = closing(1_000, Some(3_000), Some(10_000), 99_000);
        assert_eq!(c.outcome, Outcome::Answered);
        assert_eq!(c.hangup_by, Some(HangupBy::System));
        assert_eq!(
            (c.ended_at_ms, c.wait_ms, c.talk_ms),
            (10_000, 2_000, 7_000)
        );
        // The latest event predates the answer (its CONNECT was lost): the
        // call ends at the answer, never before it.
        let c = closing(1_000, Some(3_000), Some(2_000), 99_000);
        assert_eq!((c.ended_at_ms, c.talk_ms), (3_000, 0));
    }
}
