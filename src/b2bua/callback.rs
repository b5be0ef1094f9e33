//! Outbound callbacks (回访): a seat calls a citizen back through the
//! trunk, recorded and linked to its ticket like an inbound call.
//!
//! Two ways to start one:
//! - **From the desk phone**: the agent dials `[outbound] prefix` and the
//!   number. The phone's INVITE (digest-authenticated, like feature codes)
//!   is the seat's leg, answered by hotline; hotline calls the citizen
//!   through the trunk and passes the progress and the answer back.
//! - **Click-to-call** ([`super::Command::Callback`], from the API with a
//!   ticket id): hotline rings the seat phone first, showing the citizen's
//!   number; once the agent picks up, it calls the citizen.
//!
//! ```text
//!  desk phone:     seat --INVITE 9N--> hotline --INVITE N--> trunk
//!                  seat <--180/183/200-- hotline <--18x/200-- trunk
//!  click-to-call:  API --> hotline --INVITE--> seat --200--> hotline --INVITE N--> trunk
//! ```
//!
//! Either way the number must match one of the seat's allowed patterns
//! (else 403, nothing is dialled), the seat is busy for the ACD while the
//! callback lasts, the media is anchored (`[outbound]` needs `[media]`):
//! the agent hears the trunk's early media, the talk is recorded, and the
//! record (direction `outbound`, `caller` the citizen's number, `line`
//! the number shown to them) feeds the ticket system.
//!
//! Outcomes: `answered`; `rejected` when the citizen's side refused
//! (busy, declined, no answer within `ring_timeout_secs`; `reason` says
//! which and the SIP status); `abandoned` when the agent gave up first;
//! `failed` when the trunk or the seat phone could not be reached.

use super::call::{Dialog, Inbound, LegRef, SeatLeg, SeatLegState};
use super::media_glue::{
    CallMedia, MediaOut, allocate_pair, leg_config, reoffer_answer, sdp_body, usable_sdp,
};
use super::{Engine, Purpose, Record, Refused};
use crate::media::driver::{MediaCmd, RecordingTarget};
use crate::media::sdp::{self, Direction};
use crate::media::session::Leg;
use crate::model::{CallRecord, HangupBy, LineClass, Outcome};
use crate::sip::transaction::TxKey;
use crate::sip::{Flow, Message, Proto, Side, random_token};
use bytes::Bytes;
use ezk_sip_types::{Method, Name};
use std::net::SocketAddr;
use std::time::Instant;

/// A callback's seat leg.
#[derive(Debug)]
pub enum SeatSide {
    /// The seat phone dialled: hotline answers its INVITE.
    Dialled(Box<Inbound>),
    /// Click-to-call: hotline rang the seat phone.
    Rung(Box<SeatLeg>),
    /// No seat leg (yet, or any more).
    Gone,
}

/// One callback in progress.
#[derive(Debug)]
pub struct Callback {
    pub id: String,
    pub seat: String,
    /// The citizen's number, as dialled through the trunk.
    pub number: String,
    /// The number the citizen is shown (`[outbound] caller_id`).
    pub line: String,
    pub class: LineClass,
    pub ticket: Option<String>,
    pub started: Instant,
    pub answered: Option<Instant>,
    pub ended: Option<Instant>,
    pub seat_leg: SeatSide,
    /// The Call-ID of the trunk leg (chosen at the start, used once dialled).
    pub trunk_call_id: String,
    /// The citizen's leg through the trunk, once dialled and until it is over.
    pub citizen: Option<SeatLeg>,
    pub media: CallMedia,
    pub outcome: Option<Outcome>,
    pub hangup_by: Option<HangupBy>,
    pub reason: Option<String>,
    /// Client transactions started for the callback (forgotten with it).
    pub client_keys: Vec<TxKey>,
}

impl Callback {
    pub fn record(&self, tb: &super::Timebase) -> CallRecord {
        let wait_end = self.answered.or(self.ended);
        CallRecord {
            id: self.id.clone(),
            sip_call_id: self.trunk_call_id.clone(),
            line: self.line.clone(),
            tag: None,
            class: self.class,
            caller: self.number.clone(),
            queue: None,
            seat: Some(self.seat.clone()),
            offered_at_ms: tb.ms(self.started),
            answered_at_ms: self.answered.map(|a| tb.ms(a)),
            ended_at_ms: self.ended.map(|e| tb.ms(e)),
            outcome: self.outcome,
            hangup_by: self.hangup_by,
            reason: self.reason.clone(),
            wait_ms: wait_end
                .map(|w| (w - self.started).as_millis() as i64)
                .unwrap_or(0),
            talk_ms: match (self.answered, self.ended) {
                (Some(a), Some(e)) => (e - a).as_millis() as i64,
                _ => 0,
            },
            survey: None,
            anchored: true,
            direction: crate::model::Direction::Outbound,
            ticket: self.ticket.clone(),
            parent_id: None,
        }
    }

    pub fn live(&self, now: Instant, tb: &super::Timebase) -> super::LiveCall {
        let state = match (&self.seat_leg, self.answered) {
            (_, Some(_)) => "connected",
            (SeatSide::Rung(leg), None)
                if !matches!(leg.state, SeatLegState::Answered | SeatLegState::Connected) =>
            {
                "ringing_seat"
            }
            _ => "dialling",
        };
        super::LiveCall {
            id: self.id.clone(),
            direction: crate::model::Direction::Outbound,
            line: self.line.clone(),
            tag: None,
            class: self.class,
            caller: self.number.clone(),
            queue: String::new(),
            state,
            seat: Some(self.seat.clone()),
            ringing: Vec::new(),
            offered_at_ms: tb.ms(self.started),
            wait_ms: (self.answered.unwrap_or(now) - self.started).as_millis() as i64,
            talk_ms: self
                .answered
                .map(|a| (now - a).as_millis() as i64)
                .unwrap_or(0),
        }
    }

