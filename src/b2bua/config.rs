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
}

impl EngineConfig {
    /// The local address for a flow's side and protocol; falls back to any
    /// address of that side.
    pub fn local_addr(&self, side: Side, proto: Proto) -> SocketAddr {
        self.local
            .get(&(side, proto))
            .or_else(|| self.local.iter().find(|((s, _), _)| *s == side).map(|(_, a)| a))
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
                    return self.not_ready_reasons.get(rest).map(|r| (FeatureCode::NotReady, Some(r.clone())));
                }
            } else if dialled == code {
                return Some((feature.clone(), None));
            }
        }
        None
    }
}
