//! Calls with `[media]`, in simulated time: what the engine asks of the
//! call's media task (prompts, announcements, bridge, recording, the
//! survey) and what it does with the digits the task reports.

use super::harness::{SipExt, secs};
use super::peers::{Peer, PeerDialog, Trunk, TrunkCall};
use super::phone::Ring;
use super::{Phone, Sim, registered};
use crate::b2bua::{Command, Refused};
use crate::media::driver::{MediaCmd, MediaEvent};
use crate::media::player::Clip;
use crate::media::session::Leg;
use crate::model::{EventKind, HangupBy, Outcome};
use std::time::Duration;

/// A media command as a short text: `play zh/welcome.wav + loop music/hold.wav`.
fn shown(cmd: &MediaCmd) -> String {
    let name = |c: &Clip| {
        let parts: Vec<&str> = c.name.rsplit('/').take(2).collect();
        format!("{}/{}", parts[1], parts[0])
    };
    let names = |clips: &[Clip]| clips.iter().map(name).collect::<Vec<_>>().join(" ");
    match cmd {
        MediaCmd::SetLeg(leg, _) => format!("set {leg:?}"),
        MediaCmd::RemoveLeg(leg) => format!("remove {leg:?}"),
        MediaCmd::Play { clips, then_loop } => {
            let mut s = format!("play {}", names(clips));
            if let Some(l) = then_loop {
                s += &format!(" + loop {}", name(l));
            }
            s.replace("play  +", "play +")
        }
        MediaCmd::Announce(clips) => format!("announce {}", names(clips)),
        MediaCmd::Bridge => "bridge".into(),
        MediaCmd::StartRecording(_) => "record".into(),
        MediaCmd::PauseRecording(p) => format!("pause {p}"),
        MediaCmd::WatchSilence(Some(d)) => format!("watch {}s", d.as_secs()),
        MediaCmd::WatchSilence(None) => "watch off".into(),
        MediaCmd::Close => "close".into(),
    }
}

fn cmds(sim: &mut Sim, call: &str) -> Vec<String> {
    sim.take_media(call).iter().map(|(_, c)| shown(c)).collect()
}

/// A trunk call to 12345, queued: 100 and a 183 with hotline's SDP.
/// Returns hotline's call id (from the engine's live calls).
fn queued(sim: &mut Sim, trunk: &Trunk, caller: &str) -> (TrunkCall, String) {
    let call = trunk.call(sim, "12345", caller);
    call.expect_response(sim, 100, "INVITE");
    let early = call.expect_response(sim, 183, "INVITE");
    assert!(
        early.body_text().contains("o=hotline"),
        "early media from hotline:\n{}",
        early.text()
    );
    let id = sim
        .engine
        .live_calls(sim.now)
        .into_iter()
        .find(|c| c.caller == caller)
        .expect("a live call")
        .id;
    (call, id)
}

/// `seat` answers the call it is ringing; the trunk gets its 200 and ACKs.
fn answer(sim: &mut Sim, call: &mut TrunkCall, seat: &Phone) -> (Ring, PeerDialog) {
    let ring = seat.expect_invite(sim);
    assert!(
        ring.invite.body_text().contains("o=hotline"),
        "the seat is offered hotline's media"
    );
    let agent = seat.answer(sim, &ring);
    seat.expect_request(sim, "ACK");
    let ok = call.expect_response(sim, 200, "INVITE");
    call.confirm(sim, &ok);
    (ring, agent)
}

const WELCOME_MS: u64 = 10_000;

/// The demo's welcome prompt lasts about ten seconds; the tests lean on
/// its real length.
fn welcome_ms() -> u64 {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/prompts/zh/welcome.wav");
    crate::media::player::load_clip(std::path::Path::new(path))
        .unwrap()
        .duration_ms()
}