    /// A client INVITE of this callback still awaits its final answer.
    fn invite_pending(&self) -> bool {
        let pending = |leg: &SeatLeg| {
            matches!(
                leg.state,
                SeatLegState::Calling
                    | SeatLegState::Early
                    | SeatLegState::CancelPending
                    | SeatLegState::Cancelling
            )
        };
        self.citizen.as_ref().is_some_and(pending)
            || matches!(&self.seat_leg, SeatSide::Rung(leg) if pending(leg))
    }

    fn uac_leg(&mut self, leg: &LegRef) -> Option<&mut SeatLeg> {
        match (leg, &mut self.seat_leg) {
            (LegRef::Citizen, _) => self.citizen.as_mut(),
            (LegRef::Seat(_), SeatSide::Rung(l)) => Some(l),
            (LegRef::Seat(_), _) => None,
        }
    }

    fn dialog(&mut self, leg: &LegRef) -> Option<&mut Dialog> {
        match (leg, &mut self.seat_leg) {
            (LegRef::Citizen, _) => self.citizen.as_mut().map(|l| &mut l.dialog),
            (LegRef::Seat(_), SeatSide::Rung(l)) => Some(&mut l.dialog),
            (LegRef::Seat(_), SeatSide::Dialled(inb)) => Some(&mut inb.dialog),
            (LegRef::Seat(_), SeatSide::Gone) => None,
        }
    }
}

/// A click-to-call request from the API.
#[derive(Debug, Clone)]
pub struct ClickToCall {
    /// The call id to use (the API returns it at once).
    pub id: String,
    pub seat: String,
    pub number: String,
    pub ticket: Option<String>,
    /// Who asked (the API token's name), for the log.
    pub by: String,
}

impl Engine {
    /// The number behind the outbound prefix, if `dialled` starts with it.
    pub(super) fn outbound_number(&self, dialled: &str) -> Option<String> {
        let o = self.config.outbound.as_ref()?;
        let number = dialled.strip_prefix(o.prefix.as_str())?;
        (!number.is_empty()).then(|| number.to_string())
    }

    /// Opens a callback's record and media; `Err` is the SIP status and
    /// reason to refuse it with.
    fn open_callback(
        &mut self,
        now: Instant,
        id: &str,
        seat: &str,
        number: &str,
        ticket: Option<String>,
        seat_leg: SeatSide,
    ) -> Result<(), (u16, String)> {
        let Some(o) = self.config.outbound.as_ref() else {
            return Err((404, "outbound calls are not configured".into()));
        };
        if let Err(e) = o.check(seat, number) {
            tracing::info!(call = %id, seat, number, error = %e, "callback refused");
            return Err((403, e.to_string()));
        }
        if self.config.media.is_none() {
            return Err((503, "callbacks need [media]".into()));
        }
        let class = o.seats.get(seat).map(|s| s.class).unwrap_or_default();
        let line = o.caller_id.clone();
        if let Some(why) = self.over_capacity(class, id) {
            return Err((503, why));
        }
        if let Err(e) = self.acd.outbound_started(now, seat, id) {
            return Err((486, e.to_string()));
        }
        let keep = self.legs_to_keep(class);
        let (caller_port, agent_port) = match allocate_pair(&mut self.ports, keep) {
            Ok(p) => p,
            Err((code, why)) => {
                self.acd.outbound_ended(now, seat, id);
                return Err((code, why.into()));
            }
        };
        let media = CallMedia {
            caller_port,
            agent_port,
            answer: Bytes::new(),
            session_id: rand::random::<u32>().into(),
            versions: [1, 1],
            caller_codec: self
                .config
                .media
                .as_ref()
                .map(|m| m.codecs[0])
                .unwrap_or(crate::media::codec::Codec::Pcma),
            recording: false,
            late_offer: false,
        };
        let host = self.config.local_addr(Side::Trunk, Proto::Udp).ip();
        let callback = Callback {
            id: id.into(),
            seat: seat.into(),
            number: number.into(),
            line,
            class,
            ticket,
            started: now,
            answered: None,
            ended: None,
            seat_leg,
            trunk_call_id: format!("{}@{host}", random_token()),
            citizen: None,
            media,
            outcome: None,
            hangup_by: None,
            reason: None,
            client_keys: Vec::new(),
        };
        tracing::info!(call = %id, seat, number, ticket = ?callback.ticket, "callback started");
        self.records
            .push_back(Record::Call(callback.record(&self.timebase)));
        self.callbacks.insert(id.into(), callback);
        self.media_out.push_back(MediaOut::Open {
            call: id.into(),
            caller_port,
            agent_port,
        });
        let ring = self
            .config
            .outbound
            .as_ref()
            .map(|o| o.ring_timeout)
            .unwrap_or_default();
        self.timers
            .set(super::prompts::Timer::CallbackRing(id.into()), now + ring);
        Ok(())
    }

