//! Calls through the real binary, with SIPp as the trunk and as seat
//! phones on loopback: the call flows of issue 2 and their records, on
//! the demo config as shipped (RTP anchored through hotline).

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

fn last_call(h: &Hotline) -> Value {
    h.calls(1).into_iter().next().expect("a call record")
}

fn wait_ended(h: &Hotline, n: usize) {
    h.wait_for(
        &format!("{n} ended call records"),
        Duration::from_secs(20),
        |h| {
            let calls = h.calls(n);
            calls.len() >= n && calls.iter().all(|c| !c["outcome"].is_null())
        },
    );
}

fn events(h: &Hotline, call: &str) -> Vec<(String, String)> {
    let v = h.get(&format!("/api/events?call_id={call}"));
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["seat"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn answered_call_is_bridged_and_recorded() {
    let h = Hotline::start(|c| c);
    let seat = Seat::start(&h, "8001", "127.0.0.11", "seat_answer.xml", 1, "-d 300");
    trunk(&h, "trunk_call.xml", "12329", 1, "-d 1000").run_ok();
    seat.finish();
    wait_ended(&h, 1);
    let c = last_call(&h);
    assert_eq!(c["line"], "12329");
    assert_eq!(c["tag"], "housing-fund");
    assert_eq!(c["class"], "non_emergency");
    assert_eq!(c["queue"], "citizen");
    assert_eq!(c["seat"], "8001");
    assert_eq!(c["outcome"], "answered");
    assert_eq!(c["hangup_by"], "caller");
    assert!(c["caller"].as_str().unwrap().starts_with("1380000"), "{c}");
    let talk = c["talk_ms"].as_i64().unwrap();
    assert!((900..3000).contains(&talk), "talk_ms {talk}");
    let wait = c["wait_ms"].as_i64().unwrap();
    assert!(
        (250..3000).contains(&wait),
        "wait_ms {wait} includes the 300 ms of ringing"
    );
    let kinds: Vec<String> = events(&h, c["id"].as_str().unwrap())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for k in ["enqueue", "ring", "connect", "complete"] {
        assert!(kinds.contains(&k.to_string()), "{k} missing from {kinds:?}");
    }
    // The seat goes through wrap-up and is ready again.
    let s = h.seat_state("8001");
    assert!(
        s["state"]["state"] == "wrap_up" || s["state"]["state"] == "ready",
        "{s}"
    );
}

#[test]
fn agent_hanging_up_ends_the_callers_leg() {
    // Without the demo's satisfaction survey, which keeps the caller on.
    let h = Hotline::start(|c| c.replace("survey = true\n", ""));
    let seat = Seat::start(
        &h,
        "8002",
        "127.0.0.12",
        "seat_answer_hangup.xml",
        1,
        "-d 700",
    );
    trunk(&h, "trunk_call_agent_hangup.xml", "12345", 1, "").run_ok();
    seat.finish();
    wait_ended(&h, 1);
    let c = last_call(&h);
    assert_eq!(c["outcome"], "answered");
    assert_eq!(c["hangup_by"], "agent");
    assert_eq!(c["seat"], "8002");
}

#[test]
fn caller_hanging_up_while_queued_is_abandoned() {
    let h = Hotline::start(|c| c);
    // No seat registered: the call waits (when_no_agents = "wait").
    trunk(&h, "trunk_cancel.xml", "12345", 1, "-d 1500").run_ok();
    wait_ended(&h, 1);
    let c = last_call(&h);
    assert_eq!(c["outcome"], "abandoned");
    assert_eq!(c["hangup_by"], "caller");
    assert!(c["seat"].is_null());
    assert!(c["wait_ms"].as_i64().unwrap() >= 1400, "{c}");
    let kinds: Vec<String> = events(&h, c["id"].as_str().unwrap())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, ["enqueue", "abandon"]);
}

#[test]
fn caller_hanging_up_while_a_seat_rings_cancels_the_seat() {
    let h = Hotline::start(|c| c);
    let seat = Seat::start(&h, "8017", "127.0.0.27", "seat_noanswer.xml", 1, "");
    trunk(&h, "trunk_cancel.xml", "12345", 1, "-d 1000").run_ok();
    seat.finish(); // the phone saw CANCEL and answered it 200 + 487
    wait_ended(&h, 1);
    let c = last_call(&h);
    assert_eq!(c["outcome"], "abandoned");
    assert!(c["seat"].is_null());
    let kinds: Vec<String> = events(&h, c["id"].as_str().unwrap())
        .into_iter()
        .filter(|(k, _)| k != "agent_state")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, ["enqueue", "ring", "abandon"]);
    h.wait_for("8017 ready again", Duration::from_secs(5), |h| {
        h.seat_state("8017")["state"]["state"] == "ready"
    });
}

