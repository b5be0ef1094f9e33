//! The doctor's verdicts over facts made by hand: each problem gives the
//! status and the words (key, what to do) an operator needs.

use super::facts::*;
use super::options::OptionsAnswer;
use super::{Check, Status, judge::judge, passed, summary};
use crate::config::Config;
use crate::store::MigrationState;
use std::path::Path;
use std::time::Duration;

const DEMO: &str = include_str!("../../config/demo.toml");
const NOW: i64 = 1_795_000_000_000;

fn demo() -> Config {
    Config::from_str_at(DEMO, Path::new("demo.toml")).expect("the demo loads")
}

fn listener(key: &'static str, proto: Proto, addr: &str) -> Listener {
    Listener {
        key,
        proto,
        addr: addr.parse().unwrap(),
        bind: Bind::Free,
    }
}

/// Everything as it should be, for the demo on loopback.
fn good() -> Facts {
    Facts {
        running: None,
        listeners: vec![
            listener("[sip.phones] udp", Proto::Udp, "127.0.0.1:5060"),
            listener("[sip.phones] tcp", Proto::Tcp, "127.0.0.1:5060"),
            listener("[http] listen", Proto::Tcp, "127.0.0.1:8080"),
        ],
        rtp: Some(RtpRange {
            ip: "127.0.0.1".parse().unwrap(),
            min: 20000,
            max: 20999,
            busy: vec![],
            other: None,
        }),
        nofile: Some(65_536),
        roots: vec![Dir {
            key: "[recordings] root",
            path: "/var/lib/hotline/recordings".into(),
            resolved: None,
            state: DirState::Writable,
            free_bytes: Some(500_000_000_000),
        }],
        database: Database {
            shown: "postgres://hotline:***@127.0.0.1/hotline".into(),
            state: DbState::Open {
                migrations: MigrationState {
                    applied: vec![1, 2, 3],
                    ..Default::default()
                },
                newest_call_ms: Some(NOW - 1_000),
                server_now_ms: Some(NOW + 300),
            },
        },
        prompts: vec![PromptFile {
            key: "lines[0].welcome".into(),
            path: "config/prompts/zh/welcome.wav".into(),
            read: Ok(64_000),
        }],
        trunks: vec![Trunk {
            key: "[outbound] trunk",
            target: "127.0.0.1:5090".parse().unwrap(),
            from: Some("127.0.0.1:40000".parse().unwrap()),
            answer: Ok(OptionsAnswer {
                code: 200,
                reason: "OK".into(),
                rtt: Duration::from_millis(3),
                server: Some("carrier-sbc".into()),
                date_ms: Some(NOW),
            }),
        }],
        tickets: vec![],
        clock: Clock {
            now_ms: NOW,
            binary_ms: Some(NOW - 86_400_000),
            ntp_synced: Some(true),
        },
        euid: 999,
    }
}

fn run(config: &Config, f: &Facts) -> Vec<Check> {
    judge(Path::new("demo.toml"), config, f)
}

/// The one check of `topic` with `status` whose text has `needle`.
fn find<'a>(checks: &'a [Check], status: Status, topic: &str, needle: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.status == status && c.topic == topic && c.text.contains(needle))
        .unwrap_or_else(|| {
            let all: Vec<String> = checks.iter().map(|c| c.to_string()).collect();
            panic!(
                "no {status:?} {topic} check with {needle:?}:\n{}",
                all.join("\n")
            )
        })
}