    /// A seat phone dialled the outbound prefix and `number`.
    pub(super) fn callback_from_phone(
        &mut self,
        now: Instant,
        key: TxKey,
        msg: Message,
        flow: Flow,
        seat: &str,
        number: &str,
    ) {
        let offer = std::str::from_utf8(&msg.body)
            .ok()
            .and_then(|t| sdp::parse(t).ok());
        let codecs = self
            .config
            .media
            .as_ref()
            .map(|m| m.codecs.clone())
            .unwrap_or_default();
        let Some((offer, neg)) =
            offer.and_then(|o| sdp::negotiate(&o, &codecs).ok().map(|n| (o, n)))
        else {
            tracing::info!(seat, number, "488 to a callback without a usable SDP offer");
            self.respond_reason(now, &key, &msg, 488, "no usable SDP offer");
            return;
        };
        let id = uuid::Uuid::now_v7().to_string();
        let local_tag = random_token();
        let dialog = Dialog::from_invite(&msg, flow, &local_tag, seat);
        let seat_call_id = dialog.call_id.clone();
        let leg = Inbound {
            dialog,
            invite_tx: key.clone(),
            invite: msg.clone(),
            ringing_sent: false,
            answered: false,
        };
        if let Err((code, why)) = self.open_callback(
            now,
            &id,
            seat,
            number,
            None,
            SeatSide::Dialled(Box::new(leg)),
        ) {
            self.respond_reason(now, &key, &msg, code, &why);
            return;
        }
        self.by_invite.insert(key, id.clone());
        self.by_dialog.insert(
            (seat_call_id, local_tag),
            (id.clone(), LegRef::Seat(seat.into())),
        );
        let Some(cb) = self.callbacks.get_mut(&id) else {
            return;
        };
        let local =
            std::net::SocketAddr::new(self.config.media_ip(Side::Phones), cb.media.agent_port);
        let answer = sdp::build_answer(
            local,
            &neg,
            sdp::answer_direction(offer.direction),
            cb.media.session_id,
            1,
        );
        cb.media.answer = Bytes::from(answer);
        cb.media.caller_codec = neg.codec;
        self.media_cmd(
            &id,
            MediaCmd::SetLeg(Leg::Agent, leg_config(&offer, neg.codec)),
        );
        self.dial_citizen(now, &id);
    }

    /// Click-to-call from the API: ring the seat phone, then the citizen.
    pub(super) fn click_to_call(&mut self, now: Instant, req: ClickToCall) -> Result<(), Refused> {
        let Some(o) = self.config.outbound.as_ref() else {
            return Err(Refused::Dial(super::DialRefused::NotConfigured));
        };
        o.check(&req.seat, &req.number).map_err(Refused::Dial)?;
        let Some(binding) = self.registrar.lookup(now, &req.seat).cloned() else {
            return Err(Refused::SeatUnreachable(req.seat));
        };
        let flow = binding.flow;
        let local = self.config.local_addr(Side::Phones, flow.proto);
        let host = local.ip();
        let number = &req.number;
        let dialog = Dialog {
            call_id: format!("{}@{host}", random_token()),
            local_tag: random_token(),
            remote_tag: None,
            local_uri: format!("\"{number}\" <sip:{number}@{host}>"),
            remote_uri: format!("<sip:{}@{host}>", req.seat),
            remote_target: binding.contact.clone(),
            route_set: Vec::new(),
            local_cseq: 1,
            flow,
        };
        self.open_callback(
            now,
            &req.id,
            &req.seat,
            number,
            req.ticket.clone(),
            SeatSide::Gone,
        )
        .map_err(|(code, why)| match code {
            486 => Refused::Acd(crate::acd::AcdError::SeatBusy(req.seat.clone())),
            _ => Refused::Unavailable(why),
        })?;
        tracing::info!(call = %req.id, seat = %req.seat, number, by = %req.by, "click-to-call: ringing the seat");
        let id = req.id.clone();
        let Some(cb) = self.callbacks.get_mut(&id) else {
            return Ok(());
        };
        let codecs = self
            .config
            .media
            .as_ref()
            .map(|m| m.codecs.clone())
            .unwrap_or_default();
        let media_local = SocketAddr::new(self.config.media_ip(Side::Phones), cb.media.agent_port);
        let offer = sdp::build_offer(
            media_local,
            &codecs,
            sdp::DEFAULT_TELEPHONE_EVENT_PT,
            sdp::DEFAULT_PTIME,
            Direction::SendRecv,
            cb.media.session_id,
            1,
        );
        let mut dialog = dialog;
        let Some(mut invite) = dialog.request(Method::INVITE, local, Some(1)) else {
            self.end_callback(
                now,
                &id,
                Outcome::Failed,
                None,
                format!("seat {} has no usable contact", req.seat),
            );
            return Err(Refused::SeatUnreachable(req.seat));
        };
        let transport = flow.proto.via_name().to_ascii_lowercase();
        let h = &mut invite.headers;
        h.insert(
            Name::CONTACT,
            format!("<sip:hotline@{local};transport={transport}>"),
        );
        h.insert(Name::ALLOW, super::trunk::allow(Side::Phones));
        h.insert("X-Hotline-Call-Id", id.clone());
        h.insert("X-Hotline-Direction", "outbound");
        if let Some(ticket) = &req.ticket {
            h.insert("X-Hotline-Ticket", ticket.clone());
        }
        let (ctype, body) = sdp_body(offer);
        let invite = self.decorate(invite.with_body(&ctype, body));
        let Some(key) = self.tx.send_request(now, &invite, flow) else {
            self.end_callback(
                now,
                &id,
                Outcome::Failed,
                None,
                "could not send the INVITE to the seat".into(),
            );
            return Err(Refused::SeatUnreachable(req.seat));
        };
        self.by_client.insert(
            key.clone(),
            (
                id.clone(),
                LegRef::Seat(req.seat.clone()),
                Purpose::Callback,
            ),
        );
        self.by_dialog.insert(
            (dialog.call_id.clone(), dialog.local_tag.clone()),
            (id.clone(), LegRef::Seat(req.seat.clone())),
        );
        if let Some(cb) = self.callbacks.get_mut(&id) {
            cb.client_keys.push(key.clone());
            cb.seat_leg = SeatSide::Rung(Box::new(SeatLeg {
                dialog,
                invite_tx: key,
                invite,
                state: SeatLegState::Calling,
                answer: None,
            }));
        }
        Ok(())
    }

