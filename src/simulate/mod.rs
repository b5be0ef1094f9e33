//! `hotline simulate`: seat phones and callers made of code drive a
//! running hotline over real SIP (`peers.rs`), and what queueing theory
//! predicts for the same load is printed beside what was observed
//! (`erlang.rs`: Erlang C, and Erlang A with abandonment).
//!
//! ```text
//!  per line: Poisson arrivals --> caller (INVITE to the trunk, patience, talk, BYE)
//!  per seat: phone (REGISTER, ring, answer after a delay, talk)      |
//!                                                       results --> observed figures per queue
//!  per queue: load (λ, AHT = ring + talk + wrap-up), seats, patience --> Erlang C / Erlang A
//! ```
//!
//! It answers "how many seats for a fivefold surge?" two ways: run the
//! surge against hotline (`--surge 5`), and read the seats Erlang A says
//! the surged load needs.

pub mod erlang;
pub mod peers;

use crate::config::Config;
use erlang::{Load, Prediction};
use peers::{CallPlan, CallResult, Ending, SeatPlan};
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Dialled number and calls per hour.
    pub lines: Vec<(String, f64)>,
    /// Extensions whose phones are simulated.
    pub seats: Vec<String>,
    /// Mean talk time (exponential).
    pub talk: Duration,
    /// Mean patience (exponential); `None`: callers never give up.
    pub patience: Option<Duration>,
    /// How long a seat rings before its agent picks up.
    pub answer_delay: Duration,
    /// How long calls keep arriving.
    pub duration: Duration,
    /// Multiplies every line's rate (a typhoon: 5).
    pub surge: f64,
    /// Send RTP (hotline hangs up answered calls whose RTP stops).
    pub media: bool,
    /// The service level's threshold.
    pub sl: Duration,
    pub seed: u64,
}

/// One queue's observed and predicted figures.
#[derive(Debug, Clone)]
pub struct QueueOutcome {
    pub queue: String,
    pub class: crate::model::LineClass,
    pub lines: Vec<String>,
    pub seats: u32,
    pub load: Load,
    pub patience_secs: f64,
    pub offered: u64,
    pub answered: u64,
    pub answered_within: u64,
    pub abandoned: u64,
    pub rejected: u64,
    pub failed: u64,
    pub wait_sum_secs: f64,
    pub erlang_c: Prediction,
    pub erlang_a: Prediction,
    /// Seats Erlang A says reach 80% within the threshold and 99% answered.
    pub seats_needed: Option<u32>,
}

impl QueueOutcome {
    pub fn answer_rate(&self) -> Option<f64> {
        (self.offered > 0).then(|| self.answered as f64 / self.offered as f64)
    }

    pub fn service_level(&self) -> Option<f64> {
        (self.offered > 0).then(|| self.answered_within as f64 / self.offered as f64)
    }

    pub fn asa_secs(&self) -> Option<f64> {
        (self.answered > 0).then(|| self.wait_sum_secs / self.answered as f64)
    }
}

