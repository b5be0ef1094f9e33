//! Reloads while calls are on: a line, queue and seat added; a seat removed
//! during its call; a queue removed with a caller waiting in it; an
//! emergency call untouched.

use super::harness::{DEMO, SipExt, demo_config, secs};
use super::peers::{Peer, Trunk};
use super::phone::Phone;
use super::{Sim, answered_call, registered};
use crate::config::Config;
use crate::model::{EventKind, HangupBy, LineClass, Outcome};
use std::path::Path;

/// The epidemic line of issue 6: a line, its queue and a seat, added to the demo.
const EPIDEMIC: &str = r#"
[[lines]]
number = "12349"
queue = "epidemic"
tag = "epidemic"

[[queues]]
name = "epidemic"
class = "non_emergency"

[[seats]]
extension = "8031"
password = "demo-8031"
queues = [{ queue = "epidemic" }]
"#;

/// The demo's text changed by `edit`, without `[media]` as [`demo_config`].
fn config(edit: impl FnOnce(String) -> String) -> Config {
    let mut c = Config::from_str_at(&edit(DEMO.to_string()), Path::new("hotline.toml"))
        .expect("the edited demo loads");
    c.media = None;
    c.outbound = None;
    c
}

/// A REGISTER with the right password is refused: the seat is not configured.
fn register_refused(sim: &mut Sim, phone: &mut Phone) {
    phone.send_register(sim, None, 3600);
    let challenge = phone.expect_response(sim, 401, "REGISTER");
    let auth = phone.authorization(
        &challenge,
        "REGISTER",
        "sip:127.0.0.1:5060",
        &phone.password.clone(),
    );
    phone.send_register(sim, Some(&auth), 3600);
    phone.expect_response(sim, 403, "REGISTER");
}

#[test]
fn a_line_queue_and_seat_added_while_calls_are_on_answer_at_once_and_the_calls_go_on() {
    let mut sim = Sim::new(config(|c| c));
    let seats = registered(&mut sim, &["8001", "8021"]);
    let trunk = Trunk::new();
    let (mut citizen, _, agent) = answered_call(&mut sim, &trunk, &seats[0]);
    let mut new_seat = Phone::new("8031");
    register_refused(&mut sim, &mut new_seat);
    let early = trunk.call(&mut sim, "12349", "13900000001");
    early.expect_response(&mut sim, 100, "INVITE");
    let unknown = early.expect_response(&mut sim, 404, "INVITE");
    early.ack_failure(&mut sim, &unknown);

    sim.advance(secs(10));
    let report = sim.reload(&config(|c| c + EPIDEMIC));
    assert!(
        report.retiring.is_empty() && report.draining.is_empty() && report.moved.is_empty(),
        "{report:?}"
    );
    citizen.assert_silent(&mut sim);
    agent.assert_silent(&mut sim);

    new_seat.register(&mut sim);
    assert_eq!(sim.seat_state("8031"), "ready");
    let mut call = trunk.call(&mut sim, "12349", "13900000002");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");
    let ring = new_seat.expect_invite(&mut sim);
    assert_eq!(
        ring.invite.hdr("X-Hotline-Queue").as_deref(),
        Some("epidemic")
    );
    let epidemic_agent = new_seat.answer(&mut sim, &ring);
    new_seat.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);

    // The call from before the reload ends as any call does.
    sim.advance(secs(20));
    citizen.bye(&mut sim);
    citizen.expect_response(&mut sim, 200, "BYE");
    let bye = seats[0].expect_request(&mut sim, "BYE");
    agent.ok(&mut sim, &bye, "");
    let before = sim.final_record(&citizen.call_id);
    assert_eq!(
        (before.outcome, before.hangup_by, before.seat.as_deref()),
        (
            Some(Outcome::Answered),
            Some(HangupBy::Caller),
            Some("8001")
        )
    );
    assert_eq!(before.talk_ms, 30_000, "talked through the reload");

    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    let bye = new_seat.expect_request(&mut sim, "BYE");
    epidemic_agent.ok(&mut sim, &bye, "");
    let new = sim.final_record(&call.call_id);
    assert_eq!(
        (new.line.as_str(), new.queue.as_deref(), new.class),
        ("12349", Some("epidemic"), LineClass::NonEmergency)
    );
    assert_eq!(
        (new.outcome, new.seat.as_deref()),
        (Some(Outcome::Answered), Some("8031"))
    );
}

