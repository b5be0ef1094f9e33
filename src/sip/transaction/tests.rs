//! Transaction state machines driven by messages and a fake clock.

use super::*;
use crate::sip::{Proto, Side};

fn flow(proto: Proto) -> Flow {
    Flow {
        side: Side::Trunk,
        proto,
        remote: "127.0.0.2:5070".parse().unwrap(),
        conn: None,
    }
}

fn req(method: &str, branch: &str, cseq: u32) -> Message {
    let text = format!(
        "{method} sip:12345@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch={branch}\r\n\
From: <sip:a@x>;tag=f\r\nTo: <sip:12345@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: {cseq} {method}\r\n\
Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    Message::parse(Bytes::from(text)).unwrap()
}

fn codes(layer: &mut TransactionLayer) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(t) = layer.poll_transmit() {
        let m = Message::parse(t.data).unwrap();
        out.push(match m.code() {
            Some(c) => c.to_string(),
            None => m.method().unwrap().to_string(),
        });
    }
    out
}

fn events(layer: &mut TransactionLayer) -> Vec<TxEvent> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}

/// Advances the clock to each wake-up for `span`, collecting transmits.
fn run_for(
    layer: &mut TransactionLayer,
    now: &mut Instant,
    span: Duration,
) -> Vec<(Duration, String)> {
    let start = *now;
    let until = start + span;
    let mut sent = Vec::new();
    while let Some(at) = layer.poll_timeout() {
        if at > until {
            break;
        }
        *now = at.max(*now);
        layer.handle_timeout(*now);
        for c in codes(layer) {
            sent.push((*now - start, c));
        }
    }
    *now = until;
    sent
}

#[test]
fn server_invite_failure_is_retransmitted_until_ack() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let mut now = Instant::now();
    let invite = req("INVITE", "z9hG4bK1", 1);
    l.handle_message(now, invite.clone(), flow(Proto::Udp));
    assert_eq!(codes(&mut l), ["100"]);
    let ev = events(&mut l);
    let TxEvent::Request { key, .. } = &ev[0] else {
        panic!("{ev:?}")
    };
    // A retransmitted INVITE is absorbed, the 100 repeated.
    l.handle_message(now, invite.clone(), flow(Proto::Udp));
    assert_eq!(codes(&mut l), ["100"]);
    assert!(events(&mut l).is_empty());
    l.send_response(now, key, Message::response_to(&invite, 486, Some("t")));
    assert_eq!(codes(&mut l), ["486"]);
    let sent = run_for(&mut l, &mut now, Duration::from_millis(3600));
    let times: Vec<_> = sent.iter().map(|(d, _)| d.as_millis()).collect();
    assert_eq!(times, [500, 1500, 3500], "timer G doubles from T1");
    l.handle_message(now, req("ACK", "z9hG4bK1", 1), flow(Proto::Udp));
    assert!(events(&mut l).is_empty(), "ACK of a failure is absorbed");
    let later = run_for(&mut l, &mut now, Duration::from_secs(40));
    assert!(later.is_empty(), "no retransmission after ACK: {later:?}");
    assert!(l.is_empty());
}

#[test]
fn server_2xx_is_retransmitted_until_ack_and_ack_is_reported() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let mut now = Instant::now();
    let invite = req("INVITE", "z9hG4bK2", 7);
    l.handle_message(now, invite.clone(), flow(Proto::Udp));
    let TxEvent::Request { key, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    codes(&mut l);
    l.send_response(now, &key, Message::response_to(&invite, 200, Some("t")));
    assert_eq!(codes(&mut l), ["200"]);
    let sent = run_for(&mut l, &mut now, Duration::from_millis(1600));
    assert_eq!(sent.len(), 2);
    // The ACK of a 2xx has its own branch.
    l.handle_message(now, req("ACK", "z9hG4bKack", 7), flow(Proto::Udp));
    assert!(matches!(events(&mut l)[..], [TxEvent::Ack { .. }]));
    let later = run_for(&mut l, &mut now, Duration::from_secs(40));
    assert!(later.is_empty(), "{later:?}");
    assert!(events(&mut l).is_empty(), "no timeout after the ACK");
    assert!(l.is_empty());
}

#[test]
fn server_2xx_without_ack_times_out() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let mut now = Instant::now();
    let invite = req("INVITE", "z9hG4bK3", 1);
    l.handle_message(now, invite.clone(), flow(Proto::Tcp));
    let TxEvent::Request { key, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    l.send_response(now, &key, Message::response_to(&invite, 200, Some("t")));
    codes(&mut l);
    let sent = run_for(&mut l, &mut now, Duration::from_secs(33));
    assert!(sent.is_empty(), "no retransmission over TCP");
    assert!(matches!(events(&mut l)[..], [TxEvent::Timeout { .. }]));
}

