//! A call and its legs: the inbound leg from the trunk, one outbound leg per
//! seat being rung, and the dialog state (tags, CSeq, target, route set)
//! each leg needs to send in-dialog requests.

use super::{Line, Timebase};
use crate::model::{CallRecord, HangupBy, Outcome};
use crate::sip::transaction::TxKey;
use crate::sip::{Flow, Message, random_token};
use bytes::Bytes;
use ezk_sip_types::header::typed::Contact;
use ezk_sip_types::print::AppendCtx;
use ezk_sip_types::uri::SipUri;
use ezk_sip_types::{Method, Name};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

/// Which leg of a call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LegRef {
    /// The citizen's leg: from the trunk, or to it for a callback.
    Citizen,
    /// The leg to (or, for a callback dialled from the desk phone, from) a
    /// seat, by extension.
    Seat(String),
}

/// What one side of a dialog needs to send requests inside it.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// Our From (on requests we send), without tag.
    pub local_uri: String,
    /// The peer's URI, without tag.
    pub remote_uri: String,
    /// Request-URI for in-dialog requests (the peer's Contact).
    pub remote_target: String,
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    /// Where requests go: the flow the peer talks to us on.
    pub flow: Flow,
}

impl Dialog {
    /// Our side (the UAS's) of the dialog an INVITE that arrived on `flow`
    /// sets up, with `local_tag` as our To tag; `user` names the peer in
    /// the target when the INVITE has no Contact.
    pub fn from_invite(msg: &Message, flow: Flow, local_tag: &str, user: &str) -> Dialog {
        Dialog {
            call_id: msg.call_id().map(|c| c.to_string()).unwrap_or_default(),
            local_tag: local_tag.to_string(),
            remote_tag: msg.from().and_then(|f| f.tag).map(|t| t.to_string()),
            local_uri: msg
                .raw(&Name::TO)
                .map(|t| without_tag(t))
                .unwrap_or_default(),
            remote_uri: msg
                .raw(&Name::FROM)
                .map(|f| without_tag(f))
                .unwrap_or_default(),
            remote_target: contact_uri(msg)
                .unwrap_or_else(|| format!("sip:{user}@{}", flow.remote)),
            route_set: msg
                .headers
                .get_raw(&Name::RECORD_ROUTE)
                .map(|r| r.to_string())
                .collect(),
            local_cseq: 0,
            flow,
        }
    }

    /// A new in-dialog request with a fresh branch; `cseq` overrides the
    /// next local CSeq (ACK and CANCEL reuse the INVITE's).
    pub fn request(
        &mut self,
        method: Method,
        local: SocketAddr,
        cseq: Option<u32>,
    ) -> Option<Message> {
        let uri: SipUri = self.remote_target.parse().ok()?;
        let mut msg = Message::request(method.clone(), uri);
        let cseq = cseq.unwrap_or_else(|| {
            self.local_cseq += 1;
            self.local_cseq
        });
        let h = &mut msg.headers;
        h.insert(
            Name::VIA,
            format!(
                "SIP/2.0/{} {local};branch=z9hG4bK{};rport",
                self.flow.proto.via_name(),
                random_token()
            ),
        );
        h.insert(Name::MAX_FORWARDS, "70");
        h.insert(
            Name::FROM,
            format!("{};tag={}", self.local_uri, self.local_tag),
        );
        let to = match &self.remote_tag {
            Some(tag) => format!("{};tag={tag}", self.remote_uri),
            None => self.remote_uri.clone(),
        };
        h.insert(Name::TO, to);
        h.insert(Name::CALL_ID, self.call_id.clone());
        h.insert(Name::CSEQ, format!("{cseq} {method}"));
        for r in &self.route_set {
            h.insert(Name::ROUTE, r.clone());
        }
        Some(msg)
    }
}

