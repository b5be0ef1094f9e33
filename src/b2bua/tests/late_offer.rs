//! Late offer (RFC 3264 §5): an INVITE without SDP, the offer in the 2xx,
//! the answer in the ACK. hotline relays SDP unchanged, so the ACK to the
//! leg that offered waits for the other leg's ACK and carries its answer.

use super::harness::{SipExt, ms, sdp, secs};
use super::peers::{Peer, Trunk};
use super::{Sim, answered_call, registered};
use crate::model::HangupBy;

#[test]
fn the_callers_answer_reaches_the_seat_in_the_ack() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();

    let mut call = trunk.call_without_offer(&mut sim, "12345", "13800138000");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");
    let ring = seat.expect_invite(&mut sim);
    assert!(ring.invite.body.is_empty(), "no offer to relay");
    seat.reply(&mut sim, &ring, 180, "Ringing");
    seat.answer(&mut sim, &ring);
    seat.assert_silent(&mut sim); // the ACK waits for the caller's answer
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    assert_eq!(
        ok.body_text(),
        seat.answer_sdp(),
        "the seat's offer goes to the caller"
    );

    sim.advance(ms(200));
    seat.answer(&mut sim, &ring); // the phone repeats its 200 meanwhile
    seat.assert_silent(&mut sim);

    let answer = sdp("127.0.0.2", 20_000, "sendrecv");
    call.confirm_with_answer(&mut sim, &ok, &answer);
    let ack = seat.expect_request(&mut sim, "ACK");
    assert_eq!(ack.hdr("CSeq").as_deref(), Some("1 ACK"));
    assert_eq!(ack.to_tag().as_deref(), Some(ring.tag.as_str()));
    assert_eq!(
        ack.body_text(),
        answer,
        "the caller's answer goes to the seat"
    );
    assert_eq!(ack.hdr("Content-Type").as_deref(), Some("application/sdp"));

    seat.answer(&mut sim, &ring); // a late repeat is ACKed again, plainly
    assert!(seat.expect_request(&mut sim, "ACK").body.is_empty());
    sim.advance(secs(10));
    seat.assert_silent(&mut sim);
    call.assert_silent(&mut sim);
    assert_eq!(sim.seat_state("8001"), "on_call");
}

#[test]
fn a_seat_whose_ack_waited_in_vain_is_acked_before_its_bye() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let call = trunk.call_without_offer(&mut sim, "12345", "13800138000");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");
    let ring = seat.expect_invite(&mut sim);
    let agent = seat.answer(&mut sim, &ring);
    call.expect_response(&mut sim, 200, "INVITE");

    sim.advance(secs(33)); // the trunk never ACKs: hotline gives up after 64*T1
    let ack = seat.expect_request(&mut sim, "ACK");
    assert_eq!(ack.hdr("CSeq").as_deref(), Some("1 ACK"));
    let bye = agent.expect_request(&mut sim, "BYE");
    agent.ok(&mut sim, &bye, "");
    assert_eq!(
        sim.final_record(&call.call_id).hangup_by,
        Some(HangupBy::System)
    );
}

#[test]
fn a_reinvite_without_sdp_gets_its_answer_through_the_ack() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let (mut call, _ring, mut agent) = answered_call(&mut sim, &trunk, &seat);

    let cseq = agent.send_request(&mut sim, "INVITE", "");
    agent.expect_response(&mut sim, 100, "INVITE");
    let reinvite = call.expect_request(&mut sim, "INVITE");
    assert!(reinvite.body.is_empty());
    let offer = sdp("127.0.0.2", 20_004, "sendrecv");
    call.dialog().ok(&mut sim, &reinvite, &offer);
    call.assert_silent(&mut sim); // hotline's ACK waits for the seat's answer
    let ok = agent.expect_response(&mut sim, 200, "INVITE");
    assert_eq!(ok.body_text(), offer);

    let answer = sdp("127.0.1.1", 30_004, "sendonly");
    agent.ack_with(&mut sim, cseq, &answer);
    let ack = call.expect_request(&mut sim, "ACK");
    assert_eq!(
        ack.hdr("CSeq"),
        reinvite.hdr("CSeq").map(|c| c.replace("INVITE", "ACK"))
    );
    assert_eq!(ack.body_text(), answer);
    sim.advance(secs(40));
    call.assert_silent(&mut sim);
    agent.assert_silent(&mut sim);
}
