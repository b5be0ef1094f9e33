//! Calls from the trunk to a seat: answered and hung up from either side,
//! and abandoned by the caller while waiting or while a seat rings.

use super::harness::{SipExt, UNIX_START_MS, secs, tag_of};
use super::peers::{Peer, Trunk};
use super::{Sim, offered_call, registered, ringing_call};
use crate::model::{EventKind, HangupBy, Outcome};

#[test]
fn an_answered_call_ends_when_the_caller_hangs_up() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();

    let mut call = trunk.call(&mut sim, "12345", "13800138000");
    call.expect_response(&mut sim, 100, "INVITE");
    let ringing = call.expect_response(&mut sim, 180, "INVITE");
    let ring = seat.expect_invite(&mut sim);
    assert!(
        ring.invite
            .hdr("From")
            .is_some_and(|f| f.contains("sip:13800138000@")),
        "{}",
        ring.invite.text()
    );
    assert_eq!(ring.invite.hdr("X-Hotline-Line").as_deref(), Some("12345"));
    assert_eq!(
        ring.invite.hdr("X-Hotline-Queue").as_deref(),
        Some("citizen")
    );
    assert_eq!(
        ring.invite.hdr("X-Hotline-Tag").as_deref(),
        Some("citizen-service")
    );
    assert_eq!(
        ring.invite.body_text(),
        trunk.offer(),
        "the caller's offer goes to the seat"
    );
    assert_eq!(sim.seat_state("8001"), "ringing");

    seat.reply(&mut sim, &ring, 180, "Ringing");
    call.assert_silent(&mut sim);
    sim.advance(secs(3));
    let mut agent = seat.answer(&mut sim, &ring);

    let ack = seat.expect_request(&mut sim, "ACK");
    assert_eq!(ack.hdr("CSeq").as_deref(), Some("1 ACK"));
    assert_eq!(ack.to_tag().as_deref(), Some(ring.tag.as_str()));
    assert_ne!(
        ack.hdr("Via"),
        ring.invite.hdr("Via"),
        "the ACK of a 2xx is a transaction of its own"
    );
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    assert_eq!(
        ok.body_text(),
        seat.answer_sdp(),
        "the seat's answer goes to the caller"
    );
    assert_eq!(
        ok.to_tag(),
        ringing.to_tag(),
        "the 200 confirms the dialog the 180 began"
    );
    call.confirm(&mut sim, &ok);
    assert_eq!(sim.seat_state("8001"), "on_call");

    sim.advance(secs(42));
    call.assert_silent(&mut sim);
    seat.assert_silent(&mut sim);
    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    let bye = seat.expect_request(&mut sim, "BYE");
    assert_eq!(bye.hdr("Call-ID"), ring.invite.hdr("Call-ID"));
    assert_eq!(bye.to_tag().as_deref(), Some(ring.tag.as_str()));
    assert_eq!(
        bye.target(),
        format!("sip:8001@{}", seat.addr),
        "BYE goes to the seat's Contact"
    );
    agent.ok(&mut sim, &bye, "");

    let record = sim.final_record(&call.call_id);
    assert_eq!(record.outcome, Some(Outcome::Answered));
    assert_eq!(record.hangup_by, Some(HangupBy::Caller));
    assert_eq!(record.seat.as_deref(), Some("8001"));
    assert_eq!(
        (record.caller.as_str(), record.line.as_str()),
        ("13800138000", "12345")
    );
    assert_eq!(record.queue.as_deref(), Some("citizen"));
    assert_eq!((record.wait_ms, record.talk_ms), (3_000, 42_000));
    assert_eq!(record.offered_at_ms, UNIX_START_MS);
    assert_eq!(record.answered_at_ms, Some(UNIX_START_MS + 3_000));
    assert_eq!(record.ended_at_ms, Some(UNIX_START_MS + 45_000));
    let at_seat = Some("8001".to_string());
    assert_eq!(
        sim.queue_events(&ring.call),
        [
            (EventKind::Enqueue, None),
            (EventKind::Ring, at_seat.clone()),
            (EventKind::Connect, at_seat.clone()),
            (EventKind::Complete, at_seat),
        ]
    );

    assert_eq!(sim.seat_state("8001"), "wrap_up");
    sim.advance(secs(5));
    assert_eq!(sim.seat_state("8001"), "ready");
    assert!(sim.engine.live_calls(sim.now).is_empty());
    call.assert_silent(&mut sim);
    agent.assert_silent(&mut sim);
    let _ = agent.send_request(&mut sim, "OPTIONS", "");
    agent.expect_response(&mut sim, 481, "OPTIONS");
}

