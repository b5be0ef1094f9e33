//! Tests of the `calls` table on both backends: the upsert rule, listing
//! with filters, order and paging, and closing interrupted calls.

use super::{answered, ended, event, get, offered, on_each_backend};
use crate::model::{CallRecord, EventKind, HangupBy, LineClass, Outcome, StoredCall};
use crate::store::CallFilter;

#[tokio::test]
async fn upsert_last_write_wins_but_an_ended_call_is_never_reopened() {
    on_each_backend("upsert_order", |db| async move {
        let s = &db.store;
        let offer = offered("c1", 1_000);
        let answer = answered(&offer, "8001", 4_000);
        let end = ended(&answer, Outcome::Answered, 64_000);
        for rec in [&offer, &answer, &end] {
            s.upsert_call(rec).await.expect("upsert");
            assert_eq!(&get(s, "c1").await, rec);
        }
        // Late copies of earlier states do not reopen the ended record...
        s.upsert_call(&answer).await.expect("late answer");
        s.upsert_call(&offer).await.expect("late offer");
        assert_eq!(get(s, "c1").await, end);
        // ...but a later ended state replaces it.
        let corrected = CallRecord {
            reason: Some("corrected".into()),
            ..end.clone()
        };
        s.upsert_call(&corrected).await.expect("corrected end");
        assert_eq!(get(s, "c1").await, corrected);

        // An ended `overflowed` record is replaced by the overflow queue's.
        let first = ended(&offered("c2", 2_000), Outcome::Overflowed, 30_000);
        let next = CallRecord {
            queue: Some("overflow".into()),
            ..offered("c2", 2_000)
        };
        s.upsert_call(&first).await.expect("overflowed");
        s.upsert_call(&next).await.expect("overflow queue");
        assert_eq!(get(s, "c2").await, next);

        assert_eq!(s.get_call("nope").await.expect("get missing"), None);
        s.ping().await.expect("ping");
    })
    .await;
}

#[tokio::test]
async fn list_calls_filters_orders_and_pages() {
    on_each_backend("list_calls", |db| async move {
        let s = &db.store;
        let mut recs = Vec::new();
        for i in 0..10_i64 {
            let mut r = offered(&format!("c{i:02}"), 1_000 * i);
            r.line = if i % 2 == 0 { "12345" } else { "110" }.to_string();
            r.class = if i % 2 == 0 {
                LineClass::NonEmergency
            } else {
                LineClass::Emergency
            };
            r.queue = Some(if i < 5 { "general" } else { "elder" }.to_string());
            r = if i % 3 == 0 {
                ended(
                    &answered(&r, &format!("80{i:02}"), 1_000 * i + 500),
                    Outcome::Answered,
                    1_000 * i + 900,
                )
            } else {
                ended(&r, Outcome::Abandoned, 1_000 * i + 700)
            };
            recs.push(r);
        }
        // Same offer time as c09: ordered by id, descending.
        recs.push(offered("c10", 9_000));
        s.write_batch(&recs, &[], &[]).await.expect("write");
        let ids = |v: Vec<StoredCall>| v.into_iter().map(|r| r.record.id).collect::<Vec<_>>();
        let list = |f: CallFilter| async move { ids(s.list_calls(&f).await.expect("list")) };

        let all = list(CallFilter::default()).await;
        assert_eq!(
            all,
            [
                "c10", "c09", "c08", "c07", "c06", "c05", "c04", "c03", "c02", "c01", "c00"
            ]
        );
        assert_eq!(
            list(CallFilter {
                from_ms: Some(3_000),
                to_ms: Some(6_000),
                ..Default::default()
            })
            .await,
            ["c05", "c04", "c03"]
        );
        assert_eq!(
            list(CallFilter {
                line: Some("110".into()),
                ..Default::default()
            })
            .await,
            ["c09", "c07", "c05", "c03", "c01"]
        );
        assert_eq!(
            list(CallFilter {
                class: Some(LineClass::Emergency),
                ..Default::default()
            })
            .await,
            ["c09", "c07", "c05", "c03", "c01"]
        );
        assert_eq!(
            list(CallFilter {
                queue: Some("general".into()),
                outcome: Some(Outcome::Answered),
                ..Default::default()
            })
            .await,
            ["c03", "c00"]
        );
        assert_eq!(
            list(CallFilter {
                seat: Some("8006".into()),
                ..Default::default()
            })
            .await,
            ["c06"]
        );
        assert_eq!(
            list(CallFilter {
                limit: Some(3),
                offset: Some(2),
                ..Default::default()
            })
            .await,
            ["c08", "c07", "c06"]
        );
        assert_eq!(
            list(CallFilter {
                line: Some("119".into()),
                ..Default::default()
            })
            .await,
            Vec::<String>::new()
        );
        let got = s
            .list_calls(&CallFilter {
                seat: Some("8003".into()),
                ..Default::default()
            })
            .await
            .expect("list");
        assert_eq!(got, [StoredCall::from(recs[3].clone())]);

        // The default limit is 100 and no query returns more than 1000.
        let many: Vec<CallRecord> = (0..1_005)
            .map(|i| offered(&format!("m{i:04}"), 100_000 + i))
            .collect();
        s.write_batch(&many, &[], &[]).await.expect("write many");
        assert_eq!(
            s.list_calls(&CallFilter::default())
                .await
                .expect("list")
                .len(),
            100
        );
        let capped = CallFilter {
            limit: Some(5_000),
            ..Default::default()
        };
        assert_eq!(s.list_calls(&capped).await.expect("list").len(), 1_000);
    })
    .await;
}

