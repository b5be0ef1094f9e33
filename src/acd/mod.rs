//! The ACD: queues of waiting calls, seats with agent states, and the
//! decision which seat rings for which call.
//!
//! A sans-IO state machine. The engine tells it what happened (a call
//! arrived, a seat answered or failed, a call ended, a seat registered or
//! asked for a state change, time passed) and drains its decisions with
//! [`Acd::poll_output`]: ring a seat, stop ringing one, bridge a call,
//! overflow or reject it, and the queue/agent events to log. It never reads
//! the clock; [`Acd::poll_timeout`] says when it next wants
//! [`Acd::handle_timeout`].
//!
//! ```text
//!  call_arrived --> waiting --(dispatch: a ready seat)--> ringing --ring_answered--> connected
//!                    ^   |                                  |                          |
//!                    |   | max wait / nobody logged in      | ring timeout, busy,      | call_ended
//!                    |   v                                  | declined, unreachable    v
//!                    | overflow (another queue) / reject    |                      seat: wrap-up
//!                    +--------------------------------------+
//! ```
//!
//! Two invariants hold after every input, and the tests check them: no
//! seat rings for two calls at once, and no call waits while a ready seat
//! of its queue sits idle (unless that seat failed this very call less
//! than the queue's `retry` ago).
//!
//! Files: `config.rs` (typed config), `seat.rs` (agent states),
//! `dispatch.rs` (strategies and penalty tiers), `snapshot.rs` (the live
//! view), `reconfigure.rs` (a reload's new queues and seats, applied
//! without ending a call); timers live in a [`crate::timers::Timers`] table.

mod config;
mod dispatch;
mod outbound;
mod reconfigure;
mod seat;
mod snapshot;

#[cfg(test)]
mod tests;

pub use config::{AcdConfig, Fallback, QueueConfig, SeatConfig, Strategy};
pub use reconfigure::Reconfigured;
pub use seat::{AfterCall, AgentState, Seat, StateRequest};
pub use snapshot::{AcdSnapshot, Membership, QueueSnapshot, SeatSnapshot, WaitingCall};

use crate::model::{EventKind, HangupBy};
use crate::timers::Timers;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How often a call may overflow from queue to queue before it is
/// rejected: a guard against overflow chains that loop.
const MAX_OVERFLOWS: u32 = 8;

/// Why a seat did not take a call it was rung for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingFailure {
    /// Rang until the queue's ring timeout, or the phone said 408/480/487.
    NoAnswer,
    /// 486 Busy Here / 600 Busy Everywhere.
    Busy,
    /// 603 Decline: the agent pressed reject.
    Declined,
    /// No registration, no response at all, or an error status.
    Unreachable,
}

impl RingFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            RingFailure::NoAnswer => "no_answer",
            RingFailure::Busy => "busy",
            RingFailure::Declined => "declined",
            RingFailure::Unreachable => "unreachable",
        }
    }
}

/// A decision for the engine to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// INVITE the seat's registered contact for this call.
    Ring { call: String, seat: String },
    /// Stop ringing (CANCEL), or hang up a seat that answered too late.
    StopRing { call: String, seat: String },
    /// The seat answered and won the call: bridge it to the caller.
    Connect { call: String, seat: String },
    /// The call moved to another queue.
    Overflowed {
        call: String,
        from: String,
        to: String,
    },
    /// Refuse the call; the ACD has forgotten it.
    Reject { call: String, reason: String },
    /// Something to write to the queue/agent event log.
    Event(AcdEvent),
    /// A seat removed by a reload has left (at once, or once its call
    /// ended): the engine drops its registration.
    SeatRemoved { seat: String },
}

/// A queue or agent event, in the ACD's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcdEvent {
    pub at: Instant,
    pub call: Option<String>,
    pub queue: Option<String>,
    pub seat: Option<String>,
    pub kind: EventKind,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    /// The line points at a queue the ACD does not have.
    #[error("no queue named {0:?}")]
    UnknownQueue(String),
    /// The API or a phone named an extension that is not configured.
    #[error("no seat {0}")]
    UnknownSeat(String),
    /// A call id was offered twice.
    #[error("call {0} is already queued")]
    DuplicateCall(String),
    /// No such call, or not connected to a seat (for a transfer).
    #[error("no connected call {0}")]
    UnknownCall(String),
    /// A transfer's seat is not ready for a call now.
    #[error("seat {0} is not ready for a call")]
    SeatUnavailable(String),
    /// A callback from a seat already ringing or on a call.
    #[error("seat {0} is busy (ringing or on a call)")]
    SeatBusy(String),
}

/// Where a transferred call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    Seat(String),
    Queue(String),
}

/// Timers, one per key: the ACD's ring-no-answer, max-wait, retry and
/// wrap-up deadlines.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Timer {
    /// A seat rings for a call until this deadline.
    Ring { call: String, seat: String },
    /// The call has waited the queue's `max_wait`.
    MaxWait(String),
    /// A seat this call skips becomes eligible again.
    Retry(String),
    /// A seat's wrap-up is over.
    WrapUp(String),
}

