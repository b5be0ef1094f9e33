//! The simulated peers, over real UDP: seat phones that register (digest),
//! ring, answer after a delay and talk until the caller hangs up; callers
//! that dial a line through the trunk, give up (CANCEL) when their patience
//! runs out, talk for a drawn time and hang up. With media, both send 20 ms
//! of PCMA every 20 ms to the address in hotline's SDP, as a phone would.
//!
//! A plain SIP user agent for loopback and a LAN: no retransmissions of
//! its own (it answers hotline's retransmitted requests again).

use crate::sip::auth::{Algorithm, DigestInput, QopAuth, authorization_value};
use crate::sip::{Message, random_token};
use bytes::Bytes;
use ezk_sip_types::Name;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

/// How one simulated call ended, as the caller saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// A seat answered after `wait`.
    Answered { wait: Duration },
    /// The caller gave up after `wait`.
    Abandoned { wait: Duration },
    /// hotline refused the call with this status.
    Rejected { code: u16 },
    /// Something went wrong (no answer from hotline, a socket error).
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct CallResult {
    pub line: String,
    pub ending: Ending,
}

/// A seat phone's settings.
#[derive(Debug, Clone)]
pub struct SeatPlan {
    pub ext: String,
    pub password: String,
    /// hotline's phones side (UDP).
    pub hotline: SocketAddr,
    /// How long the phone rings before the agent picks up.
    pub answer_delay: Duration,
    pub media: bool,
}

/// Runs one seat phone until `stop`; then it unregisters. `ready` hears
/// whether its first registration worked.
pub async fn seat(
    plan: SeatPlan,
    stop: CancellationToken,
    ready: mpsc::UnboundedSender<Result<String, String>>,
) -> Result<(), String> {
    let result = run_seat(&plan, &stop, &ready).await;
    if let Err(e) = &result {
        let _ = ready.send(Err(e.clone()));
    }
    result
}

async fn run_seat(
    plan: &SeatPlan,
    stop: &CancellationToken,
    ready: &mpsc::UnboundedSender<Result<String, String>>,
) -> Result<(), String> {
    let ip = plan.hotline.ip();
    let sock = UdpSocket::bind((ip, 0))
        .await
        .map_err(|e| format!("seat {}: bind: {e}", plan.ext))?;
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let rtp = UdpSocket::bind((ip, 0)).await.map_err(|e| e.to_string())?;
    let rtp_port = rtp.local_addr().map_err(|e| e.to_string())?.port();
    let rtp = Arc::new(rtp);
    let mut reg = Registration {
        plan,
        local,
        call_id: format!("reg-{}@sim", random_token()),
        cseq: 0,
    };
    reg.register(&sock, 300).await?;
    let _ = ready.send(Ok(plan.ext.clone()));
    let mut next_register = Instant::now() + Duration::from_secs(120);
    let mut call: Option<Incoming> = None;
    let mut buf = vec![0u8; 65_535];
    loop {
        let answer_at = call.as_ref().and_then(|c| c.answer_at);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = sleep_until(next_register) => {
                reg.register(&sock, 300).await?;
                next_register = Instant::now() + Duration::from_secs(120);
            }
            _ = sleep_until(answer_at.unwrap_or_else(far_future)), if answer_at.is_some() => {
                if let Some(c) = call.as_mut() {
                    c.answer_at = None;
                    let sdp = sdp_offer(local, rtp_port);
                    let ok = response(&c.invite, 200, "OK", &c.tag, Some(local)).with_body("application/sdp", Bytes::from(sdp));
                    send(&sock, &ok, plan.hotline).await;
                }
            }
            got = sock.recv_from(&mut buf) => {
                let Ok((n, from)) = got else { continue };
                let Ok(msg) = Message::parse(Bytes::copy_from_slice(&buf[..n])) else { continue };
                if !msg.is_request() {
                    continue;
                }
                let method = msg.method().map(|m| m.to_string()).unwrap_or_default();
                let same_call = call.as_ref().is_some_and(|c| msg.call_id() == c.invite.call_id());
                match method.as_str() {
                    "INVITE" if same_call && msg.to().and_then(|t| t.tag).is_none() => {} // a retransmission
                    "INVITE" if msg.to().and_then(|t| t.tag).is_some() => {
                        // A re-INVITE (hold, resume): same answer again.
                        let ok = response(&msg, 200, "OK", "", Some(local)).with_body("application/sdp", Bytes::from(sdp_offer(local, rtp_port)));
                        send(&sock, &ok, from).await;
                    }
                    "INVITE" if call.is_some() => send(&sock, &response(&msg, 486, "Busy Here", &random_token(), None), from).await,
                    "INVITE" => {
                        let tag = random_token();
                        send(&sock, &response(&msg, 180, "Ringing", &tag, Some(local)), from).await;
                        let peer = remote_rtp(&msg);
                        call = Some(Incoming { invite: msg, tag, answer_at: Some(Instant::now() + plan.answer_delay), peer, media: None });
                    }
                    "ACK" if same_call => {
                        if let Some(c) = call.as_mut()
                            && plan.media
                            && c.media.is_none()
                            && let Some(peer) = c.peer
                        {
                            c.media = Some(spawn_rtp(rtp.clone(), peer));
                        }
                    }
                    "CANCEL" if same_call => {
                        send(&sock, &response(&msg, 200, "OK", "", None), from).await;
                        if let Some(c) = call.take() {
                            send(&sock, &response(&c.invite, 487, "Request Terminated", &c.tag, None), from).await;
                        }
                    }
                    "BYE" => {
                        send(&sock, &response(&msg, 200, "OK", "", None), from).await;
                        if same_call && let Some(c) = call.take() && let Some(m) = c.media {
                            m.cancel();
                        }
                    }
                    "ACK" => {}
                    _ => send(&sock, &response(&msg, 200, "OK", "", None), from).await,
                }
            }
        }
    }
    if let Some(m) = call.and_then(|c| c.media) {
        m.cancel();
    }
    reg.register(&sock, 0).await
}