    /// Sends the INVITE to the citizen through the trunk, offering
    /// hotline's citizen-leg address.
    fn dial_citizen(&mut self, now: Instant, id: &str) {
        let Some(o) = self.config.outbound.clone() else {
            return;
        };
        let Some(cb) = self.callbacks.get(id) else {
            return;
        };
        let flow = Flow {
            side: Side::Trunk,
            proto: Proto::Udp,
            remote: o.trunk,
            conn: None,
        };
        let local = self.config.local_addr(Side::Trunk, Proto::Udp);
        let host = local.ip();
        let mut dialog = Dialog {
            call_id: cb.trunk_call_id.clone(),
            local_tag: random_token(),
            remote_tag: None,
            local_uri: format!("<sip:{}@{host}>", o.caller_id),
            remote_uri: format!("<sip:{}@{}>", cb.number, o.trunk),
            remote_target: format!("sip:{}@{}", cb.number, o.trunk),
            route_set: Vec::new(),
            local_cseq: 1,
            flow,
        };
        let mut codecs = vec![cb.media.caller_codec];
        codecs.extend(
            self.config
                .media
                .iter()
                .flat_map(|m| m.codecs.iter())
                .filter(|c| **c != cb.media.caller_codec),
        );
        let media_local = SocketAddr::new(self.config.media_ip(Side::Trunk), cb.media.caller_port);
        let offer = sdp::build_offer(
            media_local,
            &codecs,
            sdp::DEFAULT_TELEPHONE_EVENT_PT,
            sdp::DEFAULT_PTIME,
            Direction::SendRecv,
            cb.media.session_id,
            1,
        );
        let (seat, ticket) = (cb.seat.clone(), cb.ticket.clone());
        let Some(mut invite) = dialog.request(Method::INVITE, local, Some(1)) else {
            return;
        };
        let h = &mut invite.headers;
        h.insert(
            Name::CONTACT,
            format!("<sip:{}@{local};transport=udp>", o.caller_id),
        );
        h.insert(Name::ALLOW, super::trunk::allow(Side::Trunk));
        h.insert(
            Name::custom("P-Asserted-Identity", &["p-asserted-identity"]),
            format!("<sip:{}@{host}>", o.caller_id),
        );
        h.insert("X-Hotline-Call-Id", id.to_string());
        h.insert("X-Hotline-Seat", seat);
        if let Some(ticket) = ticket {
            h.insert("X-Hotline-Ticket", ticket);
        }
        let (ctype, body) = sdp_body(offer);
        let invite = self.decorate(invite.with_body(&ctype, body));
        let Some(key) = self.tx.send_request(now, &invite, flow) else {
            self.callback_failed(now, id, 500, "could not send the INVITE to the trunk");
            return;
        };
        tracing::info!(call = %id, trunk = %o.trunk, "callback: calling the citizen");
        self.by_client.insert(
            key.clone(),
            (id.to_string(), LegRef::Citizen, Purpose::Callback),
        );
        self.by_dialog.insert(
            (dialog.call_id.clone(), dialog.local_tag.clone()),
            (id.to_string(), LegRef::Citizen),
        );
        if let Some(cb) = self.callbacks.get_mut(id) {
            cb.client_keys.push(key.clone());
            cb.citizen = Some(SeatLeg {
                dialog,
                invite_tx: key,
                invite,
                state: SeatLegState::Calling,
                answer: None,
            });
        }
    }

    /// A response to one of a callback's INVITEs (to the seat, or to the citizen).
    pub(super) fn callback_invite_response(
        &mut self,
        now: Instant,
        id: &str,
        leg: &LegRef,
        key: &TxKey,
        msg: Message,
    ) {
        let code = msg.code().unwrap_or(500);
        let Some(cb) = self.callbacks.get_mut(id) else {
            return;
        };
        let ended = cb.ended.is_some();
        let Some(l) = cb.uac_leg(leg).filter(|l| l.invite_tx == *key) else {
            return;
        };
        l.learn_dialog(&msg);
        let state = l.state;
        match code {
            100..=199 => {
                match state {
                    SeatLegState::Calling => l.state = SeatLegState::Early,
                    SeatLegState::CancelPending => {
                        self.cancel_callback_leg(now, id, leg);
                        return;
                    }
                    _ => {}
                }
                if code > 100 && *leg == LegRef::Citizen && !ended {
                    self.citizen_progress(now, id, &msg);
                }
            }
            200..=299 => {
                if matches!(state, SeatLegState::Answered | SeatLegState::Connected) {
                    self.callback_ack(id, leg); // a retransmitted 2xx: our ACK was lost
                    return;
                }
                l.state = SeatLegState::Answered;
                l.answer = Some(msg.clone());
                self.callback_ack(id, leg);
                if ended
                    || matches!(
                        state,
                        SeatLegState::CancelPending | SeatLegState::Cancelling
                    )
                {
                    self.bye_callback_leg(now, id, leg);
                    self.forget_callback_if_done(id);
                    return;
                }
                match leg {
                    LegRef::Citizen => self.citizen_answered(now, id, &msg),
                    LegRef::Seat(_) => self.seat_answered_callback(now, id, &msg),
                }
            }
            _ => {
                self.drop_callback_leg(id, leg);
                if !ended
                    && !matches!(
                        state,
                        SeatLegState::CancelPending | SeatLegState::Cancelling
                    )
                {
                    let reason = msg.reason().unwrap_or_default();
                    match leg {
                        LegRef::Citizen => self.citizen_refused(now, id, code, &reason),
                        LegRef::Seat(seat) => {
                            let why = format!(
                                "seat {seat} did not answer ({code} {reason}",
                                reason = reason.trim()
                            );
                            self.end_callback(
                                now,
                                id,
                                Outcome::Failed,
                                None,
                                format!("{})", why.trim_end()),
                            );
                        }
                    }
                }
                self.forget_callback_if_done(id);
            }
        }
    }
}

