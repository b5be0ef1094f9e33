//! Transfers across sides, in simulated time: a 12345 agent sends a caller
//! in danger to 110 by REFER, a 110 agent passes a non-emergency matter to
//! 12345 through the API. The first record ends at the transfer, the call
//! goes on as a child record of the receiving side, with its own recording.

use super::harness::{SipExt, secs};
use super::media::{answer, cmds, queued, refer, without_survey};
use super::peers::{Peer, Trunk};
use super::{Sim, registered};
use crate::b2bua::{Command, Record, Refused};
use crate::media::driver::MediaEvent;
use crate::model::{EventKind, HangupBy, LineClass, Outcome};

/// The id the live call goes on under, the only live call.
fn live_id(sim: &Sim) -> String {
    let live = sim.engine.live_calls(sim.now);
    assert_eq!(live.len(), 1, "one live call: {live:?}");
    live[0].id.clone()
}

#[test]
fn a_12345_agent_transfers_a_caller_in_danger_to_110_which_goes_on_as_a_linked_emergency_record() {
    let mut sim = Sim::demo_with_media(without_survey);
    let trunk = Trunk::new();
    let seats = registered(&mut sim, &["8001", "8021"]);
    let (mut call, id) = queued(&mut sim, &trunk, "13800000001");
    let (_ring, mut agent) = answer(&mut sim, &mut call, &seats[0]);
    sim.advance(secs(20));
    cmds(&mut sim, &id);

    let accepted = refer(&mut sim, &mut agent, "110");
    assert_eq!(accepted.code(), Some(202), "{}", accepted.text());
    let notify = agent.expect_request(&mut sim, "NOTIFY");
    assert_eq!(notify.body_text(), "SIP/2.0 200 OK\r\n");
    agent.ok(&mut sim, &notify, "");
    let bye = agent.expect_request(&mut sim, "BYE");
    agent.ok(&mut sim, &bye, "");
    assert_eq!(sim.seat_state("8001"), "wrap_up");

    // The call goes on under a new id: the media is re-keyed (which
    // finishes the first recording), then the caller hears music and,
    // the emergency queue recording the wait, a second recording starts.
    let child = live_id(&sim);
    assert_ne!(child, id);
    assert_eq!(cmds(&mut sim, &id), [format!("rekey {child}")]);
    assert_eq!(
        cmds(&mut sim, &child),
        ["remove Agent", "play + loop music/hold.wav", "record"]
    );
    call.assert_silent(&mut sim);

    let records = sim.call_records(&call.call_id);
    let parent = records.iter().rfind(|r| r.id == id).unwrap();
    assert_eq!(parent.outcome, Some(Outcome::Answered));
    assert_eq!(parent.hangup_by, Some(HangupBy::Transfer));
    assert_eq!(
        (parent.class, parent.line.as_str(), parent.seat.as_deref()),
        (LineClass::NonEmergency, "12345", Some("8001"))
    );
    assert_eq!(parent.talk_ms, 20_000);
    assert!(
        parent
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("110") && r.contains(&child)),
        "{:?}",
        parent.reason
    );
    let opened = sim.last_record(&call.call_id);
    assert_eq!(opened.id, child);
    assert_eq!(opened.parent_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        (opened.class, opened.line.as_str(), opened.queue.as_deref()),
        (LineClass::Emergency, "110", Some("emergency"))
    );
    assert_eq!((opened.outcome, opened.answered_at_ms), (None, None));

    // The emergency seat answers: the child is connected and recorded.
    let ring = seats[1].expect_invite(&mut sim);
    assert_eq!(ring.call, child);
    assert!(ring.invite.body_text().contains("o=hotline"));
    let mut agent2 = seats[1].answer(&mut sim, &ring);
    seats[1].expect_request(&mut sim, "ACK");
    call.assert_silent(&mut sim);
    assert_eq!(cmds(&mut sim, &child), ["set Agent", "bridge", "watch 60s"]);
    assert_eq!(sim.seat_state("8021"), "on_call");
    sim.advance(secs(30));
    agent2.send_request(&mut sim, "BYE", "");
    agent2.expect_response(&mut sim, 200, "BYE");
    call.expect_request(&mut sim, "BYE");
    let done = sim.final_record(&call.call_id);
    assert_eq!(done.id, child);
    assert_eq!(
        (done.outcome, done.seat.as_deref(), done.hangup_by),
        (Some(Outcome::Answered), Some("8021"), Some(HangupBy::Agent))
    );
    assert_eq!(done.talk_ms, 30_000);
    assert_eq!(done.parent_id.as_deref(), Some(id.as_str()));

    // Each side's events name its own record.
    let kinds = |call: &str| -> Vec<EventKind> {
        sim.queue_events(call).into_iter().map(|(k, _)| k).collect()
    };
    assert_eq!(
        kinds(&id),
        [
            EventKind::Enqueue,
            EventKind::Ring,
            EventKind::Connect,
            EventKind::Transfer,
            EventKind::Complete
        ]
    );
    assert_eq!(
        kinds(&child),
        [
            EventKind::Enqueue,
            EventKind::Ring,
            EventKind::Connect,
            EventKind::Complete
        ]
    );

    // The first recording, finished by the re-key, is the parent's.
    let info = crate::media::wav::RecordingInfo {
        path: "recordings/non_emergency/x.wav".into(),
        duration_ms: 20_000,
        size_bytes: 640_044,
        sha256: "00".into(),
    };
    sim.media_event(MediaEvent::Recorded {
        call: id.as_str().into(),
        recording: Ok(info),
    });
    let attached = sim.records().iter().rev().find_map(|r| match r {
        Record::Media { id: rid, media } => Some((rid.clone(), media.recording.clone())),
        _ => None,
    });
    let (rid, recording) = attached.expect("a media record");
    assert_eq!(rid, id);
    assert_eq!(recording.map(|r| r.duration_ms), Some(20_000));
}