#[test]
fn a_waiting_caller_hears_the_welcome_then_music_with_place_in_line_announced_periodically() {
    let mut sim =
        Sim::demo_with_media(|t| t.replace("announce_every_secs = 30", "announce_every_secs = 20"));
    let trunk = Trunk::new();
    let (_first, first) = queued(&mut sim, &trunk, "13800000001");
    let (_second, second) = queued(&mut sim, &trunk, "13800000002");
    assert_eq!(
        cmds(&mut sim, &first),
        ["set Caller", "play zh/welcome.wav + loop music/hold.wav"]
    );
    cmds(&mut sim, &second);
    let welcome = welcome_ms();
    assert!((3_000..WELCOME_MS * 2).contains(&welcome), "{welcome}");

    // Right after the welcome: the place in line. No call was answered
    // yet, so there is no estimate of the wait.
    sim.advance(Duration::from_millis(welcome) - Duration::from_millis(1));
    assert!(sim.take_media(&first).is_empty());
    sim.advance(Duration::from_millis(1));
    assert_eq!(cmds(&mut sim, &first), ["announce zh/position-1.wav"]);
    assert_eq!(cmds(&mut sim, &second), ["announce zh/position-2.wav"]);
    // Then every announce_every_secs.
    sim.advance(secs(19));
    assert!(sim.take_media(&first).is_empty());
    sim.advance(secs(1));
    assert_eq!(cmds(&mut sim, &first), ["announce zh/position-1.wav"]);

    // A seat takes the first call: no more announcements for it, and the
    // second moves up.
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let mut first_call = _first;
    let (_ring, mut agent) = answer(&mut sim, &mut first_call, &seat);
    assert_eq!(
        cmds(&mut sim, &first),
        ["set Agent", "bridge", "record", "watch 60s"]
    );
    // 4 minutes of talk, and the agent hangs up and takes a break: the
    // queue now knows its handle time (240 s + 5 s wrap-up).
    sim.advance(secs(240));
    assert!(
        sim.take_media(&first).is_empty(),
        "no announcement during the conversation"
    );
    let heard = cmds(&mut sim, &second);
    assert_eq!(
        heard.len(),
        13,
        "the second caller heard one per 20 s from 20 s after the welcome: {heard:?}"
    );
    assert_eq!(heard[0], "announce zh/position-2.wav");
    assert!(
        heard[1..].iter().all(|h| h == "announce zh/position-1.wav"),
        "{heard:?}"
    );
    agent.send_request(&mut sim, "BYE", "");
    let not_ready = crate::acd::StateRequest::NotReady("break".into());
    sim.command(Command::SetAgentState {
        seat: "8001".into(),
        request: not_ready,
    })
    .unwrap();
    // Place 1 x 245 s / 1 seat staffed: about 5 minutes (rounded up).
    sim.advance(secs(20));
    assert_eq!(
        cmds(&mut sim, &second),
        ["announce zh/position-1.wav zh/wait-5.wav"]
    );
}

#[test]
fn a_call_ringing_a_seat_is_not_interrupted_by_announcements_and_queues_may_turn_them_off() {
    let mut sim =
        Sim::demo_with_media(|t| t.replace("announce_every_secs = 30", "announce_every_secs = 0"));
    let trunk = Trunk::new();
    let (_call, id) = queued(&mut sim, &trunk, "13800000001");
    sim.advance(secs(120));
    assert_eq!(
        cmds(&mut sim, &id),
        ["set Caller", "play zh/welcome.wav + loop music/hold.wav"],
        "nothing announced"
    );

    let mut sim = Sim::demo_with_media(|t| t);
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let (_call, id) = queued(&mut sim, &trunk, "13800000001");
    let ring = seat.expect_invite(&mut sim);
    seat.reply(&mut sim, &ring, 180, "Ringing");
    sim.advance(secs(14));
    assert_eq!(
        cmds(&mut sim, &id),
        ["set Caller", "play zh/welcome.wav + loop music/hold.wav"],
        "the seat is ringing"
    );
}

