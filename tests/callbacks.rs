//! Callbacks (回访) against real peers: SIPp seats and a SIPp citizen at
//! the trunk address `[outbound] trunk` points to, the test ticket system
//! receiving the events. A callback is anchored, recorded in stereo,
//! stored as an outbound call and linked to its ticket; a number outside
//! the seat's patterns is refused with 403, from the phone and the API.

mod common;

use common::receiver::Receiver;
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

/// The demo with its outbound trunk at the citizen's SIPp, and quick
/// ticket retries.
fn with_trunk_at(ip: &str, port: u16) -> impl Fn(String) -> String {
    let trunk = format!("trunk = \"{ip}:{port}\"");
    move |c: String| {
        c.replace("trunk = \"127.0.0.1:5090\"", &trunk)
            .replace("timeout_secs = 5 ", "timeout_secs = 1 ")
            .replace("retry_max_secs = 600", "retry_max_secs = 2")
    }
}

/// The citizen's phone behind the carrier: a SIPp UAS on `ip:port` that
/// answers hotline's INVITE (shown the center's 12345), talks and hangs
/// up after `talk_ms`.
fn citizen(h: &Hotline, ip: &str, port: u16, talk_ms: u32) -> (Sipp, std::process::Child) {
    let sipp = Sipp::new("citizen_answer_audio.xml", ip, port, h.trunk)
        .var("CALLER_ID", "12345")
        .arg(&format!("-m 1 -timeout 60s -d {talk_ms}"));
    let mut child = sipp.spawn();
    // Listening once its port is taken.
    let listening = (0..100).any(|_| {
        let taken = std::net::UdpSocket::bind((ip, port)).is_err();
        if !taken {
            std::thread::sleep(Duration::from_millis(20));
        }
        taken
    });
    if !listening {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the citizen's SIPp did not bind {ip}:{port}");
    }
    (sipp, child)
}

fn finish(sipp: Sipp, child: std::process::Child) {
    let out = child.wait_with_output().unwrap();
    sipp.check(&out, true);
}

/// The stored call `id` once its recording is attached.
fn recorded_call(h: &Hotline, id: &str) -> Value {
    h.wait_for(
        "the callback's record with its recording",
        Duration::from_secs(15),
        |h| !h.get(&format!("/api/calls/{id}"))["call"]["recording"].is_null(),
    );
    h.get(&format!("/api/calls/{id}"))["call"].clone()
}

/// Peak absolute sample of each channel of a stereo WAV, and its seconds.
fn channel_peaks(path: &std::path::Path) -> (u16, u16, f64) {
    let mut r = hound::WavReader::open(path).unwrap();
    let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    let peak = |ch: usize| {
        samples
            .iter()
            .skip(ch)
            .step_by(2)
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0)
    };
    (peak(0), peak(1), samples.len() as f64 / 2.0 / 8000.0)
}

#[test]
fn a_click_to_call_for_a_ticket_rings_the_seat_then_the_citizen_and_is_recorded_and_linked() {
    let (citizen_ip, seat_ip) = ("127.0.0.41", "127.0.0.42");
    let citizen_port = free_port_on(citizen_ip);
    let h = Hotline::start(with_trunk_at(citizen_ip, citizen_port));
    let rx = Receiver::start(
        h.dir.path(),
        h.tickets_port,
        "demo-ticket-secret-change-me",
        "",
    );
    let seat = Seat::start(&h, "8011", seat_ip, "seat_answer_audio.xml", 1, "-d 100");
    let (csipp, cchild) = citizen(&h, citizen_ip, citizen_port, 4000);

    let (code, body) = h.post(
        "/api/callbacks",
        json!({ "seat": "8011", "number": "13800138000", "ticket_id": "T-2026-0042" }),
    );
    assert_eq!(code, 202, "{body}");
    let id = body["call"]
        .as_str()
        .expect("the call id at once")
        .to_string();
    // The citizen's SIPp fails unless the INVITE offers hotline's SDP from 12345.
    finish(csipp, cchild);
    seat.finish();

    let call = recorded_call(&h, &id);
    assert_eq!(call["direction"], "outbound", "{call}");
    assert_eq!(
        (&call["caller"], &call["line"], &call["seat"]),
        (&json!("13800138000"), &json!("12345"), &json!("8011"))
    );
    assert_eq!(
        (&call["outcome"], &call["hangup_by"]),
        (&json!("answered"), &json!("caller")),
        "{call}"
    );
    assert_eq!(call["ticket_id"], "T-2026-0042");
    let wav = h
        .dir
        .path()
        .join("recordings")
        .join(call["recording"]["path"].as_str().unwrap());
    assert!(
        wav.starts_with(h.dir.path().join("recordings/non_emergency")),
        "{}",
        wav.display()
    );
    let (left, right, secs) = channel_peaks(&wav);
    assert!(secs > 3.0, "about the 4 s of talk: {secs} s");
    assert!(
        left > 1000 && right > 1000,
        "the citizen on the left ({left}), the agent on the right ({right})"
    );

    // The ticket finds the callback, and its recording downloads by Range.
    let listed = h.get("/api/tickets/T-2026-0042/calls");
    assert_eq!(listed["calls"][0]["id"], id.as_str(), "{listed}");
    let part = reqwest::blocking::Client::new()
        .get(format!("{}/api/calls/{id}/recording", h.http))
        .bearer_auth(ADMIN_TOKEN)
        .header("Range", "bytes=0-43")
        .send()
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);

    // The ticket system heard of it like of an inbound call, ticket included.
    h.wait_for(
        "call.answered and call.ended delivered",
        Duration::from_secs(20),
        |_| rx.effective().len() == 2,
    );
    let events = rx.effective();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["call.answered", "call.ended"]);
    let ended = &events[1]["payload"]["call"];
    assert_eq!(
        (&ended["id"], &ended["direction"], &ended["ticket_id"]),
        (&json!(id), &json!("outbound"), &json!("T-2026-0042"))
    );
    assert!(
        ended["recording"]["url"]
            .as_str()
            .unwrap()
            .contains(&format!("/api/calls/{id}/recording")),
        "{ended}"
    );
    assert_eq!(
        h.seat_state("8011")["state"]["state"],
        "ready",
        "the seat is free again"
    );
}

