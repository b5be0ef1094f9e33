//! RTCP on one leg, sans-IO (RFC 3550 §6): hotline terminates media (it
//! re-originates RTP on each leg under its own SSRC), so it also speaks
//! RTCP for itself on each leg rather than passing the peers' reports on.
//!
//! ```text
//!            every ~5 s (0.5-1.5x, seeded)                 on arrival
//!  Sent + RxSource --poll_report--> SR|RR + SDES    peer's SR/RR/SDES/BYE --handle-->
//!                                   (+ BYE on close)    RtcpStats: the peer's view of
//!                                                        hotline's stream, RTT
//! ```
//!
//! A report is an SR (sender info: NTP and RTP time, packet and octet
//! counts) while hotline has sent RTP on the leg in the last two
//! intervals, else an RR; either carries one report block about the
//! stream received on the leg (fraction and cumulative loss, extended
//! highest sequence number, jitter, LSR/DLSR from the peer's last SR),
//! then an SDES with hotline's CNAME. From the peer's reports it keeps
//! what they say about hotline's stream and the round-trip time (§6.4.1:
//! arrival − LSR − DLSR, for an LSR that is one of hotline's own SRs).
//!
//! Packets are built and parsed with `rtc-rtcp`. Time is an input: the
//! caller passes `now` and, once, a [`WallClock`] pairing an `Instant`
//! with the wall-clock time for the NTP timestamps.

use bytes::Bytes;
use rtc_rtcp::compound_packet::CompoundPacket;
use rtc_rtcp::goodbye::Goodbye;
use rtc_rtcp::packet::Packet;
use rtc_rtcp::receiver_report::ReceiverReport;
use rtc_rtcp::reception_report::ReceptionReport;
use rtc_rtcp::sender_report::SenderReport;
use rtc_rtcp::source_description::{
    SdesType, SourceDescription, SourceDescriptionChunk, SourceDescriptionItem,
};
use shared::marshal::Marshal;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use super::rtp::RxSource;

/// The nominal report interval (RFC 3550 §6.2 minimum, fine for two
/// parties at G.711 rates: the bandwidth rule never asks for longer).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// hotline's own SRs remembered to match a peer's LSR against.
const SR_MEMORY: usize = 4;
/// The reason in hotline's BYE.
///
/// Its length and the CNAME's are chosen so that the SDES chunk and the
/// BYE fill whole 32-bit words: rtc-rtcp 0.21 pads them with a count in
/// the last octet where RFC 3550 §6.5 wants null octets, and sets the
/// padding bit on a BYE without a reason.
const BYE_REASON: &[u8; 11] = b"end of call";

/// hotline's CNAME on a leg (RFC 7022 style: per stream, nothing about
/// the host): 21 octets, which with the chunk's SSRC, item header and
/// terminating null make 28, a whole number of words.
pub fn cname(ssrc: u32) -> String {
    format!("hotline-{ssrc:08x}@rtcp")
}

/// Maps the monotonic clock onto wall-clock time: fixed when the call
/// starts, so the NTP timestamps of its reports never read the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    pub at: Instant,
    pub wall: SystemTime,
}

impl WallClock {
    /// The 64-bit NTP timestamp (RFC 3550 §4) of `now`.
    pub fn ntp(&self, now: Instant) -> u64 {
        let t = match now.checked_duration_since(self.at) {
            Some(d) => self.wall + d,
            None => self
                .wall
                .checked_sub(self.at.duration_since(now))
                .unwrap_or(UNIX_EPOCH),
        };
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs() + NTP_UNIX_OFFSET;
        let frac = ((since.subsec_nanos() as u64) << 32) / 1_000_000_000;
        (secs << 32) | frac
    }
}

/// The middle 32 bits of an NTP timestamp (LSR, RTT arithmetic): seconds
/// and fraction in units of 1/65536 s.
fn middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// What hotline sent on the leg, for an SR's sender info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sent {
    pub packets: u64,
    pub octets: u64,
    /// The RTP timestamp corresponding to the report's time; `None` while
    /// nothing has been sent.
    pub rtp_time: Option<u32>,
}