/// Where a waiting call stands: higher queue priority first, then earlier
/// arrival (kept through overflows), then offer order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct WaitKey {
    priority: Reverse<i32>,
    arrived: Instant,
    seq: u64,
}

#[derive(Debug)]
struct Queue {
    config: QueueConfig,
    /// Member seats and penalties, in config order (round-robin walks it).
    members: Vec<(String, u32)>,
    /// The seat round-robin rang last.
    rr_last: Option<String>,
    /// Removed by a reload but still holding calls: no new call enters
    /// it, its old seats still answer its waiting calls, and it goes with
    /// its last call (`reconfigure.rs`).
    draining: bool,
}

#[derive(Debug)]
struct CallEntry {
    queue: String,
    /// Arrival in the current queue.
    queued_at: Instant,
    key: WaitKey,
    ringing: BTreeSet<String>,
    /// Ringing seats whose phones said so (180/183).
    confirmed: BTreeSet<String>,
    /// The seat that answered.
    seat: Option<String>,
    /// Seats that failed this call, skipped until the instant given.
    skip: HashMap<String, Instant>,
    /// Max wait passed while a seat was ringing: apply it when the ring ends.
    timed_out: bool,
    overflows: u32,
    /// A call transferred to one seat rings only that seat; if it does not
    /// answer, the call goes back to its queue.
    only_seat: Option<String>,
}

impl CallEntry {
    /// A call waiting in `queue` from `now`, in line by `key`.
    fn new(queue: &str, now: Instant, key: WaitKey, only_seat: Option<String>) -> CallEntry {
        CallEntry {
            queue: queue.into(),
            queued_at: now,
            key,
            ringing: BTreeSet::new(),
            confirmed: BTreeSet::new(),
            seat: None,
            skip: HashMap::new(),
            timed_out: false,
            overflows: 0,
            only_seat,
        }
    }
}

pub struct Acd {
    queues: HashMap<String, Queue>,
    seats: BTreeMap<String, Seat>,
    calls: HashMap<String, CallEntry>,
    /// Calls waiting for a seat and not ringing any: the dispatch order.
    waiting: BTreeMap<WaitKey, String>,
    /// Seats that can be rung now (ready and registered), kept in step
    /// with every state and reachability change.
    available: BTreeSet<String>,
    timers: Timers<Timer>,
    outputs: VecDeque<Output>,
    auto_ready: bool,
    seq: u64,
    /// Seats removed by a reload that still ring or talk: they leave when
    /// that is over.
    retiring: BTreeSet<String>,
    /// Queues removed by a reload that still hold calls.
    draining: BTreeSet<String>,
}

impl Acd {
    pub fn new(config: AcdConfig, auto_ready: bool) -> Acd {
        let mut queues: HashMap<String, Queue> = config
            .queues
            .into_iter()
            .map(|q| {
                (
                    q.name.clone(),
                    Queue {
                        config: q,
                        members: Vec::new(),
                        rr_last: None,
                        draining: false,
                    },
                )
            })
            .collect();
        let mut seats = BTreeMap::new();
        for s in config.seats {
            for (q, penalty) in &s.queues {
                if let Some(queue) = queues.get_mut(q) {
                    queue.members.push((s.extension.clone(), *penalty));
                }
            }
            seats.insert(s.extension.clone(), Seat::new(s.extension, s.queues));
        }
        Acd {
            queues,
            seats,
            calls: HashMap::new(),
            waiting: BTreeMap::new(),
            available: BTreeSet::new(),
            timers: Timers::default(),
            outputs: VecDeque::new(),
            auto_ready,
            seq: 0,
            retiring: BTreeSet::new(),
            draining: BTreeSet::new(),
        }
    }

    // ---- inputs ------------------------------------------------------------

    /// A call for `queue` arrives.
    pub fn call_arrived(&mut self, now: Instant, call: &str, queue: &str) -> Result<(), AcdError> {
        if self.calls.contains_key(call) {
            return Err(AcdError::DuplicateCall(call.into()));
        }
        let Some(q) = self.queues.get(queue).filter(|q| !q.draining) else {
            return Err(AcdError::UnknownQueue(queue.into()));
        };
        self.seq += 1;
        let key = WaitKey {
            priority: Reverse(q.config.priority),
            arrived: now,
            seq: self.seq,
        };
        self.calls
            .insert(call.into(), CallEntry::new(queue, now, key, None));
        self.enter_queue(now, call);
        self.dispatch(now);
        Ok(())
    }

    /// The agent of a connected call transfers it (blind transfer): the
    /// seat is done with it (`complete`, detail `transfer`, then wrap-up)
    /// and the call waits again, for one seat or in a queue. A transfer to
    /// a seat rings only that seat, which must be ready now; if it does not
    /// answer, the call goes to the queue it came from, keeping its place.
    /// A transfer to a queue enters it as a new arrival (`enqueue`, detail
    /// `transfer`), its rules applying.
    pub fn transfer(&mut self, now: Instant, call: &str, to: Transfer) -> Result<(), AcdError> {
        self.transfer_as(now, call, to, call)
    }

