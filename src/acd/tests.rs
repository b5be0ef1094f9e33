//! The ACD driven by events and a fake clock: strategies, tiers, timers,
//! agent states, fallbacks, and the two invariants under random traffic.

use super::*;
use crate::model::EventKind;

mod reconfigure;

const S: Duration = Duration::from_secs(1);

/// An ACD, a clock, and the outputs seen so far.
struct Rig {
    acd: Acd,
    now: Instant,
    out: Vec<Output>,
    /// Phones that never say they ring (no 180); the others say so at once.
    silent: Vec<String>,
}

impl Rig {
    fn new(queues: Vec<QueueConfig>, seats: &[(&str, &[(&str, u32)])], auto_ready: bool) -> Rig {
        let seats = seats
            .iter()
            .map(|(ext, qs)| SeatConfig {
                extension: ext.to_string(),
                queues: qs.iter().map(|(q, p)| (q.to_string(), *p)).collect(),
            })
            .collect();
        Rig {
            acd: Acd::new(AcdConfig { queues, seats }, auto_ready),
            now: Instant::now(),
            out: Vec::new(),
            silent: Vec::new(),
        }
    }

    /// One queue served by the given seats at penalty 0, registered in
    /// order 10 ms apart (so the first has been idle longest), auto-ready.
    fn simple(queue: QueueConfig, seats: &[&str]) -> Rig {
        let membership = [(queue.name.as_str(), 0)];
        let members: Vec<(&str, &[(&str, u32)])> =
            seats.iter().map(|s| (*s, &membership[..])).collect();
        let mut rig = Rig::new(vec![queue.clone()], &members, true);
        for s in seats {
            rig.online(s);
            rig.advance(Duration::from_millis(10));
        }
        rig.out.clear();
        rig
    }

    fn drain(&mut self) {
        while let Some(o) = self.acd.poll_output() {
            if let Output::Ring { call, seat } = &o
                && !self.silent.contains(seat)
            {
                self.acd.ring_progress(call, seat);
            }
            self.out.push(o);
        }
        check_invariants(&self.acd, self.now);
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// The decisions (not the events) since the last take.
    fn decisions(&mut self) -> Vec<Output> {
        self.take()
            .into_iter()
            .filter(|o| !matches!(o, Output::Event(_)))
            .collect()
    }

    fn events(&self) -> Vec<(EventKind, Option<String>, Option<String>)> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some((e.kind, e.seat.clone(), e.detail.clone())),
                _ => None,
            })
            .collect()
    }

    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        while let Some(t) = self.acd.poll_timeout().filter(|t| *t <= until) {
            self.now = t.max(self.now);
            self.acd.handle_timeout(self.now);
            self.drain();
        }
        self.now = until;
        self.acd.handle_timeout(self.now);
        self.drain();
    }

    fn online(&mut self, seat: &str) {
        self.acd.seat_reachable(self.now, seat, true);
        self.drain();
    }

    fn arrive(&mut self, call: &str, queue: &str) {
        self.acd.call_arrived(self.now, call, queue).unwrap();
        self.drain();
    }

    fn answer(&mut self, call: &str, seat: &str) {
        self.acd.ring_answered(self.now, call, seat);
        self.drain();
    }

    fn fail(&mut self, call: &str, seat: &str, why: RingFailure) {
        self.acd.ring_failed(self.now, call, seat, why);
        self.drain();
    }

    fn end(&mut self, call: &str) {
        self.acd.call_ended(self.now, call, HangupBy::Caller);
        self.drain();
    }

    fn state(&self, seat: &str) -> String {
        self.acd.seat(seat).unwrap().state.label()
    }

    fn request(&mut self, seat: &str, r: StateRequest) {
        self.acd.set_agent_state(self.now, seat, r).unwrap();
        self.drain();
    }
}

fn ring(call: &str, seat: &str) -> Output {
    Output::Ring {
        call: call.into(),
        seat: seat.into(),
    }
}
fn stop(call: &str, seat: &str) -> Output {
    Output::StopRing {
        call: call.into(),
        seat: seat.into(),
    }
}
fn connect(call: &str, seat: &str) -> Output {
    Output::Connect {
        call: call.into(),
        seat: seat.into(),
    }
}