impl Engine {
    /// The citizen's phone rings (or plays early media): the agent hears it.
    fn citizen_progress(&mut self, now: Instant, id: &str, msg: &Message) {
        let early = self.citizen_media(id, msg);
        if early {
            self.media_cmd(id, MediaCmd::Bridge);
        }
        let Some(cb) = self.callbacks.get_mut(id) else {
            return;
        };
        let SeatSide::Dialled(inb) = &mut cb.seat_leg else {
            return;
        };
        if inb.ringing_sent && !early {
            return;
        }
        inb.ringing_sent = true;
        let body = early.then(|| ("application/sdp".to_string(), cb.media.answer.clone()));
        self.answer_callback_seat(now, id, if early { 183 } else { 180 }, None, body);
    }

    /// Takes the citizen's SDP (in a 18x or the 200) for the citizen's leg;
    /// false if the message has none hotline can use.
    fn citizen_media(&mut self, id: &str, msg: &Message) -> bool {
        let Some(settings) = self.config.media.clone() else {
            return false;
        };
        let Some((remote, codec)) = usable_sdp(msg, &settings.codecs) else {
            return false;
        };
        self.media_cmd(
            id,
            MediaCmd::SetLeg(Leg::Caller, leg_config(&remote, codec)),
        );
        true
    }

    /// The citizen answered: bridge, record, and (from the desk phone)
    /// answer the seat.
    fn citizen_answered(&mut self, now: Instant, id: &str, msg: &Message) {
        if !self.citizen_media(id, msg) {
            tracing::warn!(call = %id, "the citizen's answer has no usable SDP: the citizen will not be heard");
        }
        self.media_cmd(id, MediaCmd::Bridge);
        self.timers
            .cancel(&super::prompts::Timer::CallbackRing(id.into()));
        let line_class = self
            .callbacks
            .get(id)
            .map(|cb| cb.class)
            .unwrap_or_default();
        let root = self
            .config
            .media
            .as_ref()
            .map(|m| m.recordings.root_for(line_class).to_path_buf())
            .unwrap_or_default();
        let rtp_timeout = self.config.media.as_ref().and_then(|m| m.rtp_timeout);
        let started = time::OffsetDateTime::from_unix_timestamp_nanos(
            self.timebase.ms(now) as i128 * 1_000_000,
        )
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let Some(cb) = self.callbacks.get_mut(id) else {
            return;
        };
        cb.answered = Some(now);
        cb.media.recording = true;
        if let Some(l) = cb.citizen.as_mut() {
            l.state = SeatLegState::Connected;
        }
        let class = cb.class.as_str().to_string();
        let seat_answer = match &mut cb.seat_leg {
            SeatSide::Dialled(inb) => {
                inb.answered = true;
                Some(("application/sdp".to_string(), cb.media.answer.clone()))
            }
            _ => None,
        };
        tracing::info!(call = %id, "callback answered");
        self.media_cmd(
            id,
            MediaCmd::StartRecording(RecordingTarget {
                root,
                class,
                call_id: id.into(),
                started,
            }),
        );
        if rtp_timeout.is_some() {
            self.media_cmd(id, MediaCmd::WatchSilence(rtp_timeout));
        }
        if let Some(body) = seat_answer {
            self.answer_callback_seat(now, id, 200, None, Some(body));
        }
        self.record_callback(id);
    }

    /// Click-to-call: the agent picked up; now the citizen is called.
    fn seat_answered_callback(&mut self, now: Instant, id: &str, msg: &Message) {
        let Some(settings) = self.config.media.clone() else {
            return;
        };
        match usable_sdp(msg, &settings.codecs) {
            Some((remote, codec)) => {
                if let Some(cb) = self.callbacks.get_mut(id) {
                    cb.media.caller_codec = codec;
                }
                self.media_cmd(id, MediaCmd::SetLeg(Leg::Agent, leg_config(&remote, codec)));
            }
            None => {
                tracing::warn!(call = %id, "the seat's answer has no usable SDP: the agent will not be heard")
            }
        }
        tracing::info!(call = %id, "click-to-call: the agent picked up");
        let ring = self
            .config
            .outbound
            .as_ref()
            .map(|o| o.ring_timeout)
            .unwrap_or_default();
        self.timers
            .set(super::prompts::Timer::CallbackRing(id.into()), now + ring);
        self.dial_citizen(now, id);
    }

