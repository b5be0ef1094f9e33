//! With `[media]`: hotline anchors every call's RTP.
//!
//! The trunk's SDP offer is answered with hotline's own address (a 183
//! with early media: the line's welcome prompt, then the queue's music);
//! seats are offered hotline's address too; when a seat answers, its leg
//! joins the call's media session (`crate::media::session`), which bridges
//! the two and records the call. Re-INVITEs (hold) are answered here: a
//! seat holding the caller gives the caller music. The engine only
//! decides; [`MediaOut`]s tell the server's RTP workers what to do.
//!
//! An INVITE without SDP (late offer, RFC 3261 §13.2.1) is anchored too,
//! without early media (the caller gets 180: an offer in a provisional
//! response would need 100rel): hotline offers its own SDP in the 200 and
//! the caller's ACK brings the answer.

use super::call::LegRef;
use super::{Engine, EngineConfig};
use crate::media::codec::Codec;
use crate::media::driver::{MediaCmd, MediaEvent, RecordingTarget};
use crate::media::player::Clip;
use crate::media::sdp::{self, Direction, RemoteMedia};
use crate::media::session::{Leg, LegConfig};
use crate::sip::{Message, Side};
use bytes::Bytes;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The engine's media settings, from `[media]`.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// The RTP port range; the server binds every even port in it at
    /// start, and the odd one above each for RTCP.
    pub ports: (u16, u16),
    pub codecs: Vec<Codec>,
    /// By line number.
    pub lines: HashMap<String, LineMedia>,
    /// By queue name.
    pub queues: HashMap<String, QueueMedia>,
    /// Loaded when some queue announces.
    pub announcements: Option<Announcements>,
    /// The survey prompt and the thank-you, loaded when some line surveys.
    pub survey: Option<(Clip, Clip)>,
    /// How long the survey waits for a digit once its prompt has played.
    pub survey_timeout: Duration,
    /// An answered caller silent this long is taken for gone.
    pub rtp_timeout: Option<Duration>,
    /// Where each class's recordings go.
    pub recordings: crate::config::RecordingsConfig,
}

/// What a line's callers hear from hotline itself.
#[derive(Debug, Clone)]
pub struct LineMedia {
    pub welcome: Clip,
    /// Ask for a satisfaction rating when the agent hangs up first.
    pub survey: bool,
}

/// A queue's media settings.
#[derive(Debug, Clone)]
pub struct QueueMedia {
    /// Looped while waiting (and while an agent holds the call).
    pub music: Clip,
    /// Played before the queue refuses a call (if it ever does).
    pub reject_prompt: Option<Clip>,
    /// Period of the place-in-line / estimated-wait announcements.
    pub announce_every: Option<Duration>,
    pub announce_position: bool,
    pub announce_wait: bool,
    /// Record from arrival, not from the answer.
    pub record_wait: bool,
    /// The queue's wrap-up, part of the handle time the wait is estimated from.
    pub wrapup: Duration,
}

/// `position[n - 1]` says "you are n-th in line" for n = 1..=10, then
/// `position[10]` "ten or more callers ahead"; `wait[m - 1]` says "about m
/// minutes" for m = 1..=10, then `wait[10]` "more than ten minutes".
#[derive(Debug, Clone)]
pub struct Announcements {
    pub position: Vec<Clip>,
    pub wait: Vec<Clip>,
}

/// What the server's media side must do for a call.
#[derive(Debug)]
pub enum MediaOut {
    /// Start the call's media (on an RTP worker) on these two bound ports.
    Open {
        call: String,
        caller_port: u16,
        agent_port: u16,
    },
    Cmd {
        call: String,
        cmd: MediaCmd,
    },
}

