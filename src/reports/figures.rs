//! The figures of one report row: the sums the database returns and the
//! rates computed from them, as docs/metrics.md defines them. Pure
//! arithmetic; the tests check the worked example of that document.

use std::collections::BTreeMap;

/// Sums over the calls of one row (docs/metrics.md, "Call figures").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub answered: i64,
    /// Abandoned after waiting at least the short-abandon threshold.
    pub abandoned: i64,
    /// Abandoned before the short-abandon threshold.
    pub short_abandoned: i64,
    pub rejected: i64,
    pub failed: i64,
    /// Rows by queue: calls that left this queue by overflow (part of
    /// offered). Other rows: calls that overflowed at least once (each also
    /// counted under its final outcome).
    pub overflowed: i64,
    /// Whether `overflowed` is part of `offered` (rows by queue).
    pub overflow_is_outcome: bool,
    /// Not finished yet: in no other figure.
    pub in_progress: i64,
    /// Answered with `wait_ms <= T`.
    pub answered_in_sl: i64,
    /// Sum of `wait_ms` over the answered calls.
    pub answered_wait_ms: i64,
    /// Sum of `talk_ms` over the answered calls.
    pub talk_ms: i64,
    /// Time seats spent in wrap-up after these calls.
    pub wrapup_ms: i64,
    /// The longest `wait_ms` of a finished call; `None` with no call.
    pub longest_wait_ms: Option<i64>,
}

impl CallCounts {
    /// Finished calls offered: the outcomes add up to it.
    pub fn offered(&self) -> i64 {
        let base =
            self.answered + self.abandoned + self.short_abandoned + self.rejected + self.failed;
        if self.overflow_is_outcome {
            base + self.overflowed
        } else {
            base
        }
    }

    /// `answered / (offered - short_abandoned)`.
    pub fn answer_rate(&self) -> Option<f64> {
        ratio(self.answered, self.offered() - self.short_abandoned)
    }

    /// `answered within T / offered`.
    pub fn service_level(&self) -> Option<f64> {
        ratio(self.answered_in_sl, self.offered())
    }

    /// Asterisk's form: `answered within T / answered`.
    pub fn service_level_answered(&self) -> Option<f64> {
        ratio(self.answered_in_sl, self.answered)
    }

    /// Average speed of answer.
    pub fn asa_ms(&self) -> Option<i64> {
        mean(self.answered_wait_ms, self.answered)
    }

    pub fn avg_talk_ms(&self) -> Option<i64> {
        mean(self.talk_ms, self.answered)
    }

    /// Average handle time: talk plus wrap-up per answered call.
    pub fn aht_ms(&self) -> Option<i64> {
        mean(self.talk_ms + self.wrapup_ms, self.answered)
    }

