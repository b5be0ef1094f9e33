//! UDP reliability: hotline's retransmissions (timer A for the INVITE to
//! a seat, timer G for the 200 to the trunk) and its absorbing of the
//! peers' retransmissions.

use super::harness::{SipExt, ms, secs};
use super::peers::{Peer, Trunk};
use super::{Sim, offered_call, registered};
use crate::model::{HangupBy, Outcome};
use std::time::Duration;

/// When each message waiting for `peer` was sent, checking they are all
/// copies of `original`.
fn copies_of(sim: &mut Sim, peer: &impl Peer, original: &crate::sip::Message) -> Vec<Duration> {
    sim.drain(peer.flow())
        .into_iter()
        .map(|sent| {
            assert_eq!(
                sent.msg.text(),
                original.text(),
                "a retransmission repeats the message"
            );
            sent.at
        })
        .collect()
}

#[test]
fn the_invite_to_a_silent_seat_is_retransmitted_on_timer_a() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let (mut call, ring) = offered_call(&mut sim, &trunk, &seat);

    sim.advance(secs(8));
    assert_eq!(
        copies_of(&mut sim, &seat, &ring.invite),
        [ms(500), ms(1_500), ms(3_500), ms(7_500)]
    );

    // A provisional response stops them.
    seat.reply(&mut sim, &ring, 180, "Ringing");
    sim.advance(secs(6));
    seat.assert_silent(&mut sim);
    seat.answer(&mut sim, &ring);
    seat.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);
    assert_eq!(sim.last_record(&call.call_id).wait_ms, 14_000);
}

#[test]
fn the_200_to_the_trunk_is_retransmitted_until_acked() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let (mut call, ring) = offered_call(&mut sim, &trunk, &seat);
    seat.answer(&mut sim, &ring);
    seat.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");

    // Timer G: T1, doubling, capped at T2 = 4 s.
    sim.advance(secs(12));
    assert_eq!(
        copies_of(&mut sim, &call, &ok),
        [ms(500), ms(1_500), ms(3_500), ms(7_500), ms(11_500)]
    );

    call.confirm(&mut sim, &ok);
    sim.advance(secs(60));
    call.assert_silent(&mut sim);
    seat.assert_silent(&mut sim);
    assert_eq!(
        sim.seat_state("8001"),
        "on_call",
        "the ACK came in time: the call goes on"
    );
}

#[test]
fn a_200_never_acked_ends_the_call_after_64_t1() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let (call, ring) = offered_call(&mut sim, &trunk, &seat);
    let agent = seat.answer(&mut sim, &ring);
    seat.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");

    sim.advance(ms(31_900));
    seat.assert_silent(&mut sim);
    sim.advance(ms(200));
    let sent = sim.drain(call.flow());
    assert!(
        sent.iter()
            .all(|s| s.msg.code() == Some(200) || s.msg.is_method("BYE"))
    );
    let bye = &sent.last().expect("the trunk gets a BYE").msg;
    assert!(bye.is_method("BYE"), "{}", bye.text());
    assert_eq!(bye.hdr("Call-ID").as_deref(), Some(call.call_id.as_str()));
    assert!(copies_of(&mut sim, &call, &ok).is_empty());
    let bye = agent.expect_request(&mut sim, "BYE");
    agent.ok(&mut sim, &bye, "");

    let record = sim.final_record(&call.call_id);
    assert_eq!(
        (record.outcome, record.hangup_by),
        (Some(Outcome::Answered), Some(HangupBy::System))
    );
    assert_eq!(record.talk_ms, 32_000);
}

#[test]
fn a_retransmitted_trunk_invite_makes_no_second_call() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let mut call = trunk.call(&mut sim, "12345", "13800138000");
    call.expect_response(&mut sim, 100, "INVITE");
    let ringing = call.expect_response(&mut sim, 180, "INVITE");
    let ring = seat.expect_invite(&mut sim);
    seat.reply(&mut sim, &ring, 180, "Ringing");

    sim.advance(ms(500));
    call.retransmit(&mut sim);
    let again = call.expect_response(&mut sim, 180, "INVITE");
    assert_eq!(
        again.text(),
        ringing.text(),
        "the last response is repeated"
    );
    seat.assert_silent(&mut sim);
    assert_eq!(sim.engine.live_calls(sim.now).len(), 1);
    assert_eq!(sim.call_records(&call.call_id).len(), 1, "one call offered");

    seat.answer(&mut sim, &ring);
    seat.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.retransmit(&mut sim); // crossed with the 200
    assert_eq!(
        call.expect_response(&mut sim, 200, "INVITE").text(),
        ok.text()
    );
    call.confirm(&mut sim, &ok);
    call.retransmit(&mut sim); // a stray copy after the ACK
    sim.advance(secs(5));
    call.drain_responses(&mut sim, 200);
    seat.assert_silent(&mut sim);
    assert_eq!(sim.engine.live_calls(sim.now).len(), 1);
    let answered: Vec<_> = sim
        .call_records(&call.call_id)
        .into_iter()
        .filter(|r| r.answered_at_ms.is_some())
        .collect();
    assert_eq!(answered.len(), 1, "answered once");
    assert_eq!(sim.seat_state("8001"), "on_call");
}

#[test]
fn a_retransmitted_200_from_the_seat_is_acked_again_and_connects_once() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let (mut call, ring) = offered_call(&mut sim, &trunk, &seat);
    seat.answer(&mut sim, &ring);
    let ack = seat.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);

    sim.advance(ms(500)); // the phone did not get the ACK and repeats its 200
    seat.answer(&mut sim, &ring);
    let again = seat.expect_request(&mut sim, "ACK");
    assert_eq!(again.hdr("CSeq"), ack.hdr("CSeq"));
    assert_eq!(again.to_tag(), ack.to_tag());
    call.assert_silent(&mut sim);
    assert_eq!(
        sim.call_records(&call.call_id)
            .iter()
            .filter(|r| r.answered_at_ms.is_some())
            .count(),
        1
    );
    assert_eq!(sim.seat_state("8001"), "on_call");
}