/// A call to the demo's line 12345 (which surveys) answered by 8001 and
/// talked for 30 s; the agent hangs up.
fn surveyed_call(sim: &mut Sim) -> (TrunkCall, String, PeerDialog) {
    let trunk = Trunk::new();
    let seat = registered(sim, &["8001"]).remove(0);
    let (mut call, id) = queued(sim, &trunk, "13800000001");
    let (_ring, mut agent) = answer(sim, &mut call, &seat);
    sim.advance(secs(30));
    cmds(sim, &id);
    agent.send_request(sim, "BYE", "");
    agent.expect_response(sim, 200, "BYE");
    (call, id, agent)
}

/// The demo's line 12345 surveys; this turns it off.
fn without_survey(text: String) -> String {
    let off = text.replace("survey = true\n", "");
    assert_ne!(off, text, "the demo's line 12345 has survey = true");
    off
}

fn digit(sim: &mut Sim, id: &str, leg: Leg, digit: char) {
    sim.media_event(MediaEvent::Dtmf {
        call: id.into(),
        leg,
        digit,
    });
}

#[test]
fn when_the_agent_hangs_up_first_the_caller_rates_the_call_and_the_digit_is_kept() {
    let mut sim = Sim::demo_with_media(|t| t);
    let (call, id, _agent) = surveyed_call(&mut sim);
    // The caller stays: no BYE yet; they hear the survey; the seat is free.
    call.assert_silent(&mut sim);
    assert_eq!(cmds(&mut sim, &id), ["remove Agent", "play zh/survey.wav"]);
    assert_eq!(sim.seat_state("8001"), "wrap_up");
    assert_eq!(sim.engine.live_calls(sim.now)[0].state, "survey");

    sim.advance(secs(3));
    digit(&mut sim, &id, Leg::Agent, '1'); // not the caller's
    digit(&mut sim, &id, Leg::Caller, '7'); // not an answer
    assert!(sim.take_media(&id).is_empty());
    digit(&mut sim, &id, Leg::Caller, '2');
    digit(&mut sim, &id, Leg::Caller, '3'); // too late: the first counts
    assert_eq!(cmds(&mut sim, &id), ["play zh/thanks.wav"]);
    call.assert_silent(&mut sim);
    sim.advance(secs(10));
    call.expect_request(&mut sim, "BYE");
    assert_eq!(cmds(&mut sim, &id), ["close"]);

    let record = sim.final_record(&call.call_id);
    assert_eq!(record.survey.as_deref(), Some("2"));
    assert_eq!(
        (record.outcome, record.hangup_by),
        (Some(Outcome::Answered), Some(HangupBy::Agent))
    );
    assert_eq!(
        record.talk_ms, 30_000,
        "the talk ends with the agent's hang-up"
    );
    assert!(
        record.ended_at_ms.unwrap() - record.answered_at_ms.unwrap() > 33_000,
        "the call ends after the survey"
    );
    let survey: Vec<_> = sim
        .events()
        .into_iter()
        .filter(|e| e.kind == EventKind::Survey)
        .collect();
    assert_eq!(survey.len(), 1);
    assert_eq!(survey[0].detail.as_deref(), Some("2"));
}

#[test]
fn a_survey_without_a_digit_ends_after_the_timeout_and_a_caller_hanging_up_ends_it_at_once() {
    let mut sim = Sim::demo_with_media(|t| t);
    let (call, id, _agent) = surveyed_call(&mut sim);
    let prompt = cmds(&mut sim, &id);
    assert_eq!(prompt, ["remove Agent", "play zh/survey.wav"]);
    sim.advance(secs(60));
    call.expect_request(&mut sim, "BYE");
    assert_eq!(
        sim.final_record(&call.call_id).survey.as_deref(),
        Some("none")
    );

    let mut sim = Sim::demo_with_media(|t| t);
    let (mut call, _id, _agent) = surveyed_call(&mut sim);
    sim.advance(secs(2));
    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    call.assert_silent(&mut sim);
    let record = sim.final_record(&call.call_id);
    assert_eq!(record.survey.as_deref(), Some("hangup"));
    assert_eq!(
        record.hangup_by,
        Some(HangupBy::Agent),
        "the agent ended the conversation"
    );
    assert_eq!(record.talk_ms, 30_000);
}

