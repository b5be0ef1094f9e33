//! ACKs that must wait for the other leg: late offer (RFC 3264 §5 with
//! RFC 3261 §13.2.1). When an INVITE carried no SDP, the 2xx brings the
//! offer and the ACK must bring the answer. hotline relays SDP unchanged,
//! so the answer for one leg is in the other leg's ACK: the ACK to the
//! answering leg is held back (its 2xx retransmissions are not ACKed
//! meanwhile) until the originator's ACK arrives, then sent with that
//! ACK's body. An ACK still held when hotline hangs the leg up is sent
//! empty just before the BYE.
//!
//! ```text
//!  trunk INVITE (no SDP) --> INVITE to seat (no SDP)
//!                            <-- 200 (offer)          ACK held
//!  <-- 200 (offer)
//!  ACK (answer) ------------> ACK (answer)            released
//! ```

use super::Engine;
use super::call::LegRef;
use crate::sip::{Message, Side};
use bytes::Bytes;
use ezk_sip_types::{Method, Name};

/// The ACK for the 2xx with CSeq `cseq` on `leg`, held back for the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredAck {
    pub leg: LegRef,
    pub cseq: u32,
}

impl Engine {
    /// ACKs a 2xx on `leg` now, or holds the ACK back when the 2xx
    /// carries an offer whose answer the other leg's ACK will bring.
    pub(super) fn ack_leg(&mut self, id: &str, leg: &LegRef, cseq: u32, late_offer: bool) {
        if !late_offer {
            self.send_leg_ack(id, leg, cseq, None);
            return;
        }
        if let Some(older) = self.calls.get_mut(id).and_then(|c| c.deferred_ack.take()) {
            self.send_leg_ack(id, &older.leg, older.cseq, None);
        }
        if let Some(call) = self.calls.get_mut(id) {
            call.deferred_ack = Some(DeferredAck {
                leg: leg.clone(),
                cseq,
            });
        }
    }

    /// ACKs a retransmitted 2xx again, unless its ACK is being held back.
    pub(super) fn ack_leg_again(&mut self, id: &str, leg: &LegRef, cseq: u32) {
        let held = DeferredAck {
            leg: leg.clone(),
            cseq,
        };
        if self
            .calls
            .get(id)
            .is_some_and(|c| c.deferred_ack.as_ref() == Some(&held))
        {
            return;
        }
        self.send_leg_ack(id, leg, cseq, None);
    }

    /// An ACK arrived on `from`: it releases an ACK held on the other leg,
    /// carrying its body (the answer).
    pub(super) fn release_deferred_ack(&mut self, id: &str, from: &LegRef, ack: &Message) {
        let held = self.calls.get(id).and_then(|c| c.deferred_ack.clone());
        let Some(held) = held.filter(|h| h.leg != *from) else {
            return;
        };
        if let Some(call) = self.calls.get_mut(id) {
            call.deferred_ack = None;
        }
        let body = (!ack.body.is_empty()).then(|| {
            let ctype = ack
                .raw(&Name::CONTENT_TYPE)
                .map(|c| c.to_string())
                .unwrap_or_else(|| "application/sdp".into());
            (ctype, ack.body.clone())
        });
        self.send_leg_ack(id, &held.leg, held.cseq, body);
    }

    /// Sends, empty, an ACK still held on `leg` (before hanging it up).
    pub(super) fn flush_deferred_ack(&mut self, id: &str, leg: &LegRef) {
        let held = self.calls.get(id).and_then(|c| c.deferred_ack.clone());
        if let Some(held) = held.filter(|h| h.leg == *leg) {
            if let Some(call) = self.calls.get_mut(id) {
                call.deferred_ack = None;
            }
            self.send_leg_ack(id, leg, held.cseq, None);
        }
    }

    /// An ACK for the 2xx with CSeq `cseq` in `leg`'s dialog (its own
    /// transaction, sent statelessly).
    fn send_leg_ack(&mut self, id: &str, leg: &LegRef, cseq: u32, body: Option<(String, Bytes)>) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let (dialog, side) = match leg {
            LegRef::Citizen => (&mut call.inbound.dialog, Side::Trunk),
            LegRef::Seat(seat) => match call.legs.get_mut(seat) {
                Some(l) => (&mut l.dialog, Side::Phones),
                None => return,
            },
        };
        let local = self.config.local_addr(side, dialog.flow.proto);
        let flow = dialog.flow;
        let Some(mut ack) = dialog.request(Method::ACK, local, Some(cseq)) else {
            return;
        };
        if let Some((ctype, body)) = body {
            ack = ack.with_body(&ctype, body);
        }
        self.tx.send_stateless(&ack, flow);
    }
}
