//! Busy-lamp fields: a seat phone SUBSCRIBEs to another seat's dialog
//! state and sees it ring, answer and hang up in NOTIFYs; refreshes,
//! unsubscribes, expiry, refusals and watchers that stop answering.

use super::harness::{PHONES_LISTEN, SipExt, request, response, secs, tag_of, uri_of};
use super::peers::{Peer, PeerDialog, Trunk};
use super::phone::Phone;
use super::{Sim, answered_call, registered, ringing_call};
use crate::sip::Message;

/// A watcher's SUBSCRIBE outside any dialog, as the phone prints it.
fn subscribe_text(
    sim: &mut Sim,
    phone: &Phone,
    watched: &str,
    call_id: &str,
    cseq: u32,
    extra: &[(&str, &str)],
) -> String {
    let from = format!("<sip:{}@127.0.0.1>;tag=w-{call_id}", phone.ext);
    let to = format!("<sip:{watched}@127.0.0.1>");
    let cseq = format!("{cseq} SUBSCRIBE");
    let contact = phone.contact();
    let mut headers = vec![
        ("From", from.as_str()),
        ("To", &to),
        ("Call-ID", call_id),
        ("CSeq", &cseq),
        ("Contact", &contact),
    ];
    headers.extend_from_slice(extra);
    let branch = sim.token("z9hG4bK-");
    request(
        "SUBSCRIBE",
        &format!("sip:{watched}@{PHONES_LISTEN}"),
        phone.addr,
        &branch,
        &headers,
        "",
    )
}

/// SUBSCRIBE with `extra` headers, answering the challenge with the
/// phone's password: the final answer.
fn subscribe_as(sim: &mut Sim, phone: &Phone, watched: &str, extra: &[(&str, &str)]) -> Message {
    let call_id = sim.token("blf-");
    let first = subscribe_text(sim, phone, watched, &call_id, 1, extra);
    phone.send(sim, &first);
    let challenge = phone.recv(sim);
    if challenge.status() != 401 {
        return challenge;
    }
    let uri = format!("sip:{watched}@{PHONES_LISTEN}");
    let auth = phone.authorization(&challenge, "SUBSCRIBE", &uri, &phone.password);
    let mut extra = extra.to_vec();
    extra.push(("Authorization", &auth));
    let second = subscribe_text(sim, phone, watched, &call_id, 2, &extra);
    phone.send(sim, &second);
    phone.recv(sim)
}

/// A subscription, from the watching phone's side.
struct Watch {
    dialog: PeerDialog,
}

impl Watch {
    /// `phone` subscribes to `watched` for `expires` seconds: 200.
    #[track_caller]
    fn start(sim: &mut Sim, phone: &Phone, watched: &str, expires: u32) -> Watch {
        let expires = expires.to_string();
        let ok = subscribe_as(
            sim,
            phone,
            watched,
            &[("Event", "dialog"), ("Expires", &expires)],
        );
        assert_eq!(ok.status(), 200, "{}", ok.text());
        assert_eq!(ok.cseq_method(), "SUBSCRIBE");
        Watch {
            dialog: PeerDialog {
                flow: phone.flow(),
                call_id: ok.hdr("Call-ID").unwrap(),
                local: ok.hdr("From").unwrap(),
                remote: ok.hdr("To").unwrap(),
                target: uri_of(&ok.hdr("Contact").expect("200 to SUBSCRIBE has a Contact")),
                contact: phone.contact(),
                cseq: 2,
            },
        }
    }

    /// The next NOTIFY, answered 200: (Subscription-State, dialog state
    /// or "" when no dialog, version).
    #[track_caller]
    fn notify(&self, sim: &mut Sim) -> (String, String, u32) {
        let n = self.dialog.expect_request(sim, "NOTIFY");
        self.dialog
            .send(sim, &response(&n, 200, "OK", None, &[], ""));
        assert_eq!(n.hdr("Event").as_deref(), Some("dialog"), "{}", n.text());
        assert_eq!(n.hdr("Call-ID"), Some(self.dialog.call_id.clone()));
        assert_eq!(
            n.to_tag(),
            tag_of(&self.dialog.local),
            "NOTIFY is in the subscription's dialog"
        );
        assert!(n.hdr("Contact").is_some(), "{}", n.text());
        assert_eq!(
            n.hdr("Content-Type").as_deref(),
            Some("application/dialog-info+xml")
        );
        let body = n.body_text();
        assert!(body.contains("state=\"full\""), "{body}");
        let state = between(&body, "<state>", "</state>").unwrap_or_default();
        let root = &body[body.find("<dialog-info").expect("a dialog-info document")..];
        let version = between(root, "version=\"", "\"")
            .and_then(|v| v.parse().ok())
            .expect("a version");
        (n.hdr("Subscription-State").unwrap(), state, version)
    }

