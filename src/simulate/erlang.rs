//! Queueing predictions for a line's load on N seats: Erlang C (callers
//! wait as long as it takes) and Erlang A (callers give up after an
//! exponentially distributed patience), both with Poisson arrivals and
//! exponential handle times. Pure functions of the load.
//!
//! Erlang C: with offered load A = λ·AHT Erlangs on N seats (N > A),
//! the probability that a caller waits is
//! `C(N, A) = (A^N/N! · N/(N−A)) / (Σ_{k<N} A^k/k! + A^N/N! · N/(N−A))`,
//! and the service level (answered within T) is `1 − C·e^{−(N−A)·T/AHT}`,
//! the average speed of answer `C·AHT/(N−A)`.
//!
//! Erlang A (Palm's M/M/N+M): the number of callers in the system is a
//! birth-death chain, births λ, deaths `min(n, N)·μ + max(n−N, 0)·θ`
//! (μ = 1/AHT, θ = 1/mean patience). Its stationary distribution gives
//! the abandon rate; a caller arriving behind k others is answered within
//! T when the k+1 departures ahead of it (services, or abandons of those
//! ahead) all happen before T and before it gives up itself, a chain of
//! exponential phases computed here by uniformization.

/// What a model predicts for one load and one number of seats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Of offered calls, the share answered (1 − abandoned share).
    pub answer_rate: f64,
    /// Of offered calls, the share answered within the threshold.
    pub service_level: f64,
    /// Of offered calls, the share that had to wait at all.
    pub wait_probability: f64,
    /// Mean wait of answered calls, seconds.
    pub asa_secs: f64,
    /// Mean busy share of the seats.
    pub occupancy: f64,
}

/// The load: arrivals per second, mean handle time (talk + wrap-up and
/// the ring time before the answer), the service-level threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    pub arrivals_per_sec: f64,
    pub aht_secs: f64,
    pub sl_secs: f64,
}

impl Load {
    /// Offered load in Erlangs.
    pub fn erlangs(&self) -> f64 {
        self.arrivals_per_sec * self.aht_secs
    }
}

/// Erlang C on `seats`. With `seats` ≤ the load the queue grows without
/// end: every caller waits and nobody is answered within any threshold.
pub fn erlang_c(load: Load, seats: u32) -> Prediction {
    let a = load.erlangs();
    let n = seats as f64;
    if seats == 0 || n <= a {
        return Prediction {
            answer_rate: 1.0,
            service_level: 0.0,
            wait_probability: 1.0,
            asa_secs: f64::INFINITY,
            occupancy: 1.0,
        };
    }
    let c = wait_probability_c(a, seats);
    Prediction {
        answer_rate: 1.0,
        service_level: 1.0 - c * (-(n - a) * load.sl_secs / load.aht_secs).exp(),
        wait_probability: c,
        asa_secs: c * load.aht_secs / (n - a),
        occupancy: a / n,
    }
}

/// `C(N, A)` by the Erlang B recursion (stable for large N):
/// `B(0) = 1`, `B(k) = A·B(k−1) / (k + A·B(k−1))`, `C = N·B / (N − A(1 − B))`.
fn wait_probability_c(a: f64, seats: u32) -> f64 {
    let mut b = 1.0;
    for k in 1..=seats {
        b = a * b / (k as f64 + a * b);
    }
    let n = seats as f64;
    n * b / (n - a * (1.0 - b))
}

/// Erlang A on `seats` with callers' mean patience `patience_secs`; an
/// infinite patience is Erlang C.
pub fn erlang_a(load: Load, seats: u32, patience_secs: f64) -> Prediction {
    if !patience_secs.is_finite() || patience_secs <= 0.0 {
        return erlang_c(load, seats);
    }
    let (lambda, mu, theta) = (
        load.arrivals_per_sec,
        1.0 / load.aht_secs,
        1.0 / patience_secs,
    );
    let n = seats as usize;
    // Truncate the chain where the queue's probability is negligible: the
    // queue drains at rate >= k·θ, so a few times λ/θ beyond N is plenty.
    let cap = n + ((lambda / theta) * 6.0 + 60.0).ceil() as usize;
    let death = |k: usize| (k.min(n) as f64) * mu + (k.saturating_sub(n) as f64) * theta;
    // Stationary distribution, in logs to stay finite.
    let mut log_p = vec![0.0f64; cap + 1];
    for k in 1..=cap {
        log_p[k] = log_p[k - 1] + lambda.ln() - death(k).ln();
    }
    let max = log_p.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = log_p.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    let p: Vec<f64> = weights.iter().map(|w| w / total).collect();

    let abandon_rate: f64 = p
        .iter()
        .enumerate()
        .map(|(k, pk)| pk * (k.saturating_sub(n) as f64) * theta)
        .sum();
    let abandoned = (abandon_rate / lambda).min(1.0);
    let wait_probability: f64 = p.iter().skip(n).sum();
    let busy: f64 = p
        .iter()
        .enumerate()
        .map(|(k, pk)| pk * k.min(n) as f64)
        .sum();
    // Arrivals see the stationary distribution (PASTA). One that finds k
    // ≥ N callers in the system has q = k − N ahead of it in the queue.
    let mut within = p.iter().take(n).sum::<f64>();
    let mut served_wait = 0.0;
    let mut served = within;
    for (k, pk) in p.iter().enumerate().skip(n) {
        if *pk < 1e-12 {
            continue;
        }
        let q = k - n;
        let (win, ever, mean_wait) = answered_from_queue(q, n as f64 * mu, theta, load.sl_secs);
        within += pk * win;
        served += pk * ever;
        served_wait += pk * mean_wait;
    }
    let asa = if served > 0.0 {
        served_wait / served
    } else {
        0.0
    };
    Prediction {
        answer_rate: 1.0 - abandoned,
        service_level: within.min(1.0),
        wait_probability,
        asa_secs: asa,
        occupancy: busy / n.max(1) as f64,
    }
}