#[test]
fn unanswered_seat_is_cancelled_and_the_next_seat_rings() {
    let h = Hotline::start(|c| c.replace("ring_timeout_secs = 15", "ring_timeout_secs = 2"));
    let lazy = Seat::start(&h, "8003", "127.0.0.13", "seat_noanswer.xml", 1, "");
    std::thread::sleep(Duration::from_millis(100));
    let good = Seat::start(&h, "8004", "127.0.0.14", "seat_answer.xml", 1, "-d 100");
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 500").run_ok();
    lazy.finish();
    good.finish();
    wait_ended(&h, 1);
    let c = last_call(&h);
    assert_eq!(c["seat"], "8004");
    assert!(
        c["wait_ms"].as_i64().unwrap() >= 2000,
        "waited through one ring timeout: {c}"
    );
    let ev = events(&h, c["id"].as_str().unwrap());
    let rings: Vec<&(String, String)> = ev
        .iter()
        .filter(|(k, _)| k == "ring" || k == "no_answer")
        .collect();
    assert_eq!(
        rings,
        [
            &("ring".to_string(), "8003".to_string()),
            &("no_answer".into(), "8003".into()),
            &("ring".into(), "8004".into())
        ]
    );
}

#[test]
fn busy_seat_passes_the_call_on() {
    let h = Hotline::start(|c| c);
    let busy = Seat::start(&h, "8005", "127.0.0.15", "seat_busy.xml", 1, "");
    std::thread::sleep(Duration::from_millis(100));
    let good = Seat::start(&h, "8006", "127.0.0.16", "seat_answer.xml", 1, "-d 100");
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 300").run_ok();
    busy.finish();
    good.finish();
    wait_ended(&h, 1);
    assert_eq!(last_call(&h)["seat"], "8006");
}

#[test]
fn declining_seat_passes_the_call_on() {
    let h = Hotline::start(|c| c);
    let decline = Seat::start(&h, "8013", "127.0.0.23", "seat_decline.xml", 1, "");
    std::thread::sleep(Duration::from_millis(100));
    let good = Seat::start(&h, "8014", "127.0.0.24", "seat_answer.xml", 1, "-d 100");
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 300").run_ok();
    decline.finish();
    good.finish();
    wait_ended(&h, 1);
    let c = last_call(&h);
    assert_eq!(c["seat"], "8014");
    let ev = events(&h, c["id"].as_str().unwrap());
    assert!(
        ev.contains(&("no_answer".to_string(), "8013".to_string())),
        "{ev:?}"
    );
    assert_eq!(
        h.seat_state("8013")["state"]["state"],
        "ready",
        "a decline does not pause the seat"
    );
}

#[test]
fn hold_and_resume_are_relayed_between_caller_and_seat() {
    // Without [media]: re-INVITEs go end to end (with it, hotline answers
    // them itself; see tests/media.rs).
    let h = Hotline::start(without_media);
    // The seat checks it is offered sendonly then sendrecv; the trunk checks
    // it gets the seat's recvonly then sendrecv answers back.
    let seat = Seat::start(&h, "8015", "127.0.0.25", "seat_answer_hold.xml", 1, "");
    trunk(&h, "trunk_call_hold.xml", "12345", 1, "").run_ok();
    seat.finish();
    wait_ended(&h, 1);
    let c = last_call(&h);
    assert_eq!(c["outcome"], "answered");
    assert_eq!(c["seat"], "8015");
    assert_eq!(c["hangup_by"], "caller");
}

#[test]
fn calls_flow_over_tcp_on_both_sides() {
    let h = Hotline::start(|c| c);
    let seat = Seat::start_over(
        &h,
        "-t t1",
        "8016",
        "127.0.0.26",
        "seat_answer.xml",
        1,
        "-d 200",
    );
    std::thread::sleep(Duration::from_millis(200));
    let regs = h.seat_state("8016")["registrations"].clone();
    assert_eq!(regs[0]["transport"], "tcp", "registered over TCP: {regs}");
    trunk(&h, "trunk_call.xml", "12333", 1, "-d 500 -t t1").run_ok();
    seat.finish();
    wait_ended(&h, 1);
    let c = last_call(&h);
    assert_eq!(c["outcome"], "answered");
    assert_eq!(c["seat"], "8016");
    assert_eq!(c["line"], "12333");
}

