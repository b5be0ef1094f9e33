//! In-dialog requests of a connected call: re-INVITEs (hold and resume)
//! relayed from one leg to the other and their answers relayed back.

use super::harness::{SipExt, sdp, secs, tag_of};
use super::peers::{Peer, Trunk};
use super::{Sim, answered_call, registered};
use crate::model::{HangupBy, Outcome};

#[test]
fn hold_from_the_seat_is_relayed_to_the_trunk_and_the_answer_back() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let (mut call, _ring, mut agent) = answered_call(&mut sim, &trunk, &seat);
    sim.advance(secs(10));

    let hold = sdp("127.0.1.1", 30_000, "sendonly");
    let cseq = agent.send_request(&mut sim, "INVITE", &hold);
    agent.expect_response(&mut sim, 100, "INVITE");
    let reinvite = call.expect_request(&mut sim, "INVITE");
    assert_eq!(
        reinvite.body_text(),
        hold,
        "the seat's offer goes to the caller unchanged"
    );
    assert_eq!(reinvite.target(), "sip:13800138000@127.0.0.2:5070");
    assert_eq!(
        reinvite.to_tag(),
        tag_of(&call.dialog().local),
        "in the trunk dialog"
    );
    assert_eq!(
        reinvite.hdr("CSeq").as_deref(),
        Some("1 INVITE"),
        "hotline's first request on the trunk leg"
    );
    assert!(reinvite.hdr("Contact").is_some());

    let held = sdp("127.0.0.2", 20_000, "recvonly");
    call.dialog().ok(&mut sim, &reinvite, &held);
    let ack = call.expect_request(&mut sim, "ACK");
    assert_eq!(ack.hdr("CSeq").as_deref(), Some("1 ACK"));
    let ok = agent.expect_response(&mut sim, 200, "INVITE");
    assert_eq!(
        ok.body_text(),
        held,
        "the caller's answer goes back to the seat"
    );
    assert_eq!(ok.hdr("CSeq"), Some(format!("{cseq} INVITE")));
    assert!(ok.hdr("Contact").is_some());
    agent.ack(&mut sim, cseq);

    sim.advance(secs(30));
    call.assert_silent(&mut sim);
    agent.assert_silent(&mut sim);
    assert_eq!(sim.seat_state("8001"), "on_call");
}

#[test]
fn resume_from_the_trunk_is_relayed_to_the_seat_and_the_answer_back() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let (mut call, ring, agent) = answered_call(&mut sim, &trunk, &seat);

    let resume = sdp("127.0.0.2", 20_002, "sendrecv");
    let cseq = call.dialog().send_request(&mut sim, "INVITE", &resume);
    call.expect_response(&mut sim, 100, "INVITE");
    let reinvite = agent.expect_request(&mut sim, "INVITE");
    assert_eq!(reinvite.body_text(), resume);
    assert_eq!(
        reinvite.hdr("Call-ID"),
        ring.invite.hdr("Call-ID"),
        "in the seat dialog"
    );
    assert_eq!(reinvite.to_tag().as_deref(), Some(ring.tag.as_str()));
    assert_eq!(
        reinvite.hdr("CSeq").as_deref(),
        Some("2 INVITE"),
        "after the INVITE's CSeq 1"
    );
    assert_eq!(
        reinvite.target(),
        format!("sip:8001@{}", seat.addr),
        "to the seat's Contact from its 200"
    );

    let answer = sdp("127.0.1.1", 30_002, "sendrecv");
    agent.ok(&mut sim, &reinvite, &answer);
    let ack = agent.expect_request(&mut sim, "ACK");
    assert_eq!(ack.hdr("CSeq").as_deref(), Some("2 ACK"));
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    assert_eq!(ok.body_text(), answer);
    call.dialog().ack(&mut sim, cseq);

    sim.advance(secs(30));
    call.assert_silent(&mut sim);
    agent.assert_silent(&mut sim);

    // The dialogs go on: the caller hangs up with the next CSeq.
    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    let bye = agent.expect_request(&mut sim, "BYE");
    assert_eq!(bye.hdr("CSeq").as_deref(), Some("3 BYE"));
    agent.ok(&mut sim, &bye, "");
    let record = sim.final_record(&call.call_id);
    assert_eq!(
        (record.outcome, record.hangup_by),
        (Some(Outcome::Answered), Some(HangupBy::Caller))
    );
}

#[test]
fn a_refused_reinvite_is_relayed_back_and_the_call_goes_on() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let (mut call, _ring, mut agent) = answered_call(&mut sim, &trunk, &seat);

    agent.send_request(&mut sim, "INVITE", &sdp("127.0.1.1", 30_000, "sendonly"));
    agent.expect_response(&mut sim, 100, "INVITE");
    let reinvite = call.expect_request(&mut sim, "INVITE");
    let refusal = super::harness::response(&reinvite, 488, "Not Acceptable Here", None, &[], "");
    call.send(&mut sim, &refusal);
    let ack = call.expect_request(&mut sim, "ACK");
    assert_eq!(
        ack.hdr("Via"),
        reinvite.hdr("Via"),
        "hotline ACKs the 488 in its transaction"
    );
    let relayed = agent.expect_response(&mut sim, 488, "INVITE");
    agent.ack_failure(&mut sim, &relayed);

    sim.advance(secs(40));
    agent.assert_silent(&mut sim);
    call.assert_silent(&mut sim);
    assert_eq!(sim.seat_state("8001"), "on_call");
    agent.send_request(&mut sim, "BYE", "");
    agent.expect_response(&mut sim, 200, "BYE");
    let bye = call.expect_request(&mut sim, "BYE");
    call.dialog().ok(&mut sim, &bye, "");
    assert_eq!(
        sim.final_record(&call.call_id).hangup_by,
        Some(HangupBy::Agent)
    );
}