    /// [`Acd::transfer`], the call waiting on as `as_call` from the
    /// transfer on (a transfer across sides starts a new record): the
    /// transferring seat's events name `call`, the rest `as_call`.
    pub fn transfer_as(
        &mut self,
        now: Instant,
        call: &str,
        to: Transfer,
        as_call: &str,
    ) -> Result<(), AcdError> {
        let Some(entry) = self.calls.get(call) else {
            return Err(AcdError::UnknownCall(call.into()));
        };
        let Some(from_seat) = entry.seat.clone() else {
            return Err(AcdError::UnknownCall(call.into()));
        };
        let (old_queue, old_key) = (entry.queue.clone(), entry.key);
        match &to {
            Transfer::Seat(seat) if !self.seats.contains_key(seat) => {
                return Err(AcdError::UnknownSeat(seat.clone()));
            }
            Transfer::Seat(seat) if !self.available.contains(seat) => {
                return Err(AcdError::SeatUnavailable(seat.clone()));
            }
            Transfer::Queue(queue) if self.queues.get(queue).is_none_or(|q| q.draining) => {
                return Err(AcdError::UnknownQueue(queue.clone()));
            }
            _ => {}
        }
        self.forget_call(call);
        let detail = match &to {
            Transfer::Seat(seat) => format!("seat {seat}"),
            Transfer::Queue(queue) => format!("queue {queue}"),
        };
        self.event(
            now,
            Some(call),
            Some(&old_queue),
            Some(&from_seat),
            EventKind::Transfer,
            Some(detail),
        );
        self.event(
            now,
            Some(call),
            Some(&old_queue),
            Some(&from_seat),
            EventKind::Complete,
            Some("transfer".into()),
        );
        self.seat_done(now, &from_seat, &old_queue, call);
        let (queue, key, only_seat) = match to {
            Transfer::Seat(seat) => (old_queue, old_key, Some(seat)),
            Transfer::Queue(queue) => {
                self.seq += 1;
                let priority = Reverse(self.queues[&queue].config.priority);
                (
                    queue,
                    WaitKey {
                        priority,
                        arrived: old_key.arrived,
                        seq: self.seq,
                    },
                    None,
                )
            }
        };
        let direct = only_seat.is_some();
        let call = as_call;
        self.calls
            .insert(call.into(), CallEntry::new(&queue, now, key, only_seat));
        if direct {
            self.make_waiting(call);
        } else {
            self.event(
                now,
                Some(call),
                Some(&queue),
                None,
                EventKind::Enqueue,
                Some("transfer".into()),
            );
            self.after_enqueue(now, call);
        }
        self.dispatch(now);
        Ok(())
    }

    /// Attended transfer: the agent of `call` talked to the agent of
    /// `consult` (a consultation call the first agent placed to a line)
    /// and joined the two. The first seat is done with `call` (`transfer`,
    /// then `complete` with detail `transfer`, then wrap-up); the
    /// consultation ends for the ACD (`complete`, detail `transfer`); its
    /// seat stays on the line with the caller, as `as_call` (`connect`,
    /// detail `attended transfer`), in the consultation's queue.
    pub fn attended_transfer(
        &mut self,
        now: Instant,
        call: &str,
        consult: &str,
        as_call: &str,
    ) -> Result<(), AcdError> {
        let unknown = |c: &str| AcdError::UnknownCall(c.into());
        let from = self.calls.get(call).ok_or_else(|| unknown(call))?;
        let (from_seat, from_queue) = (
            from.seat.clone().ok_or_else(|| unknown(call))?,
            from.queue.clone(),
        );
        let to = self.calls.get(consult).ok_or_else(|| unknown(consult))?;
        let (to_seat, queue, key) = (
            to.seat.clone().ok_or_else(|| unknown(consult))?,
            to.queue.clone(),
            to.key,
        );
        self.forget_call(call);
        let detail = format!("seat {to_seat} (attended)");
        self.event(
            now,
            Some(call),
            Some(&from_queue),
            Some(&from_seat),
            EventKind::Transfer,
            Some(detail),
        );
        self.event(
            now,
            Some(call),
            Some(&from_queue),
            Some(&from_seat),
            EventKind::Complete,
            Some("transfer".into()),
        );
        self.seat_done(now, &from_seat, &from_queue, call);
        self.forget_call(consult);
        self.event(
            now,
            Some(consult),
            Some(&queue),
            Some(&to_seat),
            EventKind::Complete,
            Some("transfer".into()),
        );
        let mut entry = CallEntry::new(&queue, now, key, None);
        entry.seat = Some(to_seat.clone());
        self.calls.insert(as_call.into(), entry);
        self.set_state(
            now,
            &to_seat,
            AgentState::OnCall {
                call: as_call.into(),
            },
            Some(as_call),
        );
        self.event(
            now,
            Some(as_call),
            Some(&queue),
            Some(&to_seat),
            EventKind::Connect,
            Some("attended transfer".into()),
        );
        self.dispatch(now);
        Ok(())
    }

