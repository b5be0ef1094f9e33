//! The trunk side: citizens' INVITEs become calls on a line and enter its
//! queue; CANCEL abandons them; only the trunk's addresses are served.

use super::call::{Call, Dialog, Inbound, LegRef};
use super::{Engine, Record};
use crate::model::{Direction, HangupBy, Outcome};
use crate::sip::transaction::TxKey;
use crate::sip::{Flow, Message, Side, random_token, uri_user};
use bytes::Bytes;
use ezk_sip_types::{Method, Name};
use std::time::Instant;

/// Methods hotline accepts on each side (REGISTER only from phones).
pub(super) fn allow(side: Side) -> &'static str {
    match side {
        Side::Phones => "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, SUBSCRIBE",
        Side::Trunk => "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO",
    }
}

impl Engine {
    pub(super) fn handle_trunk_request(
        &mut self,
        now: Instant,
        key: TxKey,
        msg: Message,
        flow: Flow,
    ) {
        let ip = flow.remote.ip();
        if !self.config.trunk_allow.iter().any(|net| net.contains(&ip)) {
            tracing::warn!(remote = %flow.remote, "403 to a request from an address not in sip.trunk.allow");
            self.respond(now, &key, &msg, 403);
            return;
        }
        match msg.method().cloned() {
            Some(m) if m == Method::INVITE => self.trunk_invite(now, key, msg, flow),
            Some(m) if m == Method::OPTIONS => self.respond_options(now, &key, &msg, Side::Trunk),
            Some(m) if m == Method::BYE || m == Method::UPDATE || m == Method::INFO => {
                self.respond(now, &key, &msg, 481)
            }
            _ => self.respond_not_allowed(now, &key, &msg, Side::Trunk),
        }
    }

    pub(super) fn respond_options(&mut self, now: Instant, key: &TxKey, req: &Message, side: Side) {
        let mut resp = self.decorate(Message::response_to(req, 200, Some(&random_token())));
        resp.headers.insert(Name::ALLOW, allow(side));
        resp.headers.insert(Name::ACCEPT, "application/sdp");
        self.tx.send_response(now, key, resp);
    }

    pub(super) fn respond_not_allowed(
        &mut self,
        now: Instant,
        key: &TxKey,
        req: &Message,
        side: Side,
    ) {
        let mut resp = self.decorate(Message::response_to(req, 405, Some(&random_token())));
        resp.headers.insert(Name::ALLOW, allow(side));
        self.tx.send_response(now, key, resp);
    }

    fn trunk_invite(&mut self, now: Instant, key: TxKey, msg: Message, flow: Flow) {
        if msg
            .raw(&Name::MAX_FORWARDS)
            .is_some_and(|v| v.trim() == "0")
        {
            self.respond(now, &key, &msg, 483);
            return;
        }
        if self.refused_while_draining(now, &key, &msg) {
            return;
        }
        let caller = msg
            .raw(&Name::custom(
                "P-Asserted-Identity",
                &["p-asserted-identity"],
            ))
            .and_then(|p| p.parse::<ezk_sip_types::uri::NameAddr>().ok())
            .and_then(|n| uri_user(&n.uri))
            .or_else(|| msg.from().and_then(|f| uri_user(&f.uri.uri)))
            .unwrap_or_else(|| "anonymous".into());
        self.offer_call(now, key, msg, flow, caller, Direction::Inbound);
    }

