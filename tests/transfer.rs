//! Transfers between the two sides of a shared center, with SIPp as the
//! trunk and the seat phones: a 12345 agent sends a caller in danger to
//! 110 from the desk phone (REFER), a 110 agent's call is passed to 12345
//! through the API. Each side keeps its own record and recording, linked
//! parent to child, and its own ticket flow.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const TICKETS: &str = "demo-ticket-token-change-me";
const EMERGENCY: &str = "demo-emergency-token-change-me";
/// Supervisors' desks, one per side, that may transfer calls.
const SUPERVISOR_12345: &str = "supervisor-12345-token-0123456789";
const SUPERVISOR_110: &str = "supervisor-110-token-0123456789";

fn with_supervisors(c: String) -> String {
    c.replace(
        "tokens = [\n",
        &format!(
            "tokens = [\n  {{ name = \"supervisor-12345\", token = \"{SUPERVISOR_12345}\", access = [\"read\", \"write\"], scope = \"non_emergency\" }},\n  \
             {{ name = \"supervisor-110\", token = \"{SUPERVISOR_110}\", access = [\"read\", \"write\"], scope = \"emergency\" }},\n"
        ),
    )
}

fn get_as(h: &Hotline, token: &str, path: &str) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .get(format!("{}{path}", h.http))
        .bearer_auth(token)
        .send()
        .expect("GET");
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn post_as(h: &Hotline, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}{path}", h.http))
        .bearer_auth(token)
        .json(&body)
        .send()
        .expect("POST");
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

/// Emergency recordings under a root of their own.
fn with_emergency_root(c: String) -> String {
    c.replace(
        "root = \"recordings\"\n",
        "root = \"recordings\"\nemergency_root = \"recordings-emergency\"\n",
    )
}

/// The two records of a transferred call once both ended with their
/// recordings attached: (parent, child).
fn linked_records(h: &Hotline) -> (Value, Value) {
    h.wait_for(
        "two ended records with their recordings",
        Duration::from_secs(15),
        |h| {
            let calls = h.calls(5);
            calls.len() == 2
                && calls
                    .iter()
                    .all(|c| !c["outcome"].is_null() && !c["recording"].is_null())
        },
    );
    let calls = h.calls(5);
    let child = calls
        .iter()
        .find(|c| !c["parent_id"].is_null())
        .expect("a child record")
        .clone();
    let parent = calls
        .iter()
        .find(|c| c["parent_id"].is_null())
        .expect("a parent record")
        .clone();
    assert_eq!(child["parent_id"], parent["id"]);
    (parent, child)
}

/// A recording's channels (caller, agent) and its length in seconds.
fn channels(path: &Path) -> (Vec<i16>, Vec<i16>, f64) {
    let mut r = hound::WavReader::open(path).unwrap();
    let s: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = s.iter().step_by(2).copied().collect();
    let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    let secs = left.len() as f64 / 8000.0;
    (left, right, secs)
}

fn peak(samples: &[i16], from: f64, to: f64) -> u16 {
    let (a, b) = ((from * 8000.0) as usize, (to * 8000.0) as usize);
    samples[a.min(samples.len())..b.min(samples.len())]
        .iter()
        .map(|s| s.unsigned_abs())
        .max()
        .unwrap_or(0)
}

fn recording_file(h: &Hotline, root: &str, call: &Value) -> PathBuf {
    let rel = call["recording"]["path"]
        .as_str()
        .expect("a recording path");
    h.dir.path().join(root).join(rel)
}