/// The queues of the lines in `opts`, with their simulated seats, load and
/// the predictions for it; nothing is dialled.
pub fn plan(config: &Config, opts: &Options) -> Result<Vec<QueueOutcome>, String> {
    let seats = config.all_seats();
    let mut out: BTreeMap<String, QueueOutcome> = BTreeMap::new();
    for (number, per_hour) in &opts.lines {
        let line = config
            .lines
            .iter()
            .find(|l| &l.number == number)
            .ok_or_else(|| {
                let known: Vec<&str> = config.lines.iter().map(|l| l.number.as_str()).collect();
                format!(
                    "--lines: {number} is not a line of the config (its lines: {})",
                    known.join(", ")
                )
            })?;
        let queue = config
            .queues
            .iter()
            .find(|q| q.name == line.queue)
            .ok_or("a line without its queue")?;
        let entry = out.entry(queue.name.clone()).or_insert_with(|| {
            let n = seats
                .iter()
                .filter(|s| {
                    opts.seats.contains(&s.extension)
                        && s.queues.iter().any(|m| m.queue == queue.name)
                })
                .count() as u32;
            let aht = opts.answer_delay.as_secs_f64()
                + opts.talk.as_secs_f64()
                + queue.wrapup_secs as f64;
            QueueOutcome {
                queue: queue.name.clone(),
                class: queue.class,
                lines: Vec::new(),
                seats: n,
                // The caller's wait includes the ring before the agent
                // picks up; the models' wait ends when a seat is taken.
                load: Load {
                    arrivals_per_sec: 0.0,
                    aht_secs: aht,
                    sl_secs: (opts.sl.as_secs_f64() - opts.answer_delay.as_secs_f64()).max(0.0),
                },
                patience_secs: opts.patience.map_or(f64::INFINITY, |p| p.as_secs_f64()),
                offered: 0,
                answered: 0,
                answered_within: 0,
                abandoned: 0,
                rejected: 0,
                failed: 0,
                wait_sum_secs: 0.0,
                erlang_c: erlang::erlang_c(
                    Load {
                        arrivals_per_sec: 0.0,
                        aht_secs: aht,
                        sl_secs: 0.0,
                    },
                    0,
                ),
                erlang_a: erlang::erlang_c(
                    Load {
                        arrivals_per_sec: 0.0,
                        aht_secs: aht,
                        sl_secs: 0.0,
                    },
                    0,
                ),
                seats_needed: None,
            }
        });
        entry.lines.push(number.clone());
        entry.load.arrivals_per_sec += per_hour * opts.surge / 3600.0;
    }
    for q in out.values_mut() {
        q.erlang_c = erlang::erlang_c(q.load, q.seats);
        q.erlang_a = erlang::erlang_a(q.load, q.seats, q.patience_secs);
        let (load, patience) = (q.load, q.patience_secs);
        let most = (load.erlangs() * 3.0 + 20.0).ceil() as u32;
        q.seats_needed =
            erlang::seats_needed(most, 0.80, 0.99, |n| erlang::erlang_a(load, n, patience));
    }
    Ok(out.into_values().collect())
}

