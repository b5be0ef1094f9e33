//! SIP messages: parsing a datagram or framed stream chunk into a
//! [`Message`], checking what hotline relies on, building responses and
//! printing messages back to bytes.
//!
//! Header parsing is `ezk-sip-types` (nom-based, zero-copy over `Bytes`);
//! this file only assembles the start line, headers and body, and adds
//! the checks RFC 3261 §8.2 asks of a UAS before it trusts a request.

use bytes::{BufMut, Bytes, BytesMut};
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{CSeq, CallID, ContentLength, FromTo, Via};
use ezk_sip_types::msg::{Line, MessageLine, PullParser, RequestLine, StatusLine};
use ezk_sip_types::parse::Parse;
use ezk_sip_types::print::AppendCtx;
use ezk_sip_types::uri::SipUri;
use ezk_sip_types::{Headers, Method, Name, StatusCode};
use std::fmt::Write as _;

/// What went wrong reading bytes as a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a SIP message at all (binary noise, no start line, cut off).
    /// Nothing can be answered: the bytes are dropped.
    #[error("unparseable: {0}")]
    Unparseable(&'static str),
    /// The start line or a header is malformed. When the transaction
    /// headers could be read, the request is answered with 400.
    #[error("malformed: {0}")]
    Malformed(String),
}

/// A parsed SIP request or response.
#[derive(Debug, Clone)]
pub struct Message {
    pub line: MessageLine,
    pub headers: Headers,
    pub body: Bytes,
}

impl Message {
    /// Parses one complete message (a UDP datagram or a framed TCP chunk).
    ///
    /// On UDP a missing Content-Length means "the rest of the datagram";
    /// a Content-Length larger than what arrived is malformed.
    pub fn parse(bytes: Bytes) -> Result<Message, ParseError> {
        let mut parser = PullParser::new(&bytes, 0);
        let mut line = None;
        let mut headers = Headers::new();
        for item in &mut parser {
            let raw = item.map_err(|_| ParseError::Unparseable("message head is incomplete"))?;
            let text = std::str::from_utf8(raw)
                .map_err(|_| ParseError::Unparseable("head is not UTF-8"))?;
            if line.is_none() {
                let (_, l) = MessageLine::parse(&bytes)(text)
                    .map_err(|_| ParseError::Unparseable("no valid request or status line"))?;
                line = Some(l);
            } else {
                let (_, h) = Line::parse(&bytes, text).map_err(|_| {
                    ParseError::Malformed(format!("bad header line {:?}", truncate(text)))
                })?;
                headers.insert(h.name, h.value);
            }
        }
        let line = line.ok_or(ParseError::Unparseable("empty message"))?;
        let head_end = parser.head_end();
        let rest = bytes.len().saturating_sub(head_end);
        let body = match headers.try_get_named::<ContentLength>() {
            None => bytes.slice(head_end..),
            Some(Err(_)) => return Err(ParseError::Malformed("bad Content-Length".into())),
            Some(Ok(ContentLength(len))) if len > rest => {
                return Err(ParseError::Malformed(format!(
                    "Content-Length {len} but {rest} body bytes"
                )));
            }
            Some(Ok(ContentLength(len))) => bytes.slice(head_end..head_end + len),
        };
        Ok(Message {
            line,
            headers,
            body,
        })
    }

    /// Checks the headers every transaction needs: exactly-parseable Via,
    /// From, To, Call-ID and CSeq, and (for requests) a CSeq method equal
    /// to the request method. A request failing this gets a 400.
    pub fn check(&self) -> Result<(), String> {
        self.top_via().ok_or("missing or malformed Via")?;
        self.from().ok_or("missing or malformed From")?;
        self.to().ok_or("missing or malformed To")?;
        self.call_id().ok_or("missing Call-ID")?;
        let cseq = self.cseq().ok_or("missing or malformed CSeq")?;
        if let MessageLine::Request(r) = &self.line
            && r.method != cseq.method
        {
            return Err(format!(
                "CSeq method {} does not match {}",
                cseq.method, r.method
            ));
        }
        Ok(())
    }