    /// The citizen's side refused the call (busy, declined, no answer,
    /// unknown number) or the trunk failed it.
    fn citizen_refused(&mut self, now: Instant, id: &str, code: u16, reason: &str) {
        let what = match code {
            486 | 600 => "busy",
            603 | 607 => "declined",
            408 | 480 | 487 => "no answer",
            404 | 484 | 604 => "number not found",
            403 => "forbidden by the trunk",
            500..=599 => "trunk error",
            _ => "refused",
        };
        let why = format!("{what} ({code} {})", reason.trim());
        let why = why.replace(" )", ")");
        tracing::info!(call = %id, code, why, "callback not answered");
        let outcome = if (500..600).contains(&code) {
            Outcome::Failed
        } else {
            Outcome::Rejected
        };
        self.finish_callback(now, id, outcome, None, why, code);
    }

    /// The callback cannot go on: the seat hears `code`.
    fn callback_failed(&mut self, now: Instant, id: &str, code: u16, why: &str) {
        tracing::warn!(call = %id, why, "callback failed");
        self.finish_callback(
            now,
            id,
            Outcome::Failed,
            Some(HangupBy::System),
            why.into(),
            code,
        );
    }

    /// hotline stops (`drain.rs`): the callback ends now, `reason` on its
    /// record.
    pub(super) fn stop_callback(&mut self, now: Instant, id: &str, reason: &str) {
        let answered = self
            .callbacks
            .get(id)
            .is_some_and(|cb| cb.answered.is_some());
        let outcome = if answered {
            Outcome::Answered
        } else {
            Outcome::Failed
        };
        self.finish_callback(
            now,
            id,
            outcome,
            Some(HangupBy::System),
            reason.to_string(),
            503,
        );
    }

    /// Ends a callback: every leg still up is hung up (a seat whose
    /// INVITE hotline has not answered yet gets `seat_code`), the record
    /// is closed, the media finished, the seat freed.
    fn finish_callback(
        &mut self,
        now: Instant,
        id: &str,
        outcome: Outcome,
        by: Option<HangupBy>,
        reason: String,
        seat_code: u16,
    ) {
        if self.callbacks.get(id).is_none_or(|cb| cb.ended.is_some()) {
            return;
        }
        self.stop_callback_leg(now, id, &LegRef::Citizen);
        let seat = self
            .callbacks
            .get(id)
            .map(|cb| cb.seat.clone())
            .unwrap_or_default();
        let dialled_unanswered = matches!(self.callbacks.get(id).map(|cb| &cb.seat_leg), Some(SeatSide::Dialled(inb)) if !inb.answered);
        if dialled_unanswered {
            let code = if (300..700).contains(&seat_code) {
                seat_code
            } else {
                500
            };
            self.answer_callback_seat(now, id, code, Some(&reason), None);
            self.drop_callback_leg(id, &LegRef::Seat(seat.clone()));
        } else {
            self.stop_callback_leg(now, id, &LegRef::Seat(seat.clone()));
        }
        self.end_callback(now, id, outcome, by, reason);
    }

    /// Closes a callback's record, its media and the seat's part in it.
    fn end_callback(
        &mut self,
        now: Instant,
        id: &str,
        outcome: Outcome,
        by: Option<HangupBy>,
        reason: String,
    ) {
        let Some(cb) = self.callbacks.get_mut(id) else {
            return;
        };
        if cb.ended.is_some() {
            return;
        }
        cb.ended = Some(now);
        cb.outcome = Some(outcome);
        cb.hangup_by = by;
        cb.reason = Some(reason).filter(|r| !r.is_empty());
        let seat = cb.seat.clone();
        tracing::info!(call = %id, outcome = %outcome, "callback ended");
        self.record_callback(id);
        self.timers
            .cancel(&super::prompts::Timer::CallbackRing(id.into()));
        self.media_cmd(id, MediaCmd::Close);
        self.acd.outbound_ended(now, &seat, id);
        self.forget_callback_if_done(id);
    }

    fn record_callback(&mut self, id: &str) {
        if let Some(cb) = self.callbacks.get(id) {
            self.records
                .push_back(Record::Call(cb.record(&self.timebase)));
        }
    }

    /// Stops one of the legs hotline called: CANCEL while it rings (once
    /// it has sent a provisional response), BYE once answered.
    fn stop_callback_leg(&mut self, now: Instant, id: &str, leg: &LegRef) {
        let Some(cb) = self.callbacks.get_mut(id) else {
            return;
        };
        if let SeatSide::Dialled(inb) = &cb.seat_leg
            && matches!(leg, LegRef::Seat(_))
        {
            if inb.answered {
                self.bye_callback_leg(now, id, leg);
            }
            return;
        }
        let Some(l) = cb.uac_leg(leg) else { return };
        match l.state {
            SeatLegState::Calling => l.state = SeatLegState::CancelPending,
            SeatLegState::Early => self.cancel_callback_leg(now, id, leg),
            SeatLegState::Answered | SeatLegState::Connected => self.bye_callback_leg(now, id, leg),
            SeatLegState::CancelPending | SeatLegState::Cancelling => {}
        }
    }

    fn cancel_callback_leg(&mut self, now: Instant, id: &str, leg: &LegRef) {
        let Some(l) = self.callbacks.get_mut(id).and_then(|cb| cb.uac_leg(leg)) else {
            return;
        };
        l.state = SeatLegState::Cancelling;
        let Some(cancel) = l.cancel_request() else {
            return;
        };
        let (flow, invite_tx) = (l.dialog.flow, l.invite_tx.clone());
        let cancel = self.decorate(cancel);
        if let Some(key) = self.tx.send_request(now, &cancel, flow) {
            self.by_client
                .insert(key.clone(), (id.to_string(), leg.clone(), Purpose::Fire));
            if let Some(cb) = self.callbacks.get_mut(id) {
                cb.client_keys.push(key);
            }
        }
        self.tx.expect_final_by(&invite_tx, now + self.tx.t1() * 64);
    }

