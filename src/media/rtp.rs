//! RTP on one leg: the stream hotline sends (its own SSRC, sequence and
//! timestamps, continuous across prompts, music and bridged audio) and the
//! statistics of the stream it receives (RFC 3550 loss and jitter).
//!
//! Headers are read and written with `rtc-rtp`; nothing here allocates
//! per packet beyond the output buffer.

use rtc_rtp::Header;
use shared::marshal::{Marshal, MarshalSize, Unmarshal};
use std::time::{Duration, Instant};

/// A received RTP packet's header fields and where its payload starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload_at: usize,
    pub payload_len: usize,
}

/// Parses an RTP packet; `None` for RTCP (PT 200-204 with the marker bit
/// folded in) and anything that is not RTP version 2.
pub fn parse(data: &[u8]) -> Option<Received> {
    if data.len() < 12 || data[0] >> 6 != 2 || (200..=204).contains(&data[1]) {
        return None;
    }
    let mut buf = data;
    let h = Header::unmarshal(&mut buf).ok()?;
    let mut end = data.len();
    if h.padding {
        let pad = *data.last()? as usize;
        end = end.checked_sub(pad)?;
    }
    let payload_at = data.len() - buf.len();
    Some(Received {
        pt: h.payload_type,
        marker: h.marker,
        seq: h.sequence_number,
        ts: h.timestamp,
        ssrc: h.ssrc,
        payload_at,
        payload_len: end.checked_sub(payload_at)?,
    })
}

/// The stream hotline sends on a leg.
///
/// Generated audio (prompts, music) advances it 160 samples a frame.
/// Relayed packets keep their source's sequence and timestamp spacing
/// (so the far end's jitter buffer and loss detection still work), shifted
/// by offsets fixed when the source starts; a new source, or generated
/// audio in between, re-anchors them so the far end sees one continuous
/// stream from hotline with the marker bit on each new talk spurt.
#[derive(Debug)]
pub struct OutStream {
    ssrc: u32,
    seq: u16,
    ts: u32,
    last_at: Option<Instant>,
    /// The relayed source and its offsets (seq, ts).
    source: Option<(u32, u16, u32)>,
    pub packets: u64,
    /// Payload octets sent (RTCP SR's sender's octet count).
    pub octets: u64,
}

