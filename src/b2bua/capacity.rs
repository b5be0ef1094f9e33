//! Reserved capacity (`[capacity]`): how many calls hotline carries at
//! once, and the share only emergency lines may use. A 12345 surge fills
//! its own share and is refused beyond it (the caller hears the queue's
//! busy prompt, the refusal is recorded), while 110/119/122 calls still get
//! a trunk channel and media ports.
//!
//! Counted: every call not yet ended, inbound or callback, by class.
//! Non-emergency calls may use `max_calls - reserved_emergency`; emergency
//! calls may use everything, the non-emergency share included when it is
//! idle. With `[media]`, non-emergency calls also leave the reserve's RTP
//! ports free.

use super::Engine;
use crate::model::LineClass;

impl Engine {
    /// Calls not yet ended, (non-emergency, emergency), leaving out `except`.
    fn live_by_class(&self, except: &str) -> (usize, usize) {
        let mut counts = (0, 0);
        let classes = self
            .calls
            .values()
            .filter(|c| c.ended.is_none() && c.id != except)
            .map(|c| c.line.class)
            .chain(
                self.callbacks
                    .values()
                    .filter(|c| c.ended.is_none() && c.id != except)
                    .map(|c| c.class),
            );
        for class in classes {
            match class {
                LineClass::NonEmergency => counts.0 += 1,
                LineClass::Emergency => counts.1 += 1,
            }
        }
        counts
    }

    /// Why a new call `id` of `class` must be refused now, if it must.
    pub(super) fn over_capacity(&self, class: LineClass, id: &str) -> Option<String> {
        let cap = self.config.capacity?;
        let (non_emergency, emergency) = self.live_by_class(id);
        if non_emergency + emergency >= cap.max_calls {
            return Some(format!("capacity: all {} lines busy", cap.max_calls));
        }
        let share = cap.max_calls - cap.reserved_emergency;
        (class == LineClass::NonEmergency && non_emergency >= share).then(|| {
            format!("capacity: non-emergency calls at their limit ({share} of {}; the rest is held for emergency lines)", cap.max_calls)
        })
    }

    /// RTP legs a new call of `class` must leave free: the emergency
    /// reserve's, for a non-emergency call.
    pub(super) fn legs_to_keep(&self, class: LineClass) -> usize {
        match (class, self.config.capacity) {
            (LineClass::NonEmergency, Some(cap)) => cap.reserved_emergency * 2,
            _ => 0,
        }
    }
}
