//! One RTP worker thread: many calls' sockets in one level-triggered
//! epoll, their sessions' deadlines in one heap, one `epoll_wait` per
//! wake-up for all of them.
//!
//! ```text
//!   loop:
//!     epoll_wait(sockets + eventfd, timeout = earliest deadline)
//!     ready socket  -> one recvfrom -> Session::handle_packet / handle_rtcp -> outputs
//!                      (level-triggered: a socket with more queued is simply ready
//!                       again next time, so no read ends in EAGAIN)
//!     eventfd       -> commands: Open, MediaCmd for a call, Shutdown
//!     due deadlines -> Session::handle_timeout -> outputs
//!   outputs: Transmit -> sendto from the leg's socket, buffer back to the session;
//!            Frame -> Recorder (chunks to the writer threads); digits etc. -> engine
//! ```
//!
//! An epoll token names the call's slot, the slot's generation (a reused
//! slot never gets an old call's readiness) and which of its four sockets.
//! The deadline heap is lazy: a call's entry is pushed when its session's
//! next deadline comes earlier than the one it has in the heap; an entry
//! whose deadline has moved on is skipped when it comes out.

use super::driver::{LegSockets, MediaClosed, MediaCmd, MediaEvent};
use super::session::{Leg, Output, Session};
use super::writer::{Recorder, Recordings};
use rustix::buffer::spare_capacity;
use rustix::event::{EventfdFlags, Timespec, epoll, eventfd};
use rustix::fd::OwnedFd;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc::UnboundedSender;

/// The epoll token of the worker's eventfd.
const WAKE: u64 = u64::MAX;
/// Events taken per `epoll_wait`.
const EVENTS: usize = 256;
/// Largest datagram read; RTP over UDP on an Ethernet path fits.
const MAX_DATAGRAM: usize = 2048;
/// A session deadline still due right after its timeout was handled is
/// retried this much later, never in a loop.
const RETRY: Duration = Duration::from_millis(1);

/// What the engine side sends a worker.
pub(super) enum Command {
    Open {
        key: u64,
        call: Arc<str>,
        caller: LegSockets,
        agent: LegSockets,
    },
    Cmd {
        key: u64,
        cmd: MediaCmd,
    },
    Shutdown,
}

/// The engine side's end of a worker: its command channel, the eventfd
/// that wakes it, and how many calls it has.
#[derive(Debug)]
pub(super) struct Link {
    tx: mpsc::Sender<Command>,
    wake: OwnedFd,
    pub(super) calls: AtomicUsize,
}

impl Link {
    /// Queues `cmd` and wakes the worker; false if it has stopped.
    pub(super) fn send(&self, cmd: Command) -> bool {
        if self.tx.send(cmd).is_err() {
            return false;
        }
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
        true
    }
}

/// One call on a worker.
struct Call {
    key: u64,
    id: Arc<str>,
    generation: u32,
    session: Session,
    /// Caller leg, agent leg.
    legs: [LegSockets; 2],
    recorder: Option<Recorder>,
    /// The earliest deadline this call has in the heap.
    armed: Option<Instant>,
}

pub(super) struct Worker {
    epoll: OwnedFd,
    link: Arc<Link>,
    commands: mpsc::Receiver<Command>,
    calls: Vec<Option<Call>>,
    free: Vec<u32>,
    by_key: HashMap<u64, u32>,
    generation: u32,
    /// (deadline, slot, generation), earliest first.
    deadlines: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    recordings: Recordings,
    events: UnboundedSender<MediaEvent>,
    rt: tokio::runtime::Handle,
    buf: Box<[u8]>,
}