    /// Sends a SUBSCRIBE in the dialog asking for `expires`: its answer.
    fn refresh(&mut self, sim: &mut Sim, expires: u32) -> Message {
        let expires = expires.to_string();
        self.dialog.send_request_with(
            sim,
            "SUBSCRIBE",
            &[("Event", "dialog"), ("Expires", &expires)],
            "",
        );
        self.dialog.recv(sim)
    }
}

fn between(s: &str, a: &str, b: &str) -> Option<String> {
    let start = s.find(a)? + a.len();
    let end = s[start..].find(b)? + start;
    Some(s[start..end].to_string())
}

#[test]
fn a_watcher_sees_the_seat_ring_answer_and_hang_up() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    // The watcher need not be ready (nor registered) to watch.
    let watcher = Phone::new("8002");
    let watch = Watch::start(&mut sim, &watcher, "8001", 600);
    assert_eq!(
        watch.notify(&mut sim),
        ("active;expires=600".into(), "".into(), 0)
    );
    let trunk = Trunk::new();
    let (mut call, _ring, _agent) = {
        let (call, ring) = ringing_call(&mut sim, &trunk, &seat);
        let (state, dialog, version) = watch.notify(&mut sim);
        assert_eq!((dialog.as_str(), version), ("early", 1), "{state}");
        sim.advance(secs(2));
        let agent = seat.answer(&mut sim, &ring);
        seat.expect_request(&mut sim, "ACK");
        (call, ring, agent)
    };
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);
    let (state, dialog, version) = watch.notify(&mut sim);
    assert_eq!((dialog.as_str(), version), ("confirmed", 2));
    assert!(state.starts_with("active;expires=59"), "{state}");
    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    let (_, dialog, version) = watch.notify(&mut sim);
    assert_eq!((dialog.as_str(), version), ("terminated", 3));
    // Wrap-up, then ready: the watcher has nothing new to see.
    sim.advance(secs(10));
    assert_eq!(sim.seat_state("8001"), "ready");
    watch.dialog.assert_silent(&mut sim);
}

#[test]
fn the_early_dialog_is_recipient_and_named_after_the_call() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8003"]).remove(0);
    let watcher = Phone::new("8004");
    let watch = Watch::start(&mut sim, &watcher, "8003", 3600);
    watch.notify(&mut sim);
    let (_call, ring) = ringing_call(&mut sim, &Trunk::new(), &seat);
    let n = watch.dialog.expect_request(&mut sim, "NOTIFY");
    let body = n.body_text();
    assert!(
        body.contains(&format!(
            "<dialog id=\"{}\" direction=\"recipient\">",
            ring.call
        )),
        "{body}"
    );
    assert!(
        body.contains("entity=\"sip:8003@127.0.0.1:5060\""),
        "{body}"
    );
}

#[test]
fn refresh_and_unsubscribe() {
    let mut sim = Sim::demo();
    registered(&mut sim, &["8001"]);
    let mut watch = Watch::start(&mut sim, &Phone::new("8002"), "8001", 120);
    watch.notify(&mut sim);
    sim.advance(secs(100));
    let ok = watch.refresh(&mut sim, 7200);
    assert_eq!(ok.status(), 200, "{}", ok.text());
    assert_eq!(
        ok.hdr("Expires").as_deref(),
        Some("3600"),
        "capped at the maximum"
    );
    let (state, _, version) = watch.notify(&mut sim);
    assert_eq!((state.as_str(), version), ("active;expires=3600", 1));
    // Past the first expiry: the refresh holds.
    sim.advance(secs(60));
    watch.dialog.assert_silent(&mut sim);
    let ok = watch.refresh(&mut sim, 0);
    assert_eq!(ok.status(), 200);
    let (state, _, version) = watch.notify(&mut sim);
    assert_eq!((state.as_str(), version), ("terminated;reason=timeout", 2));
    assert!(sim.engine.blf.subscriptions().is_empty());
    // The dialog is gone.
    assert_eq!(watch.refresh(&mut sim, 600).status(), 481);
}

#[test]
fn an_unrefreshed_subscription_expires_with_a_last_notify() {
    let mut sim = Sim::demo();
    let watch = Watch::start(&mut sim, &Phone::new("8002"), "8001", 60);
    watch.notify(&mut sim);
    sim.advance(secs(59));
    watch.dialog.assert_silent(&mut sim);
    sim.advance(secs(1));
    let (state, _, _) = watch.notify(&mut sim);
    assert_eq!(state, "terminated;reason=timeout");
    assert!(sim.engine.blf.subscriptions().is_empty());
}

