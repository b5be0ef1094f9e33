//! Transfers across sides, in simulated time: a 12345 agent sends a caller
//! in danger to 110 by REFER, a 110 agent passes a non-emergency matter to
//! 12345 through the API. The first record ends at the transfer, the call
//! goes on as a child record of the receiving side, with its own recording.

use super::harness::{SipExt, request, secs, uri_of};
use super::media::{answer, cmds, queued, refer, without_survey};
use super::peers::{Peer, PeerDialog, Trunk};
use super::{Phone, Sim, registered};
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

/// Seat `phone` (agent of a call) places a consultation call to `line`
/// and the ringing `target` seat answers: returns the consultation's
/// id, the target's dialog, and the Replaces value naming the
/// consultation dialog (escaped, as a Refer-To header parameter).
fn consult(
    sim: &mut Sim,
    phone: &Phone,
    line: &str,
    target: &Phone,
) -> (String, PeerDialog, String) {
    let dialled = phone.dial(sim, line);
    let early = phone.expect_response(sim, 183, "INVITE");
    assert!(
        early.body_text().contains("o=hotline"),
        "the agent hears the line's prompt meanwhile"
    );
    let ring = target.expect_invite(sim);
    let agent = target.answer(sim, &ring);
    target.expect_request(sim, "ACK");
    let ok = phone.expect_response(sim, 200, "INVITE");
    let to = ok.hdr("To").unwrap();
    let hotline_tag = to.split("tag=").nth(1).unwrap().to_string();
    let seat_tag = dialled.from.split("tag=").nth(1).unwrap().to_string();
    let target_uri = uri_of(&ok.hdr("Contact").unwrap());
    let ack = [
        ("From", dialled.from.as_str()),
        ("To", &to),
        ("Call-ID", &dialled.call_id),
        ("CSeq", "2 ACK"),
    ];
    let branch = sim.token("z9hG4bK-");
    phone.send(
        sim,
        &request("ACK", &target_uri, phone.addr, &branch, &ack, ""),
    );
    let replaces = format!(
        "{}%3Bto-tag%3D{hotline_tag}%3Bfrom-tag%3D{seat_tag}",
        dialled.call_id
    );
    (ring.call, agent, replaces)
}

