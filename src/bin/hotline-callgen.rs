//! hotline-callgen: fills a hotline database with a city's year of
//! synthetic calls, for the report benchmark (scripts/bench-report.sh,
//! BENCHMARKS.md "Reports").
//!
//! The calls look like a 12345 center's: most in the day, few at night;
//! 8 % emergency (110/119/122); 88 % answered, 7 % abandoned (four in ten
//! of those short), 1.5 % rejected, 0.3 % failed; 3 % of citizen calls
//! overflow to a back-office queue. Seats take calls one at a time (the
//! one free longest, after a 2 s ring), with wrap-up, and go to lunch
//! for half an hour a day, so every seat's agent-state changes form a
//! consistent timeline. The event log holds what hotline would log:
//! enqueue, ring, connect, complete, abandon, reject, overflow and the
//! agent-state changes. Deterministic for a given `--seed`. PostgreSQL is
//! ANALYZEd afterwards (as autovacuum would soon), SQLite is not.
//!
//! ```text
//! hotline-callgen --url sqlite://bench.db [--calls 500000] [--days 365] [--end 2026-11-25] [--seed 1]
//! ```

use anyhow::{Context, bail};
use hotline::reports::{End, Interval, Tz, parse_bound};
use hotline::store::Backend;
use hotline::store::Store;
use sqlx::AssertSqlSafe;
use std::fmt::Write as _;

const S: i64 = 1_000;
const MIN: i64 = 60 * S;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// Calls per hour of the day, relative (a citizen hotline's day).
const HOURLY: [u32; 24] = [
    2, 1, 1, 1, 1, 2, 4, 8, 14, 18, 18, 16, 12, 14, 17, 17, 15, 12, 9, 7, 6, 5, 4, 3,
];

/// The backfill of migrations/*/0007_report_spans.sql.
const BACKFILL: &[&str] = &[
    "UPDATE queue_events SET until_ms = n.next_ms \
     FROM (SELECT id, LEAD(at_ms) OVER (PARTITION BY seat ORDER BY at_ms, id) AS next_ms \
     FROM queue_events WHERE kind = 'agent_state' AND seat IS NOT NULL) n \
     WHERE queue_events.id = n.id AND n.next_ms IS NOT NULL",
    "UPDATE calls SET wrapup_ms = w.ms \
     FROM (SELECT call_id, SUM(until_ms - at_ms) AS ms FROM queue_events \
     WHERE kind = 'agent_state' AND detail LIKE '%->wrap_up' AND call_id IS NOT NULL AND until_ms IS NOT NULL \
     GROUP BY call_id) w WHERE calls.id = w.call_id",
];

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.f() * (hi - lo) as f64) as i64
    }
}

struct Args {
    url: String,
    calls: u64,
    days: i64,
    end: String,
    seed: u64,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        url: String::new(),
        calls: 500_000,
        days: 365,
        end: "2026-11-25".into(),
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value()?,
            "--calls" => a.calls = value()?.parse().context("--calls")?,
            "--days" => a.days = value()?.parse().context("--days")?,
            "--end" => a.end = value()?,
            "--seed" => a.seed = value()?.parse().context("--seed")?,
            "-h" | "--help" => {
                println!(
                    "hotline-callgen --url sqlite://FILE|postgres://... [--calls 500000] [--days 365] [--end 2026-11-25] [--seed 1]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown option {other:?}; see --help"),
        }
    }
    if a.url.is_empty() {
        bail!("--url is required: the database to fill (sqlite://FILE or postgres://USER@HOST/DB)");
    }
    if a.days < 1 || a.calls == 0 {
        bail!("--calls and --days must be at least 1");
    }
    Ok(a)
}

/// A seat: when it is free again, and its daily lunch half-hour.
struct Seat {
    ext: String,
    free_at: i64,
    /// Lunch starts this long after local midnight.
    lunch_ms: i64,
}

/// Rows waiting to be inserted, as SQL value lists.
#[derive(Default)]
struct Batch {
    calls: Vec<String>,
    events: Vec<String>,
    n_calls: u64,
    n_events: u64,
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn opt(s: Option<&str>) -> String {
    s.map_or("NULL".into(), q)
}

impl Batch {
    fn event(
        &mut self,
        at: i64,
        call: Option<&str>,
        queue: Option<&str>,
        seat: Option<&str>,
        kind: &str,
        detail: Option<&str>,
    ) {
        self.events.push(format!(
            "({at}, {}, {}, {}, {}, {})",
            opt(call),
            opt(queue),
            opt(seat),
            q(kind),
            opt(detail)
        ));
    }

