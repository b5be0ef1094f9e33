//! Emergency lines on shared infrastructure, kept apart and first: a
//! flood of 12345 calls beyond their share of the lines is refused while
//! 110 calls still reach the emergency seats, no slower than without it.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

/// The 110 calls: id, set-up time (offer to answer, ms) and seat.
fn emergency_calls(h: &Hotline) -> Vec<(String, i64, String)> {
    h.calls(1000)
        .iter()
        .filter(|c| c["line"] == "110" && !c["outcome"].is_null())
        .map(|c| {
            assert_eq!(
                c["outcome"], "answered",
                "every emergency call is answered: {c}"
            );
            (
                c["id"].as_str().unwrap().to_string(),
                c["wait_ms"].as_i64().unwrap(),
                c["seat"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn summary(waits: &[i64]) -> String {
    let mut w = waits.to_vec();
    w.sort();
    let mean = w.iter().sum::<i64>() as f64 / w.len().max(1) as f64;
    format!(
        "{} calls, set-up mean {mean:.0} ms, median {} ms, max {} ms",
        w.len(),
        w[w.len() / 2],
        w[w.len() - 1]
    )
}

#[test]
fn a_citizen_flood_at_three_times_its_share_is_refused_and_emergency_calls_still_reach_emergency_seats()
 {
    // 12 lines, 4 held for emergency: 12345 gets 8 calls at once.
    // The emergency seat takes its next call at once (no wrap-up), so
    // that 110 calls queue behind each other as little as possible.
    let h = Hotline::start(|c| {
        without_media(c).replace("wrapup_secs = 3", "wrapup_secs = 0")
            + "\n[capacity]\nmax_calls = 12\nreserved_emergency = 4\n"
    });
    let seat = Seat::start(&h, "8021", "127.0.0.46", "seat_answer.xml", 20, "-d 100");

    // Ten 110 calls without a flood, one a second, 300 ms each.
    trunk(&h, "trunk_call.xml", "110", 10, "-r 1 -d 300").run_ok();
    h.wait_for("the calm calls recorded", Duration::from_secs(10), |h| {
        emergency_calls(h).len() == 10
    });
    let calm = emergency_calls(&h);

    // 12345 at 8 calls/s, each caller waiting 3 s: 24 at once offered, three
    // times the 8 its share allows. Then ten more 110 calls in the middle of it.
    let flood_sipp = trunk(
        &h,
        "trunk_wait_or_busy.xml",
        "12345",
        120,
        "-r 8 -d 3000 -l 40",
    );
    let flood = flood_sipp.spawn();
    std::thread::sleep(Duration::from_secs(3));
    trunk(&h, "trunk_call.xml", "110", 10, "-r 1 -d 300").run_ok();
    let out = flood.wait_with_output().unwrap();
    flood_sipp.check(&out, true);
    seat.finish();
    h.wait_for(
        "every call recorded as ended",
        Duration::from_secs(10),
        |h| h.calls(1000).iter().all(|c| !c["outcome"].is_null()),
    );

    let all = emergency_calls(&h);
    assert_eq!(all.len(), 20);
    assert!(
        all.iter().all(|(_, _, seat)| seat == "8021"),
        "every emergency call reached the emergency seat: {all:?}"
    );
    let calm_waits: Vec<i64> = calm.iter().map(|(_, w, _)| *w).collect();
    let flood_waits: Vec<i64> = all
        .iter()
        .filter(|(id, _, _)| !calm.iter().any(|(c, _, _)| c == id))
        .map(|(_, w, _)| *w)
        .collect();
    assert_eq!(flood_waits.len(), 10);

    let citizens: Vec<Value> = h
        .calls(1000)
        .into_iter()
        .filter(|c| c["line"] == "12345")
        .collect();
    assert_eq!(citizens.len(), 120);
    let refused = citizens
        .iter()
        .filter(|c| c["outcome"] == "rejected")
        .count();
    assert!(
        citizens.iter().all(|c| c["seat"].is_null()),
        "no 12345 call reached a seat"
    );
    assert!(
        citizens
            .iter()
            .filter(|c| c["outcome"] == "rejected")
            .all(|c| c["reason"]
                .as_str()
                .unwrap()
                .contains("held for emergency lines")),
        "refused for capacity"
    );
    assert!(
        refused >= 50,
        "about two thirds of the flood is beyond the share: {refused} of 120 refused"
    );
    let max_waiting = citizens
        .iter()
        .filter(|c| c["outcome"] == "abandoned")
        .count();
    eprintln!(
        "12345 flood: {} offered, {refused} refused over capacity, {max_waiting} queued and gave up",
        citizens.len()
    );
    eprintln!("110 without the flood: {}", summary(&calm_waits));
    eprintln!("110 with the flood:    {}", summary(&flood_waits));
}

const TICKETS: &str = "demo-ticket-token-change-me";
const EMERGENCY: &str = "demo-emergency-token-change-me";

/// GET `path` with `token`: status and body.
fn get_as(h: &Hotline, token: &str, path: &str) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .get(format!("{}{path}", h.http))
        .bearer_auth(token)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

#[test]
fn a_12345_token_gets_403_on_every_emergency_call_recording_and_figure() {
    let h = Hotline::start(|c| c);
    // A 110 caller waits (its wait is recorded: record_wait) and gives up;
    // so does a 12345 caller.
    trunk(&h, "trunk_cancel.xml", "110", 1, "-d 2000").run_ok();
    trunk(&h, "trunk_cancel.xml", "12345", 1, "-d 1000").run_ok();
    h.wait_for(
        "both calls recorded, the 110 one with its recording",
        Duration::from_secs(15),
        |h| {
            let calls = h.calls(10);
            calls.len() == 2
                && calls
                    .iter()
                    .any(|c| c["line"] == "110" && !c["recording"].is_null())
        },
    );
    let calls = h.calls(10);
    let id = |line: &str| {
        calls.iter().find(|c| c["line"] == line).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (police, citizen) = (id("110"), id("12345"));

    // The ticket system (scope non_emergency) sees 12345 only.
    let (code, list) = get_as(&h, TICKETS, "/api/calls");
    assert_eq!(code, 200);
    let lines: Vec<&str> = list["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["line"].as_str().unwrap())
        .collect();
    assert_eq!(lines, ["12345"]);
    for path in [
        format!("/api/calls/{police}"),
        format!("/api/calls/{police}/recording"),
        format!("/api/calls/{police}/recording/accesses"),
        "/api/calls?class=emergency".to_string(),
    ] {
        let (code, body) = get_as(&h, TICKETS, &path);
        assert_eq!(code, 403, "{path}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("may not see emergency calls"),
            "{path}: {body}"
        );
    }
    assert_eq!(get_as(&h, TICKETS, &format!("/api/calls/{citizen}")).0, 200);
    let (_, live) = get_as(&h, TICKETS, "/api/stats/live");
    assert!(
        live["emergency"].is_null() && live["non_emergency"].is_object(),
        "{live}"
    );
    let (_, report) = get_as(&h, TICKETS, "/api/reports?by=line");
    assert!(
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["class"] == "non_emergency"),
        "{report}"
    );
    assert_eq!(get_as(&h, TICKETS, "/api/reports?mix_classes=true").0, 403);
    let (_, queues) = get_as(&h, TICKETS, "/api/queues");
    assert_eq!(queues["queues"].as_array().unwrap().len(), 1);
    let (_, seats) = get_as(&h, TICKETS, "/api/seats");
    assert_eq!(
        seats["seats"].as_array().unwrap().len(),
        20,
        "seats 8001-8020 only"
    );
    let (_, events) = get_as(&h, TICKETS, "/api/events");
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["queue"] != "emergency"),
        "{events}"
    );

    // The emergency desk sees the other side, and not 12345.
    let (_, list) = get_as(&h, EMERGENCY, "/api/calls");
    let lines: Vec<&str> = list["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["line"].as_str().unwrap())
        .collect();
    assert_eq!(lines, ["110"]);
    assert_eq!(
        get_as(&h, EMERGENCY, &format!("/api/calls/{citizen}")).0,
        403
    );
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/calls/{police}/recording", h.http))
        .bearer_auth(EMERGENCY)
        .header("X-Hotline-User", "operator 7")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        get_as(&h, EMERGENCY, "/api/outbox").0,
        403,
        "the outbox is for admins"
    );

    // Every access to the emergency recording is audited; a refused one never reached it.
    let (_, audit) = get_as(
        &h,
        ADMIN_TOKEN,
        &format!("/api/calls/{police}/recording/accesses"),
    );
    let who: Vec<&str> = audit["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["who"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["emergency-desk for operator 7"]);
    // The admin sees both sides.
    assert_eq!(
        get_as(&h, ADMIN_TOKEN, "/api/calls").1["calls"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn emergency_calls_events_reach_their_own_receiver_and_never_the_12345_ticket_system() {
    let emergency_port = free_port();
    let h = Hotline::start(|c| {
        c.replace("retry_max_secs = 600", "retry_max_secs = 2")
            + &format!(
                "\n[emergency_tickets]\nurl = \"http://127.0.0.1:{emergency_port}/events\"\nsecret = \"emergency-secret-0123\"\nretry_max_secs = 2\n"
            )
    });
    let tickets = common::receiver::Receiver::start(
        h.dir.path(),
        h.tickets_port,
        "demo-ticket-secret-change-me",
        "",
    );
    let dir = tempfile::tempdir().unwrap();
    let emergency =
        common::receiver::Receiver::start(dir.path(), emergency_port, "emergency-secret-0123", "");
    trunk(&h, "trunk_cancel.xml", "110", 1, "-d 1500").run_ok();
    trunk(&h, "trunk_cancel.xml", "12345", 1, "-d 1500").run_ok();
    h.wait_for(
        "each receiver has its call.ended",
        Duration::from_secs(20),
        |_| tickets.effective().len() == 1 && emergency.effective().len() == 1,
    );
    let line = |rx: &common::receiver::Receiver| {
        rx.effective()[0]["payload"]["call"]["line"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(line(&tickets), "12345");
    assert_eq!(line(&emergency), "110");
    assert!(emergency.effective()[0]["signature_ok"] == true);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        tickets
            .requests()
            .iter()
            .all(|r| r["payload"]["call"]["class"] != "emergency"),
        "{:?}",
        tickets.requests()
    );
    let outbox = h.get("/api/outbox");
    let sinks: Vec<(&str, &str)> = outbox["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["call_id"].as_str().unwrap(), e["sink"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sinks.iter().filter(|(_, s)| *s == "emergency").count(),
        1,
        "{sinks:?}"
    );
}

#[test]
fn emergency_recordings_go_under_their_own_root_and_are_deleted_after_their_retention() {
    let mut h = Hotline::start(|c| {
        c.replace(
            "root = \"recordings\"\n",
            "root = \"recordings\"\nemergency_root = \"emergency-recordings\"\nemergency_retention_days = 30\n",
        )
    });
    // A 110 caller waits (recorded: record_wait) and gives up.
    trunk(&h, "trunk_cancel.xml", "110", 1, "-d 1500").run_ok();
    h.wait_for(
        "the emergency call's recording",
        Duration::from_secs(15),
        |h| {
            h.calls(1)
                .first()
                .is_some_and(|c| !c["recording"].is_null())
        },
    );
    let call = h.calls(1).remove(0);
    let id = call["id"].as_str().unwrap().to_string();
    let rel = call["recording"]["path"].as_str().unwrap().to_string();
    let wav = h.dir.path().join("emergency-recordings").join(&rel);
    assert!(wav.is_file(), "under the emergency root: {}", wav.display());
    assert!(
        !h.dir.path().join("recordings").join(&rel).exists(),
        "not under the 12345 root"
    );
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/calls/{id}/recording", h.http))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "downloaded from its own root");

    // Thirty-one days later (the record's end moved back in the database):
    // the sweep at the next start deletes the file and says so.
    let db = h.dir.path().join("hotline.db");
    let script = format!(
        "import sqlite3; c = sqlite3.connect({:?}); c.execute(\"UPDATE calls SET ended_at_ms = ended_at_ms - 31*86400000 WHERE id = ?\", ({id:?},)); c.commit()",
        db.display().to_string()
    );
    assert!(
        std::process::Command::new("python3")
            .args(["-c", &script])
            .status()
            .unwrap()
            .success()
    );
    h.crash_and_restart();
    h.wait_for(
        "the recording marked deleted",
        Duration::from_secs(10),
        |h| !h.get(&format!("/api/calls/{id}"))["call"]["recording"]["deleted_at_ms"].is_null(),
    );
    assert!(!wav.exists(), "the file is gone");
    let (code, body) = h.get_status(&format!("/api/calls/{id}/recording"));
    assert_eq!(code, 410, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("retention"),
        "{body}"
    );
    let kept = h.get(&format!("/api/calls/{id}"));
    assert_eq!(
        kept["call"]["recording"]["sha256"], call["recording"]["sha256"],
        "the metadata stays"
    );
}
