//! The engine's own typed config, built from the file config by
//! `crate::config::runtime`.

use crate::acd::AcdConfig;
use crate::model::LineClass;
use crate::sip::auth::DigestAuthConfig;
use crate::sip::registrar::RegistrarConfig;
use crate::sip::transaction::TimerConfig;
use crate::sip::{Proto, Side};
use std::collections::HashMap;
use std::net::SocketAddr;

/// A dialled number and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: String,
    pub queue: String,
    pub class: LineClass,
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatCredentials {
    pub password: String,
}

/// A feature code dialled from a seat phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureCode {
    Login,
    Logout,
    Ready,
    NotReady,
}

/// Outbound callbacks (回访), from `[outbound]`.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// Where outbound INVITEs go (the trunk, over UDP).
    pub trunk: SocketAddr,
    /// Dialled before the number from a seat phone.
    pub prefix: String,
    /// The From user the citizen sees; the call record's line.
    pub caller_id: String,
    pub ring_timeout: std::time::Duration,
    /// Per seat: its class and the patterns it may dial, by name.
    pub seats: HashMap<String, SeatOutbound>,
}

#[derive(Debug, Clone)]
pub struct SeatOutbound {
    /// The class of the seat's calls: emergency if it serves an emergency queue.
    pub class: LineClass,
    pub allowed: Vec<(String, regex::Regex)>,
}

/// Why a seat may not dial a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialRefused {
    #[error("outbound calls are not configured ([outbound])")]
    NotConfigured,
    #[error("seat {0} does not exist")]
    UnknownSeat(String),
    #[error("{number} is not a number seat {seat} may dial (its patterns: {patterns})")]
    NotAllowed {
        seat: String,
        number: String,
        patterns: String,
    },
}

impl Outbound {
    /// Whether `seat` may dial `number`; `Ok` names the pattern it matched.
    pub fn check(&self, seat: &str, number: &str) -> Result<String, DialRefused> {
        let s = self
            .seats
            .get(seat)
            .ok_or_else(|| DialRefused::UnknownSeat(seat.into()))?;
        if let Some((name, _)) = s.allowed.iter().find(|(_, re)| re.is_match(number)) {
            return Ok(name.clone());
        }
        let names: Vec<&str> = s.allowed.iter().map(|(n, _)| n.as_str()).collect();
        Err(DialRefused::NotAllowed {
            seat: seat.into(),
            number: number.into(),
            patterns: if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            },
        })
    }
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// User-Agent / Server header value.
    pub name: String,
    /// The address hotline writes into Via and Contact, per side and
    /// protocol (the listen address, or `server.advertise` with its port).
    pub local: HashMap<(Side, Proto), SocketAddr>,
    pub trunk_allow: Vec<ipnet::IpNet>,
    pub lines: HashMap<String, Line>,
    pub seats: HashMap<String, SeatCredentials>,
    /// Code prefix -> feature; NotReady takes a reason digit suffix.
    pub feature_codes: Vec<(String, FeatureCode)>,
    pub not_ready_reasons: HashMap<String, String>,
    pub auto_ready: bool,
    pub registrar: RegistrarConfig,
    pub auth: DigestAuthConfig,
    pub acd: AcdConfig,
    /// Queue -> SIP status sent when the queue rejects a call.
    pub reject_codes: HashMap<String, u16>,
    pub timers: TimerConfig,
    /// `None`: SDP passes end to end, hotline never touches audio.
    /// Shared: each call takes a handle on it, not a copy of its prompts.
    pub media: Option<std::sync::Arc<super::MediaSettings>>,
    /// `None`: seats cannot dial out.
    pub outbound: Option<Outbound>,
    /// `None`: no limit on calls at once but the media ports.
    pub capacity: Option<Capacity>,
}

/// Calls at once, from `[capacity]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub max_calls: usize,
    pub reserved_emergency: usize,
}

impl EngineConfig {
    /// The local address for a flow's side and protocol; falls back to any
    /// address of that side.
    pub fn local_addr(&self, side: Side, proto: Proto) -> SocketAddr {
        self.local
            .get(&(side, proto))
            .or_else(|| {
                self.local
                    .iter()
                    .find(|((s, _), _)| *s == side)
                    .map(|(_, a)| a)
            })
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)))
    }

    /// Resolves a dialled feature code to its feature and reason.
    pub fn feature(&self, dialled: &str) -> Option<(FeatureCode, Option<String>)> {
        for (code, feature) in &self.feature_codes {
            if *feature == FeatureCode::NotReady {
                if let Some(rest) = dialled.strip_prefix(code.as_str()) {
                    if rest.is_empty() {
                        return Some((FeatureCode::NotReady, Some("other".into())));
                    }
                    return self
                        .not_ready_reasons
                        .get(rest)
                        .map(|r| (FeatureCode::NotReady, Some(r.clone())));
                }
            } else if dialled == code {
                return Some((feature.clone(), None));
            }
        }
        None
    }
}