/// The call ringing or talking at a seat.
struct Incoming {
    invite: Message,
    tag: String,
    /// When the agent picks up (`None` once answered).
    answer_at: Option<Instant>,
    /// Where hotline takes the seat's RTP.
    peer: Option<SocketAddr>,
    media: Option<CancellationToken>,
}

struct Registration<'a> {
    plan: &'a SeatPlan,
    local: SocketAddr,
    call_id: String,
    cseq: u32,
}

impl Registration<'_> {
    /// REGISTER for `expires` seconds, answering the digest challenge.
    async fn register(&mut self, sock: &UdpSocket, expires: u32) -> Result<(), String> {
        let (ext, hotline) = (&self.plan.ext, self.plan.hotline);
        let uri = format!("sip:{}", hotline);
        let mut auth: Option<String> = None;
        for _ in 0..2 {
            self.cseq += 1;
            let mut text = format!(
                "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{b};rport\r\nMax-Forwards: 70\r\n\
From: <sip:{ext}@{host}>;tag={t}\r\nTo: <sip:{ext}@{host}>\r\nCall-ID: {cid}\r\nCSeq: {cseq} REGISTER\r\n\
Contact: <sip:{ext}@{local}>\r\nExpires: {expires}\r\nUser-Agent: hotline-simulate\r\n",
                local = self.local,
                b = random_token(),
                host = hotline.ip(),
                t = random_token(),
                cid = self.call_id,
                cseq = self.cseq,
            );
            if let Some(a) = &auth {
                text.push_str(&format!("Authorization: {a}\r\n"));
            }
            text.push_str("Content-Length: 0\r\n\r\n");
            sock.send_to(text.as_bytes(), hotline)
                .await
                .map_err(|e| e.to_string())?;
            let resp = recv_response(sock, "REGISTER", Duration::from_secs(5)).await.ok_or_else(|| {
                format!("seat {ext}: no answer to REGISTER from {hotline}: is hotline running with this config?")
            })?;
            match resp.code() {
                Some(200) => return Ok(()),
                Some(401) if auth.is_none() => {
                    auth = Some(
                        answer_challenge(&resp, ext, &self.plan.password, "REGISTER", &uri)
                            .ok_or("unusable challenge")?,
                    );
                }
                other => {
                    return Err(format!(
                        "seat {ext}: REGISTER answered {other:?}: check its password in the config"
                    ));
                }
            }
        }
        Err(format!("seat {ext}: REGISTER refused"))
    }
}

