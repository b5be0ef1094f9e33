//! Stopping hotline: SIGTERM ends it cleanly, with every record written.

mod common;

use common::*;
use hotline::store::{CallFilter, Store};
use std::time::Duration;

#[test]
fn sigterm_exits_cleanly_with_every_record_in_the_database() {
    let mut h = Hotline::start(|c| c);
    trunk(&h, "trunk_cancel.xml", "12345", 1, "-d 200").run_ok();
    trunk(&h, "trunk_refused.xml", "99999", 1, "")
        .var("CODE", "404")
        .run_ok();
    let status = h.terminate(Duration::from_secs(10));
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        tail(&h.log(), 30)
    );
    let url = format!("sqlite://{}/hotline.db", h.dir.path().display());
    let calls = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = Store::connect(&url).await.unwrap();
        store.list_calls(&CallFilter::default()).await.unwrap()
    });
    let mut outcomes: Vec<String> = calls
        .iter()
        .map(|c| format!("{} {}", c.line, c.outcome.unwrap()))
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["12345 abandoned", "99999 rejected"]);
    assert!(
        h.log().contains("store writer stopped"),
        "the writer flushed and stopped"
    );
}

/// The call records in the stopped hotline's database.
fn stored_calls(h: &Hotline) -> Vec<hotline::model::StoredCall> {
    let url = format!("sqlite://{}/hotline.db", h.dir.path().display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = Store::connect(&url).await.unwrap();
        store.list_calls(&CallFilter::default()).await.unwrap()
    })
}

fn with_drain(secs: u64) -> impl Fn(String) -> String {
    move |c: String| {
        c.replace(
            "name = \"hotline-demo\"\n",
            &format!("name = \"hotline-demo\"\ndrain_secs = {secs}\n"),
        )
    }
}

#[test]
fn sigterm_during_calls_refuses_new_ones_with_503_lets_active_ones_finish_and_flushes_everything() {
    let mut h = Hotline::start(with_drain(30));
    let seats = [
        Seat::start(
            &h,
            "8004",
            "127.0.0.14",
            "seat_answer_audio.xml",
            1,
            "-d 100",
        ),
        Seat::start(
            &h,
            "8005",
            "127.0.0.15",
            "seat_answer_audio.xml",
            1,
            "-d 100",
        ),
    ];
    // Two callers talk for 8 s each and hang up themselves.
    let callers = trunk(&h, "trunk_call_audio.xml", "12345", 2, "-d 8000 -r 10").spawn();
    h.wait_for("both seats on a call", Duration::from_secs(10), |h| {
        ["8004", "8005"]
            .iter()
            .all(|s| h.seat_state(s)["state"]["state"] == "on_call")
    });
    h.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    // Draining: the health check says so, a new call gets 503.
    let (code, health) = h.get_status("/api/health");
    assert_eq!(
        (code, health["status"].as_str()),
        (503, Some("stopping")),
        "{health}"
    );
    trunk(&h, "trunk_refused.xml", "12345", 1, "")
        .var("CODE", "503")
        .run_ok();
    // The calls in progress finish as their callers decide.
    let out = callers.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the callers' SIPp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for s in seats {
        s.finish();
    }
    let status = h.wait_exit(Duration::from_secs(20));
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        tail(&h.log(), 30)
    );
    assert!(
        h.log().contains("drained: no call in progress"),
        "{}",
        tail(&h.log(), 30)
    );
    let calls = stored_calls(&h);
    assert_eq!(
        calls.len(),
        2,
        "the refused call never became one: {calls:?}"
    );
    for c in &calls {
        assert_eq!(
            (c.outcome, c.hangup_by),
            (
                Some(hotline::model::Outcome::Answered),
                Some(hotline::model::HangupBy::Caller)
            ),
            "{c:?}"
        );
        assert!(c.talk_ms >= 7_000, "talked to the end: {c:?}");
        let rec = c
            .media
            .recording
            .as_ref()
            .expect("the recording was finished and attached before exit");
        assert!(rec.duration_ms >= 7_000, "{rec:?}");
    }
}

#[test]
fn calls_still_in_progress_at_the_drain_deadline_are_hung_up_with_the_reason_recorded() {
    let mut h = Hotline::start(with_drain(2));
    let seat = Seat::start(
        &h,
        "8006",
        "127.0.0.16",
        "seat_answer_audio.xml",
        1,
        "-d 100",
    );
    // The caller would talk for ever: hotline hangs up (the scenario
    // expects hotline's BYE).
    let caller = trunk(&h, "trunk_call_agent_hangup.xml", "12345", 1, "").spawn();
    h.wait_for("8006 on the call", Duration::from_secs(10), |h| {
        h.seat_state("8006")["state"]["state"] == "on_call"
    });
    h.signal("TERM");
    let status = h.wait_exit(Duration::from_secs(20));
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        tail(&h.log(), 30)
    );
    let out = caller.wait_with_output().unwrap();
    assert!(out.status.success(), "the caller got hotline's BYE");
    seat.finish();
    let calls = stored_calls(&h);
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(
        (c.outcome, c.hangup_by),
        (
            Some(hotline::model::Outcome::Answered),
            Some(hotline::model::HangupBy::System)
        )
    );
    assert!(
        c.reason
            .as_deref()
            .is_some_and(|r| r.contains("drain_secs")),
        "{c:?}"
    );
    assert!(
        c.media.recording.is_some(),
        "the recording was finished before exit: {c:?}"
    );
}
