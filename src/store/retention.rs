//! Recording retention: which recordings have outlived their class's
//! retention period, and marking one deleted once its file is gone. The
//! file itself is the caller's to remove (the server's sweep task); the
//! record keeps the recording's metadata and says when it was deleted.

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