#[test]
fn no_survey_when_the_caller_hangs_up_first_or_the_line_does_not_ask() {
    let mut sim = Sim::demo_with_media(|t| t);
    let trunk = Trunk::new();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let (mut call, id) = queued(&mut sim, &trunk, "13800000001");
    let (_ring, _agent) = answer(&mut sim, &mut call, &seat);
    call.bye(&mut sim);
    call.expect_response(&mut sim, 200, "BYE");
    assert!(!cmds(&mut sim, &id).iter().any(|c| c.contains("survey")));
    assert_eq!(sim.final_record(&call.call_id).survey, None);

    let mut sim = Sim::demo_with_media(without_survey);
    let (call, _id, _agent) = surveyed_call(&mut sim);
    call.expect_request(&mut sim, "BYE");
    assert_eq!(sim.final_record(&call.call_id).survey, None);
}

#[test]
fn recording_starts_at_the_answer_or_with_record_wait_at_arrival_and_can_be_paused_and_resumed() {
    let mut sim = Sim::demo_with_media(|t| t);
    let trunk = Trunk::new();
    let (mut call, id) = queued(&mut sim, &trunk, "13800000001");
    let pause = |pause| Command::PauseRecording {
        call: id.clone(),
        pause,
        by: "api:test".into(),
    };
    assert!(
        matches!(sim.command(pause(true)), Err(Refused::NotRecorded(_))),
        "nothing is recorded while waiting"
    );
    let missing = Command::PauseRecording {
        call: "nope".into(),
        pause: true,
        by: "x".into(),
    };
    assert!(matches!(sim.command(missing), Err(Refused::UnknownCall(_))));
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let (_ring, _agent) = answer(&mut sim, &mut call, &seat);
    assert!(cmds(&mut sim, &id).ends_with(&[
        "set Agent".to_string(),
        "bridge".into(),
        "record".into(),
        "watch 60s".into()
    ]));
    sim.command(pause(true)).unwrap();
    sim.advance(secs(5));
    sim.command(pause(false)).unwrap();
    assert_eq!(cmds(&mut sim, &id), ["pause true", "pause false"]);
    let logged: Vec<_> = sim
        .events()
        .into_iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::RecordingPaused | EventKind::RecordingResumed
            )
        })
        .map(|e| {
            (
                e.kind,
                e.detail.unwrap_or_default(),
                e.seat.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        logged,
        [
            (
                EventKind::RecordingPaused,
                "api:test".to_string(),
                "8001".to_string()
            ),
            (
                EventKind::RecordingResumed,
                "api:test".to_string(),
                "8001".to_string()
            )
        ]
    );

    let mut sim =
        Sim::demo_with_media(|t| t.replace("priority = 0\n", "priority = 0\nrecord_wait = true\n"));
    let (_call, id) = queued(&mut sim, &trunk, "13800000001");
    assert_eq!(
        cmds(&mut sim, &id),
        [
            "set Caller",
            "play zh/welcome.wav + loop music/hold.wav",
            "record"
        ]
    );
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let mut call = _call;
    answer(&mut sim, &mut call, &seat);
    assert_eq!(
        cmds(&mut sim, &id),
        ["set Agent", "bridge", "watch 60s"],
        "one recording, from arrival"
    );
}

/// Seat `from` sends REFER to `target` in its dialog with the caller's call.
fn refer(sim: &mut Sim, agent: &mut PeerDialog, target: &str) -> crate::sip::Message {
    let refer_to = format!("<sip:{target}@127.0.0.1:5060>");
    agent.send_request_with(sim, "REFER", &[("Refer-To", &refer_to)], "");
    agent.recv(sim)
}

#[test]
fn a_blind_transfer_to_another_seat_keeps_the_call_its_record_and_its_recording() {
    let mut sim = Sim::demo_with_media(without_survey);
    let trunk = Trunk::new();
    let seats = registered(&mut sim, &["8001", "8002"]);
    let (mut call, id) = queued(&mut sim, &trunk, "13800000001");
    let (_ring, mut agent) = answer(&mut sim, &mut call, &seats[0]);
    sim.advance(secs(20));
    cmds(&mut sim, &id);

    let accepted = refer(&mut sim, &mut agent, "8002");
    assert_eq!(accepted.code(), Some(202), "{}", accepted.text());
    let notify = agent.expect_request(&mut sim, "NOTIFY");
    assert_eq!(notify.hdr("Event").as_deref(), Some("refer"));
    assert!(
        notify
            .hdr("Subscription-State")
            .is_some_and(|s| s.starts_with("terminated"))
    );
    assert_eq!(notify.body_text(), "SIP/2.0 200 OK\r\n");
    agent.ok(&mut sim, &notify, "");
    let bye = agent.expect_request(&mut sim, "BYE");
    agent.ok(&mut sim, &bye, "");
    assert_eq!(sim.seat_state("8001"), "wrap_up");
    assert_eq!(
        cmds(&mut sim, &id),
        ["remove Agent", "play + loop music/hold.wav"],
        "the caller hears music meanwhile"
    );
    call.assert_silent(&mut sim);

    // 8002 rings with hotline's offer; its answer joins the same media.
    let (_ring2, mut agent2) = {
        let ring = seats[1].expect_invite(&mut sim);
        assert!(ring.invite.body_text().contains("o=hotline"));
        assert_eq!(ring.call, id, "the same call");
        let agent = seats[1].answer(&mut sim, &ring);
        seats[1].expect_request(&mut sim, "ACK");
        (ring, agent)
    };
    call.assert_silent(&mut sim);
    assert_eq!(
        cmds(&mut sim, &id),
        ["set Agent", "bridge", "watch 60s"],
        "one recording, not a second one"
    );
    assert_eq!(sim.seat_state("8002"), "on_call");

    sim.advance(secs(30));
    agent2.send_request(&mut sim, "BYE", "");
    agent2.expect_response(&mut sim, 200, "BYE");
    call.expect_request(&mut sim, "BYE");
    let record = sim.final_record(&call.call_id);
    assert_eq!(
        (record.outcome, record.seat.as_deref()),
        (Some(Outcome::Answered), Some("8002"))
    );
    assert_eq!(
        record.talk_ms, 50_000,
        "talk from the first answer to the end"
    );
    let kinds: Vec<(EventKind, Option<String>)> = sim
        .events()
        .into_iter()
        .filter(|e| e.call_id.as_deref() == Some(id.as_str()) && e.kind != EventKind::AgentState)
        .map(|e| (e.kind, e.detail))
        .collect();
    let seat_events: Vec<EventKind> = kinds.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        seat_events,
        [
            EventKind::Enqueue,
            EventKind::Ring,
            EventKind::Connect,
            EventKind::Transfer,
            EventKind::Complete,
            EventKind::Ring,
            EventKind::Connect,
            EventKind::Complete
        ]
    );
    assert_eq!(kinds[3].1.as_deref(), Some("seat 8002"));
    assert_eq!(kinds[4].1.as_deref(), Some("transfer"));
}

