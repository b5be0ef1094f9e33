//! RTCP between hotline and real peers: hotline reports on each leg from
//! its RTP port + 1 and uses what the peer reports.
//!
//! 1. A test-owned phone (RTP and RTCP sockets, packets built and parsed
//!    by hand here, not with hotline's code) waits in the queue: hotline's
//!    SRs count the prompts it sent and carry a report block on the
//!    phone's stream; the phone's SR and RR come back as the caller leg's
//!    remote loss, jitter and RTT on the call record, and hotline's next
//!    report answers the phone's SR (LSR/DLSR). The call ends with a BYE.
//! 2. A baresip seat (it speaks RTCP on its own): the agent leg's record
//!    carries baresip's reports and an RTT.

mod common;

use common::baresip::Baresip;
use common::rtp::*;
use common::*;
use hotline::media::codec::Codec;
use serde_json::Value;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TRUNK_IP: &str = "127.0.0.2";
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

fn ntp(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap();
    ((d.as_secs() + NTP_UNIX_OFFSET) << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

fn ntp_to_system(ntp: u64) -> SystemTime {
    UNIX_EPOCH
        + Duration::from_secs((ntp >> 32) - NTP_UNIX_OFFSET)
        + Duration::from_nanos(((ntp & 0xFFFF_FFFF) * 1_000_000_000) >> 32)
}

// ---- RTCP by hand (RFC 3550 section 6) --------------------------------------

/// A reception report block.
#[derive(Debug, Clone, PartialEq)]
struct Block {
    ssrc: u32,
    fraction: u8,
    lost: i32,
    ext_seq: u32,
    jitter: u32,
    lsr: u32,
    dlsr: u32,
}

impl Block {
    fn parse(b: &[u8]) -> Block {
        let word = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap());
        let lost = word(4) & 0x00FF_FFFF;
        Block {
            ssrc: word(0),
            fraction: b[4],
            lost: if lost & 0x80_0000 != 0 {
                lost as i32 - 0x100_0000
            } else {
                lost as i32
            },
            ext_seq: word(8),
            jitter: word(12),
            lsr: word(16),
            dlsr: word(20),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend(self.ssrc.to_be_bytes());
        out.extend(
            ((u32::from(self.fraction) << 24) | (self.lost as u32 & 0x00FF_FFFF)).to_be_bytes(),
        );
        for w in [self.ext_seq, self.jitter, self.lsr, self.dlsr] {
            out.extend(w.to_be_bytes());
        }
    }
}

/// One packet of a compound.
#[derive(Debug, Clone, PartialEq)]
enum Rtcp {
    Sr {
        ssrc: u32,
        ntp: u64,
        rtp_ts: u32,
        packets: u32,
        octets: u32,
        blocks: Vec<Block>,
    },
    Rr {
        ssrc: u32,
        blocks: Vec<Block>,
    },
    /// The first chunk's SSRC and CNAME.
    Sdes {
        ssrc: u32,
        cname: Option<String>,
    },
    Bye {
        sources: Vec<u32>,
    },
    Other(u8),
}

/// A compound RTCP packet, or `None` if it is not one.
fn parse_compound(data: &[u8]) -> Option<Vec<Rtcp>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let h = data.get(at..at + 4)?;
        if h[0] >> 6 != 2 {
            return None;
        }
        let count = usize::from(h[0] & 0x1f);
        let len = 4 + 4 * usize::from(u16::from_be_bytes([h[2], h[3]]));
        let p = data.get(at..at + len)?;
        let word = |i: usize| {
            p.get(i..i + 4)
                .map(|w| u32::from_be_bytes(w.try_into().unwrap()))
        };
        let blocks = |from: usize| {
            (0..count)
                .map(|i| p.get(from + 24 * i..from + 24 * (i + 1)).map(Block::parse))
                .collect::<Option<Vec<_>>>()
        };
        out.push(match h[1] {
            200 => Rtcp::Sr {
                ssrc: word(4)?,
                ntp: (u64::from(word(8)?) << 32) | u64::from(word(12)?),
                rtp_ts: word(16)?,
                packets: word(20)?,
                octets: word(24)?,
                blocks: blocks(28)?,
            },
            201 => Rtcp::Rr {
                ssrc: word(4)?,
                blocks: blocks(8)?,
            },
            202 => {
                let ssrc = word(4)?;
                let mut i = 8;
                let mut cname = None;
                while let Some(&kind) = p.get(i) {
                    if kind == 0 {
                        break;
                    }
                    let n = usize::from(*p.get(i + 1)?);
                    let text = p.get(i + 2..i + 2 + n)?;
                    if kind == 1 {
                        cname = Some(String::from_utf8_lossy(text).into_owned());
                    }
                    i += 2 + n;
                }
                Rtcp::Sdes { ssrc, cname }
            }
            203 => Rtcp::Bye {
                sources: (0..count).map(|i| word(4 + 4 * i)).collect::<Option<_>>()?,
            },
            other => Rtcp::Other(other),
        });
        at += len;
    }
    Some(out)
}

