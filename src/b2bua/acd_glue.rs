//! Turns the ACD's decisions into SIP (ring a seat, stop ringing it, bridge,
//! reject) and the seat legs' answers back into ACD inputs.

use super::call::{Dialog, LegRef, SeatLeg, SeatLegState};
use super::{Engine, Purpose};
use crate::acd::{AcdEvent, Output, RingFailure};
use crate::model::{HangupBy, Outcome, QueueEvent};
use crate::sip::transaction::TxKey;
use crate::sip::{Flow, Message, Side, random_token};
use ezk_sip_types::{Method, Name};
use std::time::Instant;

impl Engine {
    pub(super) fn handle_acd_output(&mut self, now: Instant, out: Output) {
        match out {
            Output::Ring { call, seat } => self.ring_seat(now, &call, &seat),
            Output::StopRing { call, seat } => self.stop_ring(now, &call, &seat),
            Output::Connect { call, seat } => self.connect(now, &call, &seat),
            Output::Overflowed { call, to, .. } => {
                if let Some(c) = self.calls.get_mut(call.as_str()) {
                    c.queue = to.to_string();
                }
                self.record_call(&call);
            }
            Output::Reject { call, reason } => {
                let code = self
                    .calls
                    .get(call.as_str())
                    .and_then(|c| self.config.reject_codes.get(&c.queue).copied());
                if !self.reject_after_prompt(now, &call, code.unwrap_or(486), &reason) {
                    self.reject_call(now, &call, code.unwrap_or(486), &reason);
                }
            }
            Output::Event(ev) => self.acd_event(ev),
            Output::SeatRemoved { seat } => {
                tracing::info!(
                    seat,
                    "reload: seat {seat} has left (removed by a reload); its registration is dropped"
                );
                self.registrar.forget(now, &seat);
            }
        }
    }

    fn acd_event(&mut self, ev: AcdEvent) {
        if ev.kind == crate::model::EventKind::AgentState
            && let Some(seat) = &ev.seat
        {
            self.blf.touch(seat);
        }
        let ev = QueueEvent {
            at_ms: self.timebase.ms(ev.at),
            call_id: ev.call.map(|c| c.to_string()),
            queue: ev.queue,
            seat: ev.seat,
            kind: ev.kind,
            detail: ev.detail,
        };
        self.record_event(ev);
    }

    fn ring_seat(&mut self, now: Instant, id: &str, seat: &str) {
        let Some(binding) = self.registrar.lookup(now, seat).cloned() else {
            self.acd
                .ring_failed(now, id, seat, RingFailure::Unreachable);
            return;
        };
        let Some(call) = self.calls.get(id) else {
            self.acd
                .ring_failed(now, id, seat, RingFailure::Unreachable);
            return;
        };
        let flow = binding.flow;
        let local = self.config.local_addr(Side::Phones, flow.proto);
        let host = local.ip();
        let mut dialog = Dialog {
            call_id: format!("{}@{}", random_token(), host),
            local_tag: random_token(),
            remote_tag: None,
            local_uri: format!("\"{}\" <sip:{}@{host}>", call.caller, call.caller),
            remote_uri: format!("<sip:{seat}@{host}>"),
            remote_target: binding.contact.clone(),
            route_set: Vec::new(),
            local_cseq: 1,
            flow,
        };
        let Some(mut invite) = dialog.request(Method::INVITE, local, Some(1)) else {
            tracing::warn!(seat, contact = %binding.contact, "seat contact is not a SIP URI");
            self.acd
                .ring_failed(now, id, seat, RingFailure::Unreachable);
            return;
        };
        let transport = flow.proto.via_name().to_ascii_lowercase();
        let h = &mut invite.headers;
        h.insert(
            Name::CONTACT,
            format!("<sip:hotline@{local};transport={transport}>"),
        );
        h.insert(Name::ALLOW, super::trunk::allow(Side::Phones));
        h.insert("X-Hotline-Call-Id", id.to_string());
        h.insert("X-Hotline-Line", call.line.number.clone());
        h.insert("X-Hotline-Queue", call.queue.clone());
        if let Some(tag) = &call.line.tag {
            h.insert("X-Hotline-Tag", tag.clone());
        }
        let inbound = &call.inbound.invite;
        let (ctype, body) = self.seat_offer(id).unwrap_or_else(|| {
            let ctype = inbound
                .raw(&Name::CONTENT_TYPE)
                .map(|c| c.to_string())
                .unwrap_or_else(|| "application/sdp".into());
            (ctype, inbound.body.clone())
        });
        let invite = invite.with_body(&ctype, body);
        let invite = self.decorate(invite);
        let Some(key) = self.tx.send_request(now, &invite, flow) else {
            return;
        };
        tracing::info!(call = %id, seat, remote = %flow.remote, "ringing seat");
        let ringing_sent = call.inbound.ringing_sent;
        self.by_client.insert(
            key.clone(),
            (
                id.to_string(),
                LegRef::Seat(seat.to_string()),
                Purpose::SeatInvite,
            ),
        );
        self.by_dialog.insert(
            (dialog.call_id.clone(), dialog.local_tag.clone()),
            (id.to_string(), LegRef::Seat(seat.to_string())),
        );
        let replaced = self.calls.get_mut(id).and_then(|call| {
            call.client_keys.push(key.clone());
            call.inbound.ringing_sent = true;
            let leg = SeatLeg {
                dialog,
                invite_tx: key,
                invite,
                state: SeatLegState::Calling,
                answer: None,
            };
            call.legs.insert(seat.to_string(), leg)
        });
        if let Some(old) = replaced {
            // The seat rings again for this call before its last INVITE
            // got a final answer (a late 487): keep that one apart.
            self.retire_leg(now, id, seat, old);
        }
        if !ringing_sent {
            self.send_progress(now, id);
        }
    }