/// A caller's settings for one call.
#[derive(Debug, Clone)]
pub struct CallPlan {
    pub line: String,
    pub caller: String,
    /// hotline's trunk side (UDP).
    pub hotline: SocketAddr,
    /// Gives up after this long unanswered (`None`: waits for ever).
    pub patience: Option<Duration>,
    /// Talks this long once answered, then hangs up.
    pub talk: Duration,
    pub media: bool,
}

/// Places one call and reports how it ended.
pub async fn call(
    plan: CallPlan,
    results: mpsc::UnboundedSender<CallResult>,
    stop: CancellationToken,
) {
    let ending = match place(&plan, &stop).await {
        Ok(e) => e,
        Err(e) => Ending::Failed(e),
    };
    let _ = results.send(CallResult {
        line: plan.line,
        ending,
    });
}

async fn place(plan: &CallPlan, stop: &CancellationToken) -> Result<Ending, String> {
    let ip = plan.hotline.ip();
    let sock = UdpSocket::bind((ip, 0)).await.map_err(|e| e.to_string())?;
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let rtp = Arc::new(UdpSocket::bind((ip, 0)).await.map_err(|e| e.to_string())?);
    let rtp_port = rtp.local_addr().map_err(|e| e.to_string())?.port();
    let (call_id, tag, branch) = (
        format!("sim-{}@{}", random_token(), ip),
        random_token(),
        format!("z9hG4bK{}", random_token()),
    );
    let uri = format!("sip:{}@{}", plan.line, plan.hotline);
    let from = format!("<sip:{}@{}>;tag={tag}", plan.caller, ip);
    let head = |method: &str, cseq: u32, branch: &str, to: &str, target: &str| {
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\n\
From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
        )
    };
    let to = format!("<sip:{}@{}>", plan.line, plan.hotline.ip());
    let sdp = sdp_offer(local, rtp_port);
    let invite = head("INVITE", 1, &branch, &to, &uri)
        + &format!(
            "Contact: <sip:{}@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            plan.caller,
            sdp.len()
        );
    let started = Instant::now();
    sock.send_to(invite.as_bytes(), plan.hotline)
        .await
        .map_err(|e| e.to_string())?;
    let give_up = plan.patience.map(|p| started + p);
    let mut cancelled = false;
    let mut buf = vec![0u8; 65_535];
    // Until the final answer.
    let (ok, wait) = loop {
        tokio::select! {
            _ = stop.cancelled(), if !cancelled => {
                send_text(&sock, &(head("CANCEL", 1, &branch, &to, &uri) + "Content-Length: 0\r\n\r\n"), plan.hotline).await;
                cancelled = true;
            }
            _ = sleep_until(give_up.unwrap_or_else(far_future)), if give_up.is_some() && !cancelled => {
                send_text(&sock, &(head("CANCEL", 1, &branch, &to, &uri) + "Content-Length: 0\r\n\r\n"), plan.hotline).await;
                cancelled = true;
            }
            _ = tokio::time::sleep(Duration::from_secs(3600)) => return Err("no final answer within an hour".into()),
            got = sock.recv_from(&mut buf) => {
                let Ok((n, _)) = got else { continue };
                let Ok(msg) = Message::parse(Bytes::copy_from_slice(&buf[..n])) else { continue };
                if msg.is_request() {
                    // A BYE in the early dialog, or anything else: 200.
                    send(&sock, &response(&msg, 200, "OK", "", None), plan.hotline).await;
                    continue;
                }
                let Some(code) = msg.code() else { continue };
                if msg.cseq().map(|c| c.method.to_string()) != Some("INVITE".into()) || code < 200 {
                    continue;
                }
                let wait = started.elapsed();
                if code >= 300 {
                    let to_tagged = msg.raw(&Name::TO).map(|t| t.to_string()).unwrap_or_else(|| to.clone());
                    send_text(&sock, &(head("ACK", 1, &branch, &to_tagged, &uri) + "Content-Length: 0\r\n\r\n"), plan.hotline).await;
                    return Ok(if cancelled && code == 487 { Ending::Abandoned { wait } } else { Ending::Rejected { code } });
                }
                break (msg, wait);
            }
        }
    };
    // Answered (a 200 that crossed our CANCEL is answered too: hang up at once).
    let to_tagged = ok.raw(&Name::TO).map(|t| t.to_string()).unwrap_or(to);
    let target = contact_of(&ok).unwrap_or(uri.clone());
    send_text(
        &sock,
        &(head(
            "ACK",
            1,
            &format!("z9hG4bK{}", random_token()),
            &to_tagged,
            &target,
        ) + "Content-Length: 0\r\n\r\n"),
        plan.hotline,
    )
    .await;
    let media = match remote_rtp(&ok) {
        Some(peer) if plan.media => Some(spawn_rtp(rtp.clone(), peer)),
        _ => None,
    };
    let hang_up = if cancelled {
        Instant::now()
    } else {
        Instant::now() + plan.talk
    };
    let mut hung_up_by_hotline = false;
    loop {
        tokio::select! {
            _ = sleep_until(hang_up) => break,
            _ = stop.cancelled() => break,
            got = sock.recv_from(&mut buf) => {
                let Ok((n, _)) = got else { continue };
                let Ok(msg) = Message::parse(Bytes::copy_from_slice(&buf[..n])) else { continue };
                if msg.is_request() {
                    send(&sock, &response(&msg, 200, "OK", "", None), plan.hotline).await;
                    if msg.method().is_some_and(|m| m.to_string() == "BYE") {
                        hung_up_by_hotline = true;
                        break;
                    }
                } else if msg.code().is_some_and(|c| c >= 200) && msg.cseq().is_some_and(|c| c.method.to_string() == "INVITE") {
                    // Our ACK was lost: the 200 came again.
                    send_text(&sock, &(head("ACK", 1, &format!("z9hG4bK{}", random_token()), &to_tagged, &target) + "Content-Length: 0\r\n\r\n"), plan.hotline).await;
                }
            }
        }
    }
    if let Some(m) = media {
        m.cancel();
    }
    if !hung_up_by_hotline {
        send_text(
            &sock,
            &(head(
                "BYE",
                2,
                &format!("z9hG4bK{}", random_token()),
                &to_tagged,
                &target,
            ) + "Content-Length: 0\r\n\r\n"),
            plan.hotline,
        )
        .await;
        let _ = recv_response(&sock, "BYE", Duration::from_secs(5)).await;
    }
    Ok(Ending::Answered { wait })
}