#[test]
fn the_agent_hanging_up_ends_the_trunk_leg() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();

    let (mut call, ring) = ringing_call(&mut sim, &trunk, &seat);
    sim.advance(secs(2));
    let mut agent = seat.answer(&mut sim, &ring);
    seat.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);

    sim.advance(secs(30));
    agent.send_request(&mut sim, "BYE", "");
    agent.expect_response(&mut sim, 200, "BYE");
    let bye = call.expect_request(&mut sim, "BYE");
    assert_eq!(bye.hdr("Call-ID").as_deref(), Some(call.call_id.as_str()));
    assert_eq!(
        bye.to_tag(),
        tag_of(&call.dialog().local),
        "To carries the caller's tag"
    );
    assert_eq!(
        bye.target(),
        "sip:13800138000@127.0.0.2:5070",
        "BYE goes to the caller's Contact"
    );
    let from_tag = bye.hdr("From").and_then(|f| tag_of(&f));
    assert_eq!(
        from_tag,
        ok.to_tag(),
        "From carries hotline's tag of the trunk dialog"
    );
    call.dialog().ok(&mut sim, &bye, "");

    let record = sim.final_record(&call.call_id);
    assert_eq!(record.outcome, Some(Outcome::Answered));
    assert_eq!(record.hangup_by, Some(HangupBy::Agent));
    assert_eq!((record.wait_ms, record.talk_ms), (2_000, 30_000));
    assert_eq!(sim.seat_state("8001"), "wrap_up");
    sim.advance(secs(60));
    call.assert_silent(&mut sim);
    seat.assert_silent(&mut sim);
    assert!(sim.engine.live_calls(sim.now).is_empty());
}

#[test]
fn the_caller_cancelling_while_queued_abandons_the_call() {
    let mut sim = Sim::demo();
    let trunk = Trunk::new();

    let call = trunk.call(&mut sim, "12345", "13800138000");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");
    let live = sim.engine.live_calls(sim.now);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].state, "waiting");
    sim.advance(secs(20));
    call.assert_silent(&mut sim);

    call.cancel(&mut sim);
    call.expect_response(&mut sim, 200, "CANCEL");
    let terminated = call.expect_response(&mut sim, 487, "INVITE");
    call.ack_failure(&mut sim, &terminated);
    sim.advance(secs(40));
    call.assert_silent(&mut sim);

    let record = sim.final_record(&call.call_id);
    assert_eq!(record.outcome, Some(Outcome::Abandoned));
    assert_eq!(record.hangup_by, Some(HangupBy::Caller));
    assert_eq!(record.seat, None);
    assert_eq!((record.wait_ms, record.talk_ms), (20_000, 0));
    assert!(sim.engine.live_calls(sim.now).is_empty());
    assert!(
        sim.engine
            .acd_snapshot(sim.now)
            .queues
            .iter()
            .all(|q| q.waiting == 0)
    );
    let kinds: Vec<EventKind> = sim
        .queue_events(&live[0].id)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, [EventKind::Enqueue, EventKind::Abandon]);
}