    /// Adds `other`'s sums to these (merging rows).
    pub fn add(&mut self, other: &CallCounts) {
        self.answered += other.answered;
        self.abandoned += other.abandoned;
        self.short_abandoned += other.short_abandoned;
        self.rejected += other.rejected;
        self.failed += other.failed;
        self.overflowed += other.overflowed;
        self.overflow_is_outcome |= other.overflow_is_outcome;
        self.in_progress += other.in_progress;
        self.answered_in_sl += other.answered_in_sl;
        self.answered_wait_ms += other.answered_wait_ms;
        self.talk_ms += other.talk_ms;
        self.wrapup_ms += other.wrapup_ms;
        self.longest_wait_ms = match (self.longest_wait_ms, other.longest_wait_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Sums over one seat's agent-state spans and ring events (docs/metrics.md,
/// "Seat figures").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeatCounts {
    pub rung: i64,
    pub no_answer: i64,
    /// Calls answered: spans in `on_call` begun in the window.
    pub handled: i64,
    pub talk_ms: i64,
    pub wrapup_ms: i64,
    pub ringing_ms: i64,
    pub ready_ms: i64,
    /// Not-ready time by reason.
    pub not_ready: BTreeMap<String, i64>,
}

impl SeatCounts {
    pub fn not_ready_ms(&self) -> i64 {
        self.not_ready.values().sum()
    }

    pub fn aht_ms(&self) -> Option<i64> {
        mean(self.talk_ms + self.wrapup_ms, self.handled)
    }

    /// Time on calls over time available for calls.
    pub fn occupancy(&self) -> Option<f64> {
        let busy = self.talk_ms + self.wrapup_ms + self.ringing_ms;
        ratio(busy, busy + self.ready_ms)
    }

    /// Adds one span of `ms` in agent state `label` (`on_call`, `ready`,
    /// `not_ready:lunch`, ...); `begun` says whether it began in the
    /// window (only those count as handled calls). `logged_out` and
    /// unknown labels count nowhere.
    pub fn add_span(&mut self, label: &str, ms: i64, begun: i64) {
        match label {
            "on_call" => {
                self.talk_ms += ms;
                self.handled += begun;
            }
            "wrap_up" => self.wrapup_ms += ms,
            "ringing" => self.ringing_ms += ms,
            "ready" => self.ready_ms += ms,
            _ => {
                if let Some(reason) = label.strip_prefix("not_ready") {
                    let reason = reason
                        .strip_prefix(':')
                        .filter(|r| !r.is_empty())
                        .unwrap_or("other");
                    *self.not_ready.entry(reason.to_string()).or_default() += ms;
                }
            }
        }
    }

    pub fn add(&mut self, other: &SeatCounts) {
        self.rung += other.rung;
        self.no_answer += other.no_answer;
        self.handled += other.handled;
        self.talk_ms += other.talk_ms;
        self.wrapup_ms += other.wrapup_ms;
        self.ringing_ms += other.ringing_ms;
        self.ready_ms += other.ready_ms;
        for (reason, ms) in &other.not_ready {
            *self.not_ready.entry(reason.clone()).or_default() += ms;
        }
    }
}

/// `n / d`, or `None` when `d` is not positive.
pub fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// `sum / n` rounded to the nearest integer (halves away from zero), or
/// `None` when `n` is not positive.
pub fn mean(sum: i64, n: i64) -> Option<i64> {
    (n > 0).then(|| (sum as f64 / n as f64).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/metrics.md, worked example, non-emergency by class.
    fn non_emergency() -> CallCounts {
        CallCounts {
            answered: 3,
            abandoned: 1,
            short_abandoned: 1,
            rejected: 1,
            failed: 1,
            overflowed: 1,
            overflow_is_outcome: false,
            in_progress: 1,
            answered_in_sl: 1,
            answered_wait_ms: 110_000,
            talk_ms: 210_000,
            wrapup_ms: 15_000,
            longest_wait_ms: Some(600_000),
        }
    }

    #[test]
    fn the_worked_example_by_class() {
        let c = non_emergency();
        assert_eq!(c.offered(), 7);
        assert_eq!(c.answer_rate(), Some(0.5));
        assert_eq!(c.service_level(), Some(1.0 / 7.0));
        assert_eq!(c.service_level_answered(), Some(1.0 / 3.0));
        assert_eq!(c.asa_ms(), Some(36_667));
        assert_eq!(c.avg_talk_ms(), Some(70_000));
        assert_eq!(c.aht_ms(), Some(75_000));
    }

    #[test]
    fn overflow_is_part_of_offered_only_by_queue() {
        let mut citizen = non_emergency();
        citizen.answered = 2;
        citizen.overflow_is_outcome = true;
        assert_eq!(citizen.offered(), 7);
        assert_eq!(citizen.answer_rate(), Some(2.0 / 6.0));
    }

    #[test]
    fn nothing_to_answer_gives_no_rate() {
        let only_short = CallCounts {
            short_abandoned: 1,
            ..Default::default()
        };
        assert_eq!(only_short.offered(), 1);
        assert_eq!(only_short.answer_rate(), None);
        assert_eq!(only_short.service_level(), Some(0.0));
        assert_eq!(only_short.asa_ms(), None);
        assert_eq!(CallCounts::default().service_level(), None);
    }

    #[test]
    fn merging_rows_adds_sums_and_keeps_the_longest_wait() {
        let mut a = CallCounts {
            answered: 1,
            longest_wait_ms: Some(5),
            ..Default::default()
        };
        a.add(&CallCounts {
            answered: 2,
            longest_wait_ms: Some(9),
            ..Default::default()
        });
        a.add(&CallCounts::default());
        assert_eq!((a.answered, a.longest_wait_ms), (3, Some(9)));
    }

    #[test]
    fn seat_spans_sort_into_states_and_reasons() {
        let mut s = SeatCounts::default();
        s.add_span("ringing", 2_000, 1);
        s.add_span("on_call", 120_000, 1);
        s.add_span("wrap_up", 5_000, 1);
        s.add_span("ready", 73_000, 1);
        s.add_span("not_ready:lunch", 1_800_000, 1);
        s.add_span("not_ready:lunch", 600_000, 0);
        s.add_span("not_ready", 1_000, 1);
        s.add_span("logged_out", 9_999_999, 1);
        s.add_span("on_call", 10_000, 0); // begun before the window
        assert_eq!(s.handled, 1);
        assert_eq!(s.talk_ms, 130_000);
        assert_eq!(s.not_ready["lunch"], 2_400_000);
        assert_eq!(s.not_ready["other"], 1_000);
        assert_eq!(s.not_ready_ms(), 2_401_000);
        assert_eq!(s.aht_ms(), Some(135_000));
        assert_eq!(s.occupancy(), Some(137_000.0 / 210_000.0));
        assert_eq!(SeatCounts::default().occupancy(), None);
    }
}