#[tokio::test]
async fn close_interrupted_closes_open_calls_at_their_last_event() {
    on_each_backend("close_interrupted", |db| async move {
        let s = &db.store;
        let waiting = offered("waiting", 1_000);
        let talking = answered(&offered("talking", 2_000), "8001", 5_000);
        let silent = offered("silent", 3_000);
        let done = ended(
            &answered(&offered("done", 500), "8002", 600),
            Outcome::Answered,
            900,
        );
        let evs = [
            event(1_000, "waiting", EventKind::Enqueue),
            event(7_000, "waiting", EventKind::Ring),
            event(5_000, "talking", EventKind::Connect),
            event(1_000, "done", EventKind::Complete),
        ];
        s.write_batch(&[waiting, talking.clone(), silent, done.clone()], &[], &evs)
            .await
            .expect("write");

        assert_eq!(
            s.close_interrupted(50_000, "interrupted")
                .await
                .expect("close"),
            3
        );
        let w = get(s, "waiting").await;
        assert_eq!(
            (w.ended_at_ms, w.outcome, w.hangup_by),
            (Some(7_000), Some(Outcome::Failed), None)
        );
        assert_eq!(
            (w.wait_ms, w.talk_ms, w.reason.as_deref()),
            (6_000, 0, Some("interrupted"))
        );
        let t = get(s, "talking").await;
        assert_eq!(
            (t.ended_at_ms, t.outcome, t.hangup_by),
            (Some(5_000), Some(Outcome::Answered), Some(HangupBy::System))
        );
        assert_eq!(
            (t.wait_ms, t.talk_ms, t.seat.as_deref()),
            (3_000, 0, Some("8001"))
        );
        let q = get(s, "silent").await;
        assert_eq!(
            (q.ended_at_ms, q.outcome, q.wait_ms),
            (Some(50_000), Some(Outcome::Failed), 47_000)
        );
        assert_eq!(get(s, "done").await, done);

        // Nothing is left open, and a late write cannot reopen what was closed.
        assert_eq!(
            s.close_interrupted(60_000, "interrupted")
                .await
                .expect("close again"),
            0
        );
        s.upsert_call(&talking).await.expect("late write");
        assert_eq!(get(s, "talking").await, t);
    })
    .await;
}
