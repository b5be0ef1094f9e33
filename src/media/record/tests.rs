//! The aligner in simulated time: senders of 20 ms packets, arrivals
//! delayed, dropped and reordered at will, and a driver that polls frames
//! at every step as the recorder task would.

use super::*;
use crate::testutil::Rng;
use std::ops::Range;

const MS: Duration = Duration::from_millis(1);

/// What the simulated driver sees, at a time after the recording began.
#[derive(Debug, Clone)]
enum Ev {
    Packet {
        side: Side,
        ssrc: u32,
        seq: u16,
        ts: u32,
        pcm: Vec<i16>,
    },
    Pause,
    Resume,
}

/// The `k`th sample of a stream: a ramp that is never zero, so silence
/// shows, and any shift by a sample changes the value.
fn ramp(k: u64) -> i16 {
    1 + (k % 1000) as i16
}

/// A sender of 20 ms packets: packet `n` holds the stream's samples
/// `160n..160n+160` and, on time, arrives at `first + 20 ms * n`.
#[derive(Clone, Copy)]
struct Sender {
    side: Side,
    ssrc: u32,
    seq0: u16,
    ts0: u32,
    first: Duration,
}

impl Sender {
    fn new(side: Side, ssrc: u32, seq0: u16, ts0: u32, first_ms: u64) -> Sender {
        Sender {
            side,
            ssrc,
            seq0,
            ts0,
            first: MS * first_ms as u32,
        }
    }

    fn on_time(&self, n: u64) -> Duration {
        self.first + MS * (20 * n) as u32
    }

    fn packet(&self, n: u64) -> (Duration, Ev) {
        let pcm = (0..160).map(|i| ramp(160 * n + i)).collect();
        let ev = Ev::Packet {
            side: self.side,
            ssrc: self.ssrc,
            seq: self.seq0.wrapping_add(n as u16),
            ts: self.ts0.wrapping_add(160 * n as u32),
            pcm,
        };
        (self.on_time(n), ev)
    }

    fn packets(&self, n: Range<u64>) -> Vec<(Duration, Ev)> {
        n.map(|n| self.packet(n)).collect()
    }
}

fn drain(a: &mut Aligner, now: Instant, out: &mut (Vec<i16>, Vec<i16>)) {
    while let Some(f) = a.poll_frame(now) {
        assert_eq!(
            f.index as usize * FRAME,
            out.0.len(),
            "frames come in order"
        );
        out.0.extend(f.caller());
        out.1.extend(f.agent());
    }
}

/// Feeds `events` in time order (stable for equal times), polling frames
/// before each, finishes at `end` and returns the caller and agent channels.
fn run(
    a: &mut Aligner,
    t0: Instant,
    mut events: Vec<(Duration, Ev)>,
    end: Duration,
) -> (Vec<i16>, Vec<i16>) {
    events.sort_by_key(|(at, _)| *at);
    let mut out = (Vec::new(), Vec::new());
    for (at, ev) in events {
        let now = t0 + at;
        drain(a, now, &mut out);
        match ev {
            Ev::Packet {
                side,
                ssrc,
                seq,
                ts,
                pcm,
            } => a.push(now, side, ssrc, seq, ts, &pcm),
            Ev::Pause => assert!(a.pause(now)),
            Ev::Resume => assert!(a.resume(now)),
        }
    }
    drain(a, t0 + end, &mut out);
    a.finish(t0 + end);
    drain(a, t0 + end, &mut out);
    assert_eq!(a.poll_timeout(), None);
    out
}

/// Samples `range` of `ch` are the ramp of a stream whose sample 0 sits at
/// position `origin`.
fn assert_ramp(ch: &[i16], range: Range<usize>, origin: usize) {
    for p in range {
        assert_eq!(ch[p], ramp((p - origin) as u64), "sample {p}");
    }
}

fn assert_silent(ch: &[i16], range: Range<usize>) {
    let (from, to) = (range.start, range.end);
    assert!(
        ch[range].iter().all(|&v| v == 0),
        "samples {from}..{to} silent"
    );
}

fn caller() -> Sender {
    Sender::new(Side::Caller, 0x1111, 65_500, u32::MAX - 1000, 20)
}

fn agent() -> Sender {
    Sender::new(Side::Agent, 0x2222, 7, 123_456, 20)
}

#[test]
fn perfectly_timed_packets_give_both_channels_the_same_continuous_audio() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    assert_eq!(a.poll_timeout(), Some(t0 + MS * 20 + PLAYOUT_DELAY));
    let mut events = caller().packets(0..100);
    events.extend(agent().packets(0..100));
    // Sequence numbers and timestamps of the caller wrap on the way.
    let (l, r) = run(&mut a, t0, events, MS * 2010);
    assert_eq!(l.len(), 16_160, "finish rounds 2010 ms up to a whole frame");
    assert_ramp(&l, 0..16_000, 0);
    assert_ramp(&r, 0..16_000, 0);
    assert_silent(&l, 16_000..16_160);
    let clean = SideStats {
        packets: 100,
        lost: 0,
        late: 0,
        silence_samples: 0,
        anchors: 1,
    };
    assert_eq!(a.stats(Side::Caller), clean);
    assert_eq!(a.stats(Side::Agent), clean);
    assert_eq!(a.frames(), 101);
}

