//! The IO edge of the calls' media: a few RTP worker threads (one per core
//! by default, `[media] rtp_threads`), each owning many calls' UDP sockets
//! (caller leg, agent leg; RTP on an even port, RTCP on the next) and
//! driving their [`Session`](super::session::Session)s with datagrams,
//! commands and the clock (`worker.rs`). Recordings go to the shared
//! writer threads (`writer.rs`).
//!
//! ```text
//!   engine --spawn--> RtpWorkers: the least-loaded worker takes the call
//!   engine --MediaCmd--> MediaHandle --channel + eventfd--> worker k
//!
//!   worker k (one thread): epoll_wait(every socket of its calls, the eventfd; timeout: next deadline)
//!     for each ready socket: one recvfrom -> Session -> sendto (level-triggered: no EAGAIN read)
//!     eventfd: commands (open a call, MediaCmd)
//!     deadline heap: every call's next session timeout (prompts, recorder frames, RTCP)
//!       |  session outputs: datagrams -> sockets (buffers reused)
//!       |                   frames -> Recorder -> writer thread (0.5 s chunks; hound, flushed each second)
//!   engine <--MediaEvent-- digits, prompts played, silence, closed (stats, recording, sockets back)
//! ```
//!
//! Closing a call finishes its recording on a tokio task (the file's
//! header, sync and hash), then reports [`MediaEvent::Closed`]. Dropping
//! [`RtpWorkers`] stops the workers: each call's last frames go to the
//! writers, which finish the files as they stop (the runtime waits for
//! them at shutdown).

use super::player::Clip;
use super::session::{Leg, LegConfig, LegStats};
use super::wav::RecordingInfo;
use super::worker::{Command, Link, Worker};
use super::writer::Recordings;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

/// What the engine asks of a call's media.
#[derive(Debug)]
pub enum MediaCmd {
    SetLeg(Leg, LegConfig),
    RemoveLeg(Leg),
    /// Prompts, then a loop; stops the bridge.
    Play {
        clips: Vec<Clip>,
        then_loop: Option<Clip>,
    },
    /// Prompts breaking into the loop.
    Announce(Vec<Clip>),
    Bridge,
    StartRecording(RecordingTarget),
    /// `true` pauses, `false` resumes.
    PauseRecording(bool),
    /// Report the caller's RTP stopping for this long; `None`: don't.
    WatchSilence(Option<std::time::Duration>),
    /// Ends the media: the recording is finished and `Closed` reported.
    Close,
}

/// Where a recording goes.
#[derive(Debug, Clone)]
pub struct RecordingTarget {
    pub root: PathBuf,
    pub class: String,
    pub call_id: String,
    pub started: time::OffsetDateTime,
}

/// What a call's media reports.
#[derive(Debug)]
pub enum MediaEvent {
    Dtmf {
        call: Arc<str>,
        leg: Leg,
        digit: char,
    },
    Played {
        call: Arc<str>,
        clip: Arc<str>,
    },
    /// The caller's RTP stopped for the watched time.
    Silent {
        call: Arc<str>,
        leg: Leg,
    },
    /// The media ended; its sockets are closed and its ports free again.
    Closed(Box<MediaClosed>),
}

/// The end of a call's media: what the call record keeps of it.
#[derive(Debug)]
pub struct MediaClosed {
    pub call: Arc<str>,
    pub caller: Option<LegStats>,
    pub agent: Option<LegStats>,
    /// The finished recording, or why it failed; `None` if none was made.
    pub recording: Option<Result<RecordingInfo, String>>,
    /// The caller and agent legs' RTP ports, to return to the pool.
    pub ports: [u16; 2],
    /// Their sockets, still bound, for the next call.
    pub sockets: Vec<LegSockets>,
}

/// A leg's two bound sockets: RTP on an even port, RTCP on the next one.
/// Non-blocking (the workers never wait on one socket).
#[derive(Debug)]
pub struct LegSockets {
    pub port: u16,
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

impl LegSockets {
    /// Binds `ip:port` (RTP) and `ip:port + 1` (RTCP), non-blocking;
    /// port 0 takes any free pair of ports (tests).
    pub fn bind(ip: std::net::IpAddr, port: u16) -> std::io::Result<LegSockets> {
        let rtp = UdpSocket::bind((ip, port))?;
        let port = rtp.local_addr()?.port();
        let rtcp = UdpSocket::bind((ip, if port == 0 { 0 } else { port.wrapping_add(1) }))?;
        rtp.set_nonblocking(true)?;
        rtcp.set_nonblocking(true)?;
        Ok(LegSockets { port, rtp, rtcp })
    }
}

/// The engine's handle on a running call's media. Dropping the last clone
/// closes the call's media, as [`MediaCmd::Close`] does.
#[derive(Debug, Clone)]
pub struct MediaHandle(Arc<HandleInner>);

#[derive(Debug)]
struct HandleInner {
    key: u64,
    link: Arc<Link>,
}

impl MediaHandle {
    /// Sends a command; false if the call's worker has stopped. Commands
    /// for a call already closed are dropped by the worker.
    pub fn send(&self, cmd: MediaCmd) -> bool {
        self.0.link.send(Command::Cmd {
            key: self.0.key,
            cmd,
        })
    }
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.link.send(Command::Cmd {
            key: self.key,
            cmd: MediaCmd::Close,
        });
    }
}

/// The RTP worker threads. Dropping this stops them.
#[derive(Debug)]
pub struct RtpWorkers {
    links: Vec<Arc<Link>>,
    next_key: u64,
}

impl RtpWorkers {
    /// Starts `threads` workers (at least one); each call's recording goes
    /// to `recordings`, every call's events to `events`. Needs a tokio
    /// runtime (recordings are finished on it).
    pub fn start(
        threads: usize,
        recordings: Recordings,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> std::io::Result<RtpWorkers> {
        let rt = tokio::runtime::Handle::current();
        let mut links = Vec::new();
        for n in 0..threads.max(1) {
            let (worker, link) = Worker::new(recordings.clone(), events.clone(), rt.clone())?;
            std::thread::Builder::new()
                .name(format!("hotline-rtp-{n}"))
                .spawn(move || worker.run())?;
            links.push(link);
        }
        Ok(RtpWorkers { links, next_key: 0 })
    }

    /// How many worker threads run.
    pub fn threads(&self) -> usize {
        self.links.len()
    }

    /// Starts `call`'s media on the two legs' bound sockets, on the worker
    /// with the fewest calls.
    pub fn spawn(&mut self, call: Arc<str>, caller: LegSockets, agent: LegSockets) -> MediaHandle {
        let link = self
            .links
            .iter()
            .min_by_key(|l| l.calls.load(Ordering::Relaxed))
            .expect("at least one worker")
            .clone();
        link.calls.fetch_add(1, Ordering::Relaxed);
        self.next_key += 1;
        let key = self.next_key;
        link.send(Command::Open {
            key,
            call,
            caller,
            agent,
        });
        MediaHandle(Arc::new(HandleInner { key, link }))
    }
}

impl Drop for RtpWorkers {
    fn drop(&mut self) {
        for link in &self.links {
            link.send(Command::Shutdown);
        }
    }
}

#[cfg(test)]
mod tests;
