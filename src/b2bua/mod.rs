//! The B2BUA engine: everything hotline decides about SIP, in one sans-IO
//! state machine.
//!
//! It owns the transaction layer, the registrar, digest authentication,
//! the ACD and the live calls. Fed with datagrams, commands and the clock
//! ([`Engine::handle_datagram`], [`Engine::handle_command`],
//! [`Engine::handle_timeout`]), it returns bytes to send
//! ([`Engine::poll_transmit`]), records to store ([`Engine::poll_record`])
//! and its next wake-up ([`Engine::poll_timeout`]). It never reads the
//! clock, spawns a task or touches a socket: `crate::server` drives it.
//!
//! ```text
//!  trunk INVITE --> line --> Call (inbound leg) --> ACD queue
//!                                   ^                  | Ring{seat}
//!                                   |                  v
//!        200 to trunk <-- Connect -- ACD <-- seat answers (outbound leg)
//! ```
//! Files: `call.rs` (a call and its two legs), `trunk.rs` (the trunk
//! side), `phones.rs` (registrations, feature codes), `acd_glue.rs` (ACD
//! outputs turned into SIP), `dialog.rs` (in-dialog requests both ways),
//! `retired.rs` (seat legs replaced by a newer ring of the same seat),
//! `late_offer.rs` (ACKs that wait for the other leg's SDP answer),
//! `media_glue.rs` (the call's RTP through hotline, with `[media]`) and
//! `prompts.rs` (what hotline itself says to callers: place in line,
//! estimated wait, the satisfaction survey), `transfer.rs` (blind
//! transfer by REFER from the seat phone or the API, across sides too),
//! `attended.rs` (consultation calls and attended transfer),
//! `callback.rs` (callbacks: a seat calling a citizen back through the
//! trunk), `reconfigure.rs` (a reload's new lines, queues and seats,
//! without dropping a call), `drain.rs` (stopping without cutting calls)
//! and `blf/` (busy-lamp fields: seat phones watching seats by
//! SUBSCRIBE/NOTIFY, RFC 4235).

mod acd_glue;
mod attended;
mod blf;
mod call;
mod callback;
mod capacity;
mod config;
mod dialog;
mod drain;
mod late_offer;
mod media_glue;
mod phones;
mod prompts;
mod reconfigure;
mod retired;
mod transfer;
mod trunk;

#[cfg(test)]
mod tests;

pub use call::LiveCall;
pub use callback::ClickToCall;
pub use config::{
    Capacity, DialRefused, EngineConfig, FeatureCode, Line, Outbound, SeatCredentials, SeatOutbound,
};
pub use media_glue::{Announcements, LineMedia, MediaOut, MediaSettings, QueueMedia};

use crate::acd::Acd;
use crate::model::{CallRecord, QueueEvent};
use crate::sip::auth::DigestAuth;
use crate::sip::registrar::Registrar;
use crate::sip::transaction::{TransactionLayer, TxEvent, TxKey};
use crate::sip::{Flow, Message, ParseError, Side, Transmit};
use bytes::Bytes;
use call::{Call, LegRef};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Something to persist: the store's writer takes these in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Call(CallRecord),
    Event(QueueEvent),
    /// A call's recording and media statistics, once its media has ended.
    Media {
        id: String,
        media: crate::model::CallMedia,
    },
}

/// Requests from the HTTP API and the CLI.
#[derive(Debug)]
pub enum Command {
    SetAgentState {
        seat: String,
        request: crate::acd::StateRequest,
    },
    /// Pause (`pause: true`) or resume a live call's recording while the
    /// caller gives sensitive details; `by` (who asked) goes to the log.
    PauseRecording {
        call: String,
        pause: bool,
        by: String,
    },
    /// Click-to-call: ring the seat, then call the citizen back.
    Callback(ClickToCall),
    /// Stop taking new calls (`drain.rs`): 503 to new INVITEs while the
    /// calls in progress finish.
    Drain,
    /// End every call still in progress, with `reason` on its record.
    HangUpAll { reason: String },
    /// Blind transfer of a connected call by its agent's supervisor or
    /// desktop: `to` is a seat extension or a line number (`transfer.rs`).
    /// The answer is the id the call goes on under.
    Transfer {
        call: String,
        to: String,
        by: String,
        reply: Option<tokio::sync::oneshot::Sender<String>>,
    },
}

