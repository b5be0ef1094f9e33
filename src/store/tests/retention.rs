//! Tests of what the retention sweep and `hotline doctor` read, on both
//! backends: the summary and the paged walk of expired recordings, and a
//! database's migration state.

use super::{answered, ended, offered, on_each_backend};
use crate::model::{CallMedia, LineClass, Outcome, Recording};
use crate::store::{ExpiredSummary, Store};

/// Stores an answered call of `class` that ended at `end`, recorded.
async fn recorded(s: &Store, id: &str, class: LineClass, end: i64, size: u64) {
    let offer = crate::model::CallRecord {
        class,
        ..offered(id, end - 60_000)
    };
    let rec = ended(
        &answered(&offer, "8001", end - 50_000),
        Outcome::Answered,
        end,
    );
    s.upsert_call(&rec).await.unwrap();
    let media = CallMedia {
        recording: Some(Recording {
            path: format!("{}/2026/01/01/{id}.wav", class.as_str()),
            duration_ms: 50_000,
            size_bytes: size,
            sha256: "ab".repeat(32),
            deleted_at_ms: None,
        }),
        ..Default::default()
    };
    assert!(s.attach_call_media(id, &media).await.unwrap());
}

#[tokio::test]
async fn expired_recordings_are_summed_and_walked_in_pages_past_ones_left_in_place() {
    on_each_backend("retention_pages", |db| async move {
        let s = &db.store;
        // Two share an end time: the walk orders them by id.
        for (id, end) in [("a", 1_000), ("c", 2_000), ("b", 2_000), ("d", 3_000)] {
            recorded(s, id, LineClass::NonEmergency, end, 100).await;
        }
        recorded(s, "late", LineClass::NonEmergency, 9_000, 100).await;
        recorded(s, "sos", LineClass::Emergency, 1_000, 7).await;
        let summary = s
            .expired_summary(LineClass::NonEmergency, 5_000)
            .await
            .unwrap();
        assert_eq!(
            summary,
            ExpiredSummary {
                count: 4,
                oldest_ended_ms: Some(1_000),
                newest_ended_ms: Some(3_000),
                bytes: 400,
            }
        );
        let none = s.expired_summary(LineClass::Emergency, 500).await.unwrap();
        assert_eq!(none, ExpiredSummary::default());

        // Pages of two; nothing is marked, yet the walk goes on.
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = s
                .expired_recordings_after(LineClass::NonEmergency, 5_000, after.as_ref(), 2)
                .await
                .unwrap();
            seen.extend(page.iter().map(|r| r.id.clone()));
            match page.last() {
                Some(last) if page.len() == 2 => after = Some(last.clone()),
                _ => break,
            }
        }
        assert_eq!(seen, ["a", "b", "c", "d"]);

        s.mark_recording_deleted("b", 10_000).await.unwrap();
        let first = s
            .expired_recordings_after(LineClass::NonEmergency, 5_000, None, 10)
            .await
            .unwrap();
        assert_eq!(
            first.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["a", "c", "d"]
        );
        assert_eq!(first[0].path, "non_emergency/2026/01/01/a.wav");
        assert_eq!((first[0].ended_at_ms, first[0].size_bytes), (1_000, 100));
    })
    .await;
}

#[tokio::test]
async fn a_migrated_database_is_current_and_an_older_one_lists_what_is_pending() {
    on_each_backend("migration_state", |db| async move {
        let state = db.store.migration_state().await.unwrap();
        assert!(state.is_current(), "{state:?}");
        assert!(state.unknown.is_empty() && !state.applied.is_empty());
        assert_eq!(db.store.newest_call_ms().await.unwrap(), None);
        db.store.upsert_call(&offered("x", 42_000)).await.unwrap();
        assert_eq!(db.store.newest_call_ms().await.unwrap(), Some(42_000));
    })
    .await;

    // SQLite: opened as it is, an older database lists what is pending,
    // and a missing file is not created.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let missing = Store::open_existing(&url)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        missing
            .as_deref()
            .is_some_and(|m| m.contains("no database file")),
        "{missing:?}"
    );
    assert!(!dir.path().join("old.db").exists());
    Store::connect_at_version(&url, None, 2)
        .await
        .unwrap()
        .close()
        .await;
    let old = Store::open_existing(&url).await.unwrap();
    let state = old.migration_state().await.unwrap();
    assert_eq!(state.applied, [1, 2]);
    assert_eq!(state.pending[0], (3, "survey".to_string()));
    assert!(!state.is_current());
    old.close().await;
}
