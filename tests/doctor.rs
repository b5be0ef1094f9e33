//! `hotline doctor` against the demo config in a temporary directory (on
//! ports and an RTP range chosen at run time): all ok with a SIPp trunk
//! answering OPTIONS; then one thing wrong at a time, each a FAIL line
//! naming the key and what to do: a SIP port taken, a recordings root the
//! service's user cannot write, a database that does not answer, a trunk
//! where nothing listens.

mod common;

use common::{Sipp, free_port, free_port_on, free_udp_range, without_section};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The demo config in `dir`, on fresh ports, with its database and
/// recordings there; `edit` changes the text after that.
fn config(dir: &Path, edit: impl Fn(String) -> String) -> (PathBuf, u16) {
    let (pp, tp, hp, tickets) = (free_port(), free_port(), free_port(), free_port());
    let (rtp_min, rtp_max) = free_udp_range(24);
    let demo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml")).unwrap();
    let text = demo
        .replace("\"127.0.0.1:5060\"", &format!("\"127.0.0.1:{pp}\""))
        .replace("\"127.0.0.1:5080\"", &format!("\"127.0.0.1:{tp}\""))
        .replace("\"127.0.0.1:8080\"", &format!("\"127.0.0.1:{hp}\""))
        .replace(
            "\"sqlite://hotline.db\"",
            &format!("\"sqlite://{}/hotline.db\"", dir.display()),
        )
        .replace(
            "\"http://127.0.0.1:9099/tickets\"",
            &format!("\"http://127.0.0.1:{tickets}/tickets\""),
        )
        .replace("rtp_port_min = 20000", &format!("rtp_port_min = {rtp_min}"))
        .replace("rtp_port_max = 20999", &format!("rtp_port_max = {rtp_max}"))
        .replace(
            "prompts_dir = \"config/prompts\"",
            &format!(
                "prompts_dir = \"{}/config/prompts\"",
                env!("CARGO_MANIFEST_DIR")
            ),
        )
        .replace(
            "root = \"recordings\"",
            &format!("root = \"{}/rec\"", dir.display()),
        );
    let path = dir.join("hotline.toml");
    std::fs::write(&path, edit(text)).unwrap();
    (path, pp)
}

/// Without callbacks: no trunk to probe.
fn no_outbound(text: String) -> String {
    without_section(without_section(text, "outbound.patterns"), "outbound")
}

fn doctor(config: &Path, extra: &[&str]) -> (Output, String) {
    doctor_as(config, extra, None)
}

/// Runs the doctor, as user and group `uid` if given (root only).
fn doctor_as(config: &Path, extra: &[&str], uid: Option<u32>) -> (Output, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotline"));
    cmd.args(["doctor", "--config"]).arg(config).args(extra);
    if let Some(uid) = uid {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(uid);
    }
    let out = cmd.output().expect("run hotline doctor");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

fn line<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{text}"))
}

/// A SIPp trunk answering one OPTIONS on 127.0.0.3.
fn options_uas() -> (std::process::Child, u16) {
    let port = free_port_on("127.0.0.3");
    let remote = "127.0.0.1:5060".parse().unwrap();
    let sipp =
        Sipp::new("trunk_options_uas.xml", "127.0.0.3", port, remote).arg("-m 1 -timeout 20s");
    (sipp.spawn(), port)
}

#[test]
fn the_demo_in_a_fresh_directory_is_all_ok_with_a_trunk_answering_options() {
    let dir = tempfile::tempdir().unwrap();
    let (uas, port) = options_uas();
    let (cfg, pp) = config(dir.path(), |t| {
        t.replace(
            "trunk = \"127.0.0.1:5090\"",
            &format!("trunk = \"127.0.0.3:{port}\""),
        )
    });
    let (out, text) = doctor(&cfg, &[]);
    let _ = uas.wait_with_output();
    assert!(out.status.success(), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("FAIL")), "{text}");
    line(
        &text,
        &format!("ok    port       [sip.phones] udp = 127.0.0.1:{pp}: free"),
    );
    line(&text, "ok    rtp        [media] rtp_port_min..rtp_port_max");
    line(&text, "ok    recordings [recordings] root");
    line(&text, "ok    database   [store] url = sqlite://");
    line(&text, "ok    prompts    ");
    let trunk = line(&text, "ok    trunk      [outbound] trunk 127.0.0.3:");
    assert!(
        trunk.contains("answered OPTIONS 200 OK") && trunk.contains("SIPp carrier"),
        "{trunk}"
    );
    line(
        &text,
        "ok    exposure   published demo or placeholder credentials",
    );
    assert!(text.contains("no FAIL"), "{text}");
    assert!(
        !dir.path().join("hotline.db").exists(),
        "the doctor creates nothing"
    );
}