#[test]
fn a_12345_agent_transfers_a_caller_in_danger_to_110_from_the_desk_phone() {
    let h = Hotline::start(with_emergency_root);
    // 8006 (12345) talks for 7 s and transfers to line 110 at 8 s; the
    // emergency seat 8021 answers at once and talks until the caller
    // hangs up at 16 s.
    let first = Seat::start(
        &h,
        "8006",
        "127.0.0.16",
        "seat_answer_transfer.xml",
        1,
        "-d 8000 -key target 110",
    );
    let police = Seat::start(
        &h,
        "8021",
        "127.0.0.21",
        "seat_answer_audio.xml",
        1,
        "-d 100",
    );
    trunk(&h, "trunk_call_audio.xml", "12345", 1, "-d 16000").run_ok();
    first.finish();
    police.finish();
    let (parent, child) = linked_records(&h);

    // The 12345 record ends at the transfer, answered by 8006.
    assert_eq!(
        (
            parent["line"].as_str(),
            parent["class"].as_str(),
            parent["seat"].as_str(),
            parent["outcome"].as_str(),
            parent["hangup_by"].as_str()
        ),
        (
            Some("12345"),
            Some("non_emergency"),
            Some("8006"),
            Some("answered"),
            Some("transfer")
        ),
        "{parent}"
    );
    // The call goes on as a 110 record, answered by the emergency seat.
    assert_eq!(
        (
            child["line"].as_str(),
            child["class"].as_str(),
            child["queue"].as_str(),
            child["seat"].as_str(),
            child["outcome"].as_str(),
            child["hangup_by"].as_str()
        ),
        (
            Some("110"),
            Some("emergency"),
            Some("emergency"),
            Some("8021"),
            Some("answered"),
            Some("caller")
        ),
        "{child}"
    );
    assert_eq!(child["sip_call_id"], parent["sip_call_id"], "one SIP call");
    let (pid, cid) = (
        parent["id"].as_str().unwrap(),
        child["id"].as_str().unwrap(),
    );
    assert!(parent["reason"].as_str().unwrap().contains(cid), "{parent}");

    // One recording per side, each under its class's root: the 12345 one
    // holds 8006's voice, the 110 one the emergency agent's.
    let first_wav = recording_file(&h, "recordings", &parent);
    let second_wav = recording_file(&h, "recordings-emergency", &child);
    assert!(first_wav.starts_with(h.dir.path().join("recordings/non_emergency")));
    assert!(first_wav.ends_with(format!("{pid}.wav")), "{first_wav:?}");
    assert!(second_wav.ends_with(format!("{cid}.wav")), "{second_wav:?}");
    let (caller1, agent1, secs1) = channels(&first_wav);
    let talk1 = parent["talk_ms"].as_f64().unwrap() / 1000.0;
    assert!(
        (secs1 - talk1).abs() < 0.3,
        "the 12345 recording ({secs1} s) covers its talk ({talk1} s)"
    );
    assert!(
        peak(&agent1, 1.0, 6.0) > 1000,
        "8006 speaks in the 12345 recording"
    );
    assert!(
        peak(&caller1, 1.0, 6.0) > 1000,
        "the caller speaks in it too"
    );
    let (_, agent2, secs2) = channels(&second_wav);
    // 110 records from the transfer (its queue records the wait).
    let span2 = (child["ended_at_ms"].as_f64().unwrap() - child["offered_at_ms"].as_f64().unwrap())
        / 1000.0;
    assert!(
        (secs2 - span2).abs() < 0.3,
        "the 110 recording ({secs2} s) covers the transfer to the end ({span2} s)"
    );
    let answered_after = child["wait_ms"].as_f64().unwrap() / 1000.0;
    assert!(
        peak(&agent2, answered_after + 0.5, answered_after + 5.0) > 1000,
        "8021 speaks in the 110 recording"
    );

    // Linked both ways for a token that sees both sides.
    let (status, detail) = get_as(&h, ADMIN_TOKEN, &format!("/api/calls/{pid}"));
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["children"], json!([cid]));
    let events = h.get(&format!("/api/events?call_id={pid}"));
    let transfer: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "transfer")
        .collect();
    assert_eq!(transfer.len(), 1, "{events}");
    assert_eq!(
        (transfer[0]["seat"].as_str(), transfer[0]["detail"].as_str()),
        (Some("8006"), Some("queue emergency"))
    );
    let child_events = h.get(&format!("/api/events?call_id={cid}"));
    let kinds: Vec<&str> = child_events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] != "agent_state")
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["enqueue", "ring", "connect", "complete"],
        "{child_events}"
    );

    // The 12345 side sees its own record, not the emergency one.
    let (status, mine) = get_as(&h, TICKETS, &format!("/api/calls/{pid}"));
    assert_eq!(status, 200, "{mine}");
    assert_eq!(
        mine["children"],
        json!([]),
        "the 110 record is not the 12345 side's to see"
    );
    assert_eq!(get_as(&h, TICKETS, &format!("/api/calls/{cid}")).0, 403);
    assert_eq!(
        get_as(&h, TICKETS, &format!("/api/calls/{cid}/recording")).0,
        403
    );
    assert_eq!(get_as(&h, EMERGENCY, &format!("/api/calls/{cid}")).0, 200);
}