/// What RTCP taught about a leg: the peer's reports on hotline's stream
/// and the round-trip time. The `Option`s stay `None` until a report says.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RtcpStats {
    /// Compound RTCP packets hotline sent on the leg.
    pub sent: u64,
    /// RTCP packets received from the peer that parsed.
    pub received: u64,
    /// The peer's last report: fraction of hotline's packets lost since
    /// its previous one (0.0-1.0).
    pub remote_fraction_lost: Option<f64>,
    /// Cumulative packets of hotline's stream the peer lost (negative with
    /// duplicates, RFC 3550 §6.4.1).
    pub remote_lost: Option<i64>,
    /// The peer's interarrival jitter of hotline's stream, in milliseconds.
    pub remote_jitter_ms: Option<f64>,
    /// The last round-trip time measured from the peer's LSR/DLSR.
    pub rtt_ms: Option<f64>,
    /// The peer said BYE.
    pub bye: bool,
}

/// One leg's RTCP endpoint.
#[derive(Debug)]
pub struct Rtcp {
    ssrc: u32,
    cname: Bytes,
    clock_rate: u32,
    wall: WallClock,
    rng: u64,
    next: Instant,
    /// Packets sent at the last two reports: hotline is a sender while
    /// its count grew since the one before last (RFC 3550 §6.3.8).
    sent_marks: [u64; 2],
    /// RFC 3550 A.3 interval state: source, expected and received at the
    /// last report.
    prior: Option<(u32, u64, u64)>,
    /// The peer's last SR: its NTP middle bits and when it arrived.
    last_sr: Option<(u32, Instant)>,
    /// Middle bits of hotline's own recent SRs.
    our_srs: [u32; SR_MEMORY],
    stats: RtcpStats,
}

impl Rtcp {
    /// RTCP for hotline's stream `ssrc` (`clock_rate` Hz) on a leg set up
    /// at `now`; `seed` randomises the intervals (RFC 3550 §6.3.5), the
    /// first one half as long (§6.2).
    pub fn new(now: Instant, ssrc: u32, clock_rate: u32, wall: WallClock, seed: u64) -> Rtcp {
        let mut r = Rtcp {
            ssrc,
            cname: Bytes::from(cname(ssrc)),
            clock_rate,
            wall,
            rng: seed,
            next: now,
            sent_marks: [0; 2],
            prior: None,
            last_sr: None,
            our_srs: [0; SR_MEMORY],
            stats: RtcpStats::default(),
        };
        r.next = now + r.interval() / 2;
        r
    }

    pub fn stats(&self) -> &RtcpStats {
        &self.stats
    }

