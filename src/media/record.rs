//! The recorder's aligner: two RTP audio streams in, one stereo timeline
//! out, caller on the left and agent on the right.
//!
//! Sans-IO. The relay hands it every decoded 8 kHz packet as it arrives
//! ([`Aligner::push`]) and drains 20 ms stereo frames in wall-clock order
//! ([`Aligner::poll_frame`]) for the WAV writer; [`Aligner::poll_timeout`]
//! says when the next frame is due. It never reads the clock.
//!
//! The timeline starts at the [`Instant`] given to [`Aligner::new`]; sample
//! `n` of either channel is what hotline heard `n / 8000` s after it. Each
//! side is placed by RTP timestamp, so jitter and reordering do not move
//! audio, and anchored to arrival time:
//!
//! ```text
//!   position(packet) = rtp_ts + offset          (offset: per stream)
//!   offset           = min over the stream of (arrival - len - rtp_ts)
//! ```
//!
//! The minimum is the packet that travelled fastest, so a first packet that
//! came late does not delay the side for the whole call. Re-anchoring
//! (offset := this packet's arrival) happens on a new SSRC or a sequence
//! jump (a new stream: a transfer to another seat, a phone restarting its
//! stream after hold) and when an in-sequence packet lands more than
//! [`JUMP`] samples from where its stream puts it (the sender's timestamp
//! jumped, e.g. after hold). A sender whose clock runs slow drifts later;
//! when every packet of a [`DRIFT_WINDOW`] came at least [`DRIFT_SLACK`]
//! late, the offset follows. None of this ever moves the other side.
//!
//! A frame is written [`PLAYOUT_DELAY`] after its end. What has not arrived
//! by then is silence: lost packets, gaps, a side that has not started yet,
//! and late packets (dropped and counted). While paused, frames are silence
//! from the pause's position to the resume's.

mod side;

use side::{SideState, Stream};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Samples per second, on both sides and in the recording.
pub const RATE: u32 = 8000;

/// Samples per side in one frame: 20 ms.
pub const FRAME: usize = 160;

/// How long after a frame's end the aligner waits for its packets before
/// writing it. A 20 ms packet may come 80 ms later than the fastest packet
/// of its stream (100 ms if it starts on a frame boundary) and still be in
/// time; a recording does not need low latency, so the margin is generous.
pub const PLAYOUT_DELAY: Duration = Duration::from_millis(100);

/// An in-sequence packet further than this (250 ms, in samples) from where
/// its stream's anchor puts it means the sender's timestamps jumped: the
/// stream is anchored again at the packet's arrival.
pub const JUMP: i64 = 2000;

/// The span (2 s, in samples) over which a stream's drift is judged.
pub const DRIFT_WINDOW: i64 = 2 * RATE as i64;

/// If every packet of a drift window arrived at least this much (10 ms, in
/// samples) later than its stream's anchor predicts, the anchor moves later
/// by the smallest lateness (the sender's clock runs slow, or the route got
/// longer).
pub const DRIFT_SLACK: i64 = 80;

/// A sequence number this far from the newest means a new stream (RFC 3550
/// MAX_DROPOUT).
const MAX_SEQ_JUMP: i64 = 3000;

/// Most samples held per side: audio further ahead (only if the driver
/// stopped polling) is dropped and counted as late.
const MAX_PENDING: usize = 10 * RATE as usize;

/// Which party a stream belongs to: its channel in the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The citizen, on the trunk leg: the left channel.
    Caller,
    /// The seat, whichever agent holds the call now: the right channel.
    Agent,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Caller => 0,
            Side::Agent => 1,
        }
    }
}

/// 20 ms of the recording: 160 samples per side, interleaved caller
/// (left), agent (right).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StereoFrame {
    /// The frame's place in the timeline: it starts at sample `index * 160`.
    pub index: u64,
    pub samples: [i16; 2 * FRAME],
}

impl StereoFrame {
    pub fn caller(&self) -> impl Iterator<Item = i16> + '_ {
        self.samples.iter().step_by(2).copied()
    }

    pub fn agent(&self) -> impl Iterator<Item = i16> + '_ {
        self.samples.iter().skip(1).step_by(2).copied()
    }
}

/// Media statistics for one side, over the whole recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideStats {
    /// Packets pushed (duplicates included).
    pub packets: u64,
    /// Packets that never came, by sequence number, summed over streams.
    pub lost: u64,
    /// Packets that came after their frame was written, wholly or in part.
    pub late: u64,
    /// Samples within the side's span (first audio to last) written as
    /// silence for want of audio: losses, late packets, sending gaps such
    /// as hold. Pauses do not count.
    pub silence_samples: u64,
    /// Times the side was anchored: 1 for its first packet, plus one per
    /// new stream or timestamp jump.
    pub anchors: u32,
}

/// Aligns the caller's and the agent's audio on one wall-clock timeline.
#[derive(Debug)]
pub struct Aligner {
    start: Instant,
    /// The next frame to write; its first sample is the base of `pending`.
    next_frame: u64,
    sides: [SideState; 2],
    /// Paused spans `[from, to)` in samples, oldest first; an open one ends
    /// at `u64::MAX`.
    pauses: VecDeque<(u64, u64)>,
    /// Set by [`Aligner::finish`]: the timeline ends here.
    end: Option<u64>,
}

