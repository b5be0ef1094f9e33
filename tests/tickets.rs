//! Call events pushed to a ticket system: a real HTTP server (Python's
//! standard library, tests/receiver/ticket_receiver.py) that checks the
//! signature, deduplicates by Idempotency-Key and can be told to fail.

mod common;

use common::receiver::Receiver;
use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// The demo with quick retries: 1 s attempts, backoff from 1 s to 2 s.
fn quick_retries(c: String) -> String {
    c.replace("timeout_secs = 5 ", "timeout_secs = 1 ")
        .replace("retry_max_secs = 600", "retry_max_secs = 2")
}

#[test]
fn events_reach_a_failing_ticket_system_once_each_in_order_signed_and_name_the_ticket() {
    let h = Hotline::start(quick_retries);
    // 500, a timeout after taking effect, a dropped connection, 500 again:
    // then it accepts.
    let rx = Receiver::start(
        h.dir.path(),
        h.tickets_port,
        "demo-ticket-secret-change-me",
        "500,sleep,drop,500",
    );
    let seat = Seat::start(&h, "8001", "127.0.0.11", "seat_answer.xml", 1, "");
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 500").run_ok();
    seat.finish();
    let id = h.calls(1)[0]["id"].as_str().unwrap().to_string();
    h.wait_for(
        "both events to take effect",
        Duration::from_secs(30),
        |_| rx.effective().len() == 2,
    );
    let effective = rx.effective();
    let kinds: Vec<&str> = effective
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["call.answered", "call.ended"],
        "a call's events in order"
    );
    for e in &effective {
        assert_eq!(e["call"], id.as_str());
        assert_eq!(
            e["key"],
            format!("{id}:{}", e["type"].as_str().unwrap()),
            "Idempotency-Key is the event id"
        );
        assert_eq!(e["payload"]["schema"], "hotline.call-event");
        assert_eq!(e["payload"]["version"], 1);
    }
    let ended = &effective[1]["payload"]["call"];
    assert_eq!(
        (
            ended["outcome"].as_str(),
            ended["seat"].as_str(),
            ended["line"].as_str()
        ),
        (Some("answered"), Some("8001"), Some("12345"))
    );
    assert!(ended["talk_ms"].as_i64().unwrap() >= 400, "{ended}");
    let requests = rx.requests();
    assert!(
        requests.iter().all(|r| r["signature_ok"] == true),
        "every request signed right"
    );
    assert!(
        requests.iter().any(|r| r["duplicate"] == true),
        "the event sent again after the timeout was recognised: {requests:?}"
    );
    // The receiver's answer names the ticket: it is on the call.
    h.wait_for("the ticket id on the call", Duration::from_secs(10), |h| {
        h.calls(1)[0]["ticket_id"] == format!("T-{id}")
    });
    let outbox = h.get("/api/outbox");
    let states: Vec<&str> = outbox["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["delivered", "delivered"], "{outbox}");
}

