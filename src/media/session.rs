//! One call's media, sans-IO: the caller's leg (trunk side) and the
//! agent's leg (phones side), each with its own hotline port.
//!
//! ```text
//!            caller RTP                                agent RTP
//!  trunk  ------------->  Session  ---- bridged ---->  seat phone
//!         <-------------    |  ^   <----------------
//!    prompts / music  ------+  |   (transcoded when the laws differ)
//!    (while not bridged)       |
//!                              +--> recorder: caller left, what the caller
//!                                   heard (prompts, then the agent) right
//! ```
//!
//! The driver feeds it datagrams ([`Session::handle_packet`]) and the
//! clock ([`Session::handle_timeout`]) and carries out its outputs: bytes
//! to send, DTMF digits heard, prompts finished, recording frames. The
//! engine steers it: [`Session::play`], [`Session::bridge`],
//! [`Session::start_recording`] and friends. It never reads the clock.
//!
//! Symmetric RTP: each leg sends to the SDP address until a packet
//! arrives, then to where packets come from (phones behind NAT). A leg
//! latches to the first source and moves only after that source has been
//! silent for [`RELATCH_AFTER`], so a stray sender cannot steal the call;
//! packets from the SDP address itself always take the leg (after a
//! transfer, the new phone's stream wins over the old phone's last ones).

use super::codec::Codec;
use super::player::{Clip, Player};
use super::record::{Aligner, FRAME, Side, StereoFrame};
use super::rtp::{self, OutStream, RxStats, RxTracker};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a latched source must be silent before another may take over.
pub const RELATCH_AFTER: Duration = Duration::from_secs(2);
const TICK: Duration = Duration::from_millis(20);

/// A leg of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// The citizen, on the trunk.
    Caller,
    /// The seat phone.
    Agent,
}

impl Leg {
    fn index(self) -> usize {
        self as usize
    }
    pub fn other(self) -> Leg {
        match self {
            Leg::Caller => Leg::Agent,
            Leg::Agent => Leg::Caller,
        }
    }
    fn side(self) -> Side {
        match self {
            Leg::Caller => Side::Caller,
            Leg::Agent => Side::Agent,
        }
    }
}

/// What SDP settled for a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegConfig {
    pub codec: Codec,
    /// The payload type number the peer uses for `codec`.
    pub pt: u8,
    /// RFC 4733 telephone-event payload type, if the peer offered it.
    pub telephone_event: Option<u8>,
    /// Where the peer's SDP says to send.
    pub remote: SocketAddr,
    /// Send audio to the peer; false while its SDP says sendonly or
    /// inactive (it holds the call).
    pub send: bool,
}

/// Something for the driver or the engine to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `data` from the leg's port to `to`.
    Transmit { leg: Leg, to: SocketAddr, data: Vec<u8> },
    /// A DTMF digit ended on a leg (RFC 4733 event with the end bit).
    Dtmf { leg: Leg, digit: char },
    /// A prompt played to its end.
    Played(Arc<str>),
    /// 20 ms of the recording.
    Frame(Box<StereoFrame>),
    /// The caller's RTP stopped for the watched time (see
    /// [`Session::watch_silence`]): the caller is most likely gone.
    Silent(Leg),
}

/// Per-leg media statistics for the call record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LegStats {
    pub codec: &'static str,
    pub received: RxStats,
    pub sent_packets: u64,
    /// Where the leg's audio came from last.
    pub remote: Option<SocketAddr>,
}

#[derive(Debug)]
struct LegState {
    config: LegConfig,
    latched: Option<SocketAddr>,
    last_rx: Option<Instant>,
    out: OutStream,
    rx: RxTracker,
    /// RFC 4733 event timestamp whose end was reported (ends come thrice).
    dtmf_reported: Option<u32>,
}

pub struct Session {
    start: Instant,
    legs: [Option<LegState>; 2],
    bridged: bool,
    player: Player,
    next_tick: Option<Instant>,
    recorder: Option<Aligner>,
    /// The generated audio's own sequence/timestamp for the recorder.
    gen_seq: u16,
    gen_ts: u32,
    outputs: VecDeque<Output>,
    pcm: Vec<i16>,
    payload: Vec<u8>,
    finished: Vec<Arc<str>>,
    /// Report the caller's RTP stopping for this long (once per stop).
    silence: Option<Duration>,
    silence_reported: bool,
}

impl Session {
    pub fn new(start: Instant) -> Session {
        Session {
            start,
            legs: [None, None],
            bridged: false,
            player: Player::default(),
            next_tick: None,
            recorder: None,
            gen_seq: 0,
            gen_ts: 0,
            outputs: VecDeque::new(),
            pcm: Vec::with_capacity(FRAME * 2),
            payload: Vec::with_capacity(FRAME * 2),
            finished: Vec::new(),
            silence: None,
            silence_reported: false,
        }
    }