#[test]
fn a_sip_port_taken_by_another_program_fails_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, pp) = config(dir.path(), no_outbound);
    let _holder = std::net::UdpSocket::bind(("127.0.0.1", pp)).unwrap();
    let (out, text) = doctor(&cfg, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let fail = line(
        &text,
        &format!("FAIL  port       [sip.phones] udp = 127.0.0.1:{pp}"),
    );
    assert!(
        fail.contains("in use by another program")
            && fail.contains(&format!("ss -ulpn 'sport = :{pp}'"))
            && fail.contains("set another address in [sip.phones] udp"),
        "{fail}"
    );
    line(
        &text,
        &format!("ok    port       [sip.phones] tcp = 127.0.0.1:{pp}: free"),
    );
    line(&text, "skip  trunk      no [outbound] trunk");
}

#[test]
fn a_recordings_root_the_service_cannot_write_fails_saying_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    // The service's user (here: nobody, when the tests run as root) may
    // read the config but not write the root.
    use std::os::unix::fs::PermissionsExt;
    let perms = |p: &Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
    perms(dir.path(), 0o755).unwrap();
    let (cfg, _) = config(dir.path(), no_outbound);
    let rec = dir.path().join("rec");
    std::fs::create_dir(&rec).unwrap();
    perms(&rec, 0o555).unwrap();
    let root = rustix::process::geteuid().is_root();
    let (out, text) = doctor_as(&cfg, &[], root.then_some(65534));
    assert_eq!(out.status.code(), Some(1), "{text}");
    let fail = line(&text, "FAIL  recordings [recordings] root");
    assert!(
        fail.contains("not writable")
            && fail.contains(&format!("chown -R hotline: {}", rec.display())),
        "{fail}"
    );

    // A root that cannot even be created: a file where its parent should be.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), b"").unwrap();
    let (cfg, _) = config(dir.path(), |t| {
        no_outbound(t.replace("/rec\"", "/file/rec\""))
    });
    let (out, text) = doctor(&cfg, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let fail = line(&text, "FAIL  recordings [recordings] root");
    assert!(
        fail.contains("does not exist and cannot be created")
            && fail.contains("install -d -o hotline"),
        "{fail}"
    );
}

#[test]
fn a_database_that_does_not_answer_fails_with_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = config(dir.path(), |t| {
        no_outbound(t.replace(
            &format!("\"sqlite://{}/hotline.db\"", dir.path().display()),
            "\"postgres://hotline:s3cret@127.0.0.1:1/hotline\"",
        ))
    });
    let (out, text) = doctor(&cfg, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let fail = line(&text, "FAIL  database   [store] url: cannot open database");
    assert!(
        fail.contains("postgres://hotline:***@127.0.0.1:1/hotline")
            && fail.contains("check that PostgreSQL is running and reachable"),
        "{fail}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn a_trunk_where_nothing_listens_fails_beside_one_that_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (uas, port) = options_uas();
    let silent = free_port_on("127.0.0.3");
    let (cfg, _) = config(dir.path(), |t| {
        t.replace(
            "trunk = \"127.0.0.1:5090\"",
            &format!("trunk = \"127.0.0.3:{port}\""),
        )
    });
    let target = format!("127.0.0.3:{silent}");
    let (out, text) = doctor(&cfg, &["--trunk", &target, "--timeout-secs", "2"]);
    let _ = uas.wait_with_output();
    assert_eq!(out.status.code(), Some(1), "{text}");
    line(
        &text,
        &format!("ok    trunk      [outbound] trunk 127.0.0.3:{port}: answered OPTIONS 200 OK"),
    );
    let fail = line(
        &text,
        &format!("FAIL  trunk      --trunk {target}: no answer within 2 s"),
    );
    assert!(fail.contains("nothing listens there"), "{fail}");
}

#[test]
fn a_refused_config_is_one_fail_line() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = config(dir.path(), |t| {
        t.replace("reject_code = 486", "reject_code = 200")
    });
    let (out, text) = doctor(&cfg, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let fail = line(&text, "FAIL  config     ");
    assert!(
        fail.contains("hotline.toml: queues[0].reject_code: 200 is not a SIP failure code"),
        "{fail}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok")).count(),
        0,
        "{text}"
    );
}
