//! The RTP streams: the marked packets, the sending thread (every stream
//! of both sockets, each paced at 20 ms on its own phase) and the two
//! receiving threads (one per socket), with the latency histogram.
//!
//! ```text
//!   caller socket  <-- music from hotline port P (new P: start a caller stream to P)
//!                  --> caller stream (kind CALLER) ---> hotline P ... relayed ---> seat socket
//!   seat socket    <-- relayed CALLER packet from hotline port Q (new Q: start a seat stream to Q)
//!                  --> seat stream (kind SEAT) -------> hotline Q ... relayed ---> caller socket
//!   caller socket  --> baseline streams (kind BASELINE) -------------------------> seat socket
//! ```
//!
//! Every packet is RTP (PT 8, PCMA, 20 ms, 160 payload bytes). hotline
//! relays PCMA to PCMA without touching the payload, so the payload's
//! first bytes carry a mark, the stream's kind and index, a sequence
//! number and the send time (nanoseconds since the generator's epoch).
//! A receiver reads them back: loss per stream and one-way latency.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Payload bytes of a 20 ms PCMA packet.
const PAYLOAD: usize = 160;
const HEADER: usize = 12;
const MARK: &[u8; 4] = b"HLRT";
/// PCMA's silence byte (the rest of each payload).
const SILENCE: u8 = 0xD5;
/// Stream kinds (the top bits of the stream id in a payload).
pub const CALLER: usize = 0;
pub const SEAT: usize = 1;
pub const BASELINE: usize = 2;
pub const KINDS: usize = 3;
/// Most streams of one kind.
pub const MAX_STREAMS: usize = 1 << 16;
const PERIOD_MS: u64 = 20;

/// What the threads share: the clock's epoch, the measuring window (in
/// ns since the epoch; `u64::MAX` until set) and progress counters.
pub struct Shared {
    pub epoch: Instant,
    pub window_start: AtomicU64,
    pub window_end: AtomicU64,
    pub stop: AtomicBool,
    /// Streams started, per kind.
    pub started: [AtomicUsize; KINDS],
    /// Streams whose packets came back (through hotline), per kind.
    pub heard: [AtomicUsize; KINDS],
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            epoch: Instant::now(),
            window_start: AtomicU64::new(u64::MAX),
            window_end: AtomicU64::new(u64::MAX),
            stop: AtomicBool::new(false),
            started: Default::default(),
            heard: Default::default(),
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn in_window(&self, t: u64) -> bool {
        t >= self.window_start.load(Ordering::Relaxed)
            && t < self.window_end.load(Ordering::Relaxed)
    }
}

/// A stream for the sender to start.
pub struct NewStream {
    pub kind: usize,
    pub index: u32,
    pub to: SocketAddr,
}

/// Which socket a kind is sent from: caller and baseline streams from
/// the caller socket, seat streams from the seat socket.
fn sends_from(kind: usize) -> usize {
    if kind == SEAT { 1 } else { 0 }
}

struct Stream {
    kind: usize,
    index: u32,
    to: SocketAddr,
    seq: u32,
    ssrc: u32,
}

/// Sends every stream at 50 packets/s until `stop`: streams sit in a
/// 20-slot wheel by the millisecond they started, and each millisecond's
/// slot is sent when that millisecond comes (slots missed while the
/// thread was late are sent at once: the rate holds). Returns the packets
/// sent within the window, per kind and stream.
pub fn send_loop(
    shared: Arc<Shared>,
    socks: [Arc<UdpSocket>; 2],
    new: mpsc::Receiver<NewStream>,
) -> Vec<Vec<u32>> {
    let mut wheel: Vec<Vec<Stream>> = (0..PERIOD_MS).map(|_| Vec::new()).collect();
    let mut sent: Vec<Vec<u32>> = vec![vec![0; MAX_STREAMS]; KINDS];
    let mut pkt = [SILENCE; HEADER + PAYLOAD];
    pkt[0] = 0x80;
    pkt[1] = 8;
    pkt[HEADER..HEADER + 4].copy_from_slice(MARK);
    let mut done_ms = shared.epoch.elapsed().as_millis() as u64;
    while !shared.stop.load(Ordering::Relaxed) {
        let now_ms = shared.epoch.elapsed().as_millis() as u64;
        while let Ok(s) = new.try_recv() {
            let ssrc = 0x4C00_0000 | (s.kind as u32) << 20 | s.index;
            wheel[(now_ms % PERIOD_MS) as usize].push(Stream {
                kind: s.kind,
                index: s.index,
                to: s.to,
                seq: 0,
                ssrc,
            });
        }
        // At most one period behind: a slot is sent once per round.
        for ms in (done_ms + 1).max(now_ms.saturating_sub(PERIOD_MS - 1))..=now_ms {
            for s in wheel[(ms % PERIOD_MS) as usize].iter_mut() {
                let t = shared.now_ns();
                pkt[2..4].copy_from_slice(&(s.seq as u16).to_be_bytes());
                pkt[4..8].copy_from_slice(&s.seq.wrapping_mul(PAYLOAD as u32).to_be_bytes());
                pkt[8..12].copy_from_slice(&s.ssrc.to_be_bytes());
                let p = &mut pkt[HEADER..];
                p[4..8].copy_from_slice(&((s.kind as u32) << 28 | s.index).to_be_bytes());
                p[8..12].copy_from_slice(&s.seq.to_be_bytes());
                p[12..20].copy_from_slice(&t.to_be_bytes());
                if socks[sends_from(s.kind)].send_to(&pkt, s.to).is_ok() && shared.in_window(t) {
                    sent[s.kind][s.index as usize] += 1;
                }
                s.seq = s.seq.wrapping_add(1);
            }
        }
        done_ms = now_ms;
        let next = shared.epoch + Duration::from_millis(now_ms + 1);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    sent
}

/// Latency counts in 10 µs buckets up to 100 ms, and what lay beyond.
pub struct Histogram {
    buckets: Vec<u64>,
    over: u64,
    max_ns: u64,
}

const BUCKET_NS: u64 = 10_000;
const BUCKETS: usize = 10_000;

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            buckets: vec![0; BUCKETS],
            over: 0,
            max_ns: 0,
        }
    }

    pub fn add(&mut self, ns: u64) {
        match self.buckets.get_mut((ns / BUCKET_NS) as usize) {
            Some(b) => *b += 1,
            None => self.over += 1,
        }
        self.max_ns = self.max_ns.max(ns);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().sum::<u64>() + self.over
    }

    /// The `q` quantile in microseconds (the upper edge of its bucket);
    /// `None` when empty.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((n as f64 * q).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b;
            if seen >= rank {
                return Some(((i as u64 + 1) * BUCKET_NS) as f64 / 1000.0);
            }
        }
        Some(self.max_ns as f64 / 1000.0)
    }

    pub fn max_us(&self) -> f64 {
        self.max_ns as f64 / 1000.0
    }
}

