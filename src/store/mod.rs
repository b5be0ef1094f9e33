//! Call records and the queue/agent event log, persisted in SQLite (the
//! default, one local file in WAL mode) or PostgreSQL (production).
//!
//! ```text
//!  SIP engine / ACD ──send()──▶ WriterHandle ──mpsc──▶ writer task ──write_batch()──▶ Store
//!    (never waits)                (bounded backlog,      (batches, coalesces,          (one
//!                                  counts drops)          retries with backoff)         transaction)
//!  HTTP API ─────────────────── get_call / list_calls / list_events ──────────────────▶ Store
//! ```
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
mod recovery;
mod writer;

#[cfg(test)]
mod tests;

use sqlx::{AnyPool, Connection};

pub use connect::Backend;
pub use error::{StoreError, redact_url};
pub use filter::{
    CALLS_DEFAULT_LIMIT, CALLS_MAX_LIMIT, CallFilter, EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT,
    EventFilter,
};
pub use writer::{StoreCmd, Writer, WriterConfig, WriterHandle, WriterStatus};

use crate::model::{CallRecord, QueueEvent};

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
        let (pool, backend) = connect::open(url, schema).await?;
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
    /// replaced by the overflow queue's record.
    pub async fn upsert_call(&self, rec: &CallRecord) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        calls::upsert(&mut conn, rec)
            .await
            .map_err(StoreError::query("upsert call"))
    }

    /// Appends `evs` in one transaction.
    pub async fn insert_events(&self, evs: &[QueueEvent]) -> Result<(), StoreError> {
        self.write_batch(&[], evs).await
    }

    /// Upserts `calls` (in order, as [`Store::upsert_call`]) and appends
    /// `events`, all in one transaction: all of it is stored or none.
    pub async fn write_batch(
        &self,
        calls: &[CallRecord],
        events: &[QueueEvent],
    ) -> Result<(), StoreError> {
        if calls.is_empty() && events.is_empty() {
            return Ok(());
        }
        let q = StoreError::query;
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(q("begin batch"))?;
        for rec in calls {
            calls::upsert(&mut tx, rec)
                .await
                .map_err(q("upsert call"))?;
        }
        for ev in events {
            events::insert(&mut tx, ev)
                .await
                .map_err(q("insert event"))?;
        }
        tx.commit().await.map_err(q("commit batch"))
    }

    /// The record of call `id`, if stored.
    pub async fn get_call(&self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        calls::get(&mut *self.conn().await?, id).await
    }

    /// Records matching `f`, newest `offered_at_ms` first.
    pub async fn list_calls(&self, f: &CallFilter) -> Result<Vec<CallRecord>, StoreError> {
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
