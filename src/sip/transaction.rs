//! The SIP transaction layer (RFC 3261 §17, with the RFC 6026 `Accepted`
//! states), sans-IO.
//!
//! It owns every client and server transaction, matches incoming messages
//! to them, retransmits over UDP, absorbs retransmissions, and reports to
//! the transaction user (the B2BUA) only what it must act on. Time is an
//! input; timers are entries in one heap, the next wake-up is its minimum.
//!
//! ```text
//! server INVITE:   Proceeding --3xx-6xx--> Completed --ACK--> Confirmed --I--> gone
//!                      |                      '--H (no ACK)--> gone + Timeout
//!                      '--2xx--> Accepted --ACK (2xx retransmits stop)--> gone after L
//!                                   '--L (no ACK)--> gone + Timeout
//! server non-INVITE: Trying --final--> Completed --J--> gone
//! client INVITE:   Calling --1xx--> Proceeding --3xx-6xx (ACK sent)--> Completed --D--> gone
//!                     |  A: retransmit, B: Timeout       '--2xx--> Accepted --M--> gone
//! client non-INVITE: Trying --1xx--> Proceeding --final--> Completed --K--> gone
//!                      E: retransmit, F: Timeout
//! ```

use super::{Flow, Message, Transmit};
use bytes::Bytes;
use ezk_sip_types::{Method, Name};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// RFC 3261 timer base values.
#[derive(Debug, Clone, Copy)]
pub struct TimerConfig {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Identifies a transaction: top Via branch and method (ACK is matched to
/// its INVITE), and whether we are the server or the client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey {
    pub branch: String,
    pub method: String,
    pub server: bool,
}

/// What the transaction user must act on.
#[derive(Debug)]
pub enum TxEvent {
    /// A new request (a retransmission is absorbed). Answer it with
    /// [`TransactionLayer::send_response`] on `key`.
    Request {
        key: TxKey,
        msg: Message,
        flow: Flow,
    },
    /// An ACK for a 2xx (its own transaction). Already stopped the 2xx
    /// retransmissions of the matching server transaction if there is one.
    Ack { msg: Message, flow: Flow },
    /// A CANCEL matched the INVITE server transaction `invite`; it has been
    /// answered 200. The TU should answer the INVITE with 487.
    Cancel { invite: TxKey, msg: Message },
    /// A response for a client transaction. For INVITE, 2xx retransmissions
    /// are passed up too (the TU re-sends its ACK).
    Response {
        key: TxKey,
        msg: Message,
        flow: Flow,
    },
    /// A client transaction got no final response in time (timer B/F), or
    /// a server INVITE transaction got no ACK (timer H/L).
    Timeout { key: TxKey },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Retransmit: A, E (client) or G (server responses, also 2xx).
    Retransmit,
    /// Give up: B, F (client), H, L (server).
    Expire,
    /// Linger to absorb retransmissions, then forget: D, I, J, K, M.
    Forget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
    Accepted,
    Confirmed,
}

#[derive(Debug)]
struct Tx {
    state: State,
    invite: bool,
    flow: Flow,
    /// Last message we sent (request for clients, response for servers).
    last: Option<Bytes>,
    interval: Duration,
    deadlines: [Option<Instant>; 3],
    /// For server INVITEs: Call-ID and CSeq, to match the ACK of a 2xx.
    dialog_key: Option<(String, u32)>,
    /// A server INVITE whose 2xx was acknowledged.
    acked: bool,
    /// For server transactions: the request, to build later responses.
    request: Option<Message>,
}

impl Tx {
    fn new(invite: bool, flow: Flow, t1: Duration) -> Tx {
        Tx {
            state: if invite {
                State::Proceeding
            } else {
                State::Trying
            },
            invite,
            flow,
            last: None,
            interval: t1,
            deadlines: [None; 3],
            dialog_key: None,
            acked: false,
            request: None,
        }
    }
}

/// All transactions of one SIP endpoint.
#[derive(Debug, Default)]
pub struct TransactionLayer {
    timers: TimerConfig,
    txs: HashMap<TxKey, Tx>,
    accepted: HashMap<(String, u32), TxKey>,
    heap: BinaryHeap<Reverse<(Instant, TxKey, Timer)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
}

fn method_key(m: &Method) -> String {
    if *m == Method::ACK {
        "INVITE".into()
    } else {
        m.to_string()
    }
}

impl TransactionLayer {
    pub fn new(timers: TimerConfig) -> Self {
        TransactionLayer {
            timers,
            ..Default::default()
        }
    }

