//! Server-side SIP digest authentication for the phones side (REGISTER,
//! and INVITE from seat phones): challenges and verification, sans-IO.
//!
//! RFC 3261 §22 / RFC 2617 digest with `qop=auth` only, algorithms of
//! RFC 7616/8760: SHA-256 and MD5, optionally their `-sess` forms. Time is
//! an input (`now_ms`, wall-clock Unix milliseconds); randomness too (the
//! HMAC secret at construction, 16 bytes per challenge).
//!
//! ```text
//!   request without Authorization ---------------> challenge(stale=false) -> 401/407
//!   request with Authorization --> verify() --+--> Ok { username }
//!                                             +--> Stale   -> challenge(stale=true) -> 401/407
//!                                             +--> Denied(reason) -> 403 (reason for logs only)
//! ```
//!
//! What this file owns, and the rules:
//! - One `WWW-Authenticate` value per offered algorithm, in config order,
//!   which should be SHA-256 before MD5 (RFC 8760 §2.4); all carry the same
//!   nonce and `qop="auth"`.
//! - Nonces are stateless and unforgeable (see `nonce.rs`): issue time,
//!   randomness and an HMAC under the per-process secret.
//! - [`Verdict::Stale`] (a fresh challenge with `stale=true`) answers
//!   correct credentials on a nonce that expired (`nonce_ttl` after issue)
//!   or that this process cannot vouch for: altered, or issued before a
//!   restart (a restart draws a new secret). So phones that reuse a cached
//!   nonce recover after a restart without a 403, while a nonce that fails
//!   its HMAC never authenticates. Wrong credentials give `Denied` in all
//!   these cases (`BadNonce` when the nonce failed its HMAC).
//! - Replay: `nc` must strictly increase per nonce. Used nonces are
//!   remembered (bounded, pruned as they expire) with their highest `nc`.
//! - Unknown users and wrong passwords take the same path: a digest is
//!   computed against a dummy secret and compared in constant time, and
//!   both end in `Denied(DenyReason::BadCredentials)`. The lookup callback's
//!   own timing is the caller's concern (an in-memory map is fine).
//! - The digest-uri must match the Request-URI, loosely (`parse::uri_matches`:
//!   parameters ignored, host case-insensitive, default port, and a
//!   digest-uri without user, as SIPp signs, matches).

mod digest;
mod nonce;
mod parse;
#[cfg(test)]
mod tests;

pub use digest::{Algorithm, DigestInput, QopAuth, authorization_value, compute_response};

use nonce::{Admit, NonceKeeper};
use std::fmt;
use std::time::Duration;

/// Most used nonces remembered for replay protection at once; beyond it the
/// oldest are forgotten and become stale.
pub const DEFAULT_MAX_TRACKED_NONCES: usize = 65_536;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestAuthConfig {
    pub realm: String,
    /// How long a nonce is good for after it is issued.
    pub nonce_ttl: Duration,
    /// Algorithms offered and accepted, in the order the challenges list
    /// them: most preferred first (RFC 8760 §2.4). The default is MD5
    /// then SHA-256, because many desk phones answer only the first
    /// challenge and know only MD5 (`sip.phones.auth_algorithms`). Empty
    /// means that default.
    pub algorithms: Vec<Algorithm>,
}

impl Default for DigestAuthConfig {
    fn default() -> Self {
        DigestAuthConfig {
            realm: "hotline".into(),
            nonce_ttl: Duration::from_secs(300),
            algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
        }
    }
}

/// A user's secret as the caller stores it.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The plain password.
    Password(String),
    /// Precomputed HA1 = H(username:realm:password) in hex, per hash; an
    /// algorithm whose HA1 is missing cannot authenticate this user.
    Ha1 {
        md5: Option<String>,
        sha256: Option<String>,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Password(..)"),
            Credential::Ha1 { .. } => f.write_str("Ha1 { .. }"),
        }
    }
}

/// The outcome of [`DigestAuth::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated as `username` (the digest `username` parameter).
    Ok { username: String },
    /// Right credentials on an expired nonce: challenge again with
    /// `stale=true` so the phone retries without asking its user.
    Stale,
    /// Refused. Every reason gets the same SIP answer; the reason is for logs.
    Denied(DenyReason),
}