/// The phone's compound: an SR (it sends audio) with one block, and its CNAME.
fn phone_sr(ssrc: u32, ntp: u64, packets: u32, block: &Block) -> Vec<u8> {
    let mut out = vec![0x81, 200, 0, 12];
    out.extend(ssrc.to_be_bytes());
    out.extend(ntp.to_be_bytes());
    out.extend(0u32.to_be_bytes());
    out.extend(packets.to_be_bytes());
    out.extend((packets * 160).to_be_bytes());
    block.write(&mut out);
    // SDES: one chunk, CNAME "phone@test" (10 octets): 4 + 2 + 10 + 1 + 3 nulls = 20.
    out.extend([0x81, 202, 0, 5]);
    out.extend(ssrc.to_be_bytes());
    out.extend([1, 10]);
    out.extend(b"phone@test");
    out.extend([0, 0, 0, 0]);
    out
}

/// A datagram received: when (monotonic and wall clock), from where, what.
type Datagram = (Instant, SystemTime, SocketAddr, Vec<u8>);

/// A UDP socket capturing every datagram with its arrival times.
struct Capture {
    sock: UdpSocket,
    got: Arc<Mutex<Vec<Datagram>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Capture {
    fn new(sock: UdpSocket) -> Capture {
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (sock, got, stop) = (sock.try_clone().unwrap(), got.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = sock.recv_from(&mut buf) {
                        got.lock().unwrap().push((
                            Instant::now(),
                            SystemTime::now(),
                            from,
                            buf[..n].to_vec(),
                        ));
                    }
                }
            })
        };
        Capture {
            sock,
            got,
            stop,
            thread: Some(thread),
        }
    }

    fn reports(&self) -> Vec<(Instant, SystemTime, SocketAddr, Vec<Rtcp>)> {
        let got = self.got.lock().unwrap();
        got.iter()
            .map(|(at, wall, from, data)| {
                (
                    *at,
                    *wall,
                    *from,
                    parse_compound(data).unwrap_or_else(|| panic!("not RTCP: {data:02x?}")),
                )
            })
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A test phone's RTP endpoint on `ip` with an RTCP socket at its port + 1.
fn phone(ip: &str, ssrc: u32) -> (Endpoint, Capture) {
    loop {
        let rtp = Endpoint::bind(ip, Codec::Pcma, ssrc);
        if let Ok(rtcp) = UdpSocket::bind((ip, rtp.port() + 1)) {
            return (rtp, Capture::new(rtcp));
        }
    }
}

fn finished_call(h: &Hotline) -> Value {
    h.wait_for(
        "the call record with media statistics",
        Duration::from_secs(15),
        |h| {
            h.calls(1)
                .first()
                .is_some_and(|c| !c["outcome"].is_null() && !c["media_stats"].is_null())
        },
    );
    h.calls(1).remove(0)
}

// ---- 1. a test-owned phone ---------------------------------------------------

#[test]
fn hotline_reports_on_the_callers_leg_and_keeps_what_the_caller_reports() {
    // No seat: the caller waits 14 s hearing the prompts, then cancels.
    // hotline's reports come 1.25-3.75 s after the leg starts, then every
    // 2.5-7.5 s: within 11.25 s, the one answering the phone's SR.
    let h = Hotline::start(|c| c);
    const SSRC: u32 = 0x7E57_0001;
    let (mut caller, rtcp) = phone(TRUNK_IP, SSRC);
    let sipp = trunk(
        &h,
        "trunk_wait_cancel_rtp.xml",
        "12345",
        1,
        &format!("-key rtp_port {} -key pt 8 -key codec PCMA", caller.port()),
    )
    .var("WAIT_MS", "14000");
    let mut child = sipp.spawn();
    let first_seq = (SSRC >> 8) as u16;
    let mut clock = Ticker::new();
    let mut our_sr: Option<(u64, Instant)> = None;
    let deadline = Instant::now() + Duration::from_secs(25);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "SIPp did not end");
        clock.wait();
        caller.send_frame(&[0; FRAME]);
        // Once hotline has reported, the phone sends its SR with a block on
        // hotline's stream: 7 lost, jitter 80 units (10 ms), LSR/DLSR.
        if our_sr.is_none()
            && let Some((at, _, from, packets)) = rtcp
                .reports()
                .into_iter()
                .find(|r| matches!(r.3[0], Rtcp::Sr { .. }))
        {
            let Rtcp::Sr {
                ssrc,
                ntp: their_ntp,
                ..
            } = packets[0]
            else {
                unreachable!()
            };
            let dlsr = (at.elapsed().as_micros() as u64 * 65536 / 1_000_000) as u32;
            let block = Block {
                ssrc,
                fraction: 0,
                lost: 7,
                ext_seq: 1,
                jitter: 80,
                lsr: (their_ntp >> 16) as u32,
                dlsr,
            };
            let now = ntp(SystemTime::now());
            rtcp.sock
                .send_to(&phone_sr(SSRC, now, caller.sent as u32, &block), from)
                .unwrap();
            our_sr = Some((now, Instant::now()));
        }
    }
    let out = child.wait_with_output().unwrap();
    sipp.check(&out, true);
    let call = finished_call(&h);
    assert_eq!(call["outcome"], "abandoned", "{call}");

    // What hotline sent: compounds from its RTP port + 1, SR first (it
    // played prompts), with its CNAME; a BYE last.
    let rtp = caller.captured();
    let hotline_rtp = rtp[0].from;
    let hotline_ssrc = rtp[0].rtp.ssrc;
    let reports = rtcp.reports();
    eprintln!("hotline's RTCP: {reports:#?}");
    assert!(
        reports.len() >= 3,
        "two reports or more and a BYE in 14 s: {}",
        reports.len()
    );
    for (at, wall, from, packets) in &reports {
        assert_eq!(
            *from,
            SocketAddr::new(hotline_rtp.ip(), hotline_rtp.port() + 1),
            "from hotline's RTP port + 1"
        );
        let Rtcp::Sr {
            ssrc,
            ntp,
            rtp_ts,
            packets: count,
            octets,
            ..
        } = &packets[0]
        else {
            panic!("an SR first: {packets:?}")
        };
        assert_eq!(*ssrc, hotline_ssrc, "the SSRC of hotline's RTP");
        assert_eq!(*octets, count * 160, "20 ms G.711 payloads");
        let skew = match ntp_to_system(*ntp).duration_since(*wall) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        assert!(
            skew < Duration::from_secs(2),
            "NTP time is the wall clock: {skew:?} off"
        );
        // The SR's counts are those of the RTP the phone got about then.
        let got_before = rtp.iter().filter(|c| c.at <= *at).count() as u32;
        assert!(
            count.abs_diff(got_before) <= 50,
            "SR counts {count} packets, the phone had {got_before} by then"
        );
        let near = rtp
            .iter()
            .rev()
            .find(|c| c.rtp.ts.wrapping_sub(*rtp_ts) as i32 <= 0)
            .expect("RTP before the SR");
        assert!(
            rtp_ts.wrapping_sub(near.rtp.ts) < 8000,
            "RTP time {rtp_ts} within a second of the last packet's {}",
            near.rtp.ts
        );
        assert!(
            matches!(&packets[1], Rtcp::Sdes { ssrc, cname: Some(c) } if *ssrc == hotline_ssrc && !c.is_empty()),
            "{packets:?}"
        );
    }
    let last = &reports.last().unwrap().3;
    assert_eq!(
        last.last(),
        Some(&Rtcp::Bye {
            sources: vec![hotline_ssrc]
        }),
        "the call ended: a BYE"
    );

    // Report blocks on the phone's stream: nothing lost, sequence numbers it sent.
    let blocks: Vec<Block> = reports
        .iter()
        .flat_map(|r| match &r.3[0] {
            Rtcp::Sr { blocks, .. } => blocks.clone(),
            _ => vec![],
        })
        .collect();
    assert!(!blocks.is_empty(), "hotline reports on what it receives");
    let last_seq = u32::from(first_seq) + caller.sent as u32 - 1;
    for b in &blocks {
        assert_eq!((b.ssrc, b.lost, b.fraction), (SSRC, 0, 0), "{b:?}");
        assert!(
            b.ext_seq >= u32::from(first_seq) && b.ext_seq <= last_seq,
            "{b:?} not in {first_seq}..={last_seq}"
        );
    }
    // hotline's report after the phone's SR answers it: LSR is that SR's
    // middle 32 bits, DLSR the time hotline held it.
    let (sr_ntp, sr_sent) = our_sr.expect("hotline reported in time for the phone to answer");
    let answer = blocks
        .iter()
        .find(|b| b.lsr != 0)
        .expect("a report after the phone's SR");
    assert_eq!(answer.lsr, (sr_ntp >> 16) as u32);
    let held = Duration::from_micros(u64::from(answer.dlsr) * 1_000_000 / 65536);
    assert!(
        held <= sr_sent.elapsed() && held < Duration::from_millis(7600),
        "DLSR {held:?}"
    );

    // The caller leg's record: the phone's view of hotline's stream, RTT.
    let stats = &call["media_stats"]["caller"];
    eprintln!("caller leg: {stats}");
    assert_eq!(
        (
            stats["remote_lost"].as_i64(),
            stats["remote_jitter_ms"].as_f64(),
            stats["remote_fraction_lost"].as_f64()
        ),
        (Some(7), Some(10.0), Some(0.0)),
        "{stats}"
    );
    assert_eq!(stats["rtcp_received"].as_u64(), Some(1), "{stats}");
    assert_eq!(
        stats["rtcp_sent"].as_u64(),
        Some(reports.len() as u64),
        "{stats}"
    );
    let rtt = stats["rtt_ms"]
        .as_f64()
        .expect("an RTT from the phone's LSR/DLSR");
    assert!((0.0..500.0).contains(&rtt), "loopback round trip: {rtt} ms");
}

