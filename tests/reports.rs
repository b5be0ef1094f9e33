//! Reports from real calls: SIPp calls through a running hotline (demo
//! config, its database a relative `sqlite://hotline.db` in the service's
//! working directory), then `hotline report --format json --config ...`
//! run in that directory, and `GET /api/reports`, must count them as
//! docs/metrics.md says.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// Runs `hotline report` in the service's working directory.
fn report(h: &Hotline, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("report")
        .arg("--config")
        .arg(&h.config_path)
        .args(["--format", "json"])
        .args(args)
        .current_dir(h.dir.path())
        .output()
        .expect("run hotline report");
    assert!(
        out.status.success(),
        "hotline report {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The row whose key `key` is `value` and whose class is `class`.
fn row<'a>(r: &'a Value, class: &str, key: &str, value: &str) -> &'a Value {
    r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["class"] == class && (key.is_empty() || row[key] == value))
        .unwrap_or_else(|| panic!("no {class} row with {key} = {value}: {r:#}"))
}

fn counts(row: &Value) -> [i64; 6] {
    [
        "offered",
        "answered",
        "abandoned",
        "short_abandoned",
        "overflowed",
        "in_progress",
    ]
    .map(|k| row[k].as_i64().unwrap_or(-1))
}

fn wait_ended(h: &Hotline, n: usize) {
    h.wait_for(
        &format!("{n} ended call records"),
        Duration::from_secs(20),
        |h| {
            let calls = h.calls(n + 1);
            calls.len() == n && calls.iter().all(|c| !c["outcome"].is_null())
        },
    );
}

#[test]
fn hotline_report_counts_real_calls_as_docs_metrics_md_says() {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 60_000;
    let h = Hotline::start(|c| {
        // The database where the demo has it: relative to the service's
        // working directory. Citizen calls overflow after 2 s to a
        // back-office queue nobody staffs.
        let dir_db = c[c.find("url = \"sqlite://").unwrap()..]
            .lines()
            .next()
            .unwrap()
            .to_string();
        c.replace(&dir_db, "url = \"sqlite://hotline.db\"")
            .replace("max_wait_secs = 600", "max_wait_secs = 2")
            .replacen(
                "when_timeout = \"reject\"",
                "when_timeout = \"overflow\"\noverflow_queue = \"backoffice\"",
                1,
            )
            + "\n[[queues]]\nname = \"backoffice\"\n\n[[seats]]\nextension = \"8099\"\npassword = \"demo-8099\"\n\
               queues = [{ queue = \"backoffice\" }]\n"
    });
    assert!(
        h.dir.path().join("hotline.db").exists(),
        "the database is in the working directory"
    );

    // Nobody logged in yet: a citizen hangs up after 0.5 s (short), another
    // after 5.5 s (overflowed at 2 s, then abandoned in backoffice: not short), an
    // emergency caller after 0.5 s (short).
    trunk(&h, "trunk_cancel.xml", "12345", 1, "-d 500").run_ok();
    trunk(&h, "trunk_cancel.xml", "12329", 1, "-d 5500").run_ok();
    trunk(&h, "trunk_cancel.xml", "119", 1, "-d 500").run_ok();
    // Then one answered call of each class.
    let seat = Seat::start(&h, "8001", "127.0.0.11", "seat_answer.xml", 1, "-d 300");
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 1000").run_ok();
    seat.finish();
    let seat = Seat::start(&h, "8021", "127.0.0.12", "seat_answer.xml", 1, "-d 300");
    trunk(&h, "trunk_call.xml", "110", 1, "-d 1000").run_ok();
    seat.finish();
    wait_ended(&h, 5);
    // Wrap-up (5 s citizen, 3 s emergency) over: every figure is final.
    h.wait_for(
        "both seats ready after wrap-up",
        Duration::from_secs(10),
        |h| {
            ["8001", "8021"]
                .iter()
                .all(|s| h.seat_state(s)["state"]["state"] == "ready")
        },
    );

    let from = started.to_string();
    let r = report(&h, &["--from", &from, "--by", "class"]);
    assert_eq!(r["by"], "class");
    assert_eq!(r["rows"].as_array().unwrap().len(), 2, "{r:#}");
    let ne = row(&r, "non_emergency", "", "");
    assert_eq!(counts(ne), [3, 1, 1, 1, 1, 0], "{ne:#}");
    assert_eq!(ne["answer_rate"], 0.5);
    assert_eq!(ne["service_level"].as_f64(), Some(1.0 / 3.0));
    let asa = ne["asa_ms"].as_i64().unwrap();
    assert!(
        (250..20_000).contains(&asa),
        "asa_ms {asa} includes the 300 ms of ringing"
    );
    let wrapup = ne["wrapup_ms"].as_i64().unwrap();
    assert!(
        (4_900..6_000).contains(&wrapup),
        "wrapup_ms {wrapup}: the citizen queue's 5 s"
    );
    assert_eq!(
        ne["aht_ms"],
        ne["talk_ms"].as_i64().unwrap() + wrapup,
        "one answered call: talk + wrap-up"
    );
    let em = row(&r, "emergency", "", "");
    assert_eq!(counts(em), [2, 1, 0, 1, 0, 0], "{em:#}");
    assert_eq!(em["answer_rate"], 1.0);
    assert_eq!(em["service_level"], 0.5);

    // By queue the overflowed call is offered in both queues.
    let r = report(&h, &["--from", &from, "--by", "queue"]);
    let citizen = row(&r, "non_emergency", "queue", "citizen");
    assert_eq!(counts(citizen), [3, 1, 0, 1, 1, 0], "{citizen:#}");
    assert_eq!(citizen["answer_rate"], 0.5);
    let back = row(&r, "non_emergency", "queue", "backoffice");
    assert_eq!(counts(back), [1, 0, 1, 0, 0, 0], "{back:#}");
    assert_eq!(back["answer_rate"], 0.0);

    let r = report(&h, &["--from", &from, "--by", "line"]);
    assert_eq!(
        counts(row(&r, "non_emergency", "line", "12345")),
        [2, 1, 0, 1, 0, 0]
    );
    assert_eq!(
        counts(row(&r, "non_emergency", "line", "12329")),
        [1, 0, 1, 0, 1, 0]
    );
    assert_eq!(
        counts(row(&r, "emergency", "line", "110")),
        [1, 1, 0, 0, 0, 0]
    );
    assert_eq!(
        counts(row(&r, "emergency", "line", "119")),
        [1, 0, 0, 1, 0, 0]
    );

    // The seats that answered, each in its class.
    let r = report(&h, &["--from", &from, "--by", "seat"]);
    let s1 = row(&r, "non_emergency", "seat", "8001");
    assert_eq!(s1["handled"], 1, "{s1:#}");
    assert!(s1["talk_ms"].as_i64().unwrap() >= 900, "{s1:#}");
    assert_eq!(row(&r, "emergency", "seat", "8021")["handled"], 1);

    // The API answers the same.
    let api = h.get(&format!("/api/reports?from={from}&by=class"));
    let cli = report(&h, &["--from", &from, "--by", "class"]);
    assert_eq!(api["rows"], cli["rows"]);
    let (status, body) = h.get_status("/api/reports?by=agent");
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("line, tag, class, queue, seat or interval"),
        "{body}"
    );
}
