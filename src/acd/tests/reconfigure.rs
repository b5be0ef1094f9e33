//! A reload in the middle of traffic: queues and seats added, changed and
//! removed without ending a call.

use super::*;

/// Seats as `Rig::new` takes them, for a reconfiguration.
fn seats(list: &[(&str, &[(&str, u32)])]) -> Vec<SeatConfig> {
    list.iter()
        .map(|(ext, qs)| SeatConfig {
            extension: ext.to_string(),
            queues: qs.iter().map(|(q, p)| (q.to_string(), *p)).collect(),
        })
        .collect()
}

impl Rig {
    fn reload(
        &mut self,
        queues: Vec<QueueConfig>,
        list: &[(&str, &[(&str, u32)])],
        reroute: &[(&str, &str)],
    ) -> Reconfigured {
        let reroute = reroute
            .iter()
            .map(|(c, q)| (c.to_string(), q.to_string()))
            .collect();
        let report = self.acd.reconfigure(
            self.now,
            AcdConfig {
                queues,
                seats: seats(list),
            },
            true,
            &reroute,
        );
        self.drain();
        report
    }

    fn has_seat(&self, ext: &str) -> bool {
        self.acd.seat(ext).is_some()
    }
}

fn removed(seat: &str) -> Output {
    Output::SeatRemoved { seat: seat.into() }
}

#[test]
fn an_added_queue_and_seat_take_calls_at_once() {
    let mut r = Rig::simple(QueueConfig::new("citizen"), &["a"]);
    let report = r.reload(
        vec![QueueConfig::new("citizen"), QueueConfig::new("epidemic")],
        &[("a", &[("citizen", 0)]), ("n", &[("epidemic", 0)])],
        &[],
    );
    assert_eq!(report, Reconfigured::default());
    assert_eq!(r.decisions(), []);
    assert_eq!(r.state("n"), "logged_out", "a new seat waits for its phone");
    r.online("n");
    r.take();
    r.arrive("1", "epidemic");
    assert_eq!(r.decisions(), [ring("1", "n")]);
    r.answer("1", "n");
    assert_eq!(r.decisions(), [connect("1", "n")]);
    r.arrive("2", "citizen");
    assert_eq!(
        r.decisions(),
        [ring("2", "a")],
        "the old queue goes on as before"
    );
}

#[test]
fn a_removed_seat_on_a_call_keeps_it_and_leaves_when_it_ends() {
    let mut q = QueueConfig::new("q");
    q.wrapup = 10 * S;
    let mut r = Rig::simple(q.clone(), &["a", "b"]);
    r.arrive("1", "q");
    r.answer("1", "a");
    r.take();
    let report = r.reload(vec![q], &[("b", &[("q", 0)])], &[]);
    assert_eq!(report.retiring, ["a"]);
    assert_eq!(r.decisions(), [], "no hang-up, no stop");
    assert_eq!(r.state("a"), "on_call");
    assert!(
        r.acd
            .snapshot(r.now)
            .seats
            .iter()
            .any(|s| s.extension == "a" && s.retiring)
    );
    r.arrive("2", "q");
    assert_eq!(r.decisions(), [ring("2", "b")]);
    r.answer("2", "b");
    r.arrive("3", "q");
    assert_eq!(
        r.decisions(),
        [connect("2", "b")],
        "a is offered nothing more"
    );
    r.advance(60 * S);
    assert!(r.has_seat("a"));
    r.end("1");
    let events = r.events();
    assert_eq!(
        r.decisions(),
        [removed("a")],
        "no wrap-up: it leaves at once"
    );
    assert!(!r.has_seat("a"));
    let states: Vec<String> = events
        .iter()
        .filter(|(k, s, _)| *k == EventKind::AgentState && s.as_deref() == Some("a"))
        .filter_map(|(_, _, d)| d.clone())
        .collect();
    assert_eq!(states, ["on_call->wrap_up", "wrap_up->logged_out"]);
    assert!(
        events
            .iter()
            .any(|(k, s, _)| *k == EventKind::Complete && s.as_deref() == Some("a")),
        "the call completed normally"
    );
}

