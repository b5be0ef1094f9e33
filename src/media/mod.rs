//! Media: what flows once a call is up. The media layer owns SDP
//! negotiation on both legs, the codecs, and later RTP relaying through
//! hotline's port range, prompts and recording.
//!
//! ```text
//!   trunk SDP --parse--> RemoteMedia --negotiate--> Negotiated --build_answer--> SDP to trunk
//!                                                      |
//!   hotline's offer to the seat <--build_offer--------+   (same or other G.711 law:
//!                                                          codec transcodes between them)
//! ```
//!
//! Files: `codec.rs` (G.711 μ-law/A-law: samples, payloads, transcoding),
//! `sdp.rs` (RFC 3264 offer/answer for audio over rtc-sdp), `record.rs`
//! (aligning caller and agent audio into one stereo timeline), `wav.rs`
//! (crash-safe recording files and their start-up repair), `rtp.rs`
//! (hotline's outgoing RTP stream per leg, received-stream statistics),
//! `rtcp.rs` (each leg's RTCP: reports sent, the peer's reports and RTT),
//! `player.rs` (prompts and music to a waiting caller), `session.rs` (one
//! call's media: latching, playing, bridging, transcoding, DTMF, the
//! recorder feed), `ports.rs` (the RTP port range), `driver.rs` (the
//! engine-facing API and the pool of RTP worker threads), `worker.rs` (one
//! worker: many calls' sockets in one epoll, their sessions' deadlines in
//! one heap), `writer.rs` (the threads writing every call's recording).

pub mod codec;
pub mod driver;
pub mod player;
pub mod ports;
pub mod record;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod session;
pub mod wav;
mod worker;
pub mod writer;