/// Runs the simulation against the hotline `config` describes (its phones
/// and trunk UDP addresses); prints progress to stderr every 10 s. Ctrl-C
/// ends it early, cleanly: calls are hung up, the seats unregistered (a
/// seat left registered at a dead port would be rung, found unreachable
/// and paused by the ACD).
pub async fn run(config: &Config, opts: &Options) -> anyhow::Result<Vec<QueueOutcome>> {
    let mut queues = plan(config, opts).map_err(anyhow::Error::msg)?;
    let phones = udp_target(config.sip.phones.udp, "sip.phones.udp")?;
    let trunk = udp_target(config.sip.trunk.udp, "sip.trunk.udp")?;
    let stop = CancellationToken::new();
    let stop_seats = CancellationToken::new();

    // The seat phones first, all registered before the first call.
    let all = config.all_seats();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut seat_tasks = Vec::new();
    for ext in &opts.seats {
        let seat = all
            .iter()
            .find(|s| &s.extension == ext)
            .ok_or_else(|| anyhow::anyhow!("--seats: no seat {ext} in the config"))?;
        let plan = SeatPlan {
            ext: ext.clone(),
            password: seat.password.clone(),
            hotline: phones,
            answer_delay: opts.answer_delay,
            media: opts.media,
        };
        seat_tasks.push(tokio::spawn(peers::seat(
            plan,
            stop_seats.clone(),
            ready_tx.clone(),
        )));
    }
    for _ in 0..opts.seats.len() {
        match ready_rx.recv().await {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                stop_seats.cancel();
                anyhow::bail!("{e}");
            }
            None => anyhow::bail!("the seat phones stopped"),
        }
    }
    eprintln!(
        "{} seat phones registered at {phones}; calls to {trunk} for {} s",
        opts.seats.len(),
        opts.duration.as_secs()
    );

    // Poisson arrivals per line.
    let (results_tx, mut results_rx) = mpsc::unbounded_channel::<CallResult>();
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    let mut arrivals: Vec<(f64, String)> = Vec::new();
    for (line, per_hour) in &opts.lines {
        let rate = per_hour * opts.surge / 3600.0;
        let mut t = 0.0;
        if rate <= 0.0 {
            continue;
        }
        loop {
            t += exp(&mut rng, 1.0 / rate);
            if t >= opts.duration.as_secs_f64() {
                break;
            }
            arrivals.push((t, line.clone()));
        }
    }
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let placed = arrivals.len();
    let start = tokio::time::Instant::now();
    let mut progress =
        tokio::time::interval_at(start + Duration::from_secs(10), Duration::from_secs(10));
    let mut ended: Vec<CallResult> = Vec::new();
    let mut next = 0;
    let drain_until =
        start + opts.duration + opts.talk * 4 + opts.patience.unwrap_or(Duration::from_secs(600));
    loop {
        let arrival = arrivals
            .get(next)
            .map(|(t, _)| start + Duration::from_secs_f64(*t));
        tokio::select! {
            _ = tokio::time::sleep_until(arrival.unwrap_or(drain_until)), if arrival.is_some() => {
                let line = arrivals[next].1.clone();
                next += 1;
                let call = CallPlan {
                    line,
                    caller: format!("1{}{:09}", rng.random_range(3..=9), rng.random_range(0..1_000_000_000u64)),
                    hotline: trunk,
                    patience: opts.patience.map(|p| Duration::from_secs_f64(exp(&mut rng, p.as_secs_f64()))),
                    talk: Duration::from_secs_f64(exp(&mut rng, opts.talk.as_secs_f64())),
                    media: opts.media,
                };
                tokio::spawn(peers::call(call, results_tx.clone(), stop.clone()));
            }
            Some(r) = results_rx.recv() => {
                ended.push(r);
                if ended.len() == placed && next == placed {
                    break;
                }
            }
            _ = progress.tick() => {
                let count = |f: fn(&Ending) -> bool| ended.iter().filter(|r| f(&r.ending)).count();
                eprintln!(
                    "{:>4} s: {next} calls placed, {} answered, {} abandoned, {} rejected, {} in progress",
                    start.elapsed().as_secs(),
                    count(|e| matches!(e, Ending::Answered { .. })),
                    count(|e| matches!(e, Ending::Abandoned { .. })),
                    count(|e| matches!(e, Ending::Rejected { .. } | Ending::Failed(_))),
                    next - ended.len(),
                );
            }
            _ = tokio::time::sleep_until(drain_until) => {
                eprintln!("{} calls still going long after the last arrival: hanging them up", next - ended.len());
                break;
            }
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted: hanging up {} calls and unregistering the seats", next - ended.len());
                break;
            }
        }
    }
    stop.cancel();
    // Calls cut short still report (answered ones as answered).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ended.len() < next {
        match tokio::time::timeout_at(deadline, results_rx.recv()).await {
            Ok(Some(r)) => ended.push(r),
            _ => break,
        }
    }
    stop_seats.cancel();
    for t in seat_tasks {
        let _ = t.await;
    }

    for r in &ended {
        let Some(q) = queues.iter_mut().find(|q| q.lines.contains(&r.line)) else {
            continue;
        };
        q.offered += 1;
        match &r.ending {
            Ending::Answered { wait } => {
                q.answered += 1;
                q.wait_sum_secs += wait.as_secs_f64();
                if *wait <= opts.sl {
                    q.answered_within += 1;
                }
            }
            Ending::Abandoned { .. } => q.abandoned += 1,
            Ending::Rejected { .. } => q.rejected += 1,
            Ending::Failed(why) => {
                q.failed += 1;
                tracing::warn!(line = %r.line, why, "simulated call failed");
            }
        }
    }
    Ok(queues)
}

