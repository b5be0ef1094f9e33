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
//! RTCP (`super::rtcp`): each leg reports on its own every ~5 s from its
//! RTP port + 1 ([`Output::TransmitRtcp`]) and reads the peer's reports
//! ([`Session::handle_rtcp`]) into the leg's [`LegStats`]; a BYE ends a
//! leg ([`Session::remove_leg`], [`Session::close`]). It goes where the
//! peer's RTCP comes from (latched like RTP, but moving only after
//! [`RTCP_RELATCH_AFTER`] of silence, reports being seconds apart), else
//! to the SDP's `a=rtcp:`, else to the RTP port + 1.
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
use super::rtcp::{Rtcp, RtcpStats, Sent, WallClock};
use super::rtp::{self, OutStream, RxStats, RxTracker};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How long a latched source must be silent before another may take over.
pub const RELATCH_AFTER: Duration = Duration::from_secs(2);
/// The same for RTCP, which comes every few seconds: three missed reports.
pub const RTCP_RELATCH_AFTER: Duration = Duration::from_secs(15);
/// G.711's RTP clock, the one RTCP timestamps and jitter are counted in.
const CLOCK_RATE: u32 = 8000;
const TICK: Duration = Duration::from_millis(20);
/// Buffers (and frames) kept for reuse: a packet is sent before the next
/// is built, so a few cover bursts.
const SPARE: usize = 8;
/// Room for an RTP header and up to 60 ms of G.711 without growing.
const PACKET_CAPACITY: usize = 512;

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
    /// Where the peer's SDP says to send RTCP (`a=rtcp:`); `None`: the
    /// RTP port + 1.
    pub rtcp: Option<SocketAddr>,
    /// Send audio to the peer; false while its SDP says sendonly or
    /// inactive (it holds the call).
    pub send: bool,
}

/// Something for the driver or the engine to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `data` from the leg's port to `to`. Hand `data` back with
    /// [`Session::recycle`] once sent: the next packet is built in it.
    Transmit {
        leg: Leg,
        to: SocketAddr,
        data: Vec<u8>,
    },
    /// Send the RTCP packet `data` from the leg's RTCP port (RTP + 1) to `to`.
    TransmitRtcp {
        leg: Leg,
        to: SocketAddr,
        data: Vec<u8>,
    },
    /// A DTMF digit ended on a leg (RFC 4733 event with the end bit).
    Dtmf { leg: Leg, digit: char },
    /// A prompt played to its end.
    Played(Arc<str>),
    /// 20 ms of the recording; hand it back with [`Session::recycle_frame`].
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
    /// RTCP on the leg: the peer's reports on hotline's stream, RTT.
    pub rtcp: RtcpStats,
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
    rtcp: Rtcp,
    rtcp_latched: Option<SocketAddr>,
    rtcp_last_rx: Option<Instant>,
}

impl LegState {
    /// Where the SDP says RTCP goes: `a=rtcp:`, else the RTP port + 1.
    fn rtcp_sdp(&self) -> SocketAddr {
        let r = self.config.remote;
        self.config
            .rtcp
            .unwrap_or_else(|| SocketAddr::new(r.ip(), r.port().wrapping_add(1)))
    }

    /// Where RTCP goes now; `None` while the peer names no address (a
    /// disabled stream, RFC 2543 hold) and has sent no RTCP.
    fn rtcp_to(&self) -> Option<SocketAddr> {
        let sdp = Some(self.rtcp_sdp())
            .filter(|a| !a.ip().is_unspecified() && self.config.remote.port() != 0);
        self.rtcp_latched.or(sdp)
    }

    fn sent(&self, now: Instant) -> Sent {
        Sent {
            packets: self.out.packets,
            octets: self.out.octets,
            rtp_time: self.out.rtp_time_at(now, CLOCK_RATE),
        }
    }
}

pub struct Session {
    start: Instant,
    wall: WallClock,
    legs: [Option<LegState>; 2],
    /// The last statistics of legs removed, for the call record.
    removed: [Option<LegStats>; 2],
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
    /// Packet buffers and frames handed back by the driver, reused so that
    /// relaying a packet allocates nothing.
    spare: Vec<Vec<u8>>,
    #[expect(
        clippy::vec_box,
        reason = "the boxes themselves are reused: Output::Frame carries one"
    )]
    spare_frames: Vec<Box<StereoFrame>>,
    /// Report the caller's RTP stopping for this long (once per stop).
    silence: Option<Duration>,
    silence_reported: bool,
}

