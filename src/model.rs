//! Domain types shared by the cores and the edges: line classes, call
//! outcomes, call records (with the recording and media statistics
//! attached after the call) and the queue/agent event log.
//!
//! These are plain data. The ACD and the B2BUA produce them, the store
//! persists them, the API serialises them. Times are Unix milliseconds
//! (`i64`), so they mean the same thing in SQLite, PostgreSQL and JSON.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Whether a line is an emergency line (110/119/122) or a citizen-service
/// line (12345 and the department hotlines merged into it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LineClass {
    Emergency,
    #[default]
    NonEmergency,
}

/// How an offered call ended, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A seat answered and the call was bridged.
    Answered,
    /// The caller hung up before any seat answered.
    Abandoned,
    /// The queue passed the call to another queue; the overflow queue's
    /// record (same call id, new queue) carries the final outcome.
    Overflowed,
    /// hotline refused the call by policy (no agents, wait exceeded, unknown
    /// number, capacity); `reason` says which.
    Rejected,
    /// Something broke: a transport error, a timeout, a restart mid-call.
    Failed,
}

/// Which way a call went: a citizen calling a line, or a seat calling a
/// citizen back (回访).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Inbound,
    Outbound,
}

/// Who ended an answered call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupBy {
    Caller,
    Agent,
    System,
}

macro_rules! str_enum {
    ($ty:ty { $($variant:ident => $s:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $s),* }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok(Self::$variant),)*
                    other => Err(UnknownVariant(other.to_string())),
                }
            }
        }
    };
}

/// A string that names no variant of the enum it was parsed as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownVariant(pub String);

str_enum!(LineClass { Emergency => "emergency", NonEmergency => "non_emergency" });
str_enum!(Outcome {
    Answered => "answered",
    Abandoned => "abandoned",
    Overflowed => "overflowed",
    Rejected => "rejected",
    Failed => "failed",
});
str_enum!(Direction { Inbound => "inbound", Outbound => "outbound" });
str_enum!(HangupBy { Caller => "caller", Agent => "agent", System => "system" });

/// One offered call as stored and served by the API.
///
/// A record is written when the call is offered (with `ended_at_ms` unset),
/// updated when it is answered and when it ends; a record still open when
/// hotline starts belongs to a call that a crash interrupted and is closed
/// as `failed` with reason `interrupted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// hotline's own call id (a UUIDv7), the same in logs, database and API.
    pub id: String,
    /// The SIP Call-ID of the trunk leg.
    pub sip_call_id: String,
    /// The dialled number (the line).
    pub line: String,
    pub tag: Option<String>,
    pub class: LineClass,
    /// The caller's number (user part of From / P-Asserted-Identity).
    pub caller: String,
    pub queue: Option<String>,
    /// Extension of the seat that answered.
    pub seat: Option<String>,
    pub offered_at_ms: i64,
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    /// `None` while the call is live.
    pub outcome: Option<Outcome>,
    pub hangup_by: Option<HangupBy>,
    /// Why the call was rejected or failed, or the SIP reason of the end.
    pub reason: Option<String>,
    /// Time from offer to answer (or to the end, if never answered).
    pub wait_ms: i64,
    /// Time from answer to end of the conversation (the agent hanging up
    /// ends it, even when the caller then stays for the survey).
    pub talk_ms: i64,
    /// The satisfaction survey (lines with `survey = true`, when the
    /// agent hung up first): the digit the caller pressed ("1" satisfied,
    /// "2" fairly satisfied, "3" dissatisfied), "none" if they pressed
    /// nothing in time, "hangup" if they hung up first. `None`: not asked.
    #[serde(default)]
    pub survey: Option<String>,
    /// hotline carries the call's audio (`[media]`): its recording and
    /// media statistics are attached after the end.
    #[serde(default)]
    pub anchored: bool,
    /// Inbound (a citizen called a line) or outbound (a callback: `caller`
    /// is then the citizen called, `line` the number they were shown,
    /// `queue` none, `wait_ms` the ring time).
    #[serde(default)]
    pub direction: Direction,
    /// The ticket a callback was placed for, known when it starts: the
    /// stored `ticket_id` starts from it (see [`StoredCall::ticket_id`],
    /// which is what is served).
    #[serde(skip)]
    pub ticket: Option<String>,
}