/// No seat rings for two calls; a seat's state agrees with the calls; no
/// call waits while a ready seat of its queue (not skipping it) is idle.
fn check_invariants(acd: &Acd, now: Instant) {
    let available: BTreeSet<String> = acd
        .seats
        .values()
        .filter(|s| s.available())
        .map(|s| s.extension.clone())
        .collect();
    assert_eq!(
        acd.available, available,
        "the index of available seats is in step"
    );
    let mut ringing_for: HashMap<&str, &str> = HashMap::new();
    for (id, c) in &acd.calls {
        for seat in &c.ringing {
            if let Some(other) = ringing_for.insert(seat, id) {
                panic!("seat {seat} rings for {other} and {id}");
            }
            assert_eq!(
                acd.seats[seat].state,
                AgentState::Ringing { call: id.clone() },
                "seat {seat} rings for {id}"
            );
        }
        assert_eq!(
            acd.waiting.values().any(|w| w == id),
            c.ringing.is_empty() && c.seat.is_none(),
            "{id} waiting list"
        );
    }
    for s in acd.seats.values() {
        if let AgentState::Ringing { call } = &s.state {
            assert!(
                acd.calls
                    .get(call)
                    .is_some_and(|c| c.ringing.contains(&s.extension)),
                "{} rings for a lost call",
                s.extension
            );
        }
    }
    for id in acd.waiting.values() {
        let c = &acd.calls[id];
        for (ext, _) in &acd.queues[&c.queue].members {
            let skipping = c.skip.get(ext).is_some_and(|until| *until > now);
            assert!(
                !acd.seats[ext].available() || skipping,
                "call {id} waits in {} while seat {ext} is ready",
                c.queue
            );
        }
    }
}

#[test]
fn longest_idle_rings_the_seat_idle_longest_and_a_finished_call_sends_it_to_the_back() {
    let mut r = Rig::simple(QueueConfig::new("q"), &["a", "b", "c"]);
    r.arrive("1", "q");
    assert_eq!(r.decisions(), [ring("1", "a")]);
    r.answer("1", "a");
    assert_eq!(r.decisions(), [connect("1", "a")]);
    r.arrive("2", "q");
    assert_eq!(r.decisions(), [ring("2", "b")]);
    r.answer("2", "b");
    r.advance(S);
    r.end("1");
    r.take();
    r.arrive("3", "q");
    assert_eq!(
        r.decisions(),
        [ring("3", "c")],
        "c has been idle since login; a just finished"
    );
    r.answer("3", "c");
    r.take();
    r.arrive("4", "q");
    assert_eq!(r.decisions(), [ring("4", "a")]);
}

#[test]
fn ring_timeout_moves_on_skips_the_seat_for_retry_then_rings_it_again() {
    let mut q = QueueConfig::new("q");
    q.ring_timeout = 10 * S;
    q.retry = 5 * S;
    let mut r = Rig::simple(q, &["a", "b"]);
    r.arrive("1", "q");
    assert_eq!(r.decisions(), [ring("1", "a")]);
    r.advance(9 * S);
    assert_eq!(r.decisions(), []);
    r.advance(S);
    assert_eq!(r.decisions(), [stop("1", "a"), ring("1", "b")]);
    assert_eq!(r.state("a"), "ready");
    r.advance(10 * S);
    // Both failed; a's skip ended at 15 s, b's ends at 25 s.
    assert_eq!(r.decisions(), [stop("1", "b"), ring("1", "a")]);
    r.answer("1", "a");
    assert_eq!(r.decisions(), [connect("1", "a")]);
}