/// Why the engine refused a [`Command`].
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Acd(#[from] crate::acd::AcdError),
    #[error("no live call {0}")]
    UnknownCall(String),
    #[error("call {0} is not being recorded (not answered yet, or no [media])")]
    NotRecorded(String),
    #[error(transparent)]
    Dial(#[from] DialRefused),
    #[error("seat {0} has no registered phone")]
    SeatUnreachable(String),
    #[error("{0}")]
    Unavailable(String),
    /// A transfer refused, with the SIP status a REFER would get.
    #[error("transfer refused ({code}): {why}")]
    Transfer { code: u16, why: String },
}

/// Maps the engine's `Instant`s to wall-clock Unix milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Timebase {
    pub instant: Instant,
    pub unix_ms: i64,
}

impl Timebase {
    pub fn ms(&self, at: Instant) -> i64 {
        match at.checked_duration_since(self.instant) {
            Some(d) => self.unix_ms + d.as_millis() as i64,
            None => self.unix_ms - self.instant.duration_since(at).as_millis() as i64,
        }
    }
}

/// What a client transaction we started is for.
#[derive(Debug, Clone)]
enum Purpose {
    /// The INVITE ringing a seat.
    SeatInvite,
    /// A CANCEL or BYE whose answer changes nothing.
    Fire,
    /// An in-dialog request relayed from the other leg: answer `server`.
    Relay { server: TxKey, other: LegRef },
    /// A callback's INVITE (to the citizen, or click-to-call to the seat).
    Callback,
    /// The re-INVITE offering an attended transfer's target seat the
    /// caller's media (`attended.rs`).
    Reoffer,
}

pub struct Engine {
    config: EngineConfig,
    timebase: Timebase,
    tx: TransactionLayer,
    registrar: Registrar,
    auth: DigestAuth,
    acd: Acd,
    calls: HashMap<String, Call>,
    /// Outbound callbacks in progress (`callback.rs`), by call id.
    callbacks: HashMap<String, callback::Callback>,
    /// INVITE server transaction of the inbound leg -> call id.
    by_invite: HashMap<TxKey, String>,
    /// (SIP Call-ID, our tag) -> call id and leg, for in-dialog requests.
    by_dialog: HashMap<(String, String), (String, LegRef)>,
    /// Client transactions we started -> call, leg, purpose.
    by_client: HashMap<TxKey, (String, LegRef, Purpose)>,
    /// Feature-code dialogs answered 200 and waiting for the ACK to hang up.
    feature_dialogs: HashMap<(String, String), (Message, Flow)>,
    /// Calls just queued: they get 180 once the ACD has had its say (a
    /// call rejected at once gets its final answer without a 180 first).
    queued: Vec<String>,
    records: VecDeque<Record>,
    /// Free RTP ports (with `[media]`).
    ports: crate::media::ports::PortPool,
    media_out: VecDeque<media_glue::MediaOut>,
    /// The engine's own deadlines (announcements, the survey).
    timers: crate::timers::Timers<prompts::Timer>,
    /// Per queue: the moving average of handle time (talk + wrap-up) of
    /// its answered calls, for the estimated wait.
    handle_time: HashMap<String, std::time::Duration>,
    /// Stopping: new calls are refused (`drain.rs`).
    draining: bool,
    /// Busy-lamp-field subscriptions (`blf.rs`).
    blf: blf::Blf,
}