    pub fn request(method: Method, uri: SipUri) -> Message {
        Message {
            line: MessageLine::Request(RequestLine { method, uri }),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// A response to `req` as RFC 3261 §8.2.6 builds it: Via, From, To,
    /// Call-ID and CSeq copied; `to_tag` added to To when it has none.
    pub fn response_to(req: &Message, code: u16, to_tag: Option<&str>) -> Message {
        let mut headers = Headers::new();
        for name in [Name::VIA, Name::FROM, Name::TO, Name::CALL_ID, Name::CSEQ] {
            for value in req.headers.get_raw(&name) {
                let value = match (&name, to_tag) {
                    (n, Some(tag))
                        if *n == Name::TO && req.to().is_some_and(|t| t.tag.is_none()) =>
                    {
                        BytesStr::from(format!("{value};tag={tag}"))
                    }
                    _ => value.clone(),
                };
                headers.insert(name.clone(), value);
            }
        }
        let code = StatusCode::from(code);
        Message {
            line: MessageLine::Response(StatusLine {
                code,
                reason: code.text().map(BytesStr::from_static),
            }),
            headers,
            body: Bytes::new(),
        }
    }

    pub fn with_reason(mut self, reason: &str) -> Message {
        if let MessageLine::Response(s) = &mut self.line {
            s.reason = Some(BytesStr::from(reason.to_string()));
        }
        self
    }

    pub fn with_body(mut self, content_type: &str, body: Bytes) -> Message {
        self.headers.remove(&Name::CONTENT_TYPE);
        if !body.is_empty() {
            self.headers
                .insert(Name::CONTENT_TYPE, content_type.to_string());
        }
        self.body = body;
        self
    }

    pub fn method(&self) -> Option<&Method> {
        self.line.request_method()
    }

    pub fn is_request(&self) -> bool {
        self.line.is_request()
    }

    /// The status code of a response.
    pub fn code(&self) -> Option<u16> {
        match &self.line {
            MessageLine::Response(s) => Some(s.code.into_u16()),
            MessageLine::Request(_) => None,
        }
    }

    /// The reason phrase of a response.
    pub fn reason(&self) -> Option<String> {
        match &self.line {
            MessageLine::Response(s) => s.reason.as_ref().map(|r| r.to_string()),
            MessageLine::Request(_) => None,
        }
    }

    pub fn request_uri(&self) -> Option<&SipUri> {
        match &self.line {
            MessageLine::Request(r) => Some(&r.uri),
            MessageLine::Response(_) => None,
        }
    }

    pub fn top_via(&self) -> Option<Via> {
        self.headers.get_named::<Via>().ok()
    }

    pub fn branch(&self) -> Option<BytesStr> {
        self.top_via()?.params.get_val("branch").cloned()
    }

    pub fn from(&self) -> Option<FromTo> {
        self.headers.get(Name::FROM).ok()
    }

    pub fn to(&self) -> Option<FromTo> {
        self.headers.get(Name::TO).ok()
    }

    pub fn call_id(&self) -> Option<BytesStr> {
        self.headers.get_named::<CallID>().ok().map(|c| c.0)
    }

    pub fn cseq(&self) -> Option<CSeq> {
        self.headers.get_named::<CSeq>().ok()
    }

    /// First raw value of a header, for headers hotline only copies.
    pub fn raw(&self, name: &Name) -> Option<&BytesStr> {
        self.headers.get_raw(name).next()
    }

    /// Prints the message; Content-Length is always written, from the body.
    pub fn to_bytes(&self) -> Bytes {
        let mut head = String::with_capacity(512 + self.body.len());
        match &self.line {
            MessageLine::Request(r) => {
                let _ = write!(
                    head,
                    "{} {} SIP/2.0\r\n",
                    r.method,
                    r.uri.default_print_ctx()
                );
            }
            MessageLine::Response(s) => {
                let reason = s.reason.as_ref().map(|r| r.as_str()).unwrap_or("");
                let _ = write!(head, "SIP/2.0 {} {}\r\n", s.code.into_u16(), reason);
            }
        }
        for (name, value) in self.headers.iter() {
            if *name != Name::CONTENT_LENGTH {
                let _ = write!(head, "{}: {}\r\n", name.as_print_str(), value);
            }
        }
        let _ = write!(head, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = BytesMut::with_capacity(head.len() + self.body.len());
        out.put_slice(head.as_bytes());
        out.put_slice(&self.body);
        out.freeze()
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Finds the end of the first complete message in a TCP stream buffer
/// (RFC 3261 §18.3: Content-Length is mandatory on streams). Returns
/// `Ok(None)` while more bytes are needed; leading CRLF keep-alives are
/// reported as their length so the caller can skip them.
pub fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, ParseError> {
    let ws = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if ws > 0 {
        return Ok(Some(ws));
    }
    let Some(head) = find(buf, b"\r\n\r\n") else {
        if buf.len() > max {
            return Err(ParseError::Unparseable(
                "message head larger than the limit",
            ));
        }
        return Ok(None);
    };
    let head_len = head + 4;
    let text = String::from_utf8_lossy(&buf[..head]);
    let len = text
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| {
            n.trim().eq_ignore_ascii_case("content-length") || n.trim().eq_ignore_ascii_case("l")
        })
        .map(|(_, v)| v.trim().parse::<usize>())
        .ok_or(ParseError::Unparseable("no Content-Length on a stream"))?
        .map_err(|_| ParseError::Unparseable("bad Content-Length on a stream"))?;
    if head_len + len > max {
        return Err(ParseError::Unparseable("message larger than the limit"));
    }
    Ok((buf.len() >= head_len + len).then_some(head_len + len))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:12345@127.0.0.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-1-0\r\n\
From: <sip:13800000000@127.0.0.2>;tag=abc\r\n\
To: <sip:12345@127.0.0.1>\r\n\
Call-ID: 1-trunk@127.0.0.2\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:13800000000@127.0.0.2:5070>\r\n\
Max-Forwards: 70\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn parses_a_request_and_its_transaction_headers() {
        let m = Message::parse(Bytes::from_static(INVITE.as_bytes())).unwrap();
        m.check().unwrap();
        assert_eq!(m.method(), Some(&Method::INVITE));
        assert_eq!(m.branch().unwrap(), "z9hG4bK-1-0");
        assert_eq!(m.from().unwrap().tag.unwrap(), "abc");
        assert_eq!(m.cseq().unwrap().cseq, 1);
        assert_eq!(&m.body[..], b"v=0\n");
        let uri = m.request_uri().unwrap();
        assert_eq!(crate::sip::uri_user(uri).as_deref(), Some("12345"));
    }

    #[test]
    fn response_copies_headers_and_adds_the_to_tag() {
        let m = Message::parse(Bytes::from_static(INVITE.as_bytes())).unwrap();
        let r = Message::response_to(&m, 180, Some("xyz"));
        let text = String::from_utf8(r.to_bytes().to_vec()).unwrap();
        assert!(text.starts_with("SIP/2.0 180 Ringing\r\n"), "{text}");
        assert!(
            text.contains("To: <sip:12345@127.0.0.1>;tag=xyz\r\n"),
            "{text}"
        );
        assert!(text.contains("Content-Length: 0\r\n\r\n"));
        let back = Message::parse(r.to_bytes()).unwrap();
        assert_eq!(back.code(), Some(180));
        assert_eq!(back.to().unwrap().tag.unwrap(), "xyz");
    }

    #[test]
    fn short_body_is_malformed_and_garbage_unparseable() {
        let short = INVITE.replace("Content-Length: 4", "Content-Length: 40");
        assert!(matches!(
            Message::parse(Bytes::from(short)),
            Err(ParseError::Malformed(_))
        ));
        assert!(matches!(
            Message::parse(Bytes::from_static(b"\x00\x01hello")),
            Err(ParseError::Unparseable(_))
        ));
    }

    #[test]
    fn cseq_method_mismatch_fails_the_check() {
        let bad = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
        let m = Message::parse(Bytes::from(bad)).unwrap();
        assert!(m.check().unwrap_err().contains("CSeq"));
    }

    #[test]
    fn stream_framing_uses_content_length() {
        let two = format!("\r\n\r\n{INVITE}{INVITE}");
        let b = two.as_bytes();
        assert_eq!(frame_len(b, 65536).unwrap(), Some(4));
        let first = frame_len(&b[4..], 65536).unwrap().unwrap();
        assert_eq!(first, INVITE.len());
        assert_eq!(frame_len(&b[4..4 + first - 1], 65536).unwrap(), None);
        assert!(frame_len(b"OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r\n", 65536).is_err());
    }
}
