//! The transactional outbox on both backends: which writes add which
//! ticket-system events, each at most once, and the sweep at start.

use super::{answered, ended, offered, on_each_backend};
use crate::model::{CallMedia, CallRecord, MediaStats, Outcome, Recording};
use crate::store::Store;

/// (event id, kind) of every outbox row, oldest first.
async fn events(s: &Store) -> Vec<(String, String)> {
    s.list_outbox(None, 100)
        .await
        .expect("list outbox")
        .into_iter()
        .map(|e| (e.id, e.kind))
        .collect()
}

fn ids(call: &str, kinds: &[&str]) -> Vec<(String, String)> {
    kinds
        .iter()
        .map(|k| (format!("{call}:{k}"), k.to_string()))
        .collect()
}

fn anchored(rec: CallRecord) -> CallRecord {
    CallRecord {
        anchored: true,
        ..rec
    }
}

fn media() -> CallMedia {
    CallMedia {
        recording: Some(Recording {
            path: "x.wav".into(),
            duration_ms: 1_000,
            size_bytes: 16_044,
            sha256: "ab".repeat(32),
            deleted_at_ms: None,
        }),
        recording_error: None,
        media_stats: Some(MediaStats::default()),
    }
}

#[tokio::test]
async fn answering_and_ending_a_call_add_one_event_each_in_the_same_writes() {
    on_each_backend("outbox_plain", |db| async move {
        let s = &db.store;
        let offer = offered("c1", 1_000);
        s.upsert_call(&offer).await.unwrap();
        assert!(events(s).await.is_empty(), "nothing to tell at the offer");
        let answer = answered(&offer, "8001", 4_000);
        s.upsert_call(&answer).await.unwrap();
        assert_eq!(events(s).await, ids("c1", &["call.answered"]));
        let end = ended(&answer, Outcome::Answered, 60_000);
        // The writer may write a record again (a retried batch): still once.
        for _ in 0..2 {
            s.write_batch(&[answer.clone(), end.clone()], &[], &[])
                .await
                .unwrap();
        }
        assert_eq!(events(s).await, ids("c1", &["call.answered", "call.ended"]));
        let pending = s.list_outbox(Some("pending"), 10).await.unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(
            (pending[0].created_at_ms, pending[1].created_at_ms),
            (4_000, 60_000)
        );
        assert!(
            pending
                .iter()
                .all(|e| e.attempts == 0 && e.next_attempt_at_ms == e.created_at_ms)
        );

        // Abandoned: no answer, an end.
        let gone = ended(&offered("c2", 5_000), Outcome::Abandoned, 9_000);
        s.upsert_call(&gone).await.unwrap();
        // Overflowed is not final: the next queue's record is.
        let over = ended(&offered("c3", 5_000), Outcome::Overflowed, 9_000);
        s.upsert_call(&over).await.unwrap();
        let all = events(s).await;
        assert!(
            all.contains(&("c2:call.ended".into(), "call.ended".into())),
            "{all:?}"
        );
        assert!(!all.iter().any(|(id, _)| id.starts_with("c3:")), "{all:?}");
    })
    .await;
}

#[tokio::test]
async fn an_anchored_call_ends_for_the_ticket_system_when_its_media_is_attached() {
    on_each_backend("outbox_anchored", |db| async move {
        let s = &db.store;
        let answer = anchored(answered(&offered("c1", 1_000), "8001", 4_000));
        let end = anchored(ended(&answer, Outcome::Answered, 60_000));
        s.write_batch(&[answer, end], &[], &[]).await.unwrap();
        assert_eq!(
            events(s).await,
            ids("c1", &["call.answered"]),
            "call.ended waits for the recording"
        );
        assert!(s.attach_call_media("c1", &media()).await.unwrap());
        assert_eq!(events(s).await, ids("c1", &["call.answered", "call.ended"]));
        let ended_at = s.list_outbox(None, 10).await.unwrap()[1].created_at_ms;
        assert_eq!(ended_at, 60_000, "the event is dated by the call's end");

        // Media of a call still open (a recording started at arrival):
        // nothing until the record is final.
        let open = anchored(offered("c2", 2_000));
        s.write_batch(&[open], &[("c2".into(), media())], &[])
            .await
            .unwrap();
        assert!(!events(s).await.iter().any(|(id, _)| id.starts_with("c2:")));
    })
    .await;
}

