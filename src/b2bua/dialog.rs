//! Requests inside established dialogs, both directions: BYE ends both
//! legs; a seat's REFER transfers the call (`transfer.rs`); re-INVITE
//! (hold/resume), UPDATE and INFO are relayed to the other leg and its
//! answer relayed back; ACKs and client-transaction
//! responses are routed to the leg they belong to.

use super::call::LegRef;
use super::{Engine, Purpose};
use crate::model::HangupBy;
use crate::sip::transaction::TxKey;
use crate::sip::{Flow, Message, Side};
use ezk_sip_types::{Method, Name};
use std::time::Instant;

impl Engine {
    fn find_dialog(&self, msg: &Message) -> Option<(String, LegRef)> {
        let call_id = msg.call_id()?.to_string();
        let tag = msg.to()?.tag?.to_string();
        self.by_dialog.get(&(call_id, tag)).cloned()
    }

    pub(super) fn handle_in_dialog(&mut self, now: Instant, key: TxKey, msg: Message, flow: Flow) {
        let method = msg.method().cloned().unwrap_or(Method::OPTIONS);
        if method == Method::SUBSCRIBE {
            // A busy-lamp field's refresh or unsubscribe (`blf.rs`).
            self.blf_in_dialog(now, key, msg, flow);
            return;
        }
        let dialog_key = msg
            .call_id()
            .zip(msg.to().and_then(|t| t.tag))
            .map(|(c, t)| (c.to_string(), t.to_string()));
        if method == Method::BYE
            && let Some(dk) = dialog_key
            && self.feature_dialogs.remove(&dk).is_some()
        {
            self.respond(now, &key, &msg, 200);
            return;
        }
        let Some((id, leg)) = self.find_dialog(&msg) else {
            self.respond(now, &key, &msg, 481);
            return;
        };
        if self.callbacks.contains_key(&id) {
            self.callback_in_dialog(now, key, msg, &id, leg);
            return;
        }
        if method == Method::BYE {
            self.respond(now, &key, &msg, 200);
            let connected_seat = self.calls.get(&id).and_then(|c| c.seat.clone());
            match leg {
                // RFC 3261 §15: a caller may end an early dialog with BYE.
                LegRef::Citizen if connected_seat.is_none() => self.abandon(now, &id),
                LegRef::Citizen => self.hang_up_answered(now, &id, HangupBy::Caller),
                LegRef::Seat(seat) if Some(&seat) == connected_seat.as_ref() => {
                    self.hang_up_answered(now, &id, HangupBy::Agent)
                }
                LegRef::Seat(seat) => {
                    // A seat that answered too late hangs up: just forget it.
                    if let Some(call) = self.calls.get_mut(&id) {
                        call.legs.remove(&seat);
                    }
                    self.forget_if_done(&id);
                }
            }
            return;
        }
        let _ = flow;
        if method == Method::REFER
            && let LegRef::Seat(seat) = &leg
            && self
                .calls
                .get(&id)
                .is_some_and(|c| c.seat.as_ref() == Some(seat) && c.ended.is_none())
        {
            let seat = seat.clone();
            self.handle_refer(now, key, msg, &id, &seat);
            return;
        }
        self.relay(now, key, msg, &id, leg);
    }