// ---- 2. a baresip seat -------------------------------------------------------

#[test]
fn a_baresip_seats_rtcp_reports_reach_the_agent_legs_record() {
    let h = Hotline::start(|c| c);
    let mic = h.dir.path().join("agent-mic.wav");
    // baresip hangs up when its microphone file ends: three times a 7 s prompt.
    write_mono_wav(&mic, &prompt("en/welcome").repeat(3));
    let seat = Baresip::start(&h, "8006", "127.0.0.16", &mic);
    // 14 s of talk: hotline's first SR on the agent leg within 3.75 s of
    // the answer, baresip's report answering it some seconds later.
    trunk(&h, "trunk_call_audio.xml", "12345", 1, "-d 14000").run_ok();
    let call = finished_call(&h);
    assert_eq!(
        (call["outcome"].as_str(), call["seat"].as_str()),
        (Some("answered"), Some("8006")),
        "{call}"
    );
    let agent = &call["media_stats"]["agent"];
    eprintln!("agent leg: {agent}\ncall: {call}");
    assert!(
        agent["rtcp_sent"].as_u64().unwrap() >= 2,
        "hotline reported to the seat: {agent}"
    );
    assert!(
        agent["rtcp_received"].as_u64().unwrap() >= 1,
        "baresip's RTCP reached hotline: {agent}"
    );
    assert_eq!(
        agent["remote_lost"].as_i64(),
        Some(0),
        "baresip lost nothing on loopback: {agent}"
    );
    assert!(
        agent["remote_jitter_ms"]
            .as_f64()
            .is_some_and(|j| (0.0..50.0).contains(&j)),
        "{agent}"
    );
    let rtt = agent["rtt_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("an RTT from baresip's LSR/DLSR: {agent}"));
    assert!((0.0..500.0).contains(&rtt), "loopback round trip: {rtt} ms");
    // The caller's trunk (SIPp) speaks no RTCP: hotline still reports to it.
    let caller = &call["media_stats"]["caller"];
    assert!(
        caller["rtcp_sent"].as_u64().unwrap() >= 2
            && caller["rtcp_received"] == 0
            && caller["rtt_ms"].is_null(),
        "{caller}"
    );
    drop(seat);
}