/// The citizen's leg.
#[derive(Debug)]
pub struct Inbound {
    pub dialog: Dialog,
    pub invite_tx: TxKey,
    pub invite: Message,
    pub ringing_sent: bool,
    pub answered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatLegState {
    /// INVITE sent, nothing heard yet.
    Calling,
    /// 1xx received: CANCEL is allowed now.
    Early,
    /// Asked to stop before any 1xx: CANCEL as soon as one arrives.
    CancelPending,
    /// CANCEL sent, waiting for the 487.
    Cancelling,
    /// 2xx received and ACKed; the ACD decides whether it is bridged.
    Answered,
    /// Bridged with the inbound leg.
    Connected,
}

#[derive(Debug)]
pub struct SeatLeg {
    pub dialog: Dialog,
    pub invite_tx: TxKey,
    pub invite: Message,
    pub state: SeatLegState,
    /// The seat's 2xx (its SDP goes to the trunk on connect).
    pub answer: Option<Message>,
}

impl SeatLeg {
    /// The CANCEL for this leg's INVITE (RFC 3261 §9.1): the INVITE's
    /// Request-URI, top Via, From, To, Call-ID and CSeq number.
    pub fn cancel_request(&self) -> Option<Message> {
        let uri = self.invite.request_uri()?.clone();
        let mut cancel = Message::request(Method::CANCEL, uri);
        for name in [
            Name::VIA,
            Name::MAX_FORWARDS,
            Name::FROM,
            Name::TO,
            Name::CALL_ID,
        ] {
            if let Some(v) = self.invite.raw(&name) {
                cancel.headers.insert(name, v.clone());
            }
        }
        cancel.headers.insert(
            Name::CSEQ,
            format!("{} CANCEL", self.dialog.local_cseq.max(1)),
        );
        Some(cancel)
    }

    /// Takes what a response to the INVITE tells about the dialog: the
    /// seat's tag and, for a 2xx, its Contact and route set.
    pub fn learn_dialog(&mut self, msg: &Message) {
        if let Some(tag) = msg.to().and_then(|t| t.tag) {
            self.dialog.remote_tag = Some(tag.to_string());
        }
        if !msg.code().is_some_and(|c| (200..300).contains(&c)) {
            return;
        }
        if let Some(target) = contact_uri(msg) {
            self.dialog.remote_target = target;
        }
        let mut routes: Vec<String> = msg
            .headers
            .get_raw(&Name::RECORD_ROUTE)
            .map(|r| r.to_string())
            .collect();
        routes.reverse();
        self.dialog.route_set = routes;
    }
}

#[derive(Debug)]
pub struct Call {
    pub id: String,
    pub line: Line,
    pub caller: String,
    pub queue: String,
    pub offered: Instant,
    pub answered: Option<Instant>,
    pub ended: Option<Instant>,
    pub inbound: Inbound,
    pub legs: BTreeMap<String, SeatLeg>,
    /// Seat legs a newer ring of the same seat for this call replaced
    /// while their INVITE still awaited its final answer (a late 487, or
    /// none at all). Kept apart so their answers and timeouts touch only
    /// them: CANCELled once they ring, hung up if they answer.
    pub retired: Vec<SeatLeg>,
    /// An ACK held back until the other leg's ACK brings the SDP answer.
    pub deferred_ack: Option<super::late_offer::DeferredAck>,
    /// Client transactions started for this call (forgotten with it).
    pub client_keys: Vec<TxKey>,
    /// The seat the call is bridged to.
    pub seat: Option<String>,
    /// hotline's media for the call (with `[media]` and an SDP offer).
    pub media: Option<super::media_glue::CallMedia>,
    pub outcome: Option<Outcome>,
    pub hangup_by: Option<HangupBy>,
    pub reason: Option<String>,
    /// When the conversation ended, if the call goes on without the agent
    /// (the satisfaction survey).
    pub talk_ended: Option<Instant>,
    /// Where the satisfaction survey stands, once the agent hung up.
    pub survey: Option<super::prompts::Survey>,
    /// The queue refused the call: status and reason, sent once the
    /// caller has heard the refusal prompt.
    pub rejecting: Option<(u16, String)>,
}

/// A live call as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveCall {
    pub id: String,
    pub direction: crate::model::Direction,
    pub line: String,
    pub tag: Option<String>,
    pub class: crate::model::LineClass,
    pub caller: String,
    pub queue: String,
    pub state: &'static str,
    pub seat: Option<String>,
    pub ringing: Vec<String>,
    pub offered_at_ms: i64,
    pub wait_ms: i64,
    pub talk_ms: i64,
}

impl Call {
    pub fn record(&self, tb: &Timebase) -> CallRecord {
        let end = self.talk_ended.or(self.ended);
        let wait_end = self.answered.or(end);
        CallRecord {
            id: self.id.clone(),
            sip_call_id: self.inbound.dialog.call_id.clone(),
            line: self.line.number.clone(),
            tag: self.line.tag.clone(),
            class: self.line.class,
            caller: self.caller.clone(),
            queue: Some(self.queue.clone()).filter(|q| !q.is_empty()),
            seat: self.seat.clone(),
            offered_at_ms: tb.ms(self.offered),
            answered_at_ms: self.answered.map(|a| tb.ms(a)),
            ended_at_ms: self.ended.map(|e| tb.ms(e)),
            outcome: self.outcome,
            hangup_by: self.hangup_by,
            reason: self.reason.clone(),
            wait_ms: wait_end
                .map(|w| (w - self.offered).as_millis() as i64)
                .unwrap_or(0),
            talk_ms: match (self.answered, end) {
                (Some(a), Some(e)) => (e - a).as_millis() as i64,
                _ => 0,
            },
            survey: self.survey.as_ref().and_then(|s| s.answer.clone()),
            anchored: self.media.is_some(),
            direction: crate::model::Direction::Inbound,
            ticket: None,
        }
    }

