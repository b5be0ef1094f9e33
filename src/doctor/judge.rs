//! What the doctor's facts mean: pure functions from the config and
//! [`Facts`] to one [`Check`] line each, ok, warn or FAIL, saying what to
//! do. Here the machine itself (user, ports, RTP range, limits,
//! recordings roots, prompts); `peers.rs` judges what hotline talks to,
//! `exposure.rs` who can reach it. No IO, so every verdict is tested
//! without a network or disk (`tests.rs`).

use super::facts::{Bind, Dir, DirState, Facts, Listener, PromptFile, Proto, RtpRange, Running};
use super::{Check, Status, peers};
use crate::config::Config;
use crate::retention::human_bytes;

pub(super) fn check(status: Status, topic: &'static str, text: impl Into<String>) -> Check {
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
    out.push(peers::database(&f.database));
    out.push(prompts(&f.prompts, config.media.is_some()));
    out.extend(peers::trunks(&f.trunks));
    out.extend(f.tickets.iter().map(peers::ticket_sink));
    out.extend(super::exposure::exposure(config));
    out.extend(peers::clock(
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
