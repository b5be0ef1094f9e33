//! Attended transfer from the desk phone: the agent holds the caller,
//! calls the other line from the same phone (a consultation call), talks
//! to the agent who answers, then presses transfer (RFC 5589 §7: REFER in
//! the caller's dialog, its Refer-To carrying `Replaces` (RFC 3891) that
//! names the consultation dialog).
//!
//! ```text
//!  seat A ==== call C1 (caller) ==== hotline            (A holds: music)
//!  seat A --INVITE sip:110@hotline--> C2 --> queue --> seat B answers
//!  seat A --REFER Refer-To: <sip:110@hotline?Replaces=C2;to-tag;from-tag>-->
//!         <--202, NOTIFY 200--  BYE to A on C1 and on C2
//!  seat B --re-INVITE (C1's media)--> caller and B talk
//! ```
//!
//! The consultation is a call of its own (`direction = internal`, `caller`
//! the extension of A, the line's class, recorded), ended at the transfer
//! with `hangup_by = transfer`. Seat B's leg moves into the caller's call;
//! hotline re-offers B its media on the caller's call (same SDP session,
//! next version), and B is connected once it answers. Across sides
//! (C1 on 12345, C2 on 110) the caller's record ends there and the call goes
//! on as a child record of the consultation's line, as for a blind
//! transfer (`transfer.rs`); within a side it keeps its record.

use super::call::{Call, LegRef, SeatLegState};
use super::media_glue::sdp_body;
use super::{Engine, Purpose};
use crate::media::driver::MediaCmd;
use crate::media::sdp::{self, Direction};
use crate::media::session::Leg;
use crate::model::{HangupBy, Outcome};
use crate::sip::transaction::TxKey;
use crate::sip::{Message, Side};
use ezk_sip_types::{Method, Name};
use std::net::SocketAddr;
use std::time::Instant;

/// A `Replaces` value (RFC 3891): the dialog to take over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Replaces {
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
}

impl Engine {
    /// A REFER whose Refer-To carries Replaces, from `seat`, the agent of
    /// call `id`.
    pub(super) fn handle_attended_refer(
        &mut self,
        now: Instant,
        key: TxKey,
        msg: Message,
        id: &str,
        seat: &str,
        replaces: Replaces,
    ) {
        let started = self
            .find_consultation(id, seat, |c| {
                let d = &c.inbound.dialog;
                let tags = (d.local_tag.as_str(), d.remote_tag.as_deref().unwrap_or(""));
                d.call_id == replaces.call_id
                    && (tags == (&replaces.to_tag, &replaces.from_tag)
                        || tags == (&replaces.from_tag, &replaces.to_tag))
            })
            .and_then(|(consult, target)| {
                let as_call = self.start_attended(now, id, &consult)?;
                Ok((consult, target, as_call))
            });
        let (consult, target, as_call) = match started {
            Ok(started) => started,
            Err((code, why)) => {
                tracing::info!(call = %id, seat, code, why, "attended transfer refused");
                let resp = self.decorate(Message::response_to(&msg, code, None).with_reason(&why));
                self.tx.send_response(now, &key, resp);
                return;
            }
        };
        tracing::info!(call = %id, from = seat, to = %target, consultation = %consult, by = "REFER", "attended transfer");
        self.respond(now, &key, &msg, 202);
        self.notify_transfer_done(now, id, seat);
        self.hang_up_leg(now, id, seat);
        self.join_consultation(now, id, &consult, &target, &as_call, seat);
    }

    /// The API's attended transfer: call `id`'s agent placed consultation
    /// `consult` from the desk phone and a desktop asks to join them. The
    /// agent's leg gets BYE (there is no REFER to answer). Returns the id
    /// the call goes on under.
    pub(super) fn attended_command(
        &mut self,
        now: Instant,
        id: &str,
        seat: &str,
        consult: &str,
        by: &str,
    ) -> Result<String, (u16, String)> {
        let (consult, target) = self.find_consultation(id, seat, |c| c.id == consult)?;
        let as_call = self.start_attended(now, id, &consult)?;
        tracing::info!(call = %id, from = seat, to = %target, consultation = %consult, by, "attended transfer");
        self.hang_up_leg(now, id, seat);
        self.join_consultation(now, id, &consult, &target, &as_call, seat);
        Ok(as_call)
    }

    /// Hands the call to the consultation's seat in the ACD; returns the id
    /// the call goes on under (a new one across sides).
    fn start_attended(
        &mut self,
        now: Instant,
        id: &str,
        consult: &str,
    ) -> Result<String, (u16, String)> {
        let crossing = self.calls[consult].line.class != self.calls[id].line.class;
        let as_call = if crossing {
            uuid::Uuid::now_v7().to_string()
        } else {
            id.to_string()
        };
        self.acd
            .attended_transfer(now, id, consult, &as_call)
            .map_err(|e| (500, e.to_string()))?;
        Ok(as_call)
    }