    /// When the next report is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next
    }

    /// The compound report due at `now` (none before its time); the next
    /// one is then scheduled.
    pub fn poll_report(
        &mut self,
        now: Instant,
        sent: &Sent,
        source: Option<&RxSource>,
    ) -> Option<Vec<u8>> {
        if now < self.next {
            return None;
        }
        self.next = now + self.interval();
        self.compound(now, sent, source, false)
    }

    /// Lets a due report pass unsent (the peer gave no address to send
    /// it to); the next one is scheduled.
    pub fn skip(&mut self, now: Instant) {
        if now >= self.next {
            self.next = now + self.interval();
        }
    }

    /// The last compound packet: a report, SDES and BYE (RFC 3550 §6.6).
    pub fn bye(&mut self, now: Instant, sent: &Sent, source: Option<&RxSource>) -> Option<Vec<u8>> {
        self.compound(now, sent, source, true)
    }

    /// A new peer on the leg (the SDP address changed): what the old one
    /// reported no longer applies to the new one's reports.
    pub fn forget_peer(&mut self) {
        self.last_sr = None;
        self.prior = None;
    }

    /// An RTCP datagram from the peer; false (and nothing kept) unless it
    /// parses. Only SR, RR and BYE carry what is kept; others are ignored.
    pub fn handle(&mut self, now: Instant, data: &[u8]) -> bool {
        // A compound starts with SR or RR; a lone SDES or BYE is taken too.
        // Anything else (RTP sent to the wrong port, other versions) is not RTCP.
        if data.len() < 8 || data[0] >> 6 != 2 || !(200..=203).contains(&data[1]) {
            return false;
        }
        let mut buf = data;
        let Ok(packets) = rtc_rtcp::packet::unmarshal(&mut buf) else {
            return false;
        };
        self.stats.received += 1;
        for p in &packets {
            let any = p.as_any();
            if let Some(sr) = any.downcast_ref::<SenderReport>() {
                self.last_sr = Some((middle(sr.ntp_time), now));
                self.reception(now, &sr.reports);
            } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                self.reception(now, &rr.reports);
            } else if any.downcast_ref::<Goodbye>().is_some() {
                self.stats.bye = true;
            }
        }
        true
    }

    /// The peer's report blocks: the one about hotline's stream counts.
    fn reception(&mut self, now: Instant, reports: &[ReceptionReport]) {
        let Some(r) = reports.iter().find(|r| r.ssrc == self.ssrc) else {
            return;
        };
        let lost = r.total_lost & 0x00FF_FFFF;
        let lost = if lost & 0x0080_0000 != 0 {
            lost as i64 - 0x0100_0000
        } else {
            lost as i64
        };
        self.stats.remote_fraction_lost = Some(r.fraction_lost as f64 / 256.0);
        self.stats.remote_lost = Some(lost);
        self.stats.remote_jitter_ms = Some(r.jitter as f64 * 1000.0 / self.clock_rate as f64);
        if r.last_sender_report != 0 && self.our_srs.contains(&r.last_sender_report) {
            let a = middle(self.wall.ntp(now));
            let rtt = a.wrapping_sub(r.last_sender_report).saturating_sub(r.delay);
            // More than a minute: the peer's DLSR or our clock is off; not a measurement.
            if rtt < 60 << 16 {
                self.stats.rtt_ms = Some(rtt as f64 * 1000.0 / 65536.0);
            }
        }
    }

    /// The next interval: [`REPORT_INTERVAL`] times 0.5-1.5, from a
    /// splitmix64 sequence of the seed.
    fn interval(&mut self) -> Duration {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        REPORT_INTERVAL.mul_f64(0.5 + unit)
    }

    fn compound(
        &mut self,
        now: Instant,
        sent: &Sent,
        source: Option<&RxSource>,
        bye: bool,
    ) -> Option<Vec<u8>> {
        let reports: Vec<ReceptionReport> = source
            .map(|s| self.report_block(now, s))
            .into_iter()
            .collect();
        let is_sender = sent.packets > self.sent_marks[0];
        self.sent_marks = [self.sent_marks[1], sent.packets];
        let first: Box<dyn Packet> = match sent.rtp_time {
            Some(rtp_time) if is_sender => {
                let ntp_time = self.wall.ntp(now);
                self.our_srs.rotate_right(1);
                self.our_srs[0] = middle(ntp_time);
                Box::new(SenderReport {
                    ssrc: self.ssrc,
                    ntp_time,
                    rtp_time,
                    packet_count: sent.packets as u32,
                    octet_count: sent.octets as u32,
                    reports,
                    profile_extensions: Bytes::new(),
                })
            }
            _ => Box::new(ReceiverReport {
                ssrc: self.ssrc,
                reports,
                profile_extensions: Bytes::new(),
            }),
        };
        let sdes = SourceDescription {
            chunks: vec![SourceDescriptionChunk {
                source: self.ssrc,
                items: vec![SourceDescriptionItem {
                    sdes_type: SdesType::SdesCname,
                    text: self.cname.clone(),
                }],
            }],
        };
        let mut packets: Vec<Box<dyn Packet>> = vec![first, Box::new(sdes)];
        if bye {
            packets.push(Box::new(Goodbye {
                sources: vec![self.ssrc],
                reason: Bytes::from_static(BYE_REASON),
            }));
        }
        let data = CompoundPacket(packets).marshal().ok()?;
        self.stats.sent += 1;
        Some(data.to_vec())
    }

    /// The report block about the received stream (RFC 3550 §6.4.1, A.3).
    fn report_block(&mut self, now: Instant, s: &RxSource) -> ReceptionReport {
        let (exp_prior, rec_prior) = match self.prior {
            Some((ssrc, e, r)) if ssrc == s.ssrc => (e, r),
            _ => (0, 0),
        };
        self.prior = Some((s.ssrc, s.expected, s.received));
        let expected_interval = s.expected.saturating_sub(exp_prior) as i64;
        let lost_interval = expected_interval - s.received.saturating_sub(rec_prior) as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval).min(255) as u8
        };
        let lost = (s.expected as i64 - s.received as i64).clamp(-0x80_0000, 0x7F_FFFF);
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => {
                let delay =
                    now.saturating_duration_since(at).as_micros() as u64 * 65536 / 1_000_000;
                (lsr, delay.min(u32::MAX as u64) as u32)
            }
            None => (0, 0),
        };
        ReceptionReport {
            ssrc: s.ssrc,
            fraction_lost,
            total_lost: (lost as u32) & 0x00FF_FFFF,
            last_sequence_number: s.ext_highest_seq,
            jitter: s.jitter,
            last_sender_report: lsr,
            delay: dlsr,
        }
    }
}

#[cfg(test)]
mod tests;