#[test]
fn client_invite_retransmits_then_acks_a_failure() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let mut now = Instant::now();
    let invite = req("INVITE", "z9hG4bKc1", 1);
    let key = l.send_request(now, &invite, flow(Proto::Udp)).unwrap();
    assert_eq!(codes(&mut l), ["INVITE"]);
    let sent = run_for(&mut l, &mut now, Duration::from_millis(1600));
    assert_eq!(
        sent.iter().map(|(d, _)| d.as_millis()).collect::<Vec<_>>(),
        [500, 1500]
    );
    l.handle_message(
        now,
        Message::response_to(&invite, 180, Some("s")),
        flow(Proto::Udp),
    );
    assert!(matches!(&events(&mut l)[..], [TxEvent::Response { .. }]));
    assert!(
        run_for(&mut l, &mut now, Duration::from_secs(60)).is_empty(),
        "ringing stops timer A and B"
    );
    let busy = Message::response_to(&invite, 486, Some("s"));
    l.handle_message(now, busy.clone(), flow(Proto::Udp));
    assert_eq!(codes(&mut l), ["ACK"]);
    assert!(matches!(&events(&mut l)[..], [TxEvent::Response { key: k, .. }] if *k == key));
    l.handle_message(now, busy, flow(Proto::Udp));
    assert_eq!(
        codes(&mut l),
        ["ACK"],
        "retransmitted 486 gets the ACK again"
    );
    assert!(events(&mut l).is_empty());
}

#[test]
fn client_ack_for_failure_reuses_the_invite_branch() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let now = Instant::now();
    let invite = req("INVITE", "z9hG4bKc9", 4);
    l.send_request(now, &invite, flow(Proto::Udp));
    codes(&mut l);
    l.handle_message(
        now,
        Message::response_to(&invite, 603, Some("s")),
        flow(Proto::Udp),
    );
    let ack = Message::parse(l.poll_transmit().unwrap().data).unwrap();
    assert_eq!(ack.branch().unwrap(), "z9hG4bKc9");
    assert_eq!(ack.cseq().unwrap().cseq, 4);
    assert_eq!(ack.cseq().unwrap().method, Method::ACK);
    assert_eq!(ack.to().unwrap().tag.unwrap(), "s");
}

#[test]
fn client_non_invite_times_out_with_timer_f() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let mut now = Instant::now();
    let key = l
        .send_request(now, &req("BYE", "z9hG4bKb", 2), flow(Proto::Udp))
        .unwrap();
    codes(&mut l);
    let sent = run_for(&mut l, &mut now, Duration::from_secs(33));
    let times: Vec<_> = sent.iter().map(|(d, _)| d.as_millis()).collect();
    assert_eq!(
        &times[..5],
        [500, 1500, 3500, 7500, 11500],
        "timer E caps at T2"
    );
    assert!(matches!(&events(&mut l)[..], [TxEvent::Timeout { key: k }] if *k == key));
}

#[test]
fn cancel_matches_the_invite_and_unknown_cancel_gets_481() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let now = Instant::now();
    l.handle_message(now, req("INVITE", "z9hG4bK5", 1), flow(Proto::Udp));
    events(&mut l);
    codes(&mut l);
    l.handle_message(now, req("CANCEL", "z9hG4bK5", 1), flow(Proto::Udp));
    assert_eq!(codes(&mut l), ["200"]);
    assert!(
        matches!(&events(&mut l)[..], [TxEvent::Cancel { invite, .. }] if invite.branch == "z9hG4bK5")
    );
    l.handle_message(now, req("CANCEL", "z9hG4bKnone", 1), flow(Proto::Udp));
    assert_eq!(codes(&mut l), ["481"]);
    assert!(events(&mut l).is_empty());
}

#[test]
fn non_invite_server_absorbs_retransmissions_and_forgets() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let mut now = Instant::now();
    let reg = req("OPTIONS", "z9hG4bKo", 1);
    l.handle_message(now, reg.clone(), flow(Proto::Udp));
    let TxEvent::Request { key, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    l.send_response(now, &key, Message::response_to(&reg, 200, Some("t")));
    assert_eq!(codes(&mut l), ["200"]);
    l.handle_message(now, reg, flow(Proto::Udp));
    assert_eq!(codes(&mut l), ["200"]);
    assert!(events(&mut l).is_empty());
    run_for(&mut l, &mut now, Duration::from_secs(33));
    assert!(l.is_empty(), "timer J removed it");
}
