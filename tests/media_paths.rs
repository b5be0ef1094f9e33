//! Media paths through hotline against real peers, checked by what the
//! audio is, not only that there is some:
//!
//! 1. SIPp plays sip-tester's g711a.pcap as the caller, a baresip seat
//!    plays its own speech: the recording has each voice in its channel,
//!    and lasts the talk time (answered -> ended) within 60 ms.
//! 2. A μ-law caller and an A-law seat (test-owned RTP on both legs, SIPp
//!    for the signalling): each hears the other's speech, transcoded.
//! 3. 5% loss and reordering on the caller's leg: noise bursts sent on both
//!    legs at the same instants stay lined up in the recording.
//! 4. A caller waiting for an agent hears the line's welcome prompt.
//!
//! Signals are compared by normalised cross-correlation, and by SNR where
//! the path is exact up to G.711 quantisation (tests/common/rtp.rs).

mod common;

use common::baresip::Baresip;
use common::rtp::*;
use common::*;
use hotline::media::codec::Codec;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const G711A_PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

/// These tests send and judge audio in real time: run one at a time, so
/// that on a small machine they do not starve each other's 20 ms clocks.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static REALTIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    REALTIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The last call's record once it is closed and its recording (if any)
/// is on it; the recording file's path.
fn finished_call(h: &Hotline, want_recording: bool) -> (Value, Option<PathBuf>) {
    h.wait_for("the call record", Duration::from_secs(15), |h| {
        h.calls(1).first().is_some_and(|c| {
            !c["outcome"].is_null() && (!want_recording || !c["recording"].is_null())
        })
    });
    let call = h.calls(1).remove(0);
    let wav = want_recording.then(|| {
        h.dir
            .path()
            .join("recordings")
            .join(call["recording"]["path"].as_str().unwrap())
    });
    (call, wav)
}

/// Talk time from the record: answered to ended, in ms.
fn talk_ms(call: &Value) -> i64 {
    call["ended_at_ms"].as_i64().unwrap() - call["answered_at_ms"].as_i64().unwrap()
}

/// The recording's length (`samples` per channel) must be the talk time,
/// within 60 ms, and the record must say how long it is.
fn assert_length_is_talk_time(call: &Value, samples: usize) {
    let wav_ms = (samples * 1000 / RATE) as i64;
    let talk = talk_ms(call);
    eprintln!("recording {wav_ms} ms, talk time {talk} ms");
    assert!(
        (wav_ms - talk).abs() <= 60,
        "recording {wav_ms} ms, talk time {talk} ms (answered -> ended): {call}"
    );
    assert_eq!(
        call["recording"]["duration_ms"].as_i64(),
        Some(wav_ms),
        "the record's duration is the file's: {call}"
    );
}

/// A signal is in a recorded channel: at least 90% of its 100 ms pieces
/// with sound correlate above 0.9 there, within 40 ms of one another.
fn assert_in_place(f: &Fit, what: &str) {
    assert!(f.pieces >= 10, "{what}: too little sound to judge: {f:?}");
    assert!(
        f.share() >= 0.9,
        "{what}: only {} of {} pieces found: {f:?}",
        f.matched,
        f.pieces
    );
    assert!(
        f.slip.1 - f.slip.0 <= 2 * FRAME as i64,
        "{what}: pieces slipped apart: {f:?}"
    );
}

/// Registers seat `ext` from a SIPp on `ip` and starts it answering one
/// call after `ring_ms` with law `codec` only, its RTP being the test's
/// socket `ip:rtp_port` (seat_answer_rtp.xml).
fn sipp_seat(h: &Hotline, ext: &str, ip: &str, codec: Codec, rtp_port: u16, ring_ms: u32) -> Seat {
    let keys = format!(
        "-key rtp_port {rtp_port} -key pt {} -key codec {}",
        codec.payload_type(),
        codec.name()
    );
    Seat::start(
        h,
        ext,
        ip,
        "seat_answer_rtp.xml",
        1,
        &format!("-d {ring_ms} {keys}"),
    )
}

