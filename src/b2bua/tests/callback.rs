//! Callbacks (回访), in simulated time: a seat dials the outbound prefix
//! and a number from its desk phone, or the API starts a click-to-call;
//! hotline calls the citizen through the trunk (`[outbound] trunk`, the
//! demo's 127.0.0.1:5090), refuses numbers outside the seat's patterns,
//! and records the call as outbound.

use super::harness::{PHONES_LISTEN, SipExt, request, response, secs, uri_of};
use super::peers::{Peer, PeerDialog, Trunk};
use super::phone::{Dialled, Phone};
use super::{Sim, registered};
use crate::b2bua::{ClickToCall, Command, DialRefused, Refused};
use crate::media::driver::MediaCmd;
use crate::model::{Direction, HangupBy, Outcome};
use crate::sip::Message;

/// The carrier's side of outbound calls: where `[outbound] trunk` points.
fn carrier() -> Trunk {
    Trunk::at("127.0.0.1:5090")
}

/// A seat phone's own call: its INVITE to `dialled`, authenticated.
struct SeatCall(Dialled);

impl SeatCall {
    fn dial(sim: &mut Sim, phone: &Phone, dialled: &str) -> SeatCall {
        SeatCall(phone.dial(sim, dialled))
    }

    /// The seat's side of the dialog hotline's 2xx set up; ACKs it.
    fn confirm(&self, sim: &mut Sim, phone: &Phone, ok: &Message) -> PeerDialog {
        let to = ok.hdr("To").unwrap();
        let target = uri_of(&ok.hdr("Contact").expect("hotline's 200 has a Contact"));
        let d = &self.0;
        let ack = [
            ("From", d.from.as_str()),
            ("To", &to),
            ("Call-ID", &d.call_id),
            ("CSeq", "2 ACK"),
        ];
        let branch = sim.token("z9hG4bK-");
        phone.send(sim, &request("ACK", &target, phone.addr, &branch, &ack, ""));
        PeerDialog {
            flow: phone.flow(),
            call_id: d.call_id.clone(),
            local: d.from.clone(),
            remote: to,
            target,
            contact: phone.contact(),
            cseq: 2,
        }
    }

    /// The seat gives up before the answer: CANCEL (200), then 487.
    fn cancel(&self, sim: &mut Sim, phone: &Phone) {
        let d = &self.0;
        let to = format!("<{}>", d.uri.replace(PHONES_LISTEN, "127.0.0.1"));
        let headers = [
            ("From", d.from.as_str()),
            ("To", &to),
            ("Call-ID", &d.call_id),
            ("CSeq", "2 CANCEL"),
        ];
        phone.send(
            sim,
            &request("CANCEL", &d.uri, phone.addr, &d.branch, &headers, ""),
        );
    }
}

/// The carrier answers an INVITE from hotline with `code` (a To tag, a
/// Contact, and SDP on 183/200); returns its side of the dialog.
fn carrier_reply(
    sim: &mut Sim,
    carrier: &Trunk,
    invite: &Message,
    code: u16,
    reason: &str,
) -> PeerDialog {
    let contact = format!("<sip:citizen@{}>", carrier.addr);
    let body = if code == 183 || code == 200 {
        carrier.offer()
    } else {
        String::new()
    };
    let tag = "citizen-tag";
    carrier.send(
        sim,
        &response(
            invite,
            code,
            reason,
            Some(tag),
            &[("Contact", &contact)],
            &body,
        ),
    );
    PeerDialog {
        flow: carrier.flow(),
        call_id: invite.hdr("Call-ID").unwrap(),
        local: format!("{};tag={tag}", invite.hdr("To").unwrap()),
        remote: invite.hdr("From").unwrap(),
        target: uri_of(
            &invite
                .hdr("Contact")
                .expect("hotline's INVITE has a Contact"),
        ),
        contact,
        cseq: 0,
    }
}

