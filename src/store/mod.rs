//! Call records and the queue/agent event log, persisted in SQLite (the
//! default, one local file in WAL mode) or PostgreSQL (production).
//!
//! ```text
//!  SIP engine / ACD ──send()──▶ WriterHandle ──mpsc──▶ writer task ──write_batch()──▶ Store
//!  media task (after the call)    (bounded backlog,      (batches, coalesces,          (one
//!    (never waits)                 counts drops)          retries with backoff)         transaction)
//!  HTTP API ─────────────────── get_call / list_calls / list_events ──────────────────▶ Store
//! ```
//!
//! A call's row has two writers that never overwrite each other: the
//! engine's record ([`StoreCmd::Call`], upserted at offer, answer and end)
//! and the media attached after the call ended ([`StoreCmd::CallMedia`]:
//! recording and RTP statistics, set without touching the record). Reads
//! return both as a [`StoredCall`].
//!
//! The same transactions add the ticket system's events to the outbox
//! (`outbox.rs`): `call.answered` with the answered record, `call.ended`
//! once the record is final and its media attached.
//!
//! One code path serves both backends: queries go through sqlx's `Any`
//! driver with `$n` placeholders and SQL that SQLite and PostgreSQL both
//! accept. Each backend has its own migrations (`migrations/sqlite/`,
//! `migrations/postgres/`) creating the same tables, run on connect.

mod calls;
mod connect;
mod error;
mod events;
mod filter;
pub mod outbox;
mod recovery;
mod retention;
mod writer;

#[cfg(test)]
mod tests;

use sqlx::{AnyPool, Connection};

pub use connect::Backend;
pub use error::{StoreError, redact_url};
pub use events::RecordingAccess;
pub use filter::{
    CALLS_DEFAULT_LIMIT, CALLS_MAX_LIMIT, CallFilter, EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT,
    EventFilter,
};
pub use writer::{StoreCmd, Writer, WriterConfig, WriterHandle, WriterStatus};

use crate::model::{CallMedia, CallRecord, Outcome, QueueEvent, StoredCall};

