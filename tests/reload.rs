//! Live reload through the real binary (issue 7, and issue 6's special
//! line opened while running): SIGHUP and `POST /api/reload` put a new
//! line, queue and seat in force while SIPp calls run on other lines, none
//! of which drops; a bad config is refused with its file, key and reason
//! and the running one stays.

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// An epidemic hotline opened in a hurry: its line, its queue (class
/// non_emergency) and its seat.
const EPIDEMIC: &str = r#"
[[lines]]
number = "12349"
queue = "epidemic"
class = "non_emergency"
tag = "epidemic"

[[queues]]
name = "epidemic"
class = "non_emergency"
wrapup_secs = 0

[[seats]]
extension = "8031"
password = "demo-8031"
queues = [{ queue = "epidemic" }]
"#;

fn config_text(h: &Hotline) -> String {
    std::fs::read_to_string(&h.config_path).unwrap()
}

fn write_config(h: &Hotline, text: &str) {
    std::fs::write(&h.config_path, text).unwrap();
}

/// POST /api/reload with `token`: status and body.
fn reload_as(h: &Hotline, token: &str) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/reload", h.http))
        .bearer_auth(token)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

/// The records of `line`, all ended.
fn ended_on(h: &Hotline, line: &str) -> Vec<Value> {
    h.calls(1000)
        .into_iter()
        .filter(|c| c["line"] == line && !c["outcome"].is_null())
        .collect()
}

