//! Seeded random traffic for `random.rs`: callers who ring in, wait, give
//! up or talk and hang up; agents whose phones answer, refuse or let ring,
//! put calls on hold, hang up, take breaks and re-register. Every peer
//! reacts to what the engine sends at the simulated instant it is sent.

use super::harness::{Sim, sdp};
use super::peers::{Peer, PeerDialog, Trunk, TrunkCall};
use super::phone::{Phone, Ring};
use crate::acd::StateRequest;
use crate::b2bua::Command;
use crate::testutil::Rng;
use std::collections::BTreeMap;
use std::time::Duration;

/// What an agent's phone does with a call that rings it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pick {
    Answer,
    Busy,
    Decline,
}

#[derive(Debug)]
pub(super) enum Action {
    Arrive,
    Reply {
        phone: usize,
        invite: String,
        pick: Pick,
    },
    /// The 487 for a CANCELled INVITE, which some phones send late.
    Terminated {
        phone: usize,
        invite: String,
    },
    AgentHangup {
        phone: usize,
        dialog: String,
    },
    AgentHold {
        phone: usize,
        dialog: String,
    },
    CallerGivesUp(usize),
    CallerHangup(usize),
    Break(usize),
    BackToWork(usize),
    Unregister(usize),
    Register(usize),
}

pub struct SeatPhone {
    pub phone: Phone,
    /// INVITEs without a final response yet, by Call-ID.
    pub rings: BTreeMap<String, Ring>,
    /// CANCELled INVITEs whose 487 is yet to be sent, by Call-ID.
    pub(super) cancelled: BTreeMap<String, Ring>,
    /// Answered calls, by Call-ID.
    pub calls: BTreeMap<String, PeerDialog>,
    /// Calls hung up, to ACK a late refusal of a re-INVITE in them.
    pub(super) ended: BTreeMap<String, PeerDialog>,
    /// The Expires of the REGISTER being authenticated.
    pub(super) expires: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    Offered,
    Answered,
    Done,
}

pub struct Caller {
    pub call: TrunkCall,
    pub state: CallState,
    /// The final status the INVITE got.
    pub final_code: Option<u16>,
    /// The INVITE had no SDP: the answer goes in the ACK.
    pub late_offer: bool,
    /// The early dialog of hotline's 180, to give up with BYE instead of CANCEL.
    pub early: Option<PeerDialog>,
}

pub struct World {
    pub sim: Sim,
    pub seed: u64,
    pub(super) rng: Rng,
    pub phones: Vec<SeatPhone>,
    pub(super) trunk: Trunk,
    pub callers: Vec<Caller>,
    agenda: Vec<(Duration, u64, Action)>,
    seq: u64,
    arrivals_left: usize,
}

impl World {
    /// Registers the seats at time zero; `calls` callers will ring in.
    pub fn new(mut sim: Sim, seed: u64, seats: &[&str], calls: usize) -> World {
        let phones = super::registered(&mut sim, seats)
            .into_iter()
            .map(|phone| SeatPhone {
                phone,
                rings: BTreeMap::new(),
                cancelled: BTreeMap::new(),
                calls: BTreeMap::new(),
                ended: BTreeMap::new(),
                expires: 3600,
            })
            .collect();
        let mut world = World {
            sim,
            seed,
            rng: Rng::seeded(seed),
            phones,
            trunk: Trunk::new(),
            callers: Vec::new(),
            agenda: Vec::new(),
            seq: 0,
            arrivals_left: calls,
        };
        world.schedule(Duration::ZERO, Action::Arrive);
        world
    }

    /// Runs until every caller is done and every planned action has run;
    /// `after_step` is called whenever the peers have reacted.
    pub fn run(&mut self, after_step: impl Fn(&World)) {
        loop {
            self.react(&after_step);
            let next_action = self.agenda.iter().map(|(at, ..)| *at).min();
            let Some(next_action) = next_action else {
                break;
            };
            let next_engine = self.sim.engine.poll_timeout().map(|t| t - self.sim.start);
            let next = next_engine
                .map_or(next_action, |e| e.min(next_action))
                .max(self.sim.elapsed());
            self.sim.advance_to(next);
            self.react(&after_step);
            while let Some(action) = self.due() {
                self.act(action);
                self.react(&after_step);
            }
        }
    }

    pub(super) fn schedule(&mut self, after: Duration, action: Action) {
        self.seq += 1;
        self.agenda
            .push((self.sim.elapsed() + after, self.seq, action));
    }

    fn due(&mut self) -> Option<Action> {
        let now = self.sim.elapsed();
        let i = (0..self.agenda.len())
            .filter(|i| self.agenda[*i].0 <= now)
            .min_by_key(|i| (self.agenda[*i].0, self.agenda[*i].1))?;
        Some(self.agenda.swap_remove(i).2)
    }

