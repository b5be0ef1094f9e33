//! The writer's batch: what one transaction will write. Updates of one call
//! id are coalesced to the last (by the store's upsert rule, so a late
//! earlier state never replaces an ended record); media for one call id is
//! merged in order (a part a later attachment lacks is kept); events keep
//! their order.

use std::collections::HashMap;

use super::StoreCmd;
use crate::model::{CallMedia, CallRecord, QueueEvent};
use crate::store::calls::keeps_stored;

/// Call records coalesced by id, media merged by call id, and events in
/// arrival order. The store writes the records before the media, so media
/// sent before the first record of its call still finds it.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub calls: Vec<CallRecord>,
    index: HashMap<String, usize>,
    /// (call id, media to attach).
    pub media: Vec<(String, CallMedia)>,
    media_index: HashMap<String, usize>,
    pub events: Vec<QueueEvent>,
}

impl Batch {
    /// Distinct items held.
    pub fn len(&self) -> usize {
        self.calls.len() + self.media.len() + self.events.len()
    }

    /// Adds `cmd`; returns whether it merged into (or was superseded by) a
    /// record already in the batch, taking no new slot.
    pub fn push(&mut self, cmd: StoreCmd) -> bool {
        match cmd {
            StoreCmd::Event(ev) => {
                self.events.push(ev);
                false
            }
            StoreCmd::Call(rec) => {
                if let Some(held) = self.index.get(&rec.id).and_then(|&i| self.calls.get_mut(i)) {
                    if !keeps_stored(held, &rec) {
                        *held = rec;
                    }
                    return true;
                }
                self.index.insert(rec.id.clone(), self.calls.len());
                self.calls.push(rec);
                false
            }
            StoreCmd::CallMedia { id, media } => {
                if let Some((_, held)) = self
                    .media_index
                    .get(&id)
                    .and_then(|&i| self.media.get_mut(i))
                {
                    held.merge(media);
                    return true;
                }
                self.media_index.insert(id.clone(), self.media.len());
                self.media.push((id, media));
                false
            }
        }
    }

    /// Empties the batch (after it was committed).
    pub fn clear(&mut self) {
        self.calls.clear();
        self.index.clear();
        self.media.clear();
        self.media_index.clear();
        self.events.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventKind, LegMediaStats, LineClass, MediaStats, Outcome};

    fn rec(id: &str, ended: Option<i64>) -> CallRecord {
        CallRecord {
            id: id.into(),
            sip_call_id: "s".into(),
            line: "12345".into(),
            tag: None,
            class: LineClass::NonEmergency,
            caller: "1".into(),
            queue: None,
            seat: None,
            offered_at_ms: 0,
            answered_at_ms: None,
            ended_at_ms: ended,
            outcome: ended.map(|_| Outcome::Abandoned),
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

    #[test]
    fn updates_of_one_call_coalesce_and_never_reopen() {
        let mut b = Batch::default();
        assert!(!b.push(StoreCmd::Call(rec("a", None))));
        assert!(!b.push(StoreCmd::Call(rec("b", None))));
        assert!(b.push(StoreCmd::Call(rec("a", Some(5)))));
        assert!(b.push(StoreCmd::Call(rec("a", None)))); // late: ignored
        let ev = QueueEvent {
            at_ms: 1,
            call_id: None,
            queue: None,
            seat: None,
            kind: EventKind::Ring,
            detail: None,
        };
        assert!(!b.push(StoreCmd::Event(ev)));
        assert_eq!(b.len(), 3);
        assert_eq!(b.calls[0], rec("a", Some(5)));
        assert_eq!(b.calls[1].id, "b");
        b.clear();
        assert_eq!(b.len(), 0);
        assert!(!b.push(StoreCmd::Call(rec("a", None))));
    }

    #[test]
    fn media_of_one_call_merges_in_order_beside_its_record() {
        let stats = |codec: &str| MediaStats {
            caller: Some(LegMediaStats {
                codec: codec.into(),
                ..Default::default()
            }),
            agent: None,
        };
        let media = |error: Option<&str>, codec: Option<&str>| StoreCmd::CallMedia {
            id: "a".into(),
            media: CallMedia {
                recording: None,
                recording_error: error.map(Into::into),
                media_stats: codec.map(stats),
            },
        };
        let mut b = Batch::default();
        assert!(!b.push(StoreCmd::Call(rec("a", Some(5)))));
        assert!(!b.push(media(Some("disk full"), Some("PCMU"))));
        assert!(b.push(media(None, Some("PCMA"))));
        assert!(b.push(StoreCmd::Call(rec("a", None)))); // late: ignored
        assert!(!b.push(StoreCmd::CallMedia {
            id: "b".into(),
            media: CallMedia::default(),
        }));
        assert_eq!(b.len(), 3);
        assert_eq!(b.calls, [rec("a", Some(5))]);
        assert_eq!(b.media[0].0, "a");
        assert_eq!(b.media[0].1.recording_error.as_deref(), Some("disk full"));
        assert_eq!(b.media[0].1.media_stats, Some(stats("PCMA")));
        assert_eq!(b.media[1].0, "b");
        b.clear();
        assert_eq!(b.len(), 0);
        assert!(!b.push(media(None, None)));
    }
}
