//! The doctor's looks at the machine, each recorded as a fact of
//! `facts.rs` and changing nothing: a port bound and let go, a probe file
//! written and removed, the database opened without migrating it (a
//! missing SQLite file is not created), prompts read, a TCP connection to
//! each ticket system, the clock and the binary's age.

use super::facts::*;
use crate::config::Config;
use crate::store::{Backend, Store};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A hotline's answer to `GET /api/health` on `[http] listen`.
pub(super) async fn running(config: &Config) -> Option<Running> {
    let mut addr = config.http.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
            SocketAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        });
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .ok()?;
    let body: serde_json::Value = client
        .get(format!("http://{addr}/api/health"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(String::from);
    body.get("engine")?;
    Some(Running {
        at: addr,
        status: text("status")?,
        version: text("version").unwrap_or_default(),
    })
}

pub(super) fn try_bind(proto: Proto, addr: SocketAddr) -> Bind {
    let bound = match proto {
        Proto::Udp => std::net::UdpSocket::bind(addr).map(drop),
        Proto::Tcp => std::net::TcpListener::bind(addr).map(drop),
    };
    match bound {
        Ok(()) => Bind::Free,
        Err(e) => match e.kind() {
            ErrorKind::AddrInUse => Bind::InUse,
            ErrorKind::PermissionDenied => Bind::Denied,
            ErrorKind::AddrNotAvailable => Bind::NotLocal,
            _ => Bind::Other(e.to_string()),
        },
    }
}

/// Tries every port of the range (RTP and RTCP), one at a time.
pub(super) fn rtp_range(ip: IpAddr, min: u16, max: u16) -> RtpRange {
    let mut range = RtpRange {
        ip,
        min,
        max,
        busy: Vec::new(),
        other: None,
    };
    for port in min..=max {
        match try_bind(Proto::Udp, SocketAddr::new(ip, port)) {
            Bind::Free => {}
            Bind::InUse => range.busy.push(port),
            other => {
                range.other = Some((port, other));
                break;
            }
        }
    }
    range
}

/// Writes and removes a probe file in `dir`.
pub(super) fn write_probe(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(".hotline-doctor-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The nearest existing directory at or above `path` ("." for a
/// relative path with none).
fn nearest_existing(path: &Path) -> PathBuf {
    let mut p = path;
    while !p.exists() {
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent,
            _ => return PathBuf::from("."),
        }
    }
    p.to_path_buf()
}

pub(super) fn dir(key: &'static str, path: &Path) -> Dir {
    let state = match std::fs::metadata(path) {
        Ok(m) if !m.is_dir() => DirState::NotDir,
        Ok(_) => write_probe(path).map_or_else(DirState::NotWritable, |()| DirState::Writable),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            let above = nearest_existing(path);
            DirState::Missing(if above.is_dir() {
                write_probe(&above)
            } else {
                Err(format!("{} is not a directory", above.display()))
            })
        }
        Err(e) => DirState::NotWritable(e.to_string()),
    };
    let free_bytes = rustix::fs::statvfs(nearest_existing(path))
        .ok()
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize));
    let resolved = path
        .is_relative()
        .then(|| std::env::current_dir().ok().map(|d| d.join(path)))
        .flatten();
    Dir {
        key,
        path: path.to_path_buf(),
        resolved,
        state,
        free_bytes,
    }
}

/// The file a `sqlite:` URL names, unless in memory.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:" && !rest.contains("mode=memory"))
        .then(|| PathBuf::from(path))
}

/// How long the doctor waits for the database.
const DB_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn database(url: &str) -> Database {
    let shown = crate::store::redact_url(url);
    if let Some(file) = sqlite_path(url) {
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !file.exists() {
            let writable = if dir.is_dir() {
                write_probe(dir)
            } else {
                Err(format!("directory {} does not exist", dir.display()))
            };
            let state = DbState::NoFile(writable);
            return Database { shown, state };
        }
        let access = rustix::fs::access(&file, rustix::fs::Access::WRITE_OK)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))
            .and_then(|()| write_probe(dir));
        if let Err(why) = access {
            let state = DbState::ReadOnly(why);
            return Database { shown, state };
        }
    }
    let state = match tokio::time::timeout(DB_TIMEOUT, Store::open_existing(url)).await {
        Err(_) => DbState::TimedOut(DB_TIMEOUT),
        Ok(Err(e)) => DbState::Unreachable(e.to_string()),
        Ok(Ok(store)) => {
            let state = opened(&store).await;
            store.close().await;
            state
        }
    };
    Database { shown, state }
}