    /// Relays an in-dialog request to the other leg of a connected call.
    fn relay(&mut self, now: Instant, server: TxKey, msg: Message, id: &str, from: LegRef) {
        if msg.method() == Some(&Method::INVITE)
            && self
                .calls
                .get(id)
                .is_some_and(|c| c.media.is_some() && c.ended.is_none())
        {
            // hotline anchors the media: it answers re-INVITEs itself.
            let Some(body) = self.media_reinvite(id, &from, &msg) else {
                self.respond(now, &server, &msg, 488);
                return;
            };
            // The citizen's leg is on the trunk side, but for a seat's
            // consultation call (`attended.rs`).
            let citizen_side = self
                .calls
                .get(id)
                .map_or(Side::Trunk, |c| c.inbound.dialog.flow.side);
            let side = if from == LegRef::Citizen {
                citizen_side
            } else {
                Side::Phones
            };
            let proto = server_flow_proto(&msg);
            let local = self.config.local_addr(side, proto);
            let transport = proto.via_name().to_ascii_lowercase();
            let mut resp = Message::response_to(&msg, 200, None).with_body(&body.0, body.1);
            resp.headers.insert(
                Name::CONTACT,
                format!("<sip:hotline@{local};transport={transport}>"),
            );
            let resp = self.decorate(resp);
            self.tx.send_response(now, &server, resp);
            return;
        }
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let Some(seat) = call.seat.clone().filter(|_| call.ended.is_none()) else {
            self.respond(now, &server, &msg, 481);
            return;
        };
        let Some(method) = msg.method().cloned() else {
            return;
        };
        let (other, dialog, side) = match &from {
            LegRef::Citizen => match call.legs.get_mut(&seat) {
                Some(leg) => (LegRef::Seat(seat.clone()), &mut leg.dialog, Side::Phones),
                None => return,
            },
            LegRef::Seat(_) => {
                let side = call.inbound.dialog.flow.side;
                (LegRef::Citizen, &mut call.inbound.dialog, side)
            }
        };
        let local = self.config.local_addr(side, dialog.flow.proto);
        let flow = dialog.flow;
        let Some(mut out) = dialog.request(method.clone(), local, None) else {
            return;
        };
        if method == Method::INVITE || method == Method::UPDATE {
            let transport = flow.proto.via_name().to_ascii_lowercase();
            out.headers.insert(
                Name::CONTACT,
                format!("<sip:hotline@{local};transport={transport}>"),
            );
        }
        if !msg.body.is_empty() {
            let ctype = msg
                .raw(&Name::CONTENT_TYPE)
                .map(|c| c.to_string())
                .unwrap_or_else(|| "application/sdp".into());
            out = out.with_body(&ctype, msg.body.clone());
        }
        let out = self.decorate(out);
        if let Some(key) = self.tx.send_request(now, &out, flow) {
            tracing::debug!(call = %id, %method, "relaying in-dialog request");
            self.by_client.insert(
                key.clone(),
                (
                    id.to_string(),
                    other,
                    Purpose::Relay {
                        server,
                        other: from,
                    },
                ),
            );
            if let Some(call) = self.calls.get_mut(id) {
                call.client_keys.push(key);
            }
        }
    }

    pub(super) fn handle_ack(&mut self, now: Instant, msg: Message, _flow: Flow) {
        let dialog_key = msg
            .call_id()
            .zip(msg.to().and_then(|t| t.tag))
            .map(|(c, t)| (c.to_string(), t.to_string()));
        if let Some(dk) = dialog_key
            && let Some((invite, flow)) = self.feature_dialogs.get(&dk).cloned()
        {
            // A feature code was answered; hang up now that it is confirmed.
            self.bye_feature_dialog(now, &invite, flow);
        }
        // An ACK of our 2xx on a call leg: the transaction layer stopped the
        // retransmissions; it may bring the answer the other leg awaits.
        if let Some((id, leg)) = self.find_dialog(&msg) {
            if leg == LegRef::Citizen {
                self.media_late_answer(&id, &msg);
            }
            self.release_deferred_ack(&id, &leg, &msg);
        }
    }

