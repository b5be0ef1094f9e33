//! A seat (an agent at a desk phone) and its agent state.

use std::time::Instant;

/// An agent's state, driven from the desk phone (registration, feature
/// codes, answering) and the API.
///
/// ```text
///              login (*11), ready (*13), or registering with auto_ready
///  LoggedOut ------------------------------------------------> Ready
///      ^                                                     ^  |  ^
///      | logout (*12), from any state;                       |  |  | not answered,
///      | while busy: after the call                  ready   |  |  | busy, declined
///      |                                             (*13)   |  v  |
///  NotReady{reason} <--- not ready (*14x) ------------------ +  Ringing
///      ^                 (while busy: after the call)           |
///      |                                                        | answered
///      +---- after-call request ---- WrapUp <----- ends ----- OnCall
///                                      | wrap-up seconds over
///                                      +--------------------------> Ready
/// ```
/// A seat is offered calls only when it is `Ready` and reachable (it has a
/// live registration).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AgentState {
    LoggedOut,
    Ready,
    NotReady { reason: String },
    Ringing { call: String },
    OnCall { call: String },
    WrapUp,
}

impl AgentState {
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Ready => "ready",
            AgentState::NotReady { .. } => "not_ready",
            AgentState::Ringing { .. } => "ringing",
            AgentState::OnCall { .. } => "on_call",
            AgentState::WrapUp => "wrap_up",
        }
    }

    /// `ready`, or `not_ready:lunch`: the form used in event details.
    pub fn label(&self) -> String {
        match self {
            AgentState::NotReady { reason } => format!("not_ready:{reason}"),
            other => other.name().to_string(),
        }
    }

    /// Ringing or on a call: state changes asked for now apply afterwards.
    pub fn busy(&self) -> bool {
        matches!(self, AgentState::Ringing { .. } | AgentState::OnCall { .. })
    }
}

/// A change of agent state asked for from the phone or the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateRequest {
    Login,
    Logout,
    Ready,
    NotReady(String),
}

/// What a seat asked to become once its current call (and wrap-up) ends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AfterCall {
    NotReady { reason: String },
    LoggedOut,
}

impl AfterCall {
    pub fn state(&self) -> AgentState {
        match self {
            AfterCall::NotReady { reason } => AgentState::NotReady {
                reason: reason.clone(),
            },
            AfterCall::LoggedOut => AgentState::LoggedOut,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Seat {
    pub extension: String,
    /// Queue name and penalty.
    pub queues: Vec<(String, u32)>,
    pub state: AgentState,
    /// When the current state began; `None` before the first change.
    pub since: Option<Instant>,
    /// Has a live registration.
    pub reachable: bool,
    /// When the seat's last call ended (or it logged in): longest-idle
    /// picks the smallest. `None` sorts first.
    pub idle_since: Option<Instant>,
    /// Calls answered since hotline started (fewest-calls picks the least).
    pub calls_answered: u64,
    pub after_call: Option<AfterCall>,
    /// With auto-ready: the registration lapsed while the seat was busy;
    /// it logs out when the call is over unless it registers again first.
    pub registration_lapsed: bool,
    /// Removed by a reload while ringing or on a call: offered nothing
    /// more, it leaves when that is over.
    pub retiring: bool,
}

impl Seat {
    pub fn new(extension: String, queues: Vec<(String, u32)>) -> Seat {
        Seat {
            extension,
            queues,
            state: AgentState::LoggedOut,
            since: None,
            reachable: false,
            idle_since: None,
            calls_answered: 0,
            after_call: None,
            registration_lapsed: false,
            retiring: false,
        }
    }

    /// Can be rung now.
    pub fn available(&self) -> bool {
        self.reachable && self.state == AgentState::Ready && !self.retiring
    }

    /// Logged in and reachable: counts as staffing its queues, even when
    /// not ready (an agent on a break is coming back).
    pub fn staffed(&self) -> bool {
        self.reachable && self.state != AgentState::LoggedOut
    }

    pub fn penalty_in(&self, queue: &str) -> Option<u32> {
        self.queues
            .iter()
            .find(|(q, _)| q == queue)
            .map(|(_, p)| *p)
    }
}
