//! SDP offer/answer for hotline's audio legs (RFC 3264 over RFC 4566).
//!
//! hotline anchors media: the SDP it sends on either leg names its own
//! address and a port from its RTP range, so RTP flows through it. This
//! module reads a peer's SDP into [`RemoteMedia`] (where to send RTP, the
//! payload types listed and which are G.711, the RFC 4733 telephone-event
//! type, packet time, direction), picks the codec of an answer with
//! [`negotiate`], and prints hotline's own SDP with [`build_offer`] and
//! [`build_answer`]. rtc-sdp reads and prints the text; the offer/answer
//! rules live here.
//!
//! ```text
//!   offer from trunk --parse--> RemoteMedia --negotiate(supported)--> Negotiated
//!                                                                      | build_answer
//!   (hotline's offer to the seat: build_offer)                         v
//!                                                           answer to trunk
//! ```
//!
//! Only the first `m=audio` line over plain `RTP/AVP` is used. An answer
//! declines every other `m=` line with port 0, keeping the offer's count
//! and order (RFC 3264 §6). Hold comes in two styles, `a=sendonly` or
//! `a=inactive` (RFC 3264 §8.4) and the older `c=IN IP4 0.0.0.0`
//! (RFC 2543): see [`RemoteMedia::is_hold`].

use super::codec::Codec;
use rtc_sdp::SessionDescription;
use rtc_sdp::description::common::{Address, ConnectionInformation};
use rtc_sdp::description::media::{MediaDescription, MediaName, RangedPort};
use rtc_sdp::description::session::{Origin, TimeDescription, Timing};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Packet time when the SDP does not say (RFC 3551 §4.5: 20 ms for G.711).
pub const DEFAULT_PTIME: u32 = 20;
/// The payload type hotline offers telephone-event under.
pub const DEFAULT_TELEPHONE_EVENT_PT: u8 = 101;
/// The RFC 4733 events hotline takes: digits, `*`, `#`, A-D and flash.
pub const TELEPHONE_EVENTS: &str = "0-16";
/// The only RTP profile hotline speaks.
const PROFILE: &str = "RTP/AVP";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// rtc-sdp could not read the body: lines out of order, a malformed
    /// `v=`, `o=`, `c=`, `t=` or `m=` line, or no SDP at all.
    #[error("unparseable SDP: {0}")]
    Syntax(String),
    /// There is no `m=audio` line.
    #[error("no audio stream (m=audio) in the SDP")]
    NoAudio,
    /// Audio comes only over a profile hotline does not speak (SRTP, AVPF).
    #[error("audio is offered over {0}, hotline speaks plain RTP/AVP")]
    Transport(String),
    /// Neither the audio section nor the session has a `c=` address.
    #[error("no connection address (c=) for the audio stream")]
    NoConnection,
    /// The `c=` address is a host name or not of its `IP4`/`IP6` type.
    #[error("connection address {0:?} is not an IP literal of its address type")]
    Address(String),
    /// The audio stream has port 0: the peer disabled or refused it.
    #[error("the audio stream is disabled (port 0)")]
    Disabled,
    /// None of the payload types the peer lists is a codec hotline takes.
    #[error(
        "no common audio codec: the peer lists payload types {offered:?}, hotline takes {supported}"
    )]
    NoCommonCodec { offered: Vec<u8>, supported: String },
}

/// Which way media flows, from the SDP's author's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The attribute name (`a=sendrecv`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attribute(key: &str) -> Option<Direction> {
        use rtc_sdp::direction::Direction as D;
        match D::new(key) {
            D::SendRecv => Some(Direction::SendRecv),
            D::SendOnly => Some(Direction::SendOnly),
            D::RecvOnly => Some(Direction::RecvOnly),
            D::Inactive => Some(Direction::Inactive),
            D::Unspecified => None,
        }
    }
}

/// The direction that answers an offered one (RFC 3264 §6.1): the
/// answerer receives what the offerer sends, and the other way round.
pub fn answer_direction(offered: Direction) -> Direction {
    match offered {
        Direction::SendRecv => Direction::SendRecv,
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        Direction::Inactive => Direction::Inactive,
    }
}

