//! Busy-lamp fields: seat phones watch each other's seats through the
//! dialog event package (RFC 4235 over RFC 6665 SUBSCRIBE/NOTIFY).
//!
//! A seat phone SUBSCRIBEs `Event: dialog` to another seat's extension,
//! digest-authenticated like its REGISTER; a seat watches only seats of
//! its own class (emergency or not). hotline answers 200 and NOTIFYs at
//! once with the full state, then whenever what the watched seat shows
//! changes (`dialog_info.rs`): the ACD's agent-state events mark the seat,
//! and the engine flushes the marks after each input.
//!
//! ```text
//!  seat phone                         hotline
//!   SUBSCRIBE sip:8001 (Event: dialog) -->  401, then 200 (Expires: N)
//!                 <------------------------  NOTIFY active;expires=N  version 0
//!                 <------------------------  NOTIFY early / confirmed / terminated
//!   SUBSCRIBE in the dialog (refresh)  -->  200, NOTIFY
//!   SUBSCRIBE Expires: 0               -->  200, NOTIFY terminated;reason=timeout
//! ```
//! Expiry is a timer in the engine's clock (no refresh: a last NOTIFY,
//! terminated); a NOTIFY answered with an error, or never answered, ends
//! the subscription without another word (RFC 6665 §4.2.2).
//!
//! Files: this one (the subscriptions, SUBSCRIBE and its answers),
//! `notify.rs` (NOTIFYs: on changes, at expiry, and their answers) and
//! `dialog_info.rs` (what a seat shows, and the XML body).

mod dialog_info;
mod notify;

use super::Engine;
use super::call::{Dialog, contact_uri};
use crate::sip::transaction::TxKey;
use crate::sip::{Flow, Message, Side, random_token, uri_user};
use crate::timers::Timers;
use dialog_info::DialogView;
use ezk_sip_types::Name;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Shortest subscription granted (a shorter request gets 423).
pub const MIN_EXPIRES: u32 = 60;
/// Longest subscription granted (a longer request gets this).
pub const MAX_EXPIRES: u32 = 3600;
/// Granted when the SUBSCRIBE asks for no expiry (RFC 4235 §3.1).
pub const DEFAULT_EXPIRES: u32 = 3600;
/// Subscriptions one seat phone may hold at once (a phone rebooting
/// subscribes afresh while its old subscriptions linger to their expiry).
const MAX_PER_WATCHER: usize = 128;

/// A subscription's dialog: SIP Call-ID and hotline's tag.
type SubKey = (String, String);

/// The subscriptions, their expiry timers and the NOTIFYs in flight.
#[derive(Debug, Default)]
pub(super) struct Blf {
    subs: HashMap<SubKey, Subscription>,
    expiry: Timers<SubKey>,
    /// Seats whose agent state changed since the last flush.
    dirty: BTreeSet<String>,
    notifies: HashMap<TxKey, SubKey>,
}

#[derive(Debug)]
struct Subscription {
    watcher: String,
    watched: String,
    /// hotline's side of the subscription dialog (NOTIFYs go in it).
    dialog: Dialog,
    /// The Event header's `id` parameter, echoed in every NOTIFY.
    event_id: Option<String>,
    /// The next NOTIFY's dialog-info version.
    version: u32,
    expires: Instant,
    /// The dialog the last NOTIFY showed as early or confirmed.
    shown: Option<DialogView>,
}

impl Blf {
    /// Seat `seat`'s agent state changed: its watchers may need a NOTIFY.
    pub fn touch(&mut self, seat: &str) {
        self.dirty.insert(seat.to_string());
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.expiry.next()
    }

    /// (watcher, watched) of every live subscription, sorted.
    #[cfg(test)]
    pub fn subscriptions(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .subs
            .values()
            .map(|s| (s.watcher.clone(), s.watched.clone()))
            .collect();
        v.sort();
        v
    }
}

impl Engine {
    /// A SUBSCRIBE outside any dialog: a new subscription.
    pub(super) fn blf_subscribe(&mut self, now: Instant, key: TxKey, msg: Message, flow: Flow) {
        let Some(event_id) = self.blf_event(now, &key, &msg) else {
            return;
        };
        let Some(watcher) = self.authenticate(now, &key, &msg, false) else {
            return;
        };
        let from = msg
            .from()
            .and_then(|f| uri_user(&f.uri.uri))
            .unwrap_or_default();
        if from != watcher {
            tracing::info!(
                watcher,
                from,
                "403: SUBSCRIBE with a From that is not the authenticated seat"
            );
            self.respond(now, &key, &msg, 403);
            return;
        }
        let watched = msg.request_uri().and_then(uri_user).unwrap_or_default();
        let Some(target) = self.config.seats.get(&watched) else {
            tracing::info!(watcher, watched, "404: SUBSCRIBE to an unknown extension");
            self.respond(now, &key, &msg, 404);
            return;
        };
        if self.config.seats.get(&watcher).map(|s| s.class) != Some(target.class) {
            tracing::info!(
                watcher,
                watched,
                "403: BLF across emergency and non-emergency seats"
            );
            let why = "emergency and non-emergency seats do not watch each other";
            self.respond_reason(now, &key, &msg, 403, why);
            return;
        }
        if msg
            .raw(&Name::ACCEPT)
            .is_some_and(|a| !dialog_info::accepts_dialog_info(a))
        {
            let mut resp = self.decorate(Message::response_to(&msg, 406, Some(&random_token())));
            resp.headers
                .insert(Name::ACCEPT, "application/dialog-info+xml");
            self.tx.send_response(now, &key, resp);
            return;
        }
        let Some(expires) = self.blf_expires(now, &key, &msg) else {
            return;
        };
        let held = self.blf.subs.values().filter(|s| s.watcher == watcher);
        if held.count() >= MAX_PER_WATCHER {
            tracing::warn!(watcher, "503: too many BLF subscriptions from one seat");
            self.respond_reason(now, &key, &msg, 503, "too many subscriptions");
            return;
        }
        let tag = random_token();
        let dialog = Dialog::from_invite(&msg, flow, &tag, &watcher);
        let sk = (dialog.call_id.clone(), tag.clone());
        tracing::info!(watcher, watched, expires, "BLF subscription");
        self.blf.subs.insert(
            sk.clone(),
            Subscription {
                watcher,
                watched,
                dialog,
                event_id,
                version: 0,
                expires: now + Duration::from_secs(expires.into()),
                shown: None,
            },
        );
        self.blf_accept(now, &key, &msg, &sk, expires);
    }