    /// Watches the caller's leg: once it has sent RTP, a gap of `after`
    /// is reported as [`Output::Silent`]; `None` stops watching (the
    /// caller holds the call and sends nothing).
    pub fn watch_silence(&mut self, after: Option<Duration>) {
        self.silence = after;
        self.silence_reported = false;
    }

    /// When the caller's silence would be reported.
    fn silence_deadline(&self) -> Option<Instant> {
        let after = self.silence.filter(|_| !self.silence_reported)?;
        Some(self.legs[Leg::Caller.index()].as_ref()?.last_rx? + after)
    }

    /// Sets up or updates a leg (after an answer or a re-INVITE). `ssrc`
    /// names hotline's stream on it (random, from the driver).
    pub fn set_leg(&mut self, leg: Leg, config: LegConfig, ssrc: u32) {
        match &mut self.legs[leg.index()] {
            Some(state) => {
                if state.config.remote != config.remote {
                    state.latched = None;
                }
                state.config = config;
            }
            None => {
                self.legs[leg.index()] = Some(LegState {
                    config,
                    latched: None,
                    last_rx: None,
                    out: OutStream::new(ssrc, (ssrc >> 16) as u16, ssrc.rotate_left(7)),
                    rx: RxTracker::default(),
                    dtmf_reported: None,
                })
            }
        }
    }

    /// Forgets a leg (the agent left; the call goes on with the caller).
    pub fn remove_leg(&mut self, leg: Leg) {
        self.legs[leg.index()] = None;
        if leg == Leg::Agent {
            self.bridged = false;
        }
    }

    /// Plays `clips` to the caller, then `then_loop` (music) until told
    /// otherwise; stops bridging.
    pub fn play(&mut self, now: Instant, clips: Vec<Clip>, then_loop: Option<Clip>) {
        self.bridged = false;
        self.player.play(clips, then_loop);
        self.arm_tick(now);
    }

    /// An announcement breaking into the music, which then goes on.
    pub fn announce(&mut self, now: Instant, clips: Vec<Clip>) {
        self.player.interject(clips);
        self.arm_tick(now);
    }

    /// Caller and agent hear each other; prompts stop.
    pub fn bridge(&mut self) {
        self.bridged = true;
        self.player.stop();
        self.next_tick = None;
    }

    pub fn is_bridged(&self) -> bool {
        self.bridged
    }

    pub fn start_recording(&mut self, now: Instant) {
        if self.recorder.is_none() {
            self.recorder = Some(Aligner::new(now));
        }
    }

    /// Pauses or resumes the recording; false if nothing changed.
    pub fn pause_recording(&mut self, now: Instant, pause: bool) -> bool {
        match &mut self.recorder {
            Some(r) if pause => r.pause(now),
            Some(r) => r.resume(now),
            None => false,
        }
    }

    /// Ends the recording: its remaining frames come out now.
    pub fn stop_recording(&mut self, now: Instant) {
        if let Some(mut r) = self.recorder.take() {
            r.finish(now);
            while let Some(f) = r.poll_frame(now) {
                self.outputs.push_back(Output::Frame(Box::new(f)));
            }
        }
    }

    pub fn stats(&self, leg: Leg) -> Option<LegStats> {
        let s = self.legs[leg.index()].as_ref()?;
        Some(LegStats {
            codec: s.config.codec.name(),
            received: s.rx.stats().clone(),
            sent_packets: s.out.packets,
            remote: s.latched,
        })
    }

    /// When the leg last received media (for dead-call detection).
    pub fn last_received(&self, leg: Leg) -> Option<Instant> {
        self.legs[leg.index()].as_ref()?.last_rx
    }

