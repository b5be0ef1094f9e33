//! The RTP port range: which even ports (RTP; RTCP is the odd one above)
//! are free. Sans-IO bookkeeping; binding is the driver's job, and a port
//! another process holds is simply skipped.
//!
//! Ports are handed out round-robin, so a port just released is the last
//! to be reused: late packets of an ended call do not reach the next one.

use std::collections::BTreeSet;

#[derive(Debug, Clone)]
pub struct PortPool {
    min: u16,
    max: u16,
    next: u16,
    used: BTreeSet<u16>,
}

impl PortPool {
    /// Even ports from `min` up to `max` (inclusive range of the config,
    /// RTCP ports included: `max` is at least `min + 1`).
    pub fn new(min: u16, max: u16) -> PortPool {
        let min = min + min % 2;
        PortPool {
            min,
            max,
            next: min,
            used: BTreeSet::new(),
        }
    }

    /// How many RTP ports (legs) the range holds.
    pub fn capacity(&self) -> usize {
        if self.max <= self.min {
            0
        } else {
            (self.max - self.min).div_ceil(2) as usize
        }
    }

    pub fn in_use(&self) -> usize {
        self.used.len()
    }

    /// A free even port, or `None` when the range is exhausted.
    pub fn allocate(&mut self) -> Option<u16> {
        let n = self.capacity();
        for _ in 0..n {
            let port = self.next;
            self.next = if port as u32 + 2 > self.max as u32 - 1 {
                self.min
            } else {
                port + 2
            };
            if self.used.insert(port) {
                return Some(port);
            }
        }
        None
    }

    pub fn release(&mut self, port: u16) {
        self.used.remove(&port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_round_robin_and_exhaustion() {
        let mut p = PortPool::new(20001, 20010);
        assert_eq!(p.capacity(), 4);
        let got: Vec<u16> = std::iter::from_fn(|| p.allocate()).collect();
        assert_eq!(got, [20002, 20004, 20006, 20008]);
        assert_eq!(p.allocate(), None);
        p.release(20004);
        p.release(20002);
        assert_eq!(p.allocate(), Some(20002));
        assert_eq!(p.allocate(), Some(20004));
        assert_eq!(p.in_use(), 4);
    }
}