    /// The caller hung up before being connected.
    pub fn call_abandoned(&mut self, now: Instant, call: &str) {
        let Some(entry) = self.calls.get(call) else {
            return;
        };
        if entry.seat.is_some() {
            self.call_ended(now, call, HangupBy::Caller);
            return;
        }
        let queue = entry.queue.clone();
        let waited = now.saturating_duration_since(entry.queued_at);
        self.stop_all_rings(now, call);
        self.forget_call(call);
        self.event(
            now,
            Some(call),
            Some(&queue),
            None,
            EventKind::Abandon,
            Some(format!("waited_ms={}", waited.as_millis())),
        );
        self.dispatch(now);
    }

    /// hotline refuses a call still waiting or ringing (it is stopping):
    /// rings stop, the call leaves its queue with a `reject` event whose
    /// detail is `reason`. A connected call ends as [`Acd::call_ended`]
    /// by the system.
    pub fn call_withdrawn(&mut self, now: Instant, call: &str, reason: &str) {
        let Some(entry) = self.calls.get(call) else {
            return;
        };
        if entry.seat.is_some() {
            self.call_ended(now, call, HangupBy::System);
            return;
        }
        let queue = entry.queue.clone();
        self.stop_all_rings(now, call);
        self.forget_call(call);
        self.event(
            now,
            Some(call),
            Some(&queue),
            None,
            EventKind::Reject,
            Some(reason.into()),
        );
        self.dispatch(now);
    }

    /// A seat rung for `call` answered (2xx).
    pub fn ring_answered(&mut self, now: Instant, call: &str, seat: &str) {
        let wins = self
            .calls
            .get(call)
            .is_some_and(|c| c.seat.is_none() && c.ringing.contains(seat));
        if !wins {
            // Too late: another seat won, or the caller has gone.
            self.push(Output::StopRing {
                call: call.into(),
                seat: seat.into(),
            });
            if self.seat_rings_for(seat, call) {
                self.free_seat(now, seat, AgentState::Ready, Some(call));
            }
            self.dispatch(now);
            return;
        }
        let Some(entry) = self.calls.get_mut(call) else {
            return;
        };
        entry.ringing.remove(seat);
        entry.seat = Some(seat.into());
        let (queue, waited) = (
            entry.queue.clone(),
            now.saturating_duration_since(entry.queued_at),
        );
        let losers: Vec<String> = std::mem::take(&mut entry.ringing).into_iter().collect();
        entry.confirmed.clear();
        self.timers.cancel(&Timer::Ring {
            call: call.into(),
            seat: seat.into(),
        });
        self.timers.cancel(&Timer::MaxWait(call.into()));
        self.timers.cancel(&Timer::Retry(call.into()));
        for loser in losers {
            self.timers.cancel(&Timer::Ring {
                call: call.into(),
                seat: loser.clone(),
            });
            self.push(Output::StopRing {
                call: call.into(),
                seat: loser.clone(),
            });
            self.free_seat(now, &loser, AgentState::Ready, Some(call));
        }
        if let Some(s) = self.seats.get_mut(seat) {
            s.calls_answered += 1;
        }
        self.set_state(
            now,
            seat,
            AgentState::OnCall { call: call.into() },
            Some(call),
        );
        self.event(
            now,
            Some(call),
            Some(&queue),
            Some(seat),
            EventKind::Connect,
            Some(format!("waited_ms={}", waited.as_millis())),
        );
        self.push(Output::Connect {
            call: call.into(),
            seat: seat.into(),
        });
        self.dispatch(now);
    }

    /// The phone rung for `call` says it rings (180/183). A ring that
    /// times out without this is taken as an unreachable phone: it could
    /// not even be cancelled (RFC 3261 9.1), so the seat is paused rather
    /// than rung again while that INVITE may still be pending.
    pub fn ring_progress(&mut self, call: &str, seat: &str) {
        if let Some(entry) = self.calls.get_mut(call)
            && entry.ringing.contains(seat)
        {
            entry.confirmed.insert(seat.into());
        }
    }

    /// A seat rung for `call` did not take it.
    pub fn ring_failed(&mut self, now: Instant, call: &str, seat: &str, failure: RingFailure) {
        let rang = self
            .calls
            .get(call)
            .is_some_and(|c| c.ringing.contains(seat));
        if !rang {
            if self.seat_rings_for(seat, call) {
                self.free_seat(now, seat, AgentState::Ready, Some(call));
            }
            self.dispatch(now);
            return;
        }
        self.timers.cancel(&Timer::Ring {
            call: call.into(),
            seat: seat.into(),
        });
        self.ring_ended_unanswered(now, call, seat, failure);
        self.dispatch(now);
    }

