//! One side of the recording: its current RTP stream's anchor on the
//! timeline and the samples waiting to be written.
//!
//! [`SideState::locate`] turns a packet's sequence number and timestamp
//! into a timeline position, keeping the stream's offset at the fastest
//! packet seen, following a slow sender's drift, and anchoring anew on a
//! new stream or a timestamp jump; [`SideState::place`] writes the samples
//! into the pending buffer, counting what came too late.

use super::{DRIFT_SLACK, DRIFT_WINDOW, JUMP, MAX_PENDING, MAX_SEQ_JUMP, SideStats};
use std::collections::VecDeque;

/// One RTP stream of a side (one SSRC, one timestamp clock).
#[derive(Debug)]
pub(super) struct Stream {
    ssrc: u32,
    /// Extended (unwrapped) sequence numbers: the first and the newest.
    first_seq: i64,
    last_seq: i64,
    /// Extended timestamp of the newest packet.
    last_ts: i64,
    received: u64,
    /// Timeline position = extended timestamp + offset.
    offset: i64,
    /// The current drift window: where it began and the least lateness
    /// seen in it (`i64::MAX`: no packet yet).
    window_start: i64,
    window_min: i64,
}

impl Stream {
    fn new(ssrc: u32, seq: u16, ts: u32, observed: i64, arrival: i64) -> Stream {
        Stream {
            ssrc,
            first_seq: i64::from(seq),
            last_seq: i64::from(seq),
            last_ts: i64::from(ts),
            received: 1,
            offset: observed - i64::from(ts),
            window_start: arrival,
            window_min: i64::MAX,
        }
    }

    fn extend_seq(&self, seq: u16) -> i64 {
        self.last_seq + i64::from(seq.wrapping_sub(self.last_seq as u16) as i16)
    }

    fn extend_ts(&self, ts: u32) -> i64 {
        self.last_ts + i64::from(ts.wrapping_sub(self.last_ts as u32) as i32)
    }

    pub(super) fn lost(&self) -> u64 {
        let expected = self.last_seq - self.first_seq + 1;
        u64::try_from(expected - self.received as i64).unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub(super) struct SideState {
    pub(super) stream: Option<Stream>,
    /// Samples from the aligner's base on; `None` where nothing arrived.
    pub(super) pending: VecDeque<Option<i16>>,
    /// The side's span: its first sample's position and its furthest end.
    pub(super) first: Option<u64>,
    pub(super) end: u64,
    /// Silence written since the side's last audio: counted once audio
    /// follows (silence after the last audio is not a gap).
    pub(super) gap: u64,
    /// Lost packets of streams that ended.
    pub(super) lost_before: u64,
    pub(super) stats: SideStats,
}

impl SideState {
    /// Where a packet goes on the timeline, updating the stream's anchor;
    /// `None` for a stray old packet far off its stream's timing.
    pub(super) fn locate(
        &mut self,
        arrival: i64,
        ssrc: u32,
        seq: u16,
        ts: u32,
        len: i64,
    ) -> Option<i64> {
        let observed = arrival - len;
        let same = self.stream.as_ref().is_some_and(|s| {
            s.ssrc == ssrc && (s.extend_seq(seq) - s.last_seq).abs() <= MAX_SEQ_JUMP
        });
        if !same {
            if let Some(old) = self.stream.take() {
                self.lost_before += old.lost();
            }
            self.stream = Some(Stream::new(ssrc, seq, ts, observed, arrival));
            self.stats.anchors += 1;
            return Some(observed);
        }
        let s = self.stream.as_mut()?;
        let (ext_seq, ext_ts) = (s.extend_seq(seq), s.extend_ts(ts));
        s.received += 1;
        let newer = ext_seq > s.last_seq;
        if newer {
            s.last_seq = ext_seq;
            s.last_ts = ext_ts;
        }
        let late_by = observed - ext_ts - s.offset;
        if late_by.abs() > JUMP {
            if !newer {
                return None;
            }
            s.offset = observed - ext_ts;
            s.window_start = arrival;
            s.window_min = i64::MAX;
            self.stats.anchors += 1;
        } else if late_by < 0 {
            s.offset = observed - ext_ts;
            s.window_min = 0;
        } else if newer {
            s.window_min = s.window_min.min(late_by);
        }
        if newer && arrival - s.window_start >= DRIFT_WINDOW {
            if s.window_min != i64::MAX && s.window_min > DRIFT_SLACK {
                s.offset += s.window_min;
            }
            s.window_start = arrival;
            s.window_min = i64::MAX;
        }
        Some(ext_ts + s.offset)
    }

    /// Writes `pcm` at timeline position `pos`; what falls before `base`
    /// (already written out) is late, what falls before 0 preceded the
    /// recording.
    pub(super) fn place(&mut self, base: u64, pos: i64, pcm: &[i16]) {
        if pcm.is_empty() {
            return;
        }
        let end = pos + pcm.len() as i64;
        let from = pos.max(0) as u64;
        let mut late = from < base && end > 0;
        let from = from.max(base);
        let end = end.max(0) as u64;
        if end > from {
            let skip = (from as i64 - pos) as usize;
            let at = (from - base) as usize;
            let n = ((end - from) as usize).min(MAX_PENDING.saturating_sub(at));
            late |= n < (end - from) as usize;
            if self.pending.len() < at + n {
                self.pending.resize(at + n, None);
            }
            for (slot, v) in self.pending.range_mut(at..at + n).zip(&pcm[skip..skip + n]) {
                *slot = Some(*v);
            }
            if n > 0 {
                self.first = Some(self.first.map_or(from, |f| f.min(from)));
                self.end = self.end.max(from + n as u64);
            }
        }
        if late {
            self.stats.late += 1;
        }
    }
}
