//! The writer task: takes call records and queue events from the SIP engine
//! and the ACD without ever making them wait, and writes them in batches,
//! one transaction each, riding out database outages.
//!
//! ```text
//!  send() ──▶ backlog (≤ capacity items; beyond: dropped, counted, logged)
//!               │ recv what is queued, up to max_batch or a flush barrier
//!               ▼
//!            batch (updates of one call id coalesced to the last;
//!                   media for one call id merged)
//!               │ write_batch() ── error ──▶ degraded; sleep, back off, retry
//!               ▼ ok                          (nothing is taken out of the batch)
//!            committed; degraded cleared; flush() callers released
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::Store;
use crate::model::{CallMedia, CallRecord, QueueEvent};

mod batch;
use batch::Batch;

/// Something to persist.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreCmd {
    /// A call record at offer, answer or end (upserted by id).
    Call(CallRecord),
    /// The recording and media statistics of call `id`, known once its
    /// media stopped (usually after the end was written): attached to the
    /// record without changing it (see [`Store::attach_call_media`]).
    CallMedia { id: String, media: CallMedia },
    /// A queue or agent event (appended).
    Event(QueueEvent),
}

/// How the writer batches and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// Most items (records, media and events) held in memory awaiting commit,
    /// e.g. through a database outage; sends beyond it are dropped.
    pub capacity: usize,
    /// Most items written in one transaction.
    pub max_batch: usize,
    /// First wait before retrying a failed batch; doubles each failure...
    pub retry_min: Duration,
    /// ...up to this.
    pub retry_max: Duration,
}

impl WriterConfig {
    /// Defaults for a backlog of `capacity` items: batches of 500, retries
    /// from 200 ms backing off to 10 s.
    pub fn new(capacity: usize) -> WriterConfig {
        WriterConfig {
            capacity,
            max_batch: 500,
            retry_min: Duration::from_millis(200),
            retry_max: Duration::from_secs(10),
        }
    }
}

/// The writer's state for the health endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WriterStatus {
    /// The last write failed; the writer is retrying.
    pub degraded: bool,
    /// Items sent but not yet committed.
    pub pending: usize,
    /// Items dropped since start because the backlog was full or the
    /// writer had stopped.
    pub dropped: u64,
    /// Transactions committed since start.
    pub batches: u64,
}

/// What the handle sends the task.
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every message is a Cmd; boxing would only add an allocation per send"
)]
enum Msg {
    Cmd(StoreCmd),
    /// Reply once everything received before this is committed.
    Flush(oneshot::Sender<()>),
    /// Stop taking sends, commit everything received, then reply.
    Shutdown(oneshot::Sender<()>),
}

/// Counters shared by the handles and the task.
#[derive(Debug, Default)]
struct Shared {
    pending: AtomicUsize,
    degraded: AtomicBool,
    dropped: AtomicU64,
    batches: AtomicU64,
}

/// Spawns the writer task.
pub struct Writer;

impl Writer {
    /// Spawns the writer on the current tokio runtime with
    /// [`WriterConfig::new`]`(capacity)`.
    pub fn spawn(store: Store, capacity: usize) -> WriterHandle {
        Writer::spawn_with(store, WriterConfig::new(capacity))
    }

    /// Spawns the writer on the current tokio runtime.
    pub fn spawn_with(store: Store, cfg: WriterConfig) -> WriterHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let handle = WriterHandle {
            tx,
            shared: Arc::clone(&shared),
            capacity: cfg.capacity,
        };
        let task = Task {
            store,
            cfg,
            shared,
            rx,
            batch: Batch::default(),
            flushes: Vec::new(),
            done: Vec::new(),
        };
        tokio::spawn(task.run());
        handle
    }
}

/// Sends work to the writer task. Cheap to clone; every clone feeds the same
/// task.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    tx: mpsc::UnboundedSender<Msg>,
    shared: Arc<Shared>,
    capacity: usize,
}

impl WriterHandle {
    /// Queues `cmd` for writing and returns at once, without waiting for
    /// the database. Returns `false` if it was dropped instead (backlog
    /// full, or the writer has shut down); drops are counted and logged.
    pub fn send(&self, cmd: StoreCmd) -> bool {
        let held = self.shared.pending.fetch_add(1, Ordering::AcqRel);
        if held >= self.capacity {
            self.shared.pending.fetch_sub(1, Ordering::AcqRel);
            self.count_drop(
                &cmd,
                "backlog full: the database has been unavailable too long or is too slow",
            );
            return false;
        }
        if let Err(mpsc::error::SendError(Msg::Cmd(cmd))) = self.tx.send(Msg::Cmd(cmd)) {
            self.shared.pending.fetch_sub(1, Ordering::AcqRel);
            self.count_drop(&cmd, "the writer has shut down");
            return false;
        }
        true
    }