impl Worker {
    pub(super) fn new(
        recordings: Recordings,
        events: UnboundedSender<MediaEvent>,
        rt: tokio::runtime::Handle,
    ) -> std::io::Result<(Worker, Arc<Link>)> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &wake,
            epoll::EventData::new_u64(WAKE),
            epoll::EventFlags::IN,
        )?;
        let (tx, commands) = mpsc::channel();
        let link = Arc::new(Link {
            tx,
            wake,
            calls: AtomicUsize::new(0),
        });
        let worker = Worker {
            epoll,
            link: link.clone(),
            commands,
            calls: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            generation: 0,
            deadlines: BinaryHeap::new(),
            recordings,
            events,
            rt,
            buf: vec![0; MAX_DATAGRAM].into_boxed_slice(),
        };
        Ok((worker, link))
    }

    /// The worker's loop, until [`Command::Shutdown`].
    pub(super) fn run(mut self) {
        let mut ready: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
        loop {
            let timeout = self.deadlines.peek().map(|Reverse((at, _, _))| {
                let d = at.saturating_duration_since(Instant::now());
                Timespec {
                    tv_sec: d.as_secs() as _,
                    tv_nsec: d.subsec_nanos() as _,
                }
            });
            ready.clear();
            match epoll::wait(&self.epoll, spare_capacity(&mut ready), timeout.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "RTP worker: epoll_wait failed");
                    std::thread::sleep(RETRY);
                    continue;
                }
            }
            let mut woken = false;
            for ev in &ready {
                match ev.data.u64() {
                    WAKE => woken = true,
                    token => self.readable(token),
                }
            }
            if woken && !self.take_commands() {
                break;
            }
            self.expire(Instant::now());
        }
        self.shutdown();
    }

    /// One datagram from the socket `token` names.
    fn readable(&mut self, token: u64) {
        let (slot, generation, which) = (
            (token >> 2) as u32 & 0x3FFF_FFFF,
            (token >> 32) as u32,
            token & 3,
        );
        let Some(Some(call)) = self.calls.get_mut(slot as usize) else {
            return;
        };
        if call.generation != generation {
            return;
        }
        let leg = &call.legs[(which >> 1) as usize];
        let sock = if which & 1 == 0 { &leg.rtp } else { &leg.rtcp };
        let Ok((n, from)) = sock.recv_from(&mut self.buf) else {
            return;
        };
        let now = Instant::now();
        let side = if which >> 1 == 0 {
            Leg::Caller
        } else {
            Leg::Agent
        };
        if which & 1 == 0 {
            call.session.handle_packet(now, side, from, &self.buf[..n]);
        } else {
            call.session.handle_rtcp(now, side, from, &self.buf[..n]);
        }
        carry_out(call, &self.events);
        arm(call, slot, &mut self.deadlines, now);
    }

    /// Handles the queued commands; false on [`Command::Shutdown`].
    fn take_commands(&mut self) -> bool {
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(&self.link.wake, &mut counter);
        loop {
            match self.commands.try_recv() {
                Ok(Command::Open {
                    key,
                    call,
                    caller,
                    agent,
                }) => self.open(key, call, caller, agent),
                Ok(Command::Cmd { key, cmd }) => self.command(key, cmd),
                Ok(Command::Shutdown) | Err(mpsc::TryRecvError::Disconnected) => return false,
                Err(mpsc::TryRecvError::Empty) => return true,
            }
        }
    }

    fn open(&mut self, key: u64, id: Arc<str>, caller: LegSockets, agent: LegSockets) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.calls.push(None);
            (self.calls.len() - 1) as u32
        });
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let legs = [caller, agent];
        for (which, sock) in [&legs[0].rtp, &legs[0].rtcp, &legs[1].rtp, &legs[1].rtcp]
            .into_iter()
            .enumerate()
        {
            let token = u64::from(generation) << 32 | u64::from(slot) << 2 | which as u64;
            if let Err(e) = epoll::add(
                &self.epoll,
                sock,
                epoll::EventData::new_u64(token),
                epoll::EventFlags::IN,
            ) {
                tracing::error!(call = %id, error = %e, "RTP worker cannot watch a media socket: that leg is not heard");
            }
        }
        let session = Session::new(Instant::now(), SystemTime::now());
        self.calls[slot as usize] = Some(Call {
            key,
            id,
            generation,
            session,
            legs,
            recorder: None,
            armed: None,
        });
        self.by_key.insert(key, slot);
    }

    fn command(&mut self, key: u64, cmd: MediaCmd) {
        let Some(&slot) = self.by_key.get(&key) else {
            return;
        };
        let Some(Some(call)) = self.calls.get_mut(slot as usize) else {
            return;
        };
        let now = Instant::now();
        let s = &mut call.session;
        match cmd {
            MediaCmd::SetLeg(leg, config) => s.set_leg(now, leg, config, rand::random()),
            MediaCmd::RemoveLeg(leg) => s.remove_leg(now, leg),
            MediaCmd::Play { clips, then_loop } => s.play(now, clips, then_loop),
            MediaCmd::Announce(clips) => s.announce(now, clips),
            MediaCmd::Bridge => s.bridge(),
            MediaCmd::StartRecording(target) => {
                if call.recorder.is_none() {
                    call.recorder = Some(self.recordings.open(target));
                    s.start_recording(now);
                }
            }
            MediaCmd::PauseRecording(pause) => {
                s.pause_recording(now, pause);
            }
            MediaCmd::WatchSilence(after) => s.watch_silence(after),
            MediaCmd::Close => {
                s.stop_recording(now);
                s.close(now);
                carry_out(call, &self.events);
                self.close(slot);
                return;
            }
        }
        carry_out(call, &self.events);
        arm(call, slot, &mut self.deadlines, now);
    }

    /// Takes call `slot` off the worker: its sockets leave the epoll and,
    /// once its recording is finished, go back to the engine with its
    /// statistics.
    fn close(&mut self, slot: u32) {
        let Some(call) = self.remove(slot) else {
            return;
        };
        let Call {
            id,
            session,
            legs,
            recorder,
            ..
        } = call;
        let [caller, agent] = legs;
        let mut closed = MediaClosed {
            call: id,
            caller: session.stats(Leg::Caller),
            agent: session.stats(Leg::Agent),
            recording: None,
            ports: [caller.port, agent.port],
            sockets: vec![caller, agent],
        };
        let events = self.events.clone();
        match recorder {
            None => {
                let _ = events.send(MediaEvent::Closed(Box::new(closed)));
            }
            // The file's last header, sync and hash take a while: not here.
            Some(r) => {
                self.rt.spawn(async move {
                    closed.recording = Some(r.finish().await);
                    let _ = events.send(MediaEvent::Closed(Box::new(closed)));
                });
            }
        }
    }

    fn remove(&mut self, slot: u32) -> Option<Call> {
        let call = self.calls.get_mut(slot as usize)?.take()?;
        for leg in &call.legs {
            let _ = epoll::delete(&self.epoll, &leg.rtp);
            let _ = epoll::delete(&self.epoll, &leg.rtcp);
        }
        self.by_key.remove(&call.key);
        self.free.push(slot);
        self.link.calls.fetch_sub(1, Ordering::Relaxed);
        Some(call)
    }

    /// Every session whose deadline is due handles it.
    fn expire(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot, generation))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(Some(call)) = self.calls.get_mut(slot as usize) else {
                continue;
            };
            if call.generation != generation || call.armed != Some(at) {
                continue;
            }
            call.armed = None;
            if call.session.poll_timeout().is_some_and(|d| d <= now) {
                call.session.handle_timeout(now);
                carry_out(call, &self.events);
            }
            arm(call, slot, &mut self.deadlines, now + RETRY);
        }
    }

    /// The workers stop (hotline shutting down): each call's media ends
    /// as on [`MediaCmd::Close`], but its recorder is dropped, so that the
    /// writer threads finish the files themselves as they stop.
    fn shutdown(mut self) {
        let now = Instant::now();
        for slot in 0..self.calls.len() as u32 {
            let Some(call) = self.calls[slot as usize].as_mut() else {
                continue;
            };
            call.session.stop_recording(now);
            call.session.close(now);
            carry_out(call, &self.events);
            drop(self.remove(slot));
        }
    }
}