impl Session {
    /// A call's media from `start`, when the wall clock read `wall` (for
    /// the RTCP timestamps; the session never reads a clock itself).
    pub fn new(start: Instant, wall: SystemTime) -> Session {
        Session {
            start,
            wall: WallClock { at: start, wall },
            legs: [None, None],
            removed: [None, None],
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
            spare: Vec::new(),
            spare_frames: Vec::new(),
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
    /// names hotline's stream on it (random, from the driver) and seeds
    /// its RTCP intervals.
    pub fn set_leg(&mut self, now: Instant, leg: Leg, config: LegConfig, ssrc: u32) {
        match &mut self.legs[leg.index()] {
            Some(state) => {
                if state.config.remote != config.remote {
                    // Another phone (a transfer): its RTP and RTCP come afresh.
                    state.latched = None;
                    state.rtcp_latched = None;
                    state.rtcp.forget_peer();
                }
                state.config = config;
            }
            None => {
                let seed = u64::from(ssrc) << 32 | u64::from(ssrc.rotate_left(13));
                self.legs[leg.index()] = Some(LegState {
                    config,
                    latched: None,
                    last_rx: None,
                    out: OutStream::new(ssrc, (ssrc >> 16) as u16, ssrc.rotate_left(7)),
                    rx: RxTracker::default(),
                    dtmf_reported: None,
                    rtcp: Rtcp::new(now, ssrc, CLOCK_RATE, self.wall, seed),
                    rtcp_latched: None,
                    rtcp_last_rx: None,
                })
            }
        }
    }

    /// Forgets a leg (the agent left; the call goes on with the caller),
    /// saying RTCP BYE to it.
    pub fn remove_leg(&mut self, now: Instant, leg: Leg) {
        self.say_bye(now, leg);
        if let Some(stats) = self.stats(leg) {
            self.removed[leg.index()] = Some(stats);
        }
        self.legs[leg.index()] = None;
        if leg == Leg::Agent {
            self.bridged = false;
        }
    }

    /// The call's media ends: RTCP BYE on every leg. The legs' statistics
    /// stay readable.
    pub fn close(&mut self, now: Instant) {
        self.say_bye(now, Leg::Caller);
        self.say_bye(now, Leg::Agent);
    }

    fn say_bye(&mut self, now: Instant, leg: Leg) {
        let Some(state) = self.legs[leg.index()].as_mut() else {
            return;
        };
        let Some(to) = state.rtcp_to() else { return };
        let sent = state.sent(now);
        if let Some(data) = state.rtcp.bye(now, &sent, state.rx.source().as_ref()) {
            self.outputs
                .push_back(Output::TransmitRtcp { leg, to, data });
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

    /// The leg's statistics; for a removed leg (an agent who hung up
    /// first), its last ones.
    pub fn stats(&self, leg: Leg) -> Option<LegStats> {
        let Some(s) = self.legs[leg.index()].as_ref() else {
            return self.removed[leg.index()].clone();
        };
        Some(LegStats {
            codec: s.config.codec.name(),
            received: s.rx.stats().clone(),
            sent_packets: s.out.packets,
            remote: s.latched,
            rtcp: s.rtcp.stats().clone(),
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
        let Some(state) = self.legs[leg.index()].as_mut() else {
            return;
        };
        // Latch: the address the SDP names at once (a phone that just took
        // the leg over beats the trailing packets of the one it replaced),
        // else the first source, or a new one once the old went silent.
        match state.latched {
            Some(src) if src == from => {}
            _ if from == state.config.remote => state.latched = Some(from),
            Some(_)
                if state
                    .last_rx
                    .is_some_and(|t| now.saturating_duration_since(t) < RELATCH_AFTER) =>
            {
                return;
            }
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

    /// A datagram arrived on `leg`'s RTCP port (RTP + 1) from `from`.
    /// What does not parse as RTCP is dropped; so is RTCP from a second
    /// source while the latched one still reports.
    pub fn handle_rtcp(&mut self, now: Instant, leg: Leg, from: SocketAddr, data: &[u8]) {
        let Some(state) = self.legs[leg.index()].as_mut() else {
            return;
        };
        let take = match state.rtcp_latched {
            Some(src) if src == from => true,
            _ if from == state.rtcp_sdp() => true,
            Some(_) => state
                .rtcp_last_rx
                .is_none_or(|t| now.saturating_duration_since(t) >= RTCP_RELATCH_AFTER),
            None => true,
        };
        if take && state.rtcp.handle(now, data) {
            state.rtcp_latched = Some(from);
            state.rtcp_last_rx = Some(now);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(at) = self.next_tick.filter(|t| *t <= now) {
            self.play_frame(at);
            self.next_tick = if self.player.active() && !self.bridged {
                Some(at + TICK)
            } else {
                None
            };
        }
        if self.silence_deadline().is_some_and(|at| at <= now) {
            self.silence_reported = true;
            self.outputs.push_back(Output::Silent(Leg::Caller));
        }
        for leg in [Leg::Caller, Leg::Agent] {
            let Some(state) = self.legs[leg.index()].as_mut() else {
                continue;
            };
            if state.rtcp.poll_timeout() > now {
                continue;
            }
            let Some(to) = state.rtcp_to() else {
                state.rtcp.skip(now);
                continue;
            };
            let sent = state.sent(now);
            if let Some(data) = state
                .rtcp
                .poll_report(now, &sent, state.rx.source().as_ref())
            {
                self.outputs
                    .push_back(Output::TransmitRtcp { leg, to, data });
            }
        }
        self.drain_recorder(now);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Gives back the buffer of a sent [`Output::Transmit`]: the next
    /// packet is built in it rather than in a new one.
    pub fn recycle(&mut self, data: Vec<u8>) {
        if self.spare.len() < SPARE {
            self.spare.push(data);
        }
    }

    /// Gives back a written [`Output::Frame`] for the next one.
    pub fn recycle_frame(&mut self, frame: Box<StereoFrame>) {
        if self.spare_frames.len() < SPARE {
            self.spare_frames.push(frame);
        }
    }

    fn packet_buffer(spare: &mut Vec<Vec<u8>>) -> Vec<u8> {
        spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(PACKET_CAPACITY))
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let rec = self.recorder.as_ref().and_then(Aligner::poll_timeout);
        let rtcp = self
            .legs
            .iter()
            .flatten()
            .map(|l| l.rtcp.poll_timeout())
            .min();
        [self.next_tick, rec, rtcp, self.silence_deadline()]
            .into_iter()
            .flatten()
            .min()
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
            r.push(
                at,
                Side::Agent,
                0x686F_746C,
                self.gen_seq,
                self.gen_ts,
                &frame,
            );
        }
        self.gen_seq = self.gen_seq.wrapping_add(1);
        self.gen_ts = self.gen_ts.wrapping_add(FRAME as u32);
        let Some(caller) = self.legs[Leg::Caller.index()].as_mut() else {
            return;
        };
        if !caller.config.send {
            return;
        }
        let Some(to) = caller.latched.or(Some(caller.config.remote)) else {
            return;
        };
        self.payload.clear();
        caller.config.codec.encode(&frame, &mut self.payload);
        let mut data = Self::packet_buffer(&mut self.spare);
        caller
            .out
            .generated(at, caller.config.pt, &self.payload, &mut data);
        self.outputs.push_back(Output::Transmit {
            leg: Leg::Caller,
            to,
            data,
        });
    }

    fn relay_audio(
        &mut self,
        now: Instant,
        from: Leg,
        rx: rtp::Received,
        codec: Codec,
        payload: &[u8],
    ) {
        let Some(to_leg) = self.legs[from.other().index()].as_mut() else {
            return;
        };
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
        let mut data = Self::packet_buffer(&mut self.spare);
        to_leg
            .out
            .relayed(now, to_leg.config.pt, rx.marker, rx, body, &mut data);
        self.outputs.push_back(Output::Transmit {
            leg: from.other(),
            to,
            data,
        });
    }

    fn relay_event(&mut self, now: Instant, from: Leg, rx: rtp::Received, payload: &[u8]) {
        let Some(to_leg) = self.legs[from.other().index()].as_mut() else {
            return;
        };
        let (Some(pt), true) = (to_leg.config.telephone_event, to_leg.config.send) else {
            return;
        };
        let to = to_leg.latched.unwrap_or(to_leg.config.remote);
        let mut data = Self::packet_buffer(&mut self.spare);
        to_leg
            .out
            .relayed(now, pt, rx.marker, rx, payload, &mut data);
        self.outputs.push_back(Output::Transmit {
            leg: from.other(),
            to,
            data,
        });
    }

    fn drain_recorder(&mut self, now: Instant) {
        if let Some(r) = &mut self.recorder {
            while let Some(f) = r.poll_frame(now) {
                let frame = match self.spare_frames.pop() {
                    Some(mut b) => {
                        *b = f;
                        b
                    }
                    None => Box::new(f),
                };
                self.outputs.push_back(Output::Frame(frame));
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
mod rtcp_tests;
#[cfg(test)]
mod tests;