    /// Sends BYE in a leg's dialog and forgets the leg.
    fn bye_callback_leg(&mut self, now: Instant, id: &str, leg: &LegRef) {
        let Some(dialog) = self.callbacks.get_mut(id).and_then(|cb| cb.dialog(leg)) else {
            return;
        };
        let local = self.config.local_addr(dialog.flow.side, dialog.flow.proto);
        let flow = dialog.flow;
        let bye = dialog.request(Method::BYE, local, None);
        if let Some(bye) = bye {
            let bye = self.decorate(bye);
            if let Some(key) = self.tx.send_request(now, &bye, flow) {
                self.by_client
                    .insert(key.clone(), (id.to_string(), leg.clone(), Purpose::Fire));
                if let Some(cb) = self.callbacks.get_mut(id) {
                    cb.client_keys.push(key);
                }
            }
        }
        self.drop_callback_leg(id, leg);
    }

    /// The ACK of a 2xx to an INVITE hotline sent (CSeq 1).
    fn callback_ack(&mut self, id: &str, leg: &LegRef) {
        let Some(dialog) = self.callbacks.get_mut(id).and_then(|cb| cb.dialog(leg)) else {
            return;
        };
        let local = self.config.local_addr(dialog.flow.side, dialog.flow.proto);
        let flow = dialog.flow;
        if let Some(ack) = dialog.request(Method::ACK, local, Some(1)) {
            self.tx.send_stateless(&ack, flow);
        }
    }

    /// Forgets a leg that is over (its dialog no longer routes here).
    fn drop_callback_leg(&mut self, id: &str, leg: &LegRef) {
        let Some(cb) = self.callbacks.get_mut(id) else {
            return;
        };
        let key = cb
            .dialog(leg)
            .map(|d| (d.call_id.clone(), d.local_tag.clone()));
        match leg {
            LegRef::Citizen => cb.citizen = None,
            LegRef::Seat(_) => {
                if let SeatSide::Dialled(inb) = std::mem::replace(&mut cb.seat_leg, SeatSide::Gone)
                {
                    self.by_invite.remove(&inb.invite_tx);
                }
            }
        }
        if let Some(key) = key {
            self.by_dialog.remove(&key);
        }
    }

    /// Drops an ended callback once none of its INVITEs awaits an answer.
    fn forget_callback_if_done(&mut self, id: &str) {
        if self
            .callbacks
            .get(id)
            .is_none_or(|cb| cb.ended.is_none() || cb.invite_pending())
        {
            return;
        }
        let Some(mut cb) = self.callbacks.remove(id) else {
            return;
        };
        if let SeatSide::Dialled(inb) = &cb.seat_leg {
            self.by_invite.remove(&inb.invite_tx);
        }
        for leg in [LegRef::Citizen, LegRef::Seat(cb.seat.clone())] {
            if let Some(d) = cb.dialog(&leg) {
                self.by_dialog
                    .remove(&(d.call_id.clone(), d.local_tag.clone()));
            }
        }
        for key in &cb.client_keys {
            self.by_client.remove(key);
        }
    }

    /// A response on the desk phone's INVITE of a callback it dialled.
    fn answer_callback_seat(
        &mut self,
        now: Instant,
        id: &str,
        code: u16,
        reason: Option<&str>,
        body: Option<(String, Bytes)>,
    ) {
        let Some(cb) = self.callbacks.get(id) else {
            return;
        };
        let SeatSide::Dialled(inb) = &cb.seat_leg else {
            return;
        };
        let mut resp = Message::response_to(&inb.invite, code, Some(&inb.dialog.local_tag));
        if let Some(reason) = reason {
            resp = resp.with_reason(&reason_phrase(code, reason));
        }
        if (101..300).contains(&code) {
            let local = self.config.local_addr(Side::Phones, inb.dialog.flow.proto);
            let transport = inb.dialog.flow.proto.via_name().to_ascii_lowercase();
            resp.headers.insert(
                Name::CONTACT,
                format!("<sip:hotline@{local};transport={transport}>"),
            );
        }
        if let Some((ctype, body)) = body {
            resp = resp.with_body(&ctype, body);
        }
        let key = inb.invite_tx.clone();
        let resp = self.decorate(resp);
        self.tx.send_response(now, &key, resp);
    }

    /// The desk phone CANCELled a callback it dialled: the agent gave up.
    pub(super) fn callback_cancelled(&mut self, now: Instant, id: &str) {
        let answered = self
            .callbacks
            .get(id)
            .is_none_or(|cb| cb.answered.is_some() || cb.ended.is_some());
        if answered {
            return;
        }
        tracing::info!(call = %id, "callback: the agent gave up before the answer");
        self.finish_callback(
            now,
            id,
            Outcome::Abandoned,
            Some(HangupBy::Agent),
            String::new(),
            487,
        );
    }

