//! The live view against a running hotline: `GET /api/stats/live`, the
//! Server-Sent Events stream (read as a browser's EventSource would) and
//! the wallboard page, with SIPp seats and calls changing what they show.

mod common;

use common::*;
use serde_json::Value;
use std::io::BufRead;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Reads `event: live` documents from the stream on a thread of its own.
fn subscribe(url: &str) -> mpsc::Receiver<Value> {
    let resp = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
        .get(url)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "the stream opens");
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut event = String::new();
        for line in std::io::BufReader::new(resp).lines() {
            let Ok(line) = line else { return };
            if let Some(name) = line.strip_prefix("event: ") {
                event = name.to_string();
            } else if let Some(data) = line.strip_prefix("data: ")
                && event == "live"
                && tx.send(serde_json::from_str(data).unwrap()).is_err()
            {
                return;
            }
        }
    });
    rx
}

/// The first document from `rx` within `within` for which `f` holds.
fn next_where(rx: &mpsc::Receiver<Value>, within: Duration, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(v) if f(&v) => return v,
            Ok(_) => {}
            Err(_) => panic!("no matching live event within {within:?}"),
        }
    }
}

fn seat<'a>(doc: &'a Value, class: &str, ext: &str) -> Option<&'a Value> {
    doc[class]["seats"]
        .as_array()?
        .iter()
        .find(|s| s["extension"] == ext)
}

#[test]
fn the_stream_shows_a_seat_and_a_waiting_call_within_a_second_and_keeps_emergency_apart() {
    let h = Hotline::start(|c| c);
    // The admin sees both panels (anonymous readers see 12345 only).
    let rx = subscribe(&format!("{}/api/stats/stream?token={ADMIN_TOKEN}", h.http));
    let first = rx
        .recv_timeout(Duration::from_secs(2))
        .expect("a document at once");
    assert_eq!(first["non_emergency"]["class"], "non_emergency");
    let queues = |doc: &Value, class: &str| -> Vec<String> {
        doc[class]["queues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(queues(&first, "non_emergency"), ["citizen"]);
    assert_eq!(queues(&first, "emergency"), ["emergency"]);
    assert_eq!(
        first["non_emergency"]["seats"].as_array().unwrap().len(),
        20,
        "seats 8001-8020"
    );
    assert_eq!(
        first["emergency"]["seats"].as_array().unwrap().len(),
        10,
        "seats 8021-8030"
    );
    assert!(
        seat(&first, "non_emergency", "8021").is_none(),
        "an emergency seat is only in its panel"
    );

    // A seat registers: ready on the board within a second.
    let registered = Instant::now();
    let port = free_port_on("127.0.0.45");
    Sipp::new("seat_register.xml", "127.0.0.45", port, h.phones)
        .seat("8014", "demo-8014")
        .arg("-m 1 -timeout 10s")
        .run_ok();
    let doc = next_where(&rx, Duration::from_secs(3), |d| {
        seat(d, "non_emergency", "8014").is_some_and(|s| s["registered"] == true)
    });
    assert!(
        registered.elapsed() < Duration::from_millis(1500),
        "shown {:?} after the REGISTER began",
        registered.elapsed()
    );
    assert_eq!(
        seat(&doc, "non_emergency", "8014").unwrap()["state"]["state"],
        "ready"
    );

    // An emergency call with nobody to take it waits in the emergency panel only.
    let mut caller = trunk(&h, "trunk_cancel.xml", "110", 1, "-d 3000").spawn();
    let doc = next_where(&rx, Duration::from_secs(3), |d| {
        d["emergency"]["waiting"] == 1
    });
    assert_eq!(doc["non_emergency"]["waiting"], 0);
    assert_eq!(doc["emergency"]["calls"][0]["line"], "110");
    assert!(doc["non_emergency"]["calls"].as_array().unwrap().is_empty());
    caller.wait().unwrap();
    next_where(&rx, Duration::from_secs(3), |d| {
        d["emergency"]["waiting"] == 0
    });

    // Today's figures count it, in the emergency panel only, as the
    // reports do.
    let doc = next_where(&rx, Duration::from_secs(3), |d| {
        d["emergency"]["today"]["lines"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    });
    let police = &doc["emergency"]["today"]["lines"][0];
    assert_eq!(
        (&police["line"], &police["offered"], &police["answered"]),
        (
            &serde_json::json!("110"),
            &serde_json::json!(1),
            &serde_json::json!(0)
        )
    );
    assert!(
        doc["non_emergency"]["today"]["lines"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let report = h.get("/api/reports?by=line");
    let row = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["line"] == "110")
        .cloned()
        .unwrap();
    assert_eq!(
        row["offered"], police["offered"],
        "the wallboard and the report agree"
    );

    let live = h.get("/api/stats/live");
    assert_eq!(live["emergency"]["waiting"], 0);
    assert!(live["at_ms"].as_i64().unwrap() > 0);
}

#[test]
fn the_wallboard_page_is_open_and_the_stream_takes_a_token_in_its_url() {
    let h = Hotline::start(|c| c.replace("anonymous = [\"read\"]", "anonymous = []"));
    let client = reqwest::blocking::Client::new();
    let page = client.get(format!("{}/", h.http)).send().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().unwrap();
    assert!(
        html.contains("new EventSource(\"/api/stats/stream\""),
        "the page listens to the stream"
    );

    assert_eq!(
        client
            .get(format!("{}/api/stats/live", h.http))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        client
            .get(format!("{}/api/stats/stream", h.http))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let live = client
        .get(format!(
            "{}/api/stats/live?token=demo-ticket-token-change-me",
            h.http
        ))
        .send()
        .unwrap();
    assert_eq!(live.status().as_u16(), 200, "a read token in the URL");
    let rx = subscribe(&format!(
        "{}/api/stats/stream?token=demo-admin-token-change-me",
        h.http
    ));
    rx.recv_timeout(Duration::from_secs(2)).expect("a document");
    // Only the stats take a token in the URL.
    let calls = client
        .get(format!(
            "{}/api/calls?token=demo-admin-token-change-me",
            h.http
        ))
        .send()
        .unwrap();
    assert_eq!(calls.status().as_u16(), 401);
}
