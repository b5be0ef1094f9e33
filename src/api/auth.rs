//! Who may call the API: bearer tokens from `[http] tokens`, each allowed
//! some of read, recordings and write; requests without a token get what
//! `[http] anonymous` allows; a recording link signed with `[http]
//! link_secret` opens that one recording until it expires. Without
//! tokens the API is open (hotline warns at start).
//!
//! | request | needs |
//! | --- | --- |
//! | `GET /api/health`, `GET /` (the wallboard page) | nothing |
//! | `GET /provision/{secret}/...` (desk phones' files) | no token: the secret in the path, checked by `provision.rs` |
//! | `GET /api/stats/live`, `GET /api/stats/stream` | read; the token may also come as `?token=` (a browser's EventSource sends no headers) |
//! | `GET /api/calls/{id}/recording` | recordings, or a valid signed link |
//! | `GET /api/calls/{id}/recording/accesses` | recordings |
//! | `GET /api/outbox` | write |
//! | other `GET` | read |
//! | `PUT`, `POST` | write |

use crate::config::{Access, ApiToken, Scope};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The API's access rules, from `[http]`.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub tokens: Vec<ApiToken>,
    pub anonymous: Vec<Access>,
    pub link_secret: Option<Vec<u8>>,
}

/// Who made a request, for handlers (audit log, pause `by`), and whose
/// calls it may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub scope: Scope,
}

impl Caller {
    /// `Ok` if this caller sees calls (seats, queues) of `class`; else the
    /// 403 that says why.
    pub(super) fn may_see(&self, class: crate::model::LineClass) -> Result<(), super::ApiError> {
        if self.scope.sees(class) {
            return Ok(());
        }
        Err(super::ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "{} (scope {}) may not see {} calls: give the token scope = \"admin\" or \"{}\" in [http] tokens",
                self.name,
                self.scope.as_str(),
                class.as_str(),
                class.as_str()
            ),
        ))
    }
}

impl Auth {
    pub fn from_config(c: &crate::config::Config) -> Auth {
        Auth {
            tokens: c.http.tokens.clone(),
            anonymous: c.http.anonymous.clone(),
            link_secret: c.http.link_secret.clone().map(String::into_bytes),
        }
    }
}

/// What `method` on `path` needs; `None`: nothing.
fn needs(method: &Method, path: &str) -> Option<Access> {
    if path == "/api/health" || path == "/" || path == "/favicon.ico" {
        return None;
    }
    if path.starts_with("/provision/") && (method == Method::GET || method == Method::HEAD) {
        // Phones send no token: `provision.rs` checks the secret.
        return None;
    }
    if method != Method::GET && method != Method::HEAD {
        return Some(Access::Write);
    }
    if path.starts_with("/api/calls/")
        && (path.ends_with("/recording") || path.ends_with("/recording/accesses"))
    {
        return Some(Access::Recordings);
    }
    if path.starts_with("/api/outbox") {
        return Some(Access::Write);
    }
    Some(Access::Read)
}

/// `sig` for call `call`'s recording link expiring at `expires` (Unix s).
pub fn link_signature(secret: &[u8], call: &str, expires: i64) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{call}.{expires}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `query` (`expires=..&sig=..`) opens call `call`'s recording at `now` (Unix s).
fn link_valid(secret: &[u8], call: &str, query: &str, now: i64) -> bool {
    let (mut expires, mut sig) = (None, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("expires", v)) => expires = v.parse::<i64>().ok(),
            Some(("sig", v)) => sig = Some(v),
            _ => {}
        }
    }
    let (Some(expires), Some(sig)) = (expires, sig) else {
        return false;
    };
    let want = link_signature(secret, call, expires);
    expires >= now
        && want.len() == sig.len()
        && want
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The value of `name` in a query string (no percent-decoding: tokens are
/// plain ASCII).
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        pair.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
}

fn deny(code: StatusCode, why: &str) -> Response {
    (code, axum::Json(serde_json::json!({ "error": why }))).into_response()
}

