//! Reading an `Authorization` header value with ezk-sip-types' typed
//! `AuthResponse` parser, and the loose digest-uri comparison.

use super::{Algorithm, DenyReason};
use bytesstr::BytesStr;
use ezk_sip_types::header::HeaderParse;
use ezk_sip_types::header::typed::{
    Algorithm as EzkAlgorithm, AlgorithmValue, AuthResponse, QopOption, Username,
};
use ezk_sip_types::host::Host;
use ezk_sip_types::uri::{SipUri, SipUriUserPart};

/// Longer header values are refused before parsing.
const MAX_HEADER_LEN: usize = 4096;

/// The fields of a Digest response that verification uses; quoted values
/// are unescaped.
#[derive(Debug, Clone)]
pub(super) struct Response {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Algorithm,
    pub opaque: Option<String>,
    pub nc: u32,
    pub cnonce: String,
}

/// Parses `value`; the scheme is matched case-insensitively (RFC 7235
/// §2.1), parameter names as ezk does (lowercase, as every client sends).
pub(super) fn parse(value: &str) -> Result<Response, DenyReason> {
    let value = value.trim();
    if value.len() > MAX_HEADER_LEN {
        return Err(DenyReason::Malformed);
    }
    let owned = match (value.get(..6), value.get(6..)) {
        (Some(s), Some(rest)) if s.eq_ignore_ascii_case("digest") && s != "Digest" => {
            format!("Digest{rest}")
        }
        _ => value.to_owned(),
    };
    let src = BytesStr::from(owned);
    let (rest, parsed) =
        AuthResponse::parse(src.as_ref(), &src).map_err(|_| DenyReason::Malformed)?;
    if !rest.trim().is_empty() {
        return Err(DenyReason::Malformed);
    }
    let d = match parsed {
        AuthResponse::Digest(d) => d,
        AuthResponse::Other(_) => return Err(DenyReason::NotDigest),
    };
    let username = match &d.username {
        Username::Username(u) if !d.userhash => unescape(u),
        _ => return Err(DenyReason::UnsupportedUsername),
    };
    let algorithm = match &d.algorithm {
        EzkAlgorithm::AlgorithmValue(AlgorithmValue::MD5) => Algorithm::Md5,
        EzkAlgorithm::AlgorithmValue(AlgorithmValue::MD5Sess) => Algorithm::Md5Sess,
        EzkAlgorithm::AlgorithmValue(AlgorithmValue::SHA256) => Algorithm::Sha256,
        EzkAlgorithm::AlgorithmValue(AlgorithmValue::SHA256Sess) => Algorithm::Sha256Sess,
        _ => return Err(DenyReason::AlgorithmNotOffered),
    };
    let (nc, cnonce) = match &d.qop_response {
        Some(q) if q.qop == QopOption::Auth => (q.nc, unescape(&q.cnonce)),
        _ => return Err(DenyReason::QopNotAuth),
    };
    Ok(Response {
        username,
        realm: unescape(&d.realm),
        nonce: d.nonce.to_string(),
        uri: unescape(&d.uri),
        response: d.response.to_ascii_lowercase(),
        algorithm,
        opaque: d.opaque.as_deref().map(unescape),
        nc,
        cnonce,
    })
}

/// Removes quoted-pair backslashes (`\x` -> `x`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// Whether the digest-uri names the Request-URI.
///
/// Equal strings match. Otherwise both are parsed as SIP URIs and match
/// when scheme (sip/sips) and host (case-insensitive) are equal, the ports
/// are equal (a missing port counting as 5060, 5061 for sips), and the
/// user parts are equal or the digest-uri has none. URI parameters and
/// headers are ignored: a phone's own printing of `;transport=udp` or of
/// parameter order must not fail authentication. A digest-uri without
/// user is accepted because SIPp always signs `sip:<remote ip>:<port>`
/// (or its `-auth_uri`), whatever the Request-URI; the host and port it
/// signed stay bound, and `nc` stops replays. Unparsable URIs (tel:,
/// garbage) only match byte for byte.
pub(super) fn uri_matches(digest_uri: &str, request_uri: &str) -> bool {
    let (a, b) = (digest_uri.trim(), request_uri.trim());
    if a == b {
        return true;
    }
    let (Ok(a), Ok(b)) = (a.parse::<SipUri>(), b.parse::<SipUri>()) else {
        return false;
    };
    let default_port = if a.sips { 5061 } else { 5060 };
    let host_eq = match (&a.host_port.host, &b.host_port.host) {
        (Host::Name(x), Host::Name(y)) => x.eq_ignore_ascii_case(y),
        (x, y) => x == y,
    };
    a.sips == b.sips
        && (a.user_part == b.user_part || a.user_part == SipUriUserPart::Empty)
        && host_eq
        && a.host_port.port.unwrap_or(default_port) == b.host_port.port.unwrap_or(default_port)
}