#[test]
fn the_caller_cancelling_while_a_seat_rings_cancels_the_seat() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();

    let (call, ring) = ringing_call(&mut sim, &trunk, &seat);
    sim.advance(secs(4));

    call.cancel(&mut sim);
    call.expect_response(&mut sim, 200, "CANCEL");
    let terminated = call.expect_response(&mut sim, 487, "INVITE");
    call.ack_failure(&mut sim, &terminated);
    seat.expect_cancel(&mut sim, &ring);

    let record = sim.final_record(&call.call_id);
    assert_eq!(record.outcome, Some(Outcome::Abandoned));
    assert_eq!(record.wait_ms, 4_000);
    assert_eq!(sim.seat_state("8001"), "ready");
    let kinds: Vec<EventKind> = sim
        .queue_events(&ring.call)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        kinds,
        [EventKind::Enqueue, EventKind::Ring, EventKind::Abandon]
    );
    sim.advance(secs(60));
    call.assert_silent(&mut sim);
    seat.assert_silent(&mut sim);
    assert!(sim.engine.live_calls(sim.now).is_empty());
}

/// The caller gives up before the seat's phone said anything, and the
/// phone then answers: hotline ACKs it and hangs it up at once.
#[test]
fn a_seat_answering_after_the_caller_left_is_acked_and_hung_up() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let (call, ring) = offered_call(&mut sim, &trunk, &seat);

    call.cancel(&mut sim);
    call.expect_response(&mut sim, 200, "CANCEL");
    let terminated = call.expect_response(&mut sim, 487, "INVITE");
    call.ack_failure(&mut sim, &terminated);
    seat.assert_silent(&mut sim); // no CANCEL before a provisional response
    assert_eq!(sim.seat_state("8001"), "ready");

    let agent = seat.answer(&mut sim, &ring);
    seat.expect_request(&mut sim, "ACK");
    let bye = agent.expect_request(&mut sim, "BYE");
    agent.ok(&mut sim, &bye, "");
    call.assert_silent(&mut sim);
    assert_eq!(
        sim.final_record(&call.call_id).outcome,
        Some(Outcome::Abandoned)
    );
    assert_eq!(sim.seat_state("8001"), "ready");
    sim.advance(secs(60));
    assert!(sim.engine.live_calls(sim.now).is_empty());
}

#[test]
fn a_call_waiting_past_the_queues_max_wait_is_rejected() {
    let mut sim = Sim::demo();
    let trunk = Trunk::new();
    let call = trunk.call(&mut sim, "12345", "13800138000");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");
    sim.advance(secs(599));
    call.assert_silent(&mut sim);
    sim.advance(secs(1));
    let busy = call.expect_response(&mut sim, 486, "INVITE");
    assert_eq!(
        busy.reason().as_deref(),
        Some("all agents busy, please call again later")
    );
    call.ack_failure(&mut sim, &busy);
    let record = sim.final_record(&call.call_id);
    assert_eq!(record.outcome, Some(Outcome::Rejected));
    assert_eq!(record.wait_ms, 600_000);
}

/// RFC 3261 §15: a caller may end an early dialog with BYE instead of
/// CANCEL. The call is abandoned, not answered: 200 to the BYE, 487 to the
/// INVITE, and the ringing seat is CANCELled.
#[test]
fn a_bye_in_the_early_dialog_abandons_the_call() {
    let mut sim = Sim::demo();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let trunk = Trunk::new();
    let call = trunk.call(&mut sim, "12345", "13800138000");
    call.expect_response(&mut sim, 100, "INVITE");
    let ringing = call.expect_response(&mut sim, 180, "INVITE");
    let ring = seat.expect_invite(&mut sim);
    seat.reply(&mut sim, &ring, 180, "Ringing");
    sim.advance(secs(3));

    call.early_dialog(&ringing)
        .send_request(&mut sim, "BYE", "");
    call.expect_response(&mut sim, 200, "BYE");
    let terminated = call.expect_response(&mut sim, 487, "INVITE");
    call.ack_failure(&mut sim, &terminated);
    seat.expect_cancel(&mut sim, &ring);

    let record = sim.final_record(&call.call_id);
    assert_eq!(
        (record.outcome, record.hangup_by),
        (Some(Outcome::Abandoned), Some(HangupBy::Caller))
    );
    assert_eq!(
        (record.wait_ms, record.talk_ms, record.seat),
        (3_000, 0, None)
    );
    assert_eq!(sim.seat_state("8001"), "ready");
    sim.advance(secs(60));
    call.assert_silent(&mut sim);
    assert!(sim.engine.live_calls(sim.now).is_empty());
}
