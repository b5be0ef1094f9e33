//! Seats that do not take the call: ring timeout, busy, decline; and a
//! seat rung again for the same call while its first INVITE is still
//! being cancelled.

use super::harness::{SipExt, response, secs};
use super::peers::{Peer, Trunk};
use super::{Sim, offered_call, registered, ringing_call};
use crate::acd::StateRequest;
use crate::b2bua::Command;
use crate::model::{EventKind, HangupBy, Outcome};

/// The `no_answer` events of a call: (seat, why).
fn no_answers(sim: &Sim, call: &str) -> Vec<(String, String)> {
    sim.events()
        .into_iter()
        .filter(|e| e.call_id.as_deref() == Some(call) && e.kind == EventKind::NoAnswer)
        .map(|e| (e.seat.unwrap_or_default(), e.detail.unwrap_or_default()))
        .collect()
}

#[test]
fn a_ring_timeout_cancels_the_seat_and_rings_the_next() {
    let mut sim = Sim::demo();
    let phones = registered(&mut sim, &["8001", "8002"]);
    let (first, second) = (&phones[0], &phones[1]);
    let trunk = Trunk::new();

    let (mut call, ring) = ringing_call(&mut sim, &trunk, first);
    second.assert_silent(&mut sim);

    sim.advance(secs(14));
    first.assert_silent(&mut sim);
    sim.advance(secs(1));
    first.expect_cancel(&mut sim, &ring);
    let next = second.expect_invite(&mut sim);
    assert_eq!(next.call, ring.call);
    assert_eq!(sim.seat_state("8001"), "ready");
    call.assert_silent(&mut sim); // the caller has heard ringing all along

    second.reply(&mut sim, &next, 180, "Ringing");
    sim.advance(secs(2));
    second.answer(&mut sim, &next);
    second.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);
    first.assert_silent(&mut sim);

    let record = sim.last_record(&call.call_id);
    assert_eq!(record.seat.as_deref(), Some("8002"));
    assert_eq!(record.wait_ms, 17_000);
    assert_eq!(
        no_answers(&sim, &ring.call),
        [("8001".into(), "no_answer".into())]
    );
    let rung: Vec<_> = sim
        .queue_events(&ring.call)
        .into_iter()
        .filter(|(k, _)| *k == EventKind::Ring)
        .collect();
    assert_eq!(
        rung,
        [
            (EventKind::Ring, Some("8001".into())),
            (EventKind::Ring, Some("8002".into()))
        ]
    );
}

#[test]
fn busy_and_decline_move_the_call_to_the_next_seat() {
    let mut sim = Sim::demo();
    let phones = registered(&mut sim, &["8001", "8002", "8003"]);
    let trunk = Trunk::new();

    let mut call = trunk.call(&mut sim, "12345", "13800138000");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");

    let ring = phones[0].expect_invite(&mut sim);
    phones[0].reply(&mut sim, &ring, 486, "Busy Here");
    phones[0].expect_ack_of_failure(&mut sim, &ring);

    // Within the queue's 2 s retry the busy seat is skipped for this call.
    let ring = phones[1].expect_invite(&mut sim);
    phones[1].reply(&mut sim, &ring, 180, "Ringing");
    sim.advance(secs(1));
    phones[1].reply(&mut sim, &ring, 603, "Decline");
    phones[1].expect_ack_of_failure(&mut sim, &ring);

    let ring = phones[2].expect_invite(&mut sim);
    phones[2].answer(&mut sim, &ring);
    phones[2].expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);

    assert_eq!(
        no_answers(&sim, &ring.call),
        [
            ("8001".into(), "busy".into()),
            ("8002".into(), "declined".into())
        ]
    );
    assert_eq!(
        [
            sim.seat_state("8001"),
            sim.seat_state("8002"),
            sim.seat_state("8003")
        ],
        ["ready", "ready", "on_call"]
    );
    phones[0].assert_silent(&mut sim);
    phones[1].assert_silent(&mut sim);
}

/// The only seat lets the call ring out and answers the CANCEL, but its
/// 487 is late (lost once, say). Meanwhile the retry rings it again for
/// the same call: the late 487 must end the old INVITE, not the new one.
#[test]
fn a_late_487_does_not_end_the_next_ring_of_the_same_seat() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();

    let (mut call, first) = ringing_call(&mut sim, &trunk, &seat);

    sim.advance(secs(15));
    let cancel = seat.expect_request(&mut sim, "CANCEL");
    seat.send(&mut sim, &response(&cancel, 200, "OK", None, &[], ""));
    sim.advance(secs(2)); // the retry time of the citizen queue
    let second = seat.expect_invite(&mut sim);
    assert_ne!(
        second.invite.hdr("Call-ID"),
        first.invite.hdr("Call-ID"),
        "a new leg"
    );
    seat.reply(&mut sim, &second, 180, "Ringing");

    sim.advance(secs(1));
    seat.reply(&mut sim, &first, 487, "Request Terminated");
    seat.expect_ack_of_failure(&mut sim, &first);
    seat.assert_silent(&mut sim);
    assert_eq!(sim.seat_state("8001"), "ringing", "the second ring goes on");

    sim.advance(secs(1));
    seat.answer(&mut sim, &second);
    seat.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);
    assert_eq!(sim.seat_state("8001"), "on_call");
}