#[test]
fn a_transfer_to_a_line_queues_the_call_and_a_seat_that_does_not_answer_sends_it_back() {
    let mut sim = Sim::demo_with_media(without_survey);
    let trunk = Trunk::new();
    let seats = registered(&mut sim, &["8001", "8002"]);
    let (mut call, id) = queued(&mut sim, &trunk, "13800000001");
    let (_ring, mut agent) = answer(&mut sim, &mut call, &seats[0]);

    // To a seat that is not ready: refused, the call stays.
    let not_ready = crate::acd::StateRequest::NotReady("break".into());
    sim.command(Command::SetAgentState {
        seat: "8002".into(),
        request: not_ready,
    })
    .unwrap();
    assert_eq!(refer(&mut sim, &mut agent, "8002").code(), Some(480));
    assert_eq!(refer(&mut sim, &mut agent, "9999").code(), Some(404));
    assert_eq!(sim.seat_state("8001"), "on_call");
    sim.command(Command::SetAgentState {
        seat: "8002".into(),
        request: crate::acd::StateRequest::Ready,
    })
    .unwrap();

    // To 8002, which rings out (15 s): the call goes back to queue citizen,
    // where 8001 (wrap-up over) takes it again.
    assert_eq!(refer(&mut sim, &mut agent, "8002").code(), Some(202));
    let notify = agent.expect_request(&mut sim, "NOTIFY");
    agent.ok(&mut sim, &notify, "");
    let bye = agent.expect_request(&mut sim, "BYE");
    agent.ok(&mut sim, &bye, "");
    let ring = seats[1].expect_invite(&mut sim);
    seats[1].reply(&mut sim, &ring, 180, "Ringing");
    sim.advance(secs(15));
    seats[1].expect_cancel(&mut sim, &ring);
    let back = seats[0].expect_invite(&mut sim);
    assert_eq!(back.call, id);
    let mut agent = seats[0].answer(&mut sim, &back);
    seats[0].expect_request(&mut sim, "ACK");

    // To line 12329: queue citizen again, as a transfer.
    assert_eq!(refer(&mut sim, &mut agent, "12329").code(), Some(202));
    let enqueued: Vec<Option<String>> = sim
        .events()
        .into_iter()
        .filter(|e| e.kind == EventKind::Enqueue)
        .map(|e| e.detail)
        .collect();
    assert_eq!(
        enqueued,
        [
            None,
            Some("transfer failed".into()),
            Some("transfer".into())
        ]
    );
    call.assert_silent(&mut sim);
    assert_eq!(
        sim.engine.live_calls(sim.now)[0].state,
        "ringing",
        "8002 rings for it"
    );
}