/// A payload type of the audio `m=` line, and the G.711 law it carries
/// (`None` for G.722, G.729, telephone-event and anything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub pt: u8,
    pub codec: Option<Codec>,
}

/// An `m=` line other than the audio stream hotline uses, kept so the
/// answer can decline it in place (`m=video 0 RTP/AVP 96`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclinedStream {
    /// Position among the SDP's `m=` lines.
    pub index: usize,
    pub media: String,
    pub proto: String,
    /// The first format of the line, which the answer echoes.
    pub format: String,
}

/// What a peer's SDP says about its audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// `o=` session id and version: an unchanged version means an
    /// unchanged SDP (RFC 3264 §8).
    pub session_id: u64,
    pub session_version: u64,
    /// Where to send RTP: the media-level `c=` (else session-level) and
    /// the `m=` port. `0.0.0.0:0` when the stream is disabled without `c=`.
    pub addr: SocketAddr,
    /// Every payload type of the `m=` line, in the peer's order of preference.
    pub formats: Vec<Format>,
    /// The payload type of `telephone-event/8000`, if listed.
    pub telephone_event: Option<u8>,
    /// Where to send RTCP if the SDP says (RFC 3605 `a=rtcp:`, at media
    /// level); `None` means the RTP port + 1.
    pub rtcp: Option<SocketAddr>,
    /// `a=ptime` in milliseconds, [`DEFAULT_PTIME`] when absent.
    pub ptime: u32,
    /// `a=sendrecv`... at media level, else session level, else sendrecv;
    /// inactive when the port is 0.
    pub direction: Direction,
    /// The `c=` address is 0.0.0.0 (or `::`): RFC 2543 hold.
    pub null_address: bool,
    /// Position of the audio line among the `m=` lines.
    pub audio_index: usize,
    pub declined: Vec<DeclinedStream>,
}

impl RemoteMedia {
    /// The G.711 payload types, in the peer's order.
    pub fn codecs(&self) -> impl Iterator<Item = (u8, Codec)> + '_ {
        self.formats.iter().filter_map(|f| Some((f.pt, f.codec?)))
    }

    /// The peer puts the call on hold: it will not receive (sendonly,
    /// inactive, a disabled stream) or named the null address.
    pub fn is_hold(&self) -> bool {
        matches!(self.direction, Direction::SendOnly | Direction::Inactive) || self.null_address
    }

    /// The audio stream has port 0.
    pub fn is_disabled(&self) -> bool {
        self.addr.port() == 0
    }
}

/// The outcome of offer/answer for one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// The payload type the offer gave the codec (the answer must reuse it).
    pub pt: u8,
    pub telephone_event: Option<u8>,
    pub ptime: u32,
    /// Where the peer takes RTP.
    pub remote: SocketAddr,
    /// The offer's `m=` layout, for the answer to mirror.
    pub audio_index: usize,
    pub declined: Vec<DeclinedStream>,
}

