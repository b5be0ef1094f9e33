//! A seat's desk phone: registers with a real digest, rings, answers or
//! refuses, and handles the engine's CANCELs.

use super::harness::{PHONES_LISTEN, Sim, SipExt, request, response, sdp, uri_of};
use super::peers::{Peer, PeerDialog, udp};
use crate::sip::auth::{Algorithm, DigestInput, QopAuth, authorization_value};
use crate::sip::{Flow, Message, Side};
use std::net::SocketAddr;

/// A seat's desk phone.
pub struct Phone {
    pub ext: String,
    pub password: String,
    pub addr: SocketAddr,
    reg_call_id: String,
    reg_cseq: u32,
}

impl Peer for Phone {
    fn flow(&self) -> Flow {
        udp(Side::Phones, self.addr)
    }
}

/// An INVITE a phone received: it rings.
#[derive(Debug, Clone)]
pub struct Ring {
    pub invite: Message,
    /// The To tag this phone answers with.
    pub tag: String,
    /// hotline's call id (X-Hotline-Call-Id).
    pub call: String,
}

impl Phone {
    /// Seat `ext` with the demo password, at 127.0.1.N:5062.
    pub fn new(ext: &str) -> Phone {
        let n: u32 = ext.parse().unwrap();
        Phone {
            ext: ext.into(),
            password: format!("demo-{ext}"),
            addr: SocketAddr::from(([127, 0, 1, (n % 250) as u8], 5062)),
            reg_call_id: format!("reg-{ext}"),
            reg_cseq: 0,
        }
    }

    pub fn contact(&self) -> String {
        format!("<sip:{}@{}>", self.ext, self.addr)
    }

    /// Sends a REGISTER for `expires` seconds, with credentials or without.
    pub fn send_register(&mut self, sim: &mut Sim, authorization: Option<&str>, expires: u32) {
        self.reg_cseq += 1;
        let branch = sim.token("z9hG4bK-");
        let aor = format!("<sip:{}@127.0.0.1>", self.ext);
        let from = format!("{aor};tag={}", sim.token("rt"));
        let (cseq, expires) = (format!("{} REGISTER", self.reg_cseq), expires.to_string());
        let contact = self.contact();
        let mut headers = vec![
            ("From", from.as_str()),
            ("To", &aor),
            ("Call-ID", &self.reg_call_id),
            ("CSeq", &cseq),
        ];
        headers.extend([
            ("Contact", contact.as_str()),
            ("Expires", &expires),
            ("User-Agent", "simphone"),
        ]);
        if let Some(auth) = authorization {
            headers.push(("Authorization", auth));
        }
        let text = request(
            "REGISTER",
            &format!("sip:{PHONES_LISTEN}"),
            self.addr,
            &branch,
            &headers,
            "",
        );
        self.send(sim, &text);
    }

    /// The Authorization (or Proxy-Authorization) value answering the
    /// first challenge of a 401 (or 407), computed with `password`.
    pub fn authorization(
        &self,
        challenge: &Message,
        method: &str,
        uri: &str,
        password: &str,
    ) -> String {
        let value = challenge
            .hdr("WWW-Authenticate")
            .or_else(|| challenge.hdr("Proxy-Authenticate"));
        let value = value.expect("a 401 or 407 carries a challenge");
        let param = |name: &str| {
            digest_param(&value, name)
                .unwrap_or_else(|| panic!("challenge without {name}: {value}"))
        };
        let (realm, nonce, opaque) = (param("realm"), param("nonce"), param("opaque"));
        let algorithm = Algorithm::from_token(&param("algorithm")).expect("a known algorithm");
        let qop = Some(QopAuth {
            nc: 1,
            cnonce: "c0ffee",
        });
        let input = DigestInput {
            algorithm,
            username: &self.ext,
            realm: &realm,
            nonce: &nonce,
            method,
            uri,
            qop,
        };
        authorization_value(&input, password, Some(&opaque))
    }

    /// Registers for an hour: REGISTER, 401, REGISTER with a digest, 200.
    #[track_caller]
    pub fn register(&mut self, sim: &mut Sim) -> Message {
        self.send_register(sim, None, 3600);
        let challenge = self.expect_response(sim, 401, "REGISTER");
        let uri = format!("sip:{PHONES_LISTEN}");
        let auth = self.authorization(&challenge, "REGISTER", &uri, &self.password.clone());
        self.send_register(sim, Some(&auth), 3600);
        self.expect_response(sim, 200, "REGISTER")
    }

    /// The engine rings this phone.
    #[track_caller]
    pub fn expect_invite(&self, sim: &mut Sim) -> Ring {
        let invite = self.expect_request(sim, "INVITE");
        self.expect_invite_from(sim, invite)
    }

    /// A ring from an INVITE already taken from the mailbox.
    #[track_caller]
    pub fn expect_invite_from(&self, sim: &mut Sim, invite: Message) -> Ring {
        let call = invite
            .hdr("X-Hotline-Call-Id")
            .expect("INVITE to a seat names hotline's call");
        Ring {
            invite,
            tag: sim.token("pt"),
            call,
        }
    }