/// Why a request was refused (for logs only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DenyReason {
    /// The header is not a well-formed Digest credentials value, or lacks a
    /// required field.
    #[error("malformed or incomplete Authorization header")]
    Malformed,
    /// Another scheme than Digest.
    #[error("authorization scheme is not Digest")]
    NotDigest,
    /// `username*` (RFC 7616 extended notation) or `userhash=true`: never offered.
    #[error("username* or userhash is not supported")]
    UnsupportedUsername,
    /// An algorithm the challenge did not offer (or an unknown one).
    #[error("digest algorithm not offered")]
    AlgorithmNotOffered,
    /// `qop` missing (RFC 2069 style) or other than `auth`.
    #[error("qop missing or not auth")]
    QopNotAuth,
    #[error("realm does not match")]
    RealmMismatch,
    /// The digest-uri does not name the Request-URI.
    #[error("digest uri does not match the Request-URI")]
    UriMismatch,
    #[error("opaque does not match")]
    OpaqueMismatch,
    /// Not a nonce this process issued (forged, altered, or from before a restart).
    #[error("nonce not issued by this server")]
    BadNonce,
    /// Wrong password or unknown user: deliberately indistinguishable.
    #[error("wrong credentials")]
    BadCredentials,
    /// A known user without a stored HA1 for the algorithm used.
    #[error("no credential stored for this algorithm")]
    NoCredentialForAlgorithm,
    /// A nonce count already used (or zero) for this nonce.
    #[error("nonce count replayed")]
    Replay,
}

/// Issues challenges and verifies digest responses.
pub struct DigestAuth {
    config: DigestAuthConfig,
    /// Offered algorithms in config order, without duplicates.
    offered: Vec<Algorithm>,
    nonces: NonceKeeper,
    opaque: String,
    /// Stands in for the password of unknown users.
    dummy_password: String,
}

impl fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuth")
            .field("config", &self.config)
            .field("tracked_nonces", &self.nonces.tracked())
            .finish_non_exhaustive()
    }
}

impl DigestAuth {
    /// `secret` must be random (drawn once per process by the caller).
    pub fn new(config: DigestAuthConfig, secret: [u8; 32]) -> Self {
        Self::with_max_tracked_nonces(config, secret, DEFAULT_MAX_TRACKED_NONCES)
    }

    /// Like [`Self::new`] with a bound on the replay table.
    pub fn with_max_tracked_nonces(config: DigestAuthConfig, secret: [u8; 32], max: usize) -> Self {
        let mut offered: Vec<Algorithm> = Vec::new();
        for alg in &config.algorithms {
            if !offered.contains(alg) {
                offered.push(*alg);
            }
        }
        if offered.is_empty() {
            offered = DigestAuthConfig::default().algorithms;
        }
        let ttl_ms = u64::try_from(config.nonce_ttl.as_millis()).unwrap_or(u64::MAX);
        DigestAuth {
            nonces: NonceKeeper::new(&secret, &config.realm, ttl_ms, max),
            opaque: nonce::derive(&secret, "opaque", &config.realm, 16),
            dummy_password: nonce::derive(&secret, "dummy-password", "", 32),
            offered,
            config,
        }
    }

    pub fn config(&self) -> &DigestAuthConfig {
        &self.config
    }

