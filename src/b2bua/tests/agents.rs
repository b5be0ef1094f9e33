//! Agent state driven from the desk phone: feature codes, and what a
//! registration that lapses and comes back does to a seat.

use super::harness::{PHONES_LISTEN, SipExt, request, response, secs};
use super::peers::{Peer, Trunk};
use super::phone::Phone;
use super::{Sim, answered_call, registered};
use crate::sip::Message;

/// The seat dials a feature code: 407, then INVITE with credentials, 200
/// (an inactive call), ACK, and hotline hangs up at once. Returns what
/// else the phone got meanwhile (a call ringing it once it is ready).
pub(super) fn dial_feature(sim: &mut Sim, phone: &Phone, code: &str) -> Vec<Message> {
    let d = phone.dial(sim, code);
    let (from, call_id) = (d.from, d.call_id);
    let ok = phone.expect_response(sim, 200, "INVITE");
    let others: Vec<Message> = sim.drain(phone.flow()).into_iter().map(|s| s.msg).collect();
    assert!(ok.body_text().contains("a=inactive"), "{}", ok.text());
    let to_tagged = ok.hdr("To").unwrap();
    let target = super::harness::uri_of(&ok.hdr("Contact").unwrap());
    let branch = sim.token("z9hG4bK-");
    let ack = [
        ("From", from.as_str()),
        ("To", &to_tagged),
        ("Call-ID", &call_id),
        ("CSeq", "2 ACK"),
    ];
    phone.send(sim, &request("ACK", &target, phone.addr, &branch, &ack, ""));
    let bye = phone.expect_request(sim, "BYE");
    assert_eq!(bye.hdr("Call-ID").as_deref(), Some(call_id.as_str()));
    phone.send(sim, &response(&bye, 200, "OK", None, &[], ""));
    others
}

#[test]
fn feature_codes_change_the_agent_state() {
    let mut sim = Sim::demo();
    let phone = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();

    assert!(dial_feature(&mut sim, &phone, "*142").is_empty());
    let snap = sim.engine.acd_snapshot(sim.now);
    let seat = snap.seats.iter().find(|s| s.extension == "8001").unwrap();
    assert_eq!(seat.state.label(), "not_ready:lunch");

    // A call now waits instead of ringing the seat on its lunch break.
    let mut call = trunk.call(&mut sim, "12345", "13800138000");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");
    sim.advance(secs(30));
    phone.assert_silent(&mut sim);

    // Ready again: the waiting call rings the seat at once, while the
    // feature-code call is still being hung up.
    let mut others = dial_feature(&mut sim, &phone, "*13");
    assert_eq!(others.len(), 1, "{others:?}");
    let ring = phone.expect_invite_from(&mut sim, others.remove(0));
    assert_eq!(sim.seat_state("8001"), "ringing");
    phone.reply(&mut sim, &ring, 180, "Ringing");
    phone.answer(&mut sim, &ring);
    phone.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    assert_eq!(sim.last_record(&call.call_id).wait_ms, 30_000);
    call.confirm(&mut sim, &ok);
}

/// With auto_ready, a registered seat is logged in. A phone whose
/// registration lapses during a call and comes back before the call is
/// over should still be logged in afterwards; the ACD logs it out when the
/// call's wrap-up ends (`Acd::seat_reachable(false)` while busy sets
/// `after_call = LoggedOut`, and `seat_reachable(true)` while still busy
/// does not clear it), and it stays logged out while registered, so calls
/// wait for it forever.
#[test]
fn a_registration_renewed_during_a_call_keeps_the_seat_logged_in() {
    let mut sim = Sim::demo();
    let mut phone = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let (mut call, _ring, agent) = answered_call(&mut sim, &trunk, &phone);

    // The phone reboots mid-call: it unregisters, then registers again.
    phone.send_register(&mut sim, None, 0);
    let challenge = phone.expect_response(&mut sim, 401, "REGISTER");
    let auth = phone.authorization(
        &challenge,
        "REGISTER",
        &format!("sip:{PHONES_LISTEN}"),
        &phone.password.clone(),
    );
    phone.send_register(&mut sim, Some(&auth), 0);
    phone.expect_response(&mut sim, 200, "REGISTER");
    phone.register(&mut sim);
    assert_eq!(sim.seat_state("8001"), "on_call");

    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    let bye = agent.expect_request(&mut sim, "BYE");
    agent.ok(&mut sim, &bye, "");
    sim.advance(secs(6)); // past the 5 s wrap-up
    assert_eq!(
        sim.seat_state("8001"),
        "ready",
        "registered, auto_ready: the seat takes calls again"
    );
}
