//! Audio and RTP for the media tests: reading SIPp's pcap and WAV files,
//! finding one signal in another (normalised cross-correlation, SNR), and
//! test-owned RTP endpoints that send a programme of 20 ms G.711 frames in
//! real time and capture what hotline sends back, optionally through an
//! impairer (loss, reordering) on the way out.
//!
//! Nothing here uses hotline's own RTP code: packets are built and parsed
//! by hand, so a test checks hotline against an independent peer. Only the
//! G.711 tables (`hotline::media::codec::Codec`) are shared.

use hotline::media::codec::Codec;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Samples per second: G.711 and the recordings.
pub const RATE: usize = 8000;
/// Samples in a 20 ms packet.
pub const FRAME: usize = 160;

/// Samples in `ms` milliseconds.
pub const fn ms(ms: usize) -> usize {
    ms * RATE / 1000
}

/// Offsets from `from_ms` to `to_ms`, in samples (for [`find`]).
pub fn span(from_ms: i64, to_ms: i64) -> std::ops::Range<i64> {
    from_ms * RATE as i64 / 1000..to_ms * RATE as i64 / 1000
}

// ---- RTP packets ------------------------------------------------------------

/// An RTP packet, parsed (RFC 3550 section 5.1).
#[derive(Debug, Clone)]
pub struct Rtp {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

impl Rtp {
    pub fn parse(data: &[u8]) -> Option<Rtp> {
        if data.len() < 12 || data[0] >> 6 != 2 {
            return None;
        }
        let cc = usize::from(data[0] & 0x0f);
        let mut at = 12 + 4 * cc;
        if data[0] & 0x10 != 0 {
            let words = usize::from(u16::from_be_bytes(
                data.get(at + 2..at + 4)?.try_into().ok()?,
            ));
            at += 4 + 4 * words;
        }
        let mut end = data.len();
        if data[0] & 0x20 != 0 {
            end = end.checked_sub(usize::from(*data.last()?))?;
        }
        Some(Rtp {
            pt: data[1] & 0x7f,
            marker: data[1] & 0x80 != 0,
            seq: u16::from_be_bytes([data[2], data[3]]),
            ts: u32::from_be_bytes(data[4..8].try_into().ok()?),
            ssrc: u32::from_be_bytes(data[8..12].try_into().ok()?),
            payload: data.get(at..end)?.to_vec(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.payload.len());
        out.push(0x80);
        out.push(self.pt | if self.marker { 0x80 } else { 0 });
        out.extend(self.seq.to_be_bytes());
        out.extend(self.ts.to_be_bytes());
        out.extend(self.ssrc.to_be_bytes());
        out.extend(&self.payload);
        out
    }
}

/// The audio of a run of packets of one law, each placed by its RTP
/// timestamp (relative to the first packet's, unwrapped): what a receiver
/// with an ideal jitter buffer plays. Missing packets are silence.
pub fn place_by_timestamp<'a>(
    packets: impl IntoIterator<Item = &'a Rtp>,
    codec: Codec,
) -> Vec<i16> {
    let mut out: Vec<i16> = Vec::new();
    let mut first: Option<u32> = None;
    let mut pcm = Vec::new();
    for p in packets {
        let base = *first.get_or_insert(p.ts);
        let at = p.ts.wrapping_sub(base) as i32;
        if at < 0 {
            continue; // older than the first packet
        }
        let at = at as usize;
        pcm.clear();
        codec.decode(&p.payload, &mut pcm);
        if out.len() < at + pcm.len() {
            out.resize(at + pcm.len(), 0);
        }
        out[at..at + pcm.len()].copy_from_slice(&pcm);
    }
    out
}

// ---- files ------------------------------------------------------------------

/// The RTP packets of a pcap file (libpcap format, Ethernet, IPv4, UDP),
/// with their capture times in seconds.
pub fn read_pcap_rtp(path: &Path) -> Vec<(f64, Rtp)> {
    let d = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(d.len() >= 24, "{}: not a pcap file", path.display());
    let le = match d[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        _ => panic!("{}: not a (microsecond) pcap file", path.display()),
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = d[at..at + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    assert_eq!(
        u32_at(20),
        1,
        "{}: only Ethernet captures are read",
        path.display()
    );
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= d.len() {
        let (secs, micros, incl) = (u32_at(at), u32_at(at + 4), u32_at(at + 8) as usize);
        let frame = &d[at + 16..(at + 16 + incl).min(d.len())];
        at += 16 + incl;
        let mut eth = 12;
        // 802.1Q tags
        while frame.len() >= eth + 2 && frame[eth..eth + 2] == [0x81, 0x00] {
            eth += 4;
        }
        if frame.len() < eth + 2 || frame[eth..eth + 2] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[eth + 2..];
        if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let udp = &ip[usize::from(ip[0] & 0x0f) * 4..];
        if let Some(rtp) = udp.get(8..).and_then(Rtp::parse) {
            out.push((f64::from(secs) + f64::from(micros) / 1e6, rtp));
        }
    }
    out
}

/// An 8 kHz 16-bit mono WAV file's samples.
pub fn read_mono_wav(path: &Path) -> Vec<i16> {
    let r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let s = r.spec();
    assert_eq!(
        (s.channels, s.sample_rate, s.bits_per_sample),
        (1, 8000, 16),
        "{}: 8 kHz 16-bit mono",
        path.display()
    );
    r.into_samples::<i16>().map(Result::unwrap).collect()
}

/// A recording's two channels (caller left, agent right); checks the
/// format hotline promises: 8 kHz, 16-bit, stereo.
pub fn read_stereo_wav(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let s = r.spec();
    assert_eq!(
        (s.channels, s.sample_rate, s.bits_per_sample),
        (2, 8000, 16),
        "{}: 8 kHz 16-bit stereo",
        path.display()
    );
    let samples: Vec<i16> = r.into_samples::<i16>().map(Result::unwrap).collect();
    samples.chunks_exact(2).map(|c| (c[0], c[1])).unzip()
}

pub fn write_mono_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
}

/// A prompt shipped in config/prompts (e.g. `en/welcome`).
pub fn prompt(name: &str) -> Vec<i16> {
    read_mono_wav(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config/prompts")
            .join(format!("{name}.wav")),
    )
}

// ---- signals ----------------------------------------------------------------

/// Where a needle was found in a haystack.
#[derive(Debug, Clone, Copy)]
pub struct Match {
    /// `needle[i]` lines up with `hay[offset + i]`.
    pub offset: i64,
    /// Normalised cross-correlation there, -1..1 (1: the same waveform,
    /// at any gain); the haystack is taken as silence outside its ends.
    pub ncc: f64,
}

impl Match {
    pub fn ms(&self) -> f64 {
        self.offset as f64 * 1000.0 / RATE as f64
    }
}

/// Finds `needle` in `hay` at an offset within `range` (in samples): the
/// offset of highest normalised cross-correlation. A search on the signals
/// averaged over 4 samples finds the neighbourhood, a search at full rate
/// around it the exact offset (fast enough without optimisation).
pub fn find(hay: &[i16], needle: &[i16], range: std::ops::Range<i64>) -> Match {
    const D: usize = 4;
    let dec = |s: &[i16]| -> Vec<f64> {
        s.chunks(D)
            .map(|c| c.iter().map(|v| f64::from(*v)).sum::<f64>() / D as f64)
            .collect()
    };
    let (h4, n4) = (dec(hay), dec(needle));
    let lo = range.start.div_euclid(D as i64);
    let hi = range.end.div_euclid(D as i64).max(lo + 1);
    let coarse = best(&h4, &n4, lo..hi);
    let c = coarse.offset * D as i64;
    best(
        &to_f64(hay),
        &to_f64(needle),
        (c - 2 * D as i64).max(range.start)
            ..(c + 2 * D as i64 + 1).min(range.end.max(range.start + 1)),
    )
}

fn to_f64(s: &[i16]) -> Vec<f64> {
    s.iter().map(|v| f64::from(*v)).collect()
}

fn best(hay: &[f64], needle: &[f64], range: std::ops::Range<i64>) -> Match {
    // Window energies of the haystack from prefix sums of squares.
    let mut sq = vec![0.0; hay.len() + 1];
    for (i, v) in hay.iter().enumerate() {
        sq[i + 1] = sq[i] + v * v;
    }
    let energy = |from: i64, to: i64| {
        let (f, t) = (
            from.clamp(0, hay.len() as i64) as usize,
            to.clamp(0, hay.len() as i64) as usize,
        );
        sq[t] - sq[f]
    };
    let n_energy: f64 = needle.iter().map(|v| v * v).sum();
    let mut found = Match {
        offset: range.start,
        ncc: f64::NEG_INFINITY,
    };
    for off in range {
        let from = (-off).max(0) as usize;
        let to = (hay.len() as i64 - off).clamp(0, needle.len() as i64) as usize;
        let mut dot = 0.0;
        if from < to {
            let h = &hay[(off + from as i64) as usize..(off + to as i64) as usize];
            dot = needle[from..to].iter().zip(h).map(|(a, b)| a * b).sum();
        }
        let e = energy(off, off + needle.len() as i64);
        let ncc = if e > 0.0 && n_energy > 0.0 {
            dot / (e * n_energy).sqrt()
        } else {
            0.0
        };
        if ncc > found.ncc {
            found = Match { offset: off, ncc };
        }
    }
    found
}

/// Signal-to-noise ratio in dB of `got` against `want`, with `want[i]`
/// lined up with `got[offset + i]` (no gain: G.711 keeps the level).
pub fn snr_db(got: &[i16], want: &[i16], offset: i64) -> f64 {
    let (mut signal, mut noise) = (0.0, 0.0);
    for (i, w) in want.iter().enumerate() {
        let g = usize::try_from(offset + i as i64)
            .ok()
            .and_then(|j| got.get(j))
            .copied()
            .unwrap_or(0);
        let (w, g) = (f64::from(*w), f64::from(g));
        signal += w * w;
        noise += (g - w) * (g - w);
    }
    10.0 * (signal / noise.max(1.0)).log10()
}

/// Root mean square of a stretch of samples.
pub fn rms(s: &[i16]) -> f64 {
    (s.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

/// Deterministic white noise (a burst that correlates only with itself).
pub fn noise(seed: u64, n: usize, amplitude: i16) -> Vec<i16> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        })
        .map(|v| (v * f32::from(amplitude)) as i16)
        .collect()
}

// ---- endpoints --------------------------------------------------------------

/// A packet an endpoint received, and when.
#[derive(Debug, Clone)]
pub struct Captured {
    pub at: Instant,
    pub from: SocketAddr,
    pub rtp: Rtp,
}

/// A UDP impairer on an endpoint's way out: drops and reorders its
/// datagrams as a bad network would, deterministically (a seeded
/// generator): each packet is dropped with `drop_pct` percent chance, or
/// held back and sent after the next one (the pair swapped, the first
/// 20 ms late) with `swap_pct`. The packets themselves are untouched.
#[derive(Debug)]
pub struct Impairer {
    state: u64,
    drop_pct: u64,
    swap_pct: u64,
    held: Option<(u16, Vec<u8>)>,
    /// Sequence numbers dropped, and of the packets that went out late.
    pub dropped: Vec<u16>,
    pub swapped: Vec<u16>,
}

impl Impairer {
    pub fn new(seed: u64, drop_pct: u64, swap_pct: u64) -> Impairer {
        Impairer {
            state: seed | 1,
            drop_pct,
            swap_pct,
            held: None,
            dropped: Vec::new(),
            swapped: Vec::new(),
        }
    }