    async fn flush(&mut self, store: &Store) -> anyhow::Result<()> {
        let mut tx = store.pool().begin().await?;
        for chunk in self.calls.chunks(500) {
            let sql = format!(
                "INSERT INTO calls (id, sip_call_id, line, tag, class, caller, queue, seat, offered_at_ms, answered_at_ms, \
                 ended_at_ms, outcome, hangup_by, reason, wait_ms, talk_ms) VALUES {}",
                chunk.join(", ")
            );
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *tx).await?;
        }
        for chunk in self.events.chunks(1000) {
            let sql = format!(
                "INSERT INTO queue_events (at_ms, call_id, queue, seat, kind, detail) VALUES {}",
                chunk.join(", ")
            );
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.n_calls += self.calls.len() as u64;
        self.n_events += self.events.len() as u64;
        self.calls.clear();
        self.events.clear();
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let tz = Tz::CHINA;
    let end = parse_bound(&a.end, tz, 0, End::To).map_err(|e| anyhow::anyhow!("--end: {e}"))?;
    let start = end - a.days * DAY;
    let store = Store::connect(&a.url).await?;
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls")
        .fetch_one(store.pool())
        .await?;
    if existing > 0 {
        bail!(
            "the database already holds {existing} calls: give a fresh one (the benchmark's figures assume only these calls)"
        );
    }
    let mut rng = Rng(a.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut citizen: Vec<Seat> = (0..60)
        .map(|i| Seat {
            ext: format!("{}", 8001 + i),
            free_at: 0,
            lunch_ms: 11 * HOUR + 30 * MIN + (i % 4) * 30 * MIN,
        })
        .collect();
    let mut emergency: Vec<Seat> = (0..10)
        .map(|i| Seat {
            ext: format!("{}", 8101 + i),
            free_at: 0,
            lunch_ms: 11 * HOUR + 30 * MIN + (i % 4) * 30 * MIN,
        })
        .collect();
    let total_weight: u32 = HOURLY.iter().sum();
    let mut batch = Batch::default();
    let mut seq: u64 = 0;
    let t0 = std::time::Instant::now();
    for seat in citizen.iter().chain(emergency.iter()) {
        batch.event(
            start - HOUR,
            None,
            None,
            Some(&seat.ext),
            "agent_state",
            Some("logged_out->ready"),
        );
    }
    for day in 0..a.days {
        let day_start = start + day * DAY;
        // The day's lunches, as agent-state changes.
        for seat in citizen.iter().chain(emergency.iter()) {
            let l = day_start + seat.lunch_ms;
            batch.event(
                l,
                None,
                None,
                Some(&seat.ext),
                "agent_state",
                Some("ready->not_ready:lunch"),
            );
            batch.event(
                l + 30 * MIN,
                None,
                None,
                Some(&seat.ext),
                "agent_state",
                Some("not_ready:lunch->ready"),
            );
        }
        let n = a.calls / a.days as u64 + u64::from((day as u64) < a.calls % a.days as u64);
        let mut offers: Vec<i64> = (0..n)
            .map(|_| {
                let mut pick = rng.range(0, i64::from(total_weight)) as u32;
                let mut hour = 0;
                while pick >= HOURLY[hour] {
                    pick -= HOURLY[hour];
                    hour += 1;
                }
                day_start + hour as i64 * HOUR + rng.range(0, HOUR)
            })
            .collect();
        offers.sort_unstable();
        for offered in offers {
            seq += 1;
            let id = format!("bench-{seq:08}");
            let emerg = rng.f() < 0.08;
            let (line, tag) = if emerg {
                *[
                    ("110", "police"),
                    ("110", "police"),
                    ("110", "police"),
                    ("119", "fire"),
                    ("122", "traffic"),
                ]
                .get(rng.range(0, 5) as usize)
                .unwrap_or(&("110", "police"))
            } else {
                let r = rng.f();
                if r < 0.8 {
                    ("12345", "citizen-service")
                } else if r < 0.9 {
                    ("12329", "housing-fund")
                } else {
                    ("12333", "social-security")
                }
            };
            let class = if emerg { "emergency" } else { "non_emergency" };
            let mut queue = if emerg { "emergency" } else { "citizen" };
            batch.event(offered, Some(&id), Some(queue), None, "enqueue", None);
            let r = rng.f();
            let (outcome, mut wait, talk) = if r < 0.07 {
                let wait = if rng.f() < 0.4 {
                    rng.range(500, 5 * S)
                } else {
                    rng.range(5 * S, 120 * S)
                };
                ("abandoned", wait, 0)
            } else if r < 0.085 && !emerg {
                ("rejected", 600 * S, 0)
            } else if r < 0.088 {
                ("failed", rng.range(S, 30 * S), 0)
            } else {
                let base = if emerg {
                    rng.range(2 * S, 8 * S)
                } else {
                    rng.range(3 * S, 25 * S) + (rng.f() * rng.f() * 60.0 * S as f64) as i64
                };
                ("answered", base, rng.range(40 * S, 400 * S))
            };
            let overflow = outcome == "answered" && !emerg && rng.f() < 0.03;
            if overflow {
                batch.event(
                    offered + 60 * S,
                    Some(&id),
                    Some(queue),
                    None,
                    "overflow",
                    Some("to=backup; maximum wait reached"),
                );
                queue = "backup";
                batch.event(
                    offered + 60 * S,
                    Some(&id),
                    Some(queue),
                    None,
                    "enqueue",
                    None,
                );
                wait = wait.max(60 * S + 2 * S) + rng.range(0, 20 * S);
            }
            let mut seat_ext = None;
            let mut answered_at = None;
            let ended_at;
            if outcome == "answered" {
                let wrap = if emerg { 3 * S } else { 5 * S };
                let seats = if emerg { &mut emergency } else { &mut citizen };
                // The seat free soonest, outside its lunch.
                let want = offered + wait - 2 * S;
                let busy = 2 * S + talk + wrap;
                let ring_at = |s: &Seat| {
                    let t = want.max(s.free_at + S);
                    let lunch = Interval::Day.bucket_start(t, tz) + s.lunch_ms;
                    if t + busy > lunch && t < lunch + 30 * MIN {
                        lunch + 30 * MIN + S
                    } else {
                        t
                    }
                };
                // The earliest ring; among equals the seat idle longest.
                let (i, ring) = seats
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (i, ring_at(s)))
                    .min_by_key(|&(i, t)| (t, seats[i].free_at))
                    .unwrap_or((0, want));
                let seat = &mut seats[i];
                let answer = ring + 2 * S;
                wait = answer - offered;
                let end = answer + talk;
                seat.free_at = end + wrap;
                batch.event(ring, Some(&id), Some(queue), Some(&seat.ext), "ring", None);
                batch.event(
                    ring,
                    Some(&id),
                    None,
                    Some(&seat.ext),
                    "agent_state",
                    Some("ready->ringing"),
                );
                batch.event(
                    answer,
                    Some(&id),
                    Some(queue),
                    Some(&seat.ext),
                    "connect",
                    Some(&format!("waited_ms={wait}")),
                );
                batch.event(
                    answer,
                    Some(&id),
                    None,
                    Some(&seat.ext),
                    "agent_state",
                    Some("ringing->on_call"),
                );
                batch.event(
                    end,
                    Some(&id),
                    Some(queue),
                    Some(&seat.ext),
                    "complete",
                    Some("caller"),
                );
                batch.event(
                    end,
                    Some(&id),
                    None,
                    Some(&seat.ext),
                    "agent_state",
                    Some("on_call->wrap_up"),
                );
                batch.event(
                    end + wrap,
                    None,
                    None,
                    Some(&seat.ext),
                    "agent_state",
                    Some("wrap_up->ready"),
                );
                seat_ext = Some(seat.ext.clone());
                answered_at = Some(answer);
                ended_at = end;
            } else {
                ended_at = offered + wait;
                match outcome {
                    "abandoned" => batch.event(
                        ended_at,
                        Some(&id),
                        Some(queue),
                        None,
                        "abandon",
                        Some(&format!("waited_ms={wait}")),
                    ),
                    "rejected" => batch.event(
                        ended_at,
                        Some(&id),
                        Some(queue),
                        None,
                        "reject",
                        Some("all agents busy; maximum wait reached"),
                    ),
                    _ => {}
                }
            }
            let mut row = String::with_capacity(200);
            let _ = write!(
                row,
                "({}, {}, {}, {}, {}, {}, {}, {}, {offered}, {}, {ended_at}, {}, {}, {}, {wait}, {talk})",
                q(&id),
                q(&format!("{id}@trunk")),
                q(line),
                q(tag),
                q(class),
                q(&format!("138{:08}", rng.range(0, 100_000_000))),
                q(queue),
                opt(seat_ext.as_deref()),
                answered_at.map_or("NULL".into(), |a| a.to_string()),
                q(outcome),
                if outcome == "answered" {
                    q("caller")
                } else {
                    "NULL".into()
                },
                if outcome == "failed" {
                    q("interrupted")
                } else {
                    "NULL".into()
                },
            );
            batch.calls.push(row);
            if batch.calls.len() >= 20_000 {
                batch.flush(&store).await?;
                eprint!(
                    "\r{} calls, {} events ({:.0} s)",
                    batch.n_calls,
                    batch.n_events,
                    t0.elapsed().as_secs_f64()
                );
            }
        }
    }
    batch.flush(&store).await?;
    // What the store keeps as each state change is written (migration
    // 0007): when each state ended, and each call's wrap-up. Bulk rows
    // bypass it; the migration's own backfill fills them the same way.
    let t1 = std::time::Instant::now();
    for stmt in BACKFILL {
        sqlx::raw_sql(AssertSqlSafe(*stmt))
            .execute(store.pool())
            .await
            .context("filling until_ms and wrapup_ms")?;
    }
    eprintln!(
        "\rstate ends and wrap-ups filled in {:.1} s",
        t1.elapsed().as_secs_f64()
    );
    eprintln!(
        "\r{} calls, {} events in {:.1} s",
        batch.n_calls,
        batch.n_events,
        t0.elapsed().as_secs_f64()
    );
    if store.backend() == Backend::Postgres {
        // What autovacuum does shortly after a bulk load; SQLite gets no
        // statistics (hotline never runs ANALYZE on it).
        sqlx::raw_sql("ANALYZE").execute(store.pool()).await?;
    }
    store.close().await;
    println!(
        "{} calls, {} events, offered {} to {}",
        batch.n_calls,
        batch.n_events,
        tz.format(start),
        tz.format(end)
    );
    Ok(())
}
