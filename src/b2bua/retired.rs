//! Seat legs a newer ring of the same seat for the same call replaced.
//!
//! A seat that let a call ring out is CANCELled; when its 487 is late (or
//! never comes) the ACD may ring that seat again for the same call before
//! the first INVITE is over. The new leg takes the seat's place in
//! `Call::legs`; the old one moves to `Call::retired` so that its late
//! answers and its transaction timeout are applied to it alone: it is
//! CANCELled if it only now rings, ACKed and hung up if it answers, and
//! forgotten on its final answer or when hotline gives up on it.

use super::Engine;
use super::call::{SeatLeg, SeatLegState};
use crate::sip::transaction::TxKey;
use crate::sip::{Message, Side};
use ezk_sip_types::Method;
use std::time::Instant;

impl Engine {
    /// Whether `key` is the INVITE of the seat's current leg in call `id`.
    pub(super) fn is_current_leg(&self, id: &str, seat: &str, key: &TxKey) -> bool {
        self.calls
            .get(id)
            .and_then(|c| c.legs.get(seat))
            .is_some_and(|l| l.invite_tx == *key)
    }

    /// Moves a replaced seat leg aside, stopping it if nothing had yet.
    pub(super) fn retire_leg(&mut self, now: Instant, id: &str, seat: &str, mut leg: SeatLeg) {
        self.by_dialog
            .remove(&(leg.dialog.call_id.clone(), leg.dialog.local_tag.clone()));
        let cancel = match leg.state {
            SeatLegState::Calling => {
                leg.state = SeatLegState::CancelPending;
                None
            }
            SeatLegState::Early => {
                leg.state = SeatLegState::Cancelling;
                leg.cancel_request()
                    .map(|c| (c, leg.dialog.flow, leg.invite_tx.clone()))
            }
            _ => None,
        };
        if let Some(call) = self.calls.get_mut(id) {
            call.retired.push(leg);
        }
        if let Some((cancel, flow, invite_tx)) = cancel {
            self.fire_cancel(now, id, seat, cancel, flow, &invite_tx);
        }
    }

    /// A response to a retired leg's INVITE.
    pub(super) fn retired_invite_response(
        &mut self,
        now: Instant,
        id: &str,
        seat: &str,
        key: &TxKey,
        msg: Message,
    ) {
        let code = msg.code().unwrap_or(500);
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let Some(pos) = call.retired.iter().position(|l| l.invite_tx == *key) else {
            return;
        };
        call.retired[pos].learn_dialog(&msg);
        match code {
            100 => {}
            101..=199 => {
                let leg = &mut call.retired[pos];
                if leg.state == SeatLegState::CancelPending {
                    leg.state = SeatLegState::Cancelling;
                    if let Some(cancel) = leg.cancel_request() {
                        let (flow, invite_tx) = (leg.dialog.flow, leg.invite_tx.clone());
                        self.fire_cancel(now, id, seat, cancel, flow, &invite_tx);
                    }
                }
            }
            200..=299 => {
                // Answered after hotline gave up on it: ACK, then hang up.
                let mut leg = call.retired.remove(pos);
                let local = self.config.local_addr(Side::Phones, leg.dialog.flow.proto);
                if let Some(ack) = leg.dialog.request(Method::ACK, local, Some(1)) {
                    self.tx.send_stateless(&ack, leg.dialog.flow);
                }
                self.bye_leg(now, id, seat, &mut leg);
                self.forget_if_done(id);
            }
            _ => {
                call.retired.remove(pos);
                self.forget_if_done(id);
            }
        }
    }

    /// No final answer to a retired leg's INVITE in time: forget it.
    pub(super) fn retired_invite_timeout(&mut self, id: &str, key: &TxKey) {
        if let Some(call) = self.calls.get_mut(id) {
            call.retired.retain(|l| l.invite_tx != *key);
        }
        self.forget_if_done(id);
    }
}