fn udp_target(addr: Option<SocketAddr>, key: &str) -> anyhow::Result<SocketAddr> {
    let addr = addr.ok_or_else(|| anyhow::anyhow!("{key} is not set: simulate talks UDP"))?;
    Ok(if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    })
}

fn exp(rng: &mut rand::rngs::StdRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// The report: observed beside predicted, per queue, and the staffing the
/// load needs.
pub fn render(queues: &[QueueOutcome], opts: &Options, ran: bool) -> String {
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
    let secs = |x: f64| {
        if x.is_finite() {
            format!("{x:.0} s")
        } else {
            "endless".into()
        }
    };
    let sl = opts.sl.as_secs();
    let mut out = String::new();
    for q in queues {
        out += &format!(
            "\nqueue {} ({}): lines {}; {:.0} calls/h{}, handle time {:.0} s (ring {} s + talk {} s + wrap-up), {:.1} Erlangs on {} seats; patience {}\n",
            q.queue,
            q.class,
            q.lines.join(", "),
            q.load.arrivals_per_sec * 3600.0,
            if opts.surge != 1.0 {
                format!(" (x{} surge)", opts.surge)
            } else {
                String::new()
            },
            q.load.aht_secs,
            opts.answer_delay.as_secs(),
            opts.talk.as_secs(),
            q.load.erlangs(),
            q.seats,
            if q.patience_secs.is_finite() {
                format!("{:.0} s", q.patience_secs)
            } else {
                "endless".into()
            },
        );
        out += &format!(
            "  {:<10} {:>9} {:>12} {:>9} {:>10} {:>8}\n",
            "",
            "answered",
            format!("SL {sl} s"),
            "ASA",
            "waited",
            "offered"
        );
        if ran {
            out += &format!(
                "  {:<10} {:>9} {:>12} {:>9} {:>10} {:>8}   ({} abandoned, {} rejected, {} failed)\n",
                "observed",
                pct(q.answer_rate()),
                pct(q.service_level()),
                q.asa_secs().map_or("-".into(), secs),
                "",
                q.offered,
                q.abandoned,
                q.rejected,
                q.failed
            );
        }
        for (name, p) in [("Erlang C", q.erlang_c), ("Erlang A", q.erlang_a)] {
            if !p.asa_secs.is_finite() {
                out += &format!(
                    "  {name:<10} more load than seats: without callers giving up, the queue grows without end\n"
                );
                continue;
            }
            out += &format!(
                "  {:<10} {:>9} {:>12} {:>9} {:>10}\n",
                name,
                pct(Some(p.answer_rate)),
                pct(Some(p.service_level)),
                secs(p.asa_secs + opts.answer_delay.as_secs_f64()),
                pct(Some(p.wait_probability))
            );
        }
        out += &match q.seats_needed {
            Some(n) => format!(
                "  seats for {sl} s service level >= 80% and >= 99% answered at this load (Erlang A): {n}\n"
            ),
            None => {
                "  no number of seats up to three times the load reaches 80% and 99% answered\n"
                    .into()
            }
        };
    }
    if ran {
        out += "\nanswered and SL are shares of offered calls; Erlang C assumes callers never give up, Erlang A that they give up after an exponential patience.\n";
        out += &format!(
            "The waits include the {} s the seat rings before the agent picks up, in the predictions too.\n",
            opts.answer_delay.as_secs()
        );
    }
    out
}

/// `12345=120/h,110=10/h` (also `/m` per minute).
pub fn parse_lines(s: &str) -> Result<Vec<(String, f64)>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (number, rate) = p
                .trim()
                .split_once('=')
                .ok_or_else(|| format!("{p:?}: write LINE=RATE/h, e.g. 12345=120/h"))?;
            let (n, unit) = rate.split_once('/').unwrap_or((rate, "h"));
            let n: f64 = n
                .trim()
                .parse()
                .map_err(|_| format!("{p:?}: {n:?} is not a number"))?;
            let per_hour = match unit.trim() {
                "h" => n,
                "m" | "min" => n * 60.0,
                other => return Err(format!("{p:?}: unit {other:?}: use /h or /m")),
            };
            if !(per_hour >= 0.0 && per_hour.is_finite()) {
                return Err(format!("{p:?}: a rate must be zero or more"));
            }
            Ok((number.trim().to_string(), per_hour))
        })
        .collect()
}

