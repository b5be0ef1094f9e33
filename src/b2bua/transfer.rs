//! Blind transfer from the seat phone (RFC 3515 REFER): the agent sends
//! the caller to another seat or to a line's queue; the call keeps its id,
//! its record and its recording.
//!
//! ```text
//!  seat A --REFER Refer-To: sip:8002@hotline--> hotline --202--> seat A
//!                                                 --NOTIFY (sipfrag 200)--> seat A
//!                                                 --BYE--> seat A (wrap-up)
//!  caller: music --> seat B rings --> answers --> bridged, same recording
//! ```
//!
//! The target is the Refer-To URI's user part: a seat extension (it must
//! be ready now, else 480; if it does not answer, the call goes back to
//! its queue at the head of the line), or a line number (the call enters
//! that line's queue as a transfer). hotline takes the transfer on itself
//! at once: the NOTIFY says 200 and the transferring seat is released;
//! the caller never hears silence, only music until the next seat
//! answers. Attended transfer (Refer-To with Replaces) is not supported
//! (501), nor is a transfer of a call whose media hotline does not anchor
//! (without `[media]` the caller's SDP could not follow the new seat; 488).

use super::call::LegRef;
use super::{Engine, Purpose};
use crate::acd::{AcdError, Transfer};
use crate::media::driver::MediaCmd;
use crate::media::session::Leg;
use crate::sip::transaction::TxKey;
use crate::sip::{Message, Side};
use bytes::Bytes;
use ezk_sip_types::{Method, Name};
use std::time::Instant;

impl Engine {
    /// A REFER from `seat`, the agent of call `id`.
    pub(super) fn handle_refer(
        &mut self,
        now: Instant,
        key: TxKey,
        msg: Message,
        id: &str,
        seat: &str,
    ) {
        let refused = |code: u16, why: &str| (code, why.to_string());
        let outcome = (|| {
            let raw = msg
                .raw(&Name::REFER_TO)
                .ok_or_else(|| refused(400, "no Refer-To"))?
                .to_string();
            if raw.to_ascii_lowercase().contains("replaces") {
                return Err(refused(501, "attended transfer is not supported"));
            }
            let target =
                refer_target(&raw).ok_or_else(|| refused(400, "Refer-To names no user"))?;
            let call = self
                .calls
                .get(id)
                .ok_or_else(|| refused(481, "no such call"))?;
            if call.media.is_none() {
                return Err(refused(488, "transfer needs hotline's media ([media])"));
            }
            let to = if self.config.seats.contains_key(&target) {
                if target == seat {
                    return Err(refused(400, "transfer to the same seat"));
                }
                Transfer::Seat(target.clone())
            } else if let Some(line) = self.config.lines.get(&target) {
                Transfer::Queue(line.queue.clone())
            } else {
                return Err(refused(404, "no such seat or line"));
            };
            match self.acd.transfer(now, id, to.clone()) {
                Ok(()) => Ok(to),
                Err(AcdError::SeatUnavailable(_)) => Err(refused(480, "the seat is not ready")),
                Err(e) => Err(refused(500, &e.to_string())),
            }
        })();
        let to = match outcome {
            Ok(to) => to,
            Err((code, why)) => {
                tracing::info!(call = %id, seat, code, why, "transfer refused");
                let resp = Message::response_to(&msg, code, None).with_reason(&why);
                let resp = self.decorate(resp);
                self.tx.send_response(now, &key, resp);
                return;
            }
        };
        tracing::info!(call = %id, from = seat, to = ?to, "blind transfer");
        self.respond(now, &key, &msg, 202);
        self.notify_transfer_done(now, id, seat);
        // The seat is done: BYE (the ACD already has it in wrap-up).
        self.hang_up_leg(now, id, seat);
        let settings = self.config.media.clone();
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        call.seat = None;
        if let Transfer::Queue(queue) = &to {
            call.queue = queue.clone();
        }
        let music = settings
            .as_ref()
            .and_then(|m| m.queues.get(&call.queue))
            .map(|q| q.music.clone());
        self.media_cmd(id, MediaCmd::RemoveLeg(Leg::Agent));
        self.media_cmd(
            id,
            MediaCmd::Play {
                clips: Vec::new(),
                then_loop: music,
            },
        );
        self.record_call(id);
    }

    /// NOTIFY (RFC 3515 §2.4.5) ending the implicit subscription: the
    /// transfer is hotline's from here, as if the target had answered.
    fn notify_transfer_done(&mut self, now: Instant, id: &str, seat: &str) {
        let Some(leg) = self.calls.get_mut(id).and_then(|c| c.legs.get_mut(seat)) else {
            return;
        };
        let local = self.config.local_addr(Side::Phones, leg.dialog.flow.proto);
        let flow = leg.dialog.flow;
        let Some(mut notify) = leg.dialog.request(Method::NOTIFY, local, None) else {
            return;
        };
        notify.headers.insert(Name::EVENT, "refer");
        notify
            .headers
            .insert(Name::SUBSCRIPTION_STATE, "terminated;reason=noresource");
        let notify = self.decorate(notify.with_body(
            "message/sipfrag;version=2.0",
            Bytes::from_static(b"SIP/2.0 200 OK\r\n"),
        ));
        if let Some(key) = self.tx.send_request(now, &notify, flow) {
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
}

/// The user part of a Refer-To value: `<sip:8002@host;transport=udp>` or
/// `sip:12345@host` gives `8002`, `12345`.
fn refer_target(raw: &str) -> Option<String> {
    let uri = match (raw.find('<'), raw.find('>')) {
        (Some(a), Some(b)) if a < b => &raw[a + 1..b],
        _ => raw.split(';').next()?,
    };
    let rest = uri
        .trim()
        .strip_prefix("sips:")
        .or_else(|| uri.trim().strip_prefix("sip:"))
        .or_else(|| uri.trim().strip_prefix("tel:"))?;
    let user = rest.split(['@', ';', '?']).next()?.trim();
    (!user.is_empty()).then(|| user.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_target_is_the_user_part_of_the_refer_to_uri() {
        use super::refer_target;
        assert_eq!(
            refer_target("<sip:8002@127.0.0.1:5060;transport=udp>").as_deref(),
            Some("8002")
        );
        assert_eq!(refer_target("sip:12345@hotline").as_deref(), Some("12345"));
        assert_eq!(
            refer_target("\"Queue\" <sip:12329@h>").as_deref(),
            Some("12329")
        );
        assert_eq!(refer_target("<tel:8003>").as_deref(), Some("8003"));
        assert_eq!(
            refer_target("<sip:hotline.example>").as_deref(),
            Some("hotline.example")
        );
        assert_eq!(refer_target("garbage"), None);
    }
}
