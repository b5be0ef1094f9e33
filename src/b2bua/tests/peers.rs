//! The simulated peers: the carrier trunk here, seat phones in `phone.rs`. They are
//! plain test code that prints SIP text, hands it to the engine and reads
//! what the engine sent back, the way a real stack on the wire would.

use super::harness::{Sim, SipExt, TRUNK_LISTEN, request, response, sdp, uri_of};
use crate::sip::{Flow, Message, Proto, Side};
use std::net::SocketAddr;

/// Sending to and reading from the engine on one flow.
pub trait Peer {
    fn flow(&self) -> Flow;

    fn send(&self, sim: &mut Sim, text: &str) {
        sim.deliver(self.flow(), text);
    }

    /// The next message the engine sent this peer.
    #[track_caller]
    fn recv(&self, sim: &mut Sim) -> Message {
        let flow = self.flow();
        match sim.take(flow) {
            Some(sent) => sent.msg,
            None => panic!(
                "{} expected a message at {:?}, got nothing",
                flow.remote,
                sim.elapsed()
            ),
        }
    }

    /// The next message must be a `code` response to a `method` request.
    #[track_caller]
    fn expect_response(&self, sim: &mut Sim, code: u16, method: &str) -> Message {
        let msg = self.recv(sim);
        assert!(
            msg.code() == Some(code) && msg.cseq_method() == method,
            "{} expected {code} to {method}, got:\n{}",
            self.flow().remote,
            msg.text()
        );
        msg
    }

    /// The next message must be a `method` request.
    #[track_caller]
    fn expect_request(&self, sim: &mut Sim, method: &str) -> Message {
        let msg = self.recv(sim);
        assert!(
            msg.is_method(method),
            "{} expected {method}, got:\n{}",
            self.flow().remote,
            msg.text()
        );
        msg
    }

    /// Drops whatever is waiting, which must all be `code` responses
    /// (retransmissions a test has no more interest in).
    #[track_caller]
    fn drain_responses(&self, sim: &mut Sim, code: u16) {
        for sent in sim.drain(self.flow()) {
            assert_eq!(
                sent.msg.code(),
                Some(code),
                "expected only {code}s, got:\n{}",
                sent.msg.text()
            );
        }
    }

    /// Nothing is waiting for this peer.
    #[track_caller]
    fn assert_silent(&self, sim: &mut Sim) {
        if let Some(sent) = sim.take(self.flow()) {
            panic!(
                "{} expected silence, got at {:?}:\n{}",
                self.flow().remote,
                sent.at,
                sent.msg.text()
            );
        }
    }
}

pub fn udp(side: Side, remote: SocketAddr) -> Flow {
    Flow {
        side,
        proto: Proto::Udp,
        remote,
        conn: None,
    }
}

/// One side's view of an established dialog: enough to send requests in it.
#[derive(Debug, Clone)]
pub struct PeerDialog {
    pub flow: Flow,
    pub call_id: String,
    /// Our From value, with our tag.
    pub local: String,
    /// The other side's To value, with its tag.
    pub remote: String,
    /// Request-URI: the other side's Contact.
    pub target: String,
    /// Our Contact.
    pub contact: String,
    pub cseq: u32,
}

impl Peer for PeerDialog {
    fn flow(&self) -> Flow {
        self.flow
    }
}

impl PeerDialog {
    /// Sends the next request of the dialog; returns its CSeq number.
    pub fn send_request(&mut self, sim: &mut Sim, method: &str, body: &str) -> u32 {
        self.send_request_with(sim, method, &[], body)
    }

    /// The next request of the dialog with `extra` headers.
    pub fn send_request_with(
        &mut self,
        sim: &mut Sim,
        method: &str,
        extra: &[(&str, &str)],
        body: &str,
    ) -> u32 {
        self.cseq += 1;
        let branch = sim.token("z9hG4bK-");
        let cseq = format!("{} {method}", self.cseq);
        let mut headers = vec![
            ("From", self.local.as_str()),
            ("To", self.remote.as_str()),
            ("Call-ID", &self.call_id),
        ];
        headers.push(("CSeq", &cseq));
        if method == "INVITE" || method == "REFER" {
            headers.push(("Contact", &self.contact));
        }
        headers.extend_from_slice(extra);
        let text = request(
            method,
            &self.target,
            self.flow.remote,
            &branch,
            &headers,
            body,
        );
        sim.deliver(self.flow, &text);
        self.cseq
    }