#[test]
fn an_emergency_caller_hears_the_emergency_prompt_and_the_wait_is_recorded() {
    let mut sim = Sim::demo_with_media(|t| t);
    let call = Trunk::new().call(&mut sim, "110", "13800000110");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 183, "INVITE");
    let id = sim.engine.live_calls(sim.now)[0].id.clone();
    assert_eq!(
        cmds(&mut sim, &id),
        [
            "set Caller",
            "play zh/emergency.wav + loop music/hold.wav",
            "record"
        ]
    );
    sim.advance(secs(120));
    assert!(
        sim.take_media(&id).is_empty(),
        "no place-in-line announcements on emergency lines"
    );
}

#[test]
fn an_answered_call_whose_caller_falls_silent_is_hung_up_on_both_sides() {
    let mut sim = Sim::demo_with_media(without_survey);
    let trunk = Trunk::new();
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let (mut call, id) = queued(&mut sim, &trunk, "13800000001");
    let (_ring, agent) = answer(&mut sim, &mut call, &seat);
    assert!(cmds(&mut sim, &id).contains(&"watch 60s".to_string()));
    // A caller holding with `inactive` sends nothing: not watched.
    let hold = super::harness::sdp("192.0.2.1", 20_000, "inactive");
    let cseq = call.dialog().send_request(&mut sim, "INVITE", &hold);
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 200, "INVITE");
    call.dialog().ack(&mut sim, cseq);
    assert!(cmds(&mut sim, &id).contains(&"watch off".to_string()));

    sim.advance(secs(61));
    sim.media_event(MediaEvent::Silent {
        call: id.as_str().into(),
        leg: Leg::Caller,
    });
    call.expect_request(&mut sim, "BYE");
    agent.expect_request(&mut sim, "BYE");
    let record = sim.final_record(&call.call_id);
    assert_eq!(
        (record.outcome, record.hangup_by),
        (Some(Outcome::Answered), Some(HangupBy::System))
    );
    assert_eq!(
        record.reason.as_deref(),
        Some("no RTP from the caller for 60 s")
    );
    assert_eq!(sim.seat_state("8001"), "wrap_up");
}

