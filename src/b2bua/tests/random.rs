//! The ACD's two invariants, checked after every input the engine handles
//! while seeded random traffic runs through it (see `traffic.rs`):
//!
//! 1. no seat rings for two calls at once: neither in the ACD's view nor
//!    on the phones, where no phone ever holds two INVITEs it has neither
//!    answered nor had CANCELled (a 487 the phone sends late does not
//!    count: it stopped ringing at the CANCEL);
//! 2. no call waits while a registered, ready seat of its queue sits idle,
//!    unless that seat failed this very call less than the queue's retry
//!    time ago.

use super::harness::{Sim, demo_config, secs};
use super::traffic::{CallState, World};
use crate::acd::AgentState;
use crate::b2bua::Record;
use crate::model::{EventKind, Outcome};
use std::cell::RefCell;
use std::collections::HashMap;

/// Four citizen seats, two emergency seats (ring-all).
const SEATS: [&str; 6] = ["8001", "8002", "8003", "8004", "8021", "8022"];
const CALLS: usize = 150;

/// When each seat last failed each call, read from the event log as it
/// grows: (records read, (call, seat) -> at_ms).
#[derive(Default)]
struct Failures {
    read: usize,
    at_ms: HashMap<(String, String), i64>,
}

impl Failures {
    fn update(&mut self, records: &[Record]) {
        for r in &records[self.read..] {
            if let Record::Event(e) = r
                && e.kind == EventKind::NoAnswer
                && let (Some(call), Some(seat)) = (&e.call_id, &e.seat)
            {
                self.at_ms.insert((call.clone(), seat.clone()), e.at_ms);
            }
        }
        self.read = records.len();
    }
}

/// Both invariants, in the ACD's own view. `retry_ms` per queue.
fn check_acd(sim: &Sim, retry_ms: &HashMap<String, i64>, failed: &mut Failures) {
    let snap = sim.engine.acd_snapshot(sim.now);
    let mut rings_for: HashMap<&str, &str> = HashMap::new();
    for call in snap.queues.iter().flat_map(|q| &q.calls) {
        for seat in &call.ringing {
            if let Some(other) = rings_for.insert(seat, &call.id) {
                panic!(
                    "at {:?} seat {seat} rings for {other} and {}",
                    sim.elapsed(),
                    call.id
                );
            }
        }
    }
    for seat in &snap.seats {
        if let AgentState::Ringing { call } = &seat.state {
            assert_eq!(
                rings_for.get(seat.extension.as_str()),
                Some(&call.as_str()),
                "seat {} state",
                seat.extension
            );
        }
    }

    failed.update(sim.records());
    let now_ms = super::harness::UNIX_START_MS + sim.elapsed().as_millis() as i64;
    for queue in &snap.queues {
        for call in queue.calls.iter().filter(|c| c.ringing.is_empty()) {
            for seat in &snap.seats {
                let idle_member = seat.registered
                    && seat.state == AgentState::Ready
                    && seat.queues.iter().any(|m| m.queue == queue.name);
                let skipped = failed
                    .at_ms
                    .get(&(call.id.clone(), seat.extension.clone()))
                    .is_some_and(|at| now_ms < at + retry_ms[&queue.name]);
                assert!(
                    !idle_member || skipped,
                    "at {:?} call {} waits in {} while seat {} is ready",
                    sim.elapsed(),
                    call.id,
                    queue.name,
                    seat.extension
                );
            }
        }
    }
}

/// Invariant 1 on the phones: at most one unanswered INVITE each.
fn check_phones(world: &World) {
    for p in &world.phones {
        assert!(
            p.rings.len() <= 1,
            "seed {}: seat {} holds {} INVITEs",
            world.seed,
            p.phone.ext,
            p.rings.len()
        );
    }
}

fn run(seed: u64) -> World {
    let config = demo_config();
    let retry_ms: HashMap<String, i64> = config
        .queues
        .iter()
        .map(|q| (q.name.clone(), q.retry_secs as i64 * 1000))
        .collect();
    let mut sim = Sim::new(config);
    let failed = RefCell::new(Failures::default());
    sim.check = Some(Box::new(move |sim: &Sim| {
        check_acd(sim, &retry_ms, &mut failed.borrow_mut())
    }));
    let mut world = World::new(sim, seed, &SEATS, CALLS);
    world.run(check_phones);
    world.sim.advance(secs(600));
    world
}

#[test]
fn acd_invariants_hold_under_random_traffic() {
    let mut totals: HashMap<Outcome, usize> = HashMap::new();
    for seed in 1..=8 {
        let world = run(seed);
        let sim = &world.sim;
        for c in &world.callers {
            assert_eq!(
                c.state,
                CallState::Done,
                "seed {seed}: call {} never ended",
                c.call.call_id
            );
            let record = sim.final_record(&c.call.call_id);
            let expected = match c.final_code {
                Some(200) => Outcome::Answered,
                Some(487) => Outcome::Abandoned,
                Some(_) => Outcome::Rejected,
                None => panic!("seed {seed}: call {} got no final answer", c.call.call_id),
            };
            assert_eq!(record.outcome, Some(expected), "seed {seed}: {record:?}");
            *totals.entry(expected).or_default() += 1;
        }
        assert!(
            sim.engine.live_calls(sim.now).is_empty(),
            "seed {seed}: calls left: {:?}",
            sim.engine.live_calls(sim.now)
        );
        for p in &world.phones {
            assert!(
                p.rings.is_empty() && p.calls.is_empty(),
                "seed {seed}: seat {} still busy",
                p.phone.ext
            );
        }
        let snap = sim.engine.acd_snapshot(sim.now);
        assert!(
            snap.queues.iter().all(|q| q.waiting == 0),
            "seed {seed}: {:?}",
            snap.queues
        );
        assert!(
            snap.seats.iter().all(|s| !s.state.busy()),
            "seed {seed}: {:?}",
            snap.seats
        );
    }
    // The traffic exercised every ending.
    for outcome in [Outcome::Answered, Outcome::Abandoned, Outcome::Rejected] {
        assert!(
            totals.get(&outcome).copied().unwrap_or(0) > 20,
            "{totals:?}"
        );
    }
}
