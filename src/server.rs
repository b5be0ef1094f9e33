//! `hotline serve`: wires the IO edges to the engine and runs them until
//! shutdown.
//!
//! One task drives the sans-IO [`Engine`]: it waits for an inbound
//! message, an API request or the engine's next timer, feeds it in, then
//! sends what the engine wants sent and hands records to the store writer.
//! A reload (`crate::reload`: SIGHUP, `POST /api/reload`) reaches it as one
//! more request.

use crate::b2bua::{Command, Engine, LiveCall, Record, Timebase};
use crate::config::Config;
use crate::sip::Side;
use crate::sip::registrar::Binding;
use crate::sip::transport::{Inbound, Listeners, Transports};
use crate::store::{Store, StoreCmd, WriterHandle};
use anyhow::Context;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// A point-in-time view of the engine for the API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshot {
    pub acd: crate::acd::AcdSnapshot,
    pub calls: Vec<LiveCall>,
    pub registrations: Vec<(String, Vec<Binding>)>,
    /// Calls whose media is running or still finishing its recording.
    pub media_busy: usize,
    /// Stopping: new calls are refused.
    pub draining: bool,
}

enum Request {
    Snapshot(oneshot::Sender<Snapshot>),
    Command(Command, oneshot::Sender<Result<(), crate::b2bua::Refused>>),
    Reconfigure(
        Box<crate::b2bua::EngineConfig>,
        oneshot::Sender<crate::acd::Reconfigured>,
    ),
}

/// The API's way into the engine task.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Request>,
    /// Bumped whenever the engine emitted a record or an event (a call
    /// arrived, rang, was answered or ended; an agent changed state): the
    /// live views (`/api/stats/stream`) look again.
    changes: tokio::sync::watch::Receiver<u64>,
}

impl EngineHandle {
    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Request::Snapshot(tx)).await.ok()?;
        rx.await.ok()
    }

    /// A receiver that wakes on each change of the engine's live state.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.clone()
    }

    pub async fn command(&self, cmd: Command) -> Result<(), CommandError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Command(cmd, tx))
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await
            .map_err(|_| CommandError::Stopped)?
            .map_err(CommandError::Refused)
    }

    /// A reload's new config for the engine ([`Engine::handle_reconfigure`]).
    pub async fn reconfigure(
        &self,
        config: crate::b2bua::EngineConfig,
    ) -> Result<crate::acd::Reconfigured, CommandError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Reconfigure(Box::new(config), tx))
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await.map_err(|_| CommandError::Stopped)
    }
}

/// Why a command from the API did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The engine task has ended (shutting down).
    #[error("the engine is not running")]
    Stopped,
    /// The engine refused it (no such seat, ...).
    #[error(transparent)]
    Refused(crate::b2bua::Refused),
}

