//! The notifier's half of busy-lamp fields: a NOTIFY to each watcher
//! whose seat shows something new, the last NOTIFY of a subscription that
//! ends, and what the watchers answer.

use super::SubKey;
use super::dialog_info::{self, DialogView};
use crate::b2bua::Engine;
use crate::sip::Message;
use crate::sip::Side;
use crate::sip::transaction::TxKey;
use bytes::Bytes;
use ezk_sip_types::{Method, Name};
use std::time::Instant;

impl Engine {
    /// NOTIFYs the watchers of every seat whose state changed, where what
    /// the seat shows changed.
    pub(in crate::b2bua) fn blf_flush(&mut self, now: Instant) {
        if self.blf.dirty.is_empty() {
            return;
        }
        let dirty = std::mem::take(&mut self.blf.dirty);
        let mut due: Vec<SubKey> = self
            .blf
            .subs
            .iter()
            .filter(|(_, s)| dirty.contains(&s.watched) && s.shown != self.blf_view(&s.watched))
            .map(|(k, _)| k.clone())
            .collect();
        due.sort();
        for sk in due {
            self.blf_notify(now, &sk, None);
        }
    }

    /// Subscriptions whose expiry passed: a last NOTIFY each.
    pub(in crate::b2bua) fn blf_handle_timeout(&mut self, now: Instant) {
        while let Some(sk) = self.blf.expiry.pop_due(now) {
            if let Some(s) = self.blf.subs.get(&sk) {
                tracing::info!(watcher = %s.watcher, watched = %s.watched, "BLF subscription expired");
            }
            self.blf_end(now, &sk, "timeout");
        }
    }

    /// A response to one of our NOTIFYs; `false` if the transaction is
    /// not a NOTIFY of ours. An error ends the subscription.
    pub(in crate::b2bua) fn blf_response(&mut self, key: &TxKey, msg: &Message) -> bool {
        let Some(sk) = self.blf.notifies.get(key).cloned() else {
            return false;
        };
        let code = msg.code().unwrap_or(500);
        if code >= 200 {
            self.blf.notifies.remove(key);
        }
        if code >= 300 {
            self.blf_drop(&sk, &format!("NOTIFY answered {code}"));
        }
        true
    }

    /// One of our NOTIFYs got no answer; `false` if it is not ours.
    pub(in crate::b2bua) fn blf_tx_timeout(&mut self, key: &TxKey) -> bool {
        let Some(sk) = self.blf.notifies.remove(key) else {
            return false;
        };
        self.blf_drop(&sk, "NOTIFY not answered");
        true
    }

    /// What `seat` shows now.
    pub(super) fn blf_view(&self, seat: &str) -> Option<DialogView> {
        let state = &self.acd.seat(seat)?.state;
        dialog_info::view(state, |call| self.callbacks.contains_key(call))
    }

    /// Sends the subscription's next NOTIFY: active, or terminated with
    /// `reason`.
    pub(super) fn blf_notify(&mut self, now: Instant, sk: &SubKey, reason: Option<&str>) {
        let Some(watched) = self.blf.subs.get(sk).map(|s| s.watched.clone()) else {
            return;
        };
        let current = self.blf_view(&watched);
        let Some(sub) = self.blf.subs.get_mut(sk) else {
            return;
        };
        // The dialog now, or the one shown before, ended.
        let report = current
            .clone()
            .or_else(|| sub.shown.as_ref().map(DialogView::terminated));
        sub.shown = current;
        let proto = sub.dialog.flow.proto;
        let local = self.config.local_addr(Side::Phones, proto);
        let entity = format!("sip:{watched}@{local}");
        let body = dialog_info::body(&entity, sub.version, report.as_ref());
        sub.version += 1;
        let state = match reason {
            None => format!(
                "active;expires={}",
                sub.expires.saturating_duration_since(now).as_secs()
            ),
            Some(reason) => format!("terminated;reason={reason}"),
        };
        let event = match &sub.event_id {
            Some(id) => format!("dialog;id={id}"),
            None => "dialog".to_string(),
        };
        let flow = sub.dialog.flow;
        let Some(mut notify) = sub.dialog.request(Method::NOTIFY, local, None) else {
            return;
        };
        let transport = proto.via_name().to_ascii_lowercase();
        notify.headers.insert(Name::EVENT, event);
        notify.headers.insert(Name::SUBSCRIPTION_STATE, state);
        notify.headers.insert(
            Name::CONTACT,
            format!("<sip:{watched}@{local};transport={transport}>"),
        );
        let notify =
            self.decorate(notify.with_body("application/dialog-info+xml", Bytes::from(body)));
        if let Some(key) = self.tx.send_request(now, &notify, flow) {
            self.blf.notifies.insert(key, sk.clone());
        }
    }

    /// Ends a subscription with a last NOTIFY (terminated with `reason`).
    pub(super) fn blf_end(&mut self, now: Instant, sk: &SubKey, reason: &str) {
        self.blf_notify(now, sk, Some(reason));
        self.blf.expiry.cancel(sk);
        self.blf.subs.remove(sk);
    }

    /// Forgets a subscription whose watcher no longer answers.
    pub(super) fn blf_drop(&mut self, sk: &SubKey, why: &str) {
        self.blf.expiry.cancel(sk);
        if let Some(s) = self.blf.subs.remove(sk) {
            tracing::info!(watcher = %s.watcher, watched = %s.watched, why, "BLF subscription dropped");
        }
    }
}
