//! The `calls` table: the upsert that never reopens an ended record, the
//! media attachment that touches nothing else, reading rows back into
//! [`StoredCall`]s, and the filtered listing.

use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::error::StoreError;
use super::filter::{CALLS_DEFAULT_LIMIT, CALLS_MAX_LIMIT, CallFilter, Conditions, clamp_limit};
use crate::model::{CallMedia, CallRecord, MediaStats, Outcome, Recording, StoredCall};

/// The columns of `calls`, in [`CallRecord`] then [`CallMedia`] field order.
pub(super) const CALL_COLUMNS: &str = "id, sip_call_id, line, tag, class, caller, queue, seat, \
     offered_at_ms, answered_at_ms, ended_at_ms, outcome, hangup_by, reason, wait_ms, talk_ms, \
     survey, anchored, direction, recording_path, recording_duration_ms, recording_size, recording_sha256, recording_error, \
     media_stats, ticket_id, recording_deleted_at_ms";

/// Insert, or replace every record column of the stored row, unless the
/// stored row is final and the new one is not (see [`keeps_stored`]; same
/// rule). The media columns are not the engine's: never touched here.
/// `ticket_id` is written by the insert only (a callback's ticket); after
/// that it belongs to the ticket system and the API.
const UPSERT_CALL: &str = "INSERT INTO calls (id, sip_call_id, line, tag, class, caller, queue, seat, \
     offered_at_ms, answered_at_ms, ended_at_ms, outcome, hangup_by, reason, wait_ms, talk_ms, survey, anchored, \
     direction, ticket_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
     ON CONFLICT (id) DO UPDATE SET sip_call_id = excluded.sip_call_id, line = excluded.line, \
     tag = excluded.tag, class = excluded.class, caller = excluded.caller, queue = excluded.queue, \
     seat = excluded.seat, offered_at_ms = excluded.offered_at_ms, \
     answered_at_ms = excluded.answered_at_ms, ended_at_ms = excluded.ended_at_ms, \
     outcome = excluded.outcome, hangup_by = excluded.hangup_by, reason = excluded.reason, \
     wait_ms = excluded.wait_ms, talk_ms = excluded.talk_ms, survey = excluded.survey, anchored = excluded.anchored \
     WHERE calls.ended_at_ms IS NULL OR excluded.ended_at_ms IS NOT NULL \
     OR COALESCE(calls.outcome, '') = 'overflowed'";

/// Whether a write of `new` must leave the already stored `stored` as it is:
/// `stored` has ended and `new` has not, i.e. `new` is a late copy of an
/// earlier state (written at offer or answer) arriving after the end.
///
/// An ended record whose outcome is `overflowed` is not final: the overflow
/// queue's record for the same call id replaces it.
pub(crate) fn keeps_stored(stored: &CallRecord, new: &CallRecord) -> bool {
    stored.ended_at_ms.is_some()
        && new.ended_at_ms.is_none()
        && stored.outcome != Some(Outcome::Overflowed)
}

/// Sets the media columns of call `$1` that are given, keeping those that
/// are NULL here (the four recording columns are given or NULL together).
const ATTACH_MEDIA: &str = "UPDATE calls SET recording_path = COALESCE($2, recording_path), \
     recording_duration_ms = COALESCE($3, recording_duration_ms), \
     recording_size = COALESCE($4, recording_size), \
     recording_sha256 = COALESCE($5, recording_sha256), \
     recording_error = COALESCE($6, recording_error), \
     media_stats = COALESCE($7, media_stats) \
     WHERE id = $1";

/// Writes `rec` with the upsert rule above.
pub(super) async fn upsert(conn: &mut AnyConnection, rec: &CallRecord) -> Result<(), sqlx::Error> {
    sqlx::query(UPSERT_CALL)
        .bind(rec.id.as_str())
        .bind(rec.sip_call_id.as_str())
        .bind(rec.line.as_str())
        .bind(rec.tag.as_deref())
        .bind(rec.class.as_str())
        .bind(rec.caller.as_str())
        .bind(rec.queue.as_deref())
        .bind(rec.seat.as_deref())
        .bind(rec.offered_at_ms)
        .bind(rec.answered_at_ms)
        .bind(rec.ended_at_ms)
        .bind(rec.outcome.map(|o| o.as_str()))
        .bind(rec.hangup_by.map(|h| h.as_str()))
        .bind(rec.reason.as_deref())
        .bind(rec.wait_ms)
        .bind(rec.talk_ms)
        .bind(rec.survey.as_deref())
        .bind(i32::from(rec.anchored))
        .bind(rec.direction.as_str())
        .bind(rec.ticket.as_deref())
        .execute(conn)
        .await?;
    Ok(())
}