/// A call's media as the engine tracks it.
#[derive(Debug, Clone)]
pub struct CallMedia {
    pub caller_port: u16,
    pub agent_port: u16,
    /// hotline's SDP for the trunk: its answer to the trunk's offer (in the
    /// 183 and the 200), or its offer in the 200 of a late-offer call.
    pub answer: Bytes,
    pub session_id: u64,
    /// SDP versions of hotline's side of each leg (caller, agent).
    pub versions: [u64; 2],
    pub caller_codec: Codec,
    /// A recording was started.
    pub recording: bool,
    /// The trunk's INVITE had no SDP: hotline offers in its 200 and the
    /// caller's leg is known from the ACK.
    pub late_offer: bool,
}

/// hotline's answer to a new offer (re-INVITE, UPDATE) on `leg` of a
/// call's media `m`: same ports, the next SDP version; with the offer as
/// parsed. `None`: no usable offer (answer 488).
pub(super) fn reoffer_answer(
    config: &EngineConfig,
    settings: &MediaSettings,
    m: &mut CallMedia,
    leg: Leg,
    offer: &Message,
) -> Option<(String, RemoteMedia)> {
    let remote = std::str::from_utf8(&offer.body)
        .ok()
        .and_then(|t| sdp::parse(t).ok())?;
    let neg = sdp::negotiate(&remote, &settings.codecs).ok()?;
    let (side, port, index) = match leg {
        Leg::Caller => (Side::Trunk, m.caller_port, 0),
        Leg::Agent => (Side::Phones, m.agent_port, 1),
    };
    m.versions[index] += 1;
    let local = SocketAddr::new(config.media_ip(side), port);
    let answer = sdp::build_answer(
        local,
        &neg,
        sdp::answer_direction(remote.direction),
        m.session_id,
        m.versions[index],
    );
    Some((answer, remote))
}

/// A message's SDP (an answer, or a peer's offer in a 18x) with the first
/// of its codecs hotline supports; `None` if it has none hotline can use.
pub(super) fn usable_sdp(msg: &Message, supported: &[Codec]) -> Option<(RemoteMedia, Codec)> {
    let remote = std::str::from_utf8(&msg.body)
        .ok()
        .and_then(|t| sdp::parse(t).ok())?;
    let codec = first_supported(&remote, supported)?;
    Some((remote, codec))
}

/// The first of `remote`'s codecs that hotline supports.
fn first_supported(remote: &RemoteMedia, supported: &[Codec]) -> Option<Codec> {
    remote
        .codecs()
        .map(|(_, c)| c)
        .find(|c| supported.contains(c))
}

pub(super) fn sdp_body(text: String) -> (String, Bytes) {
    ("application/sdp".into(), Bytes::from(text))
}

pub(super) fn leg_config(remote: &RemoteMedia, codec: Codec) -> LegConfig {
    let pt = remote
        .formats
        .iter()
        .find(|f| f.codec == Some(codec))
        .map(|f| f.pt)
        .unwrap_or(codec.payload_type());
    LegConfig {
        codec,
        pt,
        telephone_event: remote.telephone_event,
        remote: remote.addr,
        rtcp: remote.rtcp,
        send: matches!(remote.direction, Direction::SendRecv | Direction::RecvOnly)
            && !remote.is_hold(),
    }
}

/// A call's two RTP ports (caller leg, agent leg), leaving `keep_free`
/// legs free (the emergency reserve), or the 503 to refuse it with.
pub(super) fn allocate_pair(
    ports: &mut crate::media::ports::PortPool,
    keep_free: usize,
) -> Result<(u16, u16), (u16, &'static str)> {
    if ports.capacity().saturating_sub(ports.in_use()) < 2 + keep_free {
        return Err((
            503,
            if keep_free > 0 {
                "no free media port (the rest is held for emergency calls)"
            } else {
                "no free media port"
            },
        ));
    }
    let caller_port = ports.allocate().ok_or((503, "no free media port"))?;
    let Some(agent_port) = ports.allocate() else {
        ports.release(caller_port);
        return Err((503, "no free media port"));
    };
    Ok((caller_port, agent_port))
}