impl Engine {
    pub fn new(config: EngineConfig, timebase: Timebase, auth_secret: [u8; 32]) -> Engine {
        let ports = match &config.media {
            Some(m) => crate::media::ports::PortPool::new(m.ports.0, m.ports.1),
            None => crate::media::ports::PortPool::new(0, 0),
        };
        let auth = DigestAuth::new(config.auth.clone(), auth_secret);
        let registrar = Registrar::new(config.registrar);
        let acd = Acd::new(config.acd.clone(), config.auto_ready);
        Engine {
            tx: TransactionLayer::new(config.timers),
            config,
            timebase,
            registrar,
            auth,
            acd,
            calls: HashMap::new(),
            callbacks: HashMap::new(),
            by_invite: HashMap::new(),
            by_dialog: HashMap::new(),
            by_client: HashMap::new(),
            feature_dialogs: HashMap::new(),
            queued: Vec::new(),
            records: VecDeque::new(),
            ports,
            media_out: VecDeque::new(),
            timers: Default::default(),
            handle_time: HashMap::new(),
            draining: false,
            blf: Default::default(),
        }
    }

    /// Bytes that arrived on `flow` (a UDP datagram or a framed TCP message).
    pub fn handle_datagram(&mut self, now: Instant, flow: Flow, bytes: Bytes) {
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return; // keep-alive
        }
        let msg = match Message::parse(bytes.clone()) {
            Ok(m) => m,
            Err(ParseError::Unparseable(why)) => {
                tracing::debug!(remote = %flow.remote, why, "dropped unparseable SIP message");
                return;
            }
            Err(ParseError::Malformed(why)) => {
                self.answer_malformed(flow, &bytes, &why);
                return;
            }
        };
        if let Err(why) = msg.check() {
            if msg.is_request() {
                self.answer_bad_request(&msg, flow, &why);
            }
            return;
        }
        self.tx.handle_message(now, msg, flow);
        self.drain(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.registrar.handle_timeout(now);
        self.acd.handle_timeout(now);
        while let Some(timer) = self.timers.pop_due(now) {
            self.handle_prompt_timer(now, timer);
        }
        self.blf_handle_timeout(now);
        self.drain(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.tx.poll_timeout(),
            self.registrar.poll_timeout(),
            self.acd.poll_timeout(),
            self.timers.next(),
            self.blf.next_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.poll_transmit()
    }

    pub fn poll_record(&mut self) -> Option<Record> {
        self.records.pop_front()
    }

    pub fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<(), Refused> {
        let result = match cmd {
            Command::SetAgentState { seat, request } => self
                .acd
                .set_agent_state(now, &seat, request)
                .map_err(Refused::from),
            Command::PauseRecording { call, pause, by } => {
                self.pause_recording(now, &call, pause, &by)
            }
            Command::Callback(req) if self.draining => {
                let _ = req;
                Err(Refused::Unavailable(
                    "hotline is stopping: no new calls".into(),
                ))
            }
            Command::Callback(req) => self.click_to_call(now, req),
            Command::Drain => {
                self.start_draining();
                Ok(())
            }
            Command::HangUpAll { reason } => {
                self.hang_up_all(now, &reason);
                Ok(())
            }
            Command::Transfer {
                call,
                to,
                by,
                reply,
            } => self.transfer_command(now, &call, &to, &by).map(|id| {
                if let Some(reply) = reply {
                    let _ = reply.send(id);
                }
            }),
        };
        self.drain(now);
        result
    }

    /// Live state for the API.
    pub fn acd_snapshot(&self, now: Instant) -> crate::acd::AcdSnapshot {
        self.acd.snapshot(now)
    }

    pub fn live_calls(&self, now: Instant) -> Vec<LiveCall> {
        // An ended call lingers until its seat legs are cleaned up; it is
        // no longer live.
        let mut calls: Vec<LiveCall> = self
            .calls
            .values()
            .filter(|c| c.ended.is_none())
            .map(|c| c.live(now, &self.timebase))
            .collect();
        calls.extend(
            self.callbacks
                .values()
                .filter(|c| c.ended.is_none())
                .map(|c| c.live(now, &self.timebase)),
        );
        calls.sort_by_key(|c| c.offered_at_ms);
        calls
    }

    pub fn registrations(
        &self,
        now: Instant,
    ) -> Vec<(String, Vec<crate::sip::registrar::Binding>)> {
        let mut seats: Vec<&String> = self.config.seats.keys().collect();
        seats.sort();
        seats
            .into_iter()
            .map(|s| (s.clone(), self.registrar.bindings(now, s)))
            .collect()
    }

    /// Runs every sub-machine's pending outputs to a fixed point.
    fn drain(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.tx.poll_event() {
                progressed = true;
                self.handle_tx_event(now, ev);
            }
            while let Some(change) = self.registrar.poll_change() {
                progressed = true;
                self.acd
                    .seat_reachable(now, &change.extension, change.reachable);
            }
            while let Some(out) = self.acd.poll_output() {
                progressed = true;
                self.handle_acd_output(now, out);
            }
            if !progressed {
                break;
            }
        }
        for id in std::mem::take(&mut self.queued) {
            if self
                .calls
                .get(&id)
                .is_some_and(|c| c.ended.is_none() && !c.inbound.ringing_sent)
            {
                self.send_progress(now, &id);
            }
        }
        self.blf_flush(now);
    }

