//! The live view of queues and seats that the API and wallboard show.

use super::{Acd, AfterCall, AgentState, Strategy};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct AcdSnapshot {
    pub queues: Vec<QueueSnapshot>,
    pub seats: Vec<SeatSnapshot>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueSnapshot {
    pub name: String,
    pub class: crate::model::LineClass,
    pub strategy: Strategy,
    pub priority: i32,
    /// Calls not yet connected (waiting or ringing a seat).
    pub waiting: usize,
    /// Of those, calls ringing a seat right now.
    pub ringing: usize,
    pub longest_wait_ms: i64,
    /// Member seats logged in and registered.
    pub staffed: usize,
    /// Member seats ready for a call now.
    pub ready: usize,
    /// The calls not yet connected, first in line first.
    pub calls: Vec<WaitingCall>,
    /// Removed by a reload; it goes when its last call does.
    pub draining: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitingCall {
    pub id: String,
    pub position: usize,
    pub wait_ms: i64,
    pub ringing: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeatSnapshot {
    pub extension: String,
    /// Emergency if the seat serves an emergency queue.
    pub class: crate::model::LineClass,
    pub state: AgentState,
    /// Time in the current state; 0 before the first change.
    pub in_state_ms: i64,
    pub registered: bool,
    pub calls_answered: u64,
    /// A state asked for while busy, applied when the call ends.
    pub after_call: Option<AfterCall>,
    pub queues: Vec<Membership>,
    /// Removed by a reload; it leaves when its ring or call is over.
    pub retiring: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Membership {
    pub queue: String,
    pub penalty: u32,
}

fn ms(d: std::time::Duration) -> i64 {
    d.as_millis() as i64
}

impl Acd {
    /// A seat's class: emergency if any of its queues is.
    pub(super) fn seat_class(&self, seat: &super::seat::Seat) -> crate::model::LineClass {
        let emergency = seat.queues.iter().any(|(q, _)| {
            self.queues
                .get(q)
                .is_some_and(|q| q.config.class == crate::model::LineClass::Emergency)
        });
        if emergency {
            crate::model::LineClass::Emergency
        } else {
            crate::model::LineClass::NonEmergency
        }
    }

    pub fn snapshot(&self, now: Instant) -> AcdSnapshot {
        let mut queues: Vec<QueueSnapshot> = self
            .queues
            .values()
            .map(|q| {
                let mut calls: Vec<_> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| c.queue == q.config.name && c.seat.is_none())
                    .collect();
                calls.sort_by_key(|(_, c)| c.key);
                let seats = q.members.iter().filter_map(|(ext, _)| self.seats.get(ext));
                QueueSnapshot {
                    name: q.config.name.clone(),
                    class: q.config.class,
                    strategy: q.config.strategy,
                    priority: q.config.priority,
                    waiting: calls.len(),
                    ringing: calls.iter().filter(|(_, c)| !c.ringing.is_empty()).count(),
                    longest_wait_ms: calls
                        .iter()
                        .map(|(_, c)| ms(now.saturating_duration_since(c.queued_at)))
                        .max()
                        .unwrap_or(0),
                    staffed: seats.clone().filter(|s| s.staffed()).count(),
                    ready: seats.filter(|s| s.available()).count(),
                    calls: calls
                        .iter()
                        .enumerate()
                        .map(|(i, (id, c))| WaitingCall {
                            id: (*id).clone(),
                            position: i + 1,
                            wait_ms: ms(now.saturating_duration_since(c.queued_at)),
                            ringing: c.ringing.iter().cloned().collect(),
                        })
                        .collect(),
                    draining: q.draining,
                }
            })
            .collect();
        queues.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        let seats = self
            .seats
            .values()
            .map(|s| SeatSnapshot {
                extension: s.extension.clone(),
                class: self.seat_class(s),
                state: s.state.clone(),
                in_state_ms: s
                    .since
                    .map(|t| ms(now.saturating_duration_since(t)))
                    .unwrap_or(0),
                registered: s.reachable,
                calls_answered: s.calls_answered,
                after_call: s.after_call.clone(),
                queues: s
                    .queues
                    .iter()
                    .map(|(q, p)| Membership {
                        queue: q.clone(),
                        penalty: *p,
                    })
                    .collect(),
                retiring: s.retiring,
            })
            .collect();
        AcdSnapshot { queues, seats }
    }
}