    fn roll(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state % 100
    }

    /// What goes on the wire, in order, for packet `seq`.
    fn pass(&mut self, seq: u16, data: Vec<u8>) -> Vec<Vec<u8>> {
        if let Some((held_seq, held)) = self.held.take() {
            self.swapped.push(held_seq);
            return vec![data, held];
        }
        let r = self.roll();
        if r < self.drop_pct {
            self.dropped.push(seq);
            vec![]
        } else if r < self.drop_pct + self.swap_pct {
            self.held = Some((seq, data));
            vec![]
        } else {
            vec![data]
        }
    }
}

/// A test-owned RTP endpoint on a UDP socket: it sends G.711 frames of
/// one law to hotline and captures everything that arrives. It learns
/// where to send from the first packet it receives (symmetric RTP; the
/// tests do not read hotline's SDP).
pub struct Endpoint {
    sock: UdpSocket,
    pub codec: Codec,
    pub pt: u8,
    ssrc: u32,
    seq: u16,
    ts: u32,
    remote: Arc<Mutex<Option<SocketAddr>>>,
    captured: Arc<Mutex<Vec<Captured>>>,
    stop: Arc<AtomicBool>,
    receiver: Option<std::thread::JoinHandle<()>>,
    pub impairer: Option<Impairer>,
    /// Packets this endpoint sent (before impairment).
    pub sent: usize,
}

impl Endpoint {
    /// Binds a fresh port on `ip` and starts capturing.
    pub fn bind(ip: &str, codec: Codec, ssrc: u32) -> Endpoint {
        let sock = UdpSocket::bind((ip, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let remote = Arc::new(Mutex::new(None));
        let captured = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let receiver = {
            let (sock, remote, captured, stop) = (
                sock.try_clone().unwrap(),
                remote.clone(),
                captured.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    let at = Instant::now();
                    // RTCP (PT 200-204 with the marker bit) meant for a socket at port - 1 is not audio.
                    if n > 1 && (200..=204).contains(&buf[1]) {
                        continue;
                    }
                    let Some(rtp) = Rtp::parse(&buf[..n]) else {
                        continue;
                    };
                    remote.lock().unwrap().get_or_insert(from);
                    captured.lock().unwrap().push(Captured { at, from, rtp });
                }
            })
        };
        Endpoint {
            sock,
            codec,
            pt: codec.payload_type(),
            ssrc,
            seq: (ssrc >> 8) as u16,
            ts: ssrc.rotate_left(11),
            remote,
            captured,
            stop,
            receiver: Some(receiver),
            impairer: None,
            sent: 0,
        }
    }