    /// A provisional or failure response to a ringing INVITE.
    pub fn reply(&self, sim: &mut Sim, ring: &Ring, code: u16, reason: &str) {
        self.send(
            sim,
            &response(&ring.invite, code, reason, Some(&ring.tag), &[], ""),
        );
    }

    /// The agent picks up: 200 with Contact and an SDP answer. Returns the
    /// phone's side of the dialog.
    pub fn answer(&self, sim: &mut Sim, ring: &Ring) -> PeerDialog {
        let contact = self.contact();
        let answer = self.answer_sdp();
        self.send(
            sim,
            &response(
                &ring.invite,
                200,
                "OK",
                Some(&ring.tag),
                &[("Contact", &contact)],
                &answer,
            ),
        );
        PeerDialog {
            flow: self.flow(),
            call_id: ring.invite.hdr("Call-ID").unwrap(),
            local: format!("{};tag={}", ring.invite.hdr("To").unwrap(), ring.tag),
            remote: ring.invite.hdr("From").unwrap(),
            target: uri_of(
                &ring
                    .invite
                    .hdr("Contact")
                    .expect("the engine's INVITE has a Contact"),
            ),
            contact,
            cseq: 0,
        }
    }

    pub fn answer_sdp(&self) -> String {
        sdp(&self.addr.ip().to_string(), 30_000, "sendrecv")
    }

    /// The engine CANCELs the ringing INVITE: 200 to the CANCEL, 487 to
    /// the INVITE, and the engine ACKs the 487.
    #[track_caller]
    pub fn expect_cancel(&self, sim: &mut Sim, ring: &Ring) {
        let cancel = self.expect_request(sim, "CANCEL");
        assert_eq!(
            cancel.hdr("Via"),
            ring.invite.hdr("Via"),
            "CANCEL must match the INVITE's branch"
        );
        self.send(sim, &response(&cancel, 200, "OK", None, &[], ""));
        self.reply(sim, ring, 487, "Request Terminated");
        self.expect_ack_of_failure(sim, ring);
    }

    /// The engine ACKs a 3xx-6xx inside the INVITE transaction.
    #[track_caller]
    pub fn expect_ack_of_failure(&self, sim: &mut Sim, ring: &Ring) {
        let ack = self.expect_request(sim, "ACK");
        assert_eq!(
            ack.hdr("Via"),
            ring.invite.hdr("Via"),
            "the ACK of a failure reuses the INVITE's branch"
        );
        assert_eq!(ack.to_tag().as_deref(), Some(ring.tag.as_str()));
    }
}

/// A call the phone placed itself, authenticated ([`Phone::dial`]).
pub struct Dialled {
    pub uri: String,
    pub from: String,
    pub call_id: String,
    /// The branch of the authenticated INVITE (its CANCEL reuses it).
    pub branch: String,
}

impl Phone {
    /// The phone dials `dialled` with an SDP offer: INVITE, 407, ACK, the
    /// INVITE again with credentials, 100.
    pub fn dial(&self, sim: &mut Sim, dialled: &str) -> Dialled {
        let uri = format!("sip:{dialled}@{PHONES_LISTEN}");
        let from = format!("<sip:{}@127.0.0.1>;tag={}", self.ext, sim.token("st"));
        let to = format!("<sip:{dialled}@127.0.0.1>");
        let call_id = sim.token("seat-call-");
        let contact = self.contact();
        let offer = sdp(&self.addr.ip().to_string(), 30_000, "sendrecv");
        let invite = |sim: &mut Sim, cseq: &str, auth: Option<&str>| {
            let branch = sim.token("z9hG4bK-");
            let mut headers = vec![
                ("From", from.as_str()),
                ("To", &to),
                ("Call-ID", &call_id),
                ("CSeq", cseq),
                ("Contact", &contact),
            ];
            headers.extend(auth.map(|a| ("Proxy-Authorization", a)));
            (
                request("INVITE", &uri, self.addr, &branch, &headers, &offer),
                branch,
            )
        };
        let (first, _) = invite(sim, "1 INVITE", None);
        self.send(sim, &first);
        self.expect_response(sim, 100, "INVITE");
        let challenge = self.expect_response(sim, 407, "INVITE");
        let branch = challenge
            .hdr("Via")
            .unwrap()
            .split("branch=")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let ack = [
            ("From", from.as_str()),
            ("To", &challenge.hdr("To").unwrap()),
            ("Call-ID", &call_id),
            ("CSeq", "1 ACK"),
        ];
        self.send(sim, &request("ACK", &uri, self.addr, &branch, &ack, ""));
        let auth = self.authorization(&challenge, "INVITE", &uri, &self.password);
        let (second, branch) = invite(sim, "2 INVITE", Some(&auth));
        self.send(sim, &second);
        self.expect_response(sim, 100, "INVITE");
        Dialled {
            uri,
            from,
            call_id,
            branch,
        }
    }
}

/// A parameter of a `Digest ...` challenge, unquoted.
fn digest_param(value: &str, name: &str) -> Option<String> {
    let rest = value.trim().strip_prefix("Digest").unwrap_or(value);
    rest.split(',').find_map(|p| {
        let (n, v) = p.split_once('=')?;
        (n.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_string())
    })
}