impl Aligner {
    pub fn new(start: Instant) -> Aligner {
        Aligner {
            start,
            next_frame: 0,
            sides: Default::default(),
            pauses: VecDeque::new(),
            end: None,
        }
    }

    // ---- inputs ------------------------------------------------------------

    /// A packet of `side` arrived at `now`: its RTP header's SSRC, sequence
    /// number and timestamp (8 kHz clock), and its audio decoded to 8 kHz
    /// linear PCM (any length). The SSRC tells a new stream on the same
    /// side. Ignored after [`Aligner::finish`].
    pub fn push(
        &mut self,
        now: Instant,
        side: Side,
        ssrc: u32,
        rtp_seq: u16,
        rtp_ts: u32,
        pcm: &[i16],
    ) {
        if self.end.is_some() {
            return;
        }
        let arrival = self.position(now) as i64;
        let base = self.base();
        let s = &mut self.sides[side.index()];
        s.stats.packets += 1;
        match s.locate(arrival, ssrc, rtp_seq, rtp_ts, pcm.len() as i64) {
            Some(pos) => s.place(base, pos, pcm),
            None => s.stats.late += 1,
        }
    }

    /// Silences both channels from now on; false if already paused.
    pub fn pause(&mut self, now: Instant) -> bool {
        if self.is_paused() || self.end.is_some() {
            return false;
        }
        let at = self.position(now).max(self.base());
        self.pauses.push_back((at, u64::MAX));
        true
    }

    /// Ends a pause; false if not paused.
    pub fn resume(&mut self, now: Instant) -> bool {
        let at = self.position(now);
        match self.pauses.back_mut() {
            Some((from, to)) if *to == u64::MAX => {
                *to = at.max(*from);
                true
            }
            _ => false,
        }
    }

    /// The call ended: the timeline stops at `now` (or the end of the
    /// audio already in, if later), rounded up to a whole frame. From here
    /// on [`Aligner::poll_frame`] drains the remaining frames whatever time
    /// it is given, then returns `None`.
    pub fn finish(&mut self, now: Instant) {
        if self.end.is_some() {
            return;
        }
        let last = self
            .sides
            .iter()
            .map(|s| s.end)
            .fold(self.position(now), u64::max);
        let end = last.div_ceil(FRAME as u64) * FRAME as u64;
        self.end = Some(end);
        if let Some((_, to)) = self.pauses.back_mut()
            && *to == u64::MAX
        {
            *to = end;
        }
    }

    // ---- outputs -----------------------------------------------------------

    /// The next frame, once it is due at `now`.
    pub fn poll_frame(&mut self, now: Instant) -> Option<StereoFrame> {
        let base = self.base();
        let due = match self.end {
            Some(end) => base < end,
            None => now >= self.deadline(),
        };
        if !due {
            return None;
        }
        let mut frame = StereoFrame {
            index: self.next_frame,
            samples: [0; 2 * FRAME],
        };
        // Pauses are rare: look at them per sample only when one touches the frame.
        let frame_end = base + FRAME as u64;
        let pause_here = self
            .pauses
            .iter()
            .any(|&(from, to)| from < frame_end && base < to);
        let paused =
            |p: u64| pause_here && self.pauses.iter().any(|&(from, to)| from <= p && p < to);
        for (channel, side) in self.sides.iter_mut().enumerate() {
            let n = side.pending.len().min(FRAME);
            let mut pending = side.pending.drain(..n);
            for i in 0..FRAME {
                let p = base + i as u64;
                let v = pending.next().flatten();
                if paused(p) {
                    continue;
                }
                match v {
                    Some(v) => {
                        frame.samples[2 * i + channel] = v;
                        side.stats.silence_samples += std::mem::take(&mut side.gap);
                    }
                    None if side.first.is_some_and(|f| f <= p) => side.gap += 1,
                    None => {}
                }
            }
        }
        self.next_frame += 1;
        let base = self.base();
        while self.pauses.front().is_some_and(|&(_, to)| to <= base) {
            self.pauses.pop_front();
        }
        Some(frame)
    }

    /// When the next frame is due; `None` once finished and drained (a
    /// finished aligner with frames left says its start: due at once).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.end {
            Some(end) => (self.base() < end).then_some(self.start),
            None => Some(self.deadline()),
        }
    }

    pub fn is_paused(&self) -> bool {
        self.pauses.back().is_some_and(|&(_, to)| to == u64::MAX)
    }

    pub fn stats(&self, side: Side) -> SideStats {
        let s = &self.sides[side.index()];
        let lost = s.lost_before + s.stream.as_ref().map_or(0, Stream::lost);
        SideStats { lost, ..s.stats }
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.next_frame
    }

    // ---- internals ---------------------------------------------------------

    fn base(&self) -> u64 {
        self.next_frame * FRAME as u64
    }

    /// When the next frame may be written.
    fn deadline(&self) -> Instant {
        self.start + Duration::from_millis(20 * (self.next_frame + 1)) + PLAYOUT_DELAY
    }

    /// `now` as a sample position on the timeline.
    fn position(&self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.start).as_nanos();
        (nanos * u128::from(RATE) / 1_000_000_000) as u64
    }
}

#[cfg(test)]
mod tests;
