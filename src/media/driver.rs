//! The IO edge of one call's media: a tokio task owning the call's UDP
//! sockets (caller leg, agent leg; RTP on an even port, RTCP on the next),
//! driving its [`Session`] with datagrams, commands and the clock, and
//! handing its recording to the shared writer threads (`writer.rs`).
//!
//! ```text
//!   engine --MediaCmd--> task: select { caller RTP/RTCP, agent RTP/RTCP, command, next timeout }
//!                          |  session outputs: datagrams -> sockets
//!                          |                   frames -> Recorder -> writer thread (0.5 s chunks; hound, flushed each second)
//!   engine <--MediaEvent---+                   digits, prompts played, closed (stats, recording)
//! ```

use super::player::Clip;
use super::session::{Leg, LegConfig, LegStats, Output, Session};
use super::wav::RecordingInfo;
use super::writer::{Recorder, Recordings};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What the engine asks of a call's media.
#[derive(Debug)]
pub enum MediaCmd {
    SetLeg(Leg, LegConfig),
    RemoveLeg(Leg),
    /// Prompts, then a loop; stops the bridge.
    Play { clips: Vec<Clip>, then_loop: Option<Clip> },
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
    Dtmf { call: Arc<str>, leg: Leg, digit: char },
    Played { call: Arc<str>, clip: Arc<str> },
    /// The caller's RTP stopped for the watched time.
    Silent { call: Arc<str>, leg: Leg },
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
#[derive(Debug)]
pub struct LegSockets {
    pub port: u16,
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

/// The engine's handle on a running call media task.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    tx: mpsc::UnboundedSender<MediaCmd>,
}

impl MediaHandle {
    /// Sends a command; false if the media task has ended.
    pub fn send(&self, cmd: MediaCmd) -> bool {
        self.tx.send(cmd).is_ok()
    }
}

/// Starts the media task of `call` on the two legs' bound sockets; its
/// recording goes to `recordings`.
pub fn spawn(
    call: Arc<str>,
    caller: LegSockets,
    agent: LegSockets,
    recordings: Recordings,
    events: mpsc::UnboundedSender<MediaEvent>,
) -> MediaHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(call, caller, agent, recordings, rx, events));
    MediaHandle { tx }
}