    /// Number of live transactions (for metrics and leak tests).
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Feeds a parsed, checked message that arrived on `flow`.
    pub fn handle_message(&mut self, now: Instant, msg: Message, flow: Flow) {
        let Some(branch) = msg.branch() else { return };
        let Some(cseq) = msg.cseq() else { return };
        match msg.method().cloned() {
            Some(method) => self.handle_request(now, msg, method, branch.to_string(), flow),
            None => {
                let key = TxKey {
                    branch: branch.to_string(),
                    method: method_key(&cseq.method),
                    server: false,
                };
                self.handle_response(now, key, msg, flow);
            }
        }
    }

    fn handle_request(
        &mut self,
        now: Instant,
        msg: Message,
        method: Method,
        branch: String,
        flow: Flow,
    ) {
        let key = TxKey {
            branch,
            method: method_key(&method),
            server: true,
        };
        if method == Method::ACK {
            if let Some(tx) = self.txs.get_mut(&key)
                && tx.invite
                && tx.state == State::Completed
            {
                // ACK for our non-2xx final response: absorb it.
                tx.state = State::Confirmed;
                tx.deadlines = [None; 3];
                tx.acked = true;
                let linger = if flow.proto.reliable() {
                    Duration::ZERO
                } else {
                    self.timers.t4
                };
                self.arm(&key, Timer::Forget, now + linger);
                return;
            }
            if let (Some(call_id), Some(cseq)) = (msg.call_id(), msg.cseq())
                && let Some(invite) = self.accepted.remove(&(call_id.to_string(), cseq.cseq))
                && let Some(tx) = self.txs.get_mut(&invite)
            {
                // ACK for our 2xx: stop retransmitting it (RFC 6026 Accepted).
                tx.deadlines[Timer::Retransmit as usize] = None;
                tx.acked = true;
            }
            self.events.push_back(TxEvent::Ack { msg, flow });
            return;
        }
        if let Some(tx) = self.txs.get(&key) {
            // A retransmission: repeat our last response, if any.
            if let Some(last) = &tx.last {
                self.transmits.push_back(Transmit {
                    flow: tx.flow,
                    data: last.clone(),
                });
            }
            return;
        }
        let invite = method == Method::INVITE;
        let mut tx = Tx::new(invite, flow, self.timers.t1);
        if method == Method::CANCEL {
            let invite_key = TxKey {
                method: "INVITE".into(),
                ..key.clone()
            };
            let status = match self.txs.get(&invite_key) {
                Some(t) if t.state == State::Proceeding => 200,
                Some(_) => 200,
                None => 481,
            };
            self.txs.insert(key.clone(), tx);
            self.send_response(now, &key, Message::response_to(&msg, status, None));
            if status == 200
                && self
                    .txs
                    .get(&invite_key)
                    .is_some_and(|t| t.state == State::Proceeding)
            {
                self.events.push_back(TxEvent::Cancel {
                    invite: invite_key,
                    msg,
                });
            }
            return;
        }
        if invite {
            tx.dialog_key = msg
                .call_id()
                .zip(msg.cseq())
                .map(|(c, s)| (c.to_string(), s.cseq));
        }
        tx.request = Some(msg.clone());
        self.txs.insert(key.clone(), tx);
        if invite {
            self.send_response(now, &key, Message::response_to(&msg, 100, None));
        }
        self.events.push_back(TxEvent::Request { key, msg, flow });
    }