#[test]
fn call_waits_while_all_seats_are_busy_then_connects() {
    let h = Hotline::start(|c| c.replace("wrapup_secs = 5", "wrapup_secs = 1"));
    let seat = Seat::start(&h, "8007", "127.0.0.17", "seat_answer.xml", 2, "-d 0");
    let first = trunk(&h, "trunk_call.xml", "12345", 1, "-d 2000").spawn();
    std::thread::sleep(Duration::from_millis(300));
    trunk(&h, "trunk_call.xml", "12333", 1, "-d 300").run_ok();
    assert!(first.wait_with_output().unwrap().status.success());
    seat.finish();
    wait_ended(&h, 2);
    let calls = h.calls(2);
    let second = calls.iter().find(|c| c["line"] == "12333").unwrap();
    assert_eq!(second["outcome"], "answered");
    let wait = second["wait_ms"].as_i64().unwrap();
    assert!(
        wait >= 2500,
        "second call waited for the first call and the wrap-up: {wait}"
    );
}

#[test]
fn ring_all_with_two_seats_answering_at_once_connects_one() {
    let h = Hotline::start(|c| c.replace("strategy = \"longest_idle\"", "strategy = \"ring_all\""));
    let a = Seat::start(&h, "8008", "127.0.0.18", "seat_answer_race.xml", 1, "");
    let b = Seat::start(&h, "8009", "127.0.0.19", "seat_answer_race.xml", 1, "");
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 800").run_ok();
    a.finish();
    b.finish();
    wait_ended(&h, 1);
    let c = last_call(&h);
    assert_eq!(c["outcome"], "answered");
    let winner = c["seat"].as_str().unwrap().to_string();
    let ev = events(&h, c["id"].as_str().unwrap());
    let connects: Vec<_> = ev.iter().filter(|(k, _)| k == "connect").collect();
    assert_eq!(connects.len(), 1, "{ev:?}");
    assert_eq!(connects[0].1, winner);
    let loser = if winner == "8008" { "8009" } else { "8008" };
    assert_eq!(
        h.seat_state(loser)["state"]["state"],
        "ready",
        "the seat that lost the race is free again"
    );
}

#[test]
fn queue_with_nobody_logged_in_rejects_when_configured_to() {
    let h = Hotline::start(|c| {
        c.replacen(
            "when_no_agents = \"wait\"",
            "when_no_agents = \"reject\"",
            1,
        )
    });
    trunk(&h, "trunk_refused.xml", "12345", 1, "")
        .var("CODE", "486")
        .run_ok();
    wait_ended(&h, 1);
    let c = last_call(&h);
    assert_eq!(c["outcome"], "rejected");
    assert_eq!(c["reason"], "all agents busy, please call again later");
    let kinds: Vec<String> = events(&h, c["id"].as_str().unwrap())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, ["enqueue", "reject"]);
}

