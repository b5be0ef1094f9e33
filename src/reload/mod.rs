//! Live reload: SIGHUP and `POST /api/reload` read the config file again
//! and put what changed in force without dropping a call.
//!
//! ```text
//!  SIGHUP ----------+
//!  POST /api/reload +--> reload task (one reload at a time)
//!                          | Config::load(path)    refused: file, key, reason
//!                          | config::diff          refused: a key bound at start "needs a restart"
//!                          | runtime::engine_config (the prompts read again)
//!                          v
//!         engine task: Engine::handle_reconfigure (lines, queues, seats, ...)
//!         API: [http] tokens and [reports] (`Shared`), ticket workers restarted if theirs changed
//! ```
//! A refused reload changes nothing: the running config stays whole, and
//! the log and the API caller are told the file, the key and the reason.
//! What a reload changes is logged one line each (`reload: line 12349
//! added (queue epidemic, class non_emergency)`), and what it leaves for
//! later (a removed seat on a call, a removed queue draining) too.

mod shared;
mod tickets;

pub use shared::Shared;
pub use tickets::TicketSinks;

use crate::api::auth::Auth;
use crate::config::{Config, ConfigError};
use crate::reports::ReportSettings;
use crate::server::EngineHandle;
use crate::sip::{Proto, Side};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config is invalid, or changes a key that needs a restart;
    /// the running config stays.
    #[error(transparent)]
    Refused(#[from] ConfigError),
    /// hotline is shutting down.
    #[error("hotline is stopping; nothing was reloaded")]
    Stopped,
}

/// What a reload did: the changes, and what it left for later.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Reloaded {
    /// One line per change, as logged; empty: the file had no changes.
    pub changed: Vec<String>,
    /// Removed seats still on a call, removed queues still holding calls,
    /// callers moved out of a removed queue.
    pub pending: Vec<String>,
}

type Reply = oneshot::Sender<Result<Reloaded, ReloadError>>;

/// The API's way to ask for a reload.
#[derive(Clone)]
pub struct ReloadHandle {
    tx: mpsc::Sender<(String, Reply)>,
}

impl ReloadHandle {
    /// Reloads the config file now; `by` (who asked) goes to the log.
    pub async fn reload(&self, by: String) -> Result<Reloaded, ReloadError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((by, tx))
            .await
            .map_err(|_| ReloadError::Stopped)?;
        rx.await.map_err(|_| ReloadError::Stopped)?
    }
}

/// What the reload task keeps and updates.
pub struct Reloader {
    /// The file hotline was started with (relative to its working directory).
    pub path: PathBuf,
    /// The config in force.
    pub current: Config,
    /// The addresses the SIP listeners bound.
    pub bound: HashMap<(Side, Proto), SocketAddr>,
    pub engine: EngineHandle,
    pub auth: Shared<Auth>,
    pub reports: Shared<ReportSettings>,
    pub tickets: TicketSinks,
}

/// A channel for [`ReloadHandle`]s and its receiving end for [`run`].
pub fn channel() -> (ReloadHandle, mpsc::Receiver<(String, Reply)>) {
    let (tx, rx) = mpsc::channel(8);
    (ReloadHandle { tx }, rx)
}

/// SIGHUP, caught from the moment this is made (uncaught, it would end
/// hotline): [`serve`](crate::server::serve) makes it first thing.
pub struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    /// Starts catching SIGHUP; needs the tokio runtime.
    pub fn catch() -> Hangups {
        #[cfg(unix)]
        {
            let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
            if let Err(e) = &signal {
                tracing::warn!(error = %e, "cannot catch SIGHUP: reload with POST /api/reload");
            }
            Hangups {
                signal: signal.ok(),
            }
        }
        #[cfg(not(unix))]
        Hangups {}
    }

    /// The next SIGHUP; never, where there is none.
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(s) = self.signal.as_mut()
            && s.recv().await.is_some()
        {
            return;
        }
        std::future::pending().await
    }
}