#[test]
fn a_phone_that_never_rings_is_paused_not_rung_again() {
    let mut q = QueueConfig::new("q");
    q.ring_timeout = 10 * S;
    q.retry = Duration::ZERO;
    let mut r = Rig::simple(q, &["dead", "b"]);
    r.silent.push("dead".into());
    r.arrive("1", "q");
    r.arrive("2", "q");
    assert_eq!(r.decisions(), [ring("1", "dead"), ring("2", "b")]);
    r.advance(10 * S);
    // Its INVITE cannot even be cancelled: it must not get a second one.
    assert_eq!(
        r.decisions(),
        [stop("1", "dead"), stop("2", "b"), ring("1", "b")],
        "b is free again; dead is not"
    );
    assert_eq!(r.state("dead"), "not_ready:unreachable");
    r.advance(S);
    assert!(
        !r.decisions()
            .iter()
            .any(|o| matches!(o, Output::Ring { seat, .. } if seat == "dead"))
    );
}

#[test]
fn busy_and_decline_pass_the_call_on_at_once() {
    let mut r = Rig::simple(QueueConfig::new("q"), &["a", "b", "c"]);
    r.arrive("1", "q");
    r.take();
    r.fail("1", "a", RingFailure::Busy);
    assert_eq!(r.decisions(), [ring("1", "b")]);
    r.fail("1", "b", RingFailure::Declined);
    let evs = r.events();
    assert!(
        evs.contains(&(
            EventKind::NoAnswer,
            Some("b".into()),
            Some("declined".into())
        )),
        "{evs:?}"
    );
    assert_eq!(r.decisions(), [ring("1", "c")]);
    assert_eq!(
        (r.state("a"), r.state("b")),
        ("ready".into(), "ready".into())
    );
}

#[test]
fn no_answer_can_pause_the_seat_and_an_unreachable_seat_always_pauses() {
    let mut q = QueueConfig::new("q");
    q.no_answer_not_ready = true;
    q.ring_timeout = 5 * S;
    let mut r = Rig::simple(q, &["a", "b", "c"]);
    r.arrive("1", "q");
    r.advance(5 * S);
    assert_eq!(r.state("a"), "not_ready:no_answer");
    r.fail("1", "b", RingFailure::Unreachable);
    assert_eq!(r.state("b"), "not_ready:unreachable");
    r.fail("1", "c", RingFailure::Busy);
    assert_eq!(r.state("c"), "ready", "busy does not pause");
}

#[test]
fn ring_all_rings_every_ready_seat_and_the_first_answer_wins() {
    let mut q = QueueConfig::new("q");
    q.strategy = Strategy::RingAll;
    let mut r = Rig::simple(q, &["a", "b", "c"]);
    r.request("c", StateRequest::NotReady("break".into()));
    r.arrive("1", "q");
    assert_eq!(r.decisions(), [ring("1", "a"), ring("1", "b")]);
    r.answer("1", "b");
    assert_eq!(r.decisions(), [stop("1", "a"), connect("1", "b")]);
    assert_eq!(r.state("a"), "ready");
    // a's 200 crossed the CANCEL: it is hung up, the call stays with b.
    r.answer("1", "a");
    assert_eq!(r.decisions(), [stop("1", "a")]);
    assert_eq!(r.state("a"), "ready");
    assert_eq!(r.state("b"), "on_call");
}

#[test]
fn penalties_are_tiers() {
    let mut r = Rig::new(
        vec![QueueConfig::new("q")],
        &[("low", &[("q", 0)]), ("high", &[("q", 5)])],
        true,
    );
    r.online("high");
    r.advance(S);
    r.online("low");
    r.take();
    r.arrive("1", "q");
    assert_eq!(
        r.decisions(),
        [ring("1", "low")],
        "high idles longer but has the higher penalty"
    );
    r.arrive("2", "q");
    assert_eq!(r.decisions(), [ring("2", "high")], "the lower tier is busy");
}

#[test]
fn round_robin_walks_the_members_in_turn() {
    let mut q = QueueConfig::new("q");
    q.strategy = Strategy::RoundRobin;
    let mut r = Rig::simple(q, &["a", "b", "c"]);
    let mut rung = Vec::new();
    for i in 0..5 {
        let id = i.to_string();
        r.arrive(&id, "q");
        for o in r.decisions() {
            if let Output::Ring { seat, .. } = o {
                rung.push(seat.clone());
                r.answer(&id, &seat);
                r.end(&id);
            }
        }
        r.take();
    }
    assert_eq!(rung, ["a", "b", "c", "a", "b"]);
}