impl OutStream {
    pub fn new(ssrc: u32, seq: u16, ts: u32) -> OutStream {
        OutStream {
            ssrc,
            seq,
            ts,
            last_at: None,
            source: None,
            packets: 0,
            octets: 0,
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The RTP timestamp that corresponds to `now` on this stream's clock
    /// (`clock_rate` Hz): the last packet's plus the time since, for an
    /// RTCP sender report. `None` before the first packet.
    pub fn rtp_time_at(&self, now: Instant, clock_rate: u32) -> Option<u32> {
        let at = self.last_at?;
        let ticks =
            now.saturating_duration_since(at).as_micros() as u64 * clock_rate as u64 / 1_000_000;
        Some(self.ts.wrapping_add(ticks as u32))
    }

    /// The timestamp for audio starting now: the last one plus the time
    /// since, at least one 20 ms frame on.
    fn next_ts(&self, now: Instant) -> u32 {
        match self.last_at {
            None => self.ts,
            Some(at) => {
                let elapsed = now.saturating_duration_since(at).as_micros() as u64 * 8 / 1000;
                let frames = (elapsed / 160).max(1) as u32;
                self.ts.wrapping_add(frames * 160)
            }
        }
    }

    /// Writes a packet of generated audio into `out`; returns its length.
    pub fn generated(&mut self, now: Instant, pt: u8, payload: &[u8], out: &mut Vec<u8>) -> usize {
        let marker = self.source.take().is_some() || self.last_at.is_none();
        let ts = self.next_ts(now);
        let seq = if self.last_at.is_none() {
            self.seq
        } else {
            self.seq.wrapping_add(1)
        };
        self.write(now, pt, marker, seq, ts, payload, out)
    }

    /// Writes a relayed packet (its source's `seq`, `ts`, `ssrc`) into
    /// `out`, mapped onto this stream; returns its length.
    pub fn relayed(
        &mut self,
        now: Instant,
        pt: u8,
        marker: bool,
        src: Received,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> usize {
        let (seq_off, ts_off) = match self.source {
            Some((ssrc, so, to)) if ssrc == src.ssrc => (so, to),
            _ => {
                let seq = if self.last_at.is_none() {
                    self.seq
                } else {
                    self.seq.wrapping_add(1)
                };
                let offs = (
                    seq.wrapping_sub(src.seq),
                    self.next_ts(now).wrapping_sub(src.ts),
                );
                self.source = Some((src.ssrc, offs.0, offs.1));
                return self.write(
                    now,
                    pt,
                    true,
                    seq,
                    src.ts.wrapping_add(offs.1),
                    payload,
                    out,
                );
            }
        };
        self.write(
            now,
            pt,
            marker,
            src.seq.wrapping_add(seq_off),
            src.ts.wrapping_add(ts_off),
            payload,
            out,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        now: Instant,
        pt: u8,
        marker: bool,
        seq: u16,
        ts: u32,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> usize {
        // Sequence and timestamp only move forward from hotline's view:
        // a reordered relayed packet keeps its own numbers but does not
        // pull the stream back.
        if self.last_at.is_none() || (seq.wrapping_sub(self.seq) as i16) > 0 {
            self.seq = seq;
            self.ts = ts;
        }
        self.last_at = Some(now);
        self.packets += 1;
        self.octets += payload.len() as u64;
        let header = Header {
            version: 2,
            marker,
            payload_type: pt,
            sequence_number: seq,
            timestamp: ts,
            ssrc: self.ssrc,
            ..Default::default()
        };
        let size = header.marshal_size();
        out.clear();
        out.resize(size + payload.len(), 0);
        let written = header.marshal_to(&mut out[..size]).unwrap_or(0);
        out.truncate(written);
        out.extend_from_slice(payload);
        out.len()
    }
}

/// Statistics of the stream received on a leg (RFC 3550 A.1, A.8).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RxStats {
    pub packets: u64,
    pub bytes: u64,
    /// Packets expected from the sequence numbers but never received.
    pub lost: u64,
    /// Interarrival jitter in milliseconds (RFC 3550 A.8).
    pub jitter_ms: f64,
    /// Streams seen (a new SSRC starts a new one).
    pub streams: u32,
}

#[derive(Debug, Default)]
pub struct RxTracker {
    stats: RxStats,
    ssrc: Option<u32>,
    /// Extended highest sequence number and the first one, this stream.
    max_ext: i64,
    base_ext: i64,
    received: u64,
    lost_before: u64,
    last_transit: Option<i64>,
    jitter: f64,
}

impl RxTracker {
    /// Counts a packet that arrived `since_start` after the session began.
    pub fn packet(&mut self, since_start: Duration, rx: &Received, clock_rate: u32) {
        self.stats.packets += 1;
        self.stats.bytes += rx.payload_len as u64;
        if self.ssrc != Some(rx.ssrc) {
            self.lost_before = self.stats.lost;
            self.ssrc = Some(rx.ssrc);
            self.stats.streams += 1;
            self.max_ext = rx.seq as i64;
            self.base_ext = rx.seq as i64;
            self.received = 0;
            self.last_transit = None;
        }
        // Extend the sequence number around the one closest to the maximum.
        let cycle = self.max_ext & !0xFFFF;
        let ext = [cycle - 0x10000, cycle, cycle + 0x10000]
            .into_iter()
            .map(|c| c + rx.seq as i64)
            .min_by_key(|e| (e - self.max_ext).abs())
            .unwrap_or(rx.seq as i64);
        self.max_ext = self.max_ext.max(ext);
        self.received += 1;
        let expected = (self.max_ext - self.base_ext + 1).max(0) as u64;
        self.stats.lost = self.lost_before + expected.saturating_sub(self.received);
        let arrival = (since_start.as_micros() as i64) * clock_rate as i64 / 1_000_000;
        let transit = arrival - rx.ts as i64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
            self.stats.jitter_ms = self.jitter * 1000.0 / clock_rate as f64;
        }
        self.last_transit = Some(transit);
    }

    pub fn stats(&self) -> &RxStats {
        &self.stats
    }

    /// The current stream, as an RTCP reception report sees it (RFC 3550
    /// A.3); `None` before the first packet.
    pub fn source(&self) -> Option<RxSource> {
        Some(RxSource {
            ssrc: self.ssrc?,
            ext_highest_seq: self.max_ext as u32,
            expected: (self.max_ext - self.base_ext + 1).max(0) as u64,
            received: self.received,
            jitter: self.jitter.round() as u32,
        })
    }
}

/// The stream received on a leg, for an RTCP reception report block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxSource {
    pub ssrc: u32,
    /// Extended highest sequence number received (cycles in the top half).
    pub ext_highest_seq: u32,
    /// Packets expected (from the first to the highest sequence number)
    /// and received, this stream.
    pub expected: u64,
    pub received: u64,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rx(seq: u16, ts: u32, ssrc: u32) -> Received {
        Received {
            pt: 8,
            marker: false,
            seq,
            ts,
            ssrc,
            payload_at: 12,
            payload_len: 160,
        }
    }

    #[test]
    fn a_written_packet_parses_back() {
        let mut s = OutStream::new(0xABCD, 100, 8000);
        let mut buf = Vec::new();
        let t0 = Instant::now();
        s.generated(t0, 8, &[0xD5; 160], &mut buf);
        let p = parse(&buf).unwrap();
        assert_eq!(
            (p.pt, p.seq, p.ts, p.ssrc, p.marker, p.payload_len),
            (8, 100, 8000, 0xABCD, true, 160)
        );
        s.generated(t0 + Duration::from_millis(20), 8, &[0xD5; 160], &mut buf);
        let p = parse(&buf).unwrap();
        assert_eq!((p.seq, p.ts, p.marker), (101, 8160, false));
        assert!(
            parse(&[0x80, 200, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]).is_none(),
            "RTCP is not RTP"
        );
        assert!(parse(b"garbage").is_none());
    }

    #[test]
    fn relayed_audio_continues_hotlines_stream_and_keeps_the_sources_spacing() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut s = OutStream::new(1, 500, 0);
        let mut buf = Vec::new();
        // Music for 1 s (50 frames)...
        for i in 0..50 {
            s.generated(ms(i * 20), 0, &[0xFF; 160], &mut buf);
        }
        // ...then the agent's stream, with its own numbers.
        s.relayed(
            ms(1000),
            0,
            false,
            rx(7000, 123_456, 9),
            &[1; 160],
            &mut buf,
        );
        let a = parse(&buf).unwrap();
        assert_eq!((a.seq, a.ts, a.ssrc, a.marker), (550, 8000, 1, true));
        // A lost packet (7001) stays a gap; the spacing is the source's.
        s.relayed(
            ms(1045),
            0,
            false,
            rx(7002, 123_776, 9),
            &[1; 160],
            &mut buf,
        );
        let b = parse(&buf).unwrap();
        assert_eq!((b.seq, b.ts, b.marker), (552, 8320, false));
        // Music again: after the last packet, by wall clock.
        s.generated(ms(1065), 0, &[0xFF; 160], &mut buf);
        let c = parse(&buf).unwrap();
        assert_eq!((c.seq, c.ts, c.marker), (553, 8480, true));
    }

    #[test]
    fn loss_and_jitter_follow_rfc_3550() {
        let mut t = RxTracker::default();
        let at = |ms: u64| Duration::from_millis(ms);
        for (i, seq) in [65534u16, 65535, 1, 2].into_iter().enumerate() {
            // seq 0 is lost across the wrap
            let n = seq.wrapping_sub(65534) as u64;
            t.packet(at(n * 20), &rx(seq, (n * 160) as u32, 5), 8000);
            assert_eq!(t.stats().packets, i as u64 + 1);
        }
        assert_eq!(t.stats().lost, 1);
        assert_eq!(t.stats().jitter_ms, 0.0, "perfect spacing has no jitter");
        t.packet(at(5 * 20 + 16), &rx(3, 5 * 160, 5), 8000);
        assert!(
            (t.stats().jitter_ms - 1.0).abs() < 1e-9,
            "a 16 ms late packet adds 16/16 ms: {}",
            t.stats().jitter_ms
        );
        // A new stream keeps the earlier loss.
        t.packet(at(200), &rx(10, 0, 6), 8000);
        t.packet(at(240), &rx(12, 320, 6), 8000);
        assert_eq!((t.stats().lost, t.stats().streams), (2, 2));
    }
}