#[test]
fn a_110_agent_passes_a_call_to_12345_through_the_api_and_12345_rules_apply_from_then_on() {
    let mut sim = Sim::demo_with_media(without_survey);
    let trunk = Trunk::new();
    let seats = registered(&mut sim, &["8021", "8001"]);
    let mut call = trunk.call(&mut sim, "110", "13800000110");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 183, "INVITE");
    let id = live_id(&sim);
    let (_ring, agent) = answer(&mut sim, &mut call, &seats[0]);
    sim.advance(secs(10));
    cmds(&mut sim, &id);

    // A seat of the other side is refused: its line decides who answers.
    let to_seat = sim.command(Command::Transfer {
        call: id.clone(),
        to: "8001".into(),
        by: "supervisor".into(),
        reply: None,
    });
    assert!(
        matches!(to_seat, Err(Refused::Transfer { code: 403, .. })),
        "{to_seat:?}"
    );
    let unknown = sim.command(Command::Transfer {
        call: id.clone(),
        to: "4242".into(),
        by: "supervisor".into(),
        reply: None,
    });
    assert!(
        matches!(unknown, Err(Refused::Transfer { code: 404, .. })),
        "{unknown:?}"
    );
    assert_eq!(sim.seat_state("8021"), "on_call");

    let (reply, mut answer_rx) = tokio::sync::oneshot::channel();
    sim.command(Command::Transfer {
        call: id.clone(),
        to: "12345".into(),
        by: "supervisor".into(),
        reply: Some(reply),
    })
    .unwrap();
    let child = answer_rx.try_recv().expect("the id the call goes on under");
    assert_ne!(child, id);
    assert_eq!(live_id(&sim), child);
    // No REFER here: the agent's leg just gets BYE.
    let bye = agent.expect_request(&mut sim, "BYE");
    agent.ok(&mut sim, &bye, "");
    assert_eq!(
        cmds(&mut sim, &child),
        ["remove Agent", "play + loop music/hold.wav"],
        "12345 records from the answer"
    );

    let parent = sim
        .call_records(&call.call_id)
        .into_iter()
        .rfind(|r| r.id == id)
        .unwrap();
    assert_eq!(
        (parent.class, parent.hangup_by, parent.seat.as_deref()),
        (LineClass::Emergency, Some(HangupBy::Transfer), Some("8021"))
    );
    let opened = sim.last_record(&call.call_id);
    assert_eq!(
        (
            opened.class,
            opened.line.as_str(),
            opened.parent_id.as_deref()
        ),
        (LineClass::NonEmergency, "12345", Some(id.as_str()))
    );

    let ring = seats[1].expect_invite(&mut sim);
    assert_eq!(ring.call, child);
    seats[1].answer(&mut sim, &ring);
    seats[1].expect_request(&mut sim, "ACK");
    assert_eq!(
        cmds(&mut sim, &child),
        ["set Agent", "bridge", "record", "watch 60s"]
    );
    // The caller hangs up: the child ends, answered by 8001.
    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    let done = sim.final_record(&call.call_id);
    assert_eq!(
        (done.id.as_str(), done.outcome, done.seat.as_deref()),
        (child.as_str(), Some(Outcome::Answered), Some("8001"))
    );
}

#[test]
fn a_transfer_within_a_side_keeps_one_record_and_a_call_not_connected_cannot_be_transferred() {
    let mut sim = Sim::demo_with_media(without_survey);
    let trunk = Trunk::new();
    let seats = registered(&mut sim, &["8001"]);
    let (mut call, id) = queued(&mut sim, &trunk, "13800000001");
    let (_ring, _agent) = answer(&mut sim, &mut call, &seats[0]);
    sim.command(Command::Transfer {
        call: id.clone(),
        to: "12329".into(),
        by: "api".into(),
        reply: None,
    })
    .unwrap();
    assert_eq!(live_id(&sim), id, "same side, same record");
    assert!(
        sim.call_records(&call.call_id)
            .iter()
            .all(|r| r.id == id && r.parent_id.is_none())
    );
    // Waiting in the queue now: nobody to release.
    let waiting = sim.command(Command::Transfer {
        call: id.clone(),
        to: "110".into(),
        by: "api".into(),
        reply: None,
    });
    assert!(
        matches!(waiting, Err(Refused::Unavailable(_))),
        "{waiting:?}"
    );
    let unknown = sim.command(Command::Transfer {
        call: "nope".into(),
        to: "110".into(),
        by: "api".into(),
        reply: None,
    });
    assert!(
        matches!(unknown, Err(Refused::UnknownCall(_))),
        "{unknown:?}"
    );
}
