//! The digest arithmetic of RFC 2617 §3.2.2 / RFC 7616 §3.4.1 (H, HA1,
//! HA2, response), hex helpers, a constant-time byte comparison, and the
//! client-side [`compute_response`] / [`authorization_value`] used by tests
//! and for authenticating toward a trunk.

use md5::Md5;
use sha2::{Digest, Sha256};
use std::fmt;

/// Digest algorithms (RFC 7616 §3.3 / RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    /// The token used in the `algorithm=` parameter.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Parses an `algorithm=` token (case-insensitive).
    pub fn from_token(token: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(token))
    }

    pub(super) fn is_sha256(self) -> bool {
        matches!(self, Algorithm::Sha256 | Algorithm::Sha256Sess)
    }

    pub(super) fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything a client needs besides the password to answer a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestInput<'a> {
    pub algorithm: Algorithm,
    pub username: &'a str,
    pub realm: &'a str,
    pub nonce: &'a str,
    /// The request method (`REGISTER`, `INVITE`, ...).
    pub method: &'a str,
    /// The digest-uri: normally the Request-URI exactly as sent.
    pub uri: &'a str,
    /// `Some` for `qop=auth`; `None` for the RFC 2069 form (no qop), which
    /// only servers that did not offer qop accept.
    pub qop: Option<QopAuth<'a>>,
}

/// The `qop=auth` extras: nonce count and client nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QopAuth<'a> {
    pub nc: u32,
    pub cnonce: &'a str,
}

/// The lowercase hex `response` for `input` and `password`.
///
/// The nonce count enters the hash as 8 lowercase hex digits (RFC 7616
/// `nc-value`).
pub fn compute_response(input: &DigestInput<'_>, password: &str) -> String {
    let ha1 = ha1(input.algorithm, input.username, input.realm, password);
    let cnonce = input.qop.map(|q| q.cnonce).unwrap_or("");
    let ha1 = session_ha1(input.algorithm, ha1, input.nonce, cnonce);
    let nc = input.qop.map(|q| format!("{:08x}", q.nc));
    let qop = input.qop.map(|q| (nc.as_deref().unwrap_or(""), q.cnonce));
    response_from_ha1(
        input.algorithm,
        &ha1,
        input.nonce,
        qop,
        input.method,
        input.uri,
    )
}

/// A complete `Authorization` (or `Proxy-Authorization`) header value
/// answering `input`; `opaque` is echoed when the challenge carried one.
pub fn authorization_value(
    input: &DigestInput<'_>,
    password: &str,
    opaque: Option<&str>,
) -> String {
    let response = compute_response(input, password);
    let mut v = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
        quote(input.username),
        quote(input.realm),
        quote(input.nonce),
        quote(input.uri),
        response,
        input.algorithm.name()
    );
    if let Some(o) = opaque {
        v.push_str(&format!(", opaque=\"{}\"", quote(o)));
    }
    if let Some(q) = input.qop {
        v.push_str(&format!(
            ", qop=auth, nc={:08x}, cnonce=\"{}\"",
            q.nc,
            quote(q.cnonce)
        ));
    }
    v
}

/// `H(data)` as lowercase hex, with the hash of `alg` (MD5 or SHA-256).
pub(super) fn h(alg: Algorithm, data: &[u8]) -> String {
    if alg.is_sha256() {
        hex(&Sha256::digest(data))
    } else {
        hex(&Md5::digest(data))
    }
}

/// HA1 = H(username ":" realm ":" password), before any `-sess` step.
pub(super) fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    h(alg, format!("{username}:{realm}:{password}").as_bytes())
}

/// For the `-sess` algorithms HA1 becomes H(HA1 ":" nonce ":" cnonce);
/// for the others it is returned unchanged.
pub(super) fn session_ha1(alg: Algorithm, ha1: String, nonce: &str, cnonce: &str) -> String {
    if alg.is_sess() {
        h(alg, format!("{ha1}:{nonce}:{cnonce}").as_bytes())
    } else {
        ha1
    }
}

/// response = H(HA1 ":" nonce ":" nc ":" cnonce ":auth:" HA2) with
/// `qop = Some((nc, cnonce))`, or H(HA1 ":" nonce ":" HA2) without;
/// HA2 = H(method ":" uri).
pub(super) fn response_from_ha1(
    alg: Algorithm,
    ha1: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
    method: &str,
    uri: &str,
) -> String {
    let ha2 = h(alg, format!("{method}:{uri}").as_bytes());
    let data = match qop {
        Some((nc, cnonce)) => format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"),
        None => format!("{ha1}:{nonce}:{ha2}"),
    };
    h(alg, data.as_bytes())
}

/// Lowercase hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Decodes hex (either case) into exactly `N` bytes.
pub(super) fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let s = s.as_bytes();
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Equality whose running time depends only on the lengths, not on where
/// the inputs differ. Lengths are public here (hex length of the algorithm).
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Escapes `"` and `\` for a quoted-string.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