    /// A datagram arrived on `leg`'s port from `from`.
    pub fn handle_packet(&mut self, now: Instant, leg: Leg, from: SocketAddr, data: &[u8]) {
        let Some(rx) = rtp::parse(data) else { return };
        let since = now.saturating_duration_since(self.start);
        let Some(state) = self.legs[leg.index()].as_mut() else { return };
        // Latch: the address the SDP names at once (a phone that just took
        // the leg over beats the trailing packets of the one it replaced),
        // else the first source, or a new one once the old went silent.
        match state.latched {
            Some(src) if src == from => {}
            _ if from == state.config.remote => state.latched = Some(from),
            Some(_) if state.last_rx.is_some_and(|t| now.saturating_duration_since(t) < RELATCH_AFTER) => return,
            _ => state.latched = Some(from),
        }
        state.last_rx = Some(now);
        if leg == Leg::Caller {
            self.silence_reported = false;
        }
        let payload = &data[rx.payload_at..rx.payload_at + rx.payload_len];
        if rx.pt == state.config.pt {
            state.rx.packet(since, &rx, 8000);
            let codec = state.config.codec;
            self.pcm.clear();
            codec.decode(payload, &mut self.pcm);
            if let Some(r) = &mut self.recorder {
                r.push(now, leg.side(), rx.ssrc, rx.seq, rx.ts, &self.pcm);
            }
            if self.bridged {
                self.relay_audio(now, leg, rx, codec, payload);
            }
        } else if Some(rx.pt) == state.config.telephone_event && payload.len() >= 4 {
            let ended = payload[1] & 0x80 != 0;
            if ended && state.dtmf_reported != Some(rx.ts) {
                state.dtmf_reported = Some(rx.ts);
                if let Some(digit) = dtmf_digit(payload[0]) {
                    self.outputs.push_back(Output::Dtmf { leg, digit });
                }
            }
            if self.bridged {
                self.relay_event(now, leg, rx, payload);
            }
        }
        self.drain_recorder(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(at) = self.next_tick.filter(|t| *t <= now) {
            self.play_frame(at);
            self.next_tick = if self.player.active() && !self.bridged { Some(at + TICK) } else { None };
        }
        if self.silence_deadline().is_some_and(|at| at <= now) {
            self.silence_reported = true;
            self.outputs.push_back(Output::Silent(Leg::Caller));
        }
        self.drain_recorder(now);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let rec = self.recorder.as_ref().and_then(Aligner::poll_timeout);
        [self.next_tick, rec, self.silence_deadline()].into_iter().flatten().min()
    }

    fn arm_tick(&mut self, now: Instant) {
        if self.next_tick.is_none() {
            self.next_tick = Some(now);
        }
    }

    /// 20 ms of prompt or music to the caller (and to the recording).
    fn play_frame(&mut self, at: Instant) {
        let mut frame = [0i16; FRAME];
        self.player.next_frame(&mut frame, &mut self.finished);
        for name in self.finished.drain(..) {
            self.outputs.push_back(Output::Played(name));
        }
        if let Some(r) = &mut self.recorder {
            r.push(at, Side::Agent, 0x686F_746C, self.gen_seq, self.gen_ts, &frame);
        }
        self.gen_seq = self.gen_seq.wrapping_add(1);
        self.gen_ts = self.gen_ts.wrapping_add(FRAME as u32);
        let Some(caller) = self.legs[Leg::Caller.index()].as_mut() else { return };
        if !caller.config.send {
            return;
        }
        let Some(to) = caller.latched.or(Some(caller.config.remote)) else { return };
        self.payload.clear();
        caller.config.codec.encode(&frame, &mut self.payload);
        let mut data = Vec::with_capacity(12 + self.payload.len());
        caller.out.generated(at, caller.config.pt, &self.payload, &mut data);
        self.outputs.push_back(Output::Transmit { leg: Leg::Caller, to, data });
    }

    fn relay_audio(&mut self, now: Instant, from: Leg, rx: rtp::Received, codec: Codec, payload: &[u8]) {
        let Some(to_leg) = self.legs[from.other().index()].as_mut() else { return };
        if !to_leg.config.send {
            return;
        }
        let to = to_leg.latched.unwrap_or(to_leg.config.remote);
        let body: &[u8] = if to_leg.config.codec == codec {
            payload
        } else {
            self.payload.clear();
            codec.transcode(to_leg.config.codec, payload, &mut self.payload);
            &self.payload
        };
        let mut data = Vec::with_capacity(12 + body.len());
        to_leg.out.relayed(now, to_leg.config.pt, rx.marker, rx, body, &mut data);
        self.outputs.push_back(Output::Transmit { leg: from.other(), to, data });
    }

    fn relay_event(&mut self, now: Instant, from: Leg, rx: rtp::Received, payload: &[u8]) {
        let Some(to_leg) = self.legs[from.other().index()].as_mut() else { return };
        let (Some(pt), true) = (to_leg.config.telephone_event, to_leg.config.send) else { return };
        let to = to_leg.latched.unwrap_or(to_leg.config.remote);
        let mut data = Vec::with_capacity(16);
        to_leg.out.relayed(now, pt, rx.marker, rx, payload, &mut data);
        self.outputs.push_back(Output::Transmit { leg: from.other(), to, data });
    }

    fn drain_recorder(&mut self, now: Instant) {
        if let Some(r) = &mut self.recorder {
            while let Some(f) = r.poll_frame(now) {
                self.outputs.push_back(Output::Frame(Box::new(f)));
            }
        }
    }
}

/// RFC 4733 event codes 0-15: 0-9, *, #, A-D.
fn dtmf_digit(event: u8) -> Option<char> {
    Some(match event {
        0..=9 => (b'0' + event) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + event - 12) as char,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
