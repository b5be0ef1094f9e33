//! Desk phones (issue 7) through the real binary on the demo config: a
//! SIPp seat phone's busy-lamp field follows another seat through a call,
//! and the provisioning files are fetched over HTTP (with and without the
//! secret) and written by `hotline provision`.

mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

const SECRET: &str = "demo-provisioning-secret-change-me";

/// The NOTIFYs SIPp received, in order, from its message trace:
/// (Subscription-State, dialog state or "" for none, version).
fn notifies(trace: &str) -> Vec<(String, String, String)> {
    trace
        .split("message received")
        .filter_map(|chunk| {
            let msg = chunk.split_once(":\n\n")?.1;
            msg.starts_with("NOTIFY ").then_some(msg)
        })
        .map(|msg| {
            let header = |name: &str| {
                msg.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            };
            let between = |a: &str, b: &str| {
                msg.split_once(a)
                    .and_then(|(_, rest)| rest.split_once(b))
                    .map(|(v, _)| v.to_string())
                    .unwrap_or_default()
            };
            let root = msg.split_once("<dialog-info").map_or("", |(_, r)| r);
            let version = root
                .split_once("version=\"")
                .and_then(|(_, r)| r.split_once('"'))
                .map(|(v, _)| v.to_string())
                .unwrap_or_default();
            (
                header("Subscription-State"),
                between("<state>", "</state>"),
                version,
            )
        })
        .collect()
}

#[test]
fn a_seats_busy_lamp_follows_another_seat_through_a_call() {
    let h = Hotline::start(|c| c);
    // The watched seat: rings, answers after 300 ms, the caller hangs up.
    let seat = Seat::start(&h, "8001", "127.0.0.11", "seat_answer.xml", 1, "-d 300");
    // The watcher registers like any seat phone, and takes a break so
    // that the call goes to 8001.
    let ip = "127.0.0.12";
    let port = free_port_on(ip);
    Sipp::new("seat_register.xml", ip, port, h.phones)
        .seat("8002", "demo-8002")
        .arg("-m 1 -timeout 10s")
        .run_ok();
    let (code, body) = h.put(
        "/api/seats/8002/state",
        json!({"state": "not_ready", "reason": "break"}),
    );
    assert_eq!(code, 200, "{body}");
    let trace = tempfile::tempdir().unwrap();
    let trace_file = trace.path().join("blf.log");
    let blf = Sipp::new("seat_subscribe_blf.xml", ip, port, h.phones)
        .seat("8002", "demo-8002")
        .arg(&format!(
            "-s 8001 -m 1 -timeout 30s -trace_msg -message_file {}",
            trace_file.display()
        ));
    let watcher = blf.spawn();
    h.wait_for("the BLF subscription", Duration::from_secs(10), |h| {
        h.log().contains("BLF subscription")
    });
    trunk(&h, "trunk_call.xml", "12345", 1, "-d 1000").run_ok();
    seat.finish();
    let out = watcher.wait_with_output().unwrap();
    blf.check(&out, true);
    let seen = notifies(&std::fs::read_to_string(&trace_file).unwrap());
    let states: Vec<(&str, &str)> = seen
        .iter()
        .map(|(sub, state, _)| (sub.split(';').next().unwrap_or_default(), state.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("active", ""),
            ("active", "early"),
            ("active", "confirmed"),
            ("active", "terminated"),
            ("terminated", ""),
        ],
        "{seen:?}"
    );
    let versions: Vec<&str> = seen.iter().map(|n| n.2.as_str()).collect();
    assert_eq!(versions, ["0", "1", "2", "3", "4"]);
    assert!(seen[0].0.starts_with("active;expires="), "{seen:?}");
}