    /// ACK for a 2xx to our INVITE with CSeq `cseq` (its own transaction).
    pub fn ack(&self, sim: &mut Sim, cseq: u32) {
        self.ack_with(sim, cseq, "");
    }

    /// ACK for a 2xx, carrying `body` (an SDP answer) when not empty.
    pub fn ack_with(&self, sim: &mut Sim, cseq: u32, body: &str) {
        let branch = sim.token("z9hG4bK-");
        let cseq = format!("{cseq} ACK");
        let headers = [
            ("From", self.local.as_str()),
            ("To", &self.remote),
            ("Call-ID", &self.call_id),
            ("CSeq", &cseq),
        ];
        let text = request(
            "ACK",
            &self.target,
            self.flow.remote,
            &branch,
            &headers,
            body,
        );
        sim.deliver(self.flow, &text);
    }

    /// ACK for a 3xx-6xx to our re-INVITE: in its transaction (the branch
    /// the response's Via echoes).
    pub fn ack_failure(&self, sim: &mut Sim, resp: &Message) {
        let via = resp.hdr("Via").expect("a response has a Via");
        let branch = via
            .split("branch=")
            .nth(1)
            .and_then(|b| b.split(';').next())
            .expect("a branch");
        let cseq = resp.hdr("CSeq").unwrap().replace("INVITE", "ACK");
        let to = resp.hdr("To").unwrap();
        let headers = [
            ("From", self.local.as_str()),
            ("To", &to),
            ("Call-ID", &self.call_id),
            ("CSeq", &cseq),
        ];
        let text = request("ACK", &self.target, self.flow.remote, branch, &headers, "");
        sim.deliver(self.flow, &text);
    }

    /// Answers an in-dialog request the engine sent: 200 (with `body`).
    pub fn ok(&self, sim: &mut Sim, req: &Message, body: &str) {
        let contact = [("Contact", self.contact.as_str())];
        let headers: &[(&str, &str)] = if req.is_method("INVITE") {
            &contact
        } else {
            &[]
        };
        sim.deliver(self.flow, &response(req, 200, "OK", None, headers, body));
    }
}

/// The carrier's side: sends citizens' calls to the trunk listener.
pub struct Trunk {
    pub addr: SocketAddr,
}

impl Peer for Trunk {
    fn flow(&self) -> Flow {
        udp(Side::Trunk, self.addr)
    }
}

impl Trunk {
    /// The trunk at an allowed address (demo allows 127.0.0.0/8).
    pub fn new() -> Trunk {
        Trunk::at("127.0.0.2:5070")
    }

    pub fn at(addr: &str) -> Trunk {
        Trunk {
            addr: addr.parse().unwrap(),
        }
    }

    /// The SDP the caller's side offers.
    pub fn offer(&self) -> String {
        sdp(&self.addr.ip().to_string(), 20_000, "sendrecv")
    }

    /// A citizen at `caller` dials `dialled`: INVITE with an SDP offer.
    pub fn call(&self, sim: &mut Sim, dialled: &str, caller: &str) -> TrunkCall {
        self.call_with(sim, dialled, caller, &self.offer())
    }

    /// A call whose INVITE carries no SDP: the offer will come in the 200
    /// and the answer in the ACK (RFC 3264 late offer).
    pub fn call_without_offer(&self, sim: &mut Sim, dialled: &str, caller: &str) -> TrunkCall {
        self.call_with(sim, dialled, caller, "")
    }

