//! Is the trunk there? One SIP OPTIONS over UDP from the trunk side's
//! address, retransmitted as RFC 3261 timer E does (500 ms, doubling),
//! until an answer or the time limit. Any final answer means the peer is
//! up; its code, reason, `Server` and `Date` go into the report.

use crate::sip::message::Message;
use ezk_sip_types::Name;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// A peer's answer to OPTIONS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsAnswer {
    pub code: u16,
    pub reason: String,
    /// From sending the first OPTIONS to the answer.
    pub rtt: Duration,
    /// Its `Server` or `User-Agent` header.
    pub server: Option<String>,
    /// Its `Date` header, as Unix milliseconds (clock check).
    pub date_ms: Option<i64>,
}

/// Sends OPTIONS to `target` from an ephemeral UDP port on `from_ip`
/// (the trunk listener's address: the one the carrier knows), writing
/// `advertise` into Via and From when `from_ip` is a wildcard. Returns
/// the source address used, and the answer or why there is none.
pub async fn probe(
    target: SocketAddr,
    from_ip: IpAddr,
    advertise: Option<IpAddr>,
    user_agent: &str,
    timeout: Duration,
) -> (Option<SocketAddr>, Result<OptionsAnswer, String>) {
    let socket = match UdpSocket::bind(SocketAddr::new(from_ip, 0)).await {
        Ok(s) => s,
        Err(e) => {
            return (
                None,
                Err(format!("cannot bind a UDP port on {from_ip}: {e}")),
            );
        }
    };
    if let Err(e) = socket.connect(target).await {
        return (None, Err(format!("cannot send to {target}: {e}")));
    }
    let Ok(local) = socket.local_addr() else {
        return (None, Err("no local address".into()));
    };
    let host = match (local.ip().is_unspecified(), advertise) {
        (true, Some(a)) => a,
        _ => local.ip(),
    };
    let call_id = format!("doctor-{:016x}@{}", rand::random::<u64>(), host_text(host));
    let request = options_request(
        target,
        SocketAddr::new(host, local.port()),
        &call_id,
        user_agent,
    );
    let start = Instant::now();
    let deadline = start + timeout;
    let mut resend = start;
    let mut interval = Duration::from_millis(500);
    let mut buf = vec![0u8; 65_535];
    let mut refused = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            let secs = timeout.as_secs_f64();
            let why = if refused {
                format!("no answer within {secs} s; nothing listens there (ICMP port unreachable)")
            } else {
                format!("no answer within {secs} s")
            };
            return (Some(local), Err(why));
        }
        if now >= resend {
            if let Err(e) = socket.send(request.as_bytes()).await {
                return (Some(local), Err(format!("cannot send to {target}: {e}")));
            }
            resend = now + interval;
            interval = (interval * 2).min(Duration::from_secs(4));
        }
        let wait = resend.min(deadline) - now;
        let n = match tokio::time::timeout(wait, socket.recv(&mut buf)).await {
            Err(_) => continue,
            // ICMP port unreachable comes back as a refused receive:
            // keep trying until the deadline, as the peer may start.
            Ok(Err(e)) => {
                refused |= e.kind() == std::io::ErrorKind::ConnectionRefused;
                tokio::time::sleep(wait).await;
                continue;
            }
            Ok(Ok(n)) => n,
        };
        if let Some(answer) = read_answer(&buf[..n], &call_id, start.elapsed()) {
            return (Some(local), Ok(answer));
        }
    }
}

/// The OPTIONS request, from `local` (as written in Via and From).
fn options_request(target: SocketAddr, local: SocketAddr, call_id: &str, ua: &str) -> String {
    let branch = format!("z9hG4bK-doctor-{:016x}", rand::random::<u64>());
    let tag = format!("{:08x}", rand::random::<u32>());
    let host = host_text(local.ip());
    format!(
        "OPTIONS sip:{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {host}:{port};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:doctor@{host}>;tag={tag}\r\n\
         To: <sip:{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Accept: application/sdp\r\n\
         User-Agent: {ua}\r\n\
         Content-Length: 0\r\n\r\n",
        port = local.port()
    )
}

/// A final response to our OPTIONS in `data`, if it is one.
fn read_answer(data: &[u8], call_id: &str, rtt: Duration) -> Option<OptionsAnswer> {
    let msg = Message::parse(bytes::Bytes::copy_from_slice(data)).ok()?;
    let code = msg.code().filter(|c| *c >= 200)?;
    if msg.call_id().as_deref() != Some(call_id) {
        return None;
    }
    let header = |name: &Name| msg.raw(name).map(|v| v.to_string());
    Some(OptionsAnswer {
        code,
        reason: msg.reason().unwrap_or_default(),
        rtt,
        server: header(&Name::SERVER).or_else(|| header(&Name::USER_AGENT)),
        date_ms: header(&Name::DATE).and_then(|d| http_date_ms(&d)),
    })
}

/// An IP as a SIP host: IPv6 in brackets.
fn host_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// `Tue, 25 Nov 2026 05:33:17 GMT` (RFC 1123, the SIP `Date`) as Unix ms.
pub(super) fn http_date_ms(s: &str) -> Option<i64> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let t = time::PrimitiveDateTime::parse(s.trim(), &format).ok()?;
    Some((t.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_answer_to_our_call_id_is_read_and_others_are_not() {
        let answer = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1\r\n\
            From: <sip:doctor@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1:5090>;tag=2\r\n\
            Call-ID: abc@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nServer: carrier-sbc\r\n\
            Date: Tue, 25 Nov 2025 05:33:17 GMT\r\nContent-Length: 0\r\n\r\n";
        let got = read_answer(answer.as_bytes(), "abc@127.0.0.1", Duration::from_millis(7))
            .expect("an answer");
        assert_eq!((got.code, got.reason.as_str()), (200, "OK"));
        assert_eq!(got.server.as_deref(), Some("carrier-sbc"));
        assert_eq!(got.date_ms, Some(1_764_048_797_000));
        assert_eq!(
            read_answer(answer.as_bytes(), "other", Duration::ZERO),
            None
        );
        let trying = answer.replace("200 OK", "100 Trying");
        assert_eq!(
            read_answer(trying.as_bytes(), "abc@127.0.0.1", Duration::ZERO),
            None
        );
    }

    #[test]
    fn the_request_parses_as_sip() {
        let text = options_request(
            "192.0.2.1:5060".parse().unwrap(),
            "[2001:db8::1]:40000".parse().unwrap(),
            "x@y",
            "hotline doctor",
        );
        let msg = Message::parse(bytes::Bytes::from(text)).expect("valid SIP");
        assert!(msg.is_request() && msg.branch().is_some());
        assert_eq!(msg.call_id().as_deref(), Some("x@y"));
        assert_eq!(msg.check(), Ok(()));
    }
}