    /// A connected call ended; the seat goes to wrap-up.
    pub fn call_ended(&mut self, now: Instant, call: &str, by: HangupBy) {
        let Some(entry) = self.calls.get(call) else {
            return;
        };
        let Some(seat) = entry.seat.clone() else {
            self.call_abandoned(now, call);
            return;
        };
        let queue = entry.queue.clone();
        self.forget_call(call);
        self.event(
            now,
            Some(call),
            Some(&queue),
            Some(&seat),
            EventKind::Complete,
            Some(by.as_str().into()),
        );
        self.seat_done(now, &seat, &queue, call);
        self.dispatch(now);
    }

    /// A seat's part in `call` (of `queue`) is over: wrap-up, or its
    /// after-call state at once.
    fn seat_done(&mut self, now: Instant, seat: &str, queue: &str, call: &str) {
        let wrapup = self
            .queues
            .get(queue)
            .map(|q| q.config.wrapup)
            .unwrap_or_default();
        if let Some(s) = self.seats.get_mut(seat) {
            s.idle_since = Some(now);
        }
        if self.seat_state(seat) == Some(&AgentState::OnCall { call: call.into() }) {
            if wrapup.is_zero() {
                self.after_work(now, seat);
            } else {
                self.set_state(now, seat, AgentState::WrapUp, Some(call));
                self.timers
                    .set(Timer::WrapUp(seat.to_string()), now + wrapup);
            }
        }
    }

    /// A seat's registration appeared or went away.
    pub fn seat_reachable(&mut self, now: Instant, seat: &str, reachable: bool) {
        let Some(s) = self.seats.get_mut(seat) else {
            return;
        };
        if s.reachable == reachable {
            return;
        }
        s.reachable = reachable;
        let state = s.state.clone();
        if self.auto_ready {
            if reachable && state == AgentState::LoggedOut {
                self.login(now, seat);
                self.set_state(now, seat, AgentState::Ready, None);
            } else if reachable {
                // Back before the call ended (a phone rebooting mid-call).
                s.registration_lapsed = false;
            } else if state != AgentState::LoggedOut {
                if state.busy() {
                    s.registration_lapsed = true;
                } else {
                    self.leave(now, seat, AgentState::LoggedOut);
                }
            }
        }
        self.refresh_available(seat);
        if !reachable {
            self.check_unstaffed(now, seat);
        }
        self.dispatch(now);
    }

    /// A change of agent state from the phone or the API.
    pub fn set_agent_state(
        &mut self,
        now: Instant,
        seat: &str,
        request: StateRequest,
    ) -> Result<(), AcdError> {
        let Some(s) = self.seats.get_mut(seat) else {
            return Err(AcdError::UnknownSeat(seat.into()));
        };
        let state = s.state.clone();
        match request {
            StateRequest::Login => {
                if state == AgentState::LoggedOut {
                    self.login(now, seat);
                    self.set_state(now, seat, AgentState::Ready, None);
                }
            }
            StateRequest::Ready => {
                if state.busy() {
                    s.after_call = None;
                } else if state != AgentState::Ready {
                    if state == AgentState::LoggedOut {
                        self.login(now, seat);
                    }
                    self.timers.cancel(&Timer::WrapUp(seat.into()));
                    self.set_state(now, seat, AgentState::Ready, None);
                }
            }
            StateRequest::NotReady(reason) => {
                if let AgentState::Ringing { call } = &state {
                    // Pressing "not ready" while it rings means "not this one".
                    let call = call.clone();
                    self.timers.cancel(&Timer::Ring {
                        call: call.clone(),
                        seat: seat.into(),
                    });
                    self.push(Output::StopRing {
                        call: call.clone(),
                        seat: seat.into(),
                    });
                    self.ring_ended_unanswered(now, &call, seat, RingFailure::Declined);
                    self.set_state(now, seat, AgentState::NotReady { reason }, None);
                } else if state.busy() {
                    s.after_call = Some(AfterCall::NotReady { reason });
                } else {
                    if state == AgentState::LoggedOut {
                        self.login(now, seat);
                    }
                    self.timers.cancel(&Timer::WrapUp(seat.into()));
                    self.set_state(now, seat, AgentState::NotReady { reason }, None);
                }
            }
            StateRequest::Logout => {
                if let AgentState::Ringing { call } = &state {
                    let call = call.clone();
                    self.timers.cancel(&Timer::Ring {
                        call: call.clone(),
                        seat: seat.into(),
                    });
                    self.push(Output::StopRing {
                        call: call.clone(),
                        seat: seat.into(),
                    });
                    self.ring_ended_unanswered(now, &call, seat, RingFailure::Declined);
                    self.leave(now, seat, AgentState::LoggedOut);
                } else if state.busy() {
                    s.after_call = Some(AfterCall::LoggedOut);
                } else if state != AgentState::LoggedOut {
                    self.leave(now, seat, AgentState::LoggedOut);
                }
                self.check_unstaffed(now, seat);
            }
        }
        self.dispatch(now);
        Ok(())
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let mut fired = false;
        while let Some(timer) = self.timers.pop_due(now) {
            fired = true;
            match timer {
                Timer::Ring { call, seat } => {
                    let Some(entry) = self.calls.get(&call).filter(|c| c.ringing.contains(&seat))
                    else {
                        continue;
                    };
                    let failure = if entry.confirmed.contains(&seat) {
                        RingFailure::NoAnswer
                    } else {
                        RingFailure::Unreachable
                    };
                    self.push(Output::StopRing {
                        call: call.clone(),
                        seat: seat.clone(),
                    });
                    self.ring_ended_unanswered(now, &call, &seat, failure);
                }
                Timer::MaxWait(call) => self.max_wait_passed(now, &call),
                Timer::Retry(call) => {
                    if let Some(entry) = self.calls.get_mut(&call) {
                        entry.skip.retain(|_, until| *until > now);
                        if let Some(next) = entry.skip.values().min().copied() {
                            self.timers.set(Timer::Retry(call), next);
                        }
                    }
                }
                Timer::WrapUp(seat) => {
                    if self.seat_state(&seat) == Some(&AgentState::WrapUp) {
                        self.after_work(now, &seat);
                    }
                }
            }
        }
        if fired {
            self.dispatch(now);
        }
    }

