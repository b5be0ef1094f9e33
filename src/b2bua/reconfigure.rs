//! A reload applied to the running engine ([`Engine::handle_reconfigure`]):
//! lines, queues, seats and the other live settings change without
//! dropping a call.
//!
//! The new [`EngineConfig`] replaces the old one, but for what was set up
//! at start and stays: the local addresses, the transaction timers, the
//! digest realm and the RTP range (`crate::config::diff` refuses a reload
//! that changes them). New calls see the new config at once. Calls in
//! progress keep what they began with:
//! - their line (number, queue, class, tag) is their own copy;
//! - the prompts and reject codes of a line or queue the reload removed
//!   stay while a call still uses them;
//! - a seat the reload removed loses its credentials at once (its phone
//!   can neither register nor dial any more) but keeps its call: in-dialog
//!   requests need no credentials. The ACD lets it leave when the call is
//!   over, and its registration is dropped then.
//!
//! The calls of a removed queue that are not answered yet go to the queue
//! their line points at now (when the line is still there, of the same
//! class); the rest drain: `crate::acd::reconfigure` has the rules.

use super::{Engine, EngineConfig};
use crate::acd::Reconfigured;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

impl Engine {
    /// Takes a reload's config (validated, prompts loaded); returns what
    /// was left for later (calls moved, queues draining, seats leaving
    /// after their call), for the log.
    pub fn handle_reconfigure(&mut self, now: Instant, mut config: EngineConfig) -> Reconfigured {
        config.local = self.config.local.clone();
        config.timers = self.config.timers;
        config.auth = self.config.auth.clone();
        let live = || self.calls.values().filter(|c| c.ended.is_none());
        let queues_in_use: BTreeSet<String> = live().map(|c| c.queue.clone()).collect();
        let lines_in_use: BTreeSet<String> = live().map(|c| c.line.number.clone()).collect();
        if let (Some(old), Some(new)) = (self.config.media.as_ref(), config.media.as_mut()) {
            let new = std::sync::Arc::make_mut(new);
            new.ports = old.ports;
            for q in &queues_in_use {
                if let (false, Some(m)) = (new.queues.contains_key(q), old.queues.get(q)) {
                    new.queues.insert(q.clone(), m.clone());
                }
            }
            for l in &lines_in_use {
                if let (false, Some(m)) = (new.lines.contains_key(l), old.lines.get(l)) {
                    new.lines.insert(l.clone(), m.clone());
                }
            }
            if new.announcements.is_none() {
                new.announcements.clone_from(&old.announcements);
            }
            if new.survey.is_none() {
                new.survey.clone_from(&old.survey);
            }
        }
        for q in &queues_in_use {
            if let (false, Some(code)) = (
                config.reject_codes.contains_key(q),
                self.config.reject_codes.get(q),
            ) {
                config.reject_codes.insert(q.clone(), *code);
            }
        }
        let kept: BTreeSet<&str> = config.acd.queues.iter().map(|q| q.name.as_str()).collect();
        let reroute: HashMap<String, String> = live()
            .filter(|c| c.seat.is_none() && !kept.contains(c.queue.as_str()))
            .filter_map(|c| {
                let line = config.lines.get(&c.line.number)?;
                (line.class == c.line.class).then(|| (c.id.clone(), line.queue.clone()))
            })
            .collect();
        self.registrar.set_config(config.registrar);
        let (acd, auto_ready) = (config.acd.clone(), config.auto_ready);
        self.config = config;
        let report = self.acd.reconfigure(now, acd, auto_ready, &reroute);
        self.drain(now);
        report
    }
}
