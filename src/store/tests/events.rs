//! Tests of the `queue_events` table on both backends: the round trip,
//! order (time, then insertion) and every filter.

use super::{event, on_each_backend};
use crate::model::{EventKind, QueueEvent};
use crate::store::EventFilter;

#[tokio::test]
async fn events_round_trip_oldest_first_and_filter() {
    on_each_backend("events", |db| async move {
        let s = &db.store;
        let kinds = [
            EventKind::Enqueue,
            EventKind::Ring,
            EventKind::NoAnswer,
            EventKind::Ring,
            EventKind::Connect,
            EventKind::Complete,
        ];
        let mut evs: Vec<QueueEvent> = kinds
            .iter()
            .enumerate()
            .map(|(i, &k)| event(100 * i as i64, "c1", k))
            .collect();
        evs[1].seat = Some("8001".into());
        evs[2].detail = Some("timeout".into());
        evs[3].seat = Some("8002".into());
        let agent = QueueEvent {
            at_ms: 100, // same time as c1's ring: insertion order breaks the tie
            call_id: None,
            queue: None,
            seat: Some("8001".into()),
            kind: EventKind::AgentState,
            detail: Some("ready->paused:lunch".into()),
        };
        let others = [
            event(50, "c2", EventKind::Enqueue),
            event(250, "c2", EventKind::Abandon),
            agent.clone(),
        ];
        s.insert_events(&evs).await.expect("insert");
        s.insert_events(&others).await.expect("insert");
        s.insert_events(&[]).await.expect("insert nothing");

        let list = |f: EventFilter| async move { s.list_events(&f).await.expect("list") };
        let all = list(EventFilter::default()).await;
        let at: Vec<i64> = all.iter().map(|e| e.at_ms).collect();
        assert_eq!(at, [0, 50, 100, 100, 200, 250, 300, 400, 500]);
        assert_eq!(all[2], evs[1]);
        assert_eq!(all[3], agent);
        assert_eq!(
            list(EventFilter {
                call_id: Some("c1".into()),
                ..Default::default()
            })
            .await,
            evs
        );
        assert_eq!(
            list(EventFilter {
                seat: Some("8001".into()),
                ..Default::default()
            })
            .await,
            [evs[1].clone(), agent]
        );
        let kind = EventFilter {
            kind: Some(EventKind::Ring),
            ..Default::default()
        };
        assert_eq!(list(kind).await, [evs[1].clone(), evs[3].clone()]);
        let window = EventFilter {
            from_ms: Some(100),
            to_ms: Some(300),
            queue: Some("general".into()),
            ..Default::default()
        };
        assert_eq!(
            list(window).await,
            [evs[1].clone(), evs[2].clone(), others[1].clone()]
        );
        let paged = EventFilter {
            call_id: Some("c1".into()),
            limit: Some(2),
            offset: Some(3),
            ..Default::default()
        };
        assert_eq!(list(paged).await, evs[3..5]);
    })
    .await;
}
