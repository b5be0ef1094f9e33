//! Tests of recordings and media statistics on call records, on both
//! backends: migrations over a database 0001 made, the survey answer, attaching media to
//! an ended call without changing it, later upserts keeping it, the writer
//! merging it in a batch, and reading it back through get and list.

use super::{answered, ended, get, get_stored, offered, on_each_backend};
use crate::model::{
    CallMedia, CallRecord, LegMediaStats, MediaStats, Outcome, Recording, StoredCall,
};
use crate::store::{CallFilter, Store, StoreCmd, Writer};

/// A recording of call `id`; 5 GB, more than 32 bits can hold.
fn recording(id: &str) -> Recording {
    Recording {
        path: format!("2026/11/24/{id}.wav"),
        duration_ms: 63_980,
        size_bytes: 5_000_000_000,
        sha256: "0123456789abcdef".repeat(4),
        deleted_at_ms: None,
    }
}

/// Statistics of both legs, or of the caller's only.
fn stats(both: bool) -> MediaStats {
    MediaStats {
        caller: Some(LegMediaStats {
            codec: "PCMA".into(),
            packets: 3_199,
            bytes: 511_840,
            lost: 1,
            jitter_ms: 2.125,
            streams: 1,
            sent_packets: 3_200,
            remote: Some("192.0.2.7:40000".into()),
            rtcp_sent: 13,
            rtcp_received: 12,
            remote_fraction_lost: Some(0.0078125),
            remote_lost: Some(-1),
            remote_jitter_ms: Some(3.5),
            rtt_ms: Some(41.25),
        }),
        agent: both.then(|| LegMediaStats {
            codec: "PCMU".into(),
            packets: 3_200,
            sent_packets: 3_199,
            ..Default::default()
        }),
    }
}

fn full_media(id: &str) -> CallMedia {
    CallMedia {
        recording: Some(recording(id)),
        recording_error: None,
        media_stats: Some(stats(true)),
    }
}

/// An answered call's three writes: offer, answer, end.
fn answered_call(id: &str, at: i64) -> [CallRecord; 3] {
    let offer = offered(id, at);
    let answer = answered(&offer, "8001", at + 3_000);
    let end = ended(&answer, Outcome::Answered, at + 67_000);
    [offer, answer, end]
}

