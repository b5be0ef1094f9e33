//! The doctor's verdicts on what hotline talks to: the database and its
//! migrations, the trunk's answer to OPTIONS, the ticket systems, and
//! the clock against the binary, NTP, the database server and the
//! trunk's `Date`. Pure functions, as in `judge.rs`.

use super::facts::{Clock, Database, DbState, TicketSink, Trunk};
use super::judge::check;
use super::{Check, Status};

/// The database: reachable, at which schema, and what to do if not.
pub(super) fn database(db: &Database) -> Check {
    let head = format!("[store] url = {}", db.shown);
    let (status, text) = match &db.state {
        DbState::NoFile(Ok(())) => (
            Status::Ok,
            format!("{head}: no database file yet; hotline serve creates it at its first start"),
        ),
        DbState::NoFile(Err(e)) => (
            Status::Fail,
            format!(
                "{head}: no database file, and none can be created ({e}): create the directory for the service's user, or change [store] url"
            ),
        ),
        DbState::ReadOnly(e) => (
            Status::Fail,
            format!(
                "{head}: {e}: the service's user must write the file and its directory (chown hotline: both)"
            ),
        ),
        // The store's message names the URL and what to do.
        DbState::Unreachable(e) => (Status::Fail, format!("[store] url: {e}")),
        DbState::TimedOut(d) => (
            Status::Fail,
            format!(
                "{head}: no answer within {} s: check that the database runs and that this host reaches it (host, port, firewall)",
                d.as_secs()
            ),
        ),
        DbState::Open { migrations: m, .. } if m.is_empty_database() => (
            Status::Ok,
            format!(
                "{head}: reachable, empty: hotline serve creates its tables at its first start"
            ),
        ),
        DbState::Open { migrations: m, .. } if !m.failed.is_empty() => (
            Status::Fail,
            format!(
                "{head}: migration {:?} failed half-way: restore the backup taken before the upgrade (deploy/BACKUP.md), then start hotline again",
                m.failed
            ),
        ),
        DbState::Open { migrations: m, .. } if !m.unknown.is_empty() => (
            Status::Fail,
            format!(
                "{head}: migrated by a newer hotline (versions {:?}), which this one refuses to start on: run that version, or restore a backup from before it",
                m.unknown
            ),
        ),
        DbState::Open { migrations: m, .. } if !m.changed.is_empty() => (
            Status::Fail,
            format!(
                "{head}: migrations {:?} differ from this hotline's (another build ran them): run that build, or restore a backup",
                m.changed
            ),
        ),
        DbState::Open { migrations: m, .. } if !m.pending.is_empty() => {
            let list: Vec<String> = m
                .pending
                .iter()
                .map(|(v, d)| format!("{v:04} {d}"))
                .collect();
            (
                Status::Warn,
                format!(
                    "{head}: reachable; {} migration(s) pending ({}): hotline serve applies them at its next start; back up the database first (deploy/BACKUP.md)",
                    list.len(),
                    list.join(", ")
                ),
            )
        }
        DbState::Open { migrations: m, .. } => (
            Status::Ok,
            format!(
                "{head}: reachable, schema current ({} migrations)",
                m.applied.len()
            ),
        ),
    };
    check(status, "database", text)
}

/// One line per trunk probed (a skip when there is none).
pub(super) fn trunks(ts: &[Trunk]) -> Vec<Check> {
    if ts.is_empty() {
        return vec![check(
            Status::Skip,
            "trunk",
            "no [outbound] trunk: callbacks are off, nothing to probe (--trunk ADDR probes a carrier's SBC)",
        )];
    }
    ts.iter().map(trunk).collect()
}