/// Attaches `media` to the record of call `id` (see [`ATTACH_MEDIA`]);
/// returns whether there is such a record.
pub(super) async fn attach_media(
    conn: &mut AnyConnection,
    id: &str,
    media: &CallMedia,
) -> Result<bool, sqlx::Error> {
    let rec = media.recording.as_ref();
    let stats = media
        .media_stats
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let done = sqlx::query(ATTACH_MEDIA)
        .bind(id)
        .bind(rec.map(|r| r.path.as_str()))
        .bind(rec.map(|r| saturating_i64(r.duration_ms)))
        .bind(rec.map(|r| saturating_i64(r.size_bytes)))
        .bind(rec.map(|r| r.sha256.as_str()))
        .bind(media.recording_error.as_deref())
        .bind(stats)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// `v` as a column value (no recording is 2^63 bytes or ms long).
fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The record stored under `id`, if any.
pub(super) async fn get(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<StoredCall>, StoreError> {
    let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::query("get call"))?;
    row.as_ref().map(from_row).transpose()
}

/// Records matching `f`, newest offer first.
pub(super) async fn list(
    conn: &mut AnyConnection,
    f: &CallFilter,
) -> Result<Vec<StoredCall>, StoreError> {
    let mut c = Conditions::default();
    c.range("offered_at_ms", f.from_ms, f.to_ms);
    c.eq("line", f.line.as_deref());
    c.eq("queue", f.queue.as_deref());
    c.eq("seat", f.seat.as_deref());
    c.eq("outcome", f.outcome.map(|o| o.as_str()));
    c.eq("class", f.class.map(|k| k.as_str()));
    c.eq("direction", f.direction.map(|d| d.as_str()));
    c.eq("ticket_id", f.ticket_id.as_deref());
    let sql = c.select(CALL_COLUMNS, "calls", "offered_at_ms DESC, id DESC");
    let limit = clamp_limit(f.limit, CALLS_DEFAULT_LIMIT, CALLS_MAX_LIMIT);
    let rows = c
        .bind(
            sqlx::query(AssertSqlSafe(sql)),
            limit,
            f.offset.unwrap_or(0),
        )
        .fetch_all(conn)
        .await
        .map_err(StoreError::query("list calls"))?;
    rows.iter().map(from_row).collect()
}

/// Reads one `calls` row selected with [`CALL_COLUMNS`].
pub(super) fn from_row(row: &AnyRow) -> Result<StoredCall, StoreError> {
    let q = || StoreError::query("read call row");
    let get_s = |col: &'static str| row.try_get::<String, _>(col).map_err(q());
    let get_os = |col: &'static str| row.try_get::<Option<String>, _>(col).map_err(q());
    let get_i = |col: &'static str| row.try_get::<i64, _>(col).map_err(q());
    let get_oi = |col: &'static str| row.try_get::<Option<i64>, _>(col).map_err(q());
    let id = get_s("id")?;
    let class = parse(&id, "class", get_s("class")?)?;
    let outcome = get_os("outcome")?
        .map(|v| parse(&id, "outcome", v))
        .transpose()?;
    let hangup_by = get_os("hangup_by")?
        .map(|v| parse(&id, "hangup_by", v))
        .transpose()?;
    let media = CallMedia {
        recording: recording(row, &id)?,
        recording_error: get_os("recording_error")?,
        media_stats: get_os("media_stats")?
            .map(|v| parse_json::<MediaStats>(&id, "media_stats", v))
            .transpose()?,
    };
    let record = CallRecord {
        sip_call_id: get_s("sip_call_id")?,
        line: get_s("line")?,
        tag: get_os("tag")?,
        class,
        caller: get_s("caller")?,
        queue: get_os("queue")?,
        seat: get_os("seat")?,
        offered_at_ms: get_i("offered_at_ms")?,
        answered_at_ms: get_oi("answered_at_ms")?,
        ended_at_ms: get_oi("ended_at_ms")?,
        outcome,
        hangup_by,
        reason: get_os("reason")?,
        wait_ms: get_i("wait_ms")?,
        talk_ms: get_i("talk_ms")?,
        survey: get_os("survey")?,
        anchored: get_i("anchored")? != 0,
        direction: parse(&id, "direction", get_s("direction")?)?,
        ticket: None,
        id,
    };
    let ticket_id = get_os("ticket_id")?;
    Ok(StoredCall {
        record,
        media,
        ticket_id,
    })
}

/// The recording columns of a row: all NULL, or all set.
fn recording(row: &AnyRow, id: &str) -> Result<Option<Recording>, StoreError> {
    let q = || StoreError::query("read call row");
    let Some(path) = row
        .try_get::<Option<String>, _>("recording_path")
        .map_err(q())?
    else {
        return Ok(None);
    };
    let missing = |column| StoreError::Corrupt {
        table: "calls",
        id: id.to_string(),
        column,
        value: "NULL".to_string(),
    };
    let count = |column: &'static str| -> Result<u64, StoreError> {
        let v = row
            .try_get::<Option<i64>, _>(column)
            .map_err(q())?
            .ok_or_else(|| missing(column))?;
        u64::try_from(v).map_err(|_| StoreError::Corrupt {
            table: "calls",
            id: id.to_string(),
            column,
            value: v.to_string(),
        })
    };
    Ok(Some(Recording {
        path,
        duration_ms: count("recording_duration_ms")?,
        size_bytes: count("recording_size")?,
        sha256: row
            .try_get::<Option<String>, _>("recording_sha256")
            .map_err(q())?
            .ok_or_else(|| missing("recording_sha256"))?,
        deleted_at_ms: row
            .try_get::<Option<i64>, _>("recording_deleted_at_ms")
            .map_err(q())?,
    }))
}

/// Parses a stored JSON value, naming the row and column if it is bad.
fn parse_json<T: serde::de::DeserializeOwned>(
    id: &str,
    column: &'static str,
    value: String,
) -> Result<T, StoreError> {
    serde_json::from_str(&value).map_err(|_| StoreError::Corrupt {
        table: "calls",
        id: id.to_string(),
        column,
        value,
    })
}

/// Parses a stored enum string, naming the row and column if it is bad.
fn parse<T: FromStr>(id: &str, column: &'static str, value: String) -> Result<T, StoreError> {
    value.parse().map_err(|_| StoreError::Corrupt {
        table: "calls",
        id: id.to_string(),
        column,
        value,
    })
}

/// Links call `id` to ticket `ticket` (or unlinks it with `None`);
/// returns whether there is such a call.
pub(super) async fn set_ticket(
    conn: &mut AnyConnection,
    id: &str,
    ticket: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE calls SET ticket_id = $1 WHERE id = $2")
        .bind(ticket)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