#[test]
fn a_wrong_secret_dead_letters_the_events_with_the_reason_and_a_replay_delivers_them() {
    let h = Hotline::start(quick_retries);
    let rx = Receiver::start(
        h.dir.path(),
        h.tickets_port,
        "the-receivers-other-secret",
        "",
    );
    let seat = Seat::start(&h, "8002", "127.0.0.12", "seat_answer.xml", 1, "");
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 200").run_ok();
    seat.finish();
    h.wait_for("two dead events", Duration::from_secs(20), |h| {
        h.get("/api/outbox?state=dead")["events"]
            .as_array()
            .is_some_and(|e| e.len() == 2)
    });
    let dead = h.get("/api/outbox?state=dead");
    for e in dead["events"].as_array().unwrap() {
        let reason = e["last_error"].as_str().unwrap();
        assert!(
            reason.contains("401") && reason.contains("bad signature"),
            "the dead letter says why: {reason}"
        );
        assert_eq!(e["attempts"], 1, "a refusal is not retried");
    }
    assert!(rx.effective().is_empty());
    drop(rx);

    // The receiver is fixed (right secret): replaying delivers both.
    let rx = Receiver::start(
        h.dir.path(),
        h.tickets_port,
        "demo-ticket-secret-change-me",
        "",
    );
    // One through the API, the other with the CLI on the service's database.
    let dead_ids: Vec<&str> = dead["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let (code, body) = h.post(&format!("/api/outbox/{}/replay", dead_ids[0]), Value::Null);
    assert_eq!(code, 200, "{body}");
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args(["outbox", "--config", h.config_path.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let listed = cli(&["list", "--state", "dead"]);
    assert!(
        listed.contains(dead_ids[1]) && !listed.contains(dead_ids[0]) && listed.contains("401"),
        "{listed}"
    );
    assert!(cli(&["replay", "--all-dead"]).contains(&format!("{}\tpending", dead_ids[1])));
    h.wait_for("both events delivered", Duration::from_secs(20), |_| {
        rx.effective().len() == 2
    });
    let (code, _) = h.post("/api/outbox/no-such-event/replay", Value::Null);
    assert_eq!(code, 404);
}

#[test]
fn no_event_is_lost_or_needlessly_repeated_across_a_crash() {
    let mut h = Hotline::start(quick_retries);
    // Nothing listens yet: the events wait in the outbox.
    let seat = Seat::start(&h, "8003", "127.0.0.13", "seat_answer.xml", 1, "");
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 200").run_ok();
    seat.finish();
    h.wait_for("both events in the outbox", Duration::from_secs(10), |h| {
        h.get("/api/outbox?state=pending")["events"]
            .as_array()
            .is_some_and(|e| e.len() == 2)
    });
    h.crash_and_restart();
    let rx = Receiver::start(
        h.dir.path(),
        h.tickets_port,
        "demo-ticket-secret-change-me",
        "",
    );
    h.wait_for(
        "both events delivered after the restart",
        Duration::from_secs(30),
        |_| rx.effective().len() == 2,
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        rx.requests().len(),
        2,
        "delivered once each, nothing sent again: {:?}",
        rx.requests()
    );
}

#[test]
fn a_ticket_lists_its_calls_whether_the_ticket_system_named_it_or_the_api_linked_it() {
    let h = Hotline::start(quick_retries);
    let rx = Receiver::start(
        h.dir.path(),
        h.tickets_port,
        "demo-ticket-secret-change-me",
        "",
    );
    let seat = Seat::start(&h, "8004", "127.0.0.14", "seat_answer.xml", 2, "");
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 200").run_ok();
    let first = h.calls(1)[0]["id"].as_str().unwrap().to_string();
    let ticket = format!("T-{first}");
    h.wait_for(
        "the receiver's ticket id on the call",
        Duration::from_secs(20),
        |h| h.calls(1)[0]["ticket_id"] == ticket.as_str(),
    );
    // The citizen calls back about the same matter: the agent desktop links it.
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 200").run_ok();
    seat.finish();
    let second = h.calls(1)[0]["id"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    h.wait_for(
        "the second call's events delivered",
        Duration::from_secs(20),
        |_| rx.effective().len() == 4,
    );
    let (code, body) = h.put(
        &format!("/api/calls/{second}/ticket"),
        serde_json::json!({ "ticket_id": ticket }),
    );
    assert_eq!(code, 200, "{body}");
    let listed = h.get(&format!("/api/tickets/{ticket}/calls"));
    let ids: Vec<&str> = listed["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [first.as_str(), second.as_str()],
        "first call first: {listed}"
    );

    let (code, _) = h.put(
        "/api/calls/no-such-call/ticket",
        serde_json::json!({ "ticket_id": "X" }),
    );
    assert_eq!(code, 404);
    let (code, body) = h.put(
        &format!("/api/calls/{second}/ticket"),
        serde_json::json!({ "ticket": "X" }),
    );
    assert_eq!(code, 422, "an unknown field is refused: {body}");
    let (code, _) = h.put(
        &format!("/api/calls/{second}/ticket"),
        serde_json::json!({ "ticket_id": null }),
    );
    assert_eq!(code, 200);
    let listed = h.get(&format!("/api/tickets/{ticket}/calls"));
    assert_eq!(
        listed["calls"].as_array().unwrap().len(),
        1,
        "unlinked: {listed}"
    );
}

#[test]
fn a_tickets_recording_downloads_whole_or_by_range_and_every_download_is_audited() {
    let h = Hotline::start(quick_retries);
    let rx = Receiver::start(
        h.dir.path(),
        h.tickets_port,
        "demo-ticket-secret-change-me",
        "",
    );
    let seat = Seat::start(
        &h,
        "8005",
        "127.0.0.15",
        "seat_answer_audio.xml",
        1,
        "-d 100",
    );
    trunk(&h, "trunk_call_audio.xml", "12345", 1, "-d 2000").run_ok();
    seat.finish();
    h.wait_for("call.ended delivered", Duration::from_secs(20), |_| {
        rx.effective().len() == 2
    });
    let ended = &rx.effective()[1]["payload"]["call"];
    let id = ended["id"].as_str().unwrap().to_string();
    let url = ended["recording"]["url"]
        .as_str()
        .expect("call.ended carries the recording's link")
        .to_string();
    assert!(
        url.contains(&format!("/api/calls/{id}/recording?expires=")) && url.contains("&sig="),
        "a signed link: {url}"
    );
    // From the ticket to its calls to the recording.
    let calls = h.get(&format!("/api/tickets/T-{id}/calls"));
    assert_eq!(calls["calls"][0]["id"], id.as_str(), "{calls}");
    let sha = calls["calls"][0]["recording"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let size = calls["calls"][0]["recording"]["size_bytes"]
        .as_u64()
        .unwrap();

    let client = reqwest::blocking::Client::new();
    // The link opens the recording without a token; a tampered one does not,
    // nor does the bare URL.
    let bare = url.split('?').next().unwrap();
    assert_eq!(client.get(bare).send().unwrap().status().as_u16(), 401);
    assert_eq!(
        client
            .get(url.replace("&sig=", "&sig=0"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let later = url.replace("expires=", "expires=9");
    assert_eq!(
        client.get(&later).send().unwrap().status().as_u16(),
        401,
        "a longer life is not signed"
    );
    let whole = client
        .get(&url)
        .header("X-Hotline-User", "clerk 17")
        .send()
        .unwrap();
    assert_eq!(whole.status().as_u16(), 200);
    assert_eq!(
        whole.headers()["content-disposition"],
        format!("attachment; filename=\"{id}.wav\"").as_str()
    );
    let bytes = whole.bytes().unwrap();
    assert_eq!(bytes.len() as u64, size);
    assert_eq!(sha256_hex(&bytes), sha, "the file is the one on record");
    let part = client
        .get(bare)
        .bearer_auth(ADMIN_TOKEN)
        .header("Range", "bytes=0-43")
        .header("X-Hotline-User", "supervisor 9001")
        .send()
        .unwrap();
    assert_eq!(part.status().as_u16(), 206, "Range is honoured");
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 0-43/{size}").as_str()
    );
    let head = part.bytes().unwrap();
    assert_eq!(
        (head.len(), &head[..4], &head[8..12]),
        (44, &b"RIFF"[..], &b"WAVE"[..]),
        "the WAV header"
    );

    let audit = h.get(&format!("/api/calls/{id}/recording/accesses"));
    let who: Vec<(&str, Option<&str>)> = audit["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["who"].as_str().unwrap(), a["byte_range"].as_str()))
        .collect();
    assert_eq!(
        who,
        [
            ("signed link for clerk 17", None),
            ("demo-admin for supervisor 9001", Some("bytes=0-43"))
        ],
        "{audit}"
    );
    let (code, body) = h.get_status("/api/calls/no-such-call/recording");
    assert_eq!(code, 404, "{body}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn the_api_needs_a_token_for_recordings_and_changes_and_reads_are_open_as_configured() {
    let h = Hotline::start(|c| c);
    let client = reqwest::blocking::Client::new();
    let url = |p: &str| format!("{}{p}", h.http);
    let status = |r: reqwest::blocking::RequestBuilder| r.send().unwrap().status().as_u16();
    let state = serde_json::json!({ "state": "ready" });
    // The demo lets anyone read (anonymous = ["read"]), not change.
    assert_eq!(status(client.get(url("/api/calls"))), 200);
    assert_eq!(status(client.get(url("/api/health"))), 200);
    assert_eq!(
        status(client.put(url("/api/seats/8001/state")).json(&state)),
        401
    );
    assert_eq!(status(client.get(url("/api/outbox"))), 401);
    // A token it does not know, one without write, one with it.
    assert_eq!(
        status(
            client
                .put(url("/api/seats/8001/state"))
                .bearer_auth("not-a-token-of-ours")
                .json(&state)
        ),
        401
    );
    let r = client
        .put(url("/api/seats/8001/state"))
        .bearer_auth("demo-ticket-token-change-me")
        .json(&state)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let body: Value = r.json().unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("ticket-system"),
        "says which token: {body}"
    );
    assert_eq!(
        status(
            client
                .put(url("/api/seats/8001/state"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&state)
        ),
        200
    );

    // Without tokens in the config the API is open (hotline warns).
    let open = Hotline::start(|c| {
        let start = c.find("tokens = [").unwrap();
        let end = c.find("link_ttl_secs").unwrap();
        format!("{}{}", &c[..start], &c[end..])
    });
    let r = client
        .put(format!("{}/api/seats/8001/state", open.http))
        .json(&state)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