    /// Returns once everything sent before this call is committed (or the
    /// writer has stopped). Waits through an outage: bound it with
    /// `tokio::time::timeout` where that matters.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Stops the writer: later sends are dropped, everything sent before is
    /// committed, then this returns. Waits through an outage: bound it with
    /// `tokio::time::timeout` where that matters.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Whether the last write failed and the writer is retrying.
    pub fn degraded(&self) -> bool {
        self.shared.degraded.load(Ordering::Acquire)
    }

    /// Items sent but not yet committed.
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::Acquire)
    }

    /// Items dropped since start.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Acquire)
    }

    /// All of the above, and the number of committed batches.
    pub fn status(&self) -> WriterStatus {
        WriterStatus {
            degraded: self.degraded(),
            pending: self.pending(),
            dropped: self.dropped(),
            batches: self.shared.batches.load(Ordering::Acquire),
        }
    }

    /// Counts a drop; logs the first and every thousandth.
    fn count_drop(&self, cmd: &StoreCmd, why: &str) {
        let n = self.shared.dropped.fetch_add(1, Ordering::AcqRel) + 1;
        if n == 1 || n.is_multiple_of(1000) {
            let (kind, call_id) = match cmd {
                StoreCmd::Call(r) => ("call record", Some(r.id.as_str())),
                StoreCmd::CallMedia { id, .. } => ("call media", Some(id.as_str())),
                StoreCmd::Event(e) => ("queue event", e.call_id.as_deref()),
            };
            tracing::error!(
                dropped_total = n,
                capacity = self.capacity,
                kind,
                call_id,
                "STORE WRITER DROPPING DATA: {why}; check the database (see the health endpoint)"
            );
        }
    }
}

/// The writer task's state.
struct Task {
    store: Store,
    cfg: WriterConfig,
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Msg>,
    batch: Batch,
    /// Flush callers to release once the current batch is committed.
    flushes: Vec<oneshot::Sender<()>>,
    /// Shutdown callers to release when the task ends.
    done: Vec<oneshot::Sender<()>>,
}

impl Task {
    async fn run(mut self) {
        while let Some(msg) = self.rx.recv().await {
            self.accept(msg);
            // Take whatever else is queued, up to a full batch; a flush is a
            // barrier: what comes after it waits for the next batch.
            while self.flushes.is_empty() && self.batch.len() < self.cfg.max_batch.max(1) {
                match self.rx.try_recv() {
                    Ok(msg) => self.accept(msg),
                    Err(_) => break,
                }
            }
            self.commit().await;
            for f in self.flushes.drain(..) {
                let _ = f.send(());
            }
        }
        // Every handle is gone or shutdown closed the channel, and all that
        // was received is committed.
        tracing::info!(
            dropped = self.shared.dropped.load(Ordering::Acquire),
            "store writer stopped"
        );
        for d in self.done.drain(..) {
            let _ = d.send(());
        }
    }

    fn accept(&mut self, msg: Msg) {
        match msg {
            Msg::Cmd(cmd) => {
                if self.batch.push(cmd) {
                    self.shared.pending.fetch_sub(1, Ordering::AcqRel);
                }
            }
            Msg::Flush(reply) => self.flushes.push(reply),
            Msg::Shutdown(reply) => {
                self.rx.close();
                self.done.push(reply);
            }
        }
    }

    /// Writes the batch in one transaction, retrying with backoff until it
    /// is committed. Nothing leaves the batch until then.
    async fn commit(&mut self) {
        let mut delay = self.cfg.retry_min;
        let mut failures = 0u32;
        while self.batch.len() > 0 {
            match self
                .store
                .write_batch(&self.batch.calls, &self.batch.media, &self.batch.events)
                .await
            {
                Ok(()) => {
                    self.shared
                        .pending
                        .fetch_sub(self.batch.len(), Ordering::AcqRel);
                    self.shared.batches.fetch_add(1, Ordering::AcqRel);
                    self.batch.clear();
                    if self.shared.degraded.swap(false, Ordering::AcqRel) {
                        tracing::info!(
                            failures,
                            "store writer recovered: the database accepts writes again"
                        );
                    }
                }
                Err(error) => {
                    failures += 1;
                    let pending = self.shared.pending.load(Ordering::Acquire);
                    if !self.shared.degraded.swap(true, Ordering::AcqRel) {
                        tracing::error!(%error, pending, "STORE WRITER DEGRADED: cannot write call records; holding them in memory and retrying");
                    } else {
                        tracing::warn!(%error, pending, failures, retry_in_ms = delay.as_millis() as u64, "store writer still failing");
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.cfg.retry_max.max(self.cfg.retry_min));
                }
            }
        }
    }
}