    fn handle_response(&mut self, now: Instant, key: TxKey, msg: Message, flow: Flow) {
        let Some(code) = msg.code() else { return };
        let t = self.timers;
        let Some(tx) = self.txs.get_mut(&key) else {
            return;
        };
        let reliable = tx.flow.proto.reliable();
        match (tx.state, code) {
            (State::Trying | State::Proceeding, 100..=199) => {
                if tx.state == State::Trying && !tx.invite {
                    tx.interval = t.t2;
                }
                tx.state = State::Proceeding;
                if tx.invite {
                    // Proceeding: no retransmission and no timer B; the TU
                    // bounds the ringing (and calls `expect_final_by`).
                    tx.deadlines = [None; 3];
                }
            }
            (State::Trying | State::Proceeding, 200..=299) if tx.invite => {
                tx.state = State::Accepted;
                tx.deadlines = [None; 3];
                self.arm(&key, Timer::Forget, now + t.t1 * 64);
            }
            (State::Accepted, 200..=299) => {}
            (State::Trying | State::Proceeding, 200..=699) => {
                tx.state = State::Completed;
                tx.deadlines = [None; 3];
                let linger = match (reliable, tx.invite) {
                    (true, _) => Duration::ZERO,
                    (false, true) => Duration::from_secs(32),
                    (false, false) => t.t4,
                };
                if tx.invite {
                    let ack = ack_for_failure(&msg, tx.last.as_ref());
                    tx.last = ack.clone();
                    if let Some(ack) = ack {
                        self.transmits.push_back(Transmit {
                            flow: tx.flow,
                            data: ack,
                        });
                    }
                }
                self.arm(&key, Timer::Forget, now + linger);
            }
            (State::Completed, 300..=699) if tx.invite => {
                // Retransmitted final response: repeat the ACK, tell no one.
                if let Some(ack) = &tx.last {
                    self.transmits.push_back(Transmit {
                        flow: tx.flow,
                        data: ack.clone(),
                    });
                }
                return;
            }
            _ => return,
        }
        self.events.push_back(TxEvent::Response { key, msg, flow });
    }

    /// Starts a client transaction for `msg` (whose top Via carries a fresh
    /// branch) and sends it on `flow`.
    pub fn send_request(&mut self, now: Instant, msg: &Message, flow: Flow) -> Option<TxKey> {
        let method = msg.method()?.clone();
        let key = TxKey {
            branch: msg.branch()?.to_string(),
            method: method_key(&method),
            server: false,
        };
        let data = msg.to_bytes();
        let mut tx = Tx::new(method == Method::INVITE, flow, self.timers.t1);
        tx.state = State::Trying;
        tx.last = Some(data.clone());
        self.txs.insert(key.clone(), tx);
        if !flow.proto.reliable() {
            self.arm(&key, Timer::Retransmit, now + self.timers.t1);
        }
        self.arm(&key, Timer::Expire, now + self.timers.t1 * 64);
        self.transmits.push_back(Transmit { flow, data });
        Some(key)
    }

    /// Sends a response within server transaction `key`.
    pub fn send_response(&mut self, now: Instant, key: &TxKey, msg: Message) {
        let t = self.timers;
        let Some(code) = msg.code() else { return };
        let Some(tx) = self.txs.get_mut(key) else {
            return;
        };
        if !matches!(tx.state, State::Trying | State::Proceeding) {
            return;
        }
        let data = msg.to_bytes();
        tx.last = Some(data.clone());
        let flow = tx.flow;
        let reliable = flow.proto.reliable();
        let mut arm = Vec::new();
        match code {
            100..=199 => tx.state = State::Proceeding,
            200..=299 if tx.invite => {
                tx.state = State::Accepted;
                if let Some(dk) = tx.dialog_key.clone() {
                    self.accepted.insert(dk, key.clone());
                }
                if !reliable {
                    arm.push((Timer::Retransmit, now + t.t1));
                }
                arm.push((Timer::Expire, now + t.t1 * 64));
            }
            _ if tx.invite => {
                tx.state = State::Completed;
                if !reliable {
                    arm.push((Timer::Retransmit, now + t.t1));
                }
                arm.push((Timer::Expire, now + t.t1 * 64));
            }
            _ => {
                tx.state = State::Completed;
                let linger = if reliable { Duration::ZERO } else { t.t1 * 64 };
                arm.push((Timer::Forget, now + linger));
            }
        }
        for (timer, at) in arm {
            self.arm(key, timer, at);
        }
        self.transmits.push_back(Transmit { flow, data });
    }

    /// Sends a message outside any transaction (the ACK for a 2xx).
    pub fn send_stateless(&mut self, msg: &Message, flow: Flow) {
        self.transmits.push_back(Transmit {
            flow,
            data: msg.to_bytes(),
        });
    }

