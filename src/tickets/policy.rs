//! Delivery rules, sans-IO: when to try again, how a request is signed,
//! what an answer means. No clock, no network: the worker passes times
//! and results in.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::time::Duration;

/// The signature scheme's name, in the header value (`v1=<hex>`).
pub const SIGNATURE_VERSION: &str = "v1";

/// `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`: the receiver
/// recomputes it from the raw body and the `X-Hotline-Timestamp` header,
/// and should refuse timestamps far from its clock (replays).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{SIGNATURE_VERSION}={hex}")
}

/// The wait before attempt `attempt + 1`, after `attempt` failures (1 =
/// the first): `min * 2^(attempt-1)` capped at `max`, then "equal jitter":
/// between half and all of it, drawn from `seed` (the event id and the
/// attempt, so it spreads retries of many events yet is reproducible).
pub fn backoff(attempt: u32, min: Duration, max: Duration, seed: u64) -> Duration {
    let exp = min.saturating_mul(
        1u32.checked_shl(attempt.saturating_sub(1).min(31))
            .unwrap_or(u32::MAX),
    );
    let capped = exp.min(max);
    let half = capped / 2;
    let frac = (splitmix(seed) >> 11) as f64 / (1u64 << 53) as f64;
    half + half.mul_f64(frac)
}

/// A seed for [`backoff`] from an event id and an attempt number.
pub fn seed(event_id: &str, attempt: u32) -> u64 {
    // FNV-1a: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in event_id.bytes().chain(attempt.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// What came of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx; the answer named a ticket, maybe.
    Delivered { ticket_id: Option<String> },
    /// Worth trying again (5xx, 408, 429, timeout, connection refused).
    Retry(String),
    /// Worth trying again, not before the wait the receiver asked for
    /// (`Retry-After` on a 429 or 503).
    RetryAfter(String, Duration),
    /// The receiver refused it for good (any other status).
    Refused(String),
}

/// Classifies an HTTP answer: `status`, its `Retry-After` header if any
/// (whole seconds; an HTTP date is ignored) and up to 200 characters of
/// body for the dead-letter reason.
pub fn judge(status: u16, retry_after: Option<&str>, body: &str) -> Attempt {
    let snippet: String = body.chars().filter(|c| !c.is_control()).take(200).collect();
    let asked = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    if let (429 | 503, Some(wait)) = (status, asked) {
        return Attempt::RetryAfter(
            format!(
                "HTTP {status} (retry after {} s): {snippet}",
                wait.as_secs()
            ),
            wait,
        );
    }
    match status {
        200..=299 => Attempt::Delivered {
            ticket_id: ticket_id_of(body),
        },
        408 | 429 | 500..=599 => Attempt::Retry(format!("HTTP {status}: {snippet}")),
        _ => Attempt::Refused(format!("HTTP {status} (not retried): {snippet}")),
    }
}

/// `{"ticket_id": "..."}` (a string or a number) in a JSON answer.
fn ticket_id_of(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    match v.get("ticket_id")? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The next state after a failed attempt number `attempts` (1-based):
/// dead when refused or out of attempts, else due again after the backoff.
pub fn after_failure(attempts: u32, max_attempts: u32, refused: bool) -> bool {
    refused || attempts >= max_attempts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed apart from this code:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'secret-of-16-chars'
        let sig = signature(b"secret-of-16-chars", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "v1=6afe8e0515c786f952e78841359526cea20c88134915def7d76dd52f6b4fe08d"
        );
        assert_ne!(
            sig,
            signature(b"another-secret-16", 1_700_000_000, br#"{"a":1}"#)
        );
        assert_ne!(
            sig,
            signature(b"secret-of-16-chars", 1_700_000_001, br#"{"a":1}"#)
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_between_half_and_all() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for attempt in 1..40 {
            let full = (min * 2u32.pow((attempt - 1).min(20))).min(max);
            for e in ["a:call.ended", "b:call.answered"] {
                let d = backoff(attempt, min, max, seed(e, attempt));
                assert!(
                    d >= full / 2 && d <= full,
                    "attempt {attempt}: {d:?} not within {full:?}/2..{full:?}"
                );
            }
        }
        assert_eq!(
            backoff(3, min, max, 42),
            backoff(3, min, max, 42),
            "reproducible"
        );
        let spread: std::collections::HashSet<_> = (0..50)
            .map(|i| backoff(6, min, max, seed(&format!("e{i}"), 6)))
            .collect();
        assert!(spread.len() > 40, "retries of many events spread out");
    }

    #[test]
    fn answers_are_judged_by_status() {
        assert_eq!(
            judge(201, None, r#"{"ticket_id":"GD-1"}"#),
            Attempt::Delivered {
                ticket_id: Some("GD-1".into())
            }
        );
        assert_eq!(
            judge(200, None, r#"{"ticket_id":42}"#),
            Attempt::Delivered {
                ticket_id: Some("42".into())
            }
        );
        assert_eq!(judge(204, None, ""), Attempt::Delivered { ticket_id: None });
        assert!(matches!(judge(503, None, "busy"), Attempt::Retry(r) if r == "HTTP 503: busy"));
        assert!(matches!(judge(429, None, ""), Attempt::Retry(_)));
        assert!(
            matches!(judge(429, Some("120"), ""), Attempt::RetryAfter(_, d) if d == Duration::from_secs(120))
        );
        assert!(
            matches!(
                judge(503, Some("Wed, 21 Oct 2026 07:28:00 GMT"), ""),
                Attempt::Retry(_)
            ),
            "a date: the backoff's own"
        );
        assert!(
            matches!(judge(500, Some("5"), ""), Attempt::Retry(_)),
            "Retry-After only on 429/503"
        );
        assert!(
            matches!(judge(401, None, "bad signature"), Attempt::Refused(r) if r.contains("401") && r.contains("bad signature"))
        );
        assert!(after_failure(1, 12, true));
        assert!(!after_failure(11, 12, false));
        assert!(after_failure(12, 12, false));
    }
}
