//! Domain types shared by the cores and the edges: line classes, call
//! outcomes, call records and the queue/agent event log.
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
    /// Time from answer to end.
    pub talk_ms: i64,
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
        assert_eq!("emergency".parse::<LineClass>().unwrap(), LineClass::Emergency);
        assert!("police".parse::<LineClass>().is_err());
    }
}
