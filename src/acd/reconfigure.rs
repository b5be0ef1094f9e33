//! A reload's new queues and seats ([`Acd::reconfigure`]), applied
//! without ending any call.
//!
//! - A new queue or seat is there at once; a new seat is logged out until
//!   its phone registers (or logs in).
//! - A changed queue has its new settings at once: strategy and penalties
//!   for the next seat chosen, ring timeout for rings started from now,
//!   max wait and fallbacks for calls entering it from now (a waiting
//!   call's max-wait deadline stays), priority re-sorts its waiting calls.
//!   A seat's new queues and penalties count for the next call offered.
//! - A removed queue's calls not yet answered move to the queue their line
//!   points at now, if the engine names one (`reroute`): logged as an
//!   overflow (`to=<queue>; queue removed by a reload`), a seat already
//!   ringing for one rings on. The others (answered calls, calls whose
//!   line was removed too) stay, and the queue *drains*: no new call
//!   enters it, the seats that served it still answer its waiting calls
//!   (with its old settings; not those the reload moved to the other
//!   side, emergency or not), and it goes with its last call.
//! - A removed seat that is ringing or on a call (or a callback) keeps it:
//!   it is offered nothing more and leaves when that is over, without
//!   wrap-up; an idle one leaves at once. Leaving logs it out and is told
//!   by [`Output::SeatRemoved`] (the engine drops its registration).
//! - A reload never ends or refuses a call itself: a queue left without
//!   seats applies its fallbacks at their usual moments (max wait, the
//!   last seat logging out), not at the reload.

use super::{Acd, AcdConfig, AgentState, Output, Queue, Seat, Timer};
use crate::model::EventKind;
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// What a reconfiguration left for later, for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// Calls moved out of a removed queue: (call, from, to).
    pub moved: Vec<(String, String, String)>,
    /// Removed queues still holding calls: (queue, calls).
    pub draining: Vec<(String, usize)>,
    /// Removed seats still ringing or on a call.
    pub retiring: Vec<String>,
}