    /// The caller's first provisional answer: 183 with hotline's SDP when
    /// the call's media is anchored (prompts and music as early media),
    /// else 180 (the carrier plays ringback).
    pub(super) fn send_progress(&mut self, now: Instant, id: &str) {
        if let Some(c) = self.calls.get_mut(id) {
            c.inbound.ringing_sent = true;
        }
        match self.caller_sdp(id).filter(|_| !self.awaits_late_answer(id)) {
            Some(body) => self.answer_inbound(now, id, 183, None, Some(body)),
            None => self.answer_inbound(now, id, 180, None, None),
        }
    }

    /// Stops ringing a seat: CANCEL once it has sent a provisional
    /// response (RFC 3261 §9.1), BYE if it has already answered.
    pub(super) fn stop_ring(&mut self, now: Instant, id: &str, seat: &str) {
        let Some(leg) = self.calls.get_mut(id).and_then(|c| c.legs.get_mut(seat)) else {
            return;
        };
        match leg.state {
            SeatLegState::Calling => leg.state = SeatLegState::CancelPending,
            SeatLegState::Early => self.send_cancel(now, id, seat),
            SeatLegState::Answered => self.hang_up_leg(now, id, seat),
            SeatLegState::CancelPending | SeatLegState::Cancelling | SeatLegState::Connected => {}
        }
    }

    fn send_cancel(&mut self, now: Instant, id: &str, seat: &str) {
        let Some(leg) = self.calls.get_mut(id).and_then(|c| c.legs.get_mut(seat)) else {
            return;
        };
        leg.state = SeatLegState::Cancelling;
        let Some(cancel) = leg.cancel_request() else {
            return;
        };
        let (flow, invite_tx) = (leg.dialog.flow, leg.invite_tx.clone());
        self.fire_cancel(now, id, seat, cancel, flow, &invite_tx);
    }

    /// Sends a seat leg's CANCEL and bounds the wait for its INVITE's
    /// final answer (RFC 3261 §9.1: 64*T1).
    pub(super) fn fire_cancel(
        &mut self,
        now: Instant,
        id: &str,
        seat: &str,
        cancel: Message,
        flow: Flow,
        invite_tx: &TxKey,
    ) {
        let cancel = self.decorate(cancel);
        if let Some(key) = self.tx.send_request(now, &cancel, flow) {
            self.by_client.insert(
                key.clone(),
                (
                    id.to_string(),
                    LegRef::Seat(seat.to_string()),
                    Purpose::Fire,
                ),
            );
            if let Some(call) = self.calls.get_mut(id) {
                call.client_keys.push(key);
            }
        }
        self.tx.expect_final_by(invite_tx, now + self.tx.t1() * 64);
    }