#[test]
fn a_removed_seat_keeps_its_call_cannot_register_again_and_leaves_after_it() {
    let mut sim = Sim::demo();
    let mut seats = registered(&mut sim, &["8001", "8002"]);
    let trunk = Trunk::new();
    let (mut call, _, mut agent) = answered_call(&mut sim, &trunk, &seats[0]);
    let without_8001 = config(|c| c.replace("from = 8001\nto = 8020", "from = 8002\nto = 8020"));
    let report = sim.reload(&without_8001);
    assert_eq!(report.retiring, ["8001"]);
    call.assert_silent(&mut sim);
    seats[0].assert_silent(&mut sim);
    assert_eq!(sim.seat_state("8001"), "on_call");
    register_refused(&mut sim, &mut seats[0]);

    // The next caller gets 8002, not 8001.
    let (mut second, ring, agent2) = answered_call(&mut sim, &trunk, &seats[1]);
    assert_eq!(ring.invite.hdr("X-Hotline-Line").as_deref(), Some("12345"));

    // The agent hangs up: the call ends as usual, then the seat is gone.
    sim.advance(secs(30));
    agent.send_request(&mut sim, "BYE", "");
    agent.expect_response(&mut sim, 200, "BYE");
    let bye = call.expect_request(&mut sim, "BYE");
    call.dialog().ok(&mut sim, &bye, "");
    let record = sim.final_record(&call.call_id);
    assert_eq!(
        (record.outcome, record.hangup_by, record.seat.as_deref()),
        (Some(Outcome::Answered), Some(HangupBy::Agent), Some("8001"))
    );
    let snap = sim.engine.acd_snapshot(sim.now);
    assert!(
        snap.seats.iter().all(|s| s.extension != "8001"),
        "8001 has left"
    );
    assert!(
        sim.engine
            .registrations(sim.now)
            .iter()
            .all(|(s, _)| s != "8001")
    );
    let states: Vec<String> = sim
        .events()
        .into_iter()
        .filter(|e| e.seat.as_deref() == Some("8001") && e.kind == EventKind::AgentState)
        .filter_map(|e| e.detail)
        .collect();
    assert_eq!(
        states.last().map(String::as_str),
        Some("wrap_up->logged_out"),
        "logged out at once, without its wrap-up: {states:?}"
    );

    second.bye(&mut sim);
    second.expect_response(&mut sim, 200, "BYE");
    let bye = seats[1].expect_request(&mut sim, "BYE");
    agent2.ok(&mut sim, &bye, "");
    assert_eq!(
        sim.final_record(&second.call_id).outcome,
        Some(Outcome::Answered)
    );
}

#[test]
fn a_caller_waiting_in_a_removed_queue_follows_the_line_to_its_new_queue() {
    let mut sim = Sim::new(config(|c| c + EPIDEMIC));
    let trunk = Trunk::new();
    let mut call = trunk.call(&mut sim, "12349", "13900000003");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");
    sim.advance(secs(5));
    // The epidemic queue is closed; its line now goes to the citizen queue.
    let moved = config(|c| c + "\n[[lines]]\nnumber = \"12349\"\nqueue = \"citizen\"\n");
    let report = sim.reload(&moved);
    assert_eq!(
        report.moved,
        [(
            sim.engine.live_calls(sim.now)[0].id.clone(),
            "epidemic".into(),
            "citizen".into()
        )]
    );
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let ring = seat.expect_invite(&mut sim);
    assert_eq!(ring.invite.hdr("X-Hotline-Line").as_deref(), Some("12349"));
    let _agent = seat.answer(&mut sim, &ring);
    seat.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);
    let record = sim.last_record(&call.call_id);
    assert_eq!(
        (record.queue.as_deref(), record.seat.as_deref()),
        (Some("citizen"), Some("8001"))
    );
    let kinds: Vec<EventKind> = sim
        .queue_events(&ring.call)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::Enqueue,
            EventKind::Overflow,
            EventKind::Ring,
            EventKind::Connect
        ]
    );
}

