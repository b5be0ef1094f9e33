//! Tests of the writer task on both backends: batching and coalescing,
//! flush, shutdown, and riding out an outage (the `calls` table renamed away
//! under it) without losing or duplicating anything it accepted.

use std::time::Duration;

use super::{answered, ended, event, get, offered, on_each_backend};
use crate::model::{EventKind, Outcome};
use crate::store::{EventFilter, StoreCmd, Writer, WriterConfig};

/// Quick retries, so an outage test does not take seconds.
fn quick(capacity: usize, max_batch: usize) -> WriterConfig {
    WriterConfig {
        capacity,
        max_batch,
        retry_min: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
    }
}

/// Waits up to 10 s for `cond`.
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn writer_batches_coalesces_and_flushes() {
    on_each_backend("writer_batches", |db| async move {
        let w = Writer::spawn_with(db.store.clone(), quick(10_000, 500));
        w.flush().await; // nothing queued: returns at once
        let offer = offered("c1", 1_000);
        let answer = answered(&offer, "8001", 2_000);
        let end = ended(&answer, Outcome::Answered, 9_000);
        // All of this is queued before the (current-thread) runtime lets the
        // task run: four writes of c1 coalesce to the ended one, even with
        // a late copy of the answer after it.
        for rec in [&offer, &answer, &end, &answer] {
            assert!(w.send(StoreCmd::Call(rec.clone())));
        }
        for i in 0..1_200 {
            assert!(w.send(StoreCmd::Event(event(i, "c1", EventKind::Ring))));
        }
        for id in ["c2", "c3", "c4"] {
            assert!(w.send(StoreCmd::Call(offered(id, 5_000))));
        }
        assert_eq!(w.pending(), 1_207);
        w.flush().await;

        let status = w.status();
        assert_eq!(
            (status.pending, status.degraded, status.dropped),
            (0, false, 0)
        );
        // 1204 distinct items in batches of at most 500.
        assert_eq!(status.batches, 3);
        assert_eq!(get(&db.store, "c1").await, end);
        assert_eq!(get(&db.store, "c4").await, offered("c4", 5_000));
        let f = EventFilter {
            limit: Some(5_000),
            ..Default::default()
        };
        let evs = db.store.list_events(&f).await.expect("list");
        assert_eq!(evs.len(), 1_200);
        assert!(evs.iter().enumerate().all(|(i, e)| e.at_ms == i as i64));
        w.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn writer_shutdown_drains_then_refuses_sends() {
    on_each_backend("writer_shutdown", |db| async move {
        let w = Writer::spawn(db.store.clone(), 100);
        let other = w.clone();
        assert!(w.send(StoreCmd::Call(offered("c1", 1))));
        assert!(other.send(StoreCmd::Event(event(1, "c1", EventKind::Enqueue))));
        w.shutdown().await;
        assert_eq!(w.pending(), 0);
        assert_eq!(get(&db.store, "c1").await, offered("c1", 1));
        assert!(!other.send(StoreCmd::Call(offered("c2", 2))));
        assert_eq!(w.dropped(), 1);
        other.flush().await; // the task is gone: returns at once
        assert_eq!(db.store.get_call("c2").await.expect("get"), None);
    })
    .await;
}

#[tokio::test]
async fn writer_survives_an_outage_without_losing_what_it_accepted() {
    on_each_backend("writer_outage", |db| async move {
        let s = db.store.clone();
        let w = Writer::spawn_with(s.clone(), quick(40, 8));
        let offer = offered("c1", 1_000);
        assert!(w.send(StoreCmd::Call(offer.clone())));
        w.flush().await;
        assert!(!w.degraded());

        // Outage: writes to `calls` fail until the table is back.
        db.exec("ALTER TABLE calls RENAME TO calls_offline").await;
        let end = ended(&offer, Outcome::Abandoned, 9_000);
        assert!(w.send(StoreCmd::Call(end.clone())));
        for i in 0..30 {
            assert!(w.send(StoreCmd::Event(event(1_000 + i, "c1", EventKind::Ring))));
        }
        wait_until("the writer reports degraded", || w.degraded()).await;
        assert_eq!(w.pending(), 31);
        // The failed batch held the call and events: none of its events were
        // committed without the call (one transaction), and no later batch
        // jumped ahead of it.
        assert_eq!(
            s.list_events(&EventFilter::default())
                .await
                .expect("list")
                .len(),
            0
        );

        // The backlog is bounded: 9 more fit, the rest are dropped and counted.
        let accepted = (0..20)
            .filter(|&i| w.send(StoreCmd::Event(event(2_000 + i, "c1", EventKind::NoAnswer))))
            .count();
        assert_eq!((accepted, w.dropped(), w.pending()), (9, 11, 40));

        // Recovery: everything accepted is written exactly once.
        db.exec("ALTER TABLE calls_offline RENAME TO calls").await;
        tokio::time::timeout(Duration::from_secs(20), w.flush())
            .await
            .expect("flush after recovery");
        assert!(!w.degraded());
        assert_eq!(w.pending(), 0);
        assert_eq!(get(&s, "c1").await, end);
        let evs = s.list_events(&EventFilter::default()).await.expect("list");
        assert_eq!(evs.len(), 39);
        let rings = evs.iter().filter(|e| e.kind == EventKind::Ring).count();
        assert_eq!(rings, 30);
        assert!(evs.windows(2).all(|p| p[0].at_ms < p[1].at_ms));
        w.shutdown().await;
    })
    .await;
}
