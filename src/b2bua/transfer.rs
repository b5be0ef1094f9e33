//! Blind transfer, from the seat phone (RFC 3515 REFER) or the API: the
//! agent sends the caller to another seat or to a line's queue.
//!
//! ```text
//!  seat A --REFER Refer-To: sip:8002@hotline--> hotline --202--> seat A
//!                                                 --NOTIFY (sipfrag 200)--> seat A
//!                                                 --BYE--> seat A (wrap-up)
//!  caller: music --> seat B rings --> answers --> bridged
//! ```
//!
//! The target is the Refer-To URI's user part (or the API's `to`): a seat
//! extension (it must be ready now, else 480; if it does not answer, the
//! call goes back to its queue at the head of the line), or a line number
//! (the call enters that line's queue as a transfer). hotline takes the
//! transfer on itself at once: the NOTIFY says 200 and the transferring
//! seat is released; the caller never hears silence, only music until the
//! next seat answers.
//!
//! **Within a side** the call keeps its id, its record and its recording.
//! **Across sides** (a 12345 agent hears a caller in danger and transfers
//! to 110; a 110 agent passes a non-emergency matter to 12345) the
//! receiving side's rules apply from the transfer on: the record so far
//! ends there (`hangup_by = transfer`), its recording is finished under
//! the first side's root, and the call goes on under a new id whose record
//! (`parent_id`: the first) has the receiving line's number, queue and
//! class, its own recording under that class's root, and its own ticket
//! sink. Such a transfer names the other side's line, not one of its
//! seats (403): the receiving side's queue decides who answers.
//!
//! Attended transfer (Refer-To with Replaces) is `attended.rs`'s. A call
//! whose media hotline does not anchor cannot be transferred (without
//! `[media]` the caller's SDP could not follow the new seat; 488).

use super::call::LegRef;
use super::{Engine, Line, Purpose};
use crate::acd::{AcdError, Transfer};
use crate::media::driver::MediaCmd;
use crate::media::session::Leg;
use crate::model::HangupBy;
use crate::sip::transaction::TxKey;
use crate::sip::{Message, Side};
use bytes::Bytes;
use ezk_sip_types::{Method, Name};
use std::time::Instant;

/// A transfer hotline accepted: where the call goes, and the line whose
/// side it crosses to, if it does.
struct Accepted {
    to: Transfer,
    crossing: Option<Line>,
    /// The id the call goes on under: a new one across sides.
    as_call: String,
}

type Refusal = (u16, String);