impl EngineConfig {
    pub(super) fn media_ip(&self, side: Side) -> IpAddr {
        self.local_addr(side, crate::sip::Proto::Udp).ip()
    }
}

impl Engine {
    /// Sets up a new trunk call's media; `Err` carries the status to refuse
    /// the call with (488: no usable offer, 503: no free port).
    pub(super) fn open_media(&mut self, now: Instant, id: &str) -> Result<(), (u16, &'static str)> {
        let Some(settings) = self.config.media.clone() else {
            return Ok(());
        };
        let Some(call) = self.calls.get(id) else {
            return Ok(());
        };
        let body = &call.inbound.invite.body;
        if body.is_empty() {
            return self.open_late_offer_media(id);
        }
        let offer = std::str::from_utf8(body)
            .ok()
            .and_then(|t| sdp::parse(t).ok())
            .ok_or((488, "no usable SDP offer"))?;
        let neg = sdp::negotiate(&offer, &settings.codecs).map_err(|_| (488, "no common codec"))?;
        let keep = self.legs_to_keep(call.line.class);
        let (caller_port, agent_port) = allocate_pair(&mut self.ports, keep)?;
        let session_id: u64 = rand::random::<u32>().into();
        let local = SocketAddr::new(self.config.media_ip(Side::Trunk), caller_port);
        let answer = sdp::build_answer(
            local,
            &neg,
            sdp::answer_direction(offer.direction),
            session_id,
            1,
        );
        let (line, queue) = (call.line.number.clone(), call.queue.clone());
        self.install_media(
            id,
            (caller_port, agent_port),
            answer,
            session_id,
            neg.codec,
            false,
        );
        self.media_cmd(
            id,
            MediaCmd::SetLeg(Leg::Caller, leg_config(&offer, neg.codec)),
        );
        let welcome = settings.lines.get(&line).map(|l| l.welcome.clone());
        let queue_media = settings.queues.get(&queue);
        let welcome_ends =
            now + Duration::from_millis(welcome.as_ref().map_or(0, Clip::duration_ms));
        self.media_cmd(
            id,
            MediaCmd::Play {
                clips: welcome.into_iter().collect(),
                then_loop: queue_media.map(|q| q.music.clone()),
            },
        );
        if queue_media.is_some_and(|q| q.record_wait) {
            self.start_recording(now, id);
        }
        self.schedule_announcement(id, welcome_ends);
        Ok(())
    }

    /// A trunk INVITE without SDP: ports now, hotline's offer in the 200,
    /// the caller's answer in the ACK ([`Engine::media_late_answer`]).
    /// Nothing to play before the answer: the caller has no SDP of ours.
    fn open_late_offer_media(&mut self, id: &str) -> Result<(), (u16, &'static str)> {
        let Some(settings) = self.config.media.clone() else {
            return Ok(());
        };
        let keep = self
            .calls
            .get(id)
            .map_or(0, |c| self.legs_to_keep(c.line.class));
        let (caller_port, agent_port) = allocate_pair(&mut self.ports, keep)?;
        let session_id: u64 = rand::random::<u32>().into();
        let local = SocketAddr::new(self.config.media_ip(Side::Trunk), caller_port);
        let offer = sdp::build_offer(
            local,
            &settings.codecs,
            sdp::DEFAULT_TELEPHONE_EVENT_PT,
            sdp::DEFAULT_PTIME,
            Direction::SendRecv,
            session_id,
            1,
        );
        self.install_media(
            id,
            (caller_port, agent_port),
            offer,
            session_id,
            settings.codecs[0],
            true,
        );
        Ok(())
    }