/// A call record as stored and served: what the engine wrote
/// ([`CallRecord`], at offer, answer and end) and what the media task
/// attached once the call's media had stopped ([`CallMedia`]). It
/// serialises flat: the record's fields, then `recording`,
/// `recording_error` and `media_stats`.
///
/// It dereferences to its [`CallRecord`], so `stored.outcome` reads the
/// record's field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCall {
    #[serde(flatten)]
    pub record: CallRecord,
    #[serde(flatten)]
    pub media: CallMedia,
    /// The ticket (工单) the call belongs to, once the ticket system named
    /// it (its answer to `call.ended`, or `PUT /api/calls/{id}/ticket`).
    #[serde(default)]
    pub ticket_id: Option<String>,
}

impl std::ops::Deref for StoredCall {
    type Target = CallRecord;
    fn deref(&self) -> &CallRecord {
        &self.record
    }
}

impl From<CallRecord> for StoredCall {
    /// A record with nothing attached.
    fn from(record: CallRecord) -> StoredCall {
        StoredCall {
            record,
            media: CallMedia::default(),
            ticket_id: None,
        }
    }
}

/// What the media layer learns about a call after it ended: its recording
/// (or why there is none) and per-leg RTP statistics. Attached to the
/// call's record without changing the record itself; a part left `None`
/// keeps what is stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallMedia {
    /// The finished WAV; `None` if the call was not recorded (yet).
    pub recording: Option<Recording>,
    /// Why the recording failed or is incomplete (a file may exist anyway).
    pub recording_error: Option<String>,
    /// RTP statistics of each leg that had media.
    pub media_stats: Option<MediaStats>,
}

impl CallMedia {
    /// Whether there is nothing to attach.
    pub fn is_empty(&self) -> bool {
        self.recording.is_none() && self.recording_error.is_none() && self.media_stats.is_none()
    }

    /// Applies a later attachment for the same call: each part it has
    /// replaces this one's, each part it lacks is kept.
    pub fn merge(&mut self, later: CallMedia) {
        if later.recording.is_some() {
            self.recording = later.recording;
        }
        if later.recording_error.is_some() {
            self.recording_error = later.recording_error;
        }
        if later.media_stats.is_some() {
            self.media_stats = later.media_stats;
        }
    }
}

/// A call's finished recording (from [`crate::media::wav::RecordingInfo`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// Relative to the recordings root.
    pub path: String,
    pub duration_ms: u64,
    pub size_bytes: u64,
    /// SHA-256 of the whole file, lower-case hex.
    pub sha256: String,
    /// When the retention sweep deleted the file (`[recordings]
    /// retention_days`); `None` while it is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at_ms: Option<i64>,
}

impl From<&crate::media::wav::RecordingInfo> for Recording {
    fn from(r: &crate::media::wav::RecordingInfo) -> Recording {
        Recording {
            path: r.path.to_string_lossy().into_owned(),
            duration_ms: r.duration_ms,
            size_bytes: r.size_bytes,
            sha256: r.sha256.clone(),
            deleted_at_ms: None,
        }
    }
}

/// RTP statistics of a call's two legs; a leg that never had media is
/// `None`. Stored as JSON, so fields can be added without a migration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaStats {
    /// The citizen's leg, on the trunk.
    pub caller: Option<LegMediaStats>,
    /// The seat phone's leg.
    pub agent: Option<LegMediaStats>,
}

/// One leg's RTP statistics (from [`crate::media::session::LegStats`]).
/// Fields missing from a stored value read as zero or `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LegMediaStats {
    /// The codec the leg used (`PCMU`, `PCMA`, ...).
    pub codec: String,
    /// RTP packets received from the leg.
    pub packets: u64,
    /// Payload bytes received from the leg.
    pub bytes: u64,
    /// Packets expected from the sequence numbers but never received.
    pub lost: u64,
    /// Interarrival jitter in milliseconds (RFC 3550 A.8).
    #[serde(serialize_with = "finite_or_zero")]
    pub jitter_ms: f64,
    /// RTP streams seen (a new SSRC starts a new one).
    pub streams: u32,
    /// RTP packets sent to the leg.
    pub sent_packets: u64,
    /// Where the leg's audio came from last (`IP:port`).
    pub remote: Option<String>,
    /// RTCP compound packets hotline sent on the leg.
    pub rtcp_sent: u64,
    /// RTCP packets received from the leg's peer.
    pub rtcp_received: u64,
    /// The peer's last RTCP report on hotline's stream: the fraction lost
    /// since its previous report (0.0-1.0), ...
    #[serde(serialize_with = "finite_or_none")]
    pub remote_fraction_lost: Option<f64>,
    /// ... the packets it lost in all ...
    pub remote_lost: Option<i64>,
    /// ... and its interarrival jitter in milliseconds.
    #[serde(serialize_with = "finite_or_none")]
    pub remote_jitter_ms: Option<f64>,
    /// The last round-trip time from RTCP (RFC 3550 §6.4.1), in milliseconds.
    #[serde(serialize_with = "finite_or_none")]
    pub rtt_ms: Option<f64>,
}

