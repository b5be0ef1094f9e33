//! The ACD's own typed config, built from the file by
//! `crate::config::runtime::acd_config`.

use std::time::Duration;

/// How a queue picks among the ready seats of its best penalty tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The seat whose last call ended longest ago (Asterisk `leastrecent`).
    #[default]
    LongestIdle,
    /// Every ready seat of the tier at once; the first to answer wins.
    RingAll,
    /// The next seat after the one this queue rang last (`rrmemory`).
    RoundRobin,
    /// The seat that has answered the fewest calls (`fewestcalls`).
    FewestCalls,
}

/// What a queue does with a call when nobody is logged in, or when the
/// call has waited `max_wait`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// Keep the call waiting.
    Wait,
    /// Move the call to the named queue (it keeps its place by arrival time).
    Overflow(String),
    /// Refuse the call with this reason.
    Reject(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    pub name: String,
    pub strategy: Strategy,
    /// How long one seat rings before the call moves on.
    pub ring_timeout: Duration,
    /// How long a seat that failed a call is skipped for that call.
    pub retry: Duration,
    /// `None`: no limit.
    pub max_wait: Option<Duration>,
    pub when_no_agents: Fallback,
    pub when_timeout: Fallback,
    /// After-call work time before the seat is offered calls again.
    pub wrapup: Duration,
    /// A seat that lets a call ring out goes not-ready (`no_answer`).
    pub no_answer_not_ready: bool,
    /// Waiting calls of higher-priority queues are served first.
    pub priority: i32,
    /// Emergency (110/119/122) or not: shown with the queue, and its
    /// seats take the class of their queues.
    pub class: crate::model::LineClass,
}

impl QueueConfig {
    /// A queue with the defaults of the config file; for tests.
    pub fn new(name: &str) -> QueueConfig {
        QueueConfig {
            name: name.into(),
            strategy: Strategy::LongestIdle,
            ring_timeout: Duration::from_secs(15),
            retry: Duration::from_secs(2),
            max_wait: None,
            when_no_agents: Fallback::Wait,
            when_timeout: Fallback::Wait,
            wrapup: Duration::ZERO,
            no_answer_not_ready: false,
            priority: 0,
            class: crate::model::LineClass::NonEmergency,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatConfig {
    pub extension: String,
    /// Queue name and penalty: a seat is offered a queue's calls only when
    /// no seat of a lower penalty is ready for them.
    pub queues: Vec<(String, u32)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcdConfig {
    pub queues: Vec<QueueConfig>,
    pub seats: Vec<SeatConfig>,
}
