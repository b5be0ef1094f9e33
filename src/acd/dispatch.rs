//! Matching waiting calls with ready seats.
//!
//! Calls are served in [`WaitKey`](super::WaitKey) order: higher queue
//! priority first, then the longest waiting. For each, the queue's member
//! seats that are ready, reachable and not skipping this call form the
//! candidates; only the lowest penalty among them counts (penalties are
//! tiers, as in Asterisk: a seat with a higher penalty is offered the call
//! only when no lower-penalty seat is ready); the strategy then picks one
//! seat of that tier, or all of them for ring-all.

use super::{Acd, Strategy};
use std::time::Instant;

impl Acd {
    /// Rings seats for waiting calls until no ready seat or no waiting call
    /// that it could take is left.
    pub(super) fn dispatch(&mut self, now: Instant) {
        // Every input ends here: seats and queues a reload removed leave
        // as soon as they are no longer busy.
        self.reap(now);
        if self.available.is_empty() || self.waiting.is_empty() {
            return;
        }
        let order: Vec<String> = self.waiting.values().cloned().collect();
        for call in order {
            if self.available.is_empty() {
                break;
            }
            // Ringing a seat takes it out of `available`.
            for seat in self.choose(now, &call) {
                self.ring(now, &call, &seat);
            }
        }
    }

    /// The seats to ring for `call` among the available members of its
    /// queue (only the queue's members are looked at, not every seat).
    fn choose(&mut self, now: Instant, call: &str) -> Vec<String> {
        let Some(entry) = self.calls.get(call) else {
            return Vec::new();
        };
        let skipped = |ext: &str| entry.skip.get(ext).is_some_and(|until| *until > now);
        if let Some(seat) = &entry.only_seat {
            // Transferred to this seat, member of the queue or not.
            return if self.available.contains(seat) && !skipped(seat) {
                vec![seat.clone()]
            } else {
                Vec::new()
            };
        }
        let Some(queue) = self.queues.get_mut(&entry.queue) else {
            return Vec::new();
        };
        let candidates: Vec<(usize, &String, u32)> = queue
            .members
            .iter()
            .enumerate()
            .filter(|(_, (ext, _))| self.available.contains(ext) && !skipped(ext))
            .map(|(i, (ext, p))| (i, ext, *p))
            .collect();
        let Some(best) = candidates.iter().map(|(_, _, p)| *p).min() else {
            return Vec::new();
        };
        let tier: Vec<(usize, &String)> = candidates
            .into_iter()
            .filter(|(_, _, p)| *p == best)
            .map(|(i, ext, _)| (i, ext))
            .collect();
        let seats = &self.seats;
        let picked: Vec<String> = match queue.config.strategy {
            Strategy::RingAll => tier.iter().map(|(_, ext)| (*ext).clone()).collect(),
            Strategy::LongestIdle => tier
                .iter()
                .min_by_key(|(_, ext)| (seats[*ext].idle_since, *ext))
                .map(|(_, ext)| (*ext).clone())
                .into_iter()
                .collect(),
            Strategy::FewestCalls => tier
                .iter()
                .min_by_key(|(_, ext)| (seats[*ext].calls_answered, seats[*ext].idle_since, *ext))
                .map(|(_, ext)| (*ext).clone())
                .into_iter()
                .collect(),
            Strategy::RoundRobin => {
                // The first tier member after the one rung last, cyclically.
                let last = queue
                    .rr_last
                    .as_ref()
                    .and_then(|l| queue.members.iter().position(|(ext, _)| ext == l));
                let after = |i: usize| match last {
                    Some(l) if i > l => i - l - 1,
                    Some(l) => i + queue.members.len() - l - 1,
                    None => i,
                };
                tier.iter()
                    .min_by_key(|(i, _)| after(*i))
                    .map(|(_, ext)| (*ext).clone())
                    .into_iter()
                    .collect()
            }
        };
        if queue.config.strategy == Strategy::RoundRobin
            && let Some(p) = picked.first()
        {
            queue.rr_last = Some(p.clone());
        }
        picked
    }
}