/// Carries out what the call's session asks for.
fn carry_out(call: &mut Call, events: &UnboundedSender<MediaEvent>) {
    let leg_index = |leg: Leg| if leg == Leg::Caller { 0 } else { 1 };
    while let Some(out) = call.session.poll_output() {
        match out {
            Output::Transmit { leg, to, data } => {
                let _ = call.legs[leg_index(leg)].rtp.send_to(&data, to);
                call.session.recycle(data);
            }
            Output::TransmitRtcp { leg, to, data } => {
                let _ = call.legs[leg_index(leg)].rtcp.send_to(&data, to);
            }
            Output::Frame(f) => {
                if let Some(r) = &mut call.recorder {
                    r.frame(&f.samples);
                }
                call.session.recycle_frame(f);
            }
            Output::Dtmf { leg, digit } => {
                let _ = events.send(MediaEvent::Dtmf {
                    call: call.id.clone(),
                    leg,
                    digit,
                });
            }
            Output::Played(clip) => {
                let _ = events.send(MediaEvent::Played {
                    call: call.id.clone(),
                    clip,
                });
            }
            Output::Silent(leg) => {
                let _ = events.send(MediaEvent::Silent {
                    call: call.id.clone(),
                    leg,
                });
            }
        }
    }
}

/// Puts the call's next deadline (not before `floor`) in the heap if it
/// is earlier than the one it has there.
fn arm(
    call: &mut Call,
    slot: u32,
    deadlines: &mut BinaryHeap<Reverse<(Instant, u32, u32)>>,
    floor: Instant,
) {
    let Some(at) = call.session.poll_timeout() else {
        return;
    };
    let at = at.max(floor);
    if call.armed.is_none_or(|a| at < a) {
        deadlines.push(Reverse((at, slot, call.generation)));
        call.armed = Some(at);
    }
}