pub(crate) fn unix_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs hotline until SIGINT/SIGTERM; SIGHUP reloads `path` (the file
/// `config` was read from).
pub async fn serve(config: Config, path: std::path::PathBuf) -> anyhow::Result<()> {
    // From here on a SIGHUP means "reload", not the end of hotline.
    let hangups = crate::reload::Hangups::catch();
    warn_public_demo(&config);
    let store = Store::connect(&config.store.url).await.with_context(|| {
        format!(
            "opening the database ([store] url = {:?})",
            config.store.url
        )
    })?;
    let closed = store
        .close_interrupted(unix_ms_now(), "interrupted")
        .await?;
    if closed > 0 {
        tracing::warn!(
            calls = closed,
            "closed call records left open by an earlier crash"
        );
    }
    for root in config
        .recordings
        .roots()
        .into_iter()
        .filter(|_| config.media.is_some())
    {
        let scanned = root.clone();
        let fixed =
            tokio::task::spawn_blocking(move || crate::media::wav::finalise_unfinished(&scanned))
                .await?;
        match fixed {
            Ok(fixed) if !fixed.is_empty() => {
                tracing::warn!(
                    recordings = fixed.len(),
                    "finalised recordings left unfinished by an earlier crash"
                );
                for info in &fixed {
                    // Recordings are named after their call id.
                    let Some(id) = info.path.file_stem().and_then(|s| s.to_str()) else {
                        continue;
                    };
                    let media = crate::model::CallMedia {
                        recording: Some(info.into()),
                        recording_error: Some(
                            "hotline stopped before the call ended; the recording ends there"
                                .into(),
                        ),
                        media_stats: None,
                    };
                    if let Err(e) = store.attach_call_media(id, &media).await {
                        tracing::error!(call = id, error = %e, "cannot attach a repaired recording to its call record");
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(root = %root.display(), error = %e, "cannot scan the recordings root for unfinished files")
            }
        }
    }
    match store.add_missing_call_ended().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            events = n,
            "call.ended events added for calls whose media an earlier stop cut short"
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot add the call.ended events an earlier stop left out")
        }
    }
    let writer = crate::store::Writer::spawn(store.clone(), config.store.buffer);
    let shutdown = CancellationToken::new();
    let mut listeners = Listeners::default();
    for (side, l) in [
        (
            Side::Phones,
            (&config.sip.phones.udp, &config.sip.phones.tcp),
        ),
        (Side::Trunk, (&config.sip.trunk.udp, &config.sip.trunk.tcp)),
    ] {
        if let Some(a) = l.0 {
            listeners.udp.push((side, *a));
        }
        if let Some(a) = l.1 {
            listeners.tcp.push((side, *a));
        }
    }
    let (transports, inbound) = Transports::bind(&listeners, shutdown.clone(), 65_536).await?;
    let engine_config = crate::config::runtime::engine_config(&config, &transports.local)
        .map_err(anyhow::Error::msg)?;
    let timebase = Timebase {
        instant: Instant::now(),
        unix_ms: unix_ms_now(),
    };
    let engine = Engine::new(engine_config, timebase, rand::random());
    let media = MediaSide::bind(&config, &transports).await?;
    let (req_tx, req_rx) = mpsc::channel(1024);
    let (changed, changes) = tokio::sync::watch::channel(0u64);
    let handle = EngineHandle {
        tx: req_tx,
        changes,
    };
    let engine_task = tokio::spawn(run_engine(
        engine,
        inbound,
        req_rx,
        transports.clone(),
        EngineOutputs {
            writer: writer.clone(),
            changed,
        },
        media,
        shutdown.clone(),
    ));
    for ((side, proto), addr) in transports.local.iter() {
        tracing::info!(?side, ?proto, %addr, "SIP listening");
    }
    let auth = crate::reload::Shared::new(crate::api::auth::Auth::from_config(&config));
    let reports = crate::reload::Shared::new(crate::config::runtime::report_settings(&config));
    let (reload, reload_requests) = crate::reload::channel();
    // The ticket system's events: delivered after the records they
    // describe are committed (the worker reads committed rows only).
    let tickets = crate::reload::TicketSinks::start(&config, store.clone(), shutdown.clone());
    let reloader = crate::reload::Reloader {
        path,
        current: config.clone(),
        bound: (*transports.local).clone(),
        engine: handle.clone(),
        auth: auth.clone(),
        reports: reports.clone(),
        tickets,
    };
    let reload_task = tokio::spawn(crate::reload::run(
        reloader,
        hangups,
        reload_requests,
        shutdown.clone(),
    ));
    let drain_handle = handle.clone();
    let api = crate::api::router(crate::api::AppState {
        engine: handle,
        store: store.clone(),
        writer: writer.clone(),
        recordings: config.recordings.clone(),
        auth,
        reports,
        reload,
        today: Default::default(),
        provision: crate::api::provision::ProvisionState::from_config(
            &config,
            Some(&transports.local),
        ),
    });
    let http = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot bind HTTP {} ([http] listen)", config.http.listen))?;
    tracing::info!(addr = %config.http.listen, "HTTP API listening");
    let api_shutdown = shutdown.clone();
    let api_task = tokio::spawn(async move {
        axum::serve(
            http,
            api.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(api_shutdown.cancelled_owned())
        .await
    });
    tokio::spawn(sweep_recordings(
        store.clone(),
        config.recordings.clone(),
        shutdown.child_token(),
    ));
    wait_for_signal().await;
    drain(&drain_handle, Duration::from_secs(config.server.drain_secs)).await;
    tracing::info!("shutting down");
    shutdown.cancel();
    let _ = engine_task.await;
    let _ = api_task.await;
    flush_store(&writer).await;
    if let Ok(tickets) = reload_task.await {
        tickets.join().await;
    }
    Ok(())
}

/// Threads writing the calls' recordings (`crate::media::writer`): each
/// call's audio goes to one of them.
const RECORDING_WRITERS: usize = 2;

/// The IO side of hotline's media: every RTP port of the range and the
/// RTCP port above it, bound at start, the RTP worker threads running the
/// calls' media, and the recording writers.
struct MediaSide {
    /// By RTP port: its socket and the RTCP one (port + 1).
    idle: HashMap<u16, crate::media::driver::LegSockets>,
    /// `None` without `[media]`.
    workers: Option<crate::media::driver::RtpWorkers>,
    running: HashMap<String, crate::media::driver::MediaHandle>,
    /// Calls told to close whose `Closed` (recording finished) has not
    /// come back yet.
    closing: usize,
    events: mpsc::UnboundedReceiver<crate::media::driver::MediaEvent>,
}

impl MediaSide {
    /// Binds every even port of `[media]`'s range and the odd one above it
    /// (none without it), on the SIP listeners' address when both sides
    /// share one, and starts the RTP workers.
    async fn bind(config: &Config, transports: &Transports) -> anyhow::Result<MediaSide> {
        let (events_tx, events) = mpsc::unbounded_channel();
        let mut idle = HashMap::new();
        let mut workers = None;
        if let Some(m) = &config.media {
            let ips: std::collections::BTreeSet<std::net::IpAddr> =
                transports.local.values().map(|a| a.ip()).collect();
            let ip = match ips.iter().next() {
                Some(ip) if ips.len() == 1 => *ip,
                _ => std::net::IpAddr::from([0, 0, 0, 0]),
            };
            // The same even ports the engine's pool hands out.
            let mut ports = crate::media::ports::PortPool::new(m.rtp_port_min, m.rtp_port_max);
            while let Some(port) = ports.allocate() {
                let leg = crate::media::driver::LegSockets::bind(ip, port).with_context(|| {
                    format!("cannot bind RTP/RTCP ports {ip}:{port}/{} of [media] rtp_port_min..rtp_port_max: another program holds one; choose a free range", port + 1)
                })?;
                idle.insert(port, leg);
            }
            let recordings = crate::media::writer::Recordings::start(RECORDING_WRITERS);
            let threads = m.rtp_threads();
            workers = Some(
                crate::media::driver::RtpWorkers::start(threads, recordings, events_tx)
                    .context("cannot start the RTP worker threads")?,
            );
            tracing::info!(%ip, pairs = idle.len(), rtp_threads = threads, "RTP and RTCP ports bound");
        }
        Ok(MediaSide {
            idle,
            workers,
            running: HashMap::new(),
            closing: 0,
            events,
        })
    }

    fn carry_out(&mut self, out: crate::b2bua::MediaOut) {
        use crate::b2bua::MediaOut;
        use crate::media::driver::MediaCmd;
        match out {
            MediaOut::Open {
                call,
                caller_port,
                agent_port,
            } => {
                let (Some(c), Some(a), Some(workers)) = (
                    self.idle.remove(&caller_port),
                    self.idle.remove(&agent_port),
                    self.workers.as_mut(),
                ) else {
                    tracing::error!(%call, caller_port, agent_port, "media ports not bound; the call has no audio");
                    return;
                };
                let h = workers.spawn(call.as_str().into(), c, a);
                self.running.insert(call, h);
            }
            MediaOut::Cmd { call, cmd } => {
                let closing = matches!(cmd, MediaCmd::Close);
                let rekey = match &cmd {
                    MediaCmd::Rekey(new) => Some(new.to_string()),
                    _ => None,
                };
                if let Some(h) = self.running.get(&call) {
                    h.send(cmd);
                }
                if closing && self.running.remove(&call).is_some() {
                    self.closing += 1;
                }
                if let Some(new) = rekey
                    && let Some(h) = self.running.remove(&call)
                {
                    self.running.insert(new, h);
                }
            }
        }
    }

    /// A closed call's sockets go back to the idle pool, emptied of
    /// whatever arrived for the old call.
    fn take_back(
        &mut self,
        ev: crate::media::driver::MediaEvent,
    ) -> crate::media::driver::MediaEvent {
        use crate::media::driver::MediaEvent;
        let MediaEvent::Closed(mut closed) = ev else {
            return ev;
        };
        self.closing = self.closing.saturating_sub(1);
        let mut buf = [0u8; 2048];
        for leg in std::mem::take(&mut closed.sockets) {
            for sock in [&leg.rtp, &leg.rtcp] {
                while sock.recv_from(&mut buf).is_ok() {}
            }
            self.idle.insert(leg.port, leg);
        }
        MediaEvent::Closed(closed)
    }
}

/// The graceful stop (`crate::b2bua` `drain.rs`): new calls get 503 at
/// once; the calls in progress may finish for up to `within`
/// (`[server] drain_secs`); whatever is left then (or at a second signal)
/// is hung up, with the reason on its record. Returns once no call is
/// live and every call's media has closed and its recording is finished
/// (at most a few seconds after the hang-up).
async fn drain(engine: &EngineHandle, within: Duration) {
    if engine.command(Command::Drain).await.is_err() {
        return;
    }
    let started = tokio::time::Instant::now();
    let deadline = started + within;
    let mut last_said = started;
    let mut hung_up_at: Option<tokio::time::Instant> = None;
    loop {
        let Some(snap) = engine.snapshot().await else {
            return;
        };
        let live = snap.calls.len();
        if live == 0 && snap.media_busy == 0 {
            tracing::info!(
                waited_ms = started.elapsed().as_millis() as u64,
                "drained: no call in progress"
            );
            return;
        }
        let now = tokio::time::Instant::now();
        if let Some(at) = hung_up_at {
            if now.duration_since(at) > Duration::from_secs(5) {
                tracing::warn!(
                    live,
                    media = snap.media_busy,
                    "calls still closing 5 s after the hang-up; stopping anyway"
                );
                return;
            }
        } else if now >= deadline {
            let reason = format!(
                "hotline stopped: the call was still in progress after the {} s drain ([server] drain_secs)",
                within.as_secs()
            );
            let _ = engine.command(Command::HangUpAll { reason }).await;
            hung_up_at = Some(now);
        } else if now.duration_since(last_said) >= Duration::from_secs(5) || last_said == started {
            last_said = now;
            tracing::warn!(
                live,
                left_secs = deadline.saturating_duration_since(now).as_secs(),
                "draining: new calls get 503; waiting for the calls in progress to end (stop hotline again to hang them up now)"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = wait_for_signal(), if hung_up_at.is_none() => {
                let reason = "hotline stopped: stopped again while draining".to_string();
                let _ = engine.command(Command::HangUpAll { reason }).await;
                hung_up_at = Some(tokio::time::Instant::now());
            }
        }
    }
}

/// Waits until every record and event has reached the database, saying
/// every few seconds what it waits for; a second signal stops waiting.
async fn flush_store(writer: &WriterHandle) {
    let flushed = writer.shutdown();
    tokio::pin!(flushed);
    let mut every = tokio::time::interval(Duration::from_secs(5));
    every.tick().await;
    loop {
        tokio::select! {
            _ = &mut flushed => return,
            _ = every.tick() => {
                let st = writer.status();
                tracing::warn!(
                    pending = st.pending,
                    database_down = st.degraded,
                    "still writing call records to the database before exiting; stop hotline again to exit now (the unwritten records are then lost; calls left open are closed as interrupted at the next start)"
                );
            }
            _ = wait_for_signal() => {
                tracing::error!(lost = writer.status().pending, "exiting without writing the remaining records and events");
                return;
            }
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Engine wake-ups are rounded up to this grid, so that timers falling due
/// within the same few milliseconds are handled by one
/// [`Engine::handle_timeout`]. That call costs more than its timers: it also
/// walks the registrations and runs the ACD's dispatch, and under load the
/// transaction layer alone has several deadlines per call (many already
/// cancelled). SIP's timers count in hundreds of milliseconds (T1 = 500 ms);
/// a timer is never late by more than this.
const WAKE_GRANULARITY: Duration = Duration::from_millis(5);

/// `deadline` rounded up to the next multiple of [`WAKE_GRANULARITY`] after
/// `epoch`.
fn coarse_deadline(epoch: Instant, deadline: Instant) -> Instant {
    let g = WAKE_GRANULARITY.as_nanos();
    let since = deadline.saturating_duration_since(epoch).as_nanos();
    let slots = since.div_ceil(g);
    epoch + Duration::from_nanos(u64::try_from(slots * g).unwrap_or(u64::MAX))
}

/// Where the engine task's records go, and who hears that something changed.
struct EngineOutputs {
    writer: WriterHandle,
    changed: tokio::sync::watch::Sender<u64>,
}

async fn run_engine(
    mut engine: Engine,
    mut inbound: mpsc::Receiver<Inbound>,
    mut requests: mpsc::Receiver<Request>,
    transports: Transports,
    outputs: EngineOutputs,
    mut media: MediaSide,
    shutdown: CancellationToken,
) {
    let EngineOutputs { writer, changed } = outputs;
    let epoch = Instant::now();
    // One timer, moved only when the engine's next deadline changes slot
    // (not a new timer-wheel entry for every message handled).
    let sleep = tokio::time::sleep_until(epoch.into());
    tokio::pin!(sleep);
    loop {
        let deadline = engine
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let deadline = tokio::time::Instant::from_std(coarse_deadline(epoch, deadline));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            msg = inbound.recv() => {
                let Some(msg) = msg else { break };
                engine.handle_datagram(Instant::now(), msg.flow, msg.data);
                // Take whatever else is already queued before flushing.
                for _ in 0..256 {
                    let Ok(msg) = inbound.try_recv() else { break };
                    engine.handle_datagram(Instant::now(), msg.flow, msg.data);
                }
            }
            req = requests.recv() => {
                let Some(req) = req else { break };
                let now = Instant::now();
                match req {
                    Request::Snapshot(reply) => {
                        let _ = reply.send(Snapshot {
                            acd: engine.acd_snapshot(now),
                            calls: engine.live_calls(now),
                            registrations: engine.registrations(now),
                            media_busy: media.running.len() + media.closing,
                            draining: engine.is_draining(),
                        });
                    }
                    Request::Command(cmd, reply) => {
                        let _ = reply.send(engine.handle_command(now, cmd));
                    }
                    Request::Reconfigure(config, reply) => {
                        let _ = reply.send(engine.handle_reconfigure(now, *config));
                        // Queues and seats the live views show may have changed.
                        changed.send_modify(|n| *n = n.wrapping_add(1));
                    }
                }
            }
            _ = &mut sleep => {
                engine.handle_timeout(Instant::now());
            }
            Some(ev) = media.events.recv() => {
                let ev = media.take_back(ev);
                engine.handle_media_event(Instant::now(), ev);
            }
        }
        while let Some(out) = engine.poll_media() {
            media.carry_out(out);
        }
        while let Some(t) = engine.poll_transmit() {
            transports.send(t);
        }
        let mut any = false;
        while let Some(r) = engine.poll_record() {
            any = true;
            writer.send(match r {
                Record::Call(c) => StoreCmd::Call(c),
                Record::Event(e) => StoreCmd::Event(e),
                Record::Media { id, media } => StoreCmd::CallMedia { id, media },
            });
        }
        if any {
            changed.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

/// The demo's passwords and tokens are public, and an API without tokens
/// is open: say so loudly when they face a network (at start, and after
/// a reload).
pub(crate) fn warn_public_demo(config: &Config) {
    if let Some(msg) = public_demo_warning(config) {
        tracing::error!("{msg}");
        eprintln!("\n!!! {msg}\n");
    }
    let public = !config.http.listen.ip().is_loopback();
    if config.http.tokens.is_empty() {
        tracing::warn!(
            listen = %config.http.listen,
            "no [http] tokens: anyone who reaches the HTTP API can read call records, download recordings and change agent states; set tokens (docs/config.md)"
        );
    } else if public
        && config
            .http
            .tokens
            .iter()
            .any(|t| t.token.starts_with("demo-"))
    {
        let msg = format!(
            "DEMO API TOKENS ON A PUBLIC ADDRESS: [http] tokens still hold the published demo tokens while the API listens on {}. Set your own tokens.",
            config.http.listen
        );
        tracing::error!("{msg}");
        eprintln!("\n!!! {msg}\n");
    }
}

/// The warning for seats that keep the published demo password (`demo-N`)
/// while the phones side listens on a non-loopback address.
pub fn public_demo_warning(config: &Config) -> Option<String> {
    let exposed: Vec<String> = [config.sip.phones.udp, config.sip.phones.tcp]
        .into_iter()
        .flatten()
        .filter(|a| !a.ip().is_loopback())
        .map(|a| a.to_string())
        .collect();
    if exposed.is_empty() {
        return None;
    }
    let weak: Vec<String> = config
        .all_seats()
        .into_iter()
        .filter(|s| s.password == format!("demo-{}", s.extension))
        .map(|s| s.extension)
        .collect();
    if weak.is_empty() {
        return None;
    }
    Some(format!(
        "DEMO CREDENTIALS ON A PUBLIC ADDRESS: seats {} use the published demo password (demo-N) while the phones side listens on {}. Anyone can register as these seats. Set real passwords in the config before exposing hotline.",
        summarize(&weak),
        exposed.join(", ")
    ))
}

fn summarize(list: &[String]) -> String {
    match list {
        [] => String::new(),
        [one] => one.clone(),
        [first, .., last] => format!("{first}..{last} ({} seats)", list.len()),
    }
}

/// Deletes recordings older than their class's retention period
/// (`[recordings] retention_days`, `emergency_retention_days`), at start and
/// every hour, and marks their records: one [`crate::retention`] pass,
/// as `hotline retention` runs it. A file already gone counts as deleted;
/// one that cannot be removed is tried again next time.
async fn sweep_recordings(
    store: Store,
    recordings: crate::config::RecordingsConfig,
    shutdown: CancellationToken,
) {
    use crate::retention::{Mode, run_pass};
    loop {
        match run_pass(
            &store,
            &recordings,
            unix_ms_now(),
            Mode::Delete,
            &mut |_| {},
        )
        .await
        {
            Ok(passes) => passes.iter().for_each(|p| p.log()),
            Err(e) => {
                tracing::warn!(error = %e, "retention: cannot sweep expired recordings; trying again in an hour")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const DEMO: &str = include_str!("../config/demo.toml");

    #[test]
    fn wake_ups_round_up_to_the_grid_and_never_early() {
        let epoch = Instant::now();
        let g = WAKE_GRANULARITY;
        assert_eq!(coarse_deadline(epoch, epoch), epoch);
        assert_eq!(coarse_deadline(epoch, epoch + g), epoch + g);
        assert_eq!(
            coarse_deadline(epoch, epoch + Duration::from_nanos(1)),
            epoch + g
        );
        assert_eq!(
            coarse_deadline(epoch, epoch + g + Duration::from_nanos(1)),
            epoch + 2 * g
        );
        for ms in [0u64, 1, 4, 499, 500, 32_000] {
            let d = epoch + Duration::from_millis(ms);
            let c = coarse_deadline(epoch, d);
            assert!(c >= d && c - d < g, "{ms} ms -> {:?}", c - d);
        }
        // A deadline already past (before the epoch) is due at once.
        if let Some(past) = epoch.checked_sub(Duration::from_secs(1)) {
            assert_eq!(coarse_deadline(epoch, past), epoch);
        }
    }

    #[test]
    fn demo_passwords_are_flagged_only_off_loopback() {
        let demo = Config::from_str_at(DEMO, Path::new("demo.toml")).unwrap();
        assert_eq!(public_demo_warning(&demo), None);
        let public = DEMO.replace("udp = \"127.0.0.1:5060\"", "udp = \"192.0.2.10:5060\"");
        let public = Config::from_str_at(&public, Path::new("public.toml")).unwrap();
        let msg = public_demo_warning(&public).expect("a warning");
        assert!(
            msg.contains("8001..8030 (30 seats)") && msg.contains("192.0.2.10:5060"),
            "{msg}"
        );
        let fixed = public_text_with_real_passwords();
        assert_eq!(
            public_demo_warning(&Config::from_str_at(&fixed, Path::new("p.toml")).unwrap()),
            None
        );
    }

    fn public_text_with_real_passwords() -> String {
        DEMO.replace("udp = \"127.0.0.1:5060\"", "udp = \"192.0.2.10:5060\"")
            .replace("demo-{ext}", "s3cret-{ext}-x")
    }
}