fn refused(code: u16, why: &str) -> Refusal {
    (code, why.to_string())
}

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
        if let Some(replaces) = msg
            .raw(&Name::REFER_TO)
            .and_then(|r| super::attended::refer_replaces(r))
        {
            self.handle_attended_refer(now, key, msg, id, seat, replaces);
            return;
        }
        let outcome = (|| {
            let raw = msg
                .raw(&Name::REFER_TO)
                .ok_or_else(|| refused(400, "no Refer-To"))?
                .to_string();
            if raw.to_ascii_lowercase().contains("replaces") {
                return Err(refused(
                    400,
                    "Replaces without call-id, to-tag and from-tag",
                ));
            }
            let target =
                refer_target(&raw).ok_or_else(|| refused(400, "Refer-To names no user"))?;
            self.accept_transfer(now, id, seat, &target)
        })();
        let accepted = match outcome {
            Ok(a) => a,
            Err((code, why)) => {
                tracing::info!(call = %id, seat, code, why, "transfer refused");
                let resp = Message::response_to(&msg, code, None).with_reason(&why);
                let resp = self.decorate(resp);
                self.tx.send_response(now, &key, resp);
                return;
            }
        };
        self.respond(now, &key, &msg, 202);
        self.notify_transfer_done(now, id, seat);
        self.complete_transfer(now, id, seat, accepted, seat);
    }

    /// A transfer asked through the API: the call's agent is released
    /// (BYE) as if they had sent the REFER. `target` is a seat, a line, or
    /// (attended) the id of a consultation call the agent placed from the
    /// desk phone (`attended.rs`). Returns the id the call goes on
    /// under (a new one across sides).
    pub(super) fn transfer_command(
        &mut self,
        now: Instant,
        id: &str,
        target: &str,
        by: &str,
    ) -> Result<String, super::Refused> {
        let seat = self
            .calls
            .get(id)
            .filter(|c| c.ended.is_none())
            .ok_or_else(|| super::Refused::UnknownCall(id.into()))?
            .seat
            .clone()
            .ok_or_else(|| {
                super::Refused::Unavailable(format!("call {id} is not connected to a seat"))
            })?;
        let refused = |(code, why): (u16, String)| {
            tracing::info!(call = %id, seat, code, why, by, "transfer refused");
            super::Refused::Transfer { code, why }
        };
        if self
            .calls
            .get(target)
            .is_some_and(|c| c.direction == crate::model::Direction::Internal)
        {
            // A consultation call the agent placed: attended transfer.
            return self
                .attended_command(now, id, &seat, target, by)
                .map_err(refused);
        }
        let accepted = self
            .accept_transfer(now, id, &seat, target)
            .map_err(refused)?;
        Ok(self.complete_transfer(now, id, &seat, accepted, by))
    }

    /// Checks a transfer of call `id` by its agent `seat` to `target` and
    /// hands the call to the ACD.
    fn accept_transfer(
        &mut self,
        now: Instant,
        id: &str,
        seat: &str,
        target: &str,
    ) -> Result<Accepted, Refusal> {
        let call = self
            .calls
            .get(id)
            .ok_or_else(|| refused(481, "no such call"))?;
        if call.media.is_none() {
            return Err(refused(488, "transfer needs hotline's media ([media])"));
        }
        let class = call.line.class;
        let accepted = if let Some(target_seat) = self.config.seats.get(target) {
            if target == seat {
                return Err(refused(400, "transfer to the same seat"));
            }
            if target_seat.class != class {
                return Err(refused(
                    403,
                    "a transfer to the other side names its line (110, 12345), not a seat",
                ));
            }
            Accepted {
                to: Transfer::Seat(target.to_string()),
                crossing: None,
                as_call: id.to_string(),
            }
        } else if let Some(line) = self.config.lines.get(target) {
            let crossing = (line.class != class).then(|| line.clone());
            let as_call = if crossing.is_some() {
                uuid::Uuid::now_v7().to_string()
            } else {
                id.to_string()
            };
            Accepted {
                to: Transfer::Queue(line.queue.clone()),
                crossing,
                as_call,
            }
        } else {
            return Err(refused(404, "no such seat or line"));
        };
        match self
            .acd
            .transfer_as(now, id, accepted.to.clone(), &accepted.as_call)
        {
            Ok(()) => {}
            Err(AcdError::SeatUnavailable(_)) => return Err(refused(480, "the seat is not ready")),
            Err(e) => return Err(refused(500, &e.to_string())),
        }
        Ok(accepted)
    }

    /// Releases the transferring seat and puts the caller on music until
    /// the ACD connects the next one; across sides, the call goes on as a
    /// new record. Returns the id the call goes on under.
    fn complete_transfer(
        &mut self,
        now: Instant,
        id: &str,
        seat: &str,
        accepted: Accepted,
        by: &str,
    ) -> String {
        tracing::info!(call = %id, from = seat, to = ?accepted.to, by, "blind transfer");
        // The seat is done: BYE (the ACD already has it in wrap-up).
        self.hang_up_leg(now, id, seat);
        let id = match accepted.crossing {
            Some(line) => {
                self.split_call(now, id, &accepted.as_call, line, seat);
                accepted.as_call.as_str()
            }
            None => id,
        };
        let settings = self.config.media.clone();
        let Some(call) = self.calls.get_mut(id) else {
            return id.to_string();
        };
        call.seat = None;
        if let Transfer::Queue(queue) = &accepted.to {
            call.queue = queue.clone();
        }
        let queue_media = settings.as_ref().and_then(|m| m.queues.get(&call.queue));
        let music = queue_media.map(|q| q.music.clone());
        let record_wait = queue_media.is_some_and(|q| q.record_wait);
        self.media_cmd(id, MediaCmd::RemoveLeg(Leg::Agent));
        self.media_cmd(
            id,
            MediaCmd::Play {
                clips: Vec::new(),
                then_loop: music,
            },
        );
        if record_wait {
            self.start_recording(now, id);
        }
        self.record_call(id);
        id.to_string()
    }

    /// Ends call `id`'s record at a transfer across sides to `line`, and
    /// goes on with the call as `new_id`, a record of `line`'s side whose
    /// parent is the first (see the module doc).
    pub(super) fn split_call(
        &mut self,
        now: Instant,
        id: &str,
        new_id: &str,
        line: Line,
        seat: &str,
    ) {
        self.cancel_prompt_timers(id);
        let Some(mut call) = self.calls.remove(id) else {
            return;
        };
        let mut parent = call.record(&self.timebase);
        parent.ended_at_ms = Some(self.timebase.ms(now));
        parent.outcome = Some(crate::model::Outcome::Answered);
        parent.hangup_by = Some(HangupBy::Transfer);
        parent.seat = Some(seat.to_string());
        parent.talk_ms = call.answered.map_or(0, |a| (now - a).as_millis() as i64);
        parent.reason = Some(format!(
            "transferred to line {} as call {new_id}",
            line.number
        ));
        tracing::info!(call = %id, child = %new_id, line = %line.number, class = %line.class, "transfer across sides: the call goes on as a new record");
        self.records.push_back(super::Record::Call(parent));

        call.parent = Some(id.to_string());
        call.id = new_id.to_string();
        call.queue = line.queue.clone();
        call.line = line;
        call.offered = now;
        call.answered = None;
        call.seat = None;
        call.outcome = None;
        call.hangup_by = None;
        call.reason = None;
        call.talk_ended = None;
        call.survey = None;
        call.rejecting = None;
        if let Some(m) = call.media.as_mut() {
            m.recording = false;
        }
        // Everything that names the call by id now names the new one.
        let old = id.to_string();
        let new = new_id.to_string();
        if let Some(v) = self.by_invite.get_mut(&call.inbound.invite_tx) {
            *v = new.clone();
        }
        for (v, _) in self.by_dialog.values_mut().filter(|(v, _)| *v == old) {
            *v = new.clone();
        }
        for (v, _, _) in self.by_client.values_mut().filter(|(v, _, _)| *v == old) {
            *v = new.clone();
        }
        let has_media = call.media.is_some();
        self.calls.insert(new.clone(), call);
        if has_media {
            self.media_cmd(&old, MediaCmd::Rekey(new.as_str().into()));
        }
    }
    /// NOTIFY (RFC 3515 §2.4.5) ending the implicit subscription: the
    /// transfer is hotline's from here, as if the target had answered.
    pub(super) fn notify_transfer_done(&mut self, now: Instant, id: &str, seat: &str) {
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