    fn handle_tx_event(&mut self, now: Instant, ev: TxEvent) {
        match ev {
            TxEvent::Request { key, msg, flow } => {
                let in_dialog = msg.to().is_some_and(|t| t.tag.is_some());
                if in_dialog {
                    self.handle_in_dialog(now, key, msg, flow);
                    return;
                }
                match flow.side {
                    Side::Trunk => self.handle_trunk_request(now, key, msg, flow),
                    Side::Phones => self.handle_phones_request(now, key, msg, flow),
                }
            }
            TxEvent::Ack { msg, flow } => self.handle_ack(now, msg, flow),
            TxEvent::Cancel { invite, .. } => self.handle_cancel(now, invite),
            TxEvent::Response { key, msg, .. } => self.handle_response(now, key, msg),
            TxEvent::Timeout { key } => self.handle_tx_timeout(now, key),
        }
    }

    fn respond(&mut self, now: Instant, key: &TxKey, req: &Message, code: u16) {
        let resp = Message::response_to(req, code, Some(&crate::sip::random_token()));
        let resp = self.decorate(resp);
        self.tx.send_response(now, key, resp);
    }

    fn respond_reason(
        &mut self,
        now: Instant,
        key: &TxKey,
        req: &Message,
        code: u16,
        reason: &str,
    ) {
        let resp = Message::response_to(req, code, Some(&crate::sip::random_token()));
        let resp = self.decorate(resp.with_reason(&callback::reason_phrase(code, reason)));
        self.tx.send_response(now, key, resp);
    }

    /// Adds the headers every message of ours carries.
    fn decorate(&self, mut msg: Message) -> Message {
        let name = if msg.is_request() {
            ezk_sip_types::Name::USER_AGENT
        } else {
            ezk_sip_types::Name::SERVER
        };
        msg.headers.insert(name, self.config.name.clone());
        msg
    }

    fn answer_bad_request(&mut self, req: &Message, flow: Flow, why: &str) {
        tracing::info!(remote = %flow.remote, why, "400 to malformed request");
        let resp =
            Message::response_to(req, 400, None).with_reason(&format!("Bad Request ({why})"));
        self.tx.send_stateless(&self.decorate(resp), flow);
    }

    /// A request whose head could be split into lines but not fully parsed:
    /// answer 400 from the raw transaction headers when they are present.
    fn answer_malformed(&mut self, flow: Flow, bytes: &Bytes, why: &str) {
        match call::raw_response_400(bytes, why, &self.config.name) {
            Some(data) => {
                tracing::info!(remote = %flow.remote, why, "400 to malformed request");
                self.tx.send_stateless_bytes(data, flow);
            }
            None => tracing::debug!(remote = %flow.remote, why, "dropped malformed SIP message"),
        }
    }

    fn record_event(&mut self, ev: QueueEvent) {
        self.records.push_back(Record::Event(ev));
    }

    fn record_call(&mut self, call_id: &str) {
        if let Some(call) = self.calls.get(call_id) {
            self.records
                .push_back(Record::Call(call.record(&self.timebase)));
        }
    }
}
