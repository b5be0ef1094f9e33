//! The registrar's location table (RFC 3261 §10.3), sans-IO: which seat
//! phone is reachable at which contact, over which flow, until when.
//!
//! Authentication happens before (see [`super::auth`]); this file only
//! applies an authenticated REGISTER to the bindings of one extension and
//! expires bindings as time passes, reporting when an extension becomes
//! reachable or unreachable (the ACD's `seat_reachable`).

use super::{Flow, Message};
use crate::timers::Timers;
use ezk_sip_types::Name;
use ezk_sip_types::header::typed::Contact;
use ezk_sip_types::print::AppendCtx;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// At most this many contacts per extension; the oldest go first.
pub const MAX_BINDINGS: usize = 10;

#[derive(Debug, Clone, Copy)]
pub struct RegistrarConfig {
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
}

/// One registered contact of a seat phone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Binding {
    /// The Contact URI as the phone sent it.
    pub contact: String,
    /// Where requests to the phone go. Over UDP: where the REGISTER came
    /// from, which keeps working behind NAT (the contact may be a private
    /// address). Over TCP: the registration's connection while it lives,
    /// then the Contact's address.
    #[serde(skip)]
    pub flow: Flow,
    /// The transport the phone registered over.
    pub transport: super::Proto,
    /// Where the REGISTER came from.
    pub remote: std::net::SocketAddr,
    #[serde(skip)]
    pub expires_at: Instant,
    #[serde(skip)]
    pub registered_at: Instant,
    #[serde(skip)]
    call_id: String,
    #[serde(skip)]
    cseq: u32,
    pub user_agent: Option<String>,
}

/// Why a REGISTER was refused; each maps to one SIP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// 400: malformed Contact, `*` with a non-zero Expires, CSeq out of order.
    #[error("{0}")]
    BadRequest(String),
    /// 423 Interval Too Brief, with the Min-Expires to send.
    #[error("interval too brief, minimum {0}")]
    TooBrief(u32),
}

/// A change of an extension's reachability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reachability {
    pub extension: String,
    pub reachable: bool,
}

#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    bindings: BTreeMap<String, Vec<Binding>>,
    /// Each extension's earliest binding expiry, so the next wake-up is
    /// found without walking every registration.
    expiries: Timers<String>,
    changes: VecDeque<Reachability>,
}

impl Registrar {
    pub fn new(config: RegistrarConfig) -> Self {
        Registrar {
            config,
            bindings: BTreeMap::new(),
            expiries: Timers::default(),
            changes: VecDeque::new(),
        }
    }

    /// Applies an authenticated REGISTER for `extension`; returns the
    /// bindings now in force (for the 200's Contact headers).
    pub fn register(
        &mut self,
        now: Instant,
        extension: &str,
        req: &Message,
        flow: Flow,
    ) -> Result<Vec<Binding>, RegisterError> {
        let result = self.apply_register(now, extension, req, flow);
        self.rearm(extension);
        result
    }

    /// Arms the extension's expiry timer at its earliest binding's expiry.
    fn rearm(&mut self, extension: &str) {
        match self
            .bindings
            .get(extension)
            .and_then(|l| l.iter().map(|b| b.expires_at).min())
        {
            Some(at) => self.expiries.set(extension.to_string(), at),
            None => self.expiries.cancel(&extension.to_string()),
        }
    }