    pub fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    /// Where hotline's packets come from, once one has arrived.
    pub fn remote(&self) -> Option<SocketAddr> {
        *self.remote.lock().unwrap()
    }

    /// Everything received so far.
    pub fn captured(&self) -> Vec<Captured> {
        self.captured.lock().unwrap().clone()
    }

    /// Sends one 20 ms frame (if the remote is known; otherwise the frame
    /// is skipped, its timestamp still counted); true if sent.
    pub fn send_frame(&mut self, frame: &[i16]) -> bool {
        let Some(to) = self.remote() else {
            self.ts = self.ts.wrapping_add(frame.len() as u32);
            return false;
        };
        let mut payload = Vec::with_capacity(frame.len());
        self.codec.encode(frame, &mut payload);
        let seq = self.seq;
        let pkt = Rtp {
            pt: self.pt,
            marker: self.sent == 0,
            seq,
            ts: self.ts,
            ssrc: self.ssrc,
            payload,
        }
        .to_bytes();
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(frame.len() as u32);
        self.sent += 1;
        let wire = match &mut self.impairer {
            Some(imp) => imp.pass(seq, pkt),
            None => vec![pkt],
        };
        for data in wire {
            let _ = self.sock.send_to(&data, to);
        }
        true
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.receiver.take() {
            let _ = t.join();
        }
    }
}

/// A 20 ms clock for senders: tick `k` is due at `start + k * 20 ms`;
/// [`Ticker::wait`] sleeps until the next tick (never drifting: late ticks
/// are not made up by sleeping less than zero, but the schedule holds).
pub struct Ticker {
    pub start: Instant,
    pub tick: u64,
}

impl Ticker {
    pub fn new() -> Ticker {
        Ticker {
            start: Instant::now(),
            tick: 0,
        }
    }