    // ---- outputs -----------------------------------------------------------

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Where a call stands in its queue (1 = next), while it waits.
    pub fn position(&self, call: &str) -> Option<usize> {
        let entry = self.calls.get(call)?;
        if entry.seat.is_some() {
            return None;
        }
        let ahead = self
            .calls
            .values()
            .filter(|c| c.queue == entry.queue && c.seat.is_none() && c.key < entry.key)
            .count();
        Some(ahead + 1)
    }

    /// How many member seats of `queue` are logged in and registered.
    pub fn staffed_count(&self, queue: &str) -> usize {
        self.queues.get(queue).map_or(0, |q| {
            q.members
                .iter()
                .filter(|(ext, _)| self.seats.get(ext).is_some_and(Seat::staffed))
                .count()
        })
    }

    pub fn seat(&self, ext: &str) -> Option<&Seat> {
        self.seats.get(ext)
    }

    // ---- internals ---------------------------------------------------------

    /// Puts a call (new, or just overflowed) into its queue: logs the
    /// enqueue, arms max-wait, applies `when_no_agents` if nobody staffs it.
    fn enter_queue(&mut self, now: Instant, call: &str) {
        let Some(entry) = self.calls.get(call) else {
            return;
        };
        let queue = entry.queue.clone();
        self.event(
            now,
            Some(call),
            Some(&queue),
            None,
            EventKind::Enqueue,
            None,
        );
        self.after_enqueue(now, call);
    }

    /// What entering a queue sets off: the max-wait timer, and
    /// `when_no_agents` if nobody staffs it.
    fn after_enqueue(&mut self, now: Instant, call: &str) {
        let Some(entry) = self.calls.get(call) else {
            return;
        };
        let queue = entry.queue.clone();
        let Some(q) = self.queues.get(&queue) else {
            return;
        };
        let (max_wait, when_no_agents) = (q.config.max_wait, q.config.when_no_agents.clone());
        match max_wait {
            Some(d) => self.timers.set(Timer::MaxWait(call.into()), now + d),
            None => self.timers.cancel(&Timer::MaxWait(call.into())),
        }
        if when_no_agents != Fallback::Wait && !self.staffed(&queue) {
            self.fall_back(now, call, when_no_agents, "no agents logged in");
        } else {
            self.make_waiting(call);
        }
    }

    fn make_waiting(&mut self, call: &str) {
        if let Some(entry) = self.calls.get(call)
            && entry.ringing.is_empty()
            && entry.seat.is_none()
        {
            self.waiting.insert(entry.key, call.into());
        }
    }

    fn max_wait_passed(&mut self, now: Instant, call: &str) {
        let Some(entry) = self.calls.get_mut(call) else {
            return;
        };
        if entry.seat.is_some() {
            return;
        }
        if !entry.ringing.is_empty() {
            // A seat is ringing: let it ring, decide when it gives up.
            entry.timed_out = true;
            return;
        }
        let Some(q) = self.queues.get(&entry.queue) else {
            return;
        };
        let fallback = q.config.when_timeout.clone();
        self.fall_back(now, call, fallback, "maximum wait reached");
    }