#[test]
fn an_attended_transfer_from_12345_to_110_joins_the_caller_and_the_110_agent_after_they_spoke() {
    let mut sim = Sim::demo_with_media(without_survey);
    let trunk = Trunk::new();
    let seats = registered(&mut sim, &["8001", "8021"]);
    let (mut call, id) = queued(&mut sim, &trunk, "13800000001");
    let (_ring, mut agent) = answer(&mut sim, &mut call, &seats[0]);
    sim.advance(secs(20));
    cmds(&mut sim, &id);

    // 8001 calls 110 from the same phone; 8021 answers and they talk.
    let (consultation, police, replaces) = consult(&mut sim, &seats[0], "110", &seats[1]);
    assert_ne!(consultation, id);
    let records = sim.records().to_vec();
    let consult_rec = records
        .iter()
        .rev()
        .find_map(|r| match r {
            Record::Call(c) if c.id == consultation => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (
            consult_rec.direction,
            consult_rec.caller.as_str(),
            consult_rec.line.as_str(),
            consult_rec.class
        ),
        (
            crate::model::Direction::Internal,
            "8001",
            "110",
            LineClass::Emergency
        )
    );
    assert_eq!(sim.seat_state("8021"), "on_call");
    sim.advance(secs(15));

    // Transfer: REFER in the caller's dialog, naming the consultation.
    let refer_to = format!("<sip:110@127.0.0.1:5060?Replaces={replaces}>");
    agent.send_request_with(&mut sim, "REFER", &[("Refer-To", &refer_to)], "");
    let accepted = agent.recv(&mut sim);
    assert_eq!(accepted.code(), Some(202), "{}", accepted.text());
    let notify = agent.expect_request(&mut sim, "NOTIFY");
    assert_eq!(notify.body_text(), "SIP/2.0 200 OK\r\n");
    agent.ok(&mut sim, &notify, "");
    // hotline hangs up both of 8001's calls.
    for _ in 0..2 {
        let bye = seats[0].expect_request(&mut sim, "BYE");
        agent.ok(&mut sim, &bye, "");
    }
    assert_eq!(sim.seat_state("8001"), "wrap_up");
    assert_eq!(sim.seat_state("8021"), "on_call");

    // 8021 is offered the caller's media on its existing dialog.
    let child = live_id(&sim);
    assert_ne!(child, id, "across sides: a new record");
    let reinvite = police.expect_request(&mut sim, "INVITE");
    assert!(
        reinvite.body_text().contains("o=hotline"),
        "{}",
        reinvite.text()
    );
    police.ok(&mut sim, &reinvite, &seats[1].answer_sdp());
    police.expect_request(&mut sim, "ACK");
    assert_eq!(cmds(&mut sim, &id), [format!("rekey {child}")]);
    assert_eq!(
        cmds(&mut sim, &child),
        ["remove Agent", "set Agent", "bridge", "record", "watch 60s"]
    );
    assert!(
        cmds(&mut sim, &consultation).contains(&"close".to_string()),
        "the consultation's media ends"
    );
    call.assert_silent(&mut sim);

    sim.advance(secs(30));
    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    police.expect_request(&mut sim, "BYE");

    let parent = sim
        .call_records(&call.call_id)
        .into_iter()
        .rfind(|r| r.id == id)
        .unwrap();
    assert_eq!(
        (parent.seat.as_deref(), parent.hangup_by, parent.talk_ms),
        (Some("8001"), Some(HangupBy::Transfer), 35_000)
    );
    let done = sim.final_record(&call.call_id);
    assert_eq!(done.id, child);
    assert_eq!(
        (
            done.line.as_str(),
            done.class,
            done.seat.as_deref(),
            done.parent_id.as_deref(),
            done.talk_ms
        ),
        (
            "110",
            LineClass::Emergency,
            Some("8021"),
            Some(id.as_str()),
            30_000
        )
    );
    let consult_done = sim
        .records()
        .iter()
        .rev()
        .find_map(|r| match r {
            Record::Call(c) if c.id == consultation => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (
            consult_done.outcome,
            consult_done.hangup_by,
            consult_done.seat.as_deref()
        ),
        (
            Some(Outcome::Answered),
            Some(HangupBy::Transfer),
            Some("8021")
        )
    );
    assert_eq!(consult_done.talk_ms, 15_000);
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
        kinds(&consultation),
        [
            EventKind::Enqueue,
            EventKind::Ring,
            EventKind::Connect,
            EventKind::Complete
        ]
    );
    assert_eq!(kinds(&child), [EventKind::Connect, EventKind::Complete]);
}

#[test]
fn an_attended_transfer_naming_a_call_the_seat_did_not_place_or_not_yet_answered_is_refused() {
    let mut sim = Sim::demo_with_media(without_survey);
    let trunk = Trunk::new();
    let seats = registered(&mut sim, &["8001", "8002"]);
    let (mut call, _id) = queued(&mut sim, &trunk, "13800000001");
    let (_ring, mut agent) = answer(&mut sim, &mut call, &seats[0]);
    let refer = |sim: &mut Sim, agent: &mut PeerDialog, replaces: &str| {
        let refer_to = format!("<sip:110@127.0.0.1:5060?Replaces={replaces}>");
        agent.send_request_with(sim, "REFER", &[("Refer-To", &refer_to)], "");
        agent.recv(sim).code()
    };
    assert_eq!(
        refer(&mut sim, &mut agent, "nope%3Bto-tag%3Da%3Bfrom-tag%3Db"),
        Some(481)
    );
    // The trunk call's own dialog: not a consultation this seat placed.
    let inbound = format!("{}%3Bto-tag%3Dx%3Bfrom-tag%3Dy", call.call_id);
    assert_eq!(refer(&mut sim, &mut agent, &inbound), Some(481));
    // A consultation still ringing (no emergency seat registered): 480;
    // with a wrong tag it names no dialog at all.
    let dialled = seats[0].dial(&mut sim, "110");
    let early = seats[0].expect_response(&mut sim, 183, "INVITE");
    let hotline_tag = early
        .hdr("To")
        .unwrap()
        .split("tag=")
        .nth(1)
        .unwrap()
        .to_string();
    let from_tag = dialled.from.split("tag=").nth(1).unwrap().to_string();
    let ringing = format!(
        "{}%3Bto-tag%3D{hotline_tag}%3Bfrom-tag%3D{from_tag}",
        dialled.call_id
    );
    assert_eq!(refer(&mut sim, &mut agent, &ringing), Some(480));
    let wrong = format!(
        "{}%3Bto-tag%3Dother%3Bfrom-tag%3D{from_tag}",
        dialled.call_id
    );
    assert_eq!(refer(&mut sim, &mut agent, &wrong), Some(481));
    // Another seat's consultation: not this seat's to hand over.
    let other = seats[1].dial(&mut sim, "110");
    let early = seats[1].expect_response(&mut sim, 183, "INVITE");
    let hotline_tag = early
        .hdr("To")
        .unwrap()
        .split("tag=")
        .nth(1)
        .unwrap()
        .to_string();
    let from_tag = other.from.split("tag=").nth(1).unwrap().to_string();
    let theirs = format!(
        "{}%3Bto-tag%3D{hotline_tag}%3Bfrom-tag%3D{from_tag}",
        other.call_id
    );
    assert_eq!(refer(&mut sim, &mut agent, &theirs), Some(403));
    assert_eq!(
        sim.seat_state("8001"),
        "on_call",
        "the call stays with its agent"
    );
}

#[test]
fn an_attended_transfer_through_the_api_joins_the_caller_with_the_consultations_agent() {
    let mut sim = Sim::demo_with_media(without_survey);
    let trunk = Trunk::new();
    let seats = registered(&mut sim, &["8021", "8001"]);
    // A 110 call, answered by 8021, who consults 12345 from the phone.
    let mut call = trunk.call(&mut sim, "110", "13800000110");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 183, "INVITE");
    let id = live_id(&sim);
    let (_ring, agent) = answer(&mut sim, &mut call, &seats[0]);
    let (consultation, citizen_agent, _) = consult(&mut sim, &seats[0], "12345", &seats[1]);
    sim.advance(secs(5));

    // The desktop completes it: the consultation's id as the target.
    let (reply, mut answer_rx) = tokio::sync::oneshot::channel();
    let cmd = Command::Transfer {
        call: id.clone(),
        to: consultation.clone(),
        by: "desktop 8021".into(),
        reply: Some(reply),
    };
    sim.command(cmd).unwrap();
    let child = answer_rx.try_recv().unwrap();
    assert_ne!(child, id, "110 to 12345: a new record");
    for _ in 0..2 {
        let bye = seats[0].expect_request(&mut sim, "BYE");
        agent.ok(&mut sim, &bye, "");
    }
    let reinvite = citizen_agent.expect_request(&mut sim, "INVITE");
    citizen_agent.ok(&mut sim, &reinvite, &seats[1].answer_sdp());
    citizen_agent.expect_request(&mut sim, "ACK");
    let opened = sim.last_record(&call.call_id);
    assert_eq!(
        (
            opened.id.as_str(),
            opened.line.as_str(),
            opened.class,
            opened.seat.as_deref(),
            opened.parent_id.as_deref()
        ),
        (
            child.as_str(),
            "12345",
            LineClass::NonEmergency,
            Some("8001"),
            Some(id.as_str())
        )
    );
    // The consultation is over: it names nothing any more.
    let again = sim.command(Command::Transfer {
        call: child.clone(),
        to: consultation,
        by: "desktop".into(),
        reply: None,
    });
    assert!(
        matches!(again, Err(Refused::Transfer { code: 404, .. })),
        "{again:?}"
    );
}