async fn opened(store: &Store) -> DbState {
    let migrations = match store.migration_state().await {
        Ok(m) => m,
        Err(e) => return DbState::Unreachable(e.to_string()),
    };
    let newest_call_ms = if migrations.is_empty_database() {
        None
    } else {
        store.newest_call_ms().await.ok().flatten()
    };
    let server_now_ms = match store.backend() {
        Backend::Postgres => sqlx::query_scalar::<sqlx::Any, i64>(
            "SELECT CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)",
        )
        .fetch_one(store.pool())
        .await
        .ok(),
        Backend::Sqlite => None,
    };
    DbState::Open {
        migrations,
        newest_call_ms,
        server_now_ms,
    }
}

/// Every prompt the config plays, read whole.
pub(super) fn prompts(config: &Config) -> Vec<PromptFile> {
    if config.media.is_none() {
        return Vec::new();
    }
    let mut wanted: Vec<(String, PathBuf)> = Vec::new();
    for (i, line) in config.lines.iter().enumerate() {
        wanted.push((format!("lines[{i}].welcome"), config.welcome_prompt(line)));
    }
    for (i, q) in config.queues.iter().enumerate() {
        wanted.push((format!("queues[{i}].music"), config.music_prompt(q)));
        if let Some(p) = config.reject_prompt(q) {
            wanted.push((format!("queues[{i}].reject_prompt"), p));
        }
    }
    let announcing = config
        .queues
        .iter()
        .position(|q| q.announce_every_secs > 0 && (q.announce_position || q.announce_wait));
    if let Some(i) = announcing {
        let key = format!("queues[{i}].announce_every_secs");
        wanted.extend(
            config
                .announcement_prompts()
                .into_iter()
                .map(|p| (key.clone(), p)),
        );
    }
    if let Some(i) = config.lines.iter().position(|l| l.survey) {
        let key = format!("lines[{i}].survey");
        wanted.extend(
            config
                .survey_prompts()
                .into_iter()
                .map(|p| (key.clone(), p)),
        );
    }
    let mut seen = std::collections::HashSet::new();
    wanted
        .into_iter()
        .filter(|(_, p)| seen.insert(p.clone()))
        .map(|(key, path)| {
            let read = std::fs::read(&path)
                .map(|b| b.len() as u64)
                .map_err(|e| e.to_string());
            PromptFile { key, path, read }
        })
        .collect()
}

/// Whether each ticket system takes a TCP connection.
pub(super) async fn tickets(config: &Config) -> Vec<TicketSink> {
    let sinks = [
        ("[tickets] url", config.tickets.as_ref()),
        ("[emergency_tickets] url", config.emergency_tickets.as_ref()),
    ];
    let mut out = Vec::new();
    for (key, sink) in sinks {
        let Some(t) = sink else { continue };
        out.push(TicketSink {
            key,
            url: t.url.clone(),
            connect: connect(&t.url).await,
        });
    }
    out
}

async fn connect(url: &str) -> Result<(), String> {
    let u = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let host = u.host_str().ok_or("no host")?.to_string();
    let port = u.port_or_known_default().ok_or("no port")?;
    let attempt = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port));
    match tokio::time::timeout(Duration::from_secs(3), attempt).await {
        Err(_) => Err("no answer within 3 s".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(_)) => Ok(()),
    }
}

pub(super) fn clock() -> Clock {
    let ms = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_millis() as i64)
    };
    let binary_ms = std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|m| m.modified())
        .ok()
        .and_then(ms);
    let ntp_synced = std::process::Command::new("timedatectl")
        .args(["show", "--property=NTPSynchronized", "--value"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| match String::from_utf8_lossy(&o.stdout).trim() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        });
    Clock {
        now_ms: ms(std::time::SystemTime::now()).unwrap_or(0),
        binary_ms,
        ntp_synced,
    }
}