#[test]
fn fewest_calls_prefers_the_seat_that_answered_least() {
    let mut q = QueueConfig::new("q");
    q.strategy = Strategy::FewestCalls;
    let mut r = Rig::simple(q, &["a", "b"]);
    for id in ["1", "2"] {
        r.arrive(id, "q");
        r.take();
        r.answer(id, "a");
        r.end(id);
        r.take();
    }
    // b rang for nothing yet; a answered twice.
    r.request("b", StateRequest::Ready);
    r.arrive("3", "q");
    assert_eq!(r.decisions(), [ring("3", "b")]);
}

#[test]
fn max_wait_rejects_or_overflows_but_not_while_a_seat_rings() {
    let mut q = QueueConfig::new("q");
    q.max_wait = Some(30 * S);
    q.ring_timeout = 20 * S;
    q.when_timeout = Fallback::Overflow("spill".into());
    let mut spill = QueueConfig::new("spill");
    spill.max_wait = Some(10 * S);
    spill.when_timeout = Fallback::Reject("all busy".into());
    let mut r = Rig::new(vec![q, spill], &[("a", &[("q", 0)])], true);
    r.online("a");
    r.request("a", StateRequest::NotReady("break".into()));
    r.arrive("1", "q");
    r.advance(25 * S);
    r.request("a", StateRequest::Ready);
    assert_eq!(r.decisions(), [ring("1", "a")]);
    r.advance(10 * S);
    assert_eq!(
        r.decisions(),
        [],
        "max wait passed at 30 s, but a rings until 45 s"
    );
    r.advance(10 * S);
    assert_eq!(
        r.decisions(),
        [
            stop("1", "a"),
            Output::Overflowed {
                call: "1".into(),
                from: "q".into(),
                to: "spill".into()
            }
        ]
    );
    r.advance(10 * S);
    assert_eq!(
        r.decisions(),
        [Output::Reject {
            call: "1".into(),
            reason: "all busy".into()
        }]
    );
    assert!(r.acd.calls.is_empty());
}

#[test]
fn nobody_logged_in_rejects_at_arrival_and_when_the_last_agent_leaves() {
    let mut q = QueueConfig::new("q");
    q.when_no_agents = Fallback::Reject("closed".into());
    let mut r = Rig::new(vec![q], &[("a", &[("q", 0)])], false);
    r.arrive("1", "q");
    assert_eq!(
        r.decisions(),
        [Output::Reject {
            call: "1".into(),
            reason: "closed".into()
        }]
    );
    r.online("a");
    r.request("a", StateRequest::Login);
    r.request("a", StateRequest::NotReady("lunch".into()));
    r.arrive("2", "q");
    assert_eq!(
        r.decisions(),
        [],
        "a not-ready agent still staffs the queue"
    );
    r.request("a", StateRequest::Logout);
    assert_eq!(
        r.decisions(),
        [Output::Reject {
            call: "2".into(),
            reason: "closed".into()
        }]
    );
}

#[test]
fn overflow_chains_are_cut_after_a_limit() {
    let mut a = QueueConfig::new("a");
    a.when_no_agents = Fallback::Overflow("b".into());
    let mut b = QueueConfig::new("b");
    b.when_no_agents = Fallback::Overflow("a".into());
    let mut r = Rig::new(vec![a, b], &[], true);
    r.arrive("1", "a");
    let d = r.decisions();
    assert_eq!(
        d.iter()
            .filter(|o| matches!(o, Output::Overflowed { .. }))
            .count(),
        MAX_OVERFLOWS as usize
    );
    assert!(
        matches!(d.last(), Some(Output::Reject { reason, .. }) if reason == "overflow limit reached"),
        "{d:?}"
    );
}

