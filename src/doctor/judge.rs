//! What the doctor's facts mean: pure functions from the config and
//! [`Facts`] to one [`Check`] line each, ok, warn or FAIL, saying what to
//! do. No IO here, so every verdict is tested without a network or disk
//! (`tests.rs`).

use super::facts::{Bind, Clock, Database, DbState, Dir, DirState, Facts, Listener, Proto};
use super::facts::{PromptFile, RtpRange, Running, TicketSink, Trunk};
use super::{Check, Status};
use crate::config::Config;
use crate::retention::human_bytes;

fn check(status: Status, topic: &'static str, text: impl Into<String>) -> Check {
    Check {
        status,
        topic,
        text: text.into(),
    }
}

/// Every verdict, in the order they print.
pub fn judge(path: &std::path::Path, config: &Config, f: &Facts) -> Vec<Check> {
    let mut out = vec![check(
        Status::Ok,
        "config",
        format!(
            "{}: valid: {} lines, {} queues, {} seats",
            path.display(),
            config.lines.len(),
            config.queues.len(),
            config.all_seats().len()
        ),
    )];
    out.push(user(f.euid, path));
    out.extend(f.listeners.iter().map(|l| listener(l, f.running.as_ref())));
    match &f.rtp {
        Some(r) => out.push(rtp(r, f.running.as_ref())),
        None => out.push(check(Status::Skip, "rtp", "no [media]: no RTP ports")),
    }
    out.push(open_files(f.nofile, f.rtp.as_ref()));
    if f.roots.is_empty() {
        out.push(check(
            Status::Skip,
            "recordings",
            "no [media]: nothing is recorded",
        ));
    }
    out.extend(f.roots.iter().map(root));
    out.push(database(&f.database));
    out.push(prompts(&f.prompts, config.media.is_some()));
    out.extend(trunks(&f.trunks));
    out.extend(f.tickets.iter().map(ticket_sink));
    out.extend(super::exposure::exposure(config));
    out.extend(clock(
        &f.clock,
        &f.database,
        &f.trunks,
        &config.reports.timezone,
    ));
    out
}

fn user(euid: u32, path: &std::path::Path) -> Check {
    if euid == 0 {
        return check(
            Status::Warn,
            "user",
            format!(
                "running as root, who may write anywhere: run the doctor as the service's user for the directory and file checks to mean something (sudo -u hotline hotline doctor --config {})",
                path.display()
            ),
        );
    }
    check(
        Status::Ok,
        "user",
        format!("uid {euid}: the checks below are this user's"),
    )
}

fn listener(l: &Listener, running: Option<&Running>) -> Check {
    let (key, addr) = (l.key, l.addr);
    let flag = if l.proto == Proto::Udp { "u" } else { "t" };
    let (status, text) = match (&l.bind, running) {
        (Bind::Free, _) => (Status::Ok, format!("{key} = {addr}: free")),
        (Bind::InUse, Some(r)) if key == "[http] listen" => (
            Status::Ok,
            format!(
                "{key} = {addr}: a running hotline answers there (health {}, version {})",
                r.status, r.version
            ),
        ),
        (Bind::InUse, Some(r)) => (
            Status::Ok,
            format!(
                "{key} = {addr}: in use, by the hotline answering at {} if it runs this config",
                r.at
            ),
        ),
        (Bind::InUse, None) => (
            Status::Fail,
            format!(
                "{key} = {addr}: in use by another program: stop it (`ss -{flag}lpn 'sport = :{}'` names it) or set another address in {key}",
                addr.port()
            ),
        ),
        (Bind::Denied, _) => (
            Status::Fail,
            format!(
                "{key} = {addr}: port {} is below 1024 and this user may not bind it: use 1024 or above (SIP 5060, HTTP 8080), or grant CAP_NET_BIND_SERVICE (AmbientCapabilities= in the unit)",
                addr.port()
            ),
        ),
        (Bind::NotLocal, _) => (
            Status::Fail,
            format!(
                "{key} = {addr}: {} is not an address of this host: use one `ip -brief address` lists, or 0.0.0.0 with [server] advertise",
                addr.ip()
            ),
        ),
        (Bind::Other(e), _) => (Status::Fail, format!("{key} = {addr}: cannot bind: {e}")),
    };
    check(status, "port", text)
}

