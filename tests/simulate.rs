//! `hotline simulate` against a running hotline: its simulated seat phones
//! register and answer, its callers dial the trunk with RTP, and what it
//! reports agrees with what hotline recorded.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn simulated_seats_and_callers_drive_hotline_and_the_report_matches_its_records() {
    let h = Hotline::start(|c| c);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["simulate", "--config"])
        .arg(&h.config_path)
        .args([
            "--lines",
            "12345=900/h,110=240/h",
            "--seats",
            "8001-8003,8021",
            "--duration-secs",
            "12",
        ])
        .args([
            "--talk-secs",
            "3",
            "--answer-secs",
            "1",
            "--patience-secs",
            "30",
            "--seed",
            "11",
        ])
        .output()
        .expect("run hotline simulate");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "simulate failed:\n{stderr}\n{stdout}");
    assert!(stderr.contains("4 seat phones registered"), "{stderr}");
    assert!(stderr.contains("seed 11"), "{stderr}");

    // The report: one block per queue, observed beside Erlang C and A.
    let offered = |queue: &str| -> u64 {
        let block = stdout
            .split("\nqueue ")
            .find(|b| b.starts_with(queue))
            .unwrap_or_else(|| panic!("no {queue} block:\n{stdout}"));
        let row = block
            .lines()
            .find(|l| l.trim_start().starts_with("observed"))
            .expect("an observed row");
        assert!(
            block.contains("Erlang C") && block.contains("Erlang A"),
            "{block}"
        );
        row.split("(")
            .next()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (citizen, emergency) = (offered("citizen"), offered("emergency"));
    assert!(
        citizen > 0 && emergency > 0,
        "calls on both queues:\n{stdout}"
    );
    assert!(
        stdout.contains("(0 abandoned, 0 rejected, 0 failed)"),
        "enough seats for all: \n{stdout}"
    );

    // hotline recorded every one of them, answered, with media both ways.
    h.wait_for(
        "every simulated call recorded as ended",
        Duration::from_secs(10),
        |h| {
            let calls = h.calls(1000);
            calls.len() as u64 == citizen + emergency
                && calls.iter().all(|c| !c["outcome"].is_null())
        },
    );
    let calls = h.calls(1000);
    let on = |line: &str| calls.iter().filter(|c| c["line"] == line).count() as u64;
    assert_eq!((on("12345"), on("110")), (citizen, emergency));
    assert!(
        calls
            .iter()
            .all(|c| c["outcome"] == "answered" && c["hangup_by"] == "caller"),
        "{calls:?}"
    );
    h.wait_for(
        "media statistics on every call",
        Duration::from_secs(10),
        |h| h.calls(1000).iter().all(|c| !c["media_stats"].is_null()),
    );
    for c in h.calls(1000) {
        for leg in ["caller", "agent"] {
            assert!(
                c["media_stats"][leg]["packets"].as_u64().unwrap_or(0) > 20,
                "{leg} RTP on {}: {}",
                c["id"],
                c["media_stats"]
            );
        }
    }
    // The simulated phones unregistered at the end.
    h.wait_for("seats unregistered", Duration::from_secs(5), |h| {
        h.seat_state("8001")["registered"] == false
    });
}
