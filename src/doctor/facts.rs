//! What `hotline doctor` finds out about the machine a config is to run
//! on, as plain data: the IO half of the doctor. [`gather`] runs the
//! looks (`look.rs`: bind a port and let it go, write and remove a probe
//! file, open the database without migrating it; `options.rs`: one
//! OPTIONS to each trunk); `judge.rs` decides what the facts mean.

use super::options::{OptionsAnswer, probe};
use super::{Options, look};
use crate::config::Config;
use crate::store::MigrationState;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Everything the doctor found out.
#[derive(Debug, Clone)]
pub struct Facts {
    /// A hotline answering `GET /api/health` on `[http] listen`.
    pub running: Option<Running>,
    pub listeners: Vec<Listener>,
    /// With `[media]`.
    pub rtp: Option<RtpRange>,
    /// The open-files limit (soft), if known.
    pub nofile: Option<u64>,
    /// The recordings roots (with `[media]`).
    pub roots: Vec<Dir>,
    pub database: Database,
    /// Every prompt file the config plays (with `[media]`).
    pub prompts: Vec<PromptFile>,
    pub trunks: Vec<Trunk>,
    pub tickets: Vec<TicketSink>,
    pub clock: Clock,
    /// The user the doctor runs as.
    pub euid: u32,
}

/// A running hotline, from its health answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// Where it answered.
    pub at: SocketAddr,
    pub status: String,
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

/// What binding an address gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Free,
    InUse,
    /// A port below 1024 without the capability.
    Denied,
    /// The address is not on this host.
    NotLocal,
    Other(String),
}

/// One listen address of the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// `[sip.phones] udp`, `[http] listen`, ...
    pub key: &'static str,
    pub proto: Proto,
    pub addr: SocketAddr,
    pub bind: Bind,
}

/// The RTP range, every port of it tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpRange {
    pub ip: IpAddr,
    pub min: u16,
    pub max: u16,
    /// Ports another socket holds.
    pub busy: Vec<u16>,
    /// The first other failure.
    pub other: Option<(u16, Bind)>,
}

/// A directory hotline writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dir {
    pub key: &'static str,
    /// As configured.
    pub path: PathBuf,
    /// Where that is, for a relative path (in the working directory).
    pub resolved: Option<PathBuf>,
    pub state: DirState,
    /// Free space where it is (or would be), for hotline's user.
    pub free_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirState {
    Writable,
    /// Not there; whether it can be made (the nearest existing parent is
    /// a writable directory), and if not why.
    Missing(Result<(), String>),
    NotDir,
    NotWritable(String),
}

/// The database, opened as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// `[store] url`, password hidden.
    pub shown: String,
    pub state: DbState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbState {
    /// A SQLite file not there yet: whether its directory is writable.
    NoFile(Result<(), String>),
    /// A SQLite file hotline's user may not write.
    ReadOnly(String),
    Unreachable(String),
    TimedOut(Duration),
    Open {
        migrations: MigrationState,
        newest_call_ms: Option<i64>,
        /// PostgreSQL's clock.
        server_now_ms: Option<i64>,
    },
}

/// A prompt file and whether it reads: its size, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptFile {
    pub key: String,
    pub path: PathBuf,
    pub read: Result<u64, String>,
}

/// One OPTIONS probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// `[outbound] trunk` or `--trunk`.
    pub key: &'static str,
    pub target: SocketAddr,
    /// The source address used.
    pub from: Option<SocketAddr>,
    pub answer: Result<OptionsAnswer, String>,
}

/// A ticket system hotline pushes events to: does it take a connection?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSink {
    pub key: &'static str,
    pub url: String,
    pub connect: Result<(), String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    pub now_ms: i64,
    /// When this hotline binary was written: a clock before it was reset.
    pub binary_ms: Option<i64>,
    /// `timedatectl`'s NTPSynchronized, if it answers.
    pub ntp_synced: Option<bool>,
}

/// Looks at everything `config` needs.
pub async fn gather(config: &Config, opts: &Options) -> Facts {
    let running = look::running(config).await;
    let mut listeners = Vec::new();
    let sip = [
        ("[sip.phones] udp", Proto::Udp, config.sip.phones.udp),
        ("[sip.phones] tcp", Proto::Tcp, config.sip.phones.tcp),
        ("[sip.trunk] udp", Proto::Udp, config.sip.trunk.udp),
        ("[sip.trunk] tcp", Proto::Tcp, config.sip.trunk.tcp),
        ("[http] listen", Proto::Tcp, Some(config.http.listen)),
    ];
    for (key, proto, addr) in sip {
        if let Some(addr) = addr {
            let bind = look::try_bind(proto, addr);
            listeners.push(Listener {
                key,
                proto,
                addr,
                bind,
            });
        }
    }
    let rtp = config.media.as_ref().map(|m| {
        let (phones, trunk) = (&config.sip.phones, &config.sip.trunk);
        let ips: std::collections::BTreeSet<IpAddr> =
            [phones.udp, phones.tcp, trunk.udp, trunk.tcp]
                .into_iter()
                .flatten()
                .map(|a| a.ip())
                .collect();
        let ip = match ips.iter().next() {
            Some(ip) if ips.len() == 1 => *ip,
            _ => IpAddr::from([0, 0, 0, 0]),
        };
        look::rtp_range(ip, m.rtp_port_min, m.rtp_port_max)
    });
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let mut roots = Vec::new();
    if config.media.is_some() {
        let r = &config.recordings;
        roots.push(look::dir("[recordings] root", &r.root));
        if let Some(e) = r.emergency_root.as_ref().filter(|e| **e != r.root) {
            roots.push(look::dir("[recordings] emergency_root", e));
        }
    }
    let targets: Vec<(&'static str, SocketAddr)> = config
        .outbound
        .iter()
        .map(|o| ("[outbound] trunk", o.trunk))
        .chain(opts.trunks.iter().map(|t| ("--trunk", *t)))
        .collect();
    let from_ip = config
        .sip
        .trunk
        .udp
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let ua = format!("{} doctor", config.server.name);
    let probes = targets.iter().map(|(key, target)| {
        let ua = ua.clone();
        async move {
            let (from, answer) =
                probe(*target, from_ip, config.server.advertise, &ua, opts.timeout).await;
            Trunk {
                key,
                target: *target,
                from,
                answer,
            }
        }
    });
    let (trunks, database, tickets) = tokio::join!(
        futures_util::future::join_all(probes),
        look::database(&config.store.url),
        look::tickets(config),
    );
    Facts {
        running,
        listeners,
        rtp,
        nofile,
        roots,
        database,
        prompts: look::prompts(config),
        trunks,
        tickets,
        clock: look::clock(),
        euid: rustix::process::geteuid().as_raw(),
    }
}
