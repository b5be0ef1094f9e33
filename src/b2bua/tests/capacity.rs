//! Reserved capacity: with `[capacity] max_calls = 3, reserved_emergency
//! = 1`, 12345 gets two calls at once and 110 the third; beyond their
//! share 12345 callers are refused (486, recorded), 110 still gets through
//! until every line is busy.

use super::harness::{Sim, SipExt, demo_config, secs};
use super::peers::{Peer, Trunk, TrunkCall};
use crate::config::CapacityConfig;
use crate::model::Outcome;

fn three_lines_one_reserved() -> Sim {
    let mut config = demo_config();
    config.capacity = Some(CapacityConfig {
        max_calls: 3,
        reserved_emergency: 1,
    });
    Sim::new(config)
}

/// A call to `line` that hotline takes (queued: 100, 180).
fn queued(sim: &mut Sim, trunk: &Trunk, line: &str, caller: &str) -> TrunkCall {
    let call = trunk.call(sim, line, caller);
    call.expect_response(sim, 100, "INVITE");
    call.expect_response(sim, 180, "INVITE");
    call
}

/// A call to `line` that hotline refuses as over capacity.
fn refused(sim: &mut Sim, trunk: &Trunk, line: &str, caller: &str, why: &str) -> TrunkCall {
    let call = trunk.call(sim, line, caller);
    call.expect_response(sim, 100, "INVITE");
    let busy = call.expect_response(sim, 486, "INVITE");
    assert!(busy.text().contains(why), "{}", busy.text());
    call.ack_failure(sim, &busy);
    let rec = sim.final_record(&call.call_id);
    assert_eq!(rec.outcome, Some(Outcome::Rejected));
    assert!(rec.reason.as_deref().unwrap().contains(why), "{rec:?}");
    call
}

#[test]
fn a_citizen_surge_fills_its_share_and_emergency_calls_still_get_through() {
    let mut sim = three_lines_one_reserved();
    let trunk = Trunk::new();
    let first = queued(&mut sim, &trunk, "12345", "13800000001");
    let _second = queued(&mut sim, &trunk, "12329", "13800000002");
    refused(
        &mut sim,
        &trunk,
        "12333",
        "13800000003",
        "non-emergency calls at their limit (2 of 3",
    );
    refused(
        &mut sim,
        &trunk,
        "12345",
        "13800000004",
        "held for emergency lines",
    );
    // The reserve is 110's.
    let _police = queued(&mut sim, &trunk, "110", "13800000005");
    refused(&mut sim, &trunk, "119", "13800000006", "all 3 lines busy");

    // A citizen hangs up: the share has room again.
    first.cancel(&mut sim);
    first.expect_response(&mut sim, 200, "CANCEL");
    let cancelled = first.expect_response(&mut sim, 487, "INVITE");
    first.ack_failure(&mut sim, &cancelled);
    sim.advance(secs(1));
    queued(&mut sim, &trunk, "12345", "13800000007");
}

#[test]
fn an_idle_citizen_share_is_lent_to_emergency_calls() {
    let mut sim = three_lines_one_reserved();
    let trunk = Trunk::new();
    for caller in ["13800000011", "13800000012", "13800000013"] {
        queued(&mut sim, &trunk, "110", caller);
    }
    refused(&mut sim, &trunk, "122", "13800000014", "all 3 lines busy");
    refused(&mut sim, &trunk, "12345", "13800000015", "all 3 lines busy");
}

#[test]
fn with_media_a_refused_citizen_hears_the_busy_prompt_before_the_486() {
    let mut sim =
        Sim::demo_with_media(|t| t + "\n[capacity]\nmax_calls = 2\nreserved_emergency = 1\n");
    let trunk = Trunk::at("127.0.0.3:5070");
    let call = trunk.call(&mut sim, "12345", "13800000021");
    call.expect_response(&mut sim, 100, "INVITE");
    call.expect_response(&mut sim, 183, "INVITE");
    let over = trunk.call(&mut sim, "12345", "13800000022");
    over.expect_response(&mut sim, 100, "INVITE");
    let early = over.expect_response(&mut sim, 183, "INVITE");
    assert!(
        early.body_text().contains("o=hotline"),
        "the busy prompt as early media"
    );
    let id = sim
        .engine
        .live_calls(sim.now)
        .into_iter()
        .find(|c| c.caller == "13800000022")
        .unwrap()
        .id;
    let played: Vec<String> = sim
        .take_media(&id)
        .into_iter()
        .filter_map(|(_, c)| match c {
            crate::media::driver::MediaCmd::Play { clips, .. } => {
                clips.first().map(|c| c.name.to_string())
            }
            _ => None,
        })
        .collect();
    assert!(
        played.last().is_some_and(|p| p.ends_with("zh/busy.wav")),
        "{played:?}"
    );
    over.assert_silent(&mut sim);
    sim.advance(secs(15));
    let busy = over.expect_response(&mut sim, 486, "INVITE");
    assert!(
        busy.text().contains("held for emergency lines"),
        "{}",
        busy.text()
    );
}