    /// Gives call `id` its media on `ports` (caller leg, agent leg), with
    /// `sdp` for the trunk (hotline's answer, or with `late_offer` its
    /// offer), and has the server start the call's media.
    fn install_media(
        &mut self,
        id: &str,
        ports: (u16, u16),
        sdp: String,
        session_id: u64,
        caller_codec: Codec,
        late_offer: bool,
    ) {
        let (caller_port, agent_port) = ports;
        let media = CallMedia {
            caller_port,
            agent_port,
            answer: Bytes::from(sdp),
            session_id,
            versions: [1, 1],
            caller_codec,
            recording: false,
            late_offer,
        };
        if let Some(c) = self.calls.get_mut(id) {
            c.media = Some(media);
        }
        self.media_out.push_back(MediaOut::Open {
            call: id.into(),
            caller_port,
            agent_port,
        });
    }

    /// The caller's ACK of a late-offer call: its SDP answers hotline's
    /// offer and sets up the caller's leg.
    pub(super) fn media_late_answer(&mut self, id: &str, ack: &Message) {
        let Some(settings) = self.config.media.clone() else {
            return;
        };
        let Some(m) = self
            .calls
            .get_mut(id)
            .and_then(|c| c.media.as_mut())
            .filter(|m| m.late_offer)
        else {
            return;
        };
        m.late_offer = false;
        match usable_sdp(ack, &settings.codecs) {
            Some((remote, codec)) => {
                if let Some(m) = self.calls.get_mut(id).and_then(|c| c.media.as_mut()) {
                    m.caller_codec = codec;
                }
                self.media_cmd(
                    id,
                    MediaCmd::SetLeg(Leg::Caller, leg_config(&remote, codec)),
                );
            }
            None => {
                tracing::warn!(call = %id, "the caller's ACK has no usable SDP answer: the caller will not be heard")
            }
        }
    }

    /// Whether the call waits for the caller's SDP in the ACK (no early
    /// media: 180, not 183).
    pub(super) fn awaits_late_answer(&self, id: &str) -> bool {
        self.calls
            .get(id)
            .and_then(|c| c.media.as_ref())
            .is_some_and(|m| m.late_offer)
    }

    /// Starts the call's recording (at arrival with `record_wait`, else
    /// at the answer); a second start changes nothing.
    fn start_recording(&mut self, now: Instant, id: &str) {
        let Some(settings) = self.config.media.clone() else {
            return;
        };
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let Some(media) = call.media.as_mut().filter(|m| !m.recording) else {
            return;
        };
        media.recording = true;
        let call_class = call.line.class;
        let class = call_class.as_str().to_string();
        let started = time::OffsetDateTime::from_unix_timestamp_nanos(
            self.timebase.ms(now) as i128 * 1_000_000,
        )
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        self.media_cmd(
            id,
            MediaCmd::StartRecording(RecordingTarget {
                root: settings.recordings.root_for(call_class).to_path_buf(),
                class,
                call_id: id.into(),
                started,
            }),
        );
    }

    /// Pauses or resumes a live call's recording, and logs who did it.
    pub(super) fn pause_recording(
        &mut self,
        now: Instant,
        id: &str,
        pause: bool,
        by: &str,
    ) -> Result<(), super::Refused> {
        let call = self
            .calls
            .get(id)
            .filter(|c| c.ended.is_none())
            .ok_or_else(|| super::Refused::UnknownCall(id.into()))?;
        if !call.media.as_ref().is_some_and(|m| m.recording) {
            return Err(super::Refused::NotRecorded(id.into()));
        }
        let (queue, seat) = (call.queue.clone(), call.seat.clone());
        tracing::info!(call = %id, pause, by, "recording {}", if pause { "paused" } else { "resumed" });
        self.media_cmd(id, MediaCmd::PauseRecording(pause));
        self.record_event(crate::model::QueueEvent {
            at_ms: self.timebase.ms(now),
            call_id: Some(id.into()),
            queue: Some(queue),
            seat,
            kind: if pause {
                crate::model::EventKind::RecordingPaused
            } else {
                crate::model::EventKind::RecordingResumed
            },
            detail: Some(by.into()),
        });
        Ok(())
    }