    /// Waits for the next tick and returns its number.
    pub fn wait(&mut self) -> u64 {
        let due = self.start + Duration::from_millis(20 * self.tick);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        self.tick += 1;
        self.tick - 1
    }
}

impl Default for Ticker {
    fn default() -> Self {
        Ticker::new()
    }
}

/// 20 ms of `signal` starting at `frame * 160`, silence past its end.
pub fn frame_of(signal: &[i16], frame: usize) -> [i16; FRAME] {
    let mut out = [0i16; FRAME];
    let from = (frame * FRAME).min(signal.len());
    let to = (from + FRAME).min(signal.len());
    out[..to - from].copy_from_slice(&signal[from..to]);
    out
}

/// How well a signal fits in a recorded channel, 100 ms piece by piece:
/// the recorder places audio by arrival time, so a stream whose first
/// packets came late slips by a few samples when a faster packet re-anchors
/// it, which a single correlation over seconds of speech punishes (one
/// millisecond decorrelates speech) though every piece is there.
#[derive(Debug, Clone)]
pub struct Fit {
    /// The best single offset for the whole signal, and its correlation.
    pub whole: Match,
    /// Pieces with sound in them, and how many of those correlate above
    /// 0.9 within 20 ms of `whole`.
    pub pieces: usize,
    pub matched: usize,
    /// The extreme offsets of the matched pieces, relative to `whole`.
    pub slip: (i64, i64),
}

impl Fit {
    /// Share of the signal's pieces found in place.
    pub fn share(&self) -> f64 {
        self.matched as f64 / self.pieces.max(1) as f64
    }
}

/// Finds `needle` in `hay` within `range` (see [`find`]), then each of its
/// 100 ms pieces near there.
pub fn fit(hay: &[i16], needle: &[i16], range: std::ops::Range<i64>) -> Fit {
    let whole = find(hay, needle, range);
    let pieces = piecewise(hay, needle, whole.offset, ms(100), FRAME as i64);
    let matched: Vec<i64> = pieces
        .iter()
        .filter(|p| p.2 > 0.9)
        .map(|p| p.1 - whole.offset)
        .collect();
    let slip = (
        matched.iter().copied().min().unwrap_or(0),
        matched.iter().copied().max().unwrap_or(0),
    );
    Fit {
        whole,
        pieces: pieces.len(),
        matched: matched.len(),
        slip,
    }
}

/// Where each `window`-sample piece of `needle` lies in `hay`, searched
/// within `slack` samples of `around`: (piece start in the needle, offset,
/// ncc), for pieces with sound in them.
pub fn piecewise(
    hay: &[i16],
    needle: &[i16],
    around: i64,
    window: usize,
    slack: i64,
) -> Vec<(usize, i64, f64)> {
    let hay = to_f64(hay);
    let mut out = Vec::new();
    for start in (0..needle.len()).step_by(window) {
        let piece = &needle[start..(start + window).min(needle.len())];
        if rms(piece) < 300.0 {
            continue;
        }
        let c = around + start as i64;
        let m = best(&hay, &to_f64(piece), c - slack..c + slack + 1);
        out.push((start, m.offset - start as i64, m.ncc));
    }
    out
}