    fn call_with(&self, sim: &mut Sim, dialled: &str, caller: &str, offer: &str) -> TrunkCall {
        let call_id = sim.token("trunk-call-");
        let branch = sim.token("z9hG4bK-");
        let from = format!("<sip:{caller}@{}>;tag={}", self.addr.ip(), sim.token("ft"));
        let to = format!("<sip:{dialled}@{}>", TRUNK_LISTEN);
        let contact = format!("<sip:{caller}@{}>", self.addr);
        let uri = format!("sip:{dialled}@{}", TRUNK_LISTEN);
        let headers = [
            ("From", from.as_str()),
            ("To", &to),
            ("Call-ID", &call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", &contact),
        ];
        let invite = request("INVITE", &uri, self.addr, &branch, &headers, offer);
        let call = TrunkCall {
            flow: self.flow(),
            call_id,
            invite,
            branch,
            uri,
            from,
            contact,
            dialog: None,
        };
        call.retransmit(sim);
        call
    }
}

/// One call from the trunk, from the carrier's point of view.
pub struct TrunkCall {
    pub flow: Flow,
    pub call_id: String,
    /// The INVITE exactly as sent (a retransmission repeats it).
    pub invite: String,
    branch: String,
    uri: String,
    from: String,
    contact: String,
    dialog: Option<PeerDialog>,
}

impl Peer for TrunkCall {
    fn flow(&self) -> Flow {
        self.flow
    }
}

impl TrunkCall {
    /// Sends the INVITE (again).
    pub fn retransmit(&self, sim: &mut Sim) {
        sim.deliver(self.flow, &self.invite);
    }

    /// CANCEL: same branch, Request-URI, From, To and CSeq number.
    pub fn cancel(&self, sim: &mut Sim) {
        let to = format!("<{}>", self.uri);
        let headers = [
            ("From", self.from.as_str()),
            ("To", &to),
            ("Call-ID", &self.call_id),
            ("CSeq", "1 CANCEL"),
        ];
        let text = request(
            "CANCEL",
            &self.uri,
            self.flow.remote,
            &self.branch,
            &headers,
            "",
        );
        sim.deliver(self.flow, &text);
    }

    /// ACK for a 3xx-6xx: part of the INVITE transaction (same branch).
    pub fn ack_failure(&self, sim: &mut Sim, resp: &Message) {
        let to = resp.hdr("To").unwrap();
        let headers = [
            ("From", self.from.as_str()),
            ("To", &to),
            ("Call-ID", &self.call_id),
            ("CSeq", "1 ACK"),
        ];
        let text = request(
            "ACK",
            &self.uri,
            self.flow.remote,
            &self.branch,
            &headers,
            "",
        );
        sim.deliver(self.flow, &text);
    }

    /// ACKs the 200 for the INVITE and keeps the dialog it established.
    pub fn confirm(&mut self, sim: &mut Sim, ok: &Message) {
        self.confirm_with_answer(sim, ok, "");
    }

    /// ACKs the 200 with an SDP answer in the ACK (the 200 carried the
    /// offer of a late-offer call).
    pub fn confirm_with_answer(&mut self, sim: &mut Sim, ok: &Message, answer: &str) {
        let dialog = PeerDialog {
            flow: self.flow,
            call_id: self.call_id.clone(),
            local: self.from.clone(),
            remote: ok.hdr("To").unwrap(),
            target: uri_of(
                &ok.hdr("Contact")
                    .expect("a 200 to INVITE carries a Contact"),
            ),
            contact: self.contact.clone(),
            cseq: 1,
        };
        dialog.ack_with(sim, 1, answer);
        self.dialog = Some(dialog);
    }

    /// The early dialog a provisional response with a To tag set up.
    pub fn early_dialog(&self, provisional: &Message) -> PeerDialog {
        PeerDialog {
            flow: self.flow,
            call_id: self.call_id.clone(),
            local: self.from.clone(),
            remote: provisional.hdr("To").unwrap(),
            target: uri_of(
                &provisional
                    .hdr("Contact")
                    .expect("a 1xx with a tag carries a Contact"),
            ),
            contact: self.contact.clone(),
            cseq: 1,
        }
    }

    /// The dialog, once [`Self::confirm`]ed.
    pub fn dialog(&mut self) -> &mut PeerDialog {
        self.dialog.as_mut().expect("the call is not answered yet")
    }

    /// The caller hangs up an answered call.
    pub fn bye(&mut self, sim: &mut Sim) -> u32 {
        self.dialog().send_request(sim, "BYE", "")
    }
}