fn rtp(r: &RtpRange, running: Option<&Running>) -> Check {
    let head = format!(
        "[media] rtp_port_min..rtp_port_max = {}..{} on {}",
        r.min, r.max, r.ip
    );
    let total = usize::from(r.max - r.min) + 1;
    if let Some((port, why)) = &r.other {
        let why = match why {
            Bind::Denied => "permission denied".to_string(),
            Bind::NotLocal => format!("{} is not an address of this host", r.ip),
            Bind::Other(e) => e.clone(),
            Bind::Free | Bind::InUse => String::new(),
        };
        return check(
            Status::Fail,
            "rtp",
            format!("{head}: cannot bind port {port}: {why}"),
        );
    }
    match (r.busy.len(), running) {
        (0, _) => check(
            Status::Ok,
            "rtp",
            format!(
                "{head}: all {total} ports free ({} calls at once)",
                total / 4
            ),
        ),
        (n, Some(r)) if n == total => check(
            Status::Ok,
            "rtp",
            format!(
                "{head}: in use, by the hotline answering at {} if it runs this config",
                r.at
            ),
        ),
        (n, _) => {
            let shown: Vec<String> = r.busy.iter().take(5).map(|p| p.to_string()).collect();
            let more = if n > 5 { ", ..." } else { "" };
            check(
                Status::Fail,
                "rtp",
                format!(
                    "{head}: {n} of {total} ports in use by other programs ({}{more}): move the range in [media] or stop them (`ss -ulpn` names them); hotline binds every port at start",
                    shown.join(", ")
                ),
            )
        }
    }
}

/// Sockets hotline needs beyond the RTP range: SIP over TCP, HTTP, the
/// database, recordings being written.
const FD_HEADROOM: u64 = 1024;

fn open_files(nofile: Option<u64>, rtp: Option<&RtpRange>) -> Check {
    let ports = rtp.map_or(0, |r| u64::from(r.max - r.min) + 1);
    let need = ports + FD_HEADROOM;
    match nofile {
        Some(n) if n < need => check(
            Status::Warn,
            "limits",
            format!(
                "open files limit {n} is below the {need} hotline may need ({ports} RTP/RTCP sockets, TCP connections, files): set LimitNOFILE=65536 (deploy/hotline.service does) or `ulimit -n 65536`"
            ),
        ),
        Some(n) => check(Status::Ok, "limits", format!("open files limit {n}")),
        None => check(Status::Ok, "limits", "open files limit: unlimited"),
    }
}

/// Free space under which a recordings root gets a warning.
const LOW_SPACE: u64 = 10_000_000_000;

fn root(d: &Dir) -> Check {
    let key = d.key;
    let path = match &d.resolved {
        Some(r) => format!("{} ({})", d.path.display(), r.display()),
        None => d.path.display().to_string(),
    };
    let bare = d.resolved.as_ref().unwrap_or(&d.path).display();
    let free = d
        .free_bytes
        .map(|b| format!(", {} free", human_bytes(b)))
        .unwrap_or_default();
    let (status, text) = match &d.state {
        DirState::Writable if d.free_bytes.is_some_and(|b| b < LOW_SPACE) => (
            Status::Warn,
            format!(
                "{key} = {path}: writable, but only{}: a recorded call takes about 2 MB a minute; free space or move the root",
                free.trim_start_matches(',')
            ),
        ),
        DirState::Writable => (Status::Ok, format!("{key} = {path}: writable{free}")),
        DirState::Missing(Ok(())) => (
            Status::Ok,
            format!(
                "{key} = {path}: not there yet; hotline creates it at the first recording{free}"
            ),
        ),
        DirState::Missing(Err(e)) => (
            Status::Fail,
            format!(
                "{key} = {path}: does not exist and cannot be created ({e}): create it for the service's user (install -d -o hotline -g hotline {bare}) or change {key}"
            ),
        ),
        DirState::NotDir => (
            Status::Fail,
            format!("{key} = {path}: not a directory: point {key} at one"),
        ),
        DirState::NotWritable(e) => (
            Status::Fail,
            format!(
                "{key} = {path}: not writable ({e}): let the service's user write there (chown -R hotline: {bare})"
            ),
        ),
    };
    check(status, "recordings", text)
}

fn database(db: &Database) -> Check {
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

fn prompts(files: &[PromptFile], media: bool) -> Check {
    if !media {
        return check(Status::Skip, "prompts", "no [media]: no prompts are played");
    }
    let bad: Vec<&PromptFile> = files.iter().filter(|f| f.read.is_err()).collect();
    match bad.first() {
        None => check(
            Status::Ok,
            "prompts",
            format!(
                "{} prompt files readable ({})",
                files.len(),
                human_bytes(files.iter().filter_map(|f| f.read.as_ref().ok()).sum())
            ),
        ),
        Some(f) => check(
            Status::Fail,
            "prompts",
            format!(
                "{} of {} prompt files cannot be read, first {} = {}: {}: the service's user must read them",
                bad.len(),
                files.len(),
                f.key,
                f.path.display(),
                f.read.as_ref().err().map_or("", |e| e.as_str())
            ),
        ),
    }
}

fn trunks(ts: &[Trunk]) -> Vec<Check> {
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

fn ticket_sink(t: &TicketSink) -> Check {
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

fn clock(c: &Clock, db: &Database, trunks: &[Trunk], tz: &str) -> Vec<Check> {
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
