//! The phones side: seat phones register (digest-authenticated), dial
//! feature codes to change their agent state, and answer OPTIONS; their
//! SUBSCRIBEs go to `blf.rs`.
//!
//! A wrong password and an unknown extension get byte-for-byte the same
//! answer, so extensions cannot be enumerated.

use super::Engine;
use super::config::FeatureCode;
use crate::acd::StateRequest;
use crate::sip::auth::{Credential, Verdict};
use crate::sip::registrar::{RegisterError, Registrar};
use crate::sip::transaction::TxKey;
use crate::sip::{Flow, Message, Side, random_token, uri_user};
use bytes::Bytes;
use ezk_sip_types::{Method, Name};
use std::time::Instant;

impl Engine {
    pub(super) fn handle_phones_request(
        &mut self,
        now: Instant,
        key: TxKey,
        msg: Message,
        flow: Flow,
    ) {
        match msg.method().cloned() {
            Some(m) if m == Method::REGISTER => self.phone_register(now, key, msg, flow),
            Some(m) if m == Method::INVITE => self.phone_invite(now, key, msg, flow),
            Some(m) if m == Method::OPTIONS => self.respond_options(now, &key, &msg, Side::Phones),
            Some(m) if m == Method::SUBSCRIBE => self.blf_subscribe(now, key, msg, flow),
            Some(m) if m == Method::BYE || m == Method::UPDATE || m == Method::INFO => {
                self.respond(now, &key, &msg, 481)
            }
            _ => self.respond_not_allowed(now, &key, &msg, Side::Phones),
        }
    }

    /// Checks the request's credentials; answers the challenge or refusal
    /// itself and returns the authenticated extension only on success.
    pub(super) fn authenticate(
        &mut self,
        now: Instant,
        key: &TxKey,
        msg: &Message,
        proxy: bool,
    ) -> Option<String> {
        let (header, challenge_name, challenge_code) = if proxy {
            (Name::PROXY_AUTHORIZATION, Name::PROXY_AUTHENTICATE, 407)
        } else {
            (Name::AUTHORIZATION, Name::WWW_AUTHENTICATE, 401)
        };
        let now_ms = self.timebase.ms(now) as u64;
        let verdict = match msg.raw(&header) {
            None => None,
            Some(value) => {
                let method = msg.method().map(|m| m.to_string()).unwrap_or_default();
                let uri = msg.request_uri().map(|u| {
                    use ezk_sip_types::print::AppendCtx;
                    u.default_print_ctx().to_string()
                });
                let seats = &self.config.seats;
                Some(self.auth.verify(
                    now_ms,
                    &method,
                    &uri.unwrap_or_default(),
                    value.as_str(),
                    |user| {
                        seats
                            .get(user)
                            .map(|s| Credential::Password(s.password.clone()))
                    },
                ))
            }
        };
        let stale = match verdict {
            Some(Verdict::Ok { username }) => return Some(username),
            Some(Verdict::Denied(reason)) => {
                tracing::info!(remote = %flow_of(key, msg), ?reason, "403: authentication failed");
                self.respond(now, key, msg, 403);
                return None;
            }
            Some(Verdict::Stale) => true,
            None => false,
        };
        let mut resp = self.decorate(Message::response_to(
            msg,
            challenge_code,
            Some(&random_token()),
        ));
        for value in self.auth.challenge(now_ms, rand::random(), stale) {
            resp.headers.insert(challenge_name.clone(), value);
        }
        self.tx.send_response(now, key, resp);
        None
    }

    fn phone_register(&mut self, now: Instant, key: TxKey, msg: Message, flow: Flow) {
        let Some(user) = self.authenticate(now, &key, &msg, false) else {
            return;
        };
        let aor = msg
            .to()
            .and_then(|t| uri_user(&t.uri.uri))
            .unwrap_or_default();
        if aor != user {
            tracing::info!(user, aor, "403: REGISTER for another extension");
            self.respond(now, &key, &msg, 403);
            return;
        }
        match self.registrar.register(now, &user, &msg, flow) {
            Ok(bindings) => {
                let mut resp =
                    self.decorate(Message::response_to(&msg, 200, Some(&random_token())));
                for b in &bindings {
                    let left = Registrar::remaining(now, b);
                    resp.headers
                        .insert(Name::CONTACT, format!("<{}>;expires={left}", b.contact));
                }
                resp.headers
                    .insert(Name::DATE, httpdate(self.timebase.ms(now)));
                tracing::info!(seat = %user, contacts = bindings.len(), remote = %flow.remote, "registered");
                self.tx.send_response(now, &key, resp);
            }
            Err(RegisterError::TooBrief(min)) => {
                let mut resp =
                    self.decorate(Message::response_to(&msg, 423, Some(&random_token())));
                resp.headers.insert(Name::MIN_EXPIRES, min.to_string());
                self.tx.send_response(now, &key, resp);
            }
            Err(RegisterError::BadRequest(why)) => {
                let resp = Message::response_to(&msg, 400, Some(&random_token()))
                    .with_reason(&format!("Bad Request ({why})"));
                let resp = self.decorate(resp);
                self.tx.send_response(now, &key, resp);
            }
        }
    }

