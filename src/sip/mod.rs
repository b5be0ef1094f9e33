//! SIP: messages, transactions, digest authentication, the registrar's
//! location table and the transports that carry them.
//!
//! ```text
//!   transport (tokio: UDP sockets, TCP connections)     <- IO edge
//!        |  Datagram { flow, bytes }      ^ Transmit { flow, bytes }
//!        v                                |
//!   message  (parse / check / print, ezk-sip-types underneath)
//!        |                                ^
//!   transaction (RFC 3261 §17 + RFC 6026 state machines, timers A-M as data)
//!        |  TxEvent                       ^ send_request / send_response
//!        v                                |
//!   b2bua::Engine (calls, registrar, ACD)                <- crate::b2bua
//! ```
//!
//! Everything below `transport` is sans-IO: fed with bytes and an
//! `Instant`, it returns bytes to send and the next time it wants to wake.

pub mod auth;
pub mod message;
pub mod registrar;
pub mod transaction;
pub mod transport;

pub use message::{Message, ParseError};

use ezk_sip_types::uri::{SipUri, SipUriUserPart};
use std::net::SocketAddr;

/// Which listener a message came in on (or goes out of).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Seat phones: REGISTER, feature codes, calls to seats.
    Phones,
    /// The carrier trunk: citizens' calls.
    Trunk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    pub fn reliable(self) -> bool {
        self == Proto::Tcp
    }
    pub fn via_name(self) -> &'static str {
        match self {
            Proto::Udp => "UDP",
            Proto::Tcp => "TCP",
        }
    }
}

/// A path to a peer: listener side, protocol and remote address. For TCP
/// `conn` names the connection a message arrived on so answers reuse it;
/// `None` lets the transport reuse or open one to `remote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    pub side: Side,
    pub proto: Proto,
    pub remote: SocketAddr,
    pub conn: Option<u64>,
}

/// Bytes to send on a flow.
#[derive(Debug, Clone)]
pub struct Transmit {
    pub flow: Flow,
    pub data: bytes::Bytes,
}

/// The user part of a SIP URI (`12345` in `sip:12345@host`).
pub fn uri_user(uri: &SipUri) -> Option<String> {
    match &uri.user_part {
        SipUriUserPart::Empty => None,
        SipUriUserPart::User(u) => Some(u.to_string()),
        SipUriUserPart::UserPw(up) => Some(up.user.to_string()),
    }
}

/// The address of a SIP URI whose host is an IP literal (port 5060 when
/// absent); `None` for host names, which hotline does not resolve.
pub fn uri_socket_addr(uri: &SipUri) -> Option<SocketAddr> {
    use ezk_sip_types::host::Host;
    let ip: std::net::IpAddr = match &uri.host_port.host {
        Host::IP4(ip) => (*ip).into(),
        Host::IP6(ip) => (*ip).into(),
        Host::Name(_) => return None,
    };
    Some(SocketAddr::new(ip, uri.host_port.port.unwrap_or(5060)))
}

/// A fresh random token for tags and branches.
pub fn random_token() -> String {
    let v: u64 = rand::random();
    format!("{v:016x}")
}