    /// The live consultation `which` picks: placed by `seat` (the agent of
    /// call `id`) to a line and answered by a seat (returned with the
    /// consultation's id).
    fn find_consultation(
        &self,
        id: &str,
        seat: &str,
        which: impl Fn(&Call) -> bool,
    ) -> Result<(String, String), (u16, String)> {
        let refused = |code: u16, why: &str| (code, why.to_string());
        let call = self
            .calls
            .get(id)
            .ok_or_else(|| refused(481, "no such call"))?;
        if call.media.is_none() {
            return Err(refused(488, "transfer needs hotline's media ([media])"));
        }
        let consult = self
            .calls
            .values()
            .find(|c| c.ended.is_none() && which(c))
            .ok_or_else(|| refused(481, "no such consultation call"))?;
        if consult.direction != crate::model::Direction::Internal || consult.caller != seat {
            return Err(refused(
                403,
                "not a consultation call this call's agent placed",
            ));
        }
        let target = consult
            .seat
            .clone()
            .ok_or_else(|| refused(480, "the consultation call is not answered yet"))?;
        if consult.media.is_none() {
            return Err(refused(488, "transfer needs hotline's media ([media])"));
        }
        Ok((consult.id.clone(), target))
    }

    /// Moves `target`'s leg from the consultation into call `id` (as
    /// `as_call` across sides), ends the consultation, and re-offers the
    /// target seat the caller's media.
    fn join_consultation(
        &mut self,
        now: Instant,
        id: &str,
        consult: &str,
        target: &str,
        as_call: &str,
        seat: &str,
    ) {
        let Some(c2) = self.calls.get_mut(consult) else {
            return;
        };
        let Some(mut leg) = c2.legs.remove(target) else {
            return;
        };
        // Its record keeps the target as the seat that answered it.
        let line = c2.line.clone();
        let sdp_origin = c2
            .media
            .as_ref()
            .map(|m| (m.session_id, m.versions[1].max(1) + 1));
        // The consultation is over: A's leg gets BYE, its record ends.
        self.bye_inbound(now, consult);
        let reason = format!("attended transfer: seat {target} took call {as_call}");
        self.end_call(
            now,
            consult,
            Outcome::Answered,
            Some(HangupBy::Transfer),
            Some(reason),
        );
        let id = if as_call != id {
            self.split_call(now, id, as_call, line, seat);
            as_call
        } else {
            id
        };
        // The target's dialog and transactions now belong to the call.
        let target_ref = LegRef::Seat(target.to_string());
        self.by_dialog.insert(
            (leg.dialog.call_id.clone(), leg.dialog.local_tag.clone()),
            (id.to_string(), target_ref.clone()),
        );
        for (call, l, _) in self.by_client.values_mut() {
            if call == consult && *l == target_ref {
                *call = id.to_string();
            }
        }
        leg.state = SeatLegState::Connected;
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        call.seat = Some(target.to_string());
        call.answered.get_or_insert(now);
        call.legs.insert(target.to_string(), leg);
        self.media_cmd(id, MediaCmd::RemoveLeg(Leg::Agent));
        self.record_call(id);
        self.reoffer_target(now, id, target, sdp_origin);
    }

    /// Offers seat `target` call `id`'s media in a re-INVITE: the same SDP
    /// session it saw on the consultation (`origin`), the next version.
    fn reoffer_target(&mut self, now: Instant, id: &str, target: &str, origin: Option<(u64, u64)>) {
        let Some(settings) = self.config.media.clone() else {
            return;
        };
        let local_ip = self.config.media_ip(Side::Phones);
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let (Some(m), Some((session, version))) = (call.media.as_ref(), origin) else {
            return;
        };
        let mut codecs = vec![m.caller_codec];
        codecs.extend(settings.codecs.iter().filter(|c| **c != m.caller_codec));
        let offer = sdp::build_offer(
            SocketAddr::new(local_ip, m.agent_port),
            &codecs,
            sdp::DEFAULT_TELEPHONE_EVENT_PT,
            sdp::DEFAULT_PTIME,
            Direction::SendRecv,
            session,
            version,
        );
        let Some(leg) = call.legs.get_mut(target) else {
            return;
        };
        let local = self.config.local_addr(Side::Phones, leg.dialog.flow.proto);
        let flow = leg.dialog.flow;
        let Some(mut invite) = leg.dialog.request(Method::INVITE, local, None) else {
            return;
        };
        let transport = flow.proto.via_name().to_ascii_lowercase();
        invite.headers.insert(
            Name::CONTACT,
            format!("<sip:hotline@{local};transport={transport}>"),
        );
        let (ctype, body) = sdp_body(offer);
        let invite = self.decorate(invite.with_body(&ctype, body));
        if let Some(key) = self.tx.send_request(now, &invite, flow) {
            self.by_client.insert(
                key.clone(),
                (
                    id.to_string(),
                    LegRef::Seat(target.to_string()),
                    Purpose::Reoffer,
                ),
            );
            if let Some(call) = self.calls.get_mut(id) {
                call.client_keys.push(key);
            }
        }
    }