/// Reads a peer's SDP (offer or answer). Never panics, whatever the text.
pub fn parse(text: &str) -> Result<RemoteMedia, SdpError> {
    let desc = SessionDescription::unmarshal(&mut std::io::Cursor::new(text.as_bytes()))
        .map_err(|e| SdpError::Syntax(e.to_string()))?;
    let audio: Vec<(usize, &MediaDescription)> = desc
        .media_descriptions
        .iter()
        .enumerate()
        .filter(|(_, m)| m.media_name.media == "audio")
        .collect();
    let Some(&(audio_index, md)) = audio.iter().find(|(_, m)| proto(m) == PROFILE) else {
        return Err(audio
            .first()
            .map_or(SdpError::NoAudio, |(_, m)| SdpError::Transport(proto(m))));
    };
    let port =
        u16::try_from(md.media_name.port.value).map_err(|_| SdpError::Syntax("m= port".into()))?;

    let connection = md
        .connection_information
        .as_ref()
        .or(desc.connection_information.as_ref());
    let ip = match connection.and_then(|c| c.address.as_ref().map(|a| (c, a))) {
        Some((c, a)) => connection_ip(&c.address_type, &a.address)?,
        None if port == 0 => Ipv4Addr::UNSPECIFIED.into(),
        None => return Err(SdpError::NoConnection),
    };

    let rtpmaps = md.codecs();
    let formats: Vec<Format> = md
        .media_name
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok().filter(|pt| *pt < 128))
        .map(|pt| {
            let codec = match rtpmaps.get(&pt).filter(|c| !c.name.is_empty()) {
                Some(c)
                    if c.clock_rate == 8000
                        && matches!(c.encoding_parameters.as_str(), "" | "1") =>
                {
                    Codec::from_name(&c.name)
                }
                Some(_) => None,
                None => Codec::from_static_payload_type(pt),
            };
            Format { pt, codec }
        })
        .collect();
    let telephone_event = formats.iter().map(|f| f.pt).find(|pt| {
        rtpmaps
            .get(pt)
            .is_some_and(|c| c.name.eq_ignore_ascii_case("telephone-event") && c.clock_rate == 8000)
    });

    let ptime = md
        .attribute("ptime")
        .flatten()
        .or(desc.attribute("ptime").map(String::as_str))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_PTIME);
    let rtcp = md
        .attribute("rtcp")
        .flatten()
        .and_then(|v| rtcp_attribute(v, ip));
    let direction = if port == 0 {
        Direction::Inactive
    } else {
        md.attributes
            .iter()
            .chain(&desc.attributes)
            .find_map(|a| Direction::from_attribute(&a.key))
            .unwrap_or_default()
    };

    let declined = desc
        .media_descriptions
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != audio_index)
        .map(|(index, m)| DeclinedStream {
            index,
            media: m.media_name.media.clone(),
            proto: proto(m),
            format: m.media_name.formats.first().cloned().unwrap_or_default(),
        })
        .collect();

    Ok(RemoteMedia {
        session_id: desc.origin.session_id,
        session_version: desc.origin.session_version,
        addr: SocketAddr::new(ip, port),
        formats,
        telephone_event,
        rtcp,
        ptime,
        direction,
        null_address: ip.is_unspecified(),
        audio_index,
        declined,
    })
}

fn proto(md: &MediaDescription) -> String {
    md.media_name.protos.join("/")
}

