//! The simulated world the engine tests run in: one [`Engine`], a fake
//! clock, and a mailbox per peer for what the engine transmits.
//!
//! Time only moves when a test says so: [`Sim::advance`] jumps from one
//! engine wake-up (`poll_timeout`) to the next, like quinn-proto's `Pair`,
//! and every transmit is stamped with the simulated time it left at. No
//! sockets, no sleeps, no wall clock: a run is fully deterministic apart
//! from the random tags and branches the engine draws, which no test
//! looks at by value.

pub use super::text::{SipExt, request, response, sdp, tag_of, uri_of};
use crate::b2bua::{Command, Engine, Record, Timebase};
use crate::config::Config;
use crate::config::runtime::engine_config;
use crate::model::{CallRecord, EventKind, QueueEvent};
use crate::sip::{Flow, Message, Proto, Side};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where hotline listens for seat phones, and for the trunk.
pub const PHONES_LISTEN: &str = "127.0.0.1:5060";
pub const TRUNK_LISTEN: &str = "127.0.0.1:5080";
/// Wall-clock time of the simulation's start, in Unix milliseconds.
pub const UNIX_START_MS: i64 = 1_700_000_000_000;

/// The shipped demo config: lines 12345 (queue `citizen`, seats 8001-8020,
/// longest idle, ring 15 s, retry 2 s, wrap-up 5 s) and 110 (queue
/// `emergency`, seats 8021-8030, ring-all), auto-ready, MD5 challenge first;
/// without its `[media]`, so that SDP passes end to end (the tests of
/// anchored media take [`Sim::demo_with_media`]).
pub fn demo_config() -> Config {
    let mut config =
        Config::from_str_at(DEMO, Path::new("config/demo.toml")).expect("the demo config loads");
    config.media = None;
    config
}

pub const DEMO: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml"));

/// A message the engine sent, with the simulated time it left at.
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Duration,
    pub msg: Message,
}

/// A check run after every input the engine handles.
pub type Check = Box<dyn Fn(&Sim)>;

pub struct Sim {
    pub engine: Engine,
    pub start: Instant,
    pub now: Instant,
    mailboxes: HashMap<(Side, SocketAddr), VecDeque<Sent>>,
    records: Vec<Record>,
    /// What the engine asked of the media tasks, with the time it asked.
    media: Vec<(Duration, crate::b2bua::MediaOut)>,
    tokens: u64,
    /// Run after every datagram, timeout and command the engine handles.
    pub check: Option<Check>,
}

impl Sim {
    pub fn demo() -> Sim {
        Sim::new(demo_config())
    }

    /// The demo as shipped, `[media]` included, its text changed by
    /// `edit` first: hotline anchors the calls' RTP.
    pub fn demo_with_media(edit: impl FnOnce(String) -> String) -> Sim {
        let text = edit(DEMO.to_string());
        Sim::new(
            Config::from_str_at(&text, Path::new("config/demo.toml"))
                .expect("the edited demo config loads"),
        )
    }

    pub fn new(config: Config) -> Sim {
        let bound = bound();
        let start = Instant::now();
        let timebase = Timebase {
            instant: start,
            unix_ms: UNIX_START_MS,
        };
        Sim {
            engine: Engine::new(engine_config(&config, &bound).unwrap(), timebase, [7; 32]),
            start,
            now: start,
            mailboxes: HashMap::new(),
            records: Vec::new(),
            media: Vec::new(),
            tokens: 0,
            check: None,
        }
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// A fresh token for branches, tags and Call-IDs.
    pub fn token(&mut self, prefix: &str) -> String {
        self.tokens += 1;
        format!("{prefix}{}", self.tokens)
    }

    /// A datagram from a peer arrives at the engine now.
    pub fn deliver(&mut self, from: Flow, text: &str) {
        self.engine
            .handle_datagram(self.now, from, Bytes::from(text.to_string()));
        self.pump();
    }

    /// A command from the API or CLI.
    pub fn command(&mut self, cmd: Command) -> Result<(), crate::b2bua::Refused> {
        let result = self.engine.handle_command(self.now, cmd);
        self.pump();
        result
    }

    /// A reload: the engine takes `config` now.
    pub fn reload(&mut self, config: &Config) -> crate::acd::Reconfigured {
        let report = self
            .engine
            .handle_reconfigure(self.now, engine_config(config, &bound()).unwrap());
        self.pump();
        report
    }

    /// Moves time forward by `d`, waking the engine at each of its
    /// deadlines on the way.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        let mut wakeups = 0;
        while let Some(at) = self.engine.poll_timeout().filter(|at| *at <= target) {
            wakeups += 1;
            assert!(
                wakeups < 100_000,
                "engine keeps asking to wake at {:?}",
                at - self.start
            );
            self.now = self.now.max(at);
            self.engine.handle_timeout(self.now);
            self.pump();
        }
        self.now = target;
    }