/// `8001-8010,8021` into extensions.
pub fn parse_seats(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (
                    a.parse().map_err(|_| format!("{part:?}: not a range"))?,
                    b.parse().map_err(|_| format!("{part:?}: not a range"))?,
                );
                if a > b || b - a > 10_000 {
                    return Err(format!("{part:?}: a range is FROM-TO with FROM <= TO"));
                }
                out.extend((a..=b).map(|e| e.to_string()));
            }
            None => out.push(part.to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Config {
        Config::from_str_at(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml"))
                .unwrap(),
            std::path::Path::new("demo.toml"),
        )
        .unwrap()
    }

    fn opts() -> Options {
        Options {
            lines: parse_lines("12345=150/h,12329=30/h,110=12/h").unwrap(),
            seats: parse_seats("8001-8010,8021-8022").unwrap(),
            talk: Duration::from_secs(120),
            patience: Some(Duration::from_secs(60)),
            answer_delay: Duration::from_secs(2),
            duration: Duration::from_secs(60),
            surge: 1.0,
            media: true,
            sl: Duration::from_secs(20),
            seed: 1,
        }
    }

    #[test]
    fn rates_and_seat_ranges_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_lines("12345=2/m, 110=10/h").unwrap(),
            [("12345".to_string(), 120.0), ("110".to_string(), 10.0)]
        );
        assert!(parse_lines("12345").unwrap_err().contains("LINE=RATE/h"));
        assert!(
            parse_lines("12345=fast/h")
                .unwrap_err()
                .contains("not a number")
        );
        assert_eq!(
            parse_seats("8001-8003,8021").unwrap(),
            ["8001", "8002", "8003", "8021"]
        );
        assert!(parse_seats("8003-8001").is_err());
    }

    #[test]
    fn lines_of_one_queue_add_up_and_each_class_keeps_its_own_queue() {
        let q = plan(&demo(), &opts()).unwrap();
        let names: Vec<&str> = q.iter().map(|q| q.queue.as_str()).collect();
        assert_eq!(names, ["citizen", "emergency"]);
        let citizen = &q[0];
        assert_eq!(citizen.lines, ["12345", "12329"]);
        assert!((citizen.load.arrivals_per_sec * 3600.0 - 180.0).abs() < 1e-9);
        // Ring 2 s + talk 120 s + the demo's 5 s wrap-up.
        assert_eq!(citizen.load.aht_secs, 127.0);
        assert_eq!(citizen.seats, 10);
        assert_eq!(q[1].seats, 2);
        assert_eq!(q[1].class, crate::model::LineClass::Emergency);
        // 6.35 Erlangs on 10 seats meets the target; a fivefold surge does not.
        assert!(citizen.erlang_a.service_level > 0.8);
        let surge = plan(
            &demo(),
            &Options {
                surge: 5.0,
                ..opts()
            },
        )
        .unwrap();
        assert!(
            surge[0].erlang_a.answer_rate < 0.5,
            "{:?}",
            surge[0].erlang_a
        );
        let needed = surge[0].seats_needed.unwrap();
        assert!(
            (32..=45).contains(&needed),
            "31.75 Erlangs need some 35-40 seats: {needed}"
        );
        let text = render(
            &surge,
            &Options {
                surge: 5.0,
                ..opts()
            },
            false,
        );
        assert!(
            text.contains("x5 surge")
                && text.contains(&format!("at this load (Erlang A): {needed}")),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_line_is_refused_with_the_known_ones() {
        let e = plan(
            &demo(),
            &Options {
                lines: parse_lines("999=1/h").unwrap(),
                ..opts()
            },
        )
        .unwrap_err();
        assert!(
            e.contains("999 is not a line") && e.contains("12345"),
            "{e}"
        );
    }
}