/// Sends 20 ms of PCMA every 20 ms from `sock` to `peer` until cancelled.
fn spawn_rtp(sock: Arc<UdpSocket>, peer: SocketAddr) -> CancellationToken {
    let stop = CancellationToken::new();
    let done = stop.clone();
    tokio::spawn(async move {
        let mut stream =
            crate::media::rtp::OutStream::new(rand::random(), rand::random(), rand::random());
        // A quiet 400 Hz tone, so a recording shows who spoke.
        let payload: Vec<u8> = (0..160)
            .map(|i| {
                let s = (2_000.0 * (2.0 * std::f64::consts::PI * 400.0 * i as f64 / 8000.0).sin())
                    as i16;
                crate::media::codec::Codec::Pcma.encode_sample(s)
            })
            .collect();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut out = Vec::with_capacity(200);
        loop {
            tokio::select! {
                _ = done.cancelled() => return,
                _ = tick.tick() => {
                    out.clear();
                    stream.generated(std::time::Instant::now(), 8, &payload, &mut out);
                    let _ = sock.send_to(&out, peer).await;
                }
            }
        }
    });
    stop
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// A response to `req`, with our To tag (if `tag` is not empty and the To
/// has none) and a Contact.
fn response(
    req: &Message,
    code: u16,
    reason: &str,
    tag: &str,
    contact: Option<SocketAddr>,
) -> Message {
    let tag = (!tag.is_empty()).then_some(tag);
    let mut resp = Message::response_to(req, code, tag).with_reason(reason);
    if let Some(c) = contact {
        resp.headers.insert(Name::CONTACT, format!("<sip:sim@{c}>"));
    }
    resp
}

async fn send(sock: &UdpSocket, msg: &Message, to: SocketAddr) {
    let _ = sock.send_to(&msg.to_bytes(), to).await;
}

async fn send_text(sock: &UdpSocket, text: &str, to: SocketAddr) {
    let _ = sock.send_to(text.as_bytes(), to).await;
}

/// The next final response to a `method` request within `within`.
async fn recv_response(sock: &UdpSocket, method: &str, within: Duration) -> Option<Message> {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, _) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        let Ok(msg) = Message::parse(Bytes::copy_from_slice(&buf[..n])) else {
            continue;
        };
        if msg.code().is_some_and(|c| c >= 200)
            && msg.cseq().is_some_and(|c| c.method.to_string() == method)
        {
            return Some(msg);
        }
    }
}