/// Inserts `rec` with the columns of migration 0001 only.
/// Inserts `rec` with the columns of migration 0001 only, as the code of
/// that time did (for the migration tests).
pub(super) async fn insert_v1(store: &Store, rec: &CallRecord) {
    sqlx::query(
        "INSERT INTO calls (id, sip_call_id, line, tag, class, caller, queue, seat, offered_at_ms, \
         answered_at_ms, ended_at_ms, outcome, hangup_by, reason, wait_ms, talk_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(rec.id.as_str())
    .bind(rec.sip_call_id.as_str())
    .bind(rec.line.as_str())
    .bind(rec.tag.as_deref())
    .bind(rec.class.as_str())
    .bind(rec.caller.as_str())
    .bind(rec.queue.as_deref())
    .bind(rec.seat.as_deref())
    .bind(rec.offered_at_ms)
    .bind(rec.answered_at_ms)
    .bind(rec.ended_at_ms)
    .bind(rec.outcome.map(|o| o.as_str()))
    .bind(rec.hangup_by.map(|h| h.as_str()))
    .bind(rec.reason.as_deref())
    .bind(rec.wait_ms)
    .bind(rec.talk_ms)
    .execute(store.pool())
    .await
    .expect("insert under 0001");
}

#[tokio::test]
async fn the_survey_answer_is_stored_with_the_record_and_old_rows_have_none() {
    on_each_backend("survey", |db| async move {
        let s = &db.store;
        let [offer, answer, end] = answered_call("c1", 1_000);
        let end = CallRecord {
            survey: Some("3".into()),
            ..end
        };
        for rec in [&offer, &answer, &end] {
            s.upsert_call(rec).await.expect("upsert");
        }
        assert_eq!(get(s, "c1").await.survey.as_deref(), Some("3"));
        let [_, _, plain] = answered_call("c2", 2_000);
        s.upsert_call(&plain).await.expect("upsert");
        assert_eq!(get(s, "c2").await.survey, None);
    })
    .await;
}

#[tokio::test]
async fn migrations_keep_rows_written_under_0001() {
    on_each_backend("migrate_from_0001", |db| async move {
        // A database of its own, next to the test's, migrated by 0001 only.
        let (url, schema) = match &db.schema {
            Some(s) => (db.url.clone(), Some(format!("{s}_v1"))),
            None => (db.url.replace("hotline.db", "v0001.db"), None),
        };
        let old = Store::connect_at_version(&url, schema.as_deref(), 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Written as the code of the 0001 days did: its columns only.
        let [_, _, end] = answered_call("old-ended", 1_000);
        let open = offered("old-open", 2_000);
        for rec in [&end, &open] {
            insert_v1(&old, rec).await;
        }
        old.close().await;

        let new = Store::connect_with_schema(&url, schema.as_deref())
            .await
            .unwrap_or_else(|e| panic!("migrate to 0002: {e}"));
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(new.pool())
                .await
                .expect("read migrations");
        assert_eq!(versions, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        // The rows survived, and have no media.
        assert_eq!(
            get_stored(&new, "old-ended").await,
            StoredCall::from(end.clone())
        );
        assert_eq!(get_stored(&new, "old-open").await, StoredCall::from(open));
        // The new columns work on the old rows.
        assert!(
            new.attach_call_media("old-ended", &full_media("old-ended"))
                .await
                .expect("attach")
        );
        let got = get_stored(&new, "old-ended").await;
        assert_eq!((got.record, got.media), (end, full_media("old-ended")));
        new.close().await;
        if let Some(s) = schema {
            db.exec(&format!("DROP SCHEMA \"{s}\" CASCADE")).await;
        }
    })
    .await;
}

#[tokio::test]
async fn media_attaches_to_an_ended_call_without_changing_or_reopening_it() {
    on_each_backend("media_attach", |db| async move {
        let s = &db.store;
        let [offer, answer, end] = answered_call("c1", 1_000);
        for rec in [&offer, &answer, &end] {
            s.upsert_call(rec).await.expect("upsert");
        }
        // Statistics first, then the recording once the WAV is finished.
        let only_stats = CallMedia {
            media_stats: Some(stats(false)),
            ..Default::default()
        };
        assert!(s.attach_call_media("c1", &only_stats).await.expect("stats"));
        let only_rec = CallMedia {
            recording: Some(recording("c1")),
            ..Default::default()
        };
        assert!(
            s.attach_call_media("c1", &only_rec)
                .await
                .expect("recording")
        );
        let got = get_stored(s, "c1").await;
        assert_eq!(got.record, end, "the ended record is unchanged");
        assert_eq!(got.media.recording, Some(recording("c1")));
        assert_eq!(got.media.media_stats, Some(stats(false)));
        assert_eq!(got.media.recording_error, None);

        // A later attachment replaces what it has and keeps the rest.
        let error = CallMedia {
            recording_error: Some("disk full: recording cut at 63.98 s".into()),
            media_stats: Some(stats(true)),
            ..Default::default()
        };
        assert!(s.attach_call_media("c1", &error).await.expect("error"));
        let want = CallMedia {
            recording: Some(recording("c1")),
            ..error
        };
        assert_eq!(get_stored(s, "c1").await.media, want);
        assert!(
            s.attach_call_media("c1", &CallMedia::default())
                .await
                .expect("nothing")
        );
        assert_eq!(get_stored(s, "c1").await.media, want);

        // Late copies of earlier states neither reopen the record nor erase
        // the media; a later ended state replaces the record but not the media.
        s.upsert_call(&answer).await.expect("late answer");
        s.upsert_call(&offer).await.expect("late offer");
        assert_eq!(
            get_stored(s, "c1").await,
            StoredCall {
                record: end.clone(),
                media: want.clone(),
                ticket_id: None,
            }
        );
        let corrected = CallRecord {
            reason: Some("corrected".into()),
            ..end.clone()
        };
        s.write_batch(std::slice::from_ref(&corrected), &[], &[])
            .await
            .expect("corrected end");
        assert_eq!(
            get_stored(s, "c1").await,
            StoredCall {
                record: corrected,
                media: want.clone(),
                ticket_id: None,
            }
        );

        // An overflowed record replaced by the overflow queue's keeps media;
        // so does a call closed after a crash.
        let first = ended(&offered("c2", 2_000), Outcome::Overflowed, 30_000);
        s.upsert_call(&first).await.expect("overflowed");
        assert!(
            s.attach_call_media("c2", &only_stats)
                .await
                .expect("attach c2")
        );
        let next = CallRecord {
            queue: Some("overflow".into()),
            ..offered("c2", 2_000)
        };
        s.upsert_call(&next).await.expect("overflow queue");
        assert_eq!(
            get_stored(s, "c2").await,
            StoredCall {
                record: next,
                media: only_stats.clone(),
                ticket_id: None,
            }
        );
        assert_eq!(
            s.close_interrupted(90_000, "interrupted")
                .await
                .expect("close"),
            1
        );
        let closed = get_stored(s, "c2").await;
        assert_eq!(
            (closed.outcome, closed.media.clone()),
            (Some(Outcome::Failed), only_stats)
        );

        // No record, nothing stored.
        assert!(
            !s.attach_call_media("nope", &want)
                .await
                .expect("attach missing")
        );
        assert_eq!(s.get_call("nope").await.expect("get missing"), None);
    })
    .await;
}

#[tokio::test]
async fn writer_attaches_media_sent_after_the_end_in_the_same_batch() {
    on_each_backend("media_writer", |db| async move {
        let w = Writer::spawn(db.store.clone(), 100);
        let [offer, answer, end] = answered_call("c1", 1_000);
        let media = |m: CallMedia| StoreCmd::CallMedia {
            id: "c1".into(),
            media: m,
        };
        let cmds = [
            StoreCmd::Call(offer),
            StoreCmd::Call(answer.clone()),
            StoreCmd::Call(end.clone()),
            media(CallMedia {
                media_stats: Some(stats(false)),
                recording_error: Some("first".into()),
                ..Default::default()
            }),
            media(CallMedia {
                recording: Some(recording("c1")),
                media_stats: Some(stats(true)),
                ..Default::default()
            }),
            StoreCmd::Call(answer), // late: ignored
            // Media sent before its call's first record, in the same batch.
            StoreCmd::CallMedia {
                id: "c2".into(),
                media: full_media("c2"),
            },
            StoreCmd::Call(offered("c2", 2_000)),
            // Media of a call with no record: skipped, not an error.
            StoreCmd::CallMedia {
                id: "ghost".into(),
                media: full_media("ghost"),
            },
        ];
        // All queued before the (current-thread) runtime lets the task run.
        for cmd in cmds {
            assert!(w.send(cmd));
        }
        w.flush().await;
        let status = w.status();
        assert_eq!(
            (
                status.batches,
                status.pending,
                status.degraded,
                status.dropped
            ),
            (1, 0, false, 0)
        );
        let want = CallMedia {
            recording_error: Some("first".into()),
            ..full_media("c1")
        };
        assert_eq!(
            get_stored(&db.store, "c1").await,
            StoredCall {
                record: end.clone(),
                media: want.clone(),
                ticket_id: None,
            }
        );
        assert_eq!(get_stored(&db.store, "c2").await.media, full_media("c2"));
        assert_eq!(db.store.get_call("ghost").await.expect("get ghost"), None);

        // In a later batch: a part replaced, the rest kept, the record intact.
        assert!(w.send(media(CallMedia {
            recording_error: Some("second".into()),
            ..Default::default()
        })));
        w.flush().await;
        let got = get_stored(&db.store, "c1").await;
        assert_eq!(got.record, end);
        assert_eq!(
            got.media,
            CallMedia {
                recording_error: Some("second".into()),
                ..want
            }
        );
        w.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn media_round_trips_through_list_and_get_and_serialises_for_the_api() {
    on_each_backend("media_round_trip", |db| async move {
        let s = &db.store;
        let [_, _, with] = answered_call("with", 1_000);
        let [_, _, without] = answered_call("without", 2_000);
        let failed = ended(&offered("failed", 3_000), Outcome::Abandoned, 4_000);
        s.write_batch(
            &[with.clone(), without.clone(), failed.clone()],
            &[
                ("with".into(), full_media("with")),
                (
                    "failed".into(),
                    CallMedia {
                        recording_error: Some("no disk space".into()),
                        ..Default::default()
                    },
                ),
            ],
            &[],
        )
        .await
        .expect("write");

        let list = s.list_calls(&CallFilter::default()).await.expect("list");
        let ids: Vec<&str> = list.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["failed", "without", "with"]);
        assert_eq!(
            list[2],
            StoredCall {
                record: with.clone(),
                media: full_media("with"),
                ticket_id: None,
            }
        );
        assert_eq!(list[1], StoredCall::from(without));
        assert_eq!(
            list[0].media.recording_error.as_deref(),
            Some("no disk space")
        );
        assert_eq!(list[0].media.recording, None);
        assert_eq!(get_stored(s, "with").await, list[2]);
        assert_eq!(get(s, "failed").await, failed);

        // As the API serves it: the record's fields, then `recording` (null
        // or an object), `recording_error` and `media_stats`.
        let v = serde_json::to_value(&list).expect("json");
        assert_eq!(v[2]["outcome"], "answered");
        assert_eq!(v[2]["recording"]["size_bytes"], 5_000_000_000_u64);
        assert_eq!(v[2]["recording"]["path"], "2026/11/24/with.wav");
        assert_eq!(v[2]["media_stats"]["caller"]["jitter_ms"], 2.125);
        assert_eq!(v[2]["media_stats"]["agent"]["codec"], "PCMU");
        assert!(v[1]["recording"].is_null() && v[1]["media_stats"].is_null());
        assert!(
            v[1].as_object()
                .is_some_and(|o| o.contains_key("recording"))
        );
        assert_eq!(v[0]["recording_error"], "no disk space");
    })
    .await;
}

#[tokio::test]
async fn retention_finds_recordings_past_their_class_period_and_marks_them_deleted() {
    on_each_backend("retention", |db| async move {
        let s = &db.store;
        let [_, _, old] = answered_call("old", 1_000);
        let [_, _, new] = answered_call("new", 500_000);
        let police = CallRecord {
            class: crate::model::LineClass::Emergency,
            ..answered_call("police", 1_000)[2].clone()
        };
        for rec in [&old, &new, &police] {
            s.upsert_call(rec).await.unwrap();
            let media = CallMedia {
                recording: Some(recording(&rec.id)),
                ..Default::default()
            };
            assert!(s.attach_call_media(&rec.id, &media).await.unwrap());
        }
        let expired = s
            .expired_recordings(crate::model::LineClass::NonEmergency, 400_000, 10)
            .await
            .unwrap();
        assert_eq!(
            expired,
            [("old".to_string(), "2026/11/24/old.wav".to_string())],
            "by class and end time"
        );
        s.mark_recording_deleted("old", 900_000).await.unwrap();
        assert!(
            s.expired_recordings(crate::model::LineClass::NonEmergency, 400_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let stored = get_stored(s, "old").await;
        let rec = stored.media.recording.expect("the metadata stays");
        assert_eq!((rec.deleted_at_ms, rec.sha256.len()), (Some(900_000), 64));
        assert_eq!(
            s.expired_recordings(crate::model::LineClass::Emergency, 400_000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
    })
    .await;
}