#[test]
fn wrap_up_holds_the_seat_until_it_ends_or_the_agent_is_ready() {
    let mut q = QueueConfig::new("q");
    q.wrapup = 10 * S;
    let mut r = Rig::simple(q, &["a"]);
    r.arrive("1", "q");
    r.answer("1", "a");
    r.end("1");
    assert_eq!(r.state("a"), "wrap_up");
    r.arrive("2", "q");
    r.advance(9 * S);
    assert!(!r.decisions().contains(&ring("2", "a")));
    r.advance(S);
    assert_eq!(r.decisions(), [ring("2", "a")]);
    r.answer("2", "a");
    r.end("2");
    r.arrive("3", "q");
    r.take();
    r.request("a", StateRequest::Ready);
    assert_eq!(
        r.decisions(),
        [ring("3", "a")],
        "pressing ready ends wrap-up early"
    );
}

#[test]
fn not_ready_or_logout_during_a_call_applies_after_it() {
    let mut q = QueueConfig::new("q");
    q.wrapup = 5 * S;
    let mut r = Rig::simple(q, &["a", "b"]);
    r.arrive("1", "q");
    r.answer("1", "a");
    r.take();
    r.request("a", StateRequest::NotReady("after-call-work".into()));
    assert_eq!(r.state("a"), "on_call");
    r.end("1");
    assert_eq!(r.state("a"), "wrap_up");
    r.advance(5 * S);
    assert_eq!(r.state("a"), "not_ready:after-call-work");
    r.arrive("2", "q");
    assert_eq!(r.decisions(), [ring("2", "b")]);
    r.answer("2", "b");
    r.request("b", StateRequest::Logout);
    r.end("2");
    r.advance(5 * S);
    assert_eq!(r.state("b"), "logged_out");
}

#[test]
fn not_ready_while_ringing_releases_the_call_to_another_seat() {
    let mut r = Rig::simple(QueueConfig::new("q"), &["a", "b"]);
    r.arrive("1", "q");
    r.take();
    r.request("a", StateRequest::NotReady("break".into()));
    assert_eq!(r.decisions(), [stop("1", "a"), ring("1", "b")]);
    assert_eq!(r.state("a"), "not_ready:break");
}

#[test]
fn higher_priority_queues_first_then_first_come_first_served() {
    let mut low = QueueConfig::new("low");
    low.priority = 0;
    let mut high = QueueConfig::new("high");
    high.priority = 10;
    let mut r = Rig::new(vec![low, high], &[("a", &[("low", 0), ("high", 0)])], true);
    r.arrive("l1", "low");
    r.advance(S);
    r.arrive("l2", "low");
    r.arrive("h1", "high");
    r.online("a");
    assert_eq!(r.decisions(), [ring("h1", "a")]);
    r.answer("h1", "a");
    r.end("h1");
    r.take();
    assert_eq!(r.acd.position("l1"), Some(1));
    assert_eq!(r.acd.position("l2"), Some(2));
    r.advance(S);
    r.answer("l1", "a");
    assert_eq!(r.decisions(), [connect("l1", "a")]);
}

#[test]
fn abandon_while_ringing_frees_the_seat_and_logs_the_wait() {
    let mut r = Rig::simple(QueueConfig::new("q"), &["a"]);
    r.arrive("1", "q");
    r.advance(3 * S);
    r.take();
    r.acd.call_abandoned(r.now, "1");
    r.drain();
    let evs = r.events();
    assert!(
        evs.contains(&(EventKind::Abandon, None, Some("waited_ms=3000".into()))),
        "{evs:?}"
    );
    assert_eq!(r.decisions(), [stop("1", "a")]);
    assert_eq!(r.state("a"), "ready");
    // A late failure or answer for the gone call changes nothing.
    r.fail("1", "a", RingFailure::NoAnswer);
    assert_eq!(r.state("a"), "ready");
}