    /// A new call to the line the Request-URI names, from `caller`: a citizen's from the
    /// trunk, or a seat's consultation call (`attended.rs`). It is
    /// recorded, checked against capacity and media, and queued.
    pub(super) fn offer_call(
        &mut self,
        now: Instant,
        key: TxKey,
        msg: Message,
        flow: Flow,
        caller: String,
        direction: Direction,
    ) {
        let dialled = msg.request_uri().and_then(uri_user).unwrap_or_default();
        let id = uuid::Uuid::now_v7().to_string();
        let (line, known) = match self.config.lines.get(&dialled) {
            Some(line) => (line.clone(), true),
            None => (
                super::Line {
                    number: dialled.clone(),
                    queue: String::new(),
                    class: Default::default(),
                    tag: None,
                },
                false,
            ),
        };
        let local_tag = random_token();
        let dialog = Dialog::from_invite(&msg, flow, &local_tag, &caller);
        let span = tracing::info_span!("call", id = %id);
        let _g = span.enter();
        let call = Call {
            id: id.clone(),
            queue: line.queue.clone(),
            line,
            caller,
            offered: now,
            answered: None,
            ended: None,
            inbound: Inbound {
                dialog,
                invite_tx: key.clone(),
                invite: msg,
                ringing_sent: false,
                answered: false,
            },
            legs: Default::default(),
            retired: Vec::new(),
            deferred_ack: None,
            client_keys: Vec::new(),
            seat: None,
            media: None,
            outcome: None,
            hangup_by: None,
            reason: None,
            talk_ended: None,
            survey: None,
            rejecting: None,
            parent: None,
            direction,
        };
        tracing::info!(line = %call.line.number, caller = %call.caller, queue = %call.queue, "call offered");
        let sip_call_id = call.inbound.dialog.call_id.clone();
        self.calls.insert(id.clone(), call);
        self.by_invite.insert(key, id.clone());
        self.by_dialog
            .insert((sip_call_id, local_tag), (id.clone(), LegRef::Citizen));
        if !known {
            tracing::info!(dialled = %dialled, "404: no line for the dialled number");
            self.reject_call(now, &id, 404, "unknown number");
            return;
        }
        let over = self.over_capacity(self.calls[&id].line.class, &id);
        if let Err((code, why)) = self.open_media(now, &id) {
            tracing::info!(code, why, "call refused: media");
            self.reject_call(now, &id, code, why);
            return;
        }
        self.record_call(&id);
        if let Some(why) = over {
            tracing::warn!(call = %id, why, "call refused: capacity");
            if !self.reject_after_prompt(now, &id, 486, &why) {
                self.reject_call(now, &id, 486, &why);
            }
            return;
        }
        let queue = self.calls[&id].queue.clone();
        match self.acd.call_arrived(now, &id, &queue) {
            Ok(()) => self.queued.push(id),
            Err(e) => {
                tracing::error!(error = %e, "ACD refused the call");
                self.reject_call(now, &id, 500, "queue unavailable");
            }
        }
    }

    /// Sends a response on the inbound leg's INVITE transaction, with our
    /// To tag and Contact.
    pub(super) fn answer_inbound(
        &mut self,
        now: Instant,
        id: &str,
        code: u16,
        reason: Option<&str>,
        body: Option<(String, Bytes)>,
    ) {
        let Some(call) = self.calls.get(id) else {
            return;
        };
        let inbound = &call.inbound;
        let mut resp = Message::response_to(&inbound.invite, code, Some(&inbound.dialog.local_tag));
        if let Some(reason) = reason {
            resp = resp.with_reason(reason);
        }
        if (101..300).contains(&code) {
            let local = self
                .config
                .local_addr(inbound.dialog.flow.side, inbound.dialog.flow.proto);
            let transport = inbound.dialog.flow.proto.via_name().to_ascii_lowercase();
            resp.headers.insert(
                Name::CONTACT,
                format!("<sip:{}@{local};transport={transport}>", call.line.number),
            );
        }
        if let Some((ctype, body)) = body {
            resp = resp.with_body(&ctype, body);
        }
        let key = inbound.invite_tx.clone();
        let resp = self.decorate(resp);
        self.tx.send_response(now, &key, resp);
    }