#[test]
fn a_late_offer_call_is_anchored_with_hotlines_offer_in_the_200_and_the_answer_in_the_ack() {
    let mut sim = Sim::demo_with_media(without_survey);
    let seat = registered(&mut sim, &["8001"]).remove(0);
    let mut call = Trunk::new().call_without_offer(&mut sim, "12345", "13800000001");
    call.expect_response(&mut sim, 100, "INVITE");
    let ringing = call.expect_response(&mut sim, 180, "INVITE");
    assert!(
        ringing.body_text().is_empty(),
        "no early media without the caller's SDP"
    );
    let id = sim.engine.live_calls(sim.now)[0].id.clone();
    assert!(
        sim.take_media(&id).is_empty(),
        "nothing to play before the answer"
    );

    let ring = seat.expect_invite(&mut sim);
    assert!(
        ring.invite.body_text().contains("o=hotline"),
        "the seat is offered hotline's media"
    );
    let _agent = seat.answer(&mut sim, &ring);
    seat.expect_request(&mut sim, "ACK"); // the seat's 200 answered our offer: ACKed at once
    let ok = call.expect_response(&mut sim, 200, "INVITE");
    let offer = ok.body_text();
    assert!(
        offer.contains("o=hotline") && offer.contains("RTP/AVP 8 0 101"),
        "hotline offers in the 200:\n{offer}"
    );
    assert_eq!(
        cmds(&mut sim, &id),
        ["set Agent", "bridge", "record", "watch 60s"]
    );

    // The caller answers PCMU only in its ACK: its leg is set from it.
    let answer = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 24000 RTP/AVP 0\r\na=sendrecv\r\n";
    call.confirm_with_answer(&mut sim, &ok, answer);
    let set: Vec<_> = sim.take_media(&id).into_iter().map(|(_, c)| c).collect();
    match set.as_slice() {
        [MediaCmd::SetLeg(Leg::Caller, leg)] => {
            assert_eq!(leg.codec, crate::media::codec::Codec::Pcmu);
            assert_eq!(leg.remote, "127.0.0.2:24000".parse().unwrap());
        }
        other => panic!("expected the caller's leg from the ACK, got {other:?}"),
    }
}

#[test]
fn a_refused_caller_hears_the_busy_prompt_before_the_final_response() {
    let no_agents = |t: String| {
        t.replacen(
            "when_no_agents = \"wait\"",
            "when_no_agents = \"reject\"",
            1,
        )
    };
    let mut sim = Sim::demo_with_media(no_agents);
    let call = Trunk::new().call(&mut sim, "12345", "13800000001");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 183, "INVITE");
    let id = sim.engine.live_calls(sim.now)[0].id.clone();
    let heard = cmds(&mut sim, &id);
    assert_eq!(
        heard.last().map(String::as_str),
        Some("play zh/busy.wav"),
        "{heard:?}"
    );
    sim.advance(secs(1));
    call.assert_silent(&mut sim);
    sim.advance(secs(10));
    let refused = call.expect_response(&mut sim, 486, "INVITE");
    call.ack_failure(&mut sim, &refused);
    let record = sim.final_record(&call.call_id);
    assert_eq!(record.outcome, Some(Outcome::Rejected));

    // Hanging up while hearing it: still a refusal.
    let mut sim = Sim::demo_with_media(no_agents);
    let call = Trunk::new().call(&mut sim, "12345", "13800000002");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 183, "INVITE");
    sim.advance(secs(1));
    call.cancel(&mut sim);
    let record = sim.final_record(&call.call_id);
    assert_eq!(
        (record.outcome, record.hangup_by),
        (Some(Outcome::Rejected), Some(HangupBy::Caller))
    );
}