    /// A request inside one of a callback's dialogs.
    pub(super) fn callback_in_dialog(
        &mut self,
        now: Instant,
        key: TxKey,
        msg: Message,
        id: &str,
        leg: LegRef,
    ) {
        let method = msg.method().cloned().unwrap_or(Method::OPTIONS);
        if method == Method::BYE {
            self.respond(now, &key, &msg, 200);
            self.drop_callback_leg(id, &leg);
            let answered = self
                .callbacks
                .get(id)
                .is_some_and(|cb| cb.answered.is_some());
            let by = if leg == LegRef::Citizen {
                HangupBy::Caller
            } else {
                HangupBy::Agent
            };
            let outcome = if answered {
                Outcome::Answered
            } else {
                Outcome::Abandoned
            };
            self.finish_callback(now, id, outcome, Some(by), String::new(), 487);
            return;
        }
        if method == Method::REFER {
            self.respond_reason(now, &key, &msg, 403, "callbacks cannot be transferred");
            return;
        }
        if (method == Method::INVITE || method == Method::UPDATE) && !msg.body.is_empty() {
            let Some(settings) = self.config.media.clone() else {
                return;
            };
            let media_leg = if leg == LegRef::Citizen {
                Leg::Caller
            } else {
                Leg::Agent
            };
            let Some(cb) = self.callbacks.get_mut(id) else {
                return;
            };
            let Some((answer, remote)) = reoffer_answer(
                &self.config,
                &settings,
                &mut cb.media,
                media_leg,
                Side::Trunk,
                &msg,
            ) else {
                self.respond(now, &key, &msg, 488);
                return;
            };
            let first_queue = self
                .acd
                .seat(&cb.seat)
                .and_then(|s| s.queues.first())
                .map(|(q, _)| q.clone());
            let music = first_queue
                .and_then(|q| settings.queues.get(&q))
                .map(|q| q.music.clone());
            self.media_reoffered(id, media_leg, &remote, music);
            let side = if leg == LegRef::Citizen {
                Side::Trunk
            } else {
                Side::Phones
            };
            let proto = if msg
                .top_via()
                .is_some_and(|v| v.transport.eq_ignore_ascii_case("TCP"))
            {
                Proto::Tcp
            } else {
                Proto::Udp
            };
            let local = self.config.local_addr(side, proto);
            let transport = proto.via_name().to_ascii_lowercase();
            let (ctype, body) = sdp_body(answer);
            let mut resp = Message::response_to(&msg, 200, None).with_body(&ctype, body);
            resp.headers.insert(
                Name::CONTACT,
                format!("<sip:hotline@{local};transport={transport}>"),
            );
            let resp = self.decorate(resp);
            self.tx.send_response(now, &key, resp);
            return;
        }
        self.respond(now, &key, &msg, 200);
    }

    /// `[outbound] ring_timeout_secs` passed before an answer.
    pub(super) fn callback_ring_timeout(&mut self, now: Instant, id: &str) {
        let Some(cb) = self
            .callbacks
            .get(id)
            .filter(|cb| cb.answered.is_none() && cb.ended.is_none())
        else {
            return;
        };
        let secs = self
            .config
            .outbound
            .as_ref()
            .map_or(0, |o| o.ring_timeout.as_secs());
        if cb.citizen.is_some() {
            tracing::info!(call = %id, "callback: the citizen did not answer");
            self.finish_callback(
                now,
                id,
                Outcome::Rejected,
                None,
                format!("no answer within {secs} s"),
                480,
            );
        } else {
            let seat = cb.seat.clone();
            self.finish_callback(
                now,
                id,
                Outcome::Failed,
                None,
                format!("seat {seat} did not answer within {secs} s"),
                480,
            );
        }
    }

    /// No response at all to one of a callback's INVITEs (timer B).
    pub(super) fn callback_invite_timeout(
        &mut self,
        now: Instant,
        id: &str,
        leg: &LegRef,
        key: &TxKey,
    ) {
        let Some(l) = self
            .callbacks
            .get_mut(id)
            .and_then(|cb| cb.uac_leg(leg))
            .filter(|l| l.invite_tx == *key)
        else {
            return;
        };
        let gave_up = matches!(
            l.state,
            SeatLegState::CancelPending | SeatLegState::Cancelling
        );
        self.drop_callback_leg(id, leg);
        if !gave_up {
            let why = match leg {
                LegRef::Citizen => "the trunk did not respond".to_string(),
                LegRef::Seat(seat) => format!("seat {seat}'s phone did not respond"),
            };
            self.callback_failed(now, id, 408, &why);
        }
        self.forget_callback_if_done(id);
    }

    /// The seat never ACKed hotline's 200 for a callback it dialled.
    pub(super) fn callback_unacked(&mut self, now: Instant, id: &str) {
        self.callback_failed(now, id, 408, "no ACK from the seat phone");
    }

    /// The citizen's RTP stopped for `rtp_timeout` on an answered callback.
    pub(super) fn callback_silent(&mut self, now: Instant, id: &str) {
        if self
            .callbacks
            .get(id)
            .is_none_or(|cb| cb.answered.is_none())
        {
            return;
        }
        let secs = self
            .config
            .media
            .as_ref()
            .and_then(|m| m.rtp_timeout)
            .map_or(0, |d| d.as_secs());
        let why = format!("no RTP from the citizen for {secs} s");
        tracing::warn!(call = %id, why, "hanging up a silent callback");
        self.finish_callback(now, id, Outcome::Answered, Some(HangupBy::System), why, 500);
    }
}

/// A status line's reason: the standard phrase with hotline's detail.
pub(super) fn reason_phrase(code: u16, detail: &str) -> String {
    let standard = match code {
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => {
            return detail
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect();
        }
    };
    let detail: String = detail
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    if detail.is_empty() {
        standard.into()
    } else {
        format!("{standard} ({detail})")
    }
}