fn media(sim: &mut Sim, call: &str) -> Vec<String> {
    sim.take_media(call)
        .iter()
        .map(|(_, c)| match c {
            MediaCmd::SetLeg(leg, _) => format!("set {leg:?}"),
            MediaCmd::Bridge => "bridge".into(),
            MediaCmd::StartRecording(t) => format!("record {}", t.class),
            MediaCmd::WatchSilence(_) => "watch".into(),
            MediaCmd::Close => "close".into(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_seat_dials_a_citizen_back_through_the_trunk_and_the_call_is_recorded_as_outbound() {
    let mut sim = Sim::demo_with_media(|t| t);
    let phone = registered(&mut sim, &["8001"]).remove(0);
    let carrier = carrier();
    let call = SeatCall::dial(&mut sim, &phone, "913800138000");

    let invite = carrier.expect_request(&mut sim, "INVITE");
    assert!(
        invite
            .text()
            .starts_with("INVITE sip:13800138000@127.0.0.1:5090 SIP/2.0"),
        "{}",
        invite.text()
    );
    assert!(
        invite.hdr("From").unwrap().contains("sip:12345@"),
        "the citizen sees the center's number: {}",
        invite.text()
    );
    assert!(
        invite.body_text().contains("o=hotline"),
        "hotline anchors the media:\n{}",
        invite.text()
    );
    let id = invite
        .hdr("X-Hotline-Call-Id")
        .expect("hotline names its call");
    assert_eq!(
        sim.seat_state("8001"),
        "on_call",
        "a seat calling back is not offered queued calls"
    );

    carrier_reply(&mut sim, &carrier, &invite, 180, "Ringing");
    phone.expect_response(&mut sim, 180, "INVITE");
    let mut citizen = carrier_reply(&mut sim, &carrier, &invite, 200, "OK");
    let ack = carrier.expect_request(&mut sim, "ACK");
    assert_eq!(ack.hdr("CSeq").as_deref(), Some("1 ACK"));
    let ok = phone.expect_response(&mut sim, 200, "INVITE");
    assert!(
        ok.body_text().contains("o=hotline"),
        "the seat talks to hotline's media:\n{}",
        ok.text()
    );
    call.confirm(&mut sim, &phone, &ok);
    assert_eq!(
        media(&mut sim, &id),
        [
            "set Agent",
            "set Caller",
            "bridge",
            "record non_emergency",
            "watch"
        ]
    );

    sim.advance(secs(90));
    citizen.send_request(&mut sim, "BYE", "");
    carrier.expect_response(&mut sim, 200, "BYE");
    let bye = phone.expect_request(&mut sim, "BYE");
    phone.send(&mut sim, &response(&bye, 200, "OK", None, &[], ""));
    assert_eq!(media(&mut sim, &id), ["close"]);

    let rec = sim.final_record(&invite.hdr("Call-ID").unwrap());
    assert_eq!(rec.id, id);
    assert_eq!(rec.direction, Direction::Outbound);
    assert_eq!(
        (rec.caller.as_str(), rec.line.as_str(), rec.seat.as_deref()),
        ("13800138000", "12345", Some("8001"))
    );
    assert_eq!(rec.queue, None);
    assert_eq!(
        (rec.outcome, rec.hangup_by),
        (Some(Outcome::Answered), Some(HangupBy::Caller))
    );
    assert_eq!(rec.talk_ms, 90_000);
    assert!(rec.anchored);
    assert_eq!(
        sim.seat_state("8001"),
        "ready",
        "ready again after the callback, without wrap-up"
    );
}

#[test]
fn a_number_outside_the_seats_patterns_is_refused_with_403_and_nothing_is_dialled() {
    let mut sim = Sim::demo_with_media(|t| t);
    let phone = registered(&mut sim, &["8001"]).remove(0);
    let carrier = carrier();
    let records_before = sim.records().len();
    for number in ["90044207946000", "995588", "98765432"] {
        let _call = SeatCall::dial(&mut sim, &phone, number);
        let refused = phone.expect_response(&mut sim, 403, "INVITE");
        assert!(
            refused.text().contains("not a number seat 8001 may dial"),
            "{}",
            refused.text()
        );
    }
    carrier.assert_silent(&mut sim);
    assert_eq!(
        sim.records().len(),
        records_before,
        "nothing recorded for a refused number"
    );
    assert_eq!(sim.seat_state("8001"), "ready");

    // The emergency seats may call local numbers.
    let mut phone = Phone::new("8021");
    phone.register(&mut sim);
    let _call = SeatCall::dial(&mut sim, &phone, "98765432");
    let invite = carrier.expect_request(&mut sim, "INVITE");
    assert!(
        invite.text().starts_with("INVITE sip:8765432@"),
        "{}",
        invite.text()
    );
}

#[test]
fn a_busy_citizen_gives_the_seat_486_and_a_rejected_record() {
    let mut sim = Sim::demo_with_media(|t| t);
    let phone = registered(&mut sim, &["8001"]).remove(0);
    let carrier = carrier();
    let _call = SeatCall::dial(&mut sim, &phone, "913800138000");
    let invite = carrier.expect_request(&mut sim, "INVITE");
    carrier_reply(&mut sim, &carrier, &invite, 486, "Busy Here");
    carrier.expect_request(&mut sim, "ACK");
    let busy = phone.expect_response(&mut sim, 486, "INVITE");
    assert!(
        busy.text().contains("busy (486 Busy Here)"),
        "{}",
        busy.text()
    );
    let rec = sim.final_record(&invite.hdr("Call-ID").unwrap());
    assert_eq!(rec.outcome, Some(Outcome::Rejected));
    assert_eq!(rec.reason.as_deref(), Some("busy (486 Busy Here)"));
    assert_eq!(rec.direction, Direction::Outbound);
    assert_eq!(sim.seat_state("8001"), "ready");
}

#[test]
fn the_agent_giving_up_cancels_the_citizens_ringing_phone() {
    let mut sim = Sim::demo_with_media(|t| t);
    let phone = registered(&mut sim, &["8001"]).remove(0);
    let carrier = carrier();
    let call = SeatCall::dial(&mut sim, &phone, "913800138000");
    let invite = carrier.expect_request(&mut sim, "INVITE");
    carrier_reply(&mut sim, &carrier, &invite, 180, "Ringing");
    phone.expect_response(&mut sim, 180, "INVITE");
    sim.advance(secs(5));
    call.cancel(&mut sim, &phone);
    phone.expect_response(&mut sim, 200, "CANCEL");
    phone.expect_response(&mut sim, 487, "INVITE");
    let cancel = carrier.expect_request(&mut sim, "CANCEL");
    assert_eq!(
        cancel.hdr("Via"),
        invite.hdr("Via"),
        "the CANCEL matches the INVITE"
    );
    carrier.send(&mut sim, &response(&cancel, 200, "OK", None, &[], ""));
    carrier.send(
        &mut sim,
        &response(
            &invite,
            487,
            "Request Terminated",
            Some("citizen-tag"),
            &[],
            "",
        ),
    );
    carrier.expect_request(&mut sim, "ACK");
    let rec = sim.final_record(&invite.hdr("Call-ID").unwrap());
    assert_eq!(
        (rec.outcome, rec.hangup_by),
        (Some(Outcome::Abandoned), Some(HangupBy::Agent))
    );
    assert_eq!(rec.wait_ms, 5_000);
    assert_eq!(sim.seat_state("8001"), "ready");
}

#[test]
fn an_unanswered_citizen_is_given_up_after_the_ring_timeout() {
    let mut sim =
        Sim::demo_with_media(|t| t.replace("ring_timeout_secs = 60 ", "ring_timeout_secs = 30 "));
    let phone = registered(&mut sim, &["8001"]).remove(0);
    let carrier = carrier();
    let _call = SeatCall::dial(&mut sim, &phone, "913800138000");
    let invite = carrier.expect_request(&mut sim, "INVITE");
    carrier_reply(&mut sim, &carrier, &invite, 180, "Ringing");
    phone.expect_response(&mut sim, 180, "INVITE");
    sim.advance(secs(29));
    carrier.assert_silent(&mut sim);
    sim.advance(secs(1));
    carrier.expect_request(&mut sim, "CANCEL");
    let gave_up = phone.expect_response(&mut sim, 480, "INVITE");
    assert!(
        gave_up.text().contains("no answer within 30 s"),
        "{}",
        gave_up.text()
    );
    let rec = sim.final_record(&invite.hdr("Call-ID").unwrap());
    assert_eq!(rec.outcome, Some(Outcome::Rejected));
    assert_eq!(rec.reason.as_deref(), Some("no answer within 30 s"));
}

#[test]
fn click_to_call_rings_the_seat_first_then_calls_the_citizen_for_the_ticket() {
    let mut sim = Sim::demo_with_media(|t| t);
    let phone = registered(&mut sim, &["8001"]).remove(0);
    let carrier = carrier();
    let req = ClickToCall {
        id: "cb-1".into(),
        seat: "8001".into(),
        number: "13800138000".into(),
        ticket: Some("T-2026-0042".into()),
        by: "ticket-system".into(),
    };
    sim.command(Command::Callback(req)).unwrap();

    let ring = phone.expect_invite(&mut sim);
    assert_eq!(ring.call, "cb-1");
    assert_eq!(
        ring.invite.hdr("X-Hotline-Ticket").as_deref(),
        Some("T-2026-0042")
    );
    assert!(
        ring.invite.hdr("From").unwrap().contains("13800138000"),
        "the phone shows whom it calls: {}",
        ring.invite.text()
    );
    carrier.assert_silent(&mut sim);
    let mut agent = phone.answer(&mut sim, &ring);
    phone.expect_request(&mut sim, "ACK");

    let invite = carrier.expect_request(&mut sim, "INVITE");
    assert_eq!(
        invite.hdr("X-Hotline-Ticket").as_deref(),
        Some("T-2026-0042")
    );
    carrier_reply(&mut sim, &carrier, &invite, 183, "Session Progress");
    assert_eq!(
        media(&mut sim, "cb-1"),
        ["set Agent", "set Caller", "bridge"],
        "the agent hears the ringback"
    );
    carrier_reply(&mut sim, &carrier, &invite, 200, "OK");
    carrier.expect_request(&mut sim, "ACK");
    assert_eq!(
        media(&mut sim, "cb-1"),
        ["set Caller", "bridge", "record non_emergency", "watch"]
    );
    let live = sim.engine.live_calls(sim.now);
    assert_eq!(
        (live[0].state, live[0].direction),
        ("connected", Direction::Outbound)
    );

    sim.advance(secs(30));
    agent.send_request(&mut sim, "BYE", "");
    phone.expect_response(&mut sim, 200, "BYE");
    carrier.expect_request(&mut sim, "BYE");
    let rec = sim.final_record(&invite.hdr("Call-ID").unwrap());
    assert_eq!(
        rec.ticket.as_deref(),
        Some("T-2026-0042"),
        "the callback is linked to its ticket from the start"
    );
    assert_eq!(
        (rec.outcome, rec.hangup_by, rec.talk_ms),
        (Some(Outcome::Answered), Some(HangupBy::Agent), 30_000)
    );
}

#[test]
fn click_to_call_is_refused_for_a_forbidden_number_an_unregistered_or_busy_seat() {
    let mut sim = Sim::demo_with_media(|t| t);
    let phone = registered(&mut sim, &["8001"]).remove(0);
    let req = |id: &str, seat: &str, number: &str| {
        Command::Callback(ClickToCall {
            id: id.into(),
            seat: seat.into(),
            number: number.into(),
            ticket: None,
            by: "test".into(),
        })
    };
    assert!(matches!(
        sim.command(req("a", "8001", "0044207946000")),
        Err(Refused::Dial(DialRefused::NotAllowed { .. }))
    ));
    assert!(matches!(
        sim.command(req("b", "8002", "13800138000")),
        Err(Refused::SeatUnreachable(_))
    ));
    assert!(matches!(
        sim.command(req("c", "9999", "13800138000")),
        Err(Refused::Dial(DialRefused::UnknownSeat(_)))
    ));
    phone.assert_silent(&mut sim);
    sim.command(req("d", "8001", "13800138000")).unwrap();
    let ring = phone.expect_invite(&mut sim);
    assert!(matches!(
        sim.command(req("e", "8001", "13900139000")),
        Err(Refused::Acd(crate::acd::AcdError::SeatBusy(_)))
    ));
    // The agent declines: nobody is called, the record says why.
    phone.reply(&mut sim, &ring, 603, "Decline");
    phone.expect_ack_of_failure(&mut sim, &ring);
    carrier().assert_silent(&mut sim);
    let rec = sim.records().iter().rev().find_map(|r| match r {
        crate::b2bua::Record::Call(c) if c.id == "d" => Some(c.clone()),
        _ => None,
    });
    let rec = rec.expect("a record for the click-to-call");
    assert_eq!(rec.outcome, Some(Outcome::Failed));
    assert_eq!(
        rec.reason.as_deref(),
        Some("seat 8001 did not answer (603 Decline)")
    );
    assert_eq!(sim.seat_state("8001"), "ready");
}
