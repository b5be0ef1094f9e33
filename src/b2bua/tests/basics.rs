//! Registration, OPTIONS, and the requests hotline refuses: foreign trunk
//! addresses, unknown numbers, malformed messages.

use super::harness::{SipExt, UNIX_START_MS, request, secs};
use super::peers::{Peer, Trunk};
use super::phone::Phone;
use super::{Sim, registered};
use crate::model::Outcome;

#[test]
fn a_seat_registers_through_a_digest_challenge() {
    let mut sim = Sim::demo_with_media(|t| {
        t.replace(
            r#"auth_algorithms = ["MD5"]"#,
            r#"auth_algorithms = ["MD5", "SHA-256"]"#,
        )
    });
    let mut phone = Phone::new("8001");

    phone.send_register(&mut sim, None, 600);
    let challenge = phone.expect_response(&mut sim, 401, "REGISTER");
    let offers = challenge.hdrs("WWW-Authenticate");
    assert_eq!(offers.len(), 2, "one challenge per algorithm: {offers:?}");
    assert!(
        offers[0].contains("algorithm=MD5") && offers[1].contains("algorithm=SHA-256"),
        "{offers:?}"
    );
    assert!(offers[0].contains("realm=\"hotline.demo\"") && offers[0].contains("qop=\"auth\""));
    assert_eq!(challenge.hdr("Server").as_deref(), Some("hotline-demo"));
    assert_eq!(
        sim.seat_state("8001"),
        "logged_out",
        "a challenge registers nothing"
    );

    let auth = phone.authorization(&challenge, "REGISTER", "sip:127.0.0.1:5060", "demo-8001");
    phone.send_register(&mut sim, Some(&auth), 600);
    let ok = phone.expect_response(&mut sim, 200, "REGISTER");
    assert_eq!(
        ok.hdrs("Contact"),
        [format!("<sip:8001@{}>;expires=600", phone.addr)]
    );
    assert!(ok.hdr("Date").is_some_and(|d| d.ends_with("GMT")));

    let bindings = sim
        .engine
        .registrations(sim.now)
        .into_iter()
        .find(|(s, _)| s == "8001")
        .unwrap()
        .1;
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].remote, phone.addr);
    assert_eq!(
        sim.seat_state("8001"),
        "ready",
        "auto_ready: registered means ready"
    );

    // The registration runs out after its 600 s and the seat logs out.
    sim.advance(secs(601));
    assert_eq!(sim.seat_state("8001"), "logged_out");
    phone.assert_silent(&mut sim);
}

#[test]
fn a_wrong_password_is_refused_and_registers_nothing() {
    let mut sim = Sim::demo();
    let mut phone = Phone::new("8002");
    phone.send_register(&mut sim, None, 3600);
    let challenge = phone.expect_response(&mut sim, 401, "REGISTER");
    let auth = phone.authorization(&challenge, "REGISTER", "sip:127.0.0.1:5060", "guess");
    phone.send_register(&mut sim, Some(&auth), 3600);
    phone.expect_response(&mut sim, 403, "REGISTER");
    assert!(
        sim.engine
            .registrations(sim.now)
            .iter()
            .all(|(_, b)| b.is_empty())
    );
    assert_eq!(sim.seat_state("8002"), "logged_out");
}

#[test]
fn options_is_answered_on_both_sides() {
    let mut sim = Sim::demo();
    let phone = Phone::new("8001");
    let trunk = Trunk::new();
    for (flow, uri) in [
        (phone.flow(), "sip:127.0.0.1:5060"),
        (trunk.flow(), "sip:127.0.0.1:5080"),
    ] {
        let branch = sim.token("z9hG4bK-");
        let from = format!("<sip:probe@{}>;tag=p1", flow.remote);
        let headers = [
            ("From", from.as_str()),
            ("To", "<sip:127.0.0.1>"),
            ("Call-ID", "options-1"),
            ("CSeq", "7 OPTIONS"),
        ];
        sim.deliver(
            flow,
            &request("OPTIONS", uri, flow.remote, &branch, &headers, ""),
        );
        let ok = sim.take(flow).expect("OPTIONS is answered").msg;
        assert_eq!(
            (ok.status(), ok.cseq_method().as_str()),
            (200, "OPTIONS"),
            "{}",
            ok.text()
        );
        assert!(
            ok.hdr("Allow")
                .is_some_and(|a| a.contains("INVITE") && a.contains("BYE")),
            "{}",
            ok.text()
        );
        assert!(ok.to_tag().is_some());
    }
}

#[test]
fn trunk_requests_from_an_address_not_allowed_get_403() {
    let mut sim = Sim::demo();
    registered(&mut sim, &["8001"]);
    let stranger = Trunk::at("192.0.2.7:5060");

    let call = stranger.call(&mut sim, "12345", "13800000000");
    call.expect_response(&mut sim, 100, "INVITE");
    let refused = call.expect_response(&mut sim, 403, "INVITE");
    call.ack_failure(&mut sim, &refused);
    call.assert_silent(&mut sim);
    assert!(sim.engine.live_calls(sim.now).is_empty());
    assert_eq!(sim.seat_state("8001"), "ready", "no seat rang");
    assert!(
        sim.call_records(&call.call_id).is_empty(),
        "a refused request is not an offered call"
    );

    let branch = sim.token("z9hG4bK-");
    let headers = [
        ("From", "<sip:x@192.0.2.7>;tag=o"),
        ("To", "<sip:127.0.0.1>"),
        ("Call-ID", "o-1"),
        ("CSeq", "1 OPTIONS"),
    ];
    stranger.send(
        &mut sim,
        &request(
            "OPTIONS",
            "sip:127.0.0.1:5080",
            stranger.addr,
            &branch,
            &headers,
            "",
        ),
    );
    stranger.expect_response(&mut sim, 403, "OPTIONS");
}