    fn apply_register(
        &mut self,
        now: Instant,
        extension: &str,
        req: &Message,
        flow: Flow,
    ) -> Result<Vec<Binding>, RegisterError> {
        let bad = |s: &str| RegisterError::BadRequest(s.to_string());
        let call_id = req
            .call_id()
            .ok_or_else(|| bad("missing Call-ID"))?
            .to_string();
        let cseq = req.cseq().ok_or_else(|| bad("missing CSeq"))?.cseq;
        let header_expires = match req.raw(&Name::EXPIRES) {
            Some(v) => Some(v.trim().parse::<u32>().map_err(|_| bad("bad Expires"))?),
            None => None,
        };
        let raw_contacts: Vec<&str> = req
            .headers
            .get_raw(&Name::CONTACT)
            .map(|v| v.as_str().trim())
            .collect();
        let was_reachable = self.is_reachable(now, extension);
        if raw_contacts.contains(&"*") {
            if raw_contacts.len() != 1 || header_expires != Some(0) {
                return Err(bad("Contact: * needs Expires: 0 and no other contact"));
            }
            let stale = self.bindings.get(extension).into_iter().flatten();
            if stale
                .into_iter()
                .any(|b| b.call_id == call_id && cseq <= b.cseq)
            {
                return Err(bad("CSeq out of order"));
            }
            self.bindings.remove(extension);
            self.note_change(now, extension, was_reachable);
            return Ok(Vec::new());
        }
        let contacts: Vec<Contact> = if raw_contacts.is_empty() {
            Vec::new()
        } else {
            let parsed: Vec<Contact> = req
                .headers
                .get_named()
                .map_err(|_| bad("malformed Contact"))?;
            if parsed.is_empty() {
                return Err(bad("malformed Contact"));
            }
            parsed
        };
        let user_agent = req.raw(&Name::USER_AGENT).map(|u| u.to_string());
        let list = self.bindings.entry(extension.to_string()).or_default();
        list.retain(|b| b.expires_at > now);
        // Check ordering for all contacts first, so a refusal changes nothing.
        for c in &contacts {
            let uri = c.uri.uri.default_print_ctx().to_string();
            if list
                .iter()
                .any(|b| b.contact == uri && b.call_id == call_id && cseq <= b.cseq)
            {
                return Err(bad("CSeq out of order"));
            }
        }
        for c in &contacts {
            let uri = c.uri.uri.default_print_ctx().to_string();
            let param = c
                .params
                .get_val("expires")
                .and_then(|v| v.parse::<u32>().ok());
            let expires = param
                .or(header_expires)
                .unwrap_or(self.config.default_expires);
            if expires > 0 && expires < self.config.min_expires {
                return Err(RegisterError::TooBrief(self.config.min_expires));
            }
            list.retain(|b| b.contact != uri);
            if expires == 0 {
                continue;
            }
            let expires = expires.min(self.config.max_expires);
            // Over TCP the registration's connection is used while it
            // lives; once it is gone hotline connects to the Contact's
            // address, not to the phone's ephemeral source port.
            let flow = match (flow.proto, super::uri_socket_addr(&c.uri.uri)) {
                (super::Proto::Tcp, Some(addr)) => Flow {
                    remote: addr,
                    ..flow
                },
                _ => flow,
            };
            list.push(Binding {
                contact: uri,
                transport: flow.proto,
                flow,
                remote: flow.remote,
                expires_at: now + Duration::from_secs(expires.into()),
                registered_at: now,
                call_id: call_id.clone(),
                cseq,
                user_agent: user_agent.clone(),
            });
        }
        if list.len() > MAX_BINDINGS {
            list.sort_by_key(|b| b.registered_at);
            let excess = list.len() - MAX_BINDINGS;
            list.drain(..excess);
        }
        let current = list.clone();
        if current.is_empty() {
            self.bindings.remove(extension);
        }
        self.note_change(now, extension, was_reachable);
        Ok(current)
    }

    fn note_change(&mut self, now: Instant, extension: &str, was: bool) {
        let is = self.is_reachable(now, extension);
        if is != was {
            self.changes.push_back(Reachability {
                extension: extension.to_string(),
                reachable: is,
            });
        }
    }

    pub fn is_reachable(&self, now: Instant, extension: &str) -> bool {
        self.bindings
            .get(extension)
            .is_some_and(|l| l.iter().any(|b| b.expires_at > now))
    }

    /// The binding to ring: the most recently registered live contact.
    pub fn lookup(&self, now: Instant, extension: &str) -> Option<&Binding> {
        self.bindings
            .get(extension)?
            .iter()
            .filter(|b| b.expires_at > now)
            .max_by_key(|b| b.registered_at)
    }