fn live_lines(h: &Hotline) -> Vec<String> {
    h.get("/api/calls/live")["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["line"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn sighup_adds_a_line_while_calls_run_on_others_none_drops_and_the_new_line_answers() {
    let h = Hotline::start(|c| without_media(c).replace("wrapup_secs = 5", "wrapup_secs = 0"));
    // Seat phones answering as many calls as come (stopped at the end).
    let seats: Vec<Seat> = ["8001", "8002", "8003", "8004"]
        .iter()
        .map(|ext| Seat::start(&h, ext, "127.0.0.71", "seat_answer.xml", 1000, "-d 200"))
        .collect();
    let police = Seat::start(&h, "8021", "127.0.0.72", "seat_answer.xml", 1000, "-d 200");

    // A 110 call talking for 8 s across the reload; twelve 12345 calls,
    // 3 s each, two a second, at most four at once.
    let emergency = trunk(&h, "trunk_call.xml", "110", 1, "-d 8000");
    let emergency_run = emergency.spawn();
    let citizens = trunk(&h, "trunk_call.xml", "12345", 12, "-r 2 -l 4 -d 3000");
    let citizens_run = citizens.spawn();
    h.wait_for(
        "the 110 call and 12345 calls talking",
        Duration::from_secs(15),
        |h| {
            let lines = live_lines(h);
            lines.contains(&"110".to_string())
                && lines.iter().filter(|l| *l == "12345").count() >= 2
        },
    );

    // The epidemic line is opened: the file is rewritten, SIGHUP.
    write_config(&h, &(config_text(&h) + EPIDEMIC));
    let reloaded_at = Instant::now();
    h.signal("HUP");
    h.wait_for("the reload's log lines", Duration::from_secs(10), |h| {
        let log = h.log();
        log.contains("reload: line 12349 added (queue epidemic, class non_emergency, tag epidemic)")
            && log.contains(
                "reload: queue epidemic added (class non_emergency, strategy longest_idle)",
            )
            && log.contains("reload: seat 8031 added (queues epidemic)")
    });
    assert!(
        live_lines(&h).contains(&"110".to_string()),
        "the emergency call is still on after the reload"
    );

    // The new seat registers and the new line is answered.
    let epidemic_seat = Seat::start(&h, "8031", "127.0.0.73", "seat_answer.xml", 1, "-d 200");
    trunk(&h, "trunk_call.xml", "12349", 1, "-d 1000").run_ok();
    epidemic_seat.finish();

    // SIPp's own counts: every call of the runs begun before the reload succeeded.
    let out = citizens_run.wait_with_output().unwrap();
    citizens.check(&out, true);
    let out = emergency_run.wait_with_output().unwrap();
    emergency.check(&out, true);
    assert!(
        reloaded_at.elapsed() > Duration::from_secs(1),
        "the calls ran on after the reload"
    );
    for mut s in seats.into_iter().chain([police]) {
        let _ = s.child.kill();
        let _ = s.child.wait();
    }

    h.wait_for(
        "every call recorded as ended",
        Duration::from_secs(15),
        |h| {
            ended_on(h, "12345").len() == 12
                && ended_on(h, "110").len() == 1
                && ended_on(h, "12349").len() == 1
        },
    );
    for c in ended_on(&h, "12345") {
        assert_eq!(
            (c["outcome"].as_str(), c["hangup_by"].as_str()),
            (Some("answered"), Some("caller")),
            "{c}"
        );
    }
    let police_call = &ended_on(&h, "110")[0];
    assert_eq!(
        (
            police_call["outcome"].as_str(),
            police_call["seat"].as_str(),
            police_call["class"].as_str()
        ),
        (Some("answered"), Some("8021"), Some("emergency"))
    );
    assert_eq!(police_call["hangup_by"], "caller");
    assert!(
        police_call["talk_ms"].as_i64().unwrap() >= 7_500,
        "talked its 8 s through the reload: {police_call}"
    );
    let epidemic = &ended_on(&h, "12349")[0];
    assert_eq!(epidemic["outcome"], "answered");
    assert_eq!(epidemic["seat"], "8031");
    assert_eq!(epidemic["queue"], "epidemic");
    assert_eq!(epidemic["class"], "non_emergency");
    assert_eq!(epidemic["tag"], "epidemic");
}

#[test]
fn the_api_refuses_a_bad_config_with_file_key_and_reason_keeps_the_old_one_and_applies_a_good_one()
{
    const DESK: &str = "desk-token-0123456789";
    let h = Hotline::start(|c| {
        c.replace(
            "tokens = [\n",
            "tokens = [\n  { name = \"desk\", token = \"desk-token-0123456789\", access = [\"read\", \"write\"], scope = \"non_emergency\" },\n",
        )
    });
    let good = config_text(&h);
    let path = h.config_path.display().to_string();

    // Only an admin may reload: both sides' lines change with it.
    let (code, body) = reload_as(&h, DESK);
    assert_eq!(code, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("scope = \"admin\""),
        "{body}"
    );
    assert_eq!(
        reload_as(&h, "demo-ticket-token-change-me").0,
        403,
        "no write access"
    );

    // An emergency line answered by the 12345 queue's seats.
    write_config(
        &h,
        &(good.clone()
            + "\n[[lines]]\nnumber = \"112\"\nqueue = \"citizen\"\nclass = \"emergency\"\n"),
    );
    let (code, body) = reload_as(&h, ADMIN_TOKEN);
    assert_eq!(code, 422, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "{path}: lines[6].class: line is emergency but queue \"citizen\" is non_emergency"
        )),
        "{body}"
    );
    assert_eq!(body["key"], "lines[6].class");
    assert_eq!(body["file"], path.as_str());
    assert!(
        h.log().contains(&format!("reload refused: {error}")),
        "the log says it too"
    );

    // A syntax error, and a key that needs a restart.
    write_config(&h, &(good.clone() + "\n[[lines]\n"));
    let (code, body) = reload_as(&h, ADMIN_TOKEN);
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["key"], "(syntax)");
    let moved = good.replace(
        &h.http.replace("http://", "listen = \""),
        "listen = \"127.0.0.1:1",
    );
    assert_ne!(moved, good);
    write_config(&h, &(moved + EPIDEMIC));
    let (code, body) = reload_as(&h, ADMIN_TOKEN);
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["key"], "http.listen");
    assert!(
        body["reason"].as_str().unwrap().contains("needs a restart"),
        "{body}"
    );

    // The running config stays whole: 12345 is answered, 12349 unknown,
    // seat 8031 cannot register.
    let seat = Seat::start(&h, "8001", "127.0.0.74", "seat_answer.xml", 1, "-d 200");
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 500").run_ok();
    seat.finish();
    trunk(&h, "trunk_refused.xml", "12349", 1, "")
        .var("CODE", "404")
        .run_ok();
    assert!(h.seat_state("8031").is_null());

    // A good one: the epidemic line, and a new token usable at once.
    let with_token =
        good.replace("tokens = [\n", "tokens = [\n  { name = \"epidemic-desk\", token = \"epidemic-token-0123456789\", access = [\"read\"] },\n");
    write_config(&h, &(with_token.clone() + EPIDEMIC));
    let (code, body) = reload_as(&h, ADMIN_TOKEN);
    assert_eq!(code, 200, "{body}");
    let changed: Vec<&str> = body["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        changed,
        [
            "line 12349 added (queue epidemic, class non_emergency, tag epidemic)",
            "queue epidemic added (class non_emergency, strategy longest_idle)",
            "seat 8031 added (queues epidemic)",
            "[http] changed: token epidemic-desk added",
        ]
    );
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/queues", h.http))
        .bearer_auth("epidemic-token-0123456789")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the new token works at once");
    let queues: Value = r.json().unwrap();
    assert!(
        queues["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["name"] == "epidemic"),
        "{queues}"
    );

    // The new line answers (its caller hears the welcome prompt first).
    let seat = Seat::start(&h, "8031", "127.0.0.75", "seat_answer.xml", 2, "-d 200");
    trunk(&h, "trunk_call.xml", "12349", 1, "-d 500").run_ok();

    // Nothing changed since: "no changes".
    let (code, body) = reload_as(&h, ADMIN_TOKEN);
    assert_eq!(
        (code, body["changed"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );
    assert!(h.log().contains("reload: no changes"));

    // The special line is closed again while its seat talks: the call
    // ends normally, then the seat is gone.
    let talking = trunk(&h, "trunk_call.xml", "12349", 1, "-d 4000");
    let talking_run = talking.spawn();
    h.wait_for("8031 on the call", Duration::from_secs(10), |h| {
        h.seat_state("8031")["state"]["state"] == "on_call"
    });
    write_config(&h, &with_token);
    let (code, body) = reload_as(&h, ADMIN_TOKEN);
    assert_eq!(code, 200, "{body}");
    let pending: Vec<&str> = body["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        pending.contains(&"seat 8031 is on a call: removed when it ends"),
        "{body}"
    );
    assert_eq!(h.seat_state("8031")["retiring"], true);
    let out = talking_run.wait_with_output().unwrap();
    talking.check(&out, true);
    seat.finish();
    h.wait_for(
        "seat 8031 gone after its call",
        Duration::from_secs(10),
        |h| h.seat_state("8031").is_null(),
    );
    assert!(h.log().contains("reload: seat 8031 has left"));
    trunk(&h, "trunk_refused.xml", "12349", 1, "")
        .var("CODE", "404")
        .run_ok();
    // Two refused as unknown (before the line was opened, after it was closed), two answered.
    h.wait_for("the calls recorded", Duration::from_secs(10), |h| {
        ended_on(h, "12349").len() == 4
    });
    let answered: Vec<Value> = ended_on(&h, "12349")
        .into_iter()
        .filter(|c| c["outcome"] == "answered")
        .collect();
    assert_eq!(
        answered.len(),
        2,
        "both calls to the epidemic line were answered"
    );
    assert!(
        answered
            .iter()
            .any(|c| c["talk_ms"].as_i64().unwrap() >= 3_500),
        "the last one talked its 4 s through the reload"
    );
}