    /// Sends BYE on a seat leg and forgets it.
    pub(super) fn hang_up_leg(&mut self, now: Instant, id: &str, seat: &str) {
        self.flush_deferred_ack(id, &LegRef::Seat(seat.to_string()));
        let Some(mut leg) = self.calls.get_mut(id).and_then(|c| c.legs.remove(seat)) else {
            return;
        };
        self.bye_leg(now, id, seat, &mut leg);
        self.by_dialog
            .remove(&(leg.dialog.call_id, leg.dialog.local_tag));
        self.forget_if_done(id);
    }

    /// Sends BYE in a seat leg's dialog.
    pub(super) fn bye_leg(&mut self, now: Instant, id: &str, seat: &str, leg: &mut SeatLeg) {
        let local = self.config.local_addr(Side::Phones, leg.dialog.flow.proto);
        let Some(bye) = leg.dialog.request(Method::BYE, local, None) else {
            return;
        };
        let bye = self.decorate(bye);
        if let Some(key) = self.tx.send_request(now, &bye, leg.dialog.flow) {
            self.by_client.insert(
                key.clone(),
                (
                    id.to_string(),
                    LegRef::Seat(seat.to_string()),
                    Purpose::Fire,
                ),
            );
            if let Some(call) = self.calls.get_mut(id) {
                call.client_keys.push(key);
            }
        }
    }