/// JSON has no NaN or infinity (serde_json would write `null`, which does
/// not read back as a number): such a value is written as 0.
fn finite_or_zero<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(if v.is_finite() { *v } else { 0.0 })
}

/// The same for an optional value: one JSON cannot hold is left out (null).
fn finite_or_none<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) if v.is_finite() => s.serialize_some(v),
        _ => s.serialize_none(),
    }
}

impl From<&crate::media::session::LegStats> for LegMediaStats {
    fn from(s: &crate::media::session::LegStats) -> LegMediaStats {
        LegMediaStats {
            codec: s.codec.to_string(),
            packets: s.received.packets,
            bytes: s.received.bytes,
            lost: s.received.lost,
            jitter_ms: s.received.jitter_ms,
            streams: s.received.streams,
            sent_packets: s.sent_packets,
            remote: s.remote.map(|a| a.to_string()),
            rtcp_sent: s.rtcp.sent,
            rtcp_received: s.rtcp.received,
            remote_fraction_lost: s.rtcp.remote_fraction_lost,
            remote_lost: s.rtcp.remote_lost,
            remote_jitter_ms: s.rtcp.remote_jitter_ms,
            rtt_ms: s.rtcp.rtt_ms,
        }
    }
}

/// One entry of the queue and agent event log, from which answer rates are
/// computed. Kinds follow Asterisk's queue_log where one exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEvent {
    pub at_ms: i64,
    pub call_id: Option<String>,
    pub queue: Option<String>,
    pub seat: Option<String>,
    pub kind: EventKind,
    /// Free-form detail: a reason code, the overflow target, a SIP status.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Call entered a queue (ENTERQUEUE).
    Enqueue,
    /// A seat was rung for the call (RINGATTEMPT).
    Ring,
    /// The seat did not answer in time, was busy or declined (RINGNOANSWER).
    NoAnswer,
    /// A seat answered; the call is bridged (CONNECT).
    Connect,
    /// The caller hung up while waiting or ringing (ABANDON).
    Abandon,
    /// The call left this queue for another (EXITWITHTIMEOUT + re-enqueue).
    Overflow,
    /// The call was refused (EXITEMPTY / EXITWITHTIMEOUT with reject).
    Reject,
    /// A bridged call ended (COMPLETECALLER / COMPLETEAGENT).
    Complete,
    /// A seat changed agent state; `detail` holds `from->to[:reason]`.
    AgentState,
    /// The caller answered the satisfaction survey; `detail` holds the
    /// digit, "none" or "hangup" (as the call record's `survey`).
    Survey,
    /// The recording was paused (sensitive details); `detail` says who asked.
    RecordingPaused,
    /// The recording goes on after a pause.
    RecordingResumed,
    /// The agent transferred the call (blind); `detail` is `seat N` or
    /// `queue Q`. A `complete` (detail `transfer`) follows for the seat.
    Transfer,
}