    /// Refuses a call that has not been answered and closes its record.
    pub(super) fn reject_call(&mut self, now: Instant, id: &str, code: u16, reason: &str) {
        if self.calls.get(id).is_some_and(|c| c.inbound.answered) {
            // A transferred call the target queue refused: the caller was
            // answered before, so hotline hangs up.
            tracing::info!(call = %id, reason, "transferred call refused by its new queue");
            self.bye_inbound(now, id);
            self.end_call(
                now,
                id,
                Outcome::Answered,
                Some(HangupBy::System),
                Some(format!("transfer refused: {reason}")),
            );
            return;
        }
        self.answer_inbound(now, id, code, Some(reason), None);
        self.end_call(now, id, Outcome::Rejected, None, Some(reason.to_string()));
    }

    /// The caller CANCELled: 487 to the INVITE, the call is abandoned.
    pub(super) fn handle_cancel(&mut self, now: Instant, invite: TxKey) {
        let Some(id) = self.by_invite.get(&invite).cloned() else {
            return;
        };
        if self.callbacks.contains_key(&id) {
            self.callback_cancelled(now, &id);
            return;
        }
        self.abandon(now, &id);
    }

    /// The caller left before any seat answered (CANCEL, or BYE in the
    /// early dialog): 487 to the INVITE, the call is abandoned.
    pub(super) fn abandon(&mut self, now: Instant, id: &str) {
        if self
            .calls
            .get(id)
            .is_none_or(|c| c.ended.is_some() || c.seat.is_some())
        {
            return;
        }
        if self.calls.get(id).is_some_and(|c| c.inbound.answered) {
            tracing::info!(call = %id, "caller left during a transfer");
            self.end_call(
                now,
                id,
                Outcome::Answered,
                Some(HangupBy::Caller),
                Some("hung up during transfer".into()),
            );
            self.acd.call_abandoned(now, id);
            return;
        }
        tracing::info!(call = %id, "caller left while waiting");
        self.answer_inbound(now, id, 487, None, None);
        if let Some((_, reason)) = self.calls.get(id).and_then(|c| c.rejecting.clone()) {
            // Refused already, hearing why: the refusal stands.
            self.end_call(
                now,
                id,
                Outcome::Rejected,
                Some(HangupBy::Caller),
                Some(reason),
            );
            return;
        }
        self.end_call(now, id, Outcome::Abandoned, Some(HangupBy::Caller), None);
        self.acd.call_abandoned(now, id);
    }

    /// Closes a call's record. Seat legs still ringing are stopped by the
    /// ACD's StopRing outputs; the call is forgotten once no leg is left.
    pub(super) fn end_call(
        &mut self,
        now: Instant,
        id: &str,
        outcome: Outcome,
        by: Option<HangupBy>,
        reason: Option<String>,
    ) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        if call.ended.is_some() {
            return;
        }
        call.ended = Some(now);
        call.outcome = Some(outcome);
        call.hangup_by = by;
        call.reason = reason;
        tracing::info!(call = %id, outcome = %outcome, "call ended");
        let record = call.record(&self.timebase);
        self.records.push_back(Record::Call(record));
        self.close_media(id);
        self.forget_if_done(id);
    }

    /// Drops an ended call once no seat leg needs it any more.
    pub(super) fn forget_if_done(&mut self, id: &str) {
        let Some(call) = self.calls.get(id) else {
            return;
        };
        if call.ended.is_none() || !call.legs.is_empty() || !call.retired.is_empty() {
            return;
        }
        let Some(call) = self.calls.remove(id) else {
            return;
        };
        self.by_invite.remove(&call.inbound.invite_tx);
        self.by_dialog.remove(&(
            call.inbound.dialog.call_id.clone(),
            call.inbound.dialog.local_tag.clone(),
        ));
        for leg in call.legs.values() {
            self.by_dialog
                .remove(&(leg.dialog.call_id.clone(), leg.dialog.local_tag.clone()));
        }
        for key in &call.client_keys {
            self.by_client.remove(key);
        }
    }
}
