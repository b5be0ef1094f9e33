//! How the random traffic's peers answer what the engine sends them: the
//! seat phones (ring, then answer, refuse or let ring as `traffic.rs`
//! drew; 487 a CANCEL, sometimes late) and the trunk (ACK, answer BYEs
//! and re-INVITEs).

use super::harness::{PHONES_LISTEN, SipExt, response, sdp};
use super::peers::Peer;
use super::traffic::{Action, CallState, Pick, World};
use crate::sip::Message;
use std::time::Duration;

impl World {
    pub(super) fn phone_gets(&mut self, i: usize, msg: Message) {
        let call_id = msg.hdr("Call-ID").unwrap_or_default();
        if let Some(code) = msg.code() {
            match (msg.cseq_method().as_str(), code) {
                ("REGISTER", 401) => {
                    let p = &self.phones[i].phone;
                    let auth = p.authorization(
                        &msg,
                        "REGISTER",
                        &format!("sip:{PHONES_LISTEN}"),
                        &p.password.clone(),
                    );
                    let expires = self.phones[i].expires;
                    self.phones[i]
                        .phone
                        .send_register(&mut self.sim, Some(&auth), expires);
                }
                ("REGISTER", _) => assert_eq!(code, 200, "seed {}: {}", self.seed, msg.text()),
                ("INVITE", 200..=299) => {
                    let cseq: u32 = msg
                        .hdr("CSeq")
                        .and_then(|c| c.split(' ').next()?.parse().ok())
                        .unwrap();
                    if let Some(d) = self.phones[i].calls.get(&call_id) {
                        d.ack(&mut self.sim, cseq);
                    }
                }
                ("INVITE", 300..) => {
                    // A re-INVITE refused (the call ended meanwhile).
                    let sp = &self.phones[i];
                    if let Some(d) = sp.calls.get(&call_id).or_else(|| sp.ended.get(&call_id)) {
                        d.ack_failure(&mut self.sim, &msg);
                    }
                }
                _ => {}
            }
            return;
        }
        let sp = &mut self.phones[i];
        let method = msg.method().map(|m| m.to_string()).unwrap_or_default();
        match method.as_str() {
            "INVITE" if msg.to_tag().is_none() => {
                if let Some(ring) = sp.rings.get(&call_id) {
                    sp.phone.reply(&mut self.sim, ring, 180, "Ringing"); // a retransmission
                    return;
                }
                assert!(
                    sp.rings.is_empty(),
                    "seed {}: seat {} rung for {:?} while still ringing for {:?}",
                    self.seed,
                    sp.phone.ext,
                    msg.hdr("X-Hotline-Call-Id"),
                    sp.rings.values().map(|r| &r.call).collect::<Vec<_>>()
                );
                let ring = sp.phone.expect_invite_from(&mut self.sim, msg);
                sp.phone.reply(&mut self.sim, &ring, 180, "Ringing");
                sp.rings.insert(call_id.clone(), ring);
                let (pick, after) = match self.rng.below(100) {
                    0..=49 => (Pick::Answer, self.between(500, 18_000)),
                    50..=64 => (Pick::Busy, self.between(0, 3_000)),
                    65..=74 => (Pick::Decline, self.between(0, 5_000)),
                    _ => return, // lets it ring out
                };
                self.schedule(
                    after,
                    Action::Reply {
                        phone: i,
                        invite: call_id,
                        pick,
                    },
                );
            }
            "INVITE" => match sp.calls.get(&call_id) {
                Some(d) => d.ok(
                    &mut self.sim,
                    &msg,
                    &sdp(&sp.phone.addr.ip().to_string(), 30_000, "sendrecv"),
                ),
                None => self.sim.deliver(
                    sp.phone.flow(),
                    &response(&msg, 481, "No Such Call", None, &[], ""),
                ),
            },
            "CANCEL" => {
                let flow = sp.phone.flow();
                self.sim
                    .deliver(flow, &response(&msg, 200, "OK", None, &[], ""));
                // The phone stops ringing at once; its 487 may come late.
                if let Some(ring) = self.phones[i].rings.remove(&call_id) {
                    self.phones[i].cancelled.insert(call_id.clone(), ring);
                    let late = if self.chance(30) {
                        self.between(0, 5_000)
                    } else {
                        Duration::ZERO
                    };
                    self.schedule(
                        late,
                        Action::Terminated {
                            phone: i,
                            invite: call_id,
                        },
                    );
                }
            }
            "ACK" => {}
            "BYE" => {
                if let Some(d) = sp.calls.remove(&call_id) {
                    sp.ended.insert(call_id, d);
                }
                let flow = sp.phone.flow();
                self.sim
                    .deliver(flow, &response(&msg, 200, "OK", None, &[], ""));
            }
            other => panic!(
                "seed {}: seat phone got an unexpected {other}:\n{}",
                self.seed,
                msg.text()
            ),
        }
    }

    pub(super) fn trunk_gets(&mut self, msg: Message) {
        let call_id = msg.hdr("Call-ID").unwrap_or_default();
        let i = self.callers.iter().position(|c| c.call.call_id == call_id);
        let i = i.unwrap_or_else(|| {
            panic!("seed {}: a message for no call:\n{}", self.seed, msg.text())
        });
        let c = &mut self.callers[i];
        if let Some(code) = msg.code() {
            if msg.cseq_method() != "INVITE" {
                return;
            }
            match code {
                100 => {}
                101..=199 => {
                    if c.early.is_none() && msg.to_tag().is_some() {
                        c.early = Some(c.call.early_dialog(&msg));
                    }
                }
                200..=299 if c.state == CallState::Offered => {
                    assert!(
                        !msg.body.is_empty(),
                        "seed {}: a 200 without SDP:\n{}",
                        self.seed,
                        msg.text()
                    );
                    let answer = if c.late_offer {
                        sdp("127.0.0.2", 20_000, "sendrecv")
                    } else {
                        String::new()
                    };
                    c.call.confirm_with_answer(&mut self.sim, &msg, &answer);
                    c.state = CallState::Answered;
                    c.final_code = Some(code);
                    let talk = self.between(5_000, 120_000);
                    self.schedule(talk, Action::CallerHangup(i));
                }
                200..=299 => c.call.dialog().ack(&mut self.sim, 1), // a retransmission
                _ => {
                    c.call.ack_failure(&mut self.sim, &msg);
                    if c.state == CallState::Offered {
                        c.state = CallState::Done;
                        c.final_code = Some(code);
                    }
                }
            }
            return;
        }
        match msg
            .method()
            .map(|m| m.to_string())
            .unwrap_or_default()
            .as_str()
        {
            "BYE" => {
                c.state = CallState::Done;
                c.call.dialog().ok(&mut self.sim, &msg, "");
            }
            "INVITE" => {
                let answer = sdp("127.0.0.2", 20_000, "recvonly");
                c.call.dialog().ok(&mut self.sim, &msg, &answer);
            }
            "ACK" => {}
            other => panic!(
                "seed {}: the trunk got an unexpected {other}:\n{}",
                self.seed,
                msg.text()
            ),
        }
    }
}