/// A trunk call to 12345 offering law `codec` only, its RTP being the
/// test's socket on 127.0.0.2 (where the harness's trunk SIPp runs) port
/// `rtp_port`; `talk_ms` is the scenario's pause (-d).
fn rtp_trunk(h: &Hotline, scenario: &str, codec: Codec, rtp_port: u16, talk_ms: u32) -> Sipp {
    let keys = format!(
        "-key rtp_port {rtp_port} -key pt {} -key codec {}",
        codec.payload_type(),
        codec.name()
    );
    trunk(h, scenario, "12345", 1, &format!("-d {talk_ms} {keys}"))
}

const TRUNK_IP: &str = "127.0.0.2";

/// Both test-owned phones talk from one 20 ms clock: silence until each
/// knows where hotline's leg is (the caller from the prompts, the seat
/// from the first relayed packet: the call is bridged), then each sends
/// its own programme, frame `k` of both at the same instant, then
/// `tail_ms` of silence. Returns when the programme started.
fn converse(
    caller: &mut Endpoint,
    seat: &mut Endpoint,
    caller_says: &[i16],
    seat_says: &[i16],
    tail_ms: usize,
) -> Instant {
    const SILENCE: [i16; FRAME] = [0; FRAME];
    let mut clock = Ticker::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while caller.remote().is_none() || seat.remote().is_none() {
        assert!(
            Instant::now() < deadline,
            "the call was not bridged (caller heard hotline: {}, seat: {})",
            caller.remote().is_some(),
            seat.remote().is_some()
        );
        clock.wait();
        caller.send_frame(&SILENCE);
        seat.send_frame(&SILENCE);
    }
    let started = clock.start + Duration::from_millis(20 * clock.tick);
    let frames = caller_says.len().max(seat_says.len()).div_ceil(FRAME) + tail_ms / 20;
    for k in 0..frames {
        clock.wait();
        caller.send_frame(&frame_of(caller_says, k));
        seat.send_frame(&frame_of(seat_says, k));
    }
    started
}

/// The packets captured since `since`, all of payload type `pt`.
fn received_since(ep: &Endpoint, since: Instant, pt: u8) -> Vec<Rtp> {
    let got: Vec<Rtp> = ep
        .captured()
        .into_iter()
        .filter(|c| c.at >= since)
        .map(|c| c.rtp)
        .collect();
    assert!(!got.is_empty(), "nothing received");
    let other: Vec<u8> = got.iter().map(|p| p.pt).filter(|p| *p != pt).collect();
    assert!(
        other.is_empty(),
        "only payload type {pt} expected, got {other:?}"
    );
    got
}

// ---- 1. SIPp caller with real speech, baresip seat ---------------------------