#[test]
fn a_side_starting_a_second_late_begins_with_a_second_of_silence() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    let mut events = caller().packets(0..100);
    events.extend(
        Sender {
            first: MS * 1020,
            ..agent()
        }
        .packets(0..50),
    );
    let (l, r) = run(&mut a, t0, events, MS * 2000);
    assert_ramp(&l, 0..16_000, 0);
    assert_silent(&r, 0..8000);
    assert_ramp(&r, 8000..16_000, 8000);
    assert_eq!(
        a.stats(Side::Agent).silence_samples,
        0,
        "before its first audio a side is not missing anything"
    );
}

#[test]
fn each_dropped_packet_is_exactly_160_samples_of_silence() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    let mut events: Vec<_> = caller()
        .packets(0..100)
        .into_iter()
        .enumerate()
        .filter(|(n, _)| ![10, 11, 30].contains(n))
        .map(|(_, e)| e)
        .collect();
    events.extend(agent().packets(0..100));
    let (l, r) = run(&mut a, t0, events, MS * 2000);
    assert_ramp(&l, 0..1600, 0);
    assert_silent(&l, 1600..1920);
    assert_ramp(&l, 1920..4800, 0);
    assert_silent(&l, 4800..4960);
    assert_ramp(&l, 4960..16_000, 0);
    assert_ramp(&r, 0..16_000, 0);
    let s = a.stats(Side::Caller);
    assert_eq!(
        (s.packets, s.lost, s.late, s.silence_samples),
        (97, 3, 0, 480)
    );
}

#[test]
fn packets_reordered_within_the_playout_delay_are_put_back_in_order() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    let c = caller();
    let mut events = c.packets(0..100);
    events[20].0 += MS * 30; // after packet 21
    events[40].0 += MS * 70; // after 41, 42 and 43
    events.extend(agent().packets(0..100));
    let (l, r) = run(&mut a, t0, events, MS * 2000);
    assert_ramp(&l, 0..16_000, 0);
    assert_ramp(&r, 0..16_000, 0);
    let s = a.stats(Side::Caller);
    assert_eq!((s.lost, s.late, s.silence_samples), (0, 0, 0));
}

#[test]
fn a_packet_after_its_frame_was_written_is_counted_and_dropped() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    let mut events = caller().packets(0..100);
    events[20].0 += MS * 150;
    let (l, _) = run(&mut a, t0, events, MS * 2000);
    assert_ramp(&l, 0..3200, 0);
    assert_silent(&l, 3200..3360);
    assert_ramp(&l, 3360..16_000, 0);
    let s = a.stats(Side::Caller);
    assert_eq!(
        (s.packets, s.lost, s.late, s.silence_samples),
        (100, 0, 1, 160)
    );
}

#[test]
fn thirty_seconds_of_jitter_keep_both_channels_in_sync_to_the_sample() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    let mut rng = Rng::seeded(12345);
    // A click at the same stream sample on both sides, three times.
    let clicks = [5 * 8000 + 37, 15 * 8000 + 101, 29 * 8000 + 159];
    let mut events = Vec::new();
    for sender in [caller(), agent()] {
        for n in 0..1500 {
            let (at, mut ev) = sender.packet(n);
            if let Ev::Packet { pcm, .. } = &mut ev {
                for &k in &clicks {
                    if (160 * n..160 * (n + 1)).contains(&k) {
                        pcm[(k - 160 * n) as usize] = 30_000;
                    }
                }
            }
            // A quarter of the packets come by the fastest route, the rest up to 60 ms later.
            let jitter = if rng.below(4) == 0 {
                0
            } else {
                1 + rng.below(60)
            };
            events.push((at + MS * jitter as u32, ev));
        }
    }
    let (l, r) = run(&mut a, t0, events, MS * 30_000);
    let at = |ch: &[i16]| {
        ch.iter()
            .enumerate()
            .filter(|(_, v)| **v == 30_000)
            .map(|(p, _)| p as u64)
            .collect::<Vec<_>>()
    };
    assert_eq!(at(&l), clicks);
    assert_eq!(at(&r), clicks);
    // Once the fastest route has been seen, every sample is in place.
    for ch in [&l, &r] {
        for (p, &v) in ch.iter().enumerate().take(240_000).skip(8000) {
            let want = if clicks.contains(&(p as u64)) {
                30_000
            } else {
                ramp(p as u64)
            };
            assert_eq!(v, want, "sample {p}");
        }
    }
    for side in [Side::Caller, Side::Agent] {
        let s = a.stats(side);
        assert_eq!(
            (s.packets, s.lost, s.late, s.anchors),
            (1500, 0, 0, 1),
            "{side:?}"
        );
    }
}

