//! Media through hotline, with SIPp playing real PCMA speech (sip-tester's
//! g711a.pcap) on both legs: hotline answers with its own SDP, relays the
//! audio and records the call, caller left and agent right.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

/// Peak absolute sample of each channel, and the duration in seconds.
fn channel_peaks(path: &std::path::Path) -> (u16, u16, f64) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16),
        "8 kHz 16-bit stereo"
    );
    let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    let secs = samples.len() as f64 / 2.0 / 8000.0;
    let peak = |ch: usize| {
        samples
            .iter()
            .skip(ch)
            .step_by(2)
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0)
    };
    (peak(0), peak(1), secs)
}

#[test]
fn an_answered_call_is_anchored_through_hotline_and_recorded_in_stereo() {
    let h = Hotline::start(|c| c);
    let seat = Seat::start(
        &h,
        "8001",
        "127.0.0.11",
        "seat_answer_audio.xml",
        1,
        "-d 100",
    );
    // The trunk fails unless the 200 carries hotline's SDP (o=hotline).
    trunk(&h, "trunk_call_audio.xml", "12345", 1, "-d 4000").run_ok();
    seat.finish();
    h.wait_for("the call record", Duration::from_secs(10), |h| {
        h.calls(1).first().is_some_and(|c| !c["outcome"].is_null())
    });
    let call = h.calls(1).remove(0);
    assert_eq!(call["outcome"], "answered");
    let id = call["id"].as_str().unwrap().to_string();
    // recordings/<class>/<yyyy>/<mm>/<dd>/<call-id>.wav under the working directory
    let wav = h.wait_file(&format!("{id}.wav"), Duration::from_secs(10));
    assert!(
        wav.starts_with(h.dir.path().join("recordings/non_emergency")),
        "{}",
        wav.display()
    );
    assert!(
        !wav.with_extension("wav.partial").exists(),
        "the recording was finished"
    );
    let (left, right, secs) = channel_peaks(&wav);
    assert!(secs > 3.0, "about the 4 s of talk: {secs} s");
    assert!(left > 1000, "the caller's speech on the left (peak {left})");
    assert!(
        right > 1000,
        "the agent's speech on the right (peak {right})"
    );
    // The record knows the recording and what the media looked like.
    h.wait_for(
        "the recording on the call record",
        Duration::from_secs(10),
        |h| !h.calls(1)[0]["recording"].is_null(),
    );
    let call = h.calls(1).remove(0);
    let rec = &call["recording"];
    let bytes = std::fs::read(&wav).unwrap();
    assert_eq!(rec["size_bytes"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(
        h.dir
            .path()
            .join("recordings")
            .join(rec["path"].as_str().unwrap()),
        wav
    );
    let sha = sha256_hex(&bytes);
    assert_eq!(
        rec["sha256"].as_str(),
        Some(sha.as_str()),
        "the SHA-256 of the file as written"
    );
    assert!(
        (3000..8000).contains(&rec["duration_ms"].as_u64().unwrap()),
        "{rec}"
    );
    for leg in ["caller", "agent"] {
        let stats = &call["media_stats"][leg];
        assert_eq!(stats["codec"], "PCMA", "{leg}: {stats}");
        assert!(
            stats["packets"].as_u64().unwrap() > 50,
            "{leg} sent hotline its speech: {stats}"
        );
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    out.stdin.as_ref().unwrap().write_all(bytes).unwrap();
    let text = String::from_utf8(out.wait_with_output().unwrap().stdout).unwrap();
    text.split_whitespace().next().unwrap().to_string()
}

#[test]
fn a_callers_hold_is_answered_by_hotline_and_the_seat_is_not_disturbed() {
    let h = Hotline::start(|c| c);
    // The seat answers once and expects no re-INVITE: hotline answers the
    // caller's hold and resume itself (recvonly, then sendrecv).
    let seat = Seat::start(&h, "8002", "127.0.0.12", "seat_answer.xml", 1, "-d 100");
    trunk(&h, "trunk_call_hold.xml", "12345", 1, "").run_ok();
    seat.finish();
    h.wait_for("the call record", Duration::from_secs(10), |h| {
        h.calls(1)
            .first()
            .is_some_and(|c| c["outcome"] == "answered")
    });
}

#[test]
fn a_crash_mid_call_leaves_a_playable_recording_finished_at_the_next_start() {
    let mut h = Hotline::start(|c| c);
    let seat = Seat::start(
        &h,
        "8003",
        "127.0.0.13",
        "seat_answer_audio.xml",
        1,
        "-d 100",
    );
    let mut caller = trunk(&h, "trunk_call_audio.xml", "12345", 1, "-d 20000").spawn();
    // Wait until more than two seconds of stereo audio are on disk.
    let wav = h.wait_file_where(Duration::from_secs(15), |p| {
        p.extension().is_some_and(|e| e == "wav")
            && std::fs::metadata(p).is_ok_and(|m| m.len() > 44 + 2 * 32_000)
    });
    assert!(
        wav.with_extension("wav.partial").exists(),
        "a recording being written has its marker"
    );
    h.crash_and_restart();
    // The SIPp ends of the cut call are of no more use.
    let mut seat_child = seat.child;
    for p in [&mut caller, &mut seat_child] {
        let _ = p.kill();
        let _ = p.wait();
    }
    h.wait_for("the marker gone", Duration::from_secs(10), |_| {
        !wav.with_extension("wav.partial").exists()
    });
    let (left, right, secs) = channel_peaks(&wav);
    assert!(
        secs >= 1.5,
        "what was flushed before the crash is playable: {secs} s"
    );
    assert!(
        left > 1000 && right > 1000,
        "both voices up to the crash ({left}, {right})"
    );
    assert!(
        h.log().contains("finalised recordings left unfinished"),
        "the start says what it repaired"
    );
    // The call was answered, then cut by the crash; its record says so and
    // carries the repaired recording.
    let call = h.calls(1).remove(0);
    assert_eq!(
        (
            call["outcome"].as_str(),
            call["hangup_by"].as_str(),
            call["reason"].as_str()
        ),
        (Some("answered"), Some("system"), Some("interrupted"))
    );
    let bytes = std::fs::read(&wav).unwrap();
    assert_eq!(
        call["recording"]["size_bytes"].as_u64(),
        Some(bytes.len() as u64),
        "{call}"
    );
    assert_eq!(
        call["recording"]["sha256"].as_str(),
        Some(sha256_hex(&bytes).as_str())
    );
    assert!(
        call["recording_error"]
            .as_str()
            .unwrap()
            .contains("stopped before the call ended"),
        "{call}"
    );
}

#[test]
fn after_the_agent_hangs_up_the_caller_rates_the_call_with_a_digit() {
    // The demo's line 12345 surveys.
    let h = Hotline::start(|c| c);
    // The agent hangs up after 1 s; the caller presses 1 two seconds into
    // the survey prompt, hears the thank-you and hotline hangs up.
    let seat = Seat::start(
        &h,
        "8004",
        "127.0.0.14",
        "seat_answer_hangup.xml",
        1,
        "-d 1000",
    );
    trunk(&h, "trunk_call_survey.xml", "12345", 1, "-d 3000").run_ok();
    seat.finish();
    h.wait_for("the call record", Duration::from_secs(10), |h| {
        h.calls(1).first().is_some_and(|c| !c["outcome"].is_null())
    });
    let call = h.calls(1).remove(0);
    assert_eq!(call["survey"], "1", "{call}");
    assert_eq!(
        (call["outcome"].as_str(), call["hangup_by"].as_str()),
        (Some("answered"), Some("agent"))
    );
    let talk = call["talk_ms"].as_i64().unwrap();
    assert!(
        (900..2000).contains(&talk),
        "the talk ends when the agent hangs up: {talk} ms"
    );
    let events = h.get(&format!(
        "/api/events?call_id={}",
        call["id"].as_str().unwrap()
    ));
    let survey: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "survey")
        .collect();
    assert_eq!(survey.len(), 1, "{events}");
    assert_eq!(survey[0]["detail"], "1");
}

#[test]
fn a_paused_recording_is_silent_for_the_pause_and_the_pause_is_logged() {
    let h = Hotline::start(|c| c);
    let seat = Seat::start(
        &h,
        "8005",
        "127.0.0.15",
        "seat_answer_audio.xml",
        1,
        "-d 100",
    );
    let mut caller = trunk(&h, "trunk_call_audio.xml", "12345", 1, "-d 6000").spawn();
    h.wait_for("the call answered", Duration::from_secs(10), |h| {
        h.get("/api/calls/live")["calls"]
            .as_array()
            .is_some_and(|c| c.first().is_some_and(|c| c["state"] == "connected"))
    });
    let id = h.get("/api/calls/live")["calls"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_millis(1500));
    let (code, body) = h.post(
        &format!("/api/calls/{id}/recording/pause"),
        serde_json::json!({ "by": "agent 8005" }),
    );
    assert_eq!(code, 200, "{body}");
    std::thread::sleep(Duration::from_millis(2000));
    let (code, body) = h.post(&format!("/api/calls/{id}/recording/resume"), Value::Null);
    assert_eq!(code, 200, "{body}");
    assert!(caller.wait().unwrap().success());
    seat.finish();
    let (code, body) = h.post(&format!("/api/calls/{id}/recording/pause"), Value::Null);
    assert_eq!(code, 404, "the call is over: {body}");

    h.wait_for(
        "the recording on the record",
        Duration::from_secs(10),
        |h| !h.calls(1)[0]["recording"].is_null(),
    );
    let wav = h
        .dir
        .path()
        .join("recordings")
        .join(h.calls(1)[0]["recording"]["path"].as_str().unwrap());
    // Both voices speak all through (G.711 A-law never decodes to 0); the
    // pause is a run of exact zeros in both channels of about 2 s.
    let mut r = hound::WavReader::open(&wav).unwrap();
    let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    let (mut run, mut longest) = (0usize, 0usize);
    for frame in samples.chunks(2) {
        run = if frame.iter().all(|s| *s == 0) {
            run + 1
        } else {
            0
        };
        longest = longest.max(run);
    }
    let paused_ms = longest / 8;
    assert!(
        (1700..2600).contains(&paused_ms),
        "silence of the pause: {paused_ms} ms"
    );
    let events = h.get(&format!("/api/events?call_id={id}"));
    let kinds: Vec<(&str, &str)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["kind"]
                .as_str()
                .is_some_and(|k| k.starts_with("recording"))
        })
        .map(|e| (e["kind"].as_str().unwrap(), e["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("recording_paused", "agent 8005"),
            ("recording_resumed", "demo-admin")
        ],
        "by: the body's, else the token's name"
    );
}

#[test]
fn a_call_transferred_to_another_seat_stays_one_call_with_one_whole_recording() {
    let h = Hotline::start(|c| c);
    // 8006 talks for 7 s, transfers to 8007 at 8 s; 8007 talks until the
    // caller hangs up at 16 s.
    // 8006 registers first: idle longest, it gets the call.
    let first = Seat::start(
        &h,
        "8006",
        "127.0.0.16",
        "seat_answer_transfer.xml",
        1,
        "-d 8000 -key target 8007",
    );
    let second = Seat::start(
        &h,
        "8007",
        "127.0.0.17",
        "seat_answer_audio.xml",
        1,
        "-d 100",
    );
    trunk(&h, "trunk_call_audio.xml", "12345", 1, "-d 16000").run_ok();
    first.finish();
    second.finish();
    h.wait_for(
        "the recording on the record",
        Duration::from_secs(10),
        |h| {
            h.calls(1)
                .first()
                .is_some_and(|c| !c["recording"].is_null())
        },
    );
    let call = h.calls(2);
    assert_eq!(call.len(), 1, "one call record: {call:?}");
    let call = &call[0];
    assert_eq!(
        (call["outcome"].as_str(), call["seat"].as_str()),
        (Some("answered"), Some("8007")),
        "{call}"
    );
    let id = call["id"].as_str().unwrap();
    let wavs: Vec<_> = walk(&h.dir.path().join("recordings"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    assert_eq!(wavs.len(), 1, "one recording for the call: {wavs:?}");
    assert!(wavs[0].ends_with(format!("{id}.wav")));
    // The agent's channel has the first seat's voice before the transfer
    // and the second's after it; the file covers the whole talk time.
    let mut r = hound::WavReader::open(&wavs[0]).unwrap();
    let right: Vec<i16> = r
        .samples::<i16>()
        .map(Result::unwrap)
        .skip(1)
        .step_by(2)
        .collect();
    let secs = right.len() as f64 / 8000.0;
    let talk = call["talk_ms"].as_f64().unwrap() / 1000.0;
    assert!(
        (secs - talk).abs() < 0.1,
        "the recording ({secs} s) covers the talk ({talk} s)"
    );
    let peak = |from: f64, to: f64| {
        right[(from * 8000.0) as usize..(to * 8000.0) as usize]
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0)
    };
    assert!(
        peak(1.0, 6.0) > 1000,
        "the first agent speaks before the transfer"
    );
    assert!(peak(10.0, 15.0) > 1000, "the second agent speaks after it");
    let events = h.get(&format!("/api/events?call_id={id}"));
    let transfer: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "transfer")
        .collect();
    assert_eq!(transfer.len(), 1, "{events}");
    assert_eq!(
        (transfer[0]["seat"].as_str(), transfer[0]["detail"].as_str()),
        (Some("8006"), Some("seat 8007"))
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_caller_whose_rtp_stops_is_hung_up_after_the_rtp_timeout() {
    let h = Hotline::start(|c| c.replace("rtp_timeout_secs = 60", "rtp_timeout_secs = 3"));
    let seat = Seat::start(&h, "8008", "127.0.0.18", "seat_answer.xml", 1, "");
    // The caller sends a second of RTP (a DTMF pcap) after 500 ms, then
    // nothing: the trunk lost the call without a BYE. hotline sends the BYE.
    trunk(&h, "trunk_call_survey.xml", "12345", 1, "-d 500").run_ok();
    seat.finish();
    h.wait_for("the call record", Duration::from_secs(10), |h| {
        h.calls(1).first().is_some_and(|c| !c["outcome"].is_null())
    });
    let call = h.calls(1).remove(0);
    assert_eq!(
        (call["outcome"].as_str(), call["hangup_by"].as_str()),
        (Some("answered"), Some("system")),
        "{call}"
    );
    assert_eq!(call["reason"], "no RTP from the caller for 3 s");
    let talk = call["talk_ms"].as_i64().unwrap();
    assert!(
        (3_500..6_000).contains(&talk),
        "hung up about 3 s after the last packet: {talk} ms"
    );
    assert_eq!(
        call["survey"],
        Value::Null,
        "no survey for a caller who is gone"
    );
}

#[test]
fn a_late_offer_call_is_anchored_and_recorded_too() {
    let h = Hotline::start(|c| c);
    let seat = Seat::start(
        &h,
        "8009",
        "127.0.0.19",
        "seat_answer_audio.xml",
        1,
        "-d 100",
    );
    // The trunk fails unless hotline's 200 offers its own SDP.
    trunk(&h, "trunk_call_late_offer_audio.xml", "12345", 1, "-d 4000").run_ok();
    seat.finish();
    h.wait_for(
        "the recording on the record",
        Duration::from_secs(10),
        |h| {
            h.calls(1)
                .first()
                .is_some_and(|c| !c["recording"].is_null())
        },
    );
    let call = h.calls(1).remove(0);
    let wav = h
        .dir
        .path()
        .join("recordings")
        .join(call["recording"]["path"].as_str().unwrap());
    let (left, right, secs) = channel_peaks(&wav);
    assert!(secs > 3.0, "about the 4 s of talk: {secs} s");
    assert!(left > 1000 && right > 1000, "both voices ({left}, {right})");
    assert_eq!(call["media_stats"]["caller"]["codec"], "PCMA", "{call}");
}