/// For a caller with `q` callers ahead of it, seats finishing at rate
/// `service` (all busy) and everyone giving up at rate `theta` each:
/// (P(answered within `t`), P(answered at all), E[wait · 1{answered}]).
///
/// It is answered after q + 1 phases; in the phase with j callers still
/// ahead the next event comes at rate `r_j = service + (j + 1)·θ`, and
/// moves it on (a service or an abandon ahead) with probability
/// `(service + j·θ) / r_j`, else it gives up. Answered within t: the q + 1
/// phases complete (all moving on) by t, by uniformization.
fn answered_from_queue(q: usize, service: f64, theta: f64, t: f64) -> (f64, f64, f64) {
    let phases = q + 1;
    let rate = |j: usize| service + (j as f64 + 1.0) * theta;
    let on = |j: usize| (service + j as f64 * theta) / rate(j);
    // P(answered at all) and the mean wait when answered.
    let mut ever = 1.0;
    let mut mean = 0.0;
    for j in 0..=q {
        ever *= on(j);
        mean += 1.0 / rate(j);
    }
    // Uniformize at the fastest rate: each tick of a Poisson(Λ) clock
    // completes the current phase with probability r_j/Λ (moving on with
    // on(j), abandoning otherwise) or does nothing.
    let big = rate(q);
    let lt = big * t;
    // dist[i]: probability of having completed i phases, all moving on.
    let mut dist = vec![0.0f64; phases + 1];
    dist[0] = 1.0;
    let mut poisson = (-lt).exp();
    let mut done = if phases == 0 { 1.0 } else { 0.0 } * poisson;
    let ticks = (lt + 12.0 * lt.sqrt() + 30.0).ceil() as usize;
    for m in 1..=ticks {
        let mut next = vec![0.0f64; phases + 1];
        for i in 0..phases {
            let j = q - i; // callers still ahead in phase i
            let complete = rate(j) / big;
            next[i] += dist[i] * (1.0 - complete);
            next[i + 1] += dist[i] * complete * on(j);
        }
        next[phases] += dist[phases];
        dist = next;
        poisson *= lt / m as f64;
        done += poisson * dist[phases];
    }
    (done.min(ever), ever, ever * mean)
}