    /// Overflow, reject, or keep waiting.
    fn fall_back(&mut self, now: Instant, call: &str, fallback: Fallback, why: &str) {
        let Some(entry) = self.calls.get_mut(call) else {
            return;
        };
        entry.timed_out = false;
        match fallback {
            Fallback::Wait => self.make_waiting(call),
            // Its overflow queue was removed by a reload: keep waiting.
            Fallback::Overflow(to) if self.queues.get(&to).is_none_or(|q| q.draining) => {
                self.make_waiting(call)
            }
            Fallback::Overflow(to)
                if entry.overflows < MAX_OVERFLOWS && self.queues.contains_key(&to) =>
            {
                let from = std::mem::replace(&mut entry.queue, to.clone());
                entry.overflows += 1;
                entry.queued_at = now;
                entry.skip.clear();
                self.waiting.remove(&entry.key);
                let priority = self.queues[&to].config.priority;
                entry.key.priority = Reverse(priority);
                self.timers.cancel(&Timer::Retry(call.into()));
                self.event(
                    now,
                    Some(call),
                    Some(&from),
                    None,
                    EventKind::Overflow,
                    Some(format!("to={to}; {why}")),
                );
                self.push(Output::Overflowed {
                    call: call.into(),
                    from,
                    to,
                });
                self.enter_queue(now, call);
            }
            Fallback::Overflow(_) => self.fall_back(
                now,
                call,
                Fallback::Reject("overflow limit reached".into()),
                why,
            ),
            Fallback::Reject(reason) => {
                let queue = entry.queue.clone();
                self.forget_call(call);
                self.event(
                    now,
                    Some(call),
                    Some(&queue),
                    None,
                    EventKind::Reject,
                    Some(format!("{reason}; {why}")),
                );
                self.push(Output::Reject {
                    call: call.into(),
                    reason,
                });
            }
        }
    }

    /// A ring that ended without an answer: the seat is freed (or paused),
    /// skipped by this call for the queue's retry time, and the call waits
    /// again unless its max wait passed meanwhile.
    fn ring_ended_unanswered(
        &mut self,
        now: Instant,
        call: &str,
        seat: &str,
        failure: RingFailure,
    ) {
        let Some(entry) = self.calls.get_mut(call) else {
            return;
        };
        entry.ringing.remove(seat);
        entry.confirmed.remove(seat);
        let queue = entry.queue.clone();
        let Some(q) = self.queues.get(&queue) else {
            return;
        };
        let (retry, pause) = (q.config.retry, q.config.no_answer_not_ready);
        if !retry.is_zero() {
            entry.skip.insert(seat.into(), now + retry);
            self.timers
                .set_earliest(Timer::Retry(call.into()), now + retry);
        }
        let (timed_out, still_ringing) = (entry.timed_out, !entry.ringing.is_empty());
        self.event(
            now,
            Some(call),
            Some(&queue),
            Some(seat),
            EventKind::NoAnswer,
            Some(failure.as_str().into()),
        );
        if self.seat_rings_for(seat, call) {
            let next = match failure {
                RingFailure::Unreachable => AgentState::NotReady {
                    reason: "unreachable".into(),
                },
                RingFailure::NoAnswer if pause => AgentState::NotReady {
                    reason: "no_answer".into(),
                },
                _ => AgentState::Ready,
            };
            self.free_seat(now, seat, next, Some(call));
        }
        if let Some(entry) = self.calls.get_mut(call)
            && entry.only_seat.take().is_some()
        {
            // The transfer's seat did not take it: back to the queue.
            self.event(
                now,
                Some(call),
                Some(&queue),
                None,
                EventKind::Enqueue,
                Some("transfer failed".into()),
            );
            self.after_enqueue(now, call);
            return;
        }
        if !still_ringing {
            if timed_out {
                let fallback = self.queues[&queue].config.when_timeout.clone();
                self.fall_back(now, call, fallback, "maximum wait reached");
            } else {
                self.make_waiting(call);
            }
        }
    }

    fn stop_all_rings(&mut self, now: Instant, call: &str) {
        let Some(entry) = self.calls.get_mut(call) else {
            return;
        };
        let seats: Vec<String> = std::mem::take(&mut entry.ringing).into_iter().collect();
        for seat in seats {
            self.timers.cancel(&Timer::Ring {
                call: call.into(),
                seat: seat.clone(),
            });
            self.push(Output::StopRing {
                call: call.into(),
                seat: seat.clone(),
            });
            if self.seat_rings_for(&seat, call) {
                self.free_seat(now, &seat, AgentState::Ready, Some(call));
            }
        }
    }

    fn forget_call(&mut self, call: &str) {
        if let Some(entry) = self.calls.remove(call) {
            self.waiting.remove(&entry.key);
            for seat in &entry.ringing {
                self.timers.cancel(&Timer::Ring {
                    call: call.into(),
                    seat: seat.clone(),
                });
            }
        }
        self.timers.cancel(&Timer::MaxWait(call.into()));
        self.timers.cancel(&Timer::Retry(call.into()));
    }

    /// End of a call's work (wrap-up over, or none).
    fn after_work(&mut self, now: Instant, seat: &str) {
        self.free_seat(now, seat, AgentState::Ready, None);
    }