/// What a receiving thread counted.
pub struct Received {
    /// Packets received that were sent within the window, per kind and stream.
    pub counts: Vec<Vec<u32>>,
    /// One-way latency of those packets, per kind.
    pub latency: Vec<Histogram>,
    /// Packets that came after a later one of their stream (window only).
    pub reordered: u64,
    /// Datagrams that were not the generator's marked RTP (music).
    pub unmarked: u64,
}

/// Receives on one socket until `stop`. On the caller socket (`side` 0)
/// a packet from a hotline port not seen before starts a caller stream
/// to it; on the seat socket, a caller stream's packet relayed from a new
/// hotline port starts a seat stream to that port.
///
/// With a `poll` interval the socket is drained, then the thread sleeps
/// that long: no sender (hotline) has to wake it for every packet, as no
/// peer across a network would, at the price of up to `poll` (plus the
/// sleep's slack) added to every latency, the baseline's included.
/// Without, it blocks in `recv_from` and is woken by each packet.
pub fn recv_loop(
    shared: Arc<Shared>,
    sock: Arc<UdpSocket>,
    side: usize,
    other: SocketAddr,
    start: mpsc::Sender<NewStream>,
    poll: Option<Duration>,
) -> Received {
    let mut by_port = vec![u32::MAX; 65_536];
    let mut next_index = 0u32;
    let mut last_seq: Vec<Vec<u32>> = vec![vec![u32::MAX; MAX_STREAMS]; KINDS];
    let mut r = Received {
        counts: vec![vec![0; MAX_STREAMS]; KINDS],
        latency: (0..KINDS).map(|_| Histogram::new()).collect(),
        reordered: 0,
        unmarked: 0,
    };
    let mut buf = [0u8; 2048];
    match poll {
        Some(_) => sock.set_nonblocking(true).expect("non-blocking socket"),
        None => sock
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("socket timeout"),
    }
    while !shared.stop.load(Ordering::Relaxed) {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(got) => got,
            Err(_) => {
                if let Some(p) = poll {
                    std::thread::sleep(p);
                }
                continue;
            }
        };
        let now = shared.now_ns();
        let data = &buf[..n];
        if n < 12 || data[0] >> 6 != 2 {
            continue;
        }
        let marked = n >= HEADER + 20 && &data[HEADER..HEADER + 4] == MARK;
        // A hotline port we do not send to yet: start a stream to it.
        let new_port = from != other && by_port[from.port() as usize] == u32::MAX;
        if new_port && (side == 0 || marked) && (next_index as usize) < MAX_STREAMS {
            by_port[from.port() as usize] = next_index;
            let kind = if side == 0 { CALLER } else { SEAT };
            shared.started[kind].fetch_add(1, Ordering::Relaxed);
            let _ = start.send(NewStream {
                kind,
                index: next_index,
                to: from,
            });
            next_index += 1;
        }
        if !marked {
            r.unmarked += 1;
            continue;
        }
        let p = &data[HEADER..];
        let id = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        let (kind, index) = ((id >> 28) as usize, (id & 0x0FFF_FFFF) as usize);
        if kind >= KINDS || index >= MAX_STREAMS {
            continue;
        }
        let seq = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
        let sent_at = u64::from_be_bytes([p[12], p[13], p[14], p[15], p[16], p[17], p[18], p[19]]);
        let last = &mut last_seq[kind][index];
        if *last == u32::MAX {
            shared.heard[kind].fetch_add(1, Ordering::Relaxed);
        }
        let in_order = *last == u32::MAX || seq.wrapping_sub(*last) as i32 > 0;
        if in_order {
            *last = seq;
        }
        if shared.in_window(sent_at) {
            r.counts[kind][index] += 1;
            r.latency[kind].add(now.saturating_sub(sent_at));
            r.reordered += u64::from(!in_order);
        }
    }
    r
}
