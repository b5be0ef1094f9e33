//! SIP as text, the way the simulated peers see it: reading what the
//! engine sent ([`SipExt`]) and printing requests, responses and SDP.

use crate::sip::Message;
use std::net::SocketAddr;

/// Reading messages the way a test wants to: by status, method, header.
pub trait SipExt {
    fn text(&self) -> String;
    /// The status code; panics on a request.
    fn status(&self) -> u16;
    fn is_method(&self, method: &str) -> bool;
    /// All values of a header (case-insensitive name), in order.
    fn hdrs(&self, name: &str) -> Vec<String>;
    fn hdr(&self, name: &str) -> Option<String> {
        self.hdrs(name).into_iter().next()
    }
    /// The CSeq method.
    fn cseq_method(&self) -> String {
        self.hdr("CSeq")
            .and_then(|c| c.split_whitespace().nth(1).map(str::to_string))
            .unwrap_or_default()
    }
    fn to_tag(&self) -> Option<String> {
        self.hdr("To").and_then(|t| tag_of(&t))
    }
    fn body_text(&self) -> String;
    /// The Request-URI as printed on the request line.
    fn target(&self) -> String;
}

impl SipExt for Message {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.to_bytes()).into_owned()
    }
    fn status(&self) -> u16 {
        self.code()
            .unwrap_or_else(|| panic!("expected a response, got:\n{}", self.text()))
    }
    fn is_method(&self, method: &str) -> bool {
        self.method().is_some_and(|m| m.to_string() == method)
    }
    fn hdrs(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.as_print_str().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
    fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn target(&self) -> String {
        use ezk_sip_types::print::AppendCtx;
        self.request_uri()
            .map(|u| u.default_print_ctx().to_string())
            .unwrap_or_default()
    }
}

/// The `tag` parameter of a From/To value.
pub fn tag_of(value: &str) -> Option<String> {
    let params = value.rsplit_once('>').map(|(_, p)| p).unwrap_or(value);
    params
        .split(';')
        .find_map(|p| p.trim().strip_prefix("tag=").map(str::to_string))
}

/// The URI inside `<...>` of a name-addr (a Contact), or the value itself.
pub fn uri_of(value: &str) -> String {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => value[a + 1..b].to_string(),
        _ => value.split(';').next().unwrap_or(value).trim().to_string(),
    }
}

/// A request as a peer's stack would print it. `headers` are written in
/// order after Via and Max-Forwards; a non-empty body is SDP.
pub fn request(
    method: &str,
    uri: &str,
    via: SocketAddr,
    branch: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let mut s = format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch={branch};rport\r\nMax-Forwards: 70\r\n"
    );
    for (name, value) in headers {
        s.push_str(&format!("{name}: {value}\r\n"));
    }
    with_body(s, body)
}

/// A response to `req`: Via, From, To (with `to_tag` added when it has
/// none), Call-ID and CSeq copied, then `headers`.
pub fn response(
    req: &Message,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let mut s = format!("SIP/2.0 {code} {reason}\r\n");
    for via in req.hdrs("Via") {
        s.push_str(&format!("Via: {via}\r\n"));
    }
    let to = req.hdr("To").unwrap_or_default();
    let to = match to_tag {
        Some(tag) if tag_of(&to).is_none() => format!("{to};tag={tag}"),
        _ => to,
    };
    for (name, value) in [("From", req.hdr("From").unwrap_or_default()), ("To", to)] {
        s.push_str(&format!("{name}: {value}\r\n"));
    }
    for name in ["Call-ID", "CSeq"] {
        s.push_str(&format!(
            "{name}: {}\r\n",
            req.hdr(name).unwrap_or_default()
        ));
    }
    for (name, value) in headers {
        s.push_str(&format!("{name}: {value}\r\n"));
    }
    with_body(s, body)
}

fn with_body(mut head: String, body: &str) -> String {
    if !body.is_empty() {
        head.push_str("Content-Type: application/sdp\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    head
}

/// An SDP offer or answer from `ip:port` with a direction attribute.
pub fn sdp(ip: &str, port: u16, direction: &str) -> String {
    format!(
        "v=0\r\no=- {port} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
m=audio {port} RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na={direction}\r\n"
    )
}