#[test]
fn a_removed_seat_that_rings_may_still_answer_then_leaves() {
    let mut r = Rig::simple(QueueConfig::new("q"), &["a", "b"]);
    r.arrive("1", "q");
    assert_eq!(r.decisions(), [ring("1", "a")]);
    r.reload(vec![QueueConfig::new("q")], &[("b", &[("q", 0)])], &[]);
    assert_eq!(r.decisions(), [], "the ring goes on");
    r.answer("1", "a");
    assert_eq!(r.decisions(), [connect("1", "a")]);
    r.end("1");
    assert_eq!(r.decisions(), [removed("a")]);
}

#[test]
fn an_idle_removed_seat_leaves_at_once_and_may_come_back() {
    let mut r = Rig::simple(QueueConfig::new("q"), &["a", "b"]);
    let report = r.reload(vec![QueueConfig::new("q")], &[("b", &[("q", 0)])], &[]);
    assert!(report.retiring.is_empty());
    assert!(
        r.events()
            .iter()
            .any(|(k, s, d)| *k == EventKind::AgentState
                && s.as_deref() == Some("a")
                && d.as_deref() == Some("ready->logged_out"))
    );
    assert_eq!(r.decisions(), [removed("a")]);
    r.arrive("1", "q");
    assert_eq!(r.decisions(), [ring("1", "b")]);
    r.reload(
        vec![QueueConfig::new("q")],
        &[("a", &[("q", 0)]), ("b", &[("q", 0)])],
        &[],
    );
    assert_eq!(
        r.state("a"),
        "logged_out",
        "back as a new seat, until its phone registers"
    );
}

#[test]
fn changed_members_and_penalties_count_for_the_next_call() {
    let mut r = Rig::simple(QueueConfig::new("q"), &["a", "b"]);
    r.reload(
        vec![QueueConfig::new("q"), QueueConfig::new("other")],
        &[("a", &[("other", 0)]), ("b", &[("q", 0)])],
        &[],
    );
    r.arrive("1", "q");
    assert_eq!(r.decisions(), [ring("1", "b")], "a left the queue");
    r.answer("1", "b");
    r.arrive("2", "q");
    assert_eq!(
        r.decisions(),
        [connect("1", "b")],
        "2 waits for b rather than ring a"
    );
    r.reload(
        vec![QueueConfig::new("q"), QueueConfig::new("other")],
        &[("a", &[("other", 0), ("q", 1)]), ("b", &[("q", 0)])],
        &[],
    );
    assert_eq!(
        r.decisions(),
        [ring("2", "a")],
        "a joined again (penalty 1): it takes the waiting call at once"
    );
}

#[test]
fn waiting_calls_of_a_removed_queue_go_where_their_line_points_now() {
    let mut r = Rig::new(
        vec![QueueConfig::new("old"), QueueConfig::new("new")],
        &[("a", &[("new", 0)])],
        true,
    );
    r.arrive("1", "old");
    r.arrive("2", "old");
    r.take();
    let report = r.reload(
        vec![QueueConfig::new("new")],
        &[("a", &[("new", 0)])],
        &[("1", "new"), ("2", "new")],
    );
    assert_eq!(
        report.moved,
        [
            ("1".into(), "old".into(), "new".into()),
            ("2".into(), "old".into(), "new".into())
        ]
    );
    assert!(report.draining.is_empty(), "nothing left in the old queue");
    let overflow = |c: &str| Output::Overflowed {
        call: c.into(),
        from: "old".into(),
        to: "new".into(),
    };
    assert_eq!(r.decisions(), [overflow("1"), overflow("2")]);
    r.online("a");
    assert_eq!(
        r.decisions(),
        [ring("1", "a")],
        "first come, first served, as before"
    );
    assert!(
        r.acd.snapshot(r.now).queues.iter().all(|q| q.name != "old"),
        "the old queue is gone"
    );
}