    /// Bounds the wait for a final response of client transaction `key`
    /// (after a CANCEL, RFC 3261 §9.1: give up 64*T1 later).
    pub fn expect_final_by(&mut self, key: &TxKey, at: Instant) {
        if self
            .txs
            .get(key)
            .is_some_and(|t| matches!(t.state, State::Trying | State::Proceeding))
        {
            self.arm(key, Timer::Expire, at);
        }
    }

    pub fn t1(&self) -> Duration {
        self.timers.t1
    }

    /// Sends raw bytes outside any transaction (a 400 built from raw lines).
    pub fn send_stateless_bytes(&mut self, data: Bytes, flow: Flow) {
        self.transmits.push_back(Transmit { flow, data });
    }

    /// The request of server transaction `key`, while it awaits a final
    /// response.
    pub fn pending_request(&self, key: &TxKey) -> Option<Message> {
        self.txs
            .get(key)
            .filter(|t| matches!(t.state, State::Trying | State::Proceeding))?
            .request
            .clone()
    }

    /// Whether server transaction `key` still awaits a final response.
    pub fn is_pending(&self, key: &TxKey) -> bool {
        self.txs
            .get(key)
            .is_some_and(|t| matches!(t.state, State::Trying | State::Proceeding))
    }

    fn arm(&mut self, key: &TxKey, timer: Timer, at: Instant) {
        if let Some(tx) = self.txs.get_mut(key) {
            tx.deadlines[timer as usize] = Some(at);
            self.heap.push(Reverse((at, key.clone(), timer)));
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, key, timer))) = self.heap.pop() else {
                break;
            };
            let Some(tx) = self.txs.get_mut(&key) else {
                continue;
            };
            if tx.deadlines[timer as usize] != Some(at) {
                continue; // re-armed or cancelled since
            }
            tx.deadlines[timer as usize] = None;
            match timer {
                Timer::Retransmit => {
                    if let Some(last) = &tx.last {
                        self.transmits.push_back(Transmit {
                            flow: tx.flow,
                            data: last.clone(),
                        });
                    }
                    // INVITE requests (A) double without cap; others cap at T2.
                    let client_invite = !key.server && tx.invite;
                    tx.interval = if client_invite {
                        tx.interval * 2
                    } else {
                        (tx.interval * 2).min(self.timers.t2)
                    };
                    let next = now + tx.interval;
                    self.arm(&key, Timer::Retransmit, next);
                }
                Timer::Expire => {
                    let acked = key.server && tx.acked;
                    let final_seen =
                        !key.server && matches!(tx.state, State::Completed | State::Accepted);
                    if !acked && !final_seen {
                        self.events.push_back(TxEvent::Timeout { key: key.clone() });
                    }
                    self.remove(&key);
                }
                Timer::Forget => self.remove(&key),
            }
        }
    }

    fn remove(&mut self, key: &TxKey) {
        if let Some(tx) = self.txs.remove(key)
            && let Some(dk) = tx.dialog_key
            && self.accepted.get(&dk) == Some(key)
        {
            self.accepted.remove(&dk);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }
}

/// The ACK for a 3xx-6xx answer to our INVITE (RFC 3261 §17.1.1.3): same
/// Request-URI, Call-ID, From, top Via and CSeq number as the INVITE, To
/// from the response.
fn ack_for_failure(resp: &Message, invite: Option<&Bytes>) -> Option<Bytes> {
    let invite = Message::parse(invite?.clone()).ok()?;
    let mut ack = Message::request(Method::ACK, invite.request_uri()?.clone());
    if let Some(via) = invite.raw(&Name::VIA) {
        ack.headers.insert(Name::VIA, via.clone());
    }
    for name in [Name::MAX_FORWARDS, Name::FROM] {
        if let Some(v) = invite.raw(&name) {
            ack.headers.insert(name, v.clone());
        }
    }
    ack.headers.insert(Name::TO, resp.raw(&Name::TO)?.clone());
    ack.headers
        .insert(Name::CALL_ID, invite.raw(&Name::CALL_ID)?.clone());
    ack.headers
        .insert(Name::CSEQ, format!("{} ACK", invite.cseq()?.cseq));
    for route in invite.headers.get_raw(&Name::ROUTE) {
        ack.headers.insert(Name::ROUTE, route.clone());
    }
    Some(ack.to_bytes())
}

#[cfg(test)]
mod tests;