#[test]
fn a_caller_waiting_on_a_line_closed_with_its_queue_is_still_answered_by_the_queues_old_seat() {
    let mut sim = Sim::new(config(|c| c + EPIDEMIC));
    let trunk = Trunk::new();
    let mut call = trunk.call(&mut sim, "12349", "13900000004");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");
    // Line and queue closed; 8031 now serves the citizen queue.
    let closed = config(|c| {
        c + "\n[[seats]]\nextension = \"8031\"\npassword = \"demo-8031\"\nqueues = [{ queue = \"citizen\" }]\n"
    });
    let report = sim.reload(&closed);
    assert_eq!(report.draining, [("epidemic".to_string(), 1)]);
    let seat = registered(&mut sim, &["8031"]).remove(0);
    let ring = seat.expect_invite(&mut sim);
    assert_eq!(
        ring.invite.hdr("X-Hotline-Queue").as_deref(),
        Some("epidemic")
    );
    let agent = seat.answer(&mut sim, &ring);
    seat.expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);
    let refused = trunk.call(&mut sim, "12349", "13900000005");
    refused.expect_response(&mut sim, 100, "INVITE");
    let unknown = refused.expect_response(&mut sim, 404, "INVITE");
    refused.ack_failure(&mut sim, &unknown);
    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    let bye = seat.expect_request(&mut sim, "BYE");
    agent.ok(&mut sim, &bye, "");
    assert_eq!(
        sim.final_record(&call.call_id).outcome,
        Some(Outcome::Answered)
    );
    assert!(
        sim.engine
            .acd_snapshot(sim.now)
            .queues
            .iter()
            .all(|q| q.name != "epidemic"),
        "the queue went with its last call"
    );
}

#[test]
fn an_emergency_call_is_untouched_by_a_reload_that_changes_the_12345_side() {
    let mut sim = Sim::new(demo_config());
    let seats = registered(&mut sim, &["8001", "8021"]);
    let trunk = Trunk::new();
    let mut call = trunk.call(&mut sim, "110", "13900000006");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 180, "INVITE");
    let ring = seats[1].expect_invite(&mut sim);
    let agent = seats[1].answer(&mut sim, &ring);
    seats[1].expect_request(&mut sim, "ACK");
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    call.confirm(&mut sim, &ok);
    sim.advance(secs(5));
    let changed = config(|c| {
        c.replace("ring_timeout_secs = 15", "ring_timeout_secs = 25")
            .replace("from = 8001\nto = 8020", "from = 8002\nto = 8020")
            + EPIDEMIC
    });
    let report = sim.reload(&changed);
    assert!(
        report.retiring.is_empty(),
        "8001 was idle and left at once: {report:?}"
    );
    call.assert_silent(&mut sim);
    agent.assert_silent(&mut sim);
    seats[1].assert_silent(&mut sim);
    assert_eq!(sim.seat_state("8021"), "on_call");
    sim.advance(secs(55));
    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    let bye = seats[1].expect_request(&mut sim, "BYE");
    agent.ok(&mut sim, &bye, "");
    let record = sim.final_record(&call.call_id);
    assert_eq!(
        (record.outcome, record.class, record.talk_ms),
        (Some(Outcome::Answered), LineClass::Emergency, 60_000)
    );
}