    /// The target seat's answer to the re-offer: connected with the
    /// caller, or (refused) the call cannot go on.
    pub(super) fn reoffer_response(&mut self, now: Instant, id: &str, leg: &LegRef, msg: Message) {
        let code = msg.code().unwrap_or(500);
        if code < 200 {
            return;
        }
        let LegRef::Seat(target) = leg else { return };
        if (200..300).contains(&code) {
            let cseq = msg.cseq().map(|c| c.cseq).unwrap_or(1);
            self.ack_leg(id, leg, cseq, false);
            tracing::info!(call = %id, seat = %target, "connected after attended transfer");
            self.media_connected(now, id, &msg);
            return;
        }
        self.reoffer_failed(now, id, target, &format!("{code}"));
    }

    /// No usable answer from the target seat: its leg points at the
    /// consultation's closed media, so the call ends.
    pub(super) fn reoffer_failed(&mut self, now: Instant, id: &str, target: &str, why: &str) {
        tracing::warn!(call = %id, seat = %target, why, "the transfer target did not take the caller's media; ending the call");
        self.hang_up_leg(now, id, target);
        self.bye_inbound(now, id);
        let reason = format!("the transfer target refused the media re-offer ({why})");
        self.end_call(
            now,
            id,
            Outcome::Answered,
            Some(HangupBy::System),
            Some(reason),
        );
        self.acd.call_ended(now, id, HangupBy::System);
    }
}

/// The Replaces header a Refer-To URI carries (`?Replaces=...`, escaped),
/// if any.
pub(super) fn refer_replaces(raw: &str) -> Option<Replaces> {
    let uri = match (raw.find('<'), raw.rfind('>')) {
        (Some(a), Some(b)) if a < b => &raw[a + 1..b],
        _ => raw,
    };
    let (_, headers) = uri.split_once('?')?;
    let value = headers.split('&').find_map(|h| {
        let (name, value) = h.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("replaces")
            .then_some(value)
    })?;
    let value = percent_decode(value)?;
    let mut parts = value.split(';');
    let call_id = parts.next()?.trim().to_string();
    let (mut to_tag, mut from_tag) = (None, None);
    for p in parts {
        match p.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("to-tag") => {
                to_tag = Some(v.trim().to_string())
            }
            Some((k, v)) if k.trim().eq_ignore_ascii_case("from-tag") => {
                from_tag = Some(v.trim().to_string())
            }
            _ => {}
        }
    }
    (!call_id.is_empty()).then_some(())?;
    Some(Replaces {
        call_id,
        to_tag: to_tag?,
        from_tag: from_tag?,
    })
}

/// `%XX` escapes decoded (RFC 3986 §2.1); `None` if malformed or not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::{Replaces, refer_replaces};

    #[test]
    fn replaces_is_read_from_the_refer_to_uri_escaped_or_not() {
        let want = Replaces {
            call_id: "abc@10.0.0.1".into(),
            to_tag: "hl7".into(),
            from_tag: "a9".into(),
        };
        let escaped =
            "<sip:110@127.0.0.1:5060?Replaces=abc%4010.0.0.1%3Bto-tag%3Dhl7%3Bfrom-tag%3Da9>";
        assert_eq!(refer_replaces(escaped), Some(want.clone()));
        let other_order = "<sip:110@h;transport=udp?Replaces=abc%4010.0.0.1%3Bfrom-tag%3Da9%3Bto-tag%3Dhl7&Require=replaces>";
        assert_eq!(refer_replaces(other_order), Some(want));
        assert_eq!(refer_replaces("<sip:110@h>"), None, "blind");
        assert_eq!(
            refer_replaces("<sip:110@h?Replaces=abc%3Bto-tag%3Dx>"),
            None,
            "no from-tag"
        );
        assert_eq!(
            refer_replaces("<sip:110@h?Replaces=abc%ZZ>"),
            None,
            "bad escape"
        );
    }
}