/// RFC 3605 `a=rtcp:<port> [IN IP4 <address>]`; the address defaults to
/// the stream's. Unreadable values are ignored (port + 1 applies).
fn rtcp_attribute(value: &str, ip: IpAddr) -> Option<SocketAddr> {
    let mut words = value.split_whitespace();
    let port = words.next()?.parse::<u16>().ok().filter(|p| *p != 0)?;
    let ip = match (words.next(), words.next(), words.next()) {
        (Some("IN"), Some(kind), Some(addr)) => connection_ip(kind, addr).ok()?,
        (None, ..) => ip,
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The IP of a `c=` line, without a multicast `/ttl` suffix.
fn connection_ip(address_type: &str, address: &str) -> Result<IpAddr, SdpError> {
    let literal = address.split('/').next().unwrap_or_default();
    match literal.parse::<IpAddr>() {
        Ok(ip) if ip.is_ipv4() == (address_type == "IP4") => Ok(ip),
        _ => Err(SdpError::Address(address.into())),
    }
}

/// Picks the codec of an answer: the first payload type in the offer's
/// order that `supported` contains (the answerer honours the offerer's
/// preference, RFC 3264 §6.1), under the offer's payload type number,
/// with the offer's telephone-event type and packet time. Also reads an
/// answer to hotline's own offer: its first codec is the one to send.
pub fn negotiate(offer: &RemoteMedia, supported: &[Codec]) -> Result<Negotiated, SdpError> {
    if offer.is_disabled() {
        return Err(SdpError::Disabled);
    }
    let Some((pt, codec)) = offer.codecs().find(|(_, c)| supported.contains(c)) else {
        return Err(SdpError::NoCommonCodec {
            offered: offer.formats.iter().map(|f| f.pt).collect(),
            supported: supported
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    Ok(Negotiated {
        codec,
        pt,
        telephone_event: offer.telephone_event,
        ptime: offer.ptime,
        remote: offer.addr,
        audio_index: offer.audio_index,
        declined: offer.declined.clone(),
    })
}

/// hotline's offer: `codecs` in order of preference under their static
/// payload types, then telephone-event under `te_pt`. `session_id` stays
/// fixed for the dialog and `version` grows with every new offer; keep
/// both below 2^63 for peers that read them as signed.
pub fn build_offer(
    local: SocketAddr,
    codecs: &[Codec],
    te_pt: u8,
    ptime: u32,
    direction: Direction,
    session_id: u64,
    version: u64,
) -> String {
    let formats: Vec<(u8, Codec)> = codecs.iter().map(|c| (c.payload_type(), *c)).collect();
    let audio = audio_section(local.port(), &formats, Some(te_pt), ptime, direction);
    session(local.ip(), session_id, version, vec![audio])
}

/// hotline's answer to a negotiated offer: the one chosen codec under the
/// offer's payload type, telephone-event if offered, the offer's packet
/// time, and every other `m=` line of the offer declined in place.
pub fn build_answer(
    local: SocketAddr,
    negotiated: &Negotiated,
    direction: Direction,
    session_id: u64,
    version: u64,
) -> String {
    let n = negotiated;
    let mut media: Vec<MediaDescription> = n.declined.iter().map(declined_section).collect();
    let audio = audio_section(
        local.port(),
        &[(n.pt, n.codec)],
        n.telephone_event,
        n.ptime,
        direction,
    );
    media.insert(n.audio_index.min(media.len()), audio);
    session(local.ip(), session_id, version, media)
}

fn audio_section(
    port: u16,
    formats: &[(u8, Codec)],
    te: Option<u8>,
    ptime: u32,
    dir: Direction,
) -> MediaDescription {
    let mut md = MediaDescription {
        media_name: MediaName {
            media: "audio".into(),
            port: RangedPort {
                value: port as isize,
                range: None,
            },
            protos: PROFILE.split('/').map(String::from).collect(),
            formats: Vec::new(),
        },
        ..Default::default()
    };
    for &(pt, codec) in formats {
        md = md.with_codec(
            pt,
            codec.name().into(),
            codec.clock_rate(),
            0,
            String::new(),
        );
    }
    if let Some(te) = te {
        md = md.with_codec(
            te,
            "telephone-event".into(),
            8000,
            0,
            TELEPHONE_EVENTS.into(),
        );
    }
    md.with_value_attribute("ptime".into(), ptime.to_string())
        .with_property_attribute(dir.as_str().into())
}

fn declined_section(stream: &DeclinedStream) -> MediaDescription {
    MediaDescription {
        media_name: MediaName {
            media: stream.media.clone(),
            port: RangedPort {
                value: 0,
                range: None,
            },
            protos: stream.proto.split('/').map(String::from).collect(),
            formats: vec![stream.format.clone()],
        },
        ..Default::default()
    }
}

fn session(ip: IpAddr, session_id: u64, version: u64, media: Vec<MediaDescription>) -> String {
    let address_type = if ip.is_ipv4() { "IP4" } else { "IP6" };
    SessionDescription {
        version: 0,
        origin: Origin {
            username: "hotline".into(),
            session_id,
            session_version: version,
            network_type: "IN".into(),
            address_type: address_type.into(),
            unicast_address: ip.to_string(),
        },
        session_name: "hotline".into(),
        connection_information: Some(ConnectionInformation {
            network_type: "IN".into(),
            address_type: address_type.into(),
            address: Some(Address {
                address: ip.to_string(),
                ttl: None,
                range: None,
            }),
        }),
        time_descriptions: vec![TimeDescription {
            timing: Timing {
                start_time: 0,
                stop_time: 0,
            },
            repeat_times: Vec::new(),
        }],
        media_descriptions: media,
        ..Default::default()
    }
    .marshal()
}

#[cfg(test)]
mod tests;