#[test]
fn a_pause_is_silence_on_both_channels_for_exactly_its_span() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    let mut events = caller().packets(0..100);
    events.extend(agent().packets(0..100));
    events.push((MS * 1000, Ev::Pause));
    events.push((MS * 1500, Ev::Resume));
    let (l, r) = run(&mut a, t0, events, MS * 2000);
    for ch in [&l, &r] {
        assert_ramp(ch, 0..8000, 0);
        assert_silent(ch, 8000..12_000);
        assert_ramp(ch, 12_000..16_000, 0);
    }
    assert_eq!(
        a.stats(Side::Caller).silence_samples,
        0,
        "a pause is not missing audio"
    );
    assert!(!a.is_paused());
}

#[test]
fn pausing_twice_or_resuming_unpaused_changes_nothing() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    assert!(!a.resume(t0));
    assert!(a.pause(t0 + MS * 100));
    assert!(!a.pause(t0 + MS * 200));
    assert!(a.is_paused());
    assert!(a.resume(t0 + MS * 300));
    assert!(!a.resume(t0 + MS * 400));
}

#[test]
fn timestamps_frozen_over_hold_re_anchor_the_side_at_arrival() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    let c = caller();
    let mut events = c.packets(0..50);
    // Hold for 2 s: nothing sent; then sequence and timestamps carry on
    // where they stopped, 2 s behind the wall clock.
    for n in 50..100 {
        let (at, ev) = c.packet(n);
        events.push((at + MS * 2000, ev));
    }
    events.extend(agent().packets(0..200));
    let (l, r) = run(&mut a, t0, events, MS * 4000);
    assert_ramp(&l, 0..8000, 0);
    assert_silent(&l, 8000..24_000);
    assert_ramp(&l, 24_000..32_000, 16_000);
    assert_ramp(&r, 0..32_000, 0);
    let s = a.stats(Side::Caller);
    assert_eq!(
        (s.anchors, s.lost, s.late, s.silence_samples),
        (2, 0, 0, 16_000)
    );
    assert_eq!(a.stats(Side::Agent).anchors, 1);
}

#[test]
fn a_timestamp_jump_forward_without_a_gap_keeps_the_audio_continuous() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    let mut events = caller().packets(0..50);
    events.extend(
        Sender {
            ts0: caller().ts0.wrapping_add(1_000_000),
            ..caller()
        }
        .packets(50..100),
    );
    let (l, _) = run(&mut a, t0, events, MS * 2000);
    assert_ramp(&l, 0..16_000, 0);
    assert_eq!(a.stats(Side::Caller).anchors, 2);
}

#[test]
fn a_transfer_to_another_seat_is_a_new_stream_on_the_same_side() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    let mut events = caller().packets(0..100);
    let first_seat: Vec<_> = agent()
        .packets(0..50)
        .into_iter()
        .enumerate()
        .filter(|(n, _)| *n != 5)
        .map(|(_, e)| e)
        .collect();
    events.extend(first_seat);
    events.extend(Sender::new(Side::Agent, 0x9999, 40_000, 5, 1520).packets(0..25));
    let (l, r) = run(&mut a, t0, events, MS * 2000);
    assert_ramp(&l, 0..16_000, 0);
    assert_ramp(&r, 0..800, 0);
    assert_silent(&r, 800..960);
    assert_ramp(&r, 960..8000, 0);
    assert_silent(&r, 8000..12_000);
    assert_ramp(&r, 12_000..16_000, 12_000);
    let s = a.stats(Side::Agent);
    assert_eq!((s.packets, s.anchors, s.lost, s.late), (74, 2, 1, 0));
}

/// Packet `n` of a sender whose clock runs at `rate` of ours arrives at
/// `20 ms * (n + 1) / rate`.
fn drifting(rate_ppm: u64, packets: u64) -> Vec<(Duration, Ev)> {
    let c = caller();
    (0..packets)
        .map(|n| {
            let (_, ev) = c.packet(n);
            (
                Duration::from_nanos(20_000_000 * (n + 1) * 1_000_000 / rate_ppm),
                ev,
            )
        })
        .collect()
}

#[test]
fn a_sender_clock_running_slow_is_followed_without_losing_packets() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    // 0.2 % slow: 240 ms behind after two minutes.
    let (l, _) = run(&mut a, t0, drifting(998_000, 6000), MS * 121_000);
    let s = a.stats(Side::Caller);
    assert_eq!((s.late, s.anchors), (0, 1));
    // The drift comes out as short gaps adding up to about the drift, and
    // every sample of the stream is there once, in order.
    assert!((1500..=1920).contains(&s.silence_samples), "{s:?}");
    let heard: Vec<i16> = l.iter().copied().filter(|v| *v != 0).collect();
    assert!(heard.iter().copied().eq((0..6000 * 160).map(ramp)));
}

#[test]
fn a_sender_clock_running_fast_never_leaves_gaps() {
    let t0 = Instant::now();
    let mut a = Aligner::new(t0);
    let (_, _) = run(&mut a, t0, drifting(1_002_000, 6000), MS * 121_000);
    let s = a.stats(Side::Caller);
    assert_eq!((s.late, s.silence_samples, s.anchors), (0, 0, 1));
}