#[test]
fn a_110_call_passed_to_12345_through_the_api_follows_12345_rules_from_then_on() {
    let h = Hotline::start(|c| {
        with_supervisors(c).replace("retry_max_secs = 600", "retry_max_secs = 2")
    });
    let tickets = common::receiver::Receiver::start(
        h.dir.path(),
        h.tickets_port,
        "demo-ticket-secret-change-me",
        "",
    );
    let police = Seat::start(
        &h,
        "8022",
        "127.0.0.22",
        "seat_answer_audio.xml",
        1,
        "-d 100",
    );
    let citizen_seat = Seat::start(
        &h,
        "8009",
        "127.0.0.9",
        "seat_answer_audio.xml",
        1,
        "-d 100",
    );
    let caller = trunk(&h, "trunk_call_audio.xml", "110", 1, "-d 14000").spawn();
    h.wait_for("8022 on the 110 call", Duration::from_secs(10), |h| {
        h.seat_state("8022")["state"]["state"] == "on_call"
    });
    let first = h.get("/api/calls/live")["calls"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_secs(3));

    // A 12345 token may not touch an emergency call; a seat of the other
    // side is refused: the 12345 queue decides who answers.
    let (status, _) = post_as(
        &h,
        TICKETS,
        &format!("/api/calls/{first}/transfer"),
        json!({ "to": "12345" }),
    );
    assert_eq!(status, 403);
    let (status, body) = post_as(
        &h,
        SUPERVISOR_110,
        &format!("/api/calls/{first}/transfer"),
        json!({ "to": "8009" }),
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = post_as(
        &h,
        SUPERVISOR_110,
        &format!("/api/calls/{first}/transfer"),
        json!({ "to": "12345", "by": "supervisor 8030" }),
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["new_record"], true, "{body}");
    let second = body["call"].as_str().unwrap().to_string();
    assert_ne!(second, first);

    let out = caller.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the caller's SIPp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    police.finish();
    citizen_seat.finish();
    let (parent, child) = linked_records(&h);
    assert_eq!(
        (parent["id"].as_str(), child["id"].as_str()),
        (Some(first.as_str()), Some(second.as_str()))
    );
    assert_eq!(
        (
            parent["class"].as_str(),
            parent["seat"].as_str(),
            parent["hangup_by"].as_str()
        ),
        (Some("emergency"), Some("8022"), Some("transfer")),
        "{parent}"
    );
    assert_eq!(
        (
            child["class"].as_str(),
            child["line"].as_str(),
            child["seat"].as_str(),
            child["outcome"].as_str()
        ),
        (
            Some("non_emergency"),
            Some("12345"),
            Some("8009"),
            Some("answered")
        ),
        "{child}"
    );
    // 12345 records from the answer: the recording is the talk.
    let (_, agent, secs) = channels(&recording_file(&h, "recordings", &child));
    let talk = child["talk_ms"].as_f64().unwrap() / 1000.0;
    assert!(
        (secs - talk).abs() < 0.3,
        "the 12345 recording ({secs} s) covers its talk ({talk} s)"
    );
    assert!(peak(&agent, 0.5, secs - 0.5) > 1000, "8009 speaks in it");
    let (_, agent, _) = channels(&recording_file(&h, "recordings", &parent));
    assert!(
        peak(&agent, 0.5, 2.5) > 1000,
        "8022 speaks in the 110 recording"
    );

    // The 12345 ticket system hears of the 12345 part only.
    h.wait_for(
        "the 12345 part's call.ended",
        Duration::from_secs(15),
        |_| {
            tickets
                .effective()
                .iter()
                .any(|r| r["payload"]["type"] == "call.ended")
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    for r in tickets.requests() {
        let call = &r["payload"]["call"];
        assert_eq!(call["id"].as_str(), Some(second.as_str()), "{r}");
        assert_eq!(call["parent_id"].as_str(), Some(first.as_str()), "{r}");
        assert_eq!(call["class"], "non_emergency");
    }
    // The 12345 token sees the child, not its emergency parent.
    assert_eq!(get_as(&h, TICKETS, &format!("/api/calls/{second}")).0, 200);
    assert_eq!(get_as(&h, TICKETS, &format!("/api/calls/{first}")).0, 403);
}

/// The attended-transfer desk phone: PJSIP (pjsua2, `tests/pjsua/`),
/// which `scripts/test.sh` installs from PyPI.
fn pjsua_agent(
    h: &Hotline,
    ext: &str,
    ip: &str,
    line: &str,
    talk: f64,
    consult: f64,
    transfer: &str,
) -> std::process::Child {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pjsua/attended_agent.py");
    let probe = std::process::Command::new("python3")
        .args(["-c", "import pjsua2"])
        .output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "python3 cannot import pjsua2: install it with `pip install pjsua2-python==2.15.1.post1` (scripts/test.sh does)"
    );
    let port = free_port_on(ip);
    std::process::Command::new("python3")
        .arg(script)
        .args(["--hotline", &h.phones.to_string()])
        .args(["--ext", ext, "--password", &format!("demo-{ext}")])
        .args(["--bind", &format!("{ip}:{port}")])
        .args(["--line", line])
        .args([
            "--talk",
            &talk.to_string(),
            "--consult",
            &consult.to_string(),
        ])
        .args(["--transfer", transfer])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start python3")
}

#[test]
fn an_attended_transfer_from_a_pjsip_desk_phone_joins_the_caller_with_the_110_agent_it_consulted() {
    let h = Hotline::start(with_emergency_root);
    // 8021 answers the consultation, talks, then takes the re-INVITE that
    // joins it with the caller and talks again.
    let police = Seat::start(
        &h,
        "8021",
        "127.0.0.21",
        "seat_answer_reinvite.xml",
        1,
        "-d 100",
    );
    // 8006 (PJSIP) registers, answers the 12345 call, talks 5 s, holds
    // the caller, calls 110, talks to 8021 for 3 s, and transfers.
    let agent = pjsua_agent(&h, "8006", "127.0.0.16", "110", 5.0, 3.0, "refer");
    h.wait_for("8006 registered", Duration::from_secs(10), |h| {
        h.seat_state("8006")["state"]["state"] == "ready"
    });
    trunk(&h, "trunk_call_audio.xml", "12345", 1, "-d 22000").run_ok();
    let out = agent.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the PJSIP agent: {said}\n{}",
        tail(&String::from_utf8_lossy(&out.stderr), 40)
    );
    police.finish();

    h.wait_for(
        "three ended records with their recordings",
        Duration::from_secs(15),
        |h| {
            let calls = h.calls(5);
            calls.len() == 3
                && calls
                    .iter()
                    .all(|c| !c["outcome"].is_null() && !c["recording"].is_null())
        },
    );
    let calls = h.calls(5);
    let find = |f: &dyn Fn(&Value) -> bool| calls.iter().find(|c| f(c)).cloned().expect("a record");
    let consultation = find(&|c| c["direction"] == "internal");
    let parent = find(&|c| c["direction"] == "inbound" && c["parent_id"].is_null());
    let child = find(&|c| !c["parent_id"].is_null());
    assert_eq!(
        (
            consultation["caller"].as_str(),
            consultation["line"].as_str(),
            consultation["class"].as_str(),
            consultation["seat"].as_str(),
            consultation["hangup_by"].as_str()
        ),
        (
            Some("8006"),
            Some("110"),
            Some("emergency"),
            Some("8021"),
            Some("transfer")
        ),
        "{consultation}"
    );
    assert_eq!(
        (
            parent["line"].as_str(),
            parent["seat"].as_str(),
            parent["hangup_by"].as_str()
        ),
        (Some("12345"), Some("8006"), Some("transfer")),
        "{parent}"
    );
    assert_eq!(child["parent_id"], parent["id"]);
    assert_eq!(
        (
            child["line"].as_str(),
            child["class"].as_str(),
            child["seat"].as_str(),
            child["outcome"].as_str(),
            child["hangup_by"].as_str()
        ),
        (
            Some("110"),
            Some("emergency"),
            Some("8021"),
            Some("answered"),
            Some("caller")
        ),
        "{child}"
    );
    assert_eq!(child["sip_call_id"], parent["sip_call_id"]);

    // Three recordings: the 12345 part (8006's voice), the consultation and
    // the 110 part (8021's voice, after the re-INVITE), each under its root.
    let first = recording_file(&h, "recordings", &parent);
    let consult_wav = recording_file(&h, "recordings-emergency", &consultation);
    let second = recording_file(&h, "recordings-emergency", &child);
    for f in [&first, &consult_wav, &second] {
        assert!(f.exists(), "{f:?}");
    }
    let (caller1, _, secs1) = channels(&first);
    assert!(
        peak(&caller1, 0.5, 4.5) > 1000,
        "the caller speaks in the 12345 recording"
    );
    let talk1 = parent["talk_ms"].as_f64().unwrap() / 1000.0;
    assert!(
        (secs1 - talk1).abs() < 0.3,
        "the 12345 recording ({secs1} s) covers its talk ({talk1} s)"
    );
    let (_, agent2, secs2) = channels(&second);
    let talk2 = child["talk_ms"].as_f64().unwrap() / 1000.0;
    assert!(
        talk2 > 8.0,
        "the 110 part lasts to the caller's hang-up: {child}"
    );
    assert!(
        (secs2 - talk2).abs() < 0.5,
        "the 110 recording ({secs2} s) covers its talk ({talk2} s)"
    );
    assert!(
        peak(&agent2, 0.5, 6.0) > 1000,
        "8021 is heard by the caller's call after the transfer"
    );
}

#[test]
fn an_agent_desktop_completes_an_attended_transfer_from_110_to_12345_through_the_api() {
    let h = Hotline::start(with_supervisors);
    let citizen_seat = Seat::start(
        &h,
        "8009",
        "127.0.0.9",
        "seat_answer_reinvite.xml",
        1,
        "-d 100",
    );
    // 8022 (PJSIP) answers a 110 call, talks 3 s, holds, consults 12345
    // (8009 answers), and waits: the desktop completes the transfer.
    let agent = pjsua_agent(&h, "8022", "127.0.0.22", "12345", 3.0, 60.0, "api");
    h.wait_for("8022 registered", Duration::from_secs(10), |h| {
        h.seat_state("8022")["state"]["state"] == "ready"
    });
    let caller = trunk(&h, "trunk_call_audio.xml", "110", 1, "-d 18000").spawn();
    let live = |h: &Hotline, direction: &str| -> Option<Value> {
        h.get("/api/calls/live")["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["direction"] == direction)
            .cloned()
    };
    h.wait_for("the consultation answered", Duration::from_secs(15), |h| {
        live(h, "internal").is_some_and(|c| c["state"] == "connected")
    });
    let consultation = live(&h, "internal").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = live(&h, "inbound").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_secs(2));
    let (status, body) = post_as(
        &h,
        SUPERVISOR_110,
        &format!("/api/calls/{first}/transfer"),
        json!({ "to": consultation, "by": "desktop of 8022" }),
    );
    assert_eq!(status, 202, "{body}");
    let second = body["call"].as_str().unwrap().to_string();
    assert_ne!(second, first, "110 to 12345: a new record");

    let out = agent.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the PJSIP agent: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = caller.wait_with_output().unwrap();
    assert!(out.status.success(), "the caller's SIPp");
    citizen_seat.finish();
    h.wait_for("three ended records", Duration::from_secs(15), |h| {
        let calls = h.calls(5);
        calls.len() == 3
            && calls
                .iter()
                .all(|c| !c["outcome"].is_null() && !c["recording"].is_null())
    });
    let child = h.get(&format!("/api/calls/{second}"))["call"].clone();
    assert_eq!(
        (
            child["line"].as_str(),
            child["class"].as_str(),
            child["seat"].as_str(),
            child["parent_id"].as_str(),
            child["outcome"].as_str()
        ),
        (
            Some("12345"),
            Some("non_emergency"),
            Some("8009"),
            Some(first.as_str()),
            Some("answered")
        ),
        "{child}"
    );
    let parent = h.get(&format!("/api/calls/{first}"));
    assert_eq!(parent["call"]["hangup_by"], "transfer", "{parent}");
    assert_eq!(parent["children"], json!([second]));
    let (_, agent_voice, secs) = channels(&recording_file(&h, "recordings", &child));
    assert!(
        secs > 5.0,
        "the 12345 part is recorded to the caller's hang-up ({secs} s)"
    );
    assert!(
        peak(&agent_voice, 0.5, 5.0) > 1000,
        "8009 is heard after the transfer"
    );
}