/// `Authorization` for a 401's challenge (MD5 preferred, as most phones).
fn answer_challenge(
    resp: &Message,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
) -> Option<String> {
    let challenges: Vec<String> = resp
        .headers
        .get_raw(&Name::WWW_AUTHENTICATE)
        .map(|v| v.to_string())
        .collect();
    let pick = challenges
        .iter()
        .find(|c| param(c, "algorithm").is_none_or(|a| a.eq_ignore_ascii_case("MD5")))
        .or(challenges.first())?;
    let algorithm = param(pick, "algorithm")
        .and_then(|a| Algorithm::from_token(&a))
        .unwrap_or(Algorithm::Md5);
    let (realm, nonce) = (param(pick, "realm")?, param(pick, "nonce")?);
    let cnonce = random_token();
    let qop = param(pick, "qop")
        .filter(|q| q.split(',').any(|q| q.trim() == "auth"))
        .map(|_| QopAuth {
            nc: 1,
            cnonce: &cnonce,
        });
    let input = DigestInput {
        algorithm,
        username: user,
        realm: &realm,
        nonce: &nonce,
        method,
        uri,
        qop,
    };
    Some(authorization_value(
        &input,
        password,
        param(pick, "opaque").as_deref(),
    ))
}

/// A parameter of a `Digest ...` challenge, unquoted.
fn param(value: &str, name: &str) -> Option<String> {
    let rest = value.trim().strip_prefix("Digest").unwrap_or(value);
    let mut parts = Vec::new();
    let (mut cur, mut quoted) = (String::new(), false);
    for ch in rest.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    parts.push(cur);
    parts.iter().find_map(|p| {
        let (n, v) = p.split_once('=')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// The Contact URI of a message.
fn contact_of(msg: &Message) -> Option<String> {
    let raw = msg.raw(&Name::CONTACT)?.to_string();
    let inner = raw
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(u, _)| u.to_string());
    Some(inner.unwrap_or(raw))
}

/// Where a message's SDP takes RTP.
fn remote_rtp(msg: &Message) -> Option<SocketAddr> {
    let text = std::str::from_utf8(&msg.body).ok()?;
    let media = crate::media::sdp::parse(text).ok()?;
    Some(media.addr)
}

fn sdp_offer(local: SocketAddr, rtp_port: u16) -> String {
    let ip = local.ip();
    format!(
        "v=0\r\no=sim {s} 1 IN IP4 {ip}\r\ns=hotline-simulate\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
m=audio {rtp_port} RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
        s = rand::random::<u32>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parameters_are_read_with_commas_inside_quotes() {
        let c = r#"Digest realm="hotline.demo", nonce="abc,def", algorithm=MD5, qop="auth,auth-int", opaque="x""#;
        assert_eq!(param(c, "realm").as_deref(), Some("hotline.demo"));
        assert_eq!(param(c, "nonce").as_deref(), Some("abc,def"));
        assert_eq!(param(c, "qop").as_deref(), Some("auth,auth-int"));
        assert_eq!(param(c, "algorithm").as_deref(), Some("MD5"));
        assert_eq!(param(c, "stale"), None);
    }
}