#[test]
fn auto_ready_follows_registration_and_a_lost_registration_logs_out_after_the_call() {
    let mut r = Rig::simple(QueueConfig::new("q"), &["a"]);
    assert_eq!(r.state("a"), "ready");
    r.arrive("1", "q");
    r.answer("1", "a");
    r.acd.seat_reachable(r.now, "a", false);
    r.drain();
    assert_eq!(r.state("a"), "on_call");
    r.end("1");
    assert_eq!(r.state("a"), "logged_out");
    r.online("a");
    assert_eq!(r.state("a"), "ready");
    let details: Vec<String> = r
        .events()
        .into_iter()
        .filter_map(|(k, _, d)| (k == EventKind::AgentState).then_some(d?))
        .collect();
    assert!(
        details.contains(&"on_call->logged_out".to_string())
            || details.contains(&"on_call->ready".to_string()),
        "{details:?}"
    );
}

#[test]
fn a_registration_that_lapses_and_returns_during_a_call_keeps_the_seat_logged_in() {
    let mut r = Rig::simple(QueueConfig::new("q"), &["a"]);
    r.arrive("1", "q");
    r.answer("1", "a");
    r.acd.seat_reachable(r.now, "a", false);
    r.online("a");
    r.request("a", StateRequest::NotReady("after-call-work".into()));
    r.end("1");
    assert_eq!(
        r.state("a"),
        "not_ready:after-call-work",
        "the agent's own request still applies"
    );
    r.request("a", StateRequest::Ready);
    r.arrive("2", "q");
    r.acd.seat_reachable(r.now, "a", false);
    r.online("a");
    r.answer("2", "a");
    r.end("2");
    assert_eq!(
        r.state("a"),
        "ready",
        "rang through a lapse and a return: still logged in"
    );
}

#[test]
fn unknown_queue_seat_and_duplicate_calls_are_errors() {
    let mut r = Rig::simple(QueueConfig::new("q"), &["a"]);
    assert_eq!(
        r.acd.call_arrived(r.now, "1", "nope"),
        Err(AcdError::UnknownQueue("nope".into()))
    );
    r.arrive("1", "q");
    assert_eq!(
        r.acd.call_arrived(r.now, "1", "q"),
        Err(AcdError::DuplicateCall("1".into()))
    );
    assert_eq!(
        r.acd.set_agent_state(r.now, "zz", StateRequest::Ready),
        Err(AcdError::UnknownSeat("zz".into()))
    );
}

#[test]
fn a_seat_on_a_callback_is_not_rung_and_is_ready_again_after() {
    let mut r = Rig::simple(QueueConfig::new("q"), &["a", "b"]);
    r.acd.outbound_started(r.now, "a", "cb1").unwrap();
    r.drain();
    r.arrive("1", "q");
    assert_eq!(r.decisions(), [ring("1", "b")], "a is on its callback");
    assert_eq!(
        r.acd.outbound_started(r.now, "b", "cb2"),
        Err(AcdError::SeatBusy("b".into()))
    );
    r.arrive("2", "q");
    assert_eq!(r.decisions(), [], "nobody free");
    r.acd.outbound_ended(r.now, "a", "cb1");
    r.drain();
    assert_eq!(
        r.decisions(),
        [ring("2", "a")],
        "a is ready again and takes the waiting call"
    );
}

#[test]
fn a_not_ready_seat_goes_back_to_its_reason_after_a_callback() {
    let mut r = Rig::simple(QueueConfig::new("q"), &["a"]);
    r.acd
        .set_agent_state(r.now, "a", StateRequest::NotReady("after-call-work".into()))
        .unwrap();
    r.acd.outbound_started(r.now, "a", "cb1").unwrap();
    assert_eq!(
        r.acd.seat("a").unwrap().state,
        AgentState::OnCall { call: "cb1".into() }
    );
    r.acd.outbound_ended(r.now, "a", "cb1");
    assert_eq!(
        r.acd.seat("a").unwrap().state,
        AgentState::NotReady {
            reason: "after-call-work".into()
        }
    );
    r.drain();
    r.acd.outbound_ended(r.now, "a", "cb1");
    assert_eq!(
        r.acd.seat("a").unwrap().state,
        AgentState::NotReady {
            reason: "after-call-work".into()
        },
        "a second end changes nothing"
    );
}

