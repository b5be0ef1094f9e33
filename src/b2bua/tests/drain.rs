//! Stopping (`drain.rs`), in simulated time: while hotline drains, new
//! calls get 503 and the calls in progress go on; then what is left is
//! hung up, each record saying why.

use super::agents::dial_feature;
use super::harness::{SipExt, secs};
use super::peers::{Peer, Trunk};
use super::{Sim, registered};
use crate::b2bua::{ClickToCall, Command, Refused};
use crate::model::{HangupBy, Outcome};

#[test]
fn while_draining_new_calls_get_503_and_calls_in_progress_finish_normally() {
    let mut sim = Sim::demo();
    let trunk = Trunk::new();
    let seats = registered(&mut sim, &["8001", "8002"]);
    let mut call = trunk.call(&mut sim, "12345", "13800000001");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");
    let ring = seats[0].expect_invite(&mut sim);
    seats[0].answer(&mut sim, &ring);
    seats[0].expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);

    sim.command(Command::Drain).unwrap();
    assert!(sim.engine.is_draining());
    assert_eq!(sim.engine.live_count(), 1);
    // A new call: 503 with Retry-After, so the trunk tries elsewhere.
    let late = trunk.call(&mut sim, "110", "13800000110");
    let refused = late.recv(&mut sim);
    let refused = if refused.code() == Some(100) {
        late.recv(&mut sim)
    } else {
        refused
    };
    assert_eq!(refused.code(), Some(503), "{}", refused.text());
    assert_eq!(refused.hdr("Retry-After").as_deref(), Some("30"));
    late.ack_failure(&mut sim, &refused);
    assert_eq!(sim.engine.live_count(), 1, "the refused call never was one");
    // A click-to-call is refused; a feature code still works.
    let click = ClickToCall {
        id: "c".into(),
        seat: "8002".into(),
        number: "13800000002".into(),
        ticket: None,
        by: "t".into(),
    };
    assert!(matches!(
        sim.command(Command::Callback(click)),
        Err(Refused::Unavailable(_))
    ));
    dial_feature(&mut sim, &seats[1], "*13");

    // The call in progress ends as usual.
    sim.advance(secs(20));
    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    seats[0].expect_request(&mut sim, "BYE");
    assert_eq!(sim.engine.live_count(), 0);
    let done = sim.final_record(&call.call_id);
    assert_eq!(
        (done.outcome, done.hangup_by),
        (Some(Outcome::Answered), Some(HangupBy::Caller))
    );
}

#[test]
fn at_the_deadline_answered_calls_get_bye_and_waiting_ones_503_with_the_reason_recorded() {
    let mut sim = Sim::demo();
    let trunk = Trunk::new();
    let seats = registered(&mut sim, &["8001"]);
    let mut talking = trunk.call(&mut sim, "12345", "13800000001");
    talking.expect_response(&mut sim, 100, "INVITE");
    talking.expect_response(&mut sim, 180, "INVITE");
    let ring = seats[0].expect_invite(&mut sim);
    let agent = seats[0].answer(&mut sim, &ring);
    seats[0].expect_request(&mut sim, "ACK");
    let ok = talking.expect_response(&mut sim, 200, "INVITE");
    talking.confirm(&mut sim, &ok);
    // A second caller waits: the only seat is busy.
    let waiting = Trunk::at("127.0.0.1:5071").call(&mut sim, "12345", "13800000002");
    waiting.expect_response(&mut sim, 100, "INVITE");
    waiting.expect_response(&mut sim, 180, "INVITE");

    sim.command(Command::Drain).unwrap();
    sim.advance(secs(30));
    sim.command(Command::HangUpAll {
        reason: "hotline stopped (drain deadline)".into(),
    })
    .unwrap();
    talking.expect_request(&mut sim, "BYE");
    let bye = agent.expect_request(&mut sim, "BYE");
    agent.ok(&mut sim, &bye, "");
    let refused = waiting.expect_response(&mut sim, 503, "INVITE");
    waiting.ack_failure(&mut sim, &refused);
    assert_eq!(sim.engine.live_count(), 0);
    let a = sim.final_record(&talking.call_id);
    assert_eq!(
        (a.outcome, a.hangup_by, a.reason.as_deref()),
        (
            Some(Outcome::Answered),
            Some(HangupBy::System),
            Some("hotline stopped (drain deadline)")
        )
    );
    let w = sim.final_record(&waiting.call_id);
    assert_eq!(
        (w.outcome, w.reason.as_deref()),
        (
            Some(Outcome::Rejected),
            Some("hotline stopped (drain deadline)")
        )
    );
    assert_eq!(
        sim.seat_state("8001"),
        "wrap_up",
        "the seat is off the call, wrapping it up"
    );
}