/// A handle on the call store: a connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens `url` (`sqlite://PATH` or `postgres://USER@HOST/DB`) and applies
    /// the migrations. A SQLite file is created if missing (its directory is
    /// not) and put in WAL mode with a busy timeout.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with_schema(url, None).await
    }

    /// As [`Store::connect`], but on PostgreSQL keeps the tables in `schema`
    /// (created if missing; every connection's `search_path` is set to it).
    /// Ignored, with a warning, for SQLite.
    pub async fn connect_with_schema(url: &str, schema: Option<&str>) -> Result<Store, StoreError> {
        let (pool, backend) = connect::open(url, schema, None).await?;
        Ok(Store { pool, backend })
    }

    /// As [`Store::connect_with_schema`], but migrates only up to (and
    /// including) migration `version`: a database as an older hotline left
    /// it, to test the later migrations on.
    #[cfg(test)]
    pub(crate) async fn connect_at_version(
        url: &str,
        schema: Option<&str>,
        version: i64,
    ) -> Result<Store, StoreError> {
        let (pool, backend) = connect::open(url, schema, Some(version)).await?;
        Ok(Store { pool, backend })
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for queries this module does not offer.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Checks that the database answers (for the health endpoint).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.ping().await.map_err(StoreError::query("ping"))
    }

    /// Inserts `rec`, or replaces the stored record with the same id: the
    /// last write wins, except that a record that has ended is never
    /// reopened by a late write of an earlier state (one without
    /// `ended_at_ms`). An ended `overflowed` record is not final and is
    /// replaced by the overflow queue's record. Media attached with
    /// [`Store::attach_call_media`] is kept as it is.
    pub async fn upsert_call(&self, rec: &CallRecord) -> Result<(), StoreError> {
        self.write_batch(std::slice::from_ref(rec), &[], &[]).await
    }

    /// Attaches `media` (recording, recording error, RTP statistics) to the
    /// record of call `id`, ended or not, changing nothing else in it: each
    /// part given replaces the stored one, each part left `None` keeps it.
    /// Returns whether there is a record with that id (if not, nothing is
    /// stored).
    pub async fn attach_call_media(&self, id: &str, media: &CallMedia) -> Result<bool, StoreError> {
        let q = StoreError::query;
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(q("begin"))?;
        let found = calls::attach_media(&mut tx, id, media)
            .await
            .map_err(q("attach call media"))?;
        if found {
            outbox::ended_if_complete(&mut tx, id)
                .await
                .map_err(q("add call.ended"))?;
        }
        tx.commit().await.map_err(q("commit"))?;
        Ok(found)
    }

    /// At start, after [`Store::close_interrupted`] and the repair of
    /// unfinished recordings: `call.ended` for every anchored call whose
    /// media will never come. Returns how many events were added.
    pub async fn add_missing_call_ended(&self) -> Result<u64, StoreError> {
        outbox::ended_for_all_final(&mut *self.conn().await?)
            .await
            .map_err(StoreError::query("add missing call.ended"))
    }

    /// Appends `evs` in one transaction.
    pub async fn insert_events(&self, evs: &[QueueEvent]) -> Result<(), StoreError> {
        self.write_batch(&[], &[], evs).await
    }

    /// Upserts `calls` (in order, as [`Store::upsert_call`]), attaches
    /// `media` (pairs of call id and media, in order, as
    /// [`Store::attach_call_media`]) and appends `events`, all in one
    /// transaction: all of it is stored or none. As upserts never touch the
    /// media columns, media attached to a call whose record is in `calls`
    /// lands whatever order the two were sent in. Media for a call with no
    /// record is logged and skipped.
    pub async fn write_batch(
        &self,
        calls: &[CallRecord],
        media: &[(String, CallMedia)],
        events: &[QueueEvent],
    ) -> Result<(), StoreError> {
        if calls.is_empty() && media.is_empty() && events.is_empty() {
            return Ok(());
        }
        let q = StoreError::query;
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(q("begin batch"))?;
        for rec in calls {
            calls::upsert(&mut tx, rec)
                .await
                .map_err(q("upsert call"))?;
            // The ticket system's events, in the same transaction.
            if let Some(at) = rec.answered_at_ms {
                outbox::add(&mut tx, &rec.id, outbox::EventKind::CallAnswered, at)
                    .await
                    .map_err(q("add call.answered"))?;
            }
            if let Some(at) = rec
                .ended_at_ms
                .filter(|_| !rec.anchored && rec.outcome != Some(Outcome::Overflowed))
            {
                outbox::add(&mut tx, &rec.id, outbox::EventKind::CallEnded, at)
                    .await
                    .map_err(q("add call.ended"))?;
            }
        }
        for (id, m) in media {
            let found = calls::attach_media(&mut tx, id, m)
                .await
                .map_err(q("attach call media"))?;
            if !found {
                tracing::warn!(call_id = %id, "no call record to attach the recording and media statistics to; skipped");
                continue;
            }
            outbox::ended_if_complete(&mut tx, id)
                .await
                .map_err(q("add call.ended"))?;
        }
        events::insert_all(&mut tx, events)
            .await
            .map_err(q("insert event"))?;
        tx.commit().await.map_err(q("commit batch"))
    }

    /// The record of call `id`, with its media, if stored.
    pub async fn get_call(&self, id: &str) -> Result<Option<StoredCall>, StoreError> {
        calls::get(&mut *self.conn().await?, id).await
    }

    /// Records matching `f`, with their media, newest `offered_at_ms` first.
    pub async fn list_calls(&self, f: &CallFilter) -> Result<Vec<StoredCall>, StoreError> {
        calls::list(&mut *self.conn().await?, f).await
    }

    /// Events matching `f`, oldest first (ties in insertion order).
    pub async fn list_events(&self, f: &EventFilter) -> Result<Vec<QueueEvent>, StoreError> {
        events::list(&mut *self.conn().await?, f).await
    }

    /// Closes every record left open by a crash or kill: `ended_at_ms` is
    /// the latest event logged for the call (else `now_ms`, and never before
    /// the offer or answer); outcome `answered` with `hangup_by = system` if
    /// it was answered, else `failed`; `reason` as given (hotline passes
    /// `"interrupted"`); wait and talk recomputed. Returns how many were
    /// closed. Call at start, before the writer task runs.
    pub async fn close_interrupted(&self, now_ms: i64, reason: &str) -> Result<u64, StoreError> {
        recovery::close_interrupted(&mut *self.conn().await?, now_ms, reason).await
    }

    /// Writes one recording download to the audit log (before the file is
    /// served: a download that is not logged does not happen).
    pub async fn log_recording_access(
        &self,
        access: &events::RecordingAccess,
    ) -> Result<(), StoreError> {
        events::insert_access(&mut *self.conn().await?, access)
            .await
            .map_err(StoreError::query("log recording access"))
    }

    /// The downloads of call `call_id`'s recording, oldest first.
    pub async fn recording_accesses(
        &self,
        call_id: &str,
    ) -> Result<Vec<events::RecordingAccess>, StoreError> {
        events::list_access(&mut *self.conn().await?, call_id)
            .await
            .map_err(StoreError::query("list recording accesses"))
    }

    /// Links call `id` to ticket `ticket_id` (`None` unlinks); false if
    /// there is no such call.
    /// Recordings of `class` whose call ended before `cutoff_ms`, not yet
    /// deleted: (call id, path), oldest first, at most `limit`.
    pub async fn expired_recordings(
        &self,
        class: crate::model::LineClass,
        cutoff_ms: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        retention::expired(&mut *self.conn().await?, class.as_str(), cutoff_ms, limit)
            .await
            .map_err(StoreError::query("list expired recordings"))
    }

    /// Call `id`'s recording file was deleted at `at_ms` (retention).
    pub async fn mark_recording_deleted(&self, id: &str, at_ms: i64) -> Result<(), StoreError> {
        retention::mark_deleted(&mut *self.conn().await?, id, at_ms)
            .await
            .map_err(StoreError::query("mark recording deleted"))
    }

    pub async fn set_call_ticket(
        &self,
        id: &str,
        ticket_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        calls::set_ticket(&mut *self.conn().await?, id, ticket_id)
            .await
            .map_err(StoreError::query("set call ticket"))
    }

    /// Ticket-system events in `state` (all if `None`), oldest first.
    pub async fn list_outbox(
        &self,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<outbox::OutboxEvent>, StoreError> {
        outbox::list(&mut *self.conn().await?, state, limit)
            .await
            .map_err(StoreError::query("list outbox"))
    }

    /// Takes up to `limit` due events for `owner` (see [`outbox::claim`]).
    /// Only events of `sink` (`tickets` or `emergency`).
    pub async fn claim_outbox(
        &self,
        owner: &str,
        sink: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<outbox::OutboxEvent>, StoreError> {
        outbox::claim(
            &mut *self.conn().await?,
            owner,
            sink,
            now_ms,
            now_ms + lease_ms,
            limit,
        )
        .await
        .map_err(StoreError::query("claim outbox events"))
    }

    /// Event `id` was delivered (and the ticket system named `ticket_id`).
    pub async fn outbox_delivered(
        &self,
        id: &str,
        owner: &str,
        now_ms: i64,
        ticket_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let q = StoreError::query;
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(q("begin"))?;
        let held = outbox::delivered(&mut tx, id, owner, now_ms, ticket_id)
            .await
            .map_err(q("mark delivered"))?;
        tx.commit().await.map_err(q("commit"))?;
        Ok(held)
    }

    /// An attempt at event `id` failed: retry at `next_at_ms`, or dead.
    pub async fn outbox_failed(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        next_at_ms: i64,
        dead: bool,
    ) -> Result<bool, StoreError> {
        outbox::failed(&mut *self.conn().await?, id, owner, error, next_at_ms, dead)
            .await
            .map_err(StoreError::query("mark failed"))
    }

    /// Puts dead event `id` back in line; false if there is no such dead event.
    pub async fn outbox_replay(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        outbox::replay(&mut *self.conn().await?, id, now_ms)
            .await
            .map_err(StoreError::query("replay event"))
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, StoreError> {
        self.pool
            .acquire()
            .await
            .map_err(StoreError::query("acquire connection"))
    }
}