str_enum!(EventKind {
    Enqueue => "enqueue",
    Ring => "ring",
    NoAnswer => "no_answer",
    Connect => "connect",
    Abandon => "abandon",
    Overflow => "overflow",
    Reject => "reject",
    Complete => "complete",
    AgentState => "agent_state",
    Survey => "survey",
    RecordingPaused => "recording_paused",
    RecordingResumed => "recording_resumed",
    Transfer => "transfer",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_strings() {
        for o in [
            Outcome::Answered,
            Outcome::Abandoned,
            Outcome::Overflowed,
            Outcome::Rejected,
            Outcome::Failed,
        ] {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{o}\""));
        }
        assert_eq!(
            "emergency".parse::<LineClass>().unwrap(),
            LineClass::Emergency
        );
        assert!("police".parse::<LineClass>().is_err());
    }

    fn record() -> CallRecord {
        CallRecord {
            id: "c1".into(),
            sip_call_id: "s1".into(),
            line: "12345".into(),
            tag: None,
            class: LineClass::NonEmergency,
            caller: "13800000000".into(),
            queue: Some("general".into()),
            seat: Some("8001".into()),
            offered_at_ms: 1_000,
            answered_at_ms: Some(2_000),
            ended_at_ms: Some(9_000),
            outcome: Some(Outcome::Answered),
            hangup_by: Some(HangupBy::Caller),
            reason: None,
            wait_ms: 1_000,
            talk_ms: 7_000,
            survey: None,
            anchored: true,
            direction: Default::default(),
            ticket: None,
        }
    }

    #[test]
    fn a_stored_call_serialises_flat_with_recording_null_or_an_object() {
        let bare = StoredCall::from(record());
        let v = serde_json::to_value(&bare).unwrap();
        assert_eq!(v["outcome"], "answered");
        assert_eq!(v["talk_ms"], 7_000);
        assert!(v["recording"].is_null() && v.get("recording").is_some());
        assert!(v["recording_error"].is_null() && v["media_stats"].is_null());

        let full = StoredCall {
            record: record(),
            media: CallMedia {
                recording: Some(Recording {
                    path: "2026/11/24/c1.wav".into(),
                    duration_ms: 7_000,
                    size_bytes: 224_044,
                    sha256: "ab".repeat(32),
                    deleted_at_ms: None,
                }),
                recording_error: None,
                media_stats: Some(MediaStats {
                    caller: Some(LegMediaStats {
                        codec: "PCMA".into(),
                        packets: 350,
                        lost: 2,
                        jitter_ms: 1.5,
                        ..Default::default()
                    }),
                    agent: None,
                }),
            },
            ticket_id: Some("GD-2026-000123".into()),
        };
        let v = serde_json::to_value(&full).unwrap();
        assert_eq!(v["recording"]["path"], "2026/11/24/c1.wav");
        assert_eq!(v["recording"]["size_bytes"], 224_044);
        assert_eq!(v["media_stats"]["caller"]["jitter_ms"], 1.5);
        assert!(v["media_stats"]["agent"].is_null());
        let back: StoredCall = serde_json::from_value(v).unwrap();
        assert_eq!(back, full);
        assert_eq!(back.seat.as_deref(), Some("8001"));
    }

    #[test]
    fn a_later_attachment_replaces_only_what_it_has() {
        let mut m = CallMedia {
            recording_error: Some("disk full".into()),
            media_stats: Some(MediaStats::default()),
            ..Default::default()
        };
        assert!(!m.is_empty() && CallMedia::default().is_empty());
        m.merge(CallMedia {
            recording_error: Some("short write".into()),
            ..Default::default()
        });
        assert_eq!(m.recording_error.as_deref(), Some("short write"));
        assert_eq!(m.media_stats, Some(MediaStats::default()));
        assert_eq!(m.recording, None);
    }

    #[test]
    fn a_leg_stored_before_rtcp_reads_with_no_rtcp_figures() {
        let old = r#"{"codec":"PCMA","packets":10,"bytes":1600,"lost":0,"jitter_ms":0.5,"streams":1,"sent_packets":9,"remote":null}"#;
        let leg: LegMediaStats = serde_json::from_str(old).unwrap();
        assert_eq!(
            (leg.packets, leg.rtcp_sent, leg.rtt_ms, leg.remote_lost),
            (10, 0, None, None)
        );
        let nan = LegMediaStats {
            rtt_ms: Some(f64::NAN),
            remote_jitter_ms: Some(2.0),
            ..Default::default()
        };
        let v = serde_json::to_value(&nan).unwrap();
        assert!(v["rtt_ms"].is_null() && v["remote_jitter_ms"] == 2.0, "{v}");
    }

    #[test]
    fn a_jitter_json_cannot_hold_is_written_as_zero() {
        let leg = LegMediaStats {
            jitter_ms: f64::NAN,
            ..Default::default()
        };
        let json = serde_json::to_string(&leg).unwrap();
        let back: LegMediaStats = serde_json::from_str(&json).unwrap();
        assert_eq!(back.jitter_ms, 0.0);
    }
}