/// As above, but the phone never sends the 487 at all: when hotline gives
/// up on the first INVITE (64*T1 after the CANCEL), the call the second
/// ring connected must not lose its seat leg.
#[test]
fn giving_up_on_a_cancelled_invite_leaves_the_next_call_leg_alone() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();

    let (mut call, _first) = ringing_call(&mut sim, &trunk, &seat);
    sim.advance(secs(15));
    let cancel = seat.expect_request(&mut sim, "CANCEL");
    seat.send(&mut sim, &response(&cancel, 200, "OK", None, &[], ""));

    sim.advance(secs(2));
    let second = seat.expect_invite(&mut sim);
    let agent = seat.answer(&mut sim, &second);
    seat.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);

    sim.advance(secs(60)); // past 64*T1 after the CANCEL
    seat.assert_silent(&mut sim);
    assert_eq!(sim.seat_state("8001"), "on_call");
    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    let bye = seat.expect_request(&mut sim, "BYE");
    assert_eq!(bye.hdr("Call-ID"), second.invite.hdr("Call-ID"));
    agent.ok(&mut sim, &bye, "");
    let record = sim.final_record(&call.call_id);
    assert_eq!(
        (record.outcome, record.hangup_by),
        (Some(Outcome::Answered), Some(HangupBy::Caller))
    );
}

/// The first INVITE of a re-rung seat answers late (the agent picked up as
/// hotline cancelled): that leg is ACKed and hung up, the new ring goes on.
#[test]
fn a_late_200_on_a_replaced_ring_is_acked_and_hung_up() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let (call, first) = ringing_call(&mut sim, &trunk, &seat);
    sim.advance(secs(15));
    let cancel = seat.expect_request(&mut sim, "CANCEL");
    seat.send(&mut sim, &response(&cancel, 200, "OK", None, &[], ""));
    sim.advance(secs(2));
    let second = seat.expect_invite(&mut sim);
    seat.reply(&mut sim, &second, 180, "Ringing");

    let stale = seat.answer(&mut sim, &first);
    let ack = seat.expect_request(&mut sim, "ACK");
    assert_eq!(ack.hdr("Call-ID"), first.invite.hdr("Call-ID"));
    let bye = stale.expect_request(&mut sim, "BYE");
    assert_eq!(bye.hdr("Call-ID"), first.invite.hdr("Call-ID"));
    assert_eq!(bye.to_tag().as_deref(), Some(first.tag.as_str()));
    stale.ok(&mut sim, &bye, "");
    assert_eq!(sim.seat_state("8001"), "ringing");
    call.assert_silent(&mut sim);

    seat.answer(&mut sim, &second);
    seat.expect_request(&mut sim, "ACK");
    call.expect_response(&mut sim, 200, "INVITE");
    assert_eq!(sim.last_record(&call.call_id).seat.as_deref(), Some("8001"));
}

/// A phone that says nothing to its INVITE: hotline may not CANCEL before
/// a provisional response (RFC 3261 §9.1), so when the ring times out the
/// seat is paused as unreachable instead of being rung again while that
/// INVITE may still be pending. A late 180 gets its CANCEL; once the agent
/// is ready again the waiting call rings the phone afresh.
#[test]
fn a_phone_that_never_rings_is_paused_and_its_late_ring_cancelled() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let (call, first) = offered_call(&mut sim, &trunk, &seat);
    sim.advance(secs(17));
    let got: Vec<_> = sim.drain(seat.flow()).into_iter().map(|s| s.msg).collect();
    assert!(
        !got.is_empty() && got.iter().all(|m| m.text() == first.invite.text()),
        "only Timer A retransmissions"
    );
    assert_eq!(sim.seat_state("8001"), "not_ready");

    seat.reply(&mut sim, &first, 180, "Ringing");
    seat.expect_cancel(&mut sim, &first);
    sim.advance(secs(2));
    seat.assert_silent(&mut sim);

    sim.command(Command::SetAgentState {
        seat: "8001".into(),
        request: StateRequest::Ready,
    })
    .unwrap();
    let second = seat.expect_invite(&mut sim);
    assert_ne!(second.invite.hdr("Call-ID"), first.invite.hdr("Call-ID"));
    seat.reply(&mut sim, &second, 180, "Ringing");
    assert_eq!(sim.seat_state("8001"), "ringing");
    seat.answer(&mut sim, &second);
    seat.expect_request(&mut sim, "ACK");
    call.expect_response(&mut sim, 200, "INVITE");
}

/// Emergency lines ring every ready seat at once: the first to answer
/// takes the call, the other is CANCELled, or hung up if it answered too.
#[test]
fn ring_all_connects_the_first_to_answer() {
    let mut sim = Sim::demo();
    let phones = registered(&mut sim, &["8021", "8022", "8023"]);
    let trunk = Trunk::new();
    let mut call = trunk.call(&mut sim, "110", "13800138000");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");
    let rings: Vec<_> = phones.iter().map(|p| p.expect_invite(&mut sim)).collect();
    assert_eq!(
        rings[0].invite.hdr("X-Hotline-Queue").as_deref(),
        Some("emergency")
    );
    phones[0].reply(&mut sim, &rings[0], 180, "Ringing");
    phones[1].reply(&mut sim, &rings[1], 180, "Ringing");

    phones[1].answer(&mut sim, &rings[1]);
    phones[1].expect_request(&mut sim, "ACK");
    phones[0].expect_cancel(&mut sim, &rings[0]);
    phones[2].assert_silent(&mut sim); // no 1xx yet: cancelled once it rings
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);

    let late = phones[2].answer(&mut sim, &rings[2]);
    phones[2].expect_request(&mut sim, "ACK");
    let bye = late.expect_request(&mut sim, "BYE");
    late.ok(&mut sim, &bye, "");
    call.assert_silent(&mut sim);
    assert_eq!(
        [
            sim.seat_state("8021"),
            sim.seat_state("8022"),
            sim.seat_state("8023")
        ],
        ["ready", "on_call", "ready"]
    );
    assert_eq!(sim.last_record(&call.call_id).seat.as_deref(), Some("8022"));
}
