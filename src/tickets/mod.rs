//! The ticket system (工单) integration: call events pushed to it, each
//! exactly once from its point of view, whatever it and hotline go
//! through.
//!
//! ```text
//!  store transaction ──▶ outbox row (call.answered / call.ended)
//!                           │ worker: claim (lease), oldest first, a call's events in order
//!                           ▼
//!  POST tickets.url  Idempotency-Key: <event id>
//!                    X-Hotline-Timestamp, X-Hotline-Signature: v1=HMAC-SHA256(secret, "<ts>.<body>")
//!       2xx ─▶ delivered (a "ticket_id" in the answer goes on the call)
//!       5xx, 408, 429, timeout, refused ─▶ again after a backoff with jitter ─▶ dead after max_attempts
//!       other 4xx ─▶ dead at once (the receiver will not change its mind: wrong secret, bad request)
//! ```
//!
//! `policy.rs` is the sans-IO part (backoff, signature, what an answer
//! means), `payload.rs` the versioned JSON (docs/events.md), `worker.rs`
//! the tokio task.

pub mod payload;
pub mod policy;
pub mod worker;

pub use worker::{Worker, WorkerConfig};
