//! Tests of the store. Every test body is written once and run against each
//! available backend by [`on_each_backend`]: SQLite (a file in a temporary
//! directory) always, and PostgreSQL when `HOTLINE_TEST_PG_URL` names a
//! server, each test in a schema of its own that is dropped afterwards.
//! The tests themselves are in `tests/calls.rs`, `tests/events.rs`,
//! `tests/media.rs` and `tests/writer.rs`; here are the harness, the
//! fixtures and the connect tests.

mod calls;
mod events;
mod media;
mod outbox;
mod reports;
mod retention;
mod writer;

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::AssertSqlSafe;

use super::Store;
use crate::model::{CallRecord, EventKind, HangupBy, LineClass, Outcome, QueueEvent, StoredCall};

/// The environment variable naming the PostgreSQL server to test against.
pub(super) const PG_ENV: &str = "HOTLINE_TEST_PG_URL";

/// One backend's fresh database, handed to a test body.
#[derive(Debug, Clone)]
pub(super) struct TestDb {
    pub store: Store,
    pub url: String,
    pub schema: Option<String>,
}

impl TestDb {
    /// A second, independent connection to the same database (and schema).
    pub(super) async fn reopen(&self) -> Store {
        Store::connect_with_schema(&self.url, self.schema.as_deref())
            .await
            .unwrap_or_else(|e| panic!("reopen {}: {e}", self.url))
    }

    /// Runs one statement (test set-up the store API does not offer).
    pub(super) async fn exec(&self, sql: &str) {
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(self.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// The PostgreSQL URL to test against, or `None` after saying loudly that
/// the PostgreSQL run of `test` is skipped.
pub(super) fn pg_url(test: &str) -> Option<String> {
    match std::env::var(PG_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            // Straight to stderr, past the test harness's output capture.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {PG_ENV} not set; {test} ran on SQLite only, not on PostgreSQL"
            );
            None
        }
    }
}

/// A schema name no other test (or test run) uses.
fn unique_schema(test: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let short: String = test.chars().take(28).collect();
    format!("ht_{short}_{}_{nanos}_{seq}", std::process::id())
}

/// Runs `body` against a fresh SQLite database, then against a fresh
/// PostgreSQL schema if [`PG_ENV`] is set. A failure names the backend.
pub(super) async fn on_each_backend<F, Fut>(test: &str, body: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("create temp dir");
    let url = format!("sqlite://{}", dir.path().join("hotline.db").display());
    let store = Store::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let outcome = tokio::spawn(body(TestDb {
        store: store.clone(),
        url,
        schema: None,
    }))
    .await;
    store.close().await;
    rethrow(test, "SQLite", outcome);

    let Some(url) = pg_url(test) else { return };
    let schema = unique_schema(test);
    let store = Store::connect_with_schema(&url, Some(&schema))
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV}={url}: {e}"));
    let db = TestDb {
        store: store.clone(),
        url,
        schema: Some(schema.clone()),
    };
    let outcome = tokio::spawn(body(db.clone())).await;
    db.exec(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
    store.close().await;
    rethrow(test, "PostgreSQL", outcome);
}

/// Re-raises a test body's panic, saying which backend it failed on.
fn rethrow(test: &str, backend: &str, outcome: Result<(), tokio::task::JoinError>) {
    if let Err(e) = outcome {
        eprintln!("{test} FAILED on {backend}");
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("{test} on {backend}: {e}");
    }
}

/// A call offered at `offered` on line 12345, not yet answered.
pub(super) fn offered(id: &str, offered: i64) -> CallRecord {
    CallRecord {
        id: id.to_string(),
        sip_call_id: format!("sip-{id}"),
        line: "12345".to_string(),
        tag: None,
        class: LineClass::NonEmergency,
        caller: "13800000000".to_string(),
        queue: Some("general".to_string()),
        seat: None,
        offered_at_ms: offered,
        answered_at_ms: None,
        ended_at_ms: None,
        outcome: None,
        hangup_by: None,
        reason: None,
        wait_ms: 0,
        talk_ms: 0,
        survey: None,
        anchored: false,
        direction: Default::default(),
        ticket: None,
        parent_id: None,
    }
}

/// `rec` answered by `seat` at `at`.
pub(super) fn answered(rec: &CallRecord, seat: &str, at: i64) -> CallRecord {
    CallRecord {
        seat: Some(seat.to_string()),
        answered_at_ms: Some(at),
        wait_ms: at - rec.offered_at_ms,
        ..rec.clone()
    }
}

/// `rec` ended at `at` with `outcome`.
pub(super) fn ended(rec: &CallRecord, outcome: Outcome, at: i64) -> CallRecord {
    let (wait_ms, talk_ms) = match rec.answered_at_ms {
        Some(a) => (a - rec.offered_at_ms, at - a),
        None => (at - rec.offered_at_ms, 0),
    };
    CallRecord {
        ended_at_ms: Some(at),
        outcome: Some(outcome),
        hangup_by: rec.answered_at_ms.map(|_| HangupBy::Caller),
        reason: Some("BYE".to_string()),
        wait_ms,
        talk_ms,
        ..rec.clone()
    }
}

/// A queue event for `call_id` in queue `general`.
pub(super) fn event(at: i64, call_id: &str, kind: EventKind) -> QueueEvent {
    QueueEvent {
        at_ms: at,
        call_id: Some(call_id.to_string()),
        queue: Some("general".to_string()),
        seat: None,
        kind,
        detail: None,
    }
}

/// The stored record of call `id`, which must exist.
async fn get(store: &Store, id: &str) -> CallRecord {
    get_stored(store, id).await.record
}

/// The stored record of call `id` with its media, which must exist.
async fn get_stored(store: &Store, id: &str) -> StoredCall {
    match store.get_call(id).await {
        Ok(Some(rec)) => rec,
        other => panic!("get_call({id}) = {other:?}"),
    }
}

#[tokio::test]
async fn reopening_keeps_data_and_migrations_are_idempotent() {
    on_each_backend("reopen", |db| async move {
        db.store
            .upsert_call(&offered("c1", 1))
            .await
            .expect("upsert");
        let again = db.reopen().await;
        assert_eq!(again.backend(), db.store.backend());
        assert_eq!(get(&again, "c1").await, offered("c1", 1));
        again.close().await;
    })
    .await;
}

#[tokio::test]
async fn connect_errors_say_what_to_do() {
    let msg =
        |r: Result<Store, super::StoreError>| r.err().map(|e| e.to_string()).unwrap_or_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/missing/hotline.db", dir.path().display());
    let m = msg(Store::connect(&url).await);
    assert!(
        m.contains("does not exist; create it or change [store] url"),
        "{m}"
    );
    let m = msg(Store::connect("mysql://root@localhost/hotline").await);
    assert!(m.contains("use sqlite://PATH or postgres://"), "{m}");

    let Some(pg) = pg_url("connect_errors_say_what_to_do") else {
        return;
    };
    let m = msg(Store::connect_with_schema(&pg, Some("no good")).await);
    assert!(m.contains("[store] schema"), "{m}");
    let base = pg.split('?').next().unwrap_or(&pg);
    let missing = format!(
        "{}/hotline_no_such_db",
        &base[..base.rfind('/').unwrap_or(base.len())]
    );
    let m = msg(Store::connect(&missing).await);
    assert!(m.contains("createdb"), "{m}");
}