    pub(super) fn handle_response(&mut self, now: Instant, key: TxKey, msg: Message) {
        if self.blf_response(&key, &msg) {
            return;
        }
        let Some((id, leg, purpose)) = self.by_client.get(&key).cloned() else {
            return;
        };
        let code = msg.code().unwrap_or(500);
        match purpose {
            Purpose::SeatInvite => {
                if let LegRef::Seat(seat) = leg {
                    if self.is_current_leg(&id, &seat, &key) {
                        self.seat_invite_response(now, &id, &seat, msg);
                    } else {
                        self.retired_invite_response(now, &id, &seat, &key, msg);
                    }
                }
            }
            Purpose::Fire => {}
            Purpose::Callback => self.callback_invite_response(now, &id, &leg, &key, msg),
            Purpose::Reoffer => self.reoffer_response(now, &id, &leg, msg),
            Purpose::Relay { server, other } => {
                if (200..300).contains(&code) && key.method == "INVITE" {
                    // ACK the re-INVITE's 2xx on this leg; the originator ACKs
                    // ours (and brings the answer when the 2xx offered).
                    let cseq = msg.cseq().map(|c| c.cseq).unwrap_or(1);
                    match self.tx.pending_request(&server) {
                        Some(orig) => {
                            let late_offer = orig.body.is_empty() && !msg.body.is_empty();
                            self.ack_leg(&id, &leg, cseq, late_offer);
                        }
                        None => self.ack_leg_again(&id, &leg, cseq),
                    }
                }
                if code == 100 {
                    return;
                }
                let _ = other;
                let Some(orig) = self.tx.pending_request(&server) else {
                    return;
                };
                let mut resp = Message::response_to(&orig, code, None);
                if let Some(reason) = msg.reason() {
                    resp = resp.with_reason(&reason);
                }
                if (101..300).contains(&code) && key.method == "INVITE" {
                    let citizen_side = self
                        .calls
                        .get(&id)
                        .map_or(Side::Trunk, |c| c.inbound.dialog.flow.side);
                    let side = if leg == LegRef::Citizen {
                        Side::Phones
                    } else {
                        citizen_side
                    };
                    let proto = server_flow_proto(&orig);
                    let local = self.config.local_addr(side, proto);
                    let transport = proto.via_name().to_ascii_lowercase();
                    resp.headers.insert(
                        Name::CONTACT,
                        format!("<sip:hotline@{local};transport={transport}>"),
                    );
                }
                if !msg.body.is_empty() {
                    let ctype = msg
                        .raw(&Name::CONTENT_TYPE)
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "application/sdp".into());
                    resp = resp.with_body(&ctype, msg.body.clone());
                }
                let resp = self.decorate(resp);
                self.tx.send_response(now, &server, resp);
            }
        }
        if code >= 300 {
            self.client_key_done(&key);
        }
    }

    pub(super) fn handle_tx_timeout(&mut self, now: Instant, key: TxKey) {
        if key.server {
            // Our 2xx to the trunk was never ACKed: the call cannot go on.
            if let Some(id) = self.by_invite.get(&key).cloned()
                && self.callbacks.contains_key(&id)
            {
                tracing::warn!(call = %id, "no ACK for our 200 from the seat phone; ending the callback");
                self.callback_unacked(now, &id);
                return;
            }
            if let Some(id) = self.by_invite.get(&key).cloned()
                && self.calls.get(&id).is_some_and(|c| c.seat.is_some())
            {
                tracing::warn!(call = %id, "no ACK for our 200 from the trunk; ending the call");
                self.hang_up_answered(now, &id, HangupBy::System);
            }
            return;
        }
        if self.blf_tx_timeout(&key) {
            return;
        }
        let Some((id, leg, purpose)) = self.by_client.remove(&key) else {
            return;
        };
        match (purpose, leg) {
            (Purpose::SeatInvite, LegRef::Seat(seat)) if self.is_current_leg(&id, &seat, &key) => {
                self.seat_invite_timeout(now, &id, &seat)
            }
            (Purpose::SeatInvite, _) => self.retired_invite_timeout(&id, &key),
            (Purpose::Callback, leg) => self.callback_invite_timeout(now, &id, &leg, &key),
            (Purpose::Reoffer, LegRef::Seat(seat)) => {
                self.reoffer_failed(now, &id, &seat, "no answer")
            }
            (Purpose::Relay { server, .. }, _) => {
                if let Some(orig) = self.tx.pending_request(&server) {
                    let resp = self.decorate(Message::response_to(&orig, 408, None));
                    self.tx.send_response(now, &server, resp);
                }
            }
            _ => {}
        }
    }
}

fn server_flow_proto(req: &Message) -> crate::sip::Proto {
    match req.top_via().map(|v| v.transport.to_ascii_uppercase()) {
        Some(t) if t == "TCP" => crate::sip::Proto::Tcp,
        _ => crate::sip::Proto::Udp,
    }
}