    /// `WWW-Authenticate` (or `Proxy-Authenticate`) values for a 401/407,
    /// one per offered algorithm in config order; `stale=true` after a
    /// [`Verdict::Stale`]. `random` must be fresh random bytes.
    pub fn challenge(&self, now_ms: u64, random: [u8; 16], stale: bool) -> Vec<String> {
        let nonce = self.nonces.mint(now_ms, random);
        let realm = digest::quote(&self.config.realm);
        self.offered
            .iter()
            .map(|alg| {
                let mut v = format!(
                    "Digest realm=\"{realm}\", nonce=\"{nonce}\", opaque=\"{}\", algorithm={alg}, qop=\"auth\"",
                    self.opaque
                );
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// Verifies an `Authorization` (or `Proxy-Authorization`) value for a
    /// request with `method` and `request_uri` (as printed from the parsed
    /// message). `credentials` looks a username up; it is called at most
    /// once, and only after every check that does not need the user.
    pub fn verify(
        &mut self,
        now_ms: u64,
        method: &str,
        request_uri: &str,
        authorization: &str,
        credentials: impl Fn(&str) -> Option<Credential>,
    ) -> Verdict {
        match self.check(now_ms, method, request_uri, authorization, credentials) {
            Ok(verdict) => verdict,
            Err(reason) => Verdict::Denied(reason),
        }
    }

    /// Forgets expired nonces; [`Self::verify`] does this by itself, a
    /// driver may also call it from a timer.
    pub fn prune(&mut self, now_ms: u64) {
        self.nonces.prune(now_ms);
    }

    /// Nonces currently remembered for replay protection.
    pub fn tracked_nonces(&self) -> usize {
        self.nonces.tracked()
    }

    fn check(
        &mut self,
        now_ms: u64,
        method: &str,
        request_uri: &str,
        authorization: &str,
        credentials: impl Fn(&str) -> Option<Credential>,
    ) -> Result<Verdict, DenyReason> {
        let r = parse::parse(authorization)?;
        if !self.offered.contains(&r.algorithm) {
            return Err(DenyReason::AlgorithmNotOffered);
        }
        if r.realm != self.config.realm {
            return Err(DenyReason::RealmMismatch);
        }
        if r.opaque.as_ref().is_some_and(|o| *o != self.opaque) {
            return Err(DenyReason::OpaqueMismatch);
        }
        if !parse::uri_matches(&r.uri, request_uri) {
            return Err(DenyReason::UriMismatch);
        }
        // `None`: not a nonce of ours. The digest is still checked: right
        // credentials on it (a nonce from before a restart) earn a fresh
        // challenge, wrong ones `BadNonce`.
        let opened = self.nonces.open(&r.nonce);

        // From here on, the same work whether or not the user exists.
        let credential = credentials(&r.username);
        let password = match &credential {
            Some(Credential::Password(p)) => p.as_str(),
            _ => self.dummy_password.as_str(),
        };
        let computed = digest::ha1(r.algorithm, &r.username, &r.realm, password);
        // Unknown users and wrong passwords end alike; `usable` is false
        // when the HA1 compared against is the dummy's.
        let (ha1, usable, refusal) = match credential {
            Some(Credential::Password(_)) => (computed, true, DenyReason::BadCredentials),
            Some(Credential::Ha1 { md5, sha256 }) => {
                let stored = if r.algorithm.is_sha256() { sha256 } else { md5 };
                match stored {
                    Some(h) => (
                        h.trim().to_ascii_lowercase(),
                        true,
                        DenyReason::BadCredentials,
                    ),
                    None => (computed, false, DenyReason::NoCredentialForAlgorithm),
                }
            }
            None => (computed, false, DenyReason::BadCredentials),
        };
        let ha1 = digest::session_ha1(r.algorithm, ha1, &r.nonce, &r.cnonce);
        // The nc enters the client's hash as it wrote it: RFC 7616 says
        // lowercase hex, some stacks (ezk) print uppercase. Try both when
        // they differ (that depends on nc only, not on the user).
        let lower = format!("{:08x}", r.nc);
        let upper = lower.to_ascii_uppercase();
        let variants: &[&str] = if lower == upper {
            &[&lower]
        } else {
            &[&lower, &upper]
        };
        let mut matched = false;
        for nc in variants {
            let qop = Some((*nc, r.cnonce.as_str()));
            let expected =
                digest::response_from_ha1(r.algorithm, &ha1, &r.nonce, qop, method, &r.uri);
            matched |= digest::ct_eq(expected.as_bytes(), r.response.as_bytes());
        }
        let Some(opened) = opened else {
            return if matched && usable {
                Ok(Verdict::Stale)
            } else {
                Err(DenyReason::BadNonce)
            };
        };
        if !matched || !usable {
            return Err(refusal);
        }
        match self.nonces.admit(now_ms, opened, r.nc) {
            Admit::Fresh => Ok(Verdict::Ok {
                username: r.username,
            }),
            Admit::Stale => Ok(Verdict::Stale),
            Admit::Replay => Err(DenyReason::Replay),
        }
    }
}