impl Acd {
    /// Applies a reload's queues and seats. `reroute` names, for calls
    /// whose queue is removed, the queue their line points at now.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        config: AcdConfig,
        auto_ready: bool,
        reroute: &HashMap<String, String>,
    ) -> Reconfigured {
        self.auto_ready = auto_ready;
        let configured: BTreeSet<String> = config.queues.iter().map(|q| q.name.clone()).collect();
        for qc in config.queues {
            let name = qc.name.clone();
            match self.queues.get_mut(&name) {
                Some(q) => {
                    let reprioritise = q.config.priority != qc.priority;
                    q.config = qc;
                    q.draining = false;
                    q.members.clear();
                    self.draining.remove(&name);
                    if reprioritise {
                        self.reprioritise(&name);
                    }
                }
                None => {
                    self.queues.insert(
                        name,
                        Queue {
                            config: qc,
                            members: Vec::new(),
                            rr_last: None,
                            draining: false,
                        },
                    );
                }
            }
        }
        let kept: BTreeSet<String> = config.seats.iter().map(|s| s.extension.clone()).collect();
        for s in config.seats {
            for (q, penalty) in &s.queues {
                if let Some(queue) = self.queues.get_mut(q) {
                    queue.members.push((s.extension.clone(), *penalty));
                }
            }
            let ext = s.extension.clone();
            match self.seats.get_mut(&ext) {
                Some(seat) => {
                    seat.queues = s.queues;
                    seat.retiring = false;
                    self.retiring.remove(&ext);
                }
                None => {
                    self.seats
                        .insert(ext.clone(), Seat::new(s.extension, s.queues));
                }
            }
            self.refresh_available(&ext);
        }
        let removed: Vec<String> = self
            .seats
            .keys()
            .filter(|e| !kept.contains(*e))
            .cloned()
            .collect();
        for ext in removed {
            if let Some(seat) = self.seats.get_mut(&ext) {
                seat.retiring = true;
            }
            self.retiring.insert(ext.clone());
            self.refresh_available(&ext);
        }
        let mut report = Reconfigured::default();
        let gone: Vec<String> = self
            .queues
            .keys()
            .filter(|q| !configured.contains(*q))
            .cloned()
            .collect();
        for name in gone {
            let mut unanswered: Vec<(super::WaitKey, String)> = self
                .calls
                .iter()
                .filter(|(_, c)| c.queue == name && c.seat.is_none())
                .map(|(id, c)| (c.key, id.clone()))
                .collect();
            unanswered.sort();
            for (_, call) in unanswered {
                if let Some(to) = reroute.get(&call).filter(|to| configured.contains(*to)) {
                    self.move_call(now, &call, to);
                    report.moved.push((call, name.clone(), to.clone()));
                }
            }
            // Its members stay as they were, to answer what is left, but
            // for those the reload moved to the other side.
            let classes: HashMap<String, crate::model::LineClass> = self
                .seats
                .values()
                .map(|s| (s.extension.clone(), self.seat_class(s)))
                .collect();
            if let Some(q) = self.queues.get_mut(&name) {
                q.draining = true;
                let class = q.config.class;
                q.members
                    .retain(|(ext, _)| classes.get(ext) == Some(&class));
            }
            self.draining.insert(name);
        }
        self.dispatch(now);
        report.retiring = self.retiring.iter().cloned().collect();
        report.draining = self
            .draining
            .iter()
            .map(|q| {
                (
                    q.clone(),
                    self.calls.values().filter(|c| &c.queue == q).count(),
                )
            })
            .collect();
        report
    }

    /// Seats and queues a reload removed leave once nothing holds them:
    /// a seat when it no longer rings or talks, a queue with its last call.
    pub(super) fn reap(&mut self, now: Instant) {
        if !self.retiring.is_empty() {
            let done: Vec<String> = self
                .retiring
                .iter()
                .filter(|s| !self.seats.get(*s).is_some_and(|s| s.state.busy()))
                .cloned()
                .collect();
            for ext in done {
                self.remove_seat(now, &ext);
            }
        }
        if !self.draining.is_empty() {
            let empty: Vec<String> = self
                .draining
                .iter()
                .filter(|q| !self.calls.values().any(|c| &c.queue == *q))
                .cloned()
                .collect();
            for q in empty {
                self.draining.remove(&q);
                self.queues.remove(&q);
            }
        }
    }

    fn remove_seat(&mut self, now: Instant, ext: &str) {
        self.retiring.remove(ext);
        self.timers.cancel(&Timer::WrapUp(ext.into()));
        if let Some(s) = self.seats.get_mut(ext) {
            s.after_call = None;
        }
        self.set_state(now, ext, AgentState::LoggedOut, None);
        self.seats.remove(ext);
        self.available.remove(ext);
        for q in self.queues.values_mut() {
            q.members.retain(|(e, _)| e != ext);
        }
        self.push(Output::SeatRemoved { seat: ext.into() });
    }

    /// A queue's priority changed: its waiting calls take their new place.
    fn reprioritise(&mut self, queue: &str) {
        let Some(priority) = self.queues.get(queue).map(|q| Reverse(q.config.priority)) else {
            return;
        };
        for (id, entry) in self
            .calls
            .iter_mut()
            .filter(|(_, c)| c.queue == queue && c.seat.is_none())
        {
            let waiting = self.waiting.remove(&entry.key).is_some();
            entry.key.priority = priority;
            if waiting {
                self.waiting.insert(entry.key, id.clone());
            }
        }
    }

    /// Moves a call not yet answered out of a removed queue into `to`,
    /// keeping its arrival time; a seat ringing for it rings on.
    fn move_call(&mut self, now: Instant, call: &str, to: &str) {
        let Some(priority) = self.queues.get(to).map(|q| Reverse(q.config.priority)) else {
            return;
        };
        let max_wait = self.queues.get(to).and_then(|q| q.config.max_wait);
        let Some(entry) = self.calls.get_mut(call) else {
            return;
        };
        let from = std::mem::replace(&mut entry.queue, to.to_string());
        entry.queued_at = now;
        entry.skip.clear();
        entry.timed_out = false;
        self.waiting.remove(&entry.key);
        entry.key.priority = priority;
        self.timers.cancel(&Timer::Retry(call.into()));
        match max_wait {
            Some(d) => self.timers.set(Timer::MaxWait(call.into()), now + d),
            None => self.timers.cancel(&Timer::MaxWait(call.into())),
        }
        let detail = format!("to={to}; queue removed by a reload");
        self.event(
            now,
            Some(call),
            Some(&from),
            None,
            EventKind::Overflow,
            Some(detail),
        );
        self.push(Output::Overflowed {
            call: call.into(),
            from,
            to: to.into(),
        });
        self.make_waiting(call);
    }
}
