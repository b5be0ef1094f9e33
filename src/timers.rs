//! A timer table: named deadlines, the earliest first. The ACD's ring,
//! max-wait, retry and wrap-up timers and the registrar's binding expiries
//! live in one each.
//!
//! Each timer is a key (an enum of the owner's choosing); setting a key
//! again moves its deadline, cancelling removes it. The owner asks for the
//! earliest deadline ([`Timers::next`]) and takes the due ones
//! ([`Timers::pop_due`]). Nothing here reads the clock.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

#[derive(Debug)]
pub struct Timers<K: Ord + Hash + Clone> {
    by_time: BTreeSet<(Instant, K)>,
    by_key: HashMap<K, Instant>,
}

impl<K: Ord + Hash + Clone> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            by_time: BTreeSet::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<K: Ord + Hash + Clone> Timers<K> {
    /// Arms `key` at `at`, replacing an earlier deadline of the same key.
    pub fn set(&mut self, key: K, at: Instant) {
        if let Some(old) = self.by_key.insert(key.clone(), at) {
            self.by_time.remove(&(old, key.clone()));
        }
        self.by_time.insert((at, key));
    }

    /// Arms `key` at `at` unless it is already armed earlier.
    pub fn set_earliest(&mut self, key: K, at: Instant) {
        match self.by_key.get(&key) {
            Some(old) if *old <= at => {}
            _ => self.set(key, at),
        }
    }

    pub fn cancel(&mut self, key: &K) {
        if let Some(at) = self.by_key.remove(key) {
            self.by_time.remove(&(at, key.clone()));
        }
    }

    #[cfg(test)]
    pub fn get(&self, key: &K) -> Option<Instant> {
        self.by_key.get(key).copied()
    }

    pub fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest timer due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.by_time.pop_first()?;
        self.by_key.remove(&key);
        Some(key)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_and_resetting_moves_a_deadline() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut t = Timers::default();
        t.set("a", t0 + s(5));
        t.set("b", t0 + s(3));
        assert_eq!(t.next(), Some(t0 + s(3)));
        t.set("b", t0 + s(9));
        assert_eq!(t.next(), Some(t0 + s(5)));
        t.set_earliest("b", t0 + s(10));
        assert_eq!(t.get(&"b"), Some(t0 + s(9)));
        assert_eq!(t.pop_due(t0 + s(4)), None);
        assert_eq!(t.pop_due(t0 + s(9)), Some("a"));
        t.cancel(&"b");
        assert!(t.is_empty());
        assert_eq!(t.next(), None);
    }
}