#[tokio::test]
async fn at_start_anchored_calls_whose_media_never_came_get_their_end_and_old_rows_none() {
    on_each_backend("outbox_sweep", |db| async move {
        let s = &db.store;
        // Cut short: final (closed at restart) but no media will come.
        let cut = anchored(ended(
            &answered(&offered("cut", 1_000), "8001", 2_000),
            Outcome::Answered,
            3_000,
        ));
        s.upsert_call(&cut).await.unwrap();
        // A row from before the outbox (not anchored), final, no event.
        s.upsert_call(&ended(&offered("old", 500), Outcome::Abandoned, 900))
            .await
            .unwrap();
        sqlx::query("DELETE FROM outbox WHERE call_id = 'old'")
            .execute(s.pool())
            .await
            .unwrap();
        assert_eq!(s.add_missing_call_ended().await.unwrap(), 1);
        assert_eq!(s.add_missing_call_ended().await.unwrap(), 0, "once");
        let all = events(s).await;
        assert!(
            all.contains(&("cut:call.ended".into(), "call.ended".into())),
            "{all:?}"
        );
        assert!(!all.iter().any(|(id, _)| id.starts_with("old:")), "{all:?}");
    })
    .await;
}

#[tokio::test]
async fn a_call_a_crash_left_open_ends_for_the_ticket_system_when_it_is_closed_at_start() {
    on_each_backend("outbox_recovery", |db| async move {
        let s = &db.store;
        s.upsert_call(&answered(&offered("plain", 1_000), "8001", 2_000))
            .await
            .unwrap();
        s.upsert_call(&anchored(answered(&offered("media", 1_000), "8002", 2_000)))
            .await
            .unwrap();
        assert_eq!(s.close_interrupted(9_000, "interrupted").await.unwrap(), 2);
        let all = events(s).await;
        assert!(
            all.contains(&("plain:call.ended".into(), "call.ended".into())),
            "closed with its end: {all:?}"
        );
        assert!(
            !all.iter().any(|(id, _)| id == "media:call.ended"),
            "an anchored one waits for its recording: {all:?}"
        );
        assert_eq!(
            s.add_missing_call_ended().await.unwrap(),
            1,
            "or for the sweep"
        );
    })
    .await;
}

#[tokio::test]
async fn an_emergency_calls_events_go_to_their_own_sink_never_to_the_ticket_systems() {
    on_each_backend("outbox_sinks", |db| async move {
        let s = &db.store;
        let citizen = ended(
            &answered(&offered("c1", 1_000), "8001", 2_000),
            Outcome::Answered,
            3_000,
        );
        let police = CallRecord {
            class: crate::model::LineClass::Emergency,
            line: "110".into(),
            ..offered("e1", 1_000)
        };
        let police = ended(&answered(&police, "8021", 2_000), Outcome::Answered, 3_000);
        s.write_batch(&[citizen, police], &[], &[]).await.unwrap();
        let sinks: Vec<(String, String)> = s
            .list_outbox(None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.id, e.sink))
            .collect();
        assert!(
            sinks.contains(&("e1:call.answered".into(), "emergency".into())),
            "{sinks:?}"
        );
        assert!(
            sinks.contains(&("c1:call.ended".into(), "tickets".into())),
            "{sinks:?}"
        );
        let tickets = s
            .claim_outbox("w1", "tickets", 10_000, 60_000, 10)
            .await
            .unwrap();
        assert!(
            tickets.iter().all(|e| e.call_id == "c1"),
            "the 12345 worker takes 12345 events only: {tickets:?}"
        );
        assert_eq!(
            tickets.len(),
            1,
            "call.answered first; call.ended once it is delivered"
        );
        let emergency = s
            .claim_outbox("w2", "emergency", 10_000, 60_000, 10)
            .await
            .unwrap();
        assert_eq!(
            emergency.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["e1:call.answered"]
        );
    })
    .await;
}