    fn connect(&mut self, now: Instant, id: &str, seat: &str) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let Some(leg) = call.legs.get_mut(seat) else {
            return;
        };
        if leg.state != SeatLegState::Answered || call.ended.is_some() {
            return;
        }
        leg.state = SeatLegState::Connected;
        let body = leg.answer.as_ref().filter(|a| !a.body.is_empty()).map(|a| {
            let ctype = a
                .raw(&Name::CONTENT_TYPE)
                .map(|c| c.to_string())
                .unwrap_or_else(|| "application/sdp".into());
            (ctype, a.body.clone())
        });
        call.seat = Some(seat.to_string());
        let seat_answer = leg.answer.clone();
        if call.inbound.answered {
            // A transferred call: the caller's leg is up, its media goes on;
            // the new seat joins it. Talk time runs from the first answer;
            // a record begun by a transfer across sides starts its own.
            call.answered.get_or_insert(now);
            tracing::info!(call = %id, seat, "connected after transfer");
            if let Some(answer) = &seat_answer {
                self.media_connected(now, id, answer);
            }
            self.record_call(id);
            return;
        }
        call.answered = Some(now);
        call.inbound.answered = true;
        tracing::info!(call = %id, seat, "connected");
        let body = match self.caller_sdp(id) {
            Some(anchored) => {
                if let Some(answer) = &seat_answer {
                    self.media_connected(now, id, answer);
                }
                Some(anchored)
            }
            None => body,
        };
        self.answer_inbound(now, id, 200, None, body);
        self.record_call(id);
    }

    /// A response on the INVITE that rings a seat.
    pub(super) fn seat_invite_response(
        &mut self,
        now: Instant,
        id: &str,
        seat: &str,
        msg: Message,
    ) {
        let code = msg.code().unwrap_or(500);
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let call_ended = call.ended.is_some();
        let Some(leg) = call.legs.get_mut(seat) else {
            return;
        };
        leg.learn_dialog(&msg);
        match code {
            // Any provisional response makes the INVITE cancellable
            // (RFC 3261 9.1); only a real one (180/183) says it rings.
            100..=199 => {
                let state = leg.state;
                match state {
                    SeatLegState::Calling => leg.state = SeatLegState::Early,
                    SeatLegState::CancelPending => self.send_cancel(now, id, seat),
                    _ => {}
                }
                if code > 100 && matches!(state, SeatLegState::Calling | SeatLegState::Early) {
                    self.acd.ring_progress(id, seat);
                }
            }
            200..=299 => {
                let this = LegRef::Seat(seat.to_string());
                let state = leg.state;
                if state == SeatLegState::Answered || state == SeatLegState::Connected {
                    // A retransmitted 2xx: our ACK was lost, send it again.
                    self.ack_leg_again(id, &this, 1);
                    return;
                }
                let gave_up = call_ended
                    || matches!(
                        state,
                        SeatLegState::CancelPending | SeatLegState::Cancelling
                    );
                // No offer in our INVITE: the 2xx offers, the caller answers in its ACK.
                let late_offer = !gave_up && leg.invite.body.is_empty() && !msg.body.is_empty();
                leg.state = SeatLegState::Answered;
                leg.answer = Some(msg);
                self.ack_leg(id, &this, 1, late_offer);
                if gave_up {
                    // Answered after we gave up on it.
                    self.hang_up_leg(now, id, seat);
                    if !call_ended {
                        self.acd.ring_answered(now, id, seat);
                    }
                    return;
                }
                self.acd.ring_answered(now, id, seat);
            }
            _ => {
                let state = leg.state;
                call.legs.remove(seat);
                if !matches!(
                    state,
                    SeatLegState::CancelPending | SeatLegState::Cancelling
                ) && !call_ended
                {
                    let failure = match code {
                        486 | 600 => RingFailure::Busy,
                        603 => RingFailure::Declined,
                        408 | 480 | 487 => RingFailure::NoAnswer,
                        _ => RingFailure::Unreachable,
                    };
                    tracing::info!(call = %id, seat, code, "seat did not take the call");
                    self.acd.ring_failed(now, id, seat, failure);
                }
                self.forget_if_done(id);
            }
        }
    }

    /// No response at all from a seat (timer B): it is unreachable.
    pub(super) fn seat_invite_timeout(&mut self, now: Instant, id: &str, seat: &str) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let ended = call.ended.is_some();
        let Some(leg) = call.legs.remove(seat) else {
            return;
        };
        if !matches!(
            leg.state,
            SeatLegState::CancelPending | SeatLegState::Cancelling
        ) && !ended
        {
            tracing::warn!(call = %id, seat, "seat phone did not respond");
            self.acd
                .ring_failed(now, id, seat, RingFailure::Unreachable);
        }
        self.forget_if_done(id);
    }

    /// Ends an answered call from one side: BYE the other side, wrap-up.
    pub(super) fn hang_up_answered(&mut self, now: Instant, id: &str, by: HangupBy) {
        let Some(call) = self.calls.get(id) else {
            return;
        };
        if call.ended.is_some() {
            return;
        }
        if by == HangupBy::Caller && self.in_survey(id, &LegRef::Citizen) {
            self.finish_survey(now, id, "hangup", true);
            return;
        }
        let seat = call.seat.clone();
        let (queue, talk) = (
            call.queue.clone(),
            call.answered.map(|a| now.saturating_duration_since(a)),
        );
        if let Some(talk) = talk {
            self.learn_handle_time(&queue, talk);
        }
        if by == HangupBy::Agent && self.wants_survey(id) {
            if let Some(seat) = &seat
                && let Some(leg) = self.calls.get_mut(id).and_then(|c| c.legs.remove(seat))
            {
                self.by_dialog
                    .remove(&(leg.dialog.call_id, leg.dialog.local_tag));
            }
            self.acd.call_ended(now, id, by);
            self.start_survey(now, id);
            return;
        }
        if by != HangupBy::Caller {
            self.bye_inbound(now, id);
        }
        if let Some(seat) = &seat
            && by != HangupBy::Agent
        {
            self.hang_up_leg(now, id, seat);
        } else if let Some(seat) = &seat
            && let Some(call) = self.calls.get_mut(id)
            && let Some(leg) = call.legs.remove(seat)
        {
            self.by_dialog
                .remove(&(leg.dialog.call_id, leg.dialog.local_tag));
        }
        self.end_call(now, id, Outcome::Answered, Some(by), None);
        self.acd.call_ended(now, id, by);
    }

    pub(super) fn bye_inbound(&mut self, now: Instant, id: &str) {
        self.flush_deferred_ack(id, &LegRef::Citizen);
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let dialog = &mut call.inbound.dialog;
        let local = self.config.local_addr(dialog.flow.side, dialog.flow.proto);
        let flow = dialog.flow;
        if let Some(bye) = dialog.request(Method::BYE, local, None) {
            let bye = self.decorate(bye);
            if let Some(key) = self.tx.send_request(now, &bye, flow) {
                self.by_client.insert(
                    key.clone(),
                    (id.to_string(), LegRef::Citizen, Purpose::Fire),
                );
                if let Some(call) = self.calls.get_mut(id) {
                    call.client_keys.push(key);
                }
            }
        }
    }

    pub(super) fn client_key_done(&mut self, key: &TxKey) {
        self.by_client.remove(key);
    }
}