fn trunk(t: &Trunk) -> Check {
    let (key, target) = (t.key, t.target);
    let from = t
        .from
        .map_or_else(|| "this host".to_string(), |a| a.ip().to_string());
    let (status, text) = match &t.answer {
        Ok(a) => {
            let server = a
                .server
                .as_ref()
                .map(|s| format!(", {s}"))
                .unwrap_or_default();
            let head = format!(
                "{key} {target}: answered OPTIONS {} {} in {} ms{server}",
                a.code,
                a.reason,
                a.rtt.as_millis()
            );
            match a.code {
                200..=299 => (Status::Ok, head),
                404 | 405 | 420 | 501 => {
                    (Status::Ok, format!("{head}: up (it does not take OPTIONS)"))
                }
                401 | 403 | 407 => (
                    Status::Warn,
                    format!(
                        "{head}: up, but it refuses requests from {from}: ask the carrier to allow that address (hotline's calls come from it)"
                    ),
                ),
                _ => (
                    Status::Warn,
                    format!("{head}: up, but not well (busy or failing): ask the carrier"),
                ),
            }
        }
        Err(e) => (
            Status::Fail,
            format!(
                "{key} {target}: {e} (sent from {from}): check the address in {key}, that UDP to and from it passes the firewalls, and that the carrier expects hotline at {from}; callbacks fail until it answers"
            ),
        ),
    };
    check(status, "trunk", text)
}

/// A ticket system that takes no connection is a warning: events wait.
pub(super) fn ticket_sink(t: &TicketSink) -> Check {
    match &t.connect {
        Ok(()) => check(
            Status::Ok,
            "tickets",
            format!("{} = {}: takes connections", t.key, t.url),
        ),
        Err(e) => check(
            Status::Warn,
            "tickets",
            format!(
                "{} = {}: cannot connect ({e}): call events wait in the outbox and are retried; check the ticket system and the way to it",
                t.key, t.url
            ),
        ),
    }
}

/// Differences beyond which clocks disagree.
const DB_SKEW_MS: i64 = 2_000;
const TRUNK_SKEW_MS: i64 = 10_000;

pub(super) fn clock(c: &Clock, db: &Database, trunks: &[Trunk], tz: &str) -> Vec<Check> {
    let tz = crate::reports::Tz::parse(tz).unwrap_or(crate::reports::Tz::CHINA);
    let at = |ms: i64| tz.format(ms - ms.rem_euclid(1000));
    let mut out = Vec::new();
    let fix = "set the clock and keep it synchronised (timedatectl set-ntp true, or chrony)";
    if let Some(b) = c.binary_ms.filter(|b| c.now_ms < b - 3_600_000) {
        out.push(check(
            Status::Fail,
            "clock",
            format!(
                "the clock says {}, before this hotline binary was written ({}): {fix}",
                at(c.now_ms),
                at(b)
            ),
        ));
    }
    if c.ntp_synced == Some(false) {
        out.push(check(
            Status::Warn,
            "clock",
            format!("not synchronised (timedatectl): call records, reports and signed links depend on the time; {fix}"),
        ));
    }
    if let DbState::Open {
        newest_call_ms,
        server_now_ms,
        ..
    } = &db.state
    {
        if let Some(n) = newest_call_ms.filter(|n| *n > c.now_ms + 60_000) {
            out.push(check(
                Status::Warn,
                "clock",
                format!(
                    "the newest call record ({}) is later than now ({}): the clock went back; {fix}",
                    at(n),
                    at(c.now_ms)
                ),
            ));
        }
        if let Some(s) = server_now_ms.filter(|s| (s - c.now_ms).abs() > DB_SKEW_MS) {
            out.push(check(
                Status::Warn,
                "clock",
                format!(
                    "the database server's clock is {:.1} s off this host's: {fix} on both",
                    (s - c.now_ms) as f64 / 1000.0
                ),
            ));
        }
    }
    for t in trunks {
        let Some(d) = t.answer.as_ref().ok().and_then(|a| a.date_ms) else {
            continue;
        };
        if (d - c.now_ms).abs() > TRUNK_SKEW_MS {
            out.push(check(
                Status::Warn,
                "clock",
                format!(
                    "{} {} says it is {}, {:.0} s off this host's clock: {fix}",
                    t.key,
                    t.target,
                    at(d),
                    (d - c.now_ms) as f64 / 1000.0
                ),
            ));
        }
    }
    if out.is_empty() {
        let ntp = match c.ntp_synced {
            Some(true) => "NTP synchronised",
            _ => "NTP state unknown (no timedatectl)",
        };
        out.push(check(
            Status::Ok,
            "clock",
            format!("{} ([reports] timezone); {ntp}", at(c.now_ms)),
        ));
    }
    out
}