#[test]
fn an_unknown_number_gets_404_and_a_rejected_record() {
    let mut sim = Sim::demo();
    registered(&mut sim, &["8001"]);
    let trunk = Trunk::new();
    sim.advance(secs(1));

    let call = trunk.call(&mut sim, "99999", "13800000000");
    call.expect_response(&mut sim, 100, "INVITE");
    let not_found = call.expect_response(&mut sim, 404, "INVITE");
    call.ack_failure(&mut sim, &not_found);
    sim.advance(secs(10));
    call.assert_silent(&mut sim);

    let record = sim.final_record(&call.call_id);
    assert_eq!(record.outcome, Some(Outcome::Rejected));
    assert_eq!(record.line, "99999");
    assert_eq!(record.queue, None);
    assert_eq!(record.reason.as_deref(), Some("unknown number"));
    assert_eq!(
        (record.offered_at_ms, record.ended_at_ms),
        (UNIX_START_MS + 1000, Some(UNIX_START_MS + 1000))
    );
    assert_eq!(sim.seat_state("8001"), "ready");
    assert!(sim.engine.live_calls(sim.now).is_empty());
}

#[test]
fn a_malformed_request_gets_400_and_the_engine_keeps_serving() {
    let mut sim = Sim::demo();
    let trunk = Trunk::new();
    let headers = |cseq: &'static str| {
        [
            ("From", "<sip:13800000000@127.0.0.2>;tag=m"),
            ("To", "<sip:12345@127.0.0.1>"),
            ("Call-ID", "bad-1"),
            ("CSeq", cseq),
        ]
    };

    // A Content-Length that is no number: answered from the raw lines.
    let bad_length = request(
        "INVITE",
        "sip:12345@127.0.0.1:5080",
        trunk.addr,
        "z9hG4bK-b1",
        &headers("1 INVITE"),
        "",
    )
    .replace("Content-Length: 0", "Content-Length: zz");
    trunk.send(&mut sim, &bad_length);
    let bad = trunk.expect_response(&mut sim, 400, "INVITE");
    assert!(
        bad.reason().is_some_and(|r| r.contains("Content-Length")),
        "{}",
        bad.text()
    );

    // A CSeq naming another method than the request line.
    trunk.send(
        &mut sim,
        &request(
            "INVITE",
            "sip:12345@127.0.0.1:5080",
            trunk.addr,
            "z9hG4bK-b2",
            &headers("2 BYE"),
            "",
        ),
    );
    let bad = trunk.recv(&mut sim);
    assert_eq!(bad.status(), 400, "{}", bad.text());

    // Binary noise: nothing to answer.
    sim.deliver(trunk.flow(), "\u{1}\u{2}garbage\r\n\r\n");
    trunk.assert_silent(&mut sim);
    assert!(sim.engine.live_calls(sim.now).is_empty());

    // ... and the next request is served as usual.
    trunk.send(
        &mut sim,
        &request(
            "OPTIONS",
            "sip:127.0.0.1:5080",
            trunk.addr,
            "z9hG4bK-b3",
            &headers("3 OPTIONS"),
            "",
        ),
    );
    trunk.expect_response(&mut sim, 200, "OPTIONS");
    let call = trunk.call(&mut sim, "12345", "13800000000");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");
}

#[test]
fn a_too_brief_registration_gets_423_and_an_unregister_logs_the_seat_out() {
    let mut sim = Sim::demo();
    let mut phone = Phone::new("8001");
    let uri = "sip:127.0.0.1:5060";
    phone.send_register(&mut sim, None, 30);
    let challenge = phone.expect_response(&mut sim, 401, "REGISTER");
    let auth = phone.authorization(&challenge, "REGISTER", uri, "demo-8001");
    phone.send_register(&mut sim, Some(&auth), 30);
    let brief = phone.expect_response(&mut sim, 423, "REGISTER");
    assert_eq!(brief.hdr("Min-Expires").as_deref(), Some("60"));
    assert_eq!(sim.seat_state("8001"), "logged_out");

    phone.register(&mut sim);
    assert_eq!(sim.seat_state("8001"), "ready");
    phone.send_register(&mut sim, None, 0);
    let challenge = phone.expect_response(&mut sim, 401, "REGISTER");
    let auth = phone.authorization(&challenge, "REGISTER", uri, "demo-8001");
    phone.send_register(&mut sim, Some(&auth), 0);
    let ok = phone.expect_response(&mut sim, 200, "REGISTER");
    assert!(
        ok.hdr("Contact").is_none(),
        "no binding left: {}",
        ok.text()
    );
    assert_eq!(sim.seat_state("8001"), "logged_out");
}

#[test]
fn an_invite_with_max_forwards_zero_gets_483() {
    let mut sim = Sim::demo();
    let trunk = Trunk::new();
    let headers = [
        ("From", "<sip:1@127.0.0.2>;tag=l"),
        ("To", "<sip:12345@127.0.0.1>"),
        ("Call-ID", "loop-1"),
        ("CSeq", "1 INVITE"),
    ];
    let looped = request(
        "INVITE",
        "sip:12345@127.0.0.1:5080",
        trunk.addr,
        "z9hG4bK-l1",
        &headers,
        "",
    )
    .replace("Max-Forwards: 70", "Max-Forwards: 0");
    trunk.send(&mut sim, &looped);
    trunk.expect_response(&mut sim, 100, "INVITE");
    trunk.expect_response(&mut sim, 483, "INVITE");
    assert!(sim.engine.live_calls(sim.now).is_empty());
}