    /// A SUBSCRIBE inside a dialog: refreshes or (Expires: 0) ends a
    /// subscription. Like BYE, it is matched by its dialog, not challenged.
    pub(super) fn blf_in_dialog(&mut self, now: Instant, key: TxKey, msg: Message, flow: Flow) {
        let sk = msg
            .call_id()
            .zip(msg.to().and_then(|t| t.tag))
            .map(|(c, t)| (c.to_string(), t.to_string()));
        let from_tag = msg.from().and_then(|f| f.tag).map(|t| t.to_string());
        let known = sk
            .as_ref()
            .and_then(|sk| self.blf.subs.get(sk))
            .filter(|s| {
                flow.side == Side::Phones
                    && s.dialog.remote_tag.is_some()
                    && s.dialog.remote_tag == from_tag
            });
        let (Some(sk), Some(_)) = (sk.clone(), known) else {
            self.respond(now, &key, &msg, 481);
            return;
        };
        if self.blf_event(now, &key, &msg).is_none() {
            return;
        }
        let Some(expires) = self.blf_expires(now, &key, &msg) else {
            return;
        };
        if let Some(sub) = self.blf.subs.get_mut(&sk) {
            if let Some(target) = contact_uri(&msg) {
                sub.dialog.remote_target = target;
            }
            sub.expires = now + Duration::from_secs(expires.into());
            tracing::debug!(watcher = %sub.watcher, watched = %sub.watched, expires, "BLF subscription refreshed");
        }
        self.blf_accept(now, &key, &msg, &sk, expires);
    }

    /// The Event header's `id` if it names the dialog package; otherwise
    /// answers 489 and gives `None`.
    fn blf_event(&mut self, now: Instant, key: &TxKey, msg: &Message) -> Option<Option<String>> {
        let event = msg.raw(&Name::EVENT).map(|e| e.to_string());
        let (package, id) = dialog_info::event_package(event.as_deref().unwrap_or(""));
        if package == "dialog" {
            return Some(id);
        }
        tracing::info!(
            event = event.as_deref().unwrap_or(""),
            "489: SUBSCRIBE for an event package hotline does not serve"
        );
        let mut resp = self.decorate(Message::response_to(msg, 489, Some(&random_token())));
        resp.headers.insert(Name::ALLOW_EVENTS, "dialog");
        self.tx.send_response(now, key, resp);
        None
    }

    /// The expiry to grant: the Expires asked for (the default if none),
    /// at most [`MAX_EXPIRES`]; 0 ends the subscription. Answers 400 or
    /// 423 itself and gives `None` when the request cannot be granted.
    fn blf_expires(&mut self, now: Instant, key: &TxKey, msg: &Message) -> Option<u32> {
        let asked = match msg.raw(&Name::EXPIRES) {
            None => DEFAULT_EXPIRES,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) => n.min(u64::from(u32::MAX)) as u32,
                Err(_) => {
                    let resp = Message::response_to(msg, 400, Some(&random_token()))
                        .with_reason("Bad Request (Expires is not a number)");
                    let resp = self.decorate(resp);
                    self.tx.send_response(now, key, resp);
                    return None;
                }
            },
        };
        if asked != 0 && asked < MIN_EXPIRES {
            let mut resp = self.decorate(Message::response_to(msg, 423, Some(&random_token())));
            resp.headers
                .insert(Name::MIN_EXPIRES, MIN_EXPIRES.to_string());
            self.tx.send_response(now, key, resp);
            return None;
        }
        Some(asked.min(MAX_EXPIRES))
    }

    /// 200 with the expiry granted, then the NOTIFY: the state, or the
    /// last one when the subscriber asked for none (Expires: 0).
    fn blf_accept(&mut self, now: Instant, key: &TxKey, msg: &Message, sk: &SubKey, expires: u32) {
        let Some(sub) = self.blf.subs.get(sk) else {
            return;
        };
        let proto = sub.dialog.flow.proto;
        let local = self.config.local_addr(Side::Phones, proto);
        let transport = proto.via_name().to_ascii_lowercase();
        let contact = format!("<sip:{}@{local};transport={transport}>", sub.watched);
        let mut resp = self.decorate(Message::response_to(msg, 200, Some(&sk.1)));
        resp.headers.insert(Name::EXPIRES, expires.to_string());
        resp.headers.insert(Name::CONTACT, contact);
        self.tx.send_response(now, key, resp);
        if expires == 0 {
            self.blf_end(now, sk, "timeout");
        } else {
            let at = self.blf.subs.get(sk).map_or(now, |s| s.expires);
            self.blf.expiry.set(sk.clone(), at);
            self.blf_notify(now, sk, None);
        }
    }
}