    /// Moves time to `at` (since the start).
    pub fn advance_to(&mut self, at: Duration) {
        let d = at
            .checked_sub(self.elapsed())
            .expect("time only moves forward");
        self.advance(d);
    }

    /// Collects the engine's transmits and records. Every transmit must be
    /// a parseable SIP message passing the checks a peer's stack makes.
    fn pump(&mut self) {
        let at = self.elapsed();
        while let Some(t) = self.engine.poll_transmit() {
            let msg = Message::parse(t.data.clone()).unwrap_or_else(|e| {
                panic!(
                    "engine sent unparseable bytes ({e}):\n{}",
                    String::from_utf8_lossy(&t.data)
                )
            });
            if let Err(why) = msg.check() {
                panic!(
                    "engine sent a message failing the checks ({why}):\n{}",
                    msg.text()
                );
            }
            self.mailboxes
                .entry((t.flow.side, t.flow.remote))
                .or_default()
                .push_back(Sent { at, msg });
        }
        while let Some(r) = self.engine.poll_record() {
            self.records.push(r);
        }
        while let Some(m) = self.engine.poll_media() {
            self.media.push((at, m));
        }
        if let Some(check) = &self.check {
            check(self);
        }
    }

    /// The media commands for `call` (hotline's call id) so far, emptied.
    pub fn take_media(&mut self, call: &str) -> Vec<(Duration, crate::media::driver::MediaCmd)> {
        let (mine, rest): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.media)
                .into_iter()
                .partition(|(_, m)| match m {
                    crate::b2bua::MediaOut::Open { call: c, .. }
                    | crate::b2bua::MediaOut::Cmd { call: c, .. } => c == call,
                });
        self.media = rest;
        mine.into_iter()
            .filter_map(|(at, m)| match m {
                crate::b2bua::MediaOut::Cmd { cmd, .. } => Some((at, cmd)),
                crate::b2bua::MediaOut::Open { .. } => None,
            })
            .collect()
    }

    /// A media task reports to the engine now.
    pub fn media_event(&mut self, ev: crate::media::driver::MediaEvent) {
        self.engine.handle_media_event(self.now, ev);
        self.pump();
    }

    /// Every record the engine wrote, in order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    pub fn take(&mut self, to: Flow) -> Option<Sent> {
        self.mailboxes.get_mut(&(to.side, to.remote))?.pop_front()
    }

    /// Everything waiting for a peer, emptied.
    pub fn drain(&mut self, to: Flow) -> Vec<Sent> {
        self.mailboxes
            .get_mut(&(to.side, to.remote))
            .map(|q| q.drain(..).collect())
            .unwrap_or_default()
    }

    /// The call records written so far for a trunk Call-ID, in order.
    pub fn call_records(&self, sip_call_id: &str) -> Vec<CallRecord> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Call(c) if c.sip_call_id == sip_call_id => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    /// The latest record of a call, open or closed.
    #[track_caller]
    pub fn last_record(&self, sip_call_id: &str) -> CallRecord {
        self.call_records(sip_call_id)
            .pop()
            .unwrap_or_else(|| panic!("no record for {sip_call_id}"))
    }

    /// The closing record of a call (the last one, which must be closed).
    #[track_caller]
    pub fn final_record(&self, sip_call_id: &str) -> CallRecord {
        let last = self.last_record(sip_call_id);
        assert!(
            last.outcome.is_some(),
            "the last record of {sip_call_id} is still open: {last:?}"
        );
        last
    }

    /// Queue and agent events logged so far.
    pub fn events(&self) -> Vec<QueueEvent> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Event(e) => Some(e.clone()),
                Record::Call(_) | Record::Media { .. } => None,
            })
            .collect()
    }

    /// The kinds of the queue events (not agent-state changes) of one call.
    pub fn queue_events(&self, call: &str) -> Vec<(EventKind, Option<String>)> {
        self.events()
            .into_iter()
            .filter(|e| e.call_id.as_deref() == Some(call) && e.kind != EventKind::AgentState)
            .map(|e| (e.kind, e.seat))
            .collect()
    }

    /// A seat's agent state name as the API shows it (`ready`, `ringing`, ...).
    pub fn seat_state(&self, ext: &str) -> &'static str {
        let snap = self.engine.acd_snapshot(self.now);
        let seat = snap
            .seats
            .iter()
            .find(|s| s.extension == ext)
            .unwrap_or_else(|| panic!("no seat {ext}"));
        seat.state.name()
    }
}

/// The addresses the engine is told it listens on.
fn bound() -> HashMap<(Side, Proto), SocketAddr> {
    HashMap::from([
        ((Side::Phones, Proto::Udp), PHONES_LISTEN.parse().unwrap()),
        ((Side::Trunk, Proto::Udp), TRUNK_LISTEN.parse().unwrap()),
    ])
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}