#[test]
fn a_removed_queue_whose_calls_have_nowhere_to_go_drains_with_its_old_seats() {
    let mut r = Rig::simple(QueueConfig::new("closing"), &["a", "b"]);
    r.arrive("1", "closing");
    r.answer("1", "a");
    r.request("b", StateRequest::NotReady("break".into()));
    r.arrive("2", "closing");
    r.take();
    // The line and the queue are closed; a and b now serve "citizen".
    let report = r.reload(
        vec![QueueConfig::new("citizen")],
        &[("a", &[("citizen", 0)]), ("b", &[("citizen", 0)])],
        &[],
    );
    assert_eq!(report.draining, [("closing".into(), 2)]);
    assert_eq!(r.decisions(), []);
    assert_eq!(
        r.acd.call_arrived(r.now, "3", "closing"),
        Err(AcdError::UnknownQueue("closing".into())),
        "no new call enters it"
    );
    assert!(
        r.acd
            .snapshot(r.now)
            .queues
            .iter()
            .any(|q| q.name == "closing" && q.draining && q.waiting == 1)
    );
    r.request("b", StateRequest::Ready);
    assert_eq!(
        r.decisions(),
        [ring("2", "b")],
        "its old seat still answers it"
    );
    r.answer("2", "b");
    r.end("1");
    r.end("2");
    r.take();
    assert!(
        r.acd
            .snapshot(r.now)
            .queues
            .iter()
            .all(|q| q.name != "closing"),
        "gone with its last call"
    );
    r.arrive("4", "citizen");
    assert_eq!(r.decisions(), [ring("4", "a")]);
}

#[test]
fn a_draining_queue_is_not_answered_by_its_old_seat_moved_to_the_other_side() {
    let mut emergency = QueueConfig::new("emergency");
    emergency.class = crate::model::LineClass::Emergency;
    let mut r = Rig::new(
        vec![QueueConfig::new("closing"), emergency.clone()],
        &[("a", &[("closing", 0)]), ("b", &[("closing", 0)])],
        true,
    );
    r.arrive("1", "closing");
    r.take();
    // The queue closes; a becomes an emergency seat, b stays on the 12345 side.
    r.reload(
        vec![emergency, QueueConfig::new("citizen")],
        &[("a", &[("emergency", 0)]), ("b", &[("citizen", 0)])],
        &[],
    );
    r.online("a");
    assert_eq!(
        r.decisions(),
        [],
        "the emergency seat does not take the 12345 caller"
    );
    r.online("b");
    assert_eq!(r.decisions(), [ring("1", "b")]);
}

#[test]
fn a_higher_priority_takes_effect_for_calls_already_waiting() {
    let queues = |low_priority: i32| {
        let mut first = QueueConfig::new("first");
        first.priority = 10;
        let mut low = QueueConfig::new("low");
        low.priority = low_priority;
        vec![first, low]
    };
    let mut r = Rig::new(queues(0), &[("a", &[("first", 0), ("low", 0)])], true);
    r.arrive("1", "first");
    r.advance(S);
    r.arrive("2", "low");
    r.reload(queues(20), &[("a", &[("first", 0), ("low", 0)])], &[]);
    r.online("a");
    assert_eq!(r.decisions(), [ring("2", "a")], "low now outranks first");
}

#[test]
fn an_overflow_into_a_removed_queue_keeps_the_call_waiting() {
    let mut q = QueueConfig::new("q");
    q.max_wait = Some(10 * S);
    q.when_timeout = Fallback::Overflow("spill".into());
    let mut r = Rig::new(
        vec![q.clone(), QueueConfig::new("spill")],
        &[("a", &[("q", 0)])],
        true,
    );
    r.arrive("1", "q");
    r.advance(S);
    // A draining queue with its old overflow: "spill" is gone meanwhile.
    r.reload(
        vec![QueueConfig::new("other")],
        &[("a", &[("other", 0)])],
        &[],
    );
    r.advance(20 * S);
    assert!(
        !r.decisions()
            .iter()
            .any(|d| matches!(d, Output::Reject { .. } | Output::Overflowed { .. }))
    );
    r.online("a");
    assert_eq!(r.decisions(), [ring("1", "a")]);
}

/// After every input: no removed seat lingers once idle, no removed queue
/// once empty.
fn check_leftovers(acd: &Acd) {
    for ext in &acd.retiring {
        assert!(
            acd.seats[ext].state.busy(),
            "seat {ext} was removed and is idle, yet still there"
        );
    }
    for q in &acd.draining {
        assert!(
            acd.calls.values().any(|c| &c.queue == q),
            "queue {q} was removed and is empty, yet still there"
        );
    }
}