#[test]
fn invariants_hold_under_random_traffic() {
    for seed in 1..=12u64 {
        let mut a = QueueConfig::new("a");
        a.retry = 2 * S;
        a.max_wait = Some(40 * S);
        a.when_timeout = Fallback::Overflow("b".into());
        a.wrapup = 3 * S;
        let mut b = QueueConfig::new("b");
        b.strategy = Strategy::RingAll;
        b.priority = 5;
        b.ring_timeout = 8 * S;
        b.when_no_agents = Fallback::Reject("nobody".into());
        let mut c = QueueConfig::new("c");
        c.strategy = Strategy::RoundRobin;
        c.no_answer_not_ready = true;
        let seats: Vec<(String, Vec<(&str, u32)>)> = (0..8)
            .map(|i| {
                let qs = match i % 4 {
                    0 => vec![("a", 0), ("b", 1)],
                    1 => vec![("a", 1), ("c", 0)],
                    2 => vec![("b", 0)],
                    _ => vec![("a", 0), ("b", 0), ("c", 2)],
                };
                (format!("s{i}"), qs)
            })
            .collect();
        let seat_refs: Vec<(&str, &[(&str, u32)])> = seats
            .iter()
            .map(|(e, q)| (e.as_str(), q.as_slice()))
            .collect();
        let mut r = Rig::new(vec![a, b, c], &seat_refs, seed % 2 == 0);
        let mut rng = crate::testutil::Rng::seeded(seed);
        let mut next_call = 0;
        let exts: Vec<String> = seats.iter().map(|(e, _)| e.clone()).collect();
        for _ in 0..3000 {
            // Answer or fail a random ringing leg the ACD asked for.
            let ringing: Vec<(String, String)> = r
                .acd
                .calls
                .iter()
                .flat_map(|(id, c)| c.ringing.iter().map(move |s| (id.clone(), s.clone())))
                .collect();
            let connected: Vec<String> = r
                .acd
                .calls
                .iter()
                .filter(|(_, c)| c.seat.is_some())
                .map(|(id, _)| id.clone())
                .collect();
            let waiting: Vec<String> = r
                .acd
                .calls
                .iter()
                .filter(|(_, c)| c.seat.is_none())
                .map(|(id, _)| id.clone())
                .collect();
            match rng.below(12) {
                0 | 1 => {
                    next_call += 1;
                    let q = ["a", "b", "c"][rng.below(3) as usize];
                    r.arrive(&next_call.to_string(), q);
                }
                2 if !ringing.is_empty() => {
                    let (c, s) = &ringing[rng.below(ringing.len() as u64) as usize];
                    r.answer(c, s);
                }
                3 if !ringing.is_empty() => {
                    let (c, s) = &ringing[rng.below(ringing.len() as u64) as usize];
                    let why = [
                        RingFailure::Busy,
                        RingFailure::Declined,
                        RingFailure::NoAnswer,
                        RingFailure::Unreachable,
                    ];
                    r.fail(c, s, why[rng.below(4) as usize]);
                }
                4 if !connected.is_empty() => {
                    r.end(&connected[rng.below(connected.len() as u64) as usize])
                }
                5 if !waiting.is_empty() => {
                    r.acd
                        .call_abandoned(r.now, &waiting[rng.below(waiting.len() as u64) as usize]);
                    r.drain();
                }
                6 => {
                    let s = &exts[rng.below(exts.len() as u64) as usize];
                    let req = match rng.below(4) {
                        0 => StateRequest::Login,
                        1 => StateRequest::Logout,
                        2 => StateRequest::Ready,
                        _ => StateRequest::NotReady("break".into()),
                    };
                    r.request(s, req);
                }
                7 => {
                    let s = &exts[rng.below(exts.len() as u64) as usize];
                    let up = rng.below(3) != 0;
                    r.acd.seat_reachable(r.now, s, up);
                    r.drain();
                }
                8 => {
                    // A late answer for a leg the ACD no longer rings.
                    let s = &exts[rng.below(exts.len() as u64) as usize];
                    r.answer(&rng.below(next_call.max(1) + 1).to_string(), s);
                }
                _ => r.advance(Duration::from_millis(rng.below(6000))),
            }
            r.take();
        }
    }
}