/// The reload task: reloads on each SIGHUP and API request until
/// shutdown; returns the ticket workers for the shutdown to wait for.
pub async fn run(
    mut r: Reloader,
    mut hangups: Hangups,
    mut requests: mpsc::Receiver<(String, Reply)>,
    shutdown: CancellationToken,
) -> TicketSinks {
    tracing::info!(file = %r.path.display(), "SIGHUP or POST /api/reload reloads the config file");
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = hangups.next() => {
                let _ = r.reload("SIGHUP").await;
            }
            req = requests.recv() => {
                let Some((by, reply)) = req else { break };
                let _ = reply.send(r.reload(&by).await);
            }
        }
    }
    r.tickets
}

impl Reloader {
    /// One reload, asked for by `by`: all of it, or nothing.
    pub async fn reload(&mut self, by: &str) -> Result<Reloaded, ReloadError> {
        tracing::info!(file = %self.path.display(), by, "reload: reading the config file");
        let result = self.apply().await;
        match &result {
            Ok(done) if done.changed.is_empty() => tracing::info!(by, "reload: no changes"),
            Ok(done) => tracing::info!(by, changes = done.changed.len(), "reload: done"),
            Err(e) => tracing::error!(
                by,
                "reload refused: {e}; nothing was reloaded, the running config stays"
            ),
        }
        result
    }

    async fn apply(&mut self) -> Result<Reloaded, ReloadError> {
        let (path, bound, current) = (self.path.clone(), self.bound.clone(), self.current.clone());
        // Reading the file and the prompts is blocking work: off the runtime's threads.
        let prepared = tokio::task::spawn_blocking(move || {
            let new = Config::load(&path)?;
            let changes = crate::config::diff::diff(&current, &new, &path)?;
            let engine = crate::config::runtime::engine_config(&new, &bound).map_err(|reason| {
                ConfigError {
                    file: path.clone(),
                    key: "media".into(),
                    reason,
                }
            })?;
            Ok::<_, ConfigError>((new, changes, engine))
        })
        .await
        .map_err(|_| ReloadError::Stopped)?;
        let (new, changes, engine) = prepared?;
        let later = self
            .engine
            .reconfigure(engine)
            .await
            .map_err(|_| ReloadError::Stopped)?;
        self.auth.set(Auth::from_config(&new));
        self.reports.set(report_settings(&self.current, &new));
        self.tickets.update(&new);
        let mut done = Reloaded {
            changed: changes.iter().map(ToString::to_string).collect(),
            pending: Vec::new(),
        };
        for (call, from, to) in &later.moved {
            done.pending.push(format!(
                "call {call} moved from queue {from} (removed) to queue {to}"
            ));
        }
        for (queue, calls) in &later.draining {
            done.pending.push(format!(
                "queue {queue} drains: removed, it goes when its {calls} call(s) do"
            ));
        }
        for seat in &later.retiring {
            done.pending
                .push(format!("seat {seat} is on a call: removed when it ends"));
        }
        for line in done.changed.iter().chain(&done.pending) {
            tracing::info!("reload: {line}");
        }
        if !done.changed.is_empty() {
            crate::server::warn_public_demo(&new);
        }
        self.current = new;
        Ok(done)
    }
}

/// The reports' settings of `new`; seats and queues it removed keep their
/// class and service level, so that their past calls and states are still
/// counted as before.
fn report_settings(old: &Config, new: &Config) -> ReportSettings {
    let mut settings = crate::config::runtime::report_settings(new);
    for (seat, class) in old.seat_classes() {
        settings.seat_class.entry(seat).or_insert(class);
    }
    let before = crate::config::runtime::report_settings(old);
    for (queue, ms) in before.queue_service_level_ms {
        if !new.queues.iter().any(|q| q.name == queue) {
            settings.queue_service_level_ms.insert(queue, ms);
        }
    }
    settings
}