/// The middleware: admits or refuses a request, and tells handlers who it is.
pub async fn check(
    State(auth): State<crate::reload::Shared<Auth>>,
    mut req: Request,
    next: Next,
) -> Response {
    // The tokens in force now (a reload may replace them).
    let auth = auth.get();
    let path = req.uri().path().to_string();
    let Some(need) = needs(req.method(), &path) else {
        return next.run(req).await;
    };
    if auth.tokens.is_empty() {
        // No tokens: the API is open (hotline warns at start).
        req.extensions_mut().insert(Caller {
            name: "anonymous".into(),
            scope: Scope::Admin,
        });
        return next.run(req).await;
    }
    let query_token = path
        .starts_with("/api/stats/")
        .then(|| query_param(req.uri().query(), "token"))
        .flatten();
    let bearer = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_string)
        .or(query_token);
    let bearer = bearer.as_deref();
    let token = bearer.and_then(|b| {
        auth.tokens.iter().find(|t| {
            t.token.len() == b.len()
                && t.token
                    .bytes()
                    .zip(b.bytes())
                    .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                    == 0
        })
    });
    let caller = match (bearer, token) {
        (Some(_), None) => {
            return deny(
                StatusCode::UNAUTHORIZED,
                "unknown API token: check [http] tokens",
            );
        }
        (_, Some(t)) if t.access.contains(&need) => (t.name.clone(), t.scope),
        (_, Some(t)) => {
            return deny(
                StatusCode::FORBIDDEN,
                &format!(
                    "token {:?} may not do this: it needs {need:?} access in [http] tokens",
                    t.name
                ),
            );
        }
        (None, None) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let call = path
                .strip_prefix("/api/calls/")
                .and_then(|p| p.strip_suffix("/recording"));
            let signed = match (&auth.link_secret, call, req.uri().query()) {
                (Some(secret), Some(call), Some(q)) => link_valid(secret, call, q, now),
                _ => false,
            };
            if signed {
                // The link names its one call: it is the permission.
                ("signed link".to_string(), Scope::Admin)
            } else if auth.anonymous.contains(&need) {
                // Anonymous readers never see emergency calls.
                ("anonymous".to_string(), Scope::NonEmergency)
            } else {
                return deny(
                    StatusCode::UNAUTHORIZED,
                    "this needs an API token: Authorization: Bearer <token> (see [http] tokens)",
                );
            }
        }
    };
    req.extensions_mut().insert(Caller {
        name: caller.0,
        scope: caller.1,
    });
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_links_open_one_recording_until_they_expire() {
        let secret = b"link-secret-of-16+";
        let sig = link_signature(secret, "c1", 2_000);
        let q = format!("expires=2000&sig={sig}");
        assert!(link_valid(secret, "c1", &q, 1_999));
        assert!(link_valid(secret, "c1", &q, 2_000));
        assert!(!link_valid(secret, "c1", &q, 2_001), "expired");
        assert!(!link_valid(secret, "c2", &q, 1_000), "another call");
        assert!(
            !link_valid(secret, "c1", &format!("expires=3000&sig={sig}"), 1_000),
            "a later expiry is not signed"
        );
        assert!(!link_valid(b"another-secret-16+", "c1", &q, 1_000));
        assert!(!link_valid(secret, "c1", "expires=2000", 1_000));
    }

    #[test]
    fn what_each_request_needs() {
        assert_eq!(needs(&Method::GET, "/api/health"), None);
        assert_eq!(needs(&Method::GET, "/provision/s/yealink/8001.cfg"), None);
        assert_eq!(
            needs(&Method::POST, "/provision/s/yealink/8001.cfg"),
            Some(Access::Write)
        );
        assert_eq!(needs(&Method::GET, "/api/calls"), Some(Access::Read));
        assert_eq!(needs(&Method::GET, "/api/reports"), Some(Access::Read));
        assert_eq!(
            needs(&Method::GET, "/api/calls/x/recording"),
            Some(Access::Recordings)
        );
        assert_eq!(
            needs(&Method::GET, "/api/calls/x/recording/accesses"),
            Some(Access::Recordings)
        );
        assert_eq!(
            needs(&Method::POST, "/api/calls/x/recording/pause"),
            Some(Access::Write)
        );
        assert_eq!(needs(&Method::GET, "/api/outbox"), Some(Access::Write));
        assert_eq!(
            needs(&Method::PUT, "/api/seats/8001/state"),
            Some(Access::Write)
        );
    }
}