#[test]
fn reloads_amid_random_traffic_never_end_a_call_and_keep_the_invariants() {
    let names = ["a", "b", "c", "d"];
    let exts: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    for seed in 1..=8u64 {
        let mut rng = crate::testutil::Rng::seeded(seed);
        let queue = |name: &str, rng: &mut crate::testutil::Rng| {
            let mut q = QueueConfig::new(name);
            q.strategy = [
                Strategy::LongestIdle,
                Strategy::RingAll,
                Strategy::RoundRobin,
                Strategy::FewestCalls,
            ][rng.below(4) as usize];
            q.priority = rng.below(3) as i32;
            q.wrapup = Duration::from_secs(rng.below(3));
            q.max_wait = (rng.below(2) == 0).then(|| Duration::from_secs(20 + rng.below(40)));
            q.when_timeout = Fallback::Overflow(names[rng.below(4) as usize].into());
            q
        };
        // A random config: some of the queues (at least one), some of the seats.
        let config = |rng: &mut crate::testutil::Rng| {
            let mut queues = Vec::new();
            for n in names {
                if rng.below(3) != 0 {
                    queues.push(queue(n, rng));
                }
            }
            if queues.is_empty() {
                queues.push(queue("a", rng));
            }
            let mut seats = Vec::new();
            for e in &exts {
                if rng.below(4) == 0 {
                    continue;
                }
                let mut member = Vec::new();
                for q in &queues {
                    if rng.below(2) == 0 {
                        member.push((q.name.clone(), rng.below(2) as u32));
                    }
                }
                seats.push(SeatConfig {
                    extension: e.clone(),
                    queues: member,
                });
            }
            AcdConfig { queues, seats }
        };
        let first = config(&mut rng);
        let mut r = Rig {
            acd: Acd::new(first, true),
            now: Instant::now(),
            out: Vec::new(),
            silent: Vec::new(),
        };
        let mut next_call = 0;
        for _ in 0..2000 {
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
            let pick = |rng: &mut crate::testutil::Rng, n: usize| rng.below(n as u64) as usize;
            match rng.below(12) {
                0 | 1 => {
                    next_call += 1;
                    let _ =
                        r.acd
                            .call_arrived(r.now, &next_call.to_string(), names[pick(&mut rng, 4)]);
                }
                2 if !ringing.is_empty() => {
                    let (c, s) = &ringing[pick(&mut rng, ringing.len())];
                    r.acd.ring_answered(r.now, c, s);
                }
                3 if !ringing.is_empty() => {
                    let (c, s) = &ringing[pick(&mut rng, ringing.len())];
                    r.acd.ring_failed(r.now, c, s, RingFailure::NoAnswer);
                }
                4 if !connected.is_empty() => r.acd.call_ended(
                    r.now,
                    &connected[pick(&mut rng, connected.len())],
                    HangupBy::Caller,
                ),
                5 => {
                    let s = &exts[pick(&mut rng, exts.len())];
                    let _ = r.acd.set_agent_state(
                        r.now,
                        s,
                        [StateRequest::Ready, StateRequest::NotReady("x".into())]
                            [pick(&mut rng, 2)]
                        .clone(),
                    );
                }
                6 => {
                    let up = rng.below(4) != 0;
                    r.acd
                        .seat_reachable(r.now, &exts[pick(&mut rng, exts.len())], up);
                }
                7 if rng.below(3) == 0 => {
                    let before: BTreeSet<String> = r.acd.calls.keys().cloned().collect();
                    let next = config(&mut rng);
                    let mut reroute = HashMap::new();
                    for c in &before {
                        if rng.below(2) == 0 {
                            reroute.insert(c.clone(), names[pick(&mut rng, 4)].to_string());
                        }
                    }
                    r.acd.reconfigure(r.now, next, true, &reroute);
                    let after: BTreeSet<String> = r.acd.calls.keys().cloned().collect();
                    assert_eq!(before, after, "a reload ends no call");
                    assert!(
                        !r.acd
                            .outputs
                            .iter()
                            .any(|o| matches!(o, Output::Reject { .. } | Output::StopRing { .. })),
                        "a reload refuses nothing and stops no ring: {:?}",
                        r.acd.outputs
                    );
                }
                _ => {
                    r.advance(Duration::from_millis(rng.below(5000)));
                }
            }
            r.drain();
            check_leftovers(&r.acd);
            r.take();
        }
    }
}