    pub fn live(&self, now: Instant, tb: &Timebase) -> LiveCall {
        let state = match (self.seat.is_some(), self.legs.is_empty()) {
            _ if self.survey.is_some() => "survey",
            (true, _) => "connected",
            (false, false) => "ringing",
            (false, true) => "waiting",
        };
        LiveCall {
            id: self.id.clone(),
            direction: crate::model::Direction::Inbound,
            line: self.line.number.clone(),
            tag: self.line.tag.clone(),
            class: self.line.class,
            caller: self.caller.clone(),
            queue: self.queue.clone(),
            state,
            seat: self.seat.clone(),
            ringing: self
                .legs
                .keys()
                .filter(|s| Some(*s) != self.seat.as_ref())
                .cloned()
                .collect(),
            offered_at_ms: tb.ms(self.offered),
            wait_ms: (self.answered.unwrap_or(now) - self.offered).as_millis() as i64,
            talk_ms: self
                .answered
                .map(|a| (self.talk_ended.unwrap_or(now) - a).as_millis() as i64)
                .unwrap_or(0),
        }
    }
}

/// The Contact URI of a message, printed.
pub fn contact_uri(msg: &Message) -> Option<String> {
    let c: Contact = msg.headers.get_named().ok()?;
    Some(c.uri.uri.default_print_ctx().to_string())
}

/// The name-addr of a From/To header without its tag parameter.
pub fn without_tag(raw: &str) -> String {
    let mut out = Vec::new();
    let (addr, params) = match raw.rfind('>') {
        Some(i) => raw.split_at(i + 1),
        None => match raw.find(';') {
            Some(i) => raw.split_at(i),
            None => (raw, ""),
        },
    };
    out.push(addr.trim().to_string());
    for p in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        if !p.to_ascii_lowercase().starts_with("tag=") {
            out.push(p.to_string());
        }
    }
    out.join(";")
}

/// A 400 built from the raw lines of a request ezk could not parse fully,
/// when its transaction headers are there to copy.
pub fn raw_response_400(bytes: &Bytes, why: &str, server: &str) -> Option<Bytes> {
    let text = std::str::from_utf8(bytes).ok()?;
    let head = text.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    if first.starts_with("SIP/") || !first.ends_with("SIP/2.0") {
        return None;
    }
    let wanted = ["via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"];
    let mut copied = Vec::new();
    let mut seen = [false; 5];
    for line in lines {
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if let Some(pos) = wanted.iter().position(|w| *w == name) {
            seen[(pos / 2).min(4)] = true;
            copied.push(line);
        }
    }
    if !seen.iter().all(|s| *s) {
        return None;
    }
    let reason: String = why.chars().filter(|c| !c.is_control()).take(80).collect();
    let mut out = format!("SIP/2.0 400 Bad Request ({reason})\r\n");
    for line in copied {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Server: {server}\r\nContent-Length: 0\r\n\r\n"));
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_stripped_but_other_params_kept() {
        assert_eq!(without_tag("<sip:a@b>;tag=1;x=y"), "<sip:a@b>;x=y");
        assert_eq!(without_tag("sip:a@b;tag=1"), "sip:a@b");
        assert_eq!(without_tag("\"A\" <sip:a@b>"), "\"A\" <sip:a@b>");
    }

    #[test]
    fn raw_400_copies_transaction_headers() {
        let req = Bytes::from_static(
            b"INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:x@y>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: zz\r\n\r\n",
        );
        let out = raw_response_400(&req, "bad Content-Length", "hotline").unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(
            text.starts_with("SIP/2.0 400 Bad Request (bad Content-Length)\r\n"),
            "{text}"
        );
        assert!(text.contains("Call-ID: c\r\n"));
        assert!(
            raw_response_400(
                &Bytes::from_static(b"INVITE sip:x SIP/2.0\r\n\r\n"),
                "x",
                "h"
            )
            .is_none()
        );
    }
}
