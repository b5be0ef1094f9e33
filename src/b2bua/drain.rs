//! Stopping without cutting calls (SIGTERM): hotline first *drains*, then
//! hangs up what is left.
//!
//! ```text
//!  running --Drain--> draining --(no live call, or the deadline)--> HangUpAll
//!                      new INVITEs (trunk or phones): 503 + Retry-After,
//!                      so the trunk fails over; click-to-call refused;
//!                      calls in progress, registrations and in-dialog
//!                      requests go on as before
//! ```
//!
//! [`Engine::hang_up_all`] ends every call still live: answered ones get
//! BYE on both sides (`hangup_by` `system`), waiting or ringing ones a 503
//! (`rejected`), callbacks are stopped; each record says why. The server
//! drives the timing (`crate::server`); the engine only decides.

use super::Engine;
use crate::model::{HangupBy, Outcome};
use crate::sip::Message;
use crate::sip::transaction::TxKey;
use std::time::Instant;

/// What a caller is told while hotline drains: try again (elsewhere).
const RETRY_AFTER_SECS: u32 = 30;

impl Engine {
    /// Stops taking new calls; returns how many are still live.
    pub(super) fn start_draining(&mut self) -> usize {
        if !self.draining {
            self.draining = true;
            tracing::warn!(
                live = self.live_count(),
                "draining: new calls get 503 while the calls in progress finish"
            );
        }
        self.live_count()
    }

    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Calls and callbacks not ended yet.
    pub fn live_count(&self) -> usize {
        self.calls.values().filter(|c| c.ended.is_none()).count()
            + self
                .callbacks
                .values()
                .filter(|c| c.ended.is_none())
                .count()
    }

    /// While draining, a new call (an INVITE outside a dialog) is refused
    /// with 503 and Retry-After; true if it was.
    pub(super) fn refused_while_draining(
        &mut self,
        now: Instant,
        key: &TxKey,
        msg: &Message,
    ) -> bool {
        if !self.draining {
            return false;
        }
        tracing::info!(remote = ?msg.call_id(), "503 to a new call: hotline is stopping");
        let mut resp = Message::response_to(msg, 503, None)
            .with_reason("Service Unavailable (hotline is stopping)");
        resp.headers.insert(
            ezk_sip_types::Name::RETRY_AFTER,
            RETRY_AFTER_SECS.to_string(),
        );
        let resp = self.decorate(resp);
        self.tx.send_response(now, key, resp);
        true
    }

    /// Ends every live call and callback now, `reason` on each record;
    /// returns how many there were.
    pub(super) fn hang_up_all(&mut self, now: Instant, reason: &str) -> usize {
        let mut ids: Vec<String> = self
            .calls
            .values()
            .filter(|c| c.ended.is_none())
            .map(|c| c.id.clone())
            .collect();
        ids.sort();
        for id in &ids {
            let Some(call) = self.calls.get(id) else {
                continue;
            };
            let (seat, answered) = (call.seat.clone(), call.inbound.answered);
            if answered {
                self.cancel_prompt_timers(id);
                self.bye_inbound(now, id);
                if let Some(seat) = &seat {
                    self.hang_up_leg(now, id, seat);
                }
                self.end_call(
                    now,
                    id,
                    Outcome::Answered,
                    Some(HangupBy::System),
                    Some(reason.to_string()),
                );
                self.acd.call_withdrawn(now, id, reason);
            } else {
                self.answer_inbound(
                    now,
                    id,
                    503,
                    Some("Service Unavailable (hotline is stopping)"),
                    None,
                );
                self.end_call(
                    now,
                    id,
                    Outcome::Rejected,
                    Some(HangupBy::System),
                    Some(reason.to_string()),
                );
                self.acd.call_withdrawn(now, id, reason);
            }
        }
        let callbacks: Vec<String> = self
            .callbacks
            .values()
            .filter(|c| c.ended.is_none())
            .map(|c| c.id.clone())
            .collect();
        for id in &callbacks {
            self.stop_callback(now, id, reason);
        }
        if !ids.is_empty() || !callbacks.is_empty() {
            tracing::warn!(
                calls = ids.len(),
                callbacks = callbacks.len(),
                reason,
                "hung up the calls still in progress"
            );
        }
        ids.len() + callbacks.len()
    }
}