    pub(super) fn media_cmd(&mut self, id: &str, cmd: MediaCmd) {
        self.media_out.push_back(MediaOut::Cmd {
            call: id.into(),
            cmd,
        });
    }

    /// The SDP the trunk gets in 183/200: hotline's answer, if anchored.
    pub(super) fn caller_sdp(&self, id: &str) -> Option<(String, Bytes)> {
        let m = self.calls.get(id)?.media.as_ref()?;
        Some(("application/sdp".into(), m.answer.clone()))
    }

    /// hotline's offer to a seat, if the call is anchored.
    pub(super) fn seat_offer(&self, id: &str) -> Option<(String, Bytes)> {
        let settings = self.config.media.as_ref()?;
        let m = self.calls.get(id)?.media.as_ref()?;
        let mut codecs = vec![m.caller_codec];
        codecs.extend(settings.codecs.iter().filter(|c| **c != m.caller_codec));
        let local = SocketAddr::new(self.config.media_ip(Side::Phones), m.agent_port);
        let text = sdp::build_offer(
            local,
            &codecs,
            sdp::DEFAULT_TELEPHONE_EVENT_PT,
            sdp::DEFAULT_PTIME,
            Direction::SendRecv,
            m.session_id,
            1,
        );
        Some(sdp_body(text))
    }

    /// A seat answered and won: its leg joins the session, the bridge
    /// closes and recording starts.
    pub(super) fn media_connected(&mut self, now: Instant, id: &str, seat_answer: &Message) {
        let Some(settings) = self.config.media.clone() else {
            return;
        };
        let Some(call) = self.calls.get(id) else {
            return;
        };
        if call.media.is_none() {
            return;
        }
        match usable_sdp(seat_answer, &settings.codecs) {
            Some((remote, codec)) => {
                self.media_cmd(id, MediaCmd::SetLeg(Leg::Agent, leg_config(&remote, codec)))
            }
            None => {
                tracing::warn!(call = %id, "the seat's answer has no usable SDP: the agent will not be heard")
            }
        }
        self.media_cmd(id, MediaCmd::Bridge);
        self.timers
            .cancel(&super::prompts::Timer::Announce(id.into()));
        self.start_recording(now, id);
        if let Some(after) = settings.rtp_timeout {
            self.media_cmd(id, MediaCmd::WatchSilence(Some(after)));
        }
    }

    /// A re-INVITE on an anchored call is answered here; the other leg is
    /// not involved. A seat that holds gives the caller music.
    pub(super) fn media_reinvite(
        &mut self,
        id: &str,
        from: &LegRef,
        offer: &Message,
    ) -> Option<(String, Bytes)> {
        let settings = self.config.media.clone()?;
        let call = self.calls.get_mut(id)?;
        let queue = call.queue.clone();
        let leg = if *from == LegRef::Citizen {
            Leg::Caller
        } else {
            Leg::Agent
        };
        let (answer, remote) =
            reoffer_answer(&self.config, &settings, call.media.as_mut()?, leg, offer)?;
        let music = settings.queues.get(&queue).map(|q| q.music.clone());
        self.media_reoffered(id, leg, &remote, music);
        Some(sdp_body(answer))
    }

    /// Applies a leg's new offer (answered with [`reoffer_answer`]) to
    /// the call's media: the leg's new address and codec, the caller's
    /// silence watch, and music while the agent holds.
    pub(super) fn media_reoffered(
        &mut self,
        id: &str,
        leg: Leg,
        remote: &RemoteMedia,
        hold_music: Option<Clip>,
    ) {
        let Some(settings) = self.config.media.clone() else {
            return;
        };
        let Some(codec) = first_supported(remote, &settings.codecs) else {
            return;
        };
        self.media_cmd(id, MediaCmd::SetLeg(leg, leg_config(remote, codec)));
        if leg == Leg::Caller && settings.rtp_timeout.is_some() {
            // A caller holding with `inactive` or `recvonly` sends nothing.
            let sends = matches!(remote.direction, Direction::SendRecv | Direction::SendOnly);
            self.media_cmd(
                id,
                MediaCmd::WatchSilence(settings.rtp_timeout.filter(|_| sends)),
            );
        }
        if leg == Leg::Agent {
            if remote.is_hold()
                || matches!(remote.direction, Direction::SendOnly | Direction::Inactive)
            {
                self.media_cmd(
                    id,
                    MediaCmd::Play {
                        clips: Vec::new(),
                        then_loop: hold_music,
                    },
                );
            } else {
                self.media_cmd(id, MediaCmd::Bridge);
            }
        }
    }