#[test]
fn all_good_passes_with_one_ok_line_per_check() {
    let checks = run(&demo(), &good());
    assert!(passed(&checks), "{checks:#?}");
    assert!(
        checks.iter().all(|c| c.status != Status::Warn),
        "{checks:#?}"
    );
    find(&checks, Status::Ok, "config", "6 lines, 2 queues, 30 seats");
    find(
        &checks,
        Status::Ok,
        "port",
        "[sip.phones] udp = 127.0.0.1:5060: free",
    );
    find(
        &checks,
        Status::Ok,
        "rtp",
        "all 1000 ports free (250 calls at once)",
    );
    find(&checks, Status::Ok, "recordings", "writable, 500.0 GB free");
    find(
        &checks,
        Status::Ok,
        "database",
        "schema current (3 migrations)",
    );
    find(&checks, Status::Ok, "prompts", "1 prompt files readable");
    find(
        &checks,
        Status::Ok,
        "trunk",
        "answered OPTIONS 200 OK in 3 ms, carrier-sbc",
    );
    find(
        &checks,
        Status::Ok,
        "exposure",
        "reachable from this machine only",
    );
    find(&checks, Status::Ok, "clock", "NTP synchronised");
    assert_eq!(summary(&checks, Path::new("demo.toml")), "all ok");
    let line = checks[0].to_string();
    assert!(
        line.starts_with("ok    config     demo.toml: valid"),
        "{line}"
    );
}

#[test]
fn a_port_in_use_fails_naming_the_key_unless_hotline_itself_holds_it() {
    let mut f = good();
    f.listeners[0].bind = Bind::InUse;
    let checks = run(&demo(), &f);
    assert!(!passed(&checks));
    let c = find(
        &checks,
        Status::Fail,
        "port",
        "[sip.phones] udp = 127.0.0.1:5060",
    );
    assert!(
        c.text.contains("in use by another program")
            && c.text.contains("ss -ulpn 'sport = :5060'")
            && c.text.contains("set another address in [sip.phones] udp"),
        "{c}"
    );
    assert!(summary(&checks, Path::new("demo.toml")).starts_with("1 FAIL"));

    f.running = Some(Running {
        at: "127.0.0.1:8080".parse().unwrap(),
        status: "ok".into(),
        version: "0.1.0".into(),
    });
    let checks = run(&demo(), &f);
    find(
        &checks,
        Status::Ok,
        "port",
        "in use, by the hotline answering at 127.0.0.1:8080",
    );
    f.listeners[2].bind = Bind::InUse;
    let checks = run(&demo(), &f);
    find(
        &checks,
        Status::Ok,
        "port",
        "[http] listen = 127.0.0.1:8080: a running hotline answers there (health ok, version 0.1.0)",
    );

    for (bind, needle) in [
        (Bind::Denied, "below 1024"),
        (Bind::NotLocal, "not an address of this host"),
    ] {
        let mut f = good();
        f.listeners[2].bind = bind;
        find(&run(&demo(), &f), Status::Fail, "port", needle);
    }
}

#[test]
fn the_rtp_range_fails_when_others_hold_ports_of_it() {
    let mut f = good();
    f.rtp.as_mut().unwrap().busy = vec![20010, 20011];
    let checks = run(&demo(), &f);
    find(
        &checks,
        Status::Fail,
        "rtp",
        "2 of 1000 ports in use by other programs (20010, 20011)",
    );
    f.running = Some(Running {
        at: "127.0.0.1:8080".parse().unwrap(),
        status: "ok".into(),
        version: "0.1.0".into(),
    });
    find(
        &run(&demo(), &f),
        Status::Fail,
        "rtp",
        "in use by other programs",
    );
    f.rtp.as_mut().unwrap().busy = (20000..=20999).collect();
    find(
        &run(&demo(), &f),
        Status::Ok,
        "rtp",
        "in use, by the hotline answering at 127.0.0.1:8080",
    );

    let mut f = good();
    f.nofile = Some(1024);
    find(
        &run(&demo(), &f),
        Status::Warn,
        "limits",
        "LimitNOFILE=65536",
    );
}

