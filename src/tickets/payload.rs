//! The JSON body of a delivery, schema `hotline.call-event` version 1
//! (documented with an example in docs/events.md). Built when the event is
//! sent, from the call's stored row, so it carries what is known by then.
//! Fields are only ever added within a version; a change in meaning gets a
//! new version.

use crate::model::StoredCall;
use crate::store::outbox::{EventKind, OutboxEvent};
use serde::Serialize;

pub const SCHEMA: &str = "hotline.call-event";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Payload<'a> {
    pub schema: &'static str,
    pub version: u32,
    /// The event id, also sent as `Idempotency-Key`.
    pub id: &'a str,
    /// `call.answered` or `call.ended`.
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// When it happened (the answer, or the end), Unix milliseconds.
    pub occurred_at_ms: i64,
    pub call: CallPart<'a>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallPart<'a> {
    pub id: &'a str,
    /// `inbound` (a citizen called a line) or `outbound` (a callback:
    /// `caller` is the citizen called, `line` the number shown to them).
    pub direction: &'a str,
    pub line: &'a str,
    pub tag: Option<&'a str>,
    pub class: &'a str,
    pub caller: &'a str,
    pub queue: Option<&'a str>,
    pub seat: Option<&'a str>,
    /// The agent's name at the seat, when the config names one.
    pub agent: Option<&'a str>,
    pub offered_at_ms: i64,
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub wait_ms: i64,
    pub talk_ms: i64,
    pub outcome: Option<&'a str>,
    pub hangup_by: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub survey: Option<&'a str>,
    pub ticket_id: Option<&'a str>,
    pub recording: Option<RecordingPart<'a>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordingPart<'a> {
    /// The recording's id: the call's id (one recording per call).
    pub id: &'a str,
    pub duration_ms: u64,
    pub size_bytes: u64,
    pub sha256: &'a str,
    /// Where to download it (hotline's API).
    pub url: String,
}

/// The body for `event` of `call`. `agent` names the seat's agent;
/// `recording_url` is where the ticket system downloads the recording
/// (signed, when hotline signs links).
/// A `call.answered` carries the call as it was answered (no end, no
/// recording) even if it is sent after the end.
pub fn build<'a>(
    event: &'a OutboxEvent,
    call: &'a StoredCall,
    agent: Option<&'a str>,
    recording_url: String,
) -> Payload<'a> {
    let answered_only = EventKind::parse(&event.kind) == Some(EventKind::CallAnswered);
    let c = &call.record;
    let recording = call
        .media
        .recording
        .as_ref()
        .filter(|_| !answered_only)
        .map(|r| RecordingPart {
            id: &c.id,
            duration_ms: r.duration_ms,
            size_bytes: r.size_bytes,
            sha256: &r.sha256,
            url: recording_url,
        });
    fn unless<T>(answered_only: bool, v: Option<T>) -> Option<T> {
        if answered_only { None } else { v }
    }
    Payload {
        schema: SCHEMA,
        version: VERSION,
        id: &event.id,
        kind: &event.kind,
        occurred_at_ms: event.created_at_ms,
        call: CallPart {
            id: &c.id,
            direction: c.direction.as_str(),
            line: &c.line,
            tag: c.tag.as_deref(),
            class: c.class.as_str(),
            caller: &c.caller,
            queue: c.queue.as_deref(),
            seat: c.seat.as_deref(),
            agent,
            offered_at_ms: c.offered_at_ms,
            answered_at_ms: c.answered_at_ms,
            ended_at_ms: unless(answered_only, c.ended_at_ms),
            wait_ms: c.wait_ms,
            talk_ms: if answered_only { 0 } else { c.talk_ms },
            outcome: unless(answered_only, c.outcome.map(|o| o.as_str())),
            hangup_by: unless(answered_only, c.hangup_by.map(|h| h.as_str())),
            reason: unless(answered_only, c.reason.as_deref()),
            survey: unless(answered_only, c.survey.as_deref()),
            ticket_id: call.ticket_id.as_deref(),
            recording,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CallRecord, HangupBy, LineClass, Outcome, Recording};

    fn call() -> StoredCall {
        let record = CallRecord {
            id: "c1".into(),
            sip_call_id: "s1".into(),
            line: "12345".into(),
            tag: Some("citizen-service".into()),
            class: LineClass::NonEmergency,
            caller: "13800000000".into(),
            queue: Some("citizen".into()),
            seat: Some("8001".into()),
            offered_at_ms: 1_000,
            answered_at_ms: Some(4_000),
            ended_at_ms: Some(64_000),
            outcome: Some(Outcome::Answered),
            hangup_by: Some(HangupBy::Agent),
            reason: None,
            wait_ms: 3_000,
            talk_ms: 60_000,
            survey: Some("1".into()),
            anchored: true,
            direction: Default::default(),
            ticket: None,
        };
        let mut call = StoredCall::from(record);
        call.media.recording = Some(Recording {
            path: "x.wav".into(),
            duration_ms: 60_000,
            size_bytes: 1_920_044,
            sha256: "ab".repeat(32),
            deleted_at_ms: None,
        });
        call.ticket_id = Some("GD-1".into());
        call
    }

    fn event(kind: &str, at: i64) -> OutboxEvent {
        OutboxEvent {
            id: format!("c1:{kind}"),
            call_id: "c1".into(),
            kind: kind.into(),
            created_at_ms: at,
            state: "pending".into(),
            attempts: 0,
            next_attempt_at_ms: at,
            last_error: None,
            delivered_at_ms: None,
            sink: "tickets".into(),
        }
    }

    #[test]
    fn call_ended_carries_the_whole_record_and_its_recording() {
        let (call, ev) = (call(), event("call.ended", 64_000));
        let v =
            serde_json::to_value(build(&ev, &call, Some("Li Na"), "https://h/rec".into())).unwrap();
        assert_eq!(
            (
                v["schema"].as_str(),
                v["version"].as_u64(),
                v["type"].as_str()
            ),
            (Some(SCHEMA), Some(1), Some("call.ended"))
        );
        assert_eq!(v["id"], "c1:call.ended");
        let c = &v["call"];
        assert_eq!(
            (
                c["agent"].as_str(),
                c["outcome"].as_str(),
                c["survey"].as_str()
            ),
            (Some("Li Na"), Some("answered"), Some("1"))
        );
        assert_eq!(
            (c["talk_ms"].as_i64(), c["ticket_id"].as_str()),
            (Some(60_000), Some("GD-1"))
        );
        assert_eq!(c["recording"]["url"], "https://h/rec");
        assert_eq!(c["recording"]["id"], "c1");
    }

    #[test]
    fn call_answered_says_only_what_was_known_at_the_answer() {
        let (call, ev) = (call(), event("call.answered", 4_000));
        let v = serde_json::to_value(build(&ev, &call, None, "https://h/rec".into())).unwrap();
        let c = &v["call"];
        assert_eq!(
            (
                c["caller"].as_str(),
                c["seat"].as_str(),
                c["answered_at_ms"].as_i64()
            ),
            (Some("13800000000"), Some("8001"), Some(4_000))
        );
        for absent in ["ended_at_ms", "outcome", "hangup_by", "survey", "recording"] {
            assert!(
                c[absent].is_null(),
                "{absent} is not known at the answer: {c}"
            );
        }
        assert_eq!(c["talk_ms"], 0);
        assert_eq!(v["occurred_at_ms"], 4_000);
    }
}