#[test]
fn the_recording_holds_the_callers_speech_left_and_the_seats_right_for_the_talk_time() {
    let _serial = one_at_a_time();
    // The caller's voice: what SIPp plays, decoded from the pcap itself.
    let caller_says = place_by_timestamp(
        read_pcap_rtp(Path::new(G711A_PCAP)).iter().map(|(_, p)| p),
        Codec::Pcma,
    );
    assert!(
        caller_says.len() > ms(7000),
        "g711a.pcap is about 7 s of speech"
    );
    // The agent's voice: two English prompts back to back, longer than the call.
    let seat_says: Vec<i16> = [prompt("en/welcome"), prompt("en/survey")].concat();
    // baresip 1.0 (libre) gives up on a 401 with a challenge in an
    // algorithm it does not know (ENOSYS) instead of answering the MD5 one
    // beside it: the demo challenges in MD5 only, as for such desk phones.
    let h = Hotline::start(|c| {
        assert!(
            c.contains(r#"auth_algorithms = ["MD5"]"#),
            "the demo config challenges in MD5 only"
        );
        c
    });
    let mic = h.dir.path().join("agent-mic.wav");
    write_mono_wav(&mic, &seat_says);
    let seat = Baresip::start(&h, "8004", "127.0.0.14", &mic);
    // SIPp hangs up 8 s after the answer: the whole pcap is played.
    trunk(&h, "trunk_call_audio.xml", "12345", 1, "-d 8000").run_ok();
    let (call, wav) = finished_call(&h, true);
    drop(seat);
    assert_eq!(call["outcome"], "answered", "{call}");
    assert_eq!(call["seat"], "8004", "{call}");
    let (left, right) = read_stereo_wav(&wav.unwrap());

    let six_s = &seat_says[..ms(6000)];
    let caller_left = fit(&left, &caller_says, span(-1000, 3000));
    let seat_right = fit(&right, six_s, span(-1000, 3000));
    eprintln!("caller in the left channel: {caller_left:?}\nagent in the right: {seat_right:?}");
    assert_in_place(
        &caller_left,
        "the caller's speech (g711a.pcap) is the left channel",
    );
    assert_in_place(
        &seat_right,
        "the agent's speech (baresip's microphone) is the right channel",
    );
    // The other way round, the voices do not match: the channels are not
    // swapped or mixed.
    let caller_right = fit(&right, &caller_says, span(-1000, 3000));
    let seat_left = fit(&left, six_s, span(-1000, 3000));
    eprintln!("caller in the right channel: {caller_right:?}\nagent in the left: {seat_left:?}");
    assert!(
        caller_right.share() < 0.2 && caller_right.whole.ncc < 0.3,
        "the caller is not in the right channel: {caller_right:?}"
    );
    assert!(
        seat_left.share() < 0.2 && seat_left.whole.ncc < 0.3,
        "the agent is not in the left channel: {seat_left:?}"
    );
    assert_length_is_talk_time(&call, left.len());
}

// ---- 2. transcoding ----------------------------------------------------------

#[test]
fn a_pcmu_caller_and_a_pcma_seat_hear_each_other_transcoded() {
    let _serial = one_at_a_time();
    let h = Hotline::start(|c| c);
    let mut caller = Endpoint::bind(TRUNK_IP, Codec::Pcmu, 0x1111_0001);
    let mut seat_rtp = Endpoint::bind("127.0.0.15", Codec::Pcma, 0x2222_0002);
    let seat = sipp_seat(&h, "8005", "127.0.0.15", Codec::Pcma, seat_rtp.port(), 200);
    let trunk = rtp_trunk(&h, "trunk_call_rtp.xml", Codec::Pcmu, caller.port(), 6000).spawn();
    // Three seconds of a different voice from each side.
    let caller_says = prompt("en/welcome")[..ms(3000)].to_vec();
    let seat_says = prompt("en/survey")[..ms(3000)].to_vec();
    let started = converse(&mut caller, &mut seat_rtp, &caller_says, &seat_says, 300);
    let out = trunk.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "trunk SIPp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    seat.finish();

    // What the seat heard: A-law (its own law), the caller's voice.
    let heard = place_by_timestamp(&received_since(&seat_rtp, started, 8), Codec::Pcma);
    let m = find(&heard, &caller_says, span(-500, 1000));
    let snr = snr_db(&heard, &caller_says, m.offset);
    eprintln!("seat heard the caller: {m:?}, SNR {snr:.1} dB");
    assert!(
        m.ncc > 0.99 && snr > 25.0,
        "the seat hears the caller's μ-law speech as A-law: {m:?}, SNR {snr:.1} dB"
    );
    // What the caller heard once bridged: μ-law, the seat's voice.
    let heard = place_by_timestamp(&received_since(&caller, started, 0), Codec::Pcmu);
    let m = find(&heard, &seat_says, span(-500, 1000));
    let snr = snr_db(&heard, &seat_says, m.offset);
    eprintln!("caller heard the seat: {m:?}, SNR {snr:.1} dB");
    assert!(
        m.ncc > 0.99 && snr > 25.0,
        "the caller hears the seat's A-law speech as μ-law: {m:?}, SNR {snr:.1} dB"
    );

    let (call, wav) = finished_call(&h, true);
    assert_eq!(
        (
            call["media_stats"]["caller"]["codec"].as_str(),
            call["media_stats"]["agent"]["codec"].as_str()
        ),
        (Some("PCMU"), Some("PCMA")),
        "{call}"
    );
    let (left, right) = read_stereo_wav(&wav.unwrap());
    let l = fit(&left, &caller_says, 0..left.len() as i64);
    let r = fit(&right, &seat_says, 0..right.len() as i64);
    eprintln!("recording: caller {l:?}\nagent {r:?}");
    assert_in_place(&l, "the caller's voice is the left channel");
    assert_in_place(&r, "the agent's voice is the right channel");
    // Both were sent from the same clock: they line up in the recording.
    let (lo, ro) = (l.whole.offset, r.whole.offset);
    assert!(
        (lo - ro).abs() <= 2 * FRAME as i64,
        "caller at {} ms, agent at {} ms",
        l.whole.ms(),
        r.whole.ms()
    );
    assert_length_is_talk_time(&call, left.len());
}

// ---- 3. loss and reordering --------------------------------------------------

/// The two occurrences of `burst` in `signal`, at least a second apart,
/// in order; both must correlate above 0.8 (a lost packet in a burst
/// leaves about 0.89).
fn two_bursts(what: &str, signal: &[i16], burst: &[i16]) -> (Match, Match) {
    let a = find(signal, burst, 0..signal.len() as i64);
    let away = ms(1000) as i64;
    let before = (a.offset > away).then(|| find(signal, burst, 0..a.offset - away));
    let after = (a.offset + away < signal.len() as i64)
        .then(|| find(signal, burst, a.offset + away..signal.len() as i64));
    let b = [before, after]
        .into_iter()
        .flatten()
        .max_by(|x, y| x.ncc.total_cmp(&y.ncc))
        .expect("room for a second burst");
    let (m1, m2) = if a.offset < b.offset { (a, b) } else { (b, a) };
    assert!(
        m1.ncc > 0.8 && m2.ncc > 0.8,
        "{what}: both bursts found: {m1:?} {m2:?}"
    );
    (m1, m2)
}

#[test]
fn loss_and_reordering_on_the_callers_leg_do_not_move_the_recording_out_of_sync() {
    let _serial = one_at_a_time();
    let h = Hotline::start(|c| c);
    let mut caller = Endpoint::bind(TRUNK_IP, Codec::Pcma, 0x3333_0003);
    // 5% of the caller's packets lost, 10% sent after the next one.
    caller.impairer = Some(Impairer::new(0x5eed, 5, 10));
    let mut seat_rtp = Endpoint::bind("127.0.0.16", Codec::Pcma, 0x4444_0004);
    let seat = sipp_seat(&h, "8006", "127.0.0.16", Codec::Pcma, seat_rtp.port(), 200);
    let trunk = rtp_trunk(&h, "trunk_call_rtp.xml", Codec::Pcma, caller.port(), 8000).spawn();
    // 6 s of quiet with a 100 ms noise burst on each leg at the same
    // instants, 0.5 s and 5.5 s in.
    let (first, second) = (ms(500), ms(5500));
    let programme = |seed| {
        let mut p = vec![0i16; ms(6000)];
        let burst = noise(seed, ms(100), 12000);
        p[first..first + burst.len()].copy_from_slice(&burst);
        p[second..second + burst.len()].copy_from_slice(&burst);
        (p, burst)
    };
    let (caller_says, caller_burst) = programme(1);
    let (seat_says, seat_burst) = programme(2);
    let started = converse(&mut caller, &mut seat_rtp, &caller_says, &seat_says, 200);
    let out = trunk.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "trunk SIPp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    seat.finish();
    let imp = caller.impairer.as_ref().unwrap();
    eprintln!(
        "caller leg: {} sent, {} dropped, {} reordered",
        caller.sent,
        imp.dropped.len(),
        imp.swapped.len()
    );
    assert!(
        imp.dropped.len() >= 5 && imp.swapped.len() >= 10,
        "the impairer did its job"
    );
    let gap = (second - first) as i64;
    // The relay keeps the caller's timing: played by its timestamps, what
    // the seat got has the bursts exactly as far apart as sent.
    let heard = place_by_timestamp(&received_since(&seat_rtp, started, 8), Codec::Pcma);
    let (h1, h2) = two_bursts("what the seat heard", &heard, &caller_burst);
    assert_eq!(
        h2.offset - h1.offset,
        gap,
        "the seat hears the caller's bursts 5 s apart: {h1:?} {h2:?}"
    );

    let (call, wav) = finished_call(&h, true);
    assert!(
        call["media_stats"]["caller"]["lost"].as_u64().unwrap() > 0,
        "hotline saw the loss: {call}"
    );
    let (left, right) = read_stereo_wav(&wav.unwrap());
    let (l1, l2) = two_bursts("the recording's left channel", &left, &caller_burst);
    let (r1, r2) = two_bursts("the recording's right channel", &right, &seat_burst);
    eprintln!(
        "caller bursts at {:.1} and {:.1} ms, agent bursts at {:.1} and {:.1} ms",
        l1.ms(),
        l2.ms(),
        r1.ms(),
        r2.ms()
    );
    let two_frames = 2 * FRAME as i64;
    assert!(
        ((l2.offset - l1.offset) - gap).abs() <= two_frames,
        "the caller's bursts 5 s apart: {l1:?} {l2:?}"
    );
    assert!(
        ((r2.offset - r1.offset) - gap).abs() <= two_frames,
        "the agent's bursts 5 s apart: {r1:?} {r2:?}"
    );
    let (skew_start, skew_end) = (r1.offset - l1.offset, r2.offset - l2.offset);
    assert!(
        (skew_end - skew_start).abs() <= two_frames,
        "agent minus caller: {:.1} ms at the start, {:.1} ms at the end",
        skew_start as f64 / 8.0,
        skew_end as f64 / 8.0
    );
    assert!(
        skew_start.abs() <= two_frames,
        "sent at the same instant, recorded at the same place: {:.1} ms apart",
        skew_start as f64 / 8.0
    );
    assert_length_is_talk_time(&call, left.len());
}

// ---- 4. prompts while waiting ------------------------------------------------

#[test]
fn a_waiting_caller_hears_the_lines_welcome_prompt() {
    let _serial = one_at_a_time();
    // No seat is registered: the citizen queue waits, hotline plays.
    let h = Hotline::start(|c| c);
    let caller = Endpoint::bind(TRUNK_IP, Codec::Pcma, 0x5555_0005);
    rtp_trunk(
        &h,
        "trunk_wait_cancel_rtp.xml",
        Codec::Pcma,
        caller.port(),
        0,
    )
    .var("WAIT_MS", "3500")
    .run_ok();
    let got: Vec<Rtp> = caller.captured().into_iter().map(|c| c.rtp).collect();
    assert!(
        got.len() >= 150,
        "about 3.5 s of 20 ms packets: {}",
        got.len()
    );
    assert!(got.iter().all(|p| p.pt == 8), "A-law, as offered");
    let heard = place_by_timestamp(&got, Codec::Pcma);
    let welcome = prompt("zh/welcome");
    let n = ms(3000).min(heard.len());
    let m = find(&heard, &welcome[..n], span(-500, 500));
    let snr = snr_db(&heard[..n], &welcome[..n], m.offset);
    eprintln!("welcome prompt in what the caller heard: {m:?}, SNR {snr:.1} dB");
    assert!(
        m.ncc > 0.99 && snr > 25.0,
        "the caller hears zh/welcome.wav: {m:?}, SNR {snr:.1} dB"
    );
    assert!(
        m.offset.abs() <= FRAME as i64,
        "from its first sample: {m:?}"
    );
    // Not the English one: the line's language is the default, zh.
    let en = find(&heard, &prompt("en/welcome")[..n], span(-500, 500));
    assert!(en.ncc < 0.3, "{en:?}");
    let (call, _) = finished_call(&h, false);
    assert_eq!(
        call["outcome"], "abandoned",
        "the caller hung up while waiting: {call}"
    );
}