    /// A random duration in `[lo, hi)` milliseconds.
    pub(super) fn between(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.rng.below(hi - lo))
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.rng.below(100) < percent
    }

    /// Lets every peer handle what the engine sent it, until all are quiet.
    fn react(&mut self, after_step: &impl Fn(&World)) {
        loop {
            let mut quiet = true;
            for i in 0..self.phones.len() {
                while let Some(sent) = self.sim.take(self.phones[i].phone.flow()) {
                    quiet = false;
                    self.phone_gets(i, sent.msg);
                    after_step(self);
                }
            }
            while let Some(sent) = self.sim.take(self.trunk.flow()) {
                quiet = false;
                self.trunk_gets(sent.msg);
                after_step(self);
            }
            if quiet {
                return;
            }
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Arrive => self.arrive(),
            Action::Reply {
                phone,
                invite,
                pick,
            } => {
                let Some(ring) = self.phones[phone].rings.remove(&invite) else {
                    return;
                };
                let p = &self.phones[phone].phone;
                match pick {
                    Pick::Busy => p.reply(&mut self.sim, &ring, 486, "Busy Here"),
                    Pick::Decline => p.reply(&mut self.sim, &ring, 603, "Decline"),
                    Pick::Answer => {
                        let dialog = p.answer(&mut self.sim, &ring);
                        self.phones[phone].calls.insert(invite.clone(), dialog);
                        if self.chance(40) {
                            let talk = self.between(5_000, 120_000);
                            self.schedule(
                                talk,
                                Action::AgentHangup {
                                    phone,
                                    dialog: invite.clone(),
                                },
                            );
                        }
                        if self.chance(25) {
                            let at = self.between(1_000, 10_000);
                            self.schedule(
                                at,
                                Action::AgentHold {
                                    phone,
                                    dialog: invite,
                                },
                            );
                        }
                    }
                }
            }
            Action::Terminated { phone, invite } => {
                if let Some(ring) = self.phones[phone].cancelled.remove(&invite) {
                    self.phones[phone]
                        .phone
                        .reply(&mut self.sim, &ring, 487, "Request Terminated");
                }
            }
            Action::AgentHangup { phone, dialog } => {
                if let Some(mut d) = self.phones[phone].calls.remove(&dialog) {
                    d.send_request(&mut self.sim, "BYE", "");
                    self.phones[phone].ended.insert(dialog, d);
                }
            }
            Action::AgentHold { phone, dialog } => {
                let ip = self.phones[phone].phone.addr.ip().to_string();
                if let Some(d) = self.phones[phone].calls.get_mut(&dialog) {
                    d.send_request(&mut self.sim, "INVITE", &sdp(&ip, 30_000, "sendonly"));
                }
            }
            Action::CallerGivesUp(i) => {
                if self.callers[i].state != CallState::Offered {
                    return;
                }
                // Some stacks end an early dialog with BYE (RFC 3261 §15).
                let bye = self.chance(20);
                match self.callers[i].early.as_mut() {
                    Some(early) if bye => _ = early.send_request(&mut self.sim, "BYE", ""),
                    _ => self.callers[i].call.cancel(&mut self.sim),
                }
            }
            Action::CallerHangup(i) => {
                if self.callers[i].state == CallState::Answered {
                    self.callers[i].call.bye(&mut self.sim);
                    self.callers[i].state = CallState::Done;
                }
            }
            Action::Break(i) => {
                let seat = self.phones[i].phone.ext.clone();
                let request = StateRequest::NotReady("break".into());
                self.sim
                    .command(Command::SetAgentState { seat, request })
                    .expect("a configured seat");
                let back = self.between(10_000, 90_000);
                self.schedule(back, Action::BackToWork(i));
            }
            Action::BackToWork(i) => {
                let seat = self.phones[i].phone.ext.clone();
                self.sim
                    .command(Command::SetAgentState {
                        seat,
                        request: StateRequest::Ready,
                    })
                    .unwrap();
            }
            Action::Unregister(i) => self.send_register(i, 0),
            // Whatever the seat is doing: a registration that lapses and
            // comes back during a call must not log the seat out after it.
            Action::Register(i) => self.send_register(i, 3600),
        }
    }

    fn send_register(&mut self, i: usize, expires: u32) {
        self.phones[i].expires = expires;
        self.phones[i]
            .phone
            .send_register(&mut self.sim, None, expires);
    }

    fn arrive(&mut self) {
        let dialled = match self.rng.below(100) {
            0..=59 => "12345",
            60..=69 => "12329",
            70..=94 => "110",
            _ => "99999",
        };
        let caller = format!("1390000{:04}", self.callers.len());
        let late_offer = self.chance(15);
        let call = match late_offer {
            true => self
                .trunk
                .call_without_offer(&mut self.sim, dialled, &caller),
            false => self.trunk.call(&mut self.sim, dialled, &caller),
        };
        self.callers.push(Caller {
            call,
            state: CallState::Offered,
            final_code: None,
            late_offer,
            early: None,
        });
        let i = self.callers.len() - 1;
        if !self.chance(10) {
            let patience = self.between(3_000, 120_000);
            self.schedule(patience, Action::CallerGivesUp(i));
        }
        if self.chance(12) {
            let phone = self.rng.below(self.phones.len() as u64) as usize;
            self.schedule(Duration::ZERO, Action::Break(phone));
        }
        if self.chance(6) {
            let phone = self.rng.below(self.phones.len() as u64) as usize;
            self.schedule(Duration::ZERO, Action::Unregister(phone));
            let back = self.between(5_000, 40_000);
            self.schedule(back, Action::Register(phone));
        }
        self.arrivals_left -= 1;
        if self.arrivals_left > 0 {
            let gap = self.between(0, 25_000);
            self.schedule(gap, Action::Arrive);
        }
    }
}