#[test]
fn recordings_roots_say_how_to_make_them_writable() {
    let states = [
        (
            DirState::NotWritable("Permission denied".into()),
            Status::Fail,
            "chown -R hotline: /var/lib/hotline/recordings",
        ),
        (
            DirState::Missing(Ok(())),
            Status::Ok,
            "hotline creates it at the first recording",
        ),
        (
            DirState::Missing(Err("/var/lib is not writable".into())),
            Status::Fail,
            "install -d -o hotline -g hotline /var/lib/hotline/recordings",
        ),
        (DirState::NotDir, Status::Fail, "not a directory"),
    ];
    for (state, status, needle) in states {
        let mut f = good();
        f.roots[0].state = state;
        find(&run(&demo(), &f), status, "recordings", needle);
    }
    let mut f = good();
    f.roots[0].free_bytes = Some(2_000_000_000);
    find(
        &run(&demo(), &f),
        Status::Warn,
        "recordings",
        "only 2.0 GB free",
    );
    f.roots[0].path = "recordings".into();
    f.roots[0].resolved = Some("/srv/x/recordings".into());
    find(
        &run(&demo(), &f),
        Status::Warn,
        "recordings",
        "= recordings (/srv/x/recordings)",
    );
}

#[test]
fn database_states_say_what_to_do() {
    let open = |m: MigrationState| DbState::Open {
        migrations: m,
        newest_call_ms: None,
        server_now_ms: None,
    };
    let cases = [
        (DbState::Unreachable("cannot open database postgres://h:***@127.0.0.1:1/x: refused; check that PostgreSQL is running".into()), Status::Fail, "[store] url: cannot open database"),
        (DbState::TimedOut(Duration::from_secs(5)), Status::Fail, "no answer within 5 s"),
        (DbState::NoFile(Ok(())), Status::Ok, "hotline serve creates it"),
        (DbState::NoFile(Err("cannot write in /x".into())), Status::Fail, "none can be created"),
        (DbState::ReadOnly("cannot write hotline.db".into()), Status::Fail, "chown hotline:"),
        (open(MigrationState::default()), Status::Ok, "reachable, empty"),
        (
            open(MigrationState {
                applied: vec![1],
                pending: vec![(10, "seat day sums".into())],
                ..Default::default()
            }),
            Status::Warn,
            "1 migration(s) pending (0010 seat day sums): hotline serve applies them at its next start; back up",
        ),
        (
            open(MigrationState {
                applied: vec![1],
                unknown: vec![12],
                ..Default::default()
            }),
            Status::Fail,
            "migrated by a newer hotline (versions [12])",
        ),
        (
            open(MigrationState {
                applied: vec![1],
                failed: vec![2],
                ..Default::default()
            }),
            Status::Fail,
            "failed half-way",
        ),
    ];
    for (state, status, needle) in cases {
        let mut f = good();
        f.database.state = state;
        find(&run(&demo(), &f), status, "database", needle);
    }
}

#[test]
fn trunk_answers_and_silence() {
    let answer = |code: u16, reason: &str| {
        let mut f = good();
        if let Ok(a) = f.trunks[0].answer.as_mut() {
            a.code = code;
            a.reason = reason.into();
        }
        run(&demo(), &f)
    };
    find(
        &answer(405, "Method Not Allowed"),
        Status::Ok,
        "trunk",
        "up (it does not take OPTIONS)",
    );
    find(
        &answer(403, "Forbidden"),
        Status::Warn,
        "trunk",
        "refuses requests from 127.0.0.1",
    );
    find(
        &answer(503, "Service Unavailable"),
        Status::Warn,
        "trunk",
        "not well",
    );

    let mut f = good();
    f.trunks[0].answer = Err("no answer within 4 s".into());
    let checks = run(&demo(), &f);
    let c = find(
        &checks,
        Status::Fail,
        "trunk",
        "[outbound] trunk 127.0.0.1:5090: no answer within 4 s",
    );
    assert!(
        c.text.contains("check the address in [outbound] trunk"),
        "{c}"
    );

    let mut f = good();
    f.trunks.clear();
    find(&run(&demo(), &f), Status::Skip, "trunk", "nothing to probe");
}