/// A Yealink file's `key = value` lines.
fn yealink(text: &str) -> BTreeMap<String, String> {
    assert!(text.starts_with("#!version:1.0.0.1\n"), "{text}");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The text of `<name>` elements (no nesting, no escapes in these values).
fn p_value(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let (_, rest) = xml.split_once(&open)?;
    let (value, _) = rest.split_once(&format!("</{name}>"))?;
    Some(value.to_string())
}

fn fetch(url: &str, token: Option<&str>) -> (u16, String, String) {
    let mut req = reqwest::blocking::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().expect("GET");
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (r.status().as_u16(), ctype, r.text().unwrap_or_default())
}

const MAC_SEAT: &str = "\n[[seats]]\nextension = \"7001\"\npassword = \"pw-7001-long\"\nname = \"Desk 1\"\nmac = \"00:0B:82:01:02:AB\"\nqueues = [{ queue = \"citizen\" }]\n";

#[test]
fn provisioning_files_are_served_with_the_secret_only() {
    let h = Hotline::start(|c| c + MAC_SEAT);
    let base = format!("{}/provision/{SECRET}", h.http);
    let (code, ctype, text) = fetch(&format!("{base}/yealink/8001.cfg"), None);
    assert_eq!(code, 200, "{text}");
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    let cfg = yealink(&text);
    assert_eq!(cfg["account.1.user_name"], "8001");
    assert_eq!(cfg["account.1.password"], "demo-8001");
    assert_eq!(cfg["account.1.sip_server.1.address"], "127.0.0.1");
    assert_eq!(
        cfg["account.1.sip_server.1.port"],
        h.phones.port().to_string(),
        "the phones listener hotline runs on"
    );
    let blf: Vec<&str> = cfg
        .iter()
        .filter(|(k, v)| k.ends_with(".type") && *v == "16")
        .map(|(k, _)| cfg[&k.replace(".type", ".value")].as_str())
        .collect();
    assert_eq!(blf.len(), 20, "7001 and 8002-8020: {blf:?}");
    assert!(!blf.contains(&"8021"), "no emergency seat on a 12345 phone");

    // A Grandstream phone asks for cfg<mac>.xml.
    let (code, ctype, xml) = fetch(&format!("{base}/cfg000b820102ab.xml"), None);
    assert_eq!(code, 200, "{xml}");
    assert!(ctype.starts_with("application/xml"), "{ctype}");
    assert_eq!(p_value(&xml, "P35").as_deref(), Some("7001"));
    assert_eq!(p_value(&xml, "P34").as_deref(), Some("pw-7001-long"));
    assert_eq!(p_value(&xml, "P3").as_deref(), Some("Desk 1"));
    assert_eq!(
        p_value(&xml, "P47"),
        Some(format!("127.0.0.1:{}", h.phones.port()))
    );
    let (code, _, by_ext) = fetch(&format!("{base}/grandstream/7001.xml"), None);
    assert_eq!((code, by_ext.as_str()), (200, xml.as_str()));
    let (code, _, yealink_mac) = fetch(&format!("{base}/000B820102AB.cfg"), None);
    assert_eq!(code, 200);
    assert_eq!(yealink(&yealink_mac)["account.1.user_name"], "7001");

    // Without the secret: 403, an API token or not.
    for url in [
        format!("{}/provision/yealink/8001.cfg", h.http),
        format!(
            "{}/provision/wrong-secret-0123456789/yealink/8001.cfg",
            h.http
        ),
        format!(
            "{}/provision/wrong-secret-0123456789/cfg000b820102ab.xml",
            h.http
        ),
    ] {
        for token in [None, Some(ADMIN_TOKEN)] {
            let (code, _, body) = fetch(&url, token);
            assert_eq!(code, 403, "{url}: {body}");
            assert!(!body.contains("demo-8001") && !body.contains("pw-7001"));
        }
    }
    for missing in [
        "yealink/9999.cfg",
        "cfg000b820102ac.xml",
        "polycom/8001.cfg",
    ] {
        let (code, _, _) = fetch(&format!("{base}/{missing}"), None);
        assert_eq!(code, 404, "{missing}");
    }
    let log = h.log();
    assert!(
        log.contains("provisioning file served"),
        "{}",
        tail(&log, 20)
    );
    assert!(!log.contains(SECRET), "the secret stays out of the log");
}

#[test]
fn provisioning_is_refused_outside_the_allowed_networks_and_off_without_the_section() {
    let h = Hotline::start(|c| {
        c.replace(
            "allow = [\"127.0.0.0/8\"]       #",
            "allow = [\"10.0.0.0/8\"] #",
        )
    });
    let (code, _, body) = fetch(
        &format!("{}/provision/{SECRET}/yealink/8001.cfg", h.http),
        None,
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("allow"), "{body}");
    drop(h);
    let h = Hotline::start(|c| without_section(c, "provisioning"));
    let (code, _, body) = fetch(
        &format!("{}/provision/{SECRET}/yealink/8001.cfg", h.http),
        None,
    );
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("[provisioning]"), "{body}");
}

#[test]
fn hotline_provision_writes_every_seats_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hotline.toml");
    let demo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml")).unwrap();
    std::fs::write(&config, demo + MAC_SEAT).unwrap();
    let out_dir = dir.path().join("phones");
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["provision", "--vendor", "yealink", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[1/31] seat 7001"), "{stderr}");
    assert!(stderr.contains("[31/31] seat 8030"), "{stderr}");
    assert!(stderr.contains("32 yealink file(s)"), "{stderr}");
    let by_mac = std::fs::read_to_string(out_dir.join("000b820102ab.cfg")).unwrap();
    assert_eq!(yealink(&by_mac)["account.1.password"], "pw-7001-long");
    let seat = yealink(&std::fs::read_to_string(out_dir.join("8030.cfg")).unwrap());
    assert_eq!(seat["account.1.sip_server.1.port"], "5060");
    let bad = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["provision", "--vendor", "polycom", "--out", "x", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