#[test]
fn a_watcher_that_answers_481_or_nothing_is_dropped() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let watch = Watch::start(&mut sim, &Phone::new("8002"), "8001", 600);
    let gone = Watch::start(&mut sim, &Phone::new("8003"), "8001", 600);
    let silent = Watch::start(&mut sim, &Phone::new("8004"), "8001", 600);
    for w in [&watch, &gone, &silent] {
        w.notify(&mut sim);
    }
    assert_eq!(sim.engine.blf.subscriptions().len(), 3);
    let (_call, _ring) = ringing_call(&mut sim, &Trunk::new(), &seat);
    watch.notify(&mut sim);
    let n = gone.dialog.expect_request(&mut sim, "NOTIFY");
    gone.dialog.send(
        &mut sim,
        &response(&n, 481, "Subscription Does Not Exist", None, &[], ""),
    );
    silent.dialog.expect_request(&mut sim, "NOTIFY");
    sim.advance(secs(40));
    assert_eq!(
        sim.engine.blf.subscriptions(),
        [("8002".to_string(), "8001".to_string())],
        "the 481 and the unanswered NOTIFY (timer F) end their subscriptions"
    );
}

#[test]
fn refusals() {
    let mut sim = Sim::demo();
    let phone = Phone::new("8002");
    let presence = subscribe_as(&mut sim, &phone, "8001", &[("Event", "presence")]);
    assert_eq!(presence.status(), 489, "{}", presence.text());
    assert_eq!(presence.hdr("Allow-Events").as_deref(), Some("dialog"));
    let none = subscribe_as(&mut sim, &phone, "8001", &[]);
    assert_eq!(none.status(), 489, "no Event header");
    let ev = [("Event", "dialog")];
    let unknown = subscribe_as(&mut sim, &phone, "9999", &ev);
    assert_eq!(unknown.status(), 404, "{}", unknown.text());
    let emergency = subscribe_as(&mut sim, &phone, "8021", &ev);
    assert_eq!(
        emergency.status(),
        403,
        "a 12345 seat may not watch a 110 seat"
    );
    let back = subscribe_as(&mut sim, &Phone::new("8021"), "8001", &ev);
    assert_eq!(back.status(), 403, "nor the other way round");
    let brief = subscribe_as(
        &mut sim,
        &phone,
        "8001",
        &[("Event", "dialog"), ("Expires", "10")],
    );
    assert_eq!(brief.status(), 423);
    assert_eq!(brief.hdr("Min-Expires").as_deref(), Some("60"));
    let pidf = subscribe_as(
        &mut sim,
        &phone,
        "8001",
        &[("Event", "dialog"), ("Accept", "application/pidf+xml")],
    );
    assert_eq!(pidf.status(), 406);
    // A wrong password: 403, as for REGISTER.
    let mut impostor = Phone::new("8002");
    impostor.password = "guess".into();
    assert_eq!(subscribe_as(&mut sim, &impostor, "8001", &ev).status(), 403);
    assert!(sim.engine.blf.subscriptions().is_empty());
    // Emergency seats watch each other.
    let watch = Watch::start(&mut sim, &Phone::new("8021"), "8022", 600);
    watch.notify(&mut sim);
}

#[test]
fn a_subscription_with_expires_zero_is_a_one_time_fetch() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let (_call, _ring, _agent) = answered_call(&mut sim, &Trunk::new(), &seat);
    let ok = subscribe_as(
        &mut sim,
        &Phone::new("8002"),
        "8001",
        &[("Event", "dialog"), ("Expires", "0")],
    );
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.hdr("Expires").as_deref(), Some("0"));
    let n = Phone::new("8002").expect_request(&mut sim, "NOTIFY");
    assert_eq!(
        n.hdr("Subscription-State").as_deref(),
        Some("terminated;reason=timeout")
    );
    assert!(n.body_text().contains("<state>confirmed</state>"));
    assert!(sim.engine.blf.subscriptions().is_empty());
}

#[test]
fn options_on_the_phones_side_allow_subscribe() {
    let mut sim = Sim::demo();
    let phone = Phone::new("8001");
    let branch = sim.token("z9hG4bK-");
    let text = request(
        "OPTIONS",
        &format!("sip:{PHONES_LISTEN}"),
        phone.addr,
        &branch,
        &[
            ("From", "<sip:8001@127.0.0.1>;tag=o1"),
            ("To", "<sip:hotline@127.0.0.1>"),
            ("Call-ID", "opt-1"),
            ("CSeq", "1 OPTIONS"),
        ],
        "",
    );
    phone.send(&mut sim, &text);
    let ok = phone.expect_response(&mut sim, 200, "OPTIONS");
    assert!(ok.hdr("Allow").is_some_and(|a| a.contains("SUBSCRIBE")));
}