    /// The call ended: its media (on its RTP worker) finishes the recording and reports.
    pub(super) fn close_media(&mut self, id: &str) {
        self.cancel_prompt_timers(id);
        if self.calls.get(id).is_some_and(|c| c.media.is_some()) {
            self.media_cmd(id, MediaCmd::Close);
        }
    }

    /// Something a call's media reported.
    pub fn handle_media_event(&mut self, now: Instant, ev: MediaEvent) {
        match ev {
            MediaEvent::Closed(closed) => {
                for port in closed.ports {
                    self.ports.release(port);
                }
                let mut media = crate::model::CallMedia {
                    media_stats: Some(crate::model::MediaStats {
                        caller: closed.caller.as_ref().map(Into::into),
                        agent: closed.agent.as_ref().map(Into::into),
                    }),
                    ..Default::default()
                };
                match &closed.recording {
                    Some(Ok(info)) => {
                        tracing::info!(call = %closed.call, path = %info.path.display(), duration_ms = info.duration_ms, sha256 = %info.sha256, "recording finished");
                        media.recording = Some(info.into());
                    }
                    Some(Err(e)) => {
                        tracing::error!(call = %closed.call, error = %e, "recording failed");
                        media.recording_error = Some(e.clone());
                    }
                    None => {}
                }
                self.records.push_back(super::Record::Media {
                    id: closed.call.to_string(),
                    media,
                });
            }
            MediaEvent::Dtmf { call, leg, digit } => {
                tracing::debug!(call = %call, ?leg, %digit, "DTMF");
                if leg == Leg::Caller {
                    self.survey_digit(now, &call, digit);
                }
            }
            MediaEvent::Played { .. } => {}
            MediaEvent::Silent { call, .. } if self.callbacks.contains_key(&*call) => {
                self.callback_silent(now, &call)
            }
            MediaEvent::Silent { call, .. } => self.caller_silent(now, &call),
        }
    }

    /// The answered caller's RTP stopped for `rtp_timeout`: the trunk lost
    /// the call without a BYE. hotline hangs up both sides.
    fn caller_silent(&mut self, now: Instant, id: &str) {
        let Some(call) = self
            .calls
            .get(id)
            .filter(|c| c.ended.is_none() && c.inbound.answered)
        else {
            return;
        };
        let secs = self
            .config
            .media
            .as_ref()
            .and_then(|m| m.rtp_timeout)
            .map_or(0, |d| d.as_secs());
        let reason = format!("no RTP from the caller for {secs} s");
        tracing::warn!(call = %id, reason, "hanging up a silent call");
        if self.in_survey(id, &LegRef::Citizen) {
            self.finish_survey(now, id, "hangup", false);
            return;
        }
        let seat = call.seat.clone();
        self.bye_inbound(now, id);
        if let Some(seat) = &seat {
            self.hang_up_leg(now, id, seat);
        }
        self.end_call(
            now,
            id,
            crate::model::Outcome::Answered,
            Some(crate::model::HangupBy::System),
            Some(reason),
        );
        self.acd.call_ended(now, id, crate::model::HangupBy::System);
    }

    pub fn poll_media(&mut self) -> Option<MediaOut> {
        self.media_out.pop_front()
    }
}
