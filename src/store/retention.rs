//! Recording retention: which recordings have outlived their class's
//! retention period (a summary, and a walk in pages), and marking one
//! deleted once its file is gone. The file itself is the caller's to
//! remove (`crate::retention`, run by the server's hourly sweep and by
//! `hotline retention`); the record keeps the recording's metadata and
//! says when it was deleted.

use sqlx::{AnyConnection, Row};

/// Up to `limit` recordings of `class` whose call ended before
/// `cutoff_ms` and that are not deleted yet: (call id, path relative to
/// the class's root).
pub(super) async fn expired(
    conn: &mut AnyConnection,
    class: &str,
    cutoff_ms: i64,
    limit: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, recording_path FROM calls WHERE class = $1 AND recording_path IS NOT NULL \
         AND recording_deleted_at_ms IS NULL AND ended_at_ms < $2 ORDER BY ended_at_ms LIMIT $3",
    )
    .bind(class)
    .bind(cutoff_ms)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("recording_path")?)))
        .collect()
}

/// Call `id`'s recording was deleted at `at_ms`.
pub(super) async fn mark_deleted(
    conn: &mut AnyConnection,
    id: &str,
    at_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE calls SET recording_deleted_at_ms = $1 WHERE id = $2 AND recording_deleted_at_ms IS NULL")
        .bind(at_ms)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// One recording past its retention period, as the sweep walks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredRecording {
    /// The call's id.
    pub id: String,
    /// Relative to its class's recordings root.
    pub path: String,
    /// When the call ended (the sweep walks them by this, then by id).
    pub ended_at_ms: i64,
    /// The size on the record, in bytes.
    pub size_bytes: u64,
}

/// What a sweep of one class will find: how many recordings, the end
/// times of the oldest and newest call, and their size on the records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiredSummary {
    pub count: u64,
    pub oldest_ended_ms: Option<i64>,
    pub newest_ended_ms: Option<i64>,
    pub bytes: u64,
}

/// The condition shared by the queries below ($1 class, $2 cutoff).
const EXPIRED: &str = "class = $1 AND recording_path IS NOT NULL \
     AND recording_deleted_at_ms IS NULL AND ended_at_ms < $2";

/// The summary of the recordings [`page`] would walk.
pub(super) async fn summary(
    conn: &mut AnyConnection,
    class: &str,
    cutoff_ms: i64,
) -> Result<ExpiredSummary, sqlx::Error> {
    let sql = format!(
        "SELECT COUNT(*) AS n, MIN(ended_at_ms) AS oldest, MAX(ended_at_ms) AS newest, \
         CAST(COALESCE(SUM(recording_size), 0) AS BIGINT) AS bytes FROM calls WHERE {EXPIRED}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(class)
        .bind(cutoff_ms)
        .fetch_one(conn)
        .await?;
    Ok(ExpiredSummary {
        count: u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0),
        oldest_ended_ms: row.try_get("oldest")?,
        newest_ended_ms: row.try_get("newest")?,
        bytes: u64::try_from(row.try_get::<i64, _>("bytes")?).unwrap_or(0),
    })
}

/// Up to `limit` recordings of `class` whose call ended before
/// `cutoff_ms`, not deleted yet, in (end time, id) order after `after`
/// (from the first without): a walk that a recording left in place (its
/// file could not be removed, or a dry run) does not hold up.
pub(super) async fn page(
    conn: &mut AnyConnection,
    class: &str,
    cutoff_ms: i64,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<ExpiredRecording>, sqlx::Error> {
    let (after_ms, after_id) = after.unwrap_or((i64::MIN, ""));
    let sql = format!(
        "SELECT id, recording_path, ended_at_ms, recording_size FROM calls WHERE {EXPIRED} \
         AND (ended_at_ms > $3 OR (ended_at_ms = $3 AND id > $4)) \
         ORDER BY ended_at_ms, id LIMIT $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(class)
        .bind(cutoff_ms)
        .bind(after_ms)
        .bind(after_id)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ExpiredRecording {
                id: r.try_get("id")?,
                path: r.try_get("recording_path")?,
                ended_at_ms: r.try_get("ended_at_ms")?,
                size_bytes: r
                    .try_get::<Option<i64>, _>("recording_size")?
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
            })
        })
        .collect()
}
