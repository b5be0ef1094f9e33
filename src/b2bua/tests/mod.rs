//! The engine's tests, in simulated time: a trunk and seat phones made of
//! plain test code exchange SIP text with one [`Engine`](super::Engine)
//! while a fake clock jumps from one engine deadline to the next.
//!
//! Files: `harness.rs` (the clock and the mailboxes), `text.rs` (SIP as
//! text: reading and printing), `peers.rs` (the trunk, dialogs) and
//! `phone.rs` (seat phones), then one file per topic: `basics.rs`
//! (registration, OPTIONS, refusals), `agents.rs` (feature codes,
//! registrations lapsing mid-call), `calls.rs` (answer, hang-up, cancel),
//! `ringing.rs` (ring timeout, busy, decline, seats rung again),
//! `dialog.rs` (re-INVITE relay), `late_offer.rs` (INVITEs without SDP), `callback.rs` (callbacks
//! through the trunk), `media.rs` (prompts,
//! announcements, survey and recording with `[media]`), `transfer.rs`
//! (transfers across sides: 12345 to 110 and back), `reconfigure.rs`
//! (reloads with calls on), `blf.rs` (busy-lamp fields: SUBSCRIBE/NOTIFY
//! of a seat's dialog state), `drain.rs` (stopping), `retransmit.rs` (UDP
//! timers) and `random.rs` (the ACD invariants under seeded random
//! traffic, made by `traffic.rs` and `reactions.rs`).

mod harness;
mod peers;
mod phone;
mod text;

mod agents;
mod basics;
mod blf;
mod callback;
mod calls;
mod capacity;
mod dialog;
mod drain;
mod late_offer;
mod media;
mod random;
mod reactions;
mod reconfigure;
mod retransmit;
mod ringing;
mod traffic;
mod transfer;

use harness::Sim;
use phone::Phone;

/// Registers phones for `exts`, in order (so the first is idle longest).
fn registered(sim: &mut Sim, exts: &[&str]) -> Vec<Phone> {
    exts.iter()
        .map(|ext| {
            let mut phone = Phone::new(ext);
            phone.register(sim);
            phone
        })
        .collect()
}

/// A call from `trunk` to 12345 ringing `seat` (the only ready seat),
/// which has answered 180. Returns the trunk's call and the seat's ring.
fn ringing_call(
    sim: &mut Sim,
    trunk: &peers::Trunk,
    seat: &Phone,
) -> (peers::TrunkCall, phone::Ring) {
    let (call, ring) = offered_call(sim, trunk, seat);
    seat.reply(sim, &ring, 180, "Ringing");
    (call, ring)
}

/// A call from `trunk` to 12345 queued (100, 180 to the trunk) and offered
/// to `seat` (the only ready seat), which has the INVITE and said nothing.
fn offered_call(
    sim: &mut Sim,
    trunk: &peers::Trunk,
    seat: &Phone,
) -> (peers::TrunkCall, phone::Ring) {
    use peers::Peer;
    let call = trunk.call(sim, "12345", "13800138000");
    call.expect_response(sim, 100, "INVITE");
    call.expect_response(sim, 180, "INVITE");
    let ring = seat.expect_invite(sim);
    (call, ring)
}

/// A call from `trunk` to 12345 that `seat` (the only ready seat) answers
/// at once; the trunk has ACKed the 200. Returns the trunk's call, the
/// seat's ring and the agent's side of the seat dialog.
fn answered_call(
    sim: &mut Sim,
    trunk: &peers::Trunk,
    seat: &Phone,
) -> (peers::TrunkCall, phone::Ring, peers::PeerDialog) {
    use peers::Peer;
    let (mut call, ring) = offered_call(sim, trunk, seat);
    let agent = seat.answer(sim, &ring);
    seat.expect_request(sim, "ACK");
    let ok = call.expect_response(sim, 200, "INVITE");
    call.confirm(sim, &ok);
    (call, ring, agent)
}