#[test]
fn demo_credentials_fail_on_a_network_address_and_placeholders_too() {
    let public = DEMO
        .replace("udp = \"127.0.0.1:5060\"", "udp = \"192.0.2.10:5060\"")
        .replace(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"192.0.2.10:8080\"",
        );
    let config = Config::from_str_at(&public, Path::new("p.toml")).unwrap();
    let checks = run(&config, &good());
    find(
        &checks,
        Status::Fail,
        "exposure",
        "seat(s) 8001..8030 are published",
    );
    find(
        &checks,
        Status::Fail,
        "exposure",
        "[http] tokens \"demo-admin\"",
    );
    find(&checks, Status::Fail, "exposure", "[http] link_secret");
    find(&checks, Status::Fail, "exposure", "[provisioning] secret");
    find(&checks, Status::Warn, "exposure", "anonymous = [\"read\"]");
    find(
        &checks,
        Status::Warn,
        "exposure",
        "plain HTTP on 192.0.2.10:8080",
    );

    let placeholders = public
        .replace("demo-{ext}", "CHANGE-ME-{ext}-long-secret")
        .replace("demo-admin-token-change-me", "3f1c9b7e-a-real-long-token")
        .replace("demo-ticket-token-change-me", "9b7e3f1c-a-real-long-token")
        .replace(
            "demo-emergency-token-change-me",
            "7a213f1c-a-real-long-token",
        )
        .replace("demo-link-secret-change-me", "5d2e3f1c-a-real-long-secret")
        .replace("allow = [\"127.0.0.0/8\"]", "allow = [\"0.0.0.0/0\"]")
        .replace("udp = \"127.0.0.1:5080\"", "udp = \"192.0.2.10:5080\"");
    let config = Config::from_str_at(&placeholders, Path::new("p.toml")).unwrap();
    let checks = run(&config, &good());
    find(
        &checks,
        Status::Fail,
        "exposure",
        "seat passwords (30 seats) of seat(s) 8001..8030",
    );
    find(
        &checks,
        Status::Warn,
        "exposure",
        "[sip.trunk] allow lets any address call in",
    );
    assert!(
        !checks.iter().any(|c| c.text.contains("[http] tokens")),
        "{checks:#?}"
    );
}

#[test]
fn clocks_that_disagree_are_named() {
    let mut f = good();
    f.clock.binary_ms = Some(NOW + 30 * 86_400_000);
    find(
        &run(&demo(), &f),
        Status::Fail,
        "clock",
        "before this hotline binary was written",
    );

    let mut f = good();
    f.clock.ntp_synced = Some(false);
    find(&run(&demo(), &f), Status::Warn, "clock", "not synchronised");

    let mut f = good();
    f.database.state = DbState::Open {
        migrations: MigrationState {
            applied: vec![1],
            ..Default::default()
        },
        newest_call_ms: Some(NOW + 3_600_000),
        server_now_ms: Some(NOW - 5_000),
    };
    let checks = run(&demo(), &f);
    find(&checks, Status::Warn, "clock", "the clock went back");
    find(
        &checks,
        Status::Warn,
        "clock",
        "database server's clock is -5.0 s off",
    );

    let mut f = good();
    if let Ok(a) = f.trunks[0].answer.as_mut() {
        a.date_ms = Some(NOW + 60_000);
    }
    find(
        &run(&demo(), &f),
        Status::Warn,
        "clock",
        "60 s off this host's clock",
    );
}

#[test]
fn a_refused_config_is_one_fail_naming_file_key_and_reason() {
    let bad = DEMO.replace("reject_code = 486", "reject_code = 200");
    let e = Config::from_str_at(&bad, Path::new("bad.toml")).unwrap_err();
    let c = super::refused(&e);
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.text
            .starts_with("bad.toml: queues[0].reject_code: 200 is not a SIP failure code")
            && c.text.contains("fix that key"),
        "{c}"
    );
}