#[test]
fn call_overflows_to_another_queue_after_its_maximum_wait() {
    let h = Hotline::start(|c| {
        c.replace("max_wait_secs = 600", "max_wait_secs = 1")
            .replacen(
                "when_timeout = \"reject\"",
                "when_timeout = \"overflow\"\noverflow_queue = \"backoffice\"",
                1,
            )
            + "\n[[queues]]\nname = \"backoffice\"\n\n[[seats]]\nextension = \"8099\"\npassword = \"demo-8099\"\n\
               queues = [{ queue = \"backoffice\" }]\n"
    });
    let seat = Seat::start(&h, "8099", "127.0.0.28", "seat_answer.xml", 1, "-d 100");
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 300").run_ok();
    seat.finish();
    wait_ended(&h, 1);
    let c = last_call(&h);
    assert_eq!(c["outcome"], "answered");
    assert_eq!(c["queue"], "backoffice");
    assert_eq!(c["seat"], "8099");
    assert!(c["wait_ms"].as_i64().unwrap() >= 1000, "{c}");
    let v = h.get(&format!(
        "/api/events?call_id={}",
        c["id"].as_str().unwrap()
    ));
    let flow: Vec<(String, String)> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] != "agent_state")
        .map(|e| {
            (
                e["kind"].as_str().unwrap().into(),
                e["queue"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("enqueue", "citizen"),
        ("overflow", "citizen"),
        ("enqueue", "backoffice"),
        ("ring", "backoffice"),
        ("connect", "backoffice"),
        ("complete", "backoffice"),
    ]
    .iter()
    .map(|(k, q)| (k.to_string(), q.to_string()))
    .collect();
    assert_eq!(flow, want);
}

#[test]
fn unknown_number_gets_404_and_a_rejected_record() {
    let h = Hotline::start(|c| c);
    trunk(&h, "trunk_refused.xml", "99999", 1, "")
        .var("CODE", "404")
        .run_ok();
    wait_ended(&h, 1);
    let c = last_call(&h);
    assert_eq!(c["line"], "99999");
    assert_eq!(c["outcome"], "rejected");
}

#[test]
fn feature_codes_change_the_agent_state() {
    let h = Hotline::start(|c| c);
    let ip = "127.0.0.21";
    let port = free_port_on(ip);
    Sipp::new("seat_register.xml", ip, port, h.phones)
        .seat("8010", "demo-8010")
        .arg("-m 1")
        .run_ok();
    h.wait_for("8010 ready (auto_ready)", Duration::from_secs(5), |h| {
        h.seat_state("8010")["state"]["state"] == "ready"
    });
    Sipp::new("seat_feature_code.xml", ip, port, h.phones)
        .seat("8010", "demo-8010")
        .arg("-s *142 -m 1 -timeout 10s")
        .run_ok();
    let s = h.seat_state("8010");
    assert_eq!(s["state"]["state"], "not_ready", "{s}");
    assert_eq!(s["state"]["reason"], "lunch", "{s}");
    Sipp::new("seat_feature_code.xml", ip, port, h.phones)
        .seat("8010", "demo-8010")
        .arg("-s *13 -m 1 -timeout 10s")
        .run_ok();
    assert_eq!(h.seat_state("8010")["state"]["state"], "ready");
    Sipp::new("seat_feature_code.xml", ip, port, h.phones)
        .seat("8010", "demo-8010")
        .arg("-s *12 -m 1 -timeout 10s")
        .run_ok();
    assert_eq!(h.seat_state("8010")["state"]["state"], "logged_out");
    let ev = h.get("/api/events?seat=8010&kind=agent_state");
    assert!(ev["events"].as_array().unwrap().len() >= 3, "{ev}");
}

#[test]
fn agent_state_can_be_set_through_the_api() {
    let h = Hotline::start(|c| c);
    let (code, body) = h.put(
        "/api/seats/8011/state",
        serde_json::json!({"state": "login"}),
    );
    assert_eq!(code, 200, "{body}");
    let (code, _) = h.put(
        "/api/seats/8011/state",
        serde_json::json!({"state": "not_ready", "reason": "training"}),
    );
    assert_eq!(code, 200);
    let s = h.seat_state("8011");
    assert_eq!(s["state"]["state"], "not_ready");
    assert_eq!(s["state"]["reason"], "training");
    let (code, body) = h.put(
        "/api/seats/9999/state",
        serde_json::json!({"state": "ready"}),
    );
    assert_eq!(code, 404, "{body}");
    let (code, body) = h.put(
        "/api/seats/8011/state",
        serde_json::json!({"state": "asleep"}),
    );
    assert_eq!(code, 400, "{body}");
    let (code, body) = h.put(
        "/api/seats/8011/state",
        serde_json::json!({"reason": "no state"}),
    );
    assert_eq!(code, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("state"),
        "errors are JSON with a reason: {body}"
    );
    let (_, body) = h.put(
        "/api/seats/8011/state",
        serde_json::json!({"state": "ready"}),
    );
    assert!(
        body["seat"]["registrations"].is_array(),
        "the same seat view as GET /api/seats: {body}"
    );
    for (path, want) in [("/api/calls?limit=abc", 400), ("/api/nothing-here", 404)] {
        let r = reqwest::blocking::get(format!("{}{path}", h.http)).unwrap();
        assert_eq!(r.status().as_u16(), want, "{path}");
        let v: Value = r.json().expect("a JSON error body");
        assert!(v["error"].is_string(), "{path}: {v}");
    }
}

#[test]
fn wrong_password_and_unknown_extension_are_refused() {
    let h = Hotline::start(|c| c);
    Sipp::new(
        "seat_register_fail.xml",
        "127.0.0.22",
        free_port_on("127.0.0.22"),
        h.phones,
    )
    .seat("8012", "not-the-password")
    .arg("-m 1 -timeout 10s")
    .run_ok();
    Sipp::new(
        "seat_register_fail.xml",
        "127.0.0.22",
        free_port_on("127.0.0.22"),
        h.phones,
    )
    .seat("7777", "demo-7777")
    .arg("-m 1 -timeout 10s")
    .run_ok();
}

#[test]
fn call_records_can_be_filtered() {
    let h = Hotline::start(|c| c);
    trunk(&h, "trunk_refused.xml", "99999", 1, "")
        .var("CODE", "404")
        .run_ok();
    trunk(&h, "trunk_cancel.xml", "12345", 1, "-d 200").run_ok();
    wait_ended(&h, 2);
    let abandoned = h.get("/api/calls?outcome=abandoned")["calls"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(abandoned.len(), 1);
    assert_eq!(abandoned[0]["line"], "12345");
    let by_queue = h.get("/api/calls?queue=citizen")["calls"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(by_queue, 1);
    let none = h.get("/api/calls?from=2099-01-01T00:00:00Z")["calls"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(none, 0);
    let bad: Value = reqwest::blocking::get(format!("{}/api/calls?outcome=maybe", h.http))
        .unwrap()
        .json()
        .unwrap();
    assert!(bad["error"].as_str().unwrap().contains("answered"), "{bad}");
}