async fn run(
    call: Arc<str>,
    caller: LegSockets,
    agent: LegSockets,
    recordings: Recordings,
    mut commands: mpsc::UnboundedReceiver<MediaCmd>,
    events: mpsc::UnboundedSender<MediaEvent>,
) {
    let mut session = Session::new(Instant::now().into_std(), std::time::SystemTime::now());
    let mut recorder: Option<Recorder> = None;
    let (mut buf_a, mut buf_b) = (vec![0u8; 2048], vec![0u8; 2048]);
    let (mut rtcp_a, mut rtcp_b) = (vec![0u8; 1500], vec![0u8; 1500]);
    // One timer, moved when the session's next deadline changes, rather
    // than a new timer-wheel entry for every packet.
    let far = Instant::now() + std::time::Duration::from_secs(30 * 365 * 86_400);
    let sleep = tokio::time::sleep_until(far);
    tokio::pin!(sleep);
    loop {
        let deadline = session.poll_timeout().map(Instant::from_std).unwrap_or(far);
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        let mut closing = false;
        tokio::select! {
            r = caller.rtp.recv_from(&mut buf_a) => if let Ok((n, from)) = r {
                session.handle_packet(Instant::now().into_std(), Leg::Caller, from, &buf_a[..n]);
            },
            r = agent.rtp.recv_from(&mut buf_b) => if let Ok((n, from)) = r {
                session.handle_packet(Instant::now().into_std(), Leg::Agent, from, &buf_b[..n]);
            },
            r = caller.rtcp.recv_from(&mut rtcp_a) => if let Ok((n, from)) = r {
                session.handle_rtcp(Instant::now().into_std(), Leg::Caller, from, &rtcp_a[..n]);
            },
            r = agent.rtcp.recv_from(&mut rtcp_b) => if let Ok((n, from)) = r {
                session.handle_rtcp(Instant::now().into_std(), Leg::Agent, from, &rtcp_b[..n]);
            },
            cmd = commands.recv() => {
                let now = Instant::now().into_std();
                match cmd {
                    Some(MediaCmd::SetLeg(leg, config)) => session.set_leg(now, leg, config, rand::random()),
                    Some(MediaCmd::RemoveLeg(leg)) => session.remove_leg(now, leg),
                    Some(MediaCmd::Play { clips, then_loop }) => session.play(now, clips, then_loop),
                    Some(MediaCmd::Announce(clips)) => session.announce(now, clips),
                    Some(MediaCmd::Bridge) => session.bridge(),
                    Some(MediaCmd::StartRecording(target)) => {
                        if recorder.is_none() {
                            recorder = Some(recordings.open(target));
                            session.start_recording(now);
                        }
                    }
                    Some(MediaCmd::PauseRecording(pause)) => { session.pause_recording(now, pause); }
                    Some(MediaCmd::WatchSilence(after)) => session.watch_silence(after),
                    Some(MediaCmd::Close) | None => {
                        session.stop_recording(now);
                        session.close(now);
                        closing = true;
                    }
                }
            }
            _ = &mut sleep => session.handle_timeout(Instant::now().into_std()),
        }
        while let Some(out) = session.poll_output() {
            match out {
                Output::Transmit { leg, to, data } => {
                    let sock = if leg == Leg::Caller { &caller.rtp } else { &agent.rtp };
                    let _ = sock.try_send_to(&data, to);
                }
                Output::TransmitRtcp { leg, to, data } => {
                    let sock = if leg == Leg::Caller { &caller.rtcp } else { &agent.rtcp };
                    let _ = sock.try_send_to(&data, to);
                }
                Output::Frame(f) => {
                    if let Some(r) = &mut recorder {
                        r.frame(&f.samples);
                    }
                }
                Output::Dtmf { leg, digit } => {
                    let _ = events.send(MediaEvent::Dtmf { call: call.clone(), leg, digit });
                }
                Output::Played(clip) => {
                    let _ = events.send(MediaEvent::Played { call: call.clone(), clip });
                }
                Output::Silent(leg) => {
                    let _ = events.send(MediaEvent::Silent { call: call.clone(), leg });
                }
            }
        }
        if closing {
            let recording = match recorder.take() {
                Some(r) => Some(r.finish().await),
                None => None,
            };
            let _ = events.send(MediaEvent::Closed(Box::new(MediaClosed {
                call: call.clone(),
                caller: session.stats(Leg::Caller),
                agent: session.stats(Leg::Agent),
                recording,
                ports: [caller.port, agent.port],
                sockets: vec![caller, agent],
            })));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::Codec;
    use crate::media::rtp::{self, OutStream};
    use std::time::Duration;

    async fn sock() -> (LegSockets, u16) {
        let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let rtcp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = rtp.local_addr().unwrap().port();
        (LegSockets { port, rtp, rtcp }, port)
    }

    /// Real sockets on loopback: a caller hears music, is bridged to an
    /// agent, and the call leaves a stereo WAV with both voices.
    #[tokio::test]
    async fn a_call_over_real_sockets_relays_audio_and_leaves_a_recording() {
        let dir = tempfile::tempdir().unwrap();
        let (caller_sock, caller_port) = sock().await;
        let (agent_sock, agent_port) = sock().await;
        let (caller_phone, agent_phone) = (UdpSocket::bind("127.0.0.1:0").await.unwrap(), UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
        let h = spawn("call-1".into(), caller_sock, agent_sock, Recordings::start(1), ev_tx);
        let cfg = |remote| LegConfig { codec: Codec::Pcma, pt: 8, telephone_event: Some(101), remote, rtcp: None, send: true };
        // The caller's SDP names its RTCP socket (a=rtcp:).
        let caller_rtcp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        h.send(MediaCmd::SetLeg(Leg::Caller, LegConfig { rtcp: Some(caller_rtcp.local_addr().unwrap()), ..cfg(caller_phone.local_addr().unwrap()) }));
        h.send(MediaCmd::SetLeg(Leg::Agent, cfg(agent_phone.local_addr().unwrap())));
        h.send(MediaCmd::StartRecording(RecordingTarget {
            root: dir.path().into(),
            class: "non_emergency".into(),
            call_id: "call-1".into(),
            started: time::OffsetDateTime::now_utc(),
        }));
        h.send(MediaCmd::Play { clips: vec![], then_loop: Some(Clip::new("music", vec![2000; 160])) });
        let mut buf = [0u8; 2048];
        // 200 ms of music, then the agent answers.
        for _ in 0..10 {
            let (n, from) = tokio::time::timeout(Duration::from_secs(2), caller_phone.recv_from(&mut buf)).await.unwrap().unwrap();
            assert_eq!(from.port(), caller_port, "music comes from the caller leg's port");
            let p = rtp::parse(&buf[..n]).unwrap();
            assert_eq!((p.pt, buf[p.payload_at]), (8, Codec::Pcma.encode_sample(2000)));
        }
        h.send(MediaCmd::Bridge);
        let (mut c_out, mut a_out) = (OutStream::new(1, 0, 0), OutStream::new(2, 0, 0));
        let mut pkt = Vec::new();
        let start = std::time::Instant::now();
        for i in 0..25u32 {
            let at = start + Duration::from_millis(20 * i as u64);
            c_out.generated(at, 8, &[Codec::Pcma.encode_sample(1000); 160], &mut pkt);
            caller_phone.send_to(&pkt, ("127.0.0.1", caller_port)).await.unwrap();
            a_out.generated(at, 8, &[Codec::Pcma.encode_sample(-1000); 160], &mut pkt);
            agent_phone.send_to(&pkt, ("127.0.0.1", agent_port)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The agent heard the caller through hotline.
        let mut heard = false;
        while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(200), agent_phone.recv_from(&mut buf)).await {
            let p = rtp::parse(&buf[..n]).unwrap();
            heard |= buf[p.payload_at] == Codec::Pcma.encode_sample(1000);
        }
        assert!(heard, "caller audio relayed to the agent");
        h.send(MediaCmd::Close);
        let closed = loop {
            match tokio::time::timeout(Duration::from_secs(5), ev_rx.recv()).await.unwrap().unwrap() {
                MediaEvent::Closed(c) => break (c.recording, c.caller, c.ports),
                _ => continue,
            }
        };
        let (recording, caller, ports) = closed;
        assert_eq!(ports, [caller_port, agent_port]);
        // The caller leg's last RTCP went to its a=rtcp address, ending in a BYE (PT 203).
        let mut last = None;
        while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(100), caller_rtcp.recv_from(&mut buf)).await {
            last = Some(buf[..n].to_vec());
        }
        let last = last.expect("RTCP on the caller's a=rtcp address");
        assert!(last.windows(2).any(|w| w == [0x81, 203]), "a BYE of one source: {last:02x?}");
        assert_eq!(caller.unwrap().received.packets, 25);
        let info = recording.unwrap().unwrap();
        assert!(info.duration_ms >= 500, "{info:?}");
        let mut reader = hound::WavReader::open(dir.path().join(&info.path)).unwrap();
        assert_eq!((reader.spec().channels, reader.spec().sample_rate), (2, 8000));
        let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        let (left, right): (Vec<i16>, Vec<i16>) = samples.chunks(2).map(|c| (c[0], c[1])).unzip();
        assert!(left.iter().any(|v| (v - 1000).abs() < 64), "the caller on the left");
        assert!(right.iter().any(|v| (v + 1000).abs() < 64), "the agent on the right");
        assert!(right.iter().any(|v| (v - 2000).abs() < 64), "the music before the bridge on the right");
    }
}