    /// All live bindings of an extension (for the API).
    pub fn bindings(&self, now: Instant, extension: &str) -> Vec<Binding> {
        self.bindings
            .get(extension)
            .map(|l| l.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }

    /// Seconds left on a binding, for the Contact `expires` of a 200.
    pub fn remaining(now: Instant, b: &Binding) -> u64 {
        b.expires_at.saturating_duration_since(now).as_secs()
    }

    /// New expiry bounds (a reload): registrations from now on get them;
    /// bindings in force keep their expiry.
    pub fn set_config(&mut self, config: RegistrarConfig) {
        self.config = config;
    }

    /// Drops every binding of an extension (seat removed by a reload).
    pub fn forget(&mut self, now: Instant, extension: &str) {
        let was = self.is_reachable(now, extension);
        self.bindings.remove(extension);
        self.rearm(extension);
        self.note_change(now, extension, was);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiries.next()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(ext) = self.expiries.pop_due(now) {
            if let Some(list) = self.bindings.get_mut(&ext) {
                list.retain(|b| b.expires_at > now);
                if list.is_empty() {
                    self.bindings.remove(&ext);
                    self.changes.push_back(Reachability {
                        extension: ext.clone(),
                        reachable: false,
                    });
                }
            }
            self.rearm(&ext);
        }
    }

    pub fn poll_change(&mut self) -> Option<Reachability> {
        self.changes.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Proto, Side};
    use bytes::Bytes;

    fn flow() -> Flow {
        Flow {
            side: Side::Phones,
            proto: Proto::Udp,
            remote: "127.0.0.5:5062".parse().unwrap(),
            conn: None,
        }
    }

    fn register(cseq: u32, contact: &str, expires: Option<u32>) -> Message {
        let exp = expires
            .map(|e| format!("Expires: {e}\r\n"))
            .unwrap_or_default();
        let contact = if contact.is_empty() {
            String::new()
        } else {
            format!("Contact: {contact}\r\n")
        };
        Message::parse(Bytes::from(format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.5:5062;branch=z9hG4bK{cseq}\r\n\
From: <sip:8001@127.0.0.1>;tag=a\r\nTo: <sip:8001@127.0.0.1>\r\nCall-ID: reg1\r\nCSeq: {cseq} REGISTER\r\n\
{contact}{exp}Content-Length: 0\r\n\r\n"
        )))
        .unwrap()
    }

    fn registrar() -> Registrar {
        Registrar::new(RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
        })
    }

    #[test]
    fn register_refresh_expire_and_unregister() {
        let mut r = registrar();
        let t0 = Instant::now();
        let b = r
            .register(
                t0,
                "8001",
                &register(1, "<sip:8001@10.0.0.5:5062>", Some(120)),
                flow(),
            )
            .unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(
            r.poll_change(),
            Some(Reachability {
                extension: "8001".into(),
                reachable: true
            })
        );
        // A second contact from another device.
        r.register(
            t0,
            "8001",
            &register(2, "<sip:8001@10.0.0.6:5062>;expires=300", Some(120)),
            flow(),
        )
        .unwrap();
        assert_eq!(r.bindings(t0, "8001").len(), 2);
        assert_eq!(
            r.lookup(t0, "8001").unwrap().contact,
            "sip:8001@10.0.0.6:5062"
        );
        assert_eq!(r.poll_change(), None, "still reachable, no change");
        // The first expires after 120 s, the second keeps it reachable.
        r.handle_timeout(t0 + Duration::from_secs(121));
        assert_eq!(r.bindings(t0 + Duration::from_secs(121), "8001").len(), 1);
        assert_eq!(r.poll_change(), None);
        // Un-register the rest with Expires: 0.
        let now = t0 + Duration::from_secs(130);
        r.register(
            now,
            "8001",
            &register(3, "<sip:8001@10.0.0.6:5062>", Some(0)),
            flow(),
        )
        .unwrap();
        assert!(!r.is_reachable(now, "8001"));
        assert_eq!(
            r.poll_change(),
            Some(Reachability {
                extension: "8001".into(),
                reachable: false
            })
        );
    }

    #[test]
    fn too_brief_star_and_out_of_order() {
        let mut r = registrar();
        let t0 = Instant::now();
        assert_eq!(
            r.register(t0, "8001", &register(1, "<sip:8001@h>", Some(10)), flow())
                .unwrap_err(),
            RegisterError::TooBrief(60)
        );
        r.register(t0, "8001", &register(5, "<sip:8001@h>", Some(7200)), flow())
            .unwrap();
        let left = Registrar::remaining(t0, r.lookup(t0, "8001").unwrap());
        assert_eq!(left, 3600, "clamped to max_expires");
        assert!(matches!(
            r.register(t0, "8001", &register(4, "<sip:8001@h>", Some(600)), flow()),
            Err(RegisterError::BadRequest(_))
        ));
        assert!(matches!(
            r.register(t0, "8001", &register(6, "*", Some(5)), flow()),
            Err(RegisterError::BadRequest(_))
        ));
        assert!(
            r.register(t0, "8001", &register(6, "*", Some(0)), flow())
                .unwrap()
                .is_empty()
        );
        assert!(!r.is_reachable(t0, "8001"));
    }

    #[test]
    fn query_without_contact_lists_bindings() {
        let mut r = registrar();
        let t0 = Instant::now();
        r.register(t0, "8001", &register(1, "<sip:8001@h>", None), flow())
            .unwrap();
        let listed = r
            .register(t0, "8001", &register(2, "", None), flow())
            .unwrap();
        assert_eq!(listed.len(), 1);
    }
}