/// The fewest seats whose prediction meets both targets, searching up to
/// `max_seats`.
pub fn seats_needed(
    max_seats: u32,
    target_sl: f64,
    target_answer_rate: f64,
    predict: impl Fn(u32) -> Prediction,
) -> Option<u32> {
    (1..=max_seats).find(|&n| {
        let p = predict(n);
        p.service_level >= target_sl && p.answer_rate >= target_answer_rate
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// The textbook case: 360 calls an hour (0.1/s) of 180 s each is 18
    /// Erlangs... here 100 calls per half hour of 180 s: 10 Erlangs.
    fn ten_erlangs() -> Load {
        Load {
            arrivals_per_sec: 100.0 / 1800.0,
            aht_secs: 180.0,
            sl_secs: 20.0,
        }
    }

    #[test]
    fn erlang_c_matches_the_textbook_example() {
        // 10 Erlangs on 11 agents: P(wait) 68.2%, SL(20 s) 39.0%, ASA 122.8 s.
        let p = erlang_c(ten_erlangs(), 11);
        assert!(close(p.wait_probability, 0.6821, 0.0005), "{p:?}");
        assert!(close(p.service_level, 0.3897, 0.001), "{p:?}");
        assert!(close(p.asa_secs, 122.8, 0.2), "{p:?}");
        assert!(close(p.occupancy, 10.0 / 11.0, 1e-9));
        // 14 agents reach 80/20: 13 do not.
        assert!(erlang_c(ten_erlangs(), 14).service_level >= 0.80);
        assert!(erlang_c(ten_erlangs(), 13).service_level < 0.80);
        assert_eq!(
            seats_needed(100, 0.80, 0.0, |n| erlang_c(ten_erlangs(), n)),
            Some(14)
        );
    }

    #[test]
    fn too_few_seats_for_erlang_c_means_an_endless_queue() {
        let p = erlang_c(ten_erlangs(), 10);
        assert_eq!((p.service_level, p.wait_probability), (0.0, 1.0));
        assert!(p.asa_secs.is_infinite());
    }

    #[test]
    fn erlang_a_with_endless_patience_approaches_erlang_c() {
        let c = erlang_c(ten_erlangs(), 12);
        let a = erlang_a(ten_erlangs(), 12, 1.0e7);
        assert!(
            close(a.wait_probability, c.wait_probability, 0.002),
            "{a:?} {c:?}"
        );
        assert!(
            close(a.service_level, c.service_level, 0.003),
            "{a:?} {c:?}"
        );
        assert!(close(a.asa_secs, c.asa_secs, 1.0), "{a:?} {c:?}");
        assert!(a.answer_rate > 0.9999);
    }

    #[test]
    fn erlang_a_stays_finite_with_too_few_seats_and_abandons_grow_as_seats_shrink() {
        // Fivefold surge on 10 seats: 50 Erlangs. Erlang C has no answer;
        // with a mean patience of 60 s most callers give up.
        let surge = Load {
            arrivals_per_sec: 5.0 * 100.0 / 1800.0,
            ..ten_erlangs()
        };
        let p = erlang_a(surge, 10, 60.0);
        assert!(
            p.answer_rate > 0.15 && p.answer_rate < 0.25,
            "about 10/50 answered: {p:?}"
        );
        assert!(p.occupancy > 0.99);
        let mut last = 0.0;
        for n in [8, 10, 20, 40, 60] {
            let p = erlang_a(surge, n, 60.0);
            assert!(p.answer_rate >= last, "more seats, more answered");
            last = p.answer_rate;
        }
        // Enough seats: nearly all answered, nearly all within 20 s.
        let p = erlang_a(surge, 65, 60.0);
        assert!(p.answer_rate > 0.99 && p.service_level > 0.9, "{p:?}");
    }

    /// M/M/N+M first come first served, simulated call by call: a caller
    /// takes the first seat to come free unless its patience runs out
    /// first (callers who gave up take no seat). Returns (answered,
    /// answered within `sl`, waited) shares of the offered calls.
    fn simulate(
        load: Load,
        seats: usize,
        patience: f64,
        calls: usize,
        seed: u64,
    ) -> (f64, f64, f64) {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut exp = |mean: f64| -mean * (1.0 - rng.random::<f64>()).ln();
        let mut free_at = vec![0.0f64; seats];
        let (mut t, mut answered, mut within, mut waited) = (0.0, 0usize, 0usize, 0usize);
        for _ in 0..calls {
            t += exp(1.0 / load.arrivals_per_sec);
            let (seat, free) =
                free_at
                    .iter()
                    .cloned()
                    .enumerate()
                    .fold(
                        (0, f64::INFINITY),
                        |m, (i, f)| if f < m.1 { (i, f) } else { m },
                    );
            let wait = (free - t).max(0.0);
            if wait > 0.0 {
                waited += 1;
            }
            if wait > exp(patience) {
                continue; // gave up
            }
            answered += 1;
            if wait <= load.sl_secs {
                within += 1;
            }
            free_at[seat] = t + wait + exp(load.aht_secs);
        }
        let n = calls as f64;
        (answered as f64 / n, within as f64 / n, waited as f64 / n)
    }

    #[test]
    fn erlang_a_agrees_with_a_call_by_call_simulation_of_the_same_queue() {
        for (seats, patience) in [(10usize, 180.0), (9, 60.0), (12, 30.0)] {
            let load = ten_erlangs();
            let p = erlang_a(load, seats as u32, patience);
            let (answered, within, waited) = simulate(load, seats, patience, 400_000, 7);
            assert!(
                close(p.answer_rate, answered, 0.01),
                "{seats} seats, patience {patience}: {p:?} vs simulated {answered}"
            );
            assert!(
                close(p.service_level, within, 0.015),
                "{seats} seats, patience {patience}: {p:?} vs simulated {within}"
            );
            assert!(
                close(p.wait_probability, waited, 0.015),
                "{seats} seats, patience {patience}: {p:?} vs simulated {waited}"
            );
        }
    }

    #[test]
    fn phases_ahead_are_answered_in_order_and_never_more_than_at_all() {
        let (w0, e0, _) = answered_from_queue(0, 0.1, 1.0 / 60.0, 20.0);
        // One phase: answered if the seat frees before the caller gives up and before 20 s.
        let r = 0.1 + 1.0 / 60.0;
        let want = (0.1 / r) * (1.0 - (-r * 20.0f64).exp());
        assert!(close(w0, want, 1e-6), "{w0} {want}");
        assert!(close(e0, 0.1 / r, 1e-12));
        let (w5, e5, _) = answered_from_queue(5, 0.1, 1.0 / 60.0, 20.0);
        assert!(w5 < w0 && e5 < e0 && w5 <= e5);
    }
}