    /// A seat's ring or call is over: with auto-ready, a registration that
    /// lapsed meanwhile logs it out; else what the agent asked for while
    /// busy; else `next`.
    fn free_seat(&mut self, now: Instant, seat: &str, next: AgentState, call: Option<&str>) {
        let Some(s) = self.seats.get_mut(seat) else {
            return;
        };
        let lapsed = std::mem::take(&mut s.registration_lapsed);
        match s.after_call.take() {
            _ if lapsed => {}
            Some(AfterCall::LoggedOut) => {}
            Some(after) => return self.set_state(now, seat, after.state(), None),
            None => return self.set_state(now, seat, next, call),
        }
        self.leave(now, seat, AgentState::LoggedOut);
        self.check_unstaffed(now, seat);
    }

    fn login(&mut self, now: Instant, seat: &str) {
        if let Some(s) = self.seats.get_mut(seat) {
            s.idle_since = Some(now);
            s.after_call = None;
        }
    }

    fn leave(&mut self, now: Instant, seat: &str, to: AgentState) {
        self.timers.cancel(&Timer::WrapUp(seat.into()));
        if let Some(s) = self.seats.get_mut(seat) {
            s.after_call = None;
        }
        self.set_state(now, seat, to, None);
    }

    /// After a seat stopped staffing its queues: queues left with nobody
    /// apply `when_no_agents` to the calls waiting in them.
    fn check_unstaffed(&mut self, now: Instant, seat: &str) {
        let Some(s) = self.seats.get(seat) else {
            return;
        };
        if s.staffed() {
            return;
        }
        let queues: Vec<String> = s.queues.iter().map(|(q, _)| q.clone()).collect();
        for queue in queues {
            let Some(q) = self.queues.get(&queue) else {
                continue;
            };
            let fallback = q.config.when_no_agents.clone();
            if fallback == Fallback::Wait || self.staffed(&queue) {
                continue;
            }
            let stranded: Vec<String> = self
                .waiting
                .values()
                .filter(|c| self.calls[*c].queue == queue)
                .cloned()
                .collect();
            for call in stranded {
                if let Some(entry) = self.calls.get(&call) {
                    self.waiting.remove(&entry.key);
                }
                self.fall_back(now, &call, fallback.clone(), "no agents logged in");
            }
        }
    }

    fn staffed(&self, queue: &str) -> bool {
        self.queues.get(queue).is_some_and(|q| {
            q.members
                .iter()
                .any(|(ext, _)| self.seats.get(ext).is_some_and(Seat::staffed))
        })
    }

    fn seat_state(&self, seat: &str) -> Option<&AgentState> {
        self.seats.get(seat).map(|s| &s.state)
    }

    fn seat_rings_for(&self, seat: &str, call: &str) -> bool {
        matches!(self.seat_state(seat), Some(AgentState::Ringing { call: c }) if c == call)
    }

    /// Rings `seat` for `call` (the dispatcher chose it).
    fn ring(&mut self, now: Instant, call: &str, seat: &str) {
        let Some(entry) = self.calls.get_mut(call) else {
            return;
        };
        self.waiting.remove(&entry.key);
        entry.ringing.insert(seat.into());
        let queue = entry.queue.clone();
        let timeout = self
            .queues
            .get(&queue)
            .map(|q| q.config.ring_timeout)
            .unwrap_or(Duration::from_secs(15));
        self.timers.set(
            Timer::Ring {
                call: call.into(),
                seat: seat.into(),
            },
            now + timeout,
        );
        self.set_state(
            now,
            seat,
            AgentState::Ringing { call: call.into() },
            Some(call),
        );
        self.event(
            now,
            Some(call),
            Some(&queue),
            Some(seat),
            EventKind::Ring,
            None,
        );
        self.push(Output::Ring {
            call: call.into(),
            seat: seat.into(),
        });
    }

    fn set_state(&mut self, now: Instant, seat: &str, to: AgentState, call: Option<&str>) {
        let Some(s) = self.seats.get_mut(seat) else {
            return;
        };
        if s.state == to {
            return;
        }
        let detail = format!("{}->{}", s.state.label(), to.label());
        s.state = to;
        s.since = Some(now);
        self.refresh_available(seat);
        self.event(
            now,
            call,
            None,
            Some(seat),
            EventKind::AgentState,
            Some(detail),
        );
    }

    fn refresh_available(&mut self, seat: &str) {
        match self.seats.get(seat) {
            Some(s) if s.available() => self.available.insert(seat.to_string()),
            _ => self.available.remove(seat),
        };
    }

    fn event(
        &mut self,
        at: Instant,
        call: Option<&str>,
        queue: Option<&str>,
        seat: Option<&str>,
        kind: EventKind,
        detail: Option<String>,
    ) {
        self.push(Output::Event(AcdEvent {
            at,
            call: call.map(Into::into),
            queue: queue.map(Into::into),
            seat: seat.map(Into::into),
            kind,
            detail,
        }));
    }

    fn push(&mut self, out: Output) {
        self.outputs.push_back(out);
    }
}
