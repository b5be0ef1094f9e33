//! Bad input gets a clear answer and harms nothing: malformed SIP, callers
//! outside the trunk's allow-list, broken config files.

mod common;

use common::*;
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

fn exchange(sock: &UdpSocket, to: std::net::SocketAddr, msg: &str) -> Option<String> {
    sock.send_to(msg.as_bytes(), to).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                if text.starts_with("SIP/2.0 100 ") {
                    continue;
                }
                return Some(text);
            }
            Err(_) => return None,
        }
    }
}

fn options(branch: &str, call_id: &str) -> String {
    format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{branch}\r\n\
From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n\
Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn malformed_messages_get_400_or_are_dropped_and_service_continues() {
    let h = Hotline::start(|c| c);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    for target in [h.phones, h.trunk] {
        // CSeq method does not match the request method.
        let bad = options("bad1", "bad-cseq").replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
        let r = exchange(&sock, target, &bad).expect("an answer to a malformed request");
        assert!(r.starts_with("SIP/2.0 400 "), "{r}");
        // Content-Length larger than the body.
        let bad = options("bad2", "bad-len").replace("Content-Length: 0", "Content-Length: 500");
        let r = exchange(&sock, target, &bad).expect("an answer to a bad Content-Length");
        assert!(r.starts_with("SIP/2.0 400 "), "{r}");
        assert!(r.contains("Call-ID: bad-len"), "{r}");
        // Noise: dropped silently.
        assert!(exchange(&sock, target, "\u{1}\u{2}garbage\r\n\r\n").is_none());
        // Still serving.
        let r = exchange(&sock, target, &options("ok", "still-alive")).expect("OPTIONS answered");
        assert!(r.starts_with("SIP/2.0 200 "), "{r}");
    }
}

#[test]
fn trunk_side_refuses_addresses_outside_its_allow_list() {
    let h =
        Hotline::start(|c| c.replace("allow = [\"127.0.0.0/8\"]", "allow = [\"127.0.0.2/32\"]"));
    let stranger = UdpSocket::bind("127.0.0.3:0").unwrap();
    stranger
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let r = exchange(&stranger, h.trunk, &options("s1", "stranger")).unwrap();
    assert!(r.starts_with("SIP/2.0 403 "), "{r}");
    let trunk = UdpSocket::bind("127.0.0.2:0").unwrap();
    trunk
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let r = exchange(&trunk, h.trunk, &options("t1", "trunk")).unwrap();
    assert!(r.starts_with("SIP/2.0 200 "), "{r}");
}

#[test]
fn bad_config_is_refused_naming_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let demo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml")).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        demo.replace("queue = \"emergency\"\nclass", "queue = \"police\"\nclass"),
    )
    .unwrap();
    for args in [
        vec!["check-config".to_string(), bad.display().to_string()],
        vec!["serve".into(), "--config".into(), bad.display().to_string()],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("bad.toml: lines[3].queue: no queue named \"police\""),
            "{err}"
        );
    }
    let ok = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args([
            "check-config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml"),
        ])
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("6 lines, 2 queues, 30 seats"));
}