#[test]
fn a_seat_dials_the_prefix_and_a_number_from_its_phone_and_a_forbidden_number_gets_403() {
    let (citizen_ip, seat_ip) = ("127.0.0.43", "127.0.0.44");
    let citizen_port = free_port_on(citizen_ip);
    let h = Hotline::start(with_trunk_at(citizen_ip, citizen_port));
    let port = free_port_on(seat_ip);
    Sipp::new("seat_register.xml", seat_ip, port, h.phones)
        .seat("8012", "demo-8012")
        .arg("-m 1 -timeout 10s")
        .run_ok();

    // International and premium numbers are not in the demo seats' patterns.
    for number in ["90044207946000", "9168168"] {
        Sipp::new("seat_callback_forbidden.xml", seat_ip, port, h.phones)
            .seat("8012", "demo-8012")
            .arg(&format!("-s {number} -m 1 -timeout 10s"))
            .run_ok();
    }
    let (code, body) = h.post(
        "/api/callbacks",
        json!({ "seat": "8012", "number": "0044207946000" }),
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("may dial (its patterns: mobile, landline)"),
        "{body}"
    );
    assert!(
        h.get("/api/calls")["calls"].as_array().unwrap().is_empty(),
        "nothing was dialled"
    );

    let (csipp, cchild) = citizen(&h, citizen_ip, citizen_port, 3000);
    Sipp::new("seat_callback_audio.xml", seat_ip, port, h.phones)
        .seat("8012", "demo-8012")
        .arg("-s 913800138000 -m 1 -timeout 30s")
        .run_ok();
    finish(csipp, cchild);
    h.wait_for("the callback's record", Duration::from_secs(10), |h| {
        h.calls(1).first().is_some_and(|c| !c["outcome"].is_null())
    });
    let id = h.calls(1)[0]["id"].as_str().unwrap().to_string();
    let call = recorded_call(&h, &id);
    assert_eq!(
        (&call["direction"], &call["caller"], &call["seat"]),
        (&json!("outbound"), &json!("13800138000"), &json!("8012"))
    );
    assert_eq!(
        (&call["outcome"], &call["hangup_by"]),
        (&json!("answered"), &json!("caller")),
        "{call}"
    );
    assert!(call["talk_ms"].as_i64().unwrap() >= 2_500, "{call}");
    let wav = h
        .dir
        .path()
        .join("recordings")
        .join(call["recording"]["path"].as_str().unwrap());
    let (left, right, _) = channel_peaks(&wav);
    assert!(
        left > 1000 && right > 1000,
        "both voices recorded: {left} {right}"
    );

    assert_eq!(
        h.get("/api/calls?direction=outbound")["calls"][0]["id"],
        id.as_str()
    );
    assert!(
        h.get("/api/calls?direction=inbound")["calls"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (code, _) = h.get_status("/api/calls?direction=sideways");
    assert_eq!(code, 400);

    // The agent desktop links it to the ticket afterwards.
    let (code, body) = h.put(
        &format!("/api/calls/{id}/ticket"),
        json!({ "ticket_id": "T-2026-0077" }),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        h.get("/api/tickets/T-2026-0077/calls")["calls"][0]["id"],
        id.as_str()
    );
    assert_eq!(h.seat_state("8012")["state"]["state"], "ready");
}