    fn phone_invite(&mut self, now: Instant, key: TxKey, msg: Message, flow: Flow) {
        let Some(user) = self.authenticate(now, &key, &msg, true) else {
            return;
        };
        let from = msg
            .from()
            .and_then(|f| uri_user(&f.uri.uri))
            .unwrap_or_default();
        if from != user {
            tracing::info!(
                user,
                from,
                "403: INVITE with a From that is not the authenticated seat"
            );
            self.respond(now, &key, &msg, 403);
            return;
        }
        let dialled = msg.request_uri().and_then(uri_user).unwrap_or_default();
        // Stopping: no new call from a phone either (feature codes still work).
        let places_a_call =
            self.outbound_number(&dialled).is_some() || self.config.lines.contains_key(&dialled);
        if places_a_call && self.refused_while_draining(now, &key, &msg) {
            return;
        }
        if let Some(number) = self.outbound_number(&dialled) {
            self.callback_from_phone(now, key, msg, flow, &user, &number);
            return;
        }
        if self.config.lines.contains_key(&dialled) {
            // A seat calling a line: a consultation (`attended.rs`).
            tracing::info!(seat = %user, line = %dialled, "consultation call");
            self.offer_call(now, key, msg, flow, user, crate::model::Direction::Internal);
            return;
        }
        let Some((feature, reason)) = self.config.feature(&dialled) else {
            tracing::info!(seat = %user, dialled, "404: seat dialled an unknown number");
            self.respond(now, &key, &msg, 404);
            return;
        };
        let request = match feature {
            FeatureCode::Login => StateRequest::Login,
            FeatureCode::Logout => StateRequest::Logout,
            FeatureCode::Ready => StateRequest::Ready,
            FeatureCode::NotReady => {
                StateRequest::NotReady(reason.unwrap_or_else(|| "other".into()))
            }
        };
        tracing::info!(seat = %user, dialled, ?request, "feature code");
        if let Err(e) = self.acd.set_agent_state(now, &user, request) {
            tracing::info!(seat = %user, error = %e, "feature code refused");
            let resp = self.decorate(
                Message::response_to(&msg, 403, Some(&random_token())).with_reason(&e.to_string()),
            );
            self.tx.send_response(now, &key, resp);
            return;
        }
        // Answer, and hang up as soon as the phone ACKs: the phone shows a
        // short connected call, which is the confirmation.
        let tag = random_token();
        let local = self.config.local_addr(Side::Phones, flow.proto);
        let mut resp = self.decorate(Message::response_to(&msg, 200, Some(&tag)));
        let transport = flow.proto.via_name().to_ascii_lowercase();
        resp.headers.insert(
            Name::CONTACT,
            format!("<sip:{dialled}@{local};transport={transport}>"),
        );
        let resp = resp.with_body("application/sdp", inactive_sdp(local.ip()));
        self.tx.send_response(now, &key, resp);
        if let Some(call_id) = msg.call_id() {
            self.feature_dialogs
                .insert((call_id.to_string(), tag), (msg, flow));
        }
    }

    /// BYE for a confirmed feature-code call.
    pub(super) fn bye_feature_dialog(&mut self, now: Instant, invite: &Message, flow: Flow) {
        let Some(call_id) = invite.call_id() else {
            return;
        };
        let Some((dk, _)) = self
            .feature_dialogs
            .iter()
            .find(|((c, _), _)| *c == call_id.as_str())
        else {
            return;
        };
        let dk = dk.clone();
        self.feature_dialogs.remove(&dk);
        let user = invite
            .from()
            .and_then(|f| uri_user(&f.uri.uri))
            .unwrap_or_default();
        let mut dialog = super::call::Dialog::from_invite(invite, flow, &dk.1, &user);
        let local = self.config.local_addr(Side::Phones, flow.proto);
        if let Some(bye) = dialog.request(Method::BYE, local, None) {
            let bye = self.decorate(bye);
            self.tx.send_request(now, &bye, flow);
        }
    }
}

fn flow_of(key: &TxKey, msg: &Message) -> String {
    let _ = key;
    msg.top_via()
        .map(|v| format!("{:?}", v.sent_by.host))
        .unwrap_or_default()
}

/// An SDP answer that sends and receives nothing (feature-code calls).
fn inactive_sdp(ip: std::net::IpAddr) -> Bytes {
    Bytes::from(format!(
        "v=0\r\no=hotline 1 1 IN IP4 {ip}\r\ns=hotline\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
m=audio 9 RTP/AVP 0 8\r\na=inactive\r\n"
    ))
}

/// RFC 7231 IMF-fixdate for the Date header of a REGISTER 200.
fn httpdate(unix_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_ms / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&fmt).unwrap_or_default()
}
