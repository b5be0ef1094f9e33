//! Nonces: minting and checking them, and the per-nonce replay table.
//!
//! A nonce is 80 lowercase hex digits of 40 bytes:
//!
//! ```text
//!   issued_ms (u64, big endian) | 16 random bytes | HMAC-SHA256(secret, first 24 bytes ++ realm)[..16]
//! ```
//!
//! Nothing is stored when a nonce is issued; the HMAC makes it
//! unforgeable and the timestamp bounds its life. Only nonces that have
//! been used successfully are remembered, with the highest `nc` seen, until
//! they expire. The table is bounded: when full, the oldest-issued entries
//! are dropped and every nonce issued at or before them is from then on
//! treated as stale, so forgetting a nonce never reopens it to replay.

use super::digest::{hex, unhex};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::HashMap;

/// The first 24 bytes of a nonce: issue time and randomness.
pub(super) type NonceId = [u8; 24];

const MAC_LEN: usize = 16;
const NONCE_LEN: usize = 24 + MAC_LEN;

/// A nonce whose HMAC checked out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Opened {
    pub id: NonceId,
    pub issued_ms: u64,
}

/// What the replay table says about a nonce used with correct credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    /// First use of this `nc`: accept.
    Fresh,
    /// The nonce expired (or was forgotten): challenge again with stale=true.
    Stale,
    /// `nc` not above the highest seen for this nonce.
    Replay,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    issued_ms: u64,
    highest_nc: u32,
}

pub(super) struct NonceKeeper {
    mac: Hmac<Sha256>,
    realm: Vec<u8>,
    ttl_ms: u64,
    capacity: usize,
    seen: HashMap<NonceId, Seen>,
    /// Nonces issued before this are stale whatever their age (set when
    /// entries are evicted from a full table).
    floor_ms: u64,
    last_prune_ms: u64,
}

impl NonceKeeper {
    pub(super) fn new(secret: &[u8; 32], realm: &str, ttl_ms: u64, capacity: usize) -> Self {
        NonceKeeper {
            mac: keyed(secret),
            realm: realm.as_bytes().to_vec(),
            ttl_ms: ttl_ms.max(1),
            capacity: capacity.max(1),
            seen: HashMap::new(),
            floor_ms: 0,
            last_prune_ms: 0,
        }
    }

    /// A fresh nonce issued at `now_ms`.
    pub(super) fn mint(&self, now_ms: u64, random: [u8; 16]) -> String {
        let mut raw = [0u8; NONCE_LEN];
        raw[..8].copy_from_slice(&now_ms.to_be_bytes());
        raw[8..24].copy_from_slice(&random);
        let tag = self.tag(&raw[..24]);
        raw[24..].copy_from_slice(&tag[..MAC_LEN]);
        hex(&raw)
    }

    /// Checks a nonce's shape and HMAC (in constant time); `None` if it is
    /// not one of ours.
    pub(super) fn open(&self, nonce: &str) -> Option<Opened> {
        let raw: [u8; NONCE_LEN] = unhex(nonce)?;
        let mut mac = self.mac.clone();
        mac.update(&raw[..24]);
        mac.update(&self.realm);
        mac.verify_truncated_left(&raw[24..]).ok()?;
        let mut id = [0u8; 24];
        id.copy_from_slice(&raw[..24]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&raw[..8]);
        Some(Opened {
            id,
            issued_ms: u64::from_be_bytes(ts),
        })
    }

    /// Records a successful use of `nonce` with count `nc`, unless the
    /// nonce is stale or the count is not new.
    pub(super) fn admit(&mut self, now_ms: u64, nonce: Opened, nc: u32) -> Admit {
        // Prune every quarter TTL (either way: the wall clock may step
        // back), and whenever the table is full.
        if now_ms.abs_diff(self.last_prune_ms) >= self.ttl_ms / 4
            || self.seen.len() >= self.capacity
        {
            self.prune(now_ms);
        }
        if self.is_stale(now_ms, nonce.issued_ms) {
            return Admit::Stale;
        }
        if let Some(seen) = self.seen.get_mut(&nonce.id) {
            if nc <= seen.highest_nc {
                return Admit::Replay;
            }
            seen.highest_nc = nc;
            return Admit::Fresh;
        }
        if nc == 0 {
            return Admit::Replay;
        }
        if self.seen.len() >= self.capacity {
            self.evict_oldest();
            if self.is_stale(now_ms, nonce.issued_ms) {
                return Admit::Stale;
            }
        }
        self.seen.insert(
            nonce.id,
            Seen {
                issued_ms: nonce.issued_ms,
                highest_nc: nc,
            },
        );
        Admit::Fresh
    }

    /// Forgets expired nonces (O(tracked)).
    pub(super) fn prune(&mut self, now_ms: u64) {
        let (ttl, floor) = (self.ttl_ms, self.floor_ms);
        self.seen
            .retain(|_, s| !stale_at(ttl, floor, now_ms, s.issued_ms));
        self.last_prune_ms = now_ms;
    }

    pub(super) fn tracked(&self) -> usize {
        self.seen.len()
    }

    fn is_stale(&self, now_ms: u64, issued_ms: u64) -> bool {
        stale_at(self.ttl_ms, self.floor_ms, now_ms, issued_ms)
    }

    /// Drops every entry issued at the oldest tracked time and raises the
    /// floor above it.
    fn evict_oldest(&mut self) {
        if let Some(oldest) = self.seen.values().map(|s| s.issued_ms).min() {
            self.floor_ms = self.floor_ms.max(oldest.saturating_add(1));
            let floor = self.floor_ms;
            self.seen.retain(|_, s| s.issued_ms >= floor);
        }
    }

    fn tag(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(data);
        mac.update(&self.realm);
        mac.finalize().into_bytes().into()
    }
}

/// Expired by age in either direction (a wall clock stepped backwards
/// must not stretch a nonce's life), or issued before the eviction floor.
fn stale_at(ttl_ms: u64, floor_ms: u64, now_ms: u64, issued_ms: u64) -> bool {
    now_ms.abs_diff(issued_ms) >= ttl_ms || issued_ms < floor_ms
}

/// HMAC-SHA256 keyed with `secret`.
pub(super) fn keyed(secret: &[u8; 32]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts any key length")
}

/// HMAC-SHA256(secret, label ++ data) as lowercase hex, cut to `hex_len`.
pub(super) fn derive(secret: &[u8; 32], label: &str, data: &str, hex_len: usize) -> String {
    let mut mac = keyed(secret);
    mac.update(label.as_bytes());
    mac.update(data.as_bytes());
    let mut s = hex(&mac.finalize().into_bytes());
    s.truncate(hex_len);
    s
}
