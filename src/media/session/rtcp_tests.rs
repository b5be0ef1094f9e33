//! RTCP through a call's session in simulated time: where each leg's
//! reports go (RTP port + 1, `a=rtcp:`, the latched source), what they
//! say, what the peer's reports leave in the leg's statistics, and the
//! BYE at the end.

use super::*;
use crate::media::rtcp::cname;
use bytes::Bytes;
use rtc_rtcp::goodbye::Goodbye;
use rtc_rtcp::packet::Packet;
use rtc_rtcp::receiver_report::ReceiverReport;
use rtc_rtcp::reception_report::ReceptionReport;
use rtc_rtcp::sender_report::SenderReport;
use rtc_rtcp::source_description::SourceDescription;
use shared::marshal::Marshal;

const MS: Duration = Duration::from_millis(1);
const WALL: Duration = Duration::from_secs(1_700_000_000);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn leg(remote: &str, rtcp: Option<&str>) -> LegConfig {
    LegConfig {
        codec: Codec::Pcma,
        pt: 8,
        telephone_event: None,
        remote: addr(remote),
        rtcp: rtcp.map(addr),
        send: true,
    }
}

fn session(t0: Instant) -> Session {
    Session::new(t0, SystemTime::UNIX_EPOCH + WALL)
}

fn run_until(s: &mut Session, until: Instant, outs: &mut Vec<Output>) {
    while let Some(t) = s.poll_timeout().filter(|t| *t <= until) {
        s.handle_timeout(t);
        outs.extend(std::iter::from_fn(|| s.poll_output()));
    }
    outs.extend(std::iter::from_fn(|| s.poll_output()));
}

/// The RTCP a leg sent, parsed: (where to, packets).
fn rtcp(outs: &[Output], of: Leg) -> Vec<(SocketAddr, Vec<Box<dyn Packet>>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::TransmitRtcp { leg, to, data } if *leg == of => {
                let mut buf = &data[..];
                Some((
                    *to,
                    rtc_rtcp::packet::unmarshal(&mut buf).expect("hotline's RTCP parses"),
                ))
            }
            _ => None,
        })
        .collect()
}

fn first<T: 'static + Clone>(packets: &[Box<dyn Packet>]) -> Option<T> {
    packets
        .iter()
        .find_map(|p| p.as_any().downcast_ref::<T>().cloned())
}

/// A peer's RR about hotline's stream `ssrc`.
fn rr(from_ssrc: u32, block: ReceptionReport) -> Vec<u8> {
    ReceiverReport {
        ssrc: from_ssrc,
        reports: vec![block],
        profile_extensions: Bytes::new(),
    }
    .marshal()
    .unwrap()
    .to_vec()
}

#[test]
fn a_leg_reports_what_it_sent_and_heard_to_the_rtp_port_plus_one() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.set_leg(t0, Leg::Caller, leg("10.0.0.1:4000", None), 7);
    s.play(t0, vec![], Some(Clip::new("music", vec![300; 160])));
    // The phone talks from its SDP address, 20 ms packets; one (k = 50) is lost.
    let mut phone = OutStream::new(0x1234, 100, 0);
    let mut outs = Vec::new();
    let mut pkt = Vec::new();
    let mut highest_before_report = None;
    for k in 0..400u32 {
        let at = t0 + k * 20 * MS;
        run_until(&mut s, at, &mut outs);
        if highest_before_report.is_none() && !rtcp(&outs, Leg::Caller).is_empty() {
            highest_before_report = Some(100 + k - 1);
        }
        phone.generated(at, 8, &[0xD5; 160], &mut pkt);
        if k != 50 {
            s.handle_packet(at, Leg::Caller, addr("10.0.0.1:4000"), &pkt);
        }
    }
    let reports = rtcp(&outs, Leg::Caller);
    assert!(
        reports.len() >= 2,
        "at least two reports in 8 s: {}",
        reports.len()
    );
    assert!(
        reports.iter().all(|(to, _)| *to == addr("10.0.0.1:4001")),
        "to the RTP port + 1"
    );

    // The first: an SR counting exactly the RTP packets sent before it.
    let at = outs
        .iter()
        .position(|o| matches!(o, Output::TransmitRtcp { .. }))
        .unwrap();
    let rtp_before = outs[..at]
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Transmit {
                    leg: Leg::Caller,
                    ..
                }
            )
        })
        .count() as u32;
    let sr: SenderReport = first(&reports[0].1).expect("hotline sent music: an SR");
    assert_eq!(
        (sr.ssrc, sr.packet_count, sr.octet_count),
        (7, rtp_before, rtp_before * 160)
    );
    let secs = (sr.ntp_time >> 32) - 2_208_988_800 - WALL.as_secs();
    assert!(
        (1..=4).contains(&secs),
        "NTP time from the wall-clock base: {secs} s in"
    );
    let block = &sr.reports[0];
    assert_eq!(
        (
            block.ssrc,
            block.total_lost,
            Some(block.last_sequence_number)
        ),
        (0x1234, 1, highest_before_report),
        "the phone's stream, one packet lost"
    );
    assert!(block.fraction_lost > 0 && block.jitter == 0, "{block:?}");
    let sdes: SourceDescription = first(&reports[0].1).unwrap();
    assert_eq!(
        (sdes.chunks[0].source, &sdes.chunks[0].items[0].text[..]),
        (7, cname(7).as_bytes())
    );
    // The next interval lost nothing.
    let next: SenderReport = first(&reports[1].1).unwrap();
    assert_eq!(
        (next.reports[0].total_lost, next.reports[0].fraction_lost),
        (1, 0)
    );
    assert!(next.packet_count > sr.packet_count);
    assert_eq!(
        s.stats(Leg::Caller).unwrap().rtcp.sent,
        reports.len() as u64
    );
}

#[test]
fn the_peers_reports_give_its_view_and_the_rtt_and_move_the_reports_to_their_source() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.set_leg(t0, Leg::Caller, leg("10.0.0.1:4000", None), 7);
    s.play(t0, vec![], Some(Clip::new("music", vec![300; 160])));
    let mut outs = Vec::new();
    run_until(&mut s, t0 + 4000 * MS, &mut outs);
    let (_, first_report) = rtcp(&outs, Leg::Caller).remove(0);
    let sr: SenderReport = first(&first_report).unwrap();
    // When the SR left, from its NTP timestamp.
    let sr_left = {
        let since_1970 = Duration::new(
            (sr.ntp_time >> 32) - 2_208_988_800,
            (((sr.ntp_time & 0xFFFF_FFFF) * 1_000_000_000) >> 32) as u32,
        );
        t0 + (since_1970 - WALL)
    };
    // The phone (behind NAT: its RTCP comes from 7079) got the SR 20 ms
    // after it left, held it 100 ms, and its RR arrives 20 ms later.
    let lsr = (sr.ntp_time >> 16) as u32;
    let block = ReceptionReport {
        ssrc: 7,
        fraction_lost: 64,
        total_lost: 5,
        last_sequence_number: 1000,
        jitter: 160,
        last_sender_report: lsr,
        delay: 100 * 65536 / 1000,
    };
    let nat = addr("192.0.2.9:7079");
    s.handle_rtcp(
        sr_left + 140 * MS,
        Leg::Caller,
        nat,
        &rr(0x1234, block.clone()),
    );
    let st = s.stats(Leg::Caller).unwrap().rtcp;
    assert_eq!(
        (
            st.received,
            st.remote_lost,
            st.remote_fraction_lost,
            st.remote_jitter_ms
        ),
        (1, Some(5), Some(0.25), Some(20.0))
    );
    let rtt = st.rtt_ms.unwrap();
    assert!(
        (rtt - 40.0).abs() < 0.1,
        "140 ms minus the phone's 100: {rtt} ms"
    );

    // A stray's RTCP, and garbage from the phone, change nothing.
    let later = sr_left + 200 * MS;
    s.handle_rtcp(
        later,
        Leg::Caller,
        addr("203.0.113.5:9"),
        &rr(
            0x9999,
            ReceptionReport {
                total_lost: 77,
                ..block.clone()
            },
        ),
    );
    s.handle_rtcp(later, Leg::Caller, nat, b"\x80\xc9\x00\x07 not quite RTCP");
    assert_eq!(s.stats(Leg::Caller).unwrap().rtcp, st);

    // hotline's next reports go where the phone's came from, and their
    // LSR/DLSR would answer an SR of the phone's.
    let mut outs = Vec::new();
    run_until(&mut s, later + 8000 * MS, &mut outs);
    let reports = rtcp(&outs, Leg::Caller);
    assert!(
        !reports.is_empty() && reports.iter().all(|(to, _)| *to == nat),
        "{:?}",
        reports.iter().map(|r| r.0).collect::<Vec<_>>()
    );

    // Silent for long enough, the phone's RTCP source may change.
    let quiet = later + RTCP_RELATCH_AFTER + 8000 * MS;
    s.handle_rtcp(
        quiet,
        Leg::Caller,
        addr("203.0.113.5:9"),
        &rr(
            0x9999,
            ReceptionReport {
                total_lost: 77,
                ..block
            },
        ),
    );
    assert_eq!(s.stats(Leg::Caller).unwrap().rtcp.remote_lost, Some(77));
    // The end: a BYE there.
    s.close(quiet + MS);
    let outs: Vec<Output> = std::iter::from_fn(|| s.poll_output()).collect();
    let (to, packets) = rtcp(&outs, Leg::Caller).pop().unwrap();
    assert_eq!(to, addr("203.0.113.5:9"));
    assert_eq!(first::<Goodbye>(&packets).unwrap().sources, [7]);
}

#[test]
fn a_silent_leg_sends_rr_to_its_a_rtcp_address_and_a_held_leg_with_no_address_sends_nothing() {
    let t0 = Instant::now();
    let mut s = session(t0);
    // The caller holds the RFC 2543 way: no address, so no RTCP.
    let mut held = leg("0.0.0.0:4000", None);
    held.send = false;
    s.set_leg(t0, Leg::Caller, held, 7);
    // The seat's SDP names its RTCP port; hotline sends it nothing yet.
    s.set_leg(
        t0,
        Leg::Agent,
        leg("10.0.0.2:6000", Some("10.0.0.2:7000")),
        8,
    );
    let mut outs = Vec::new();
    run_until(&mut s, t0 + 20_000 * MS, &mut outs);
    assert!(rtcp(&outs, Leg::Caller).is_empty());
    assert!(
        s.poll_timeout().unwrap() > t0 + 20_000 * MS,
        "the caller's reports are skipped, not spinning"
    );
    let agent = rtcp(&outs, Leg::Agent);
    assert!(agent.len() >= 3, "{}", agent.len());
    assert!(agent.iter().all(|(to, p)| *to == addr("10.0.0.2:7000")
        && first::<ReceiverReport>(p).is_some_and(|r| r.ssrc == 8 && r.reports.is_empty())));
    // A transfer: the seat leg's new phone gets the reports at its own port + 1.
    s.set_leg(t0 + 20_000 * MS, Leg::Agent, leg("10.0.0.3:6100", None), 8);
    s.remove_leg(t0 + 20_001 * MS, Leg::Agent);
    let outs: Vec<Output> = std::iter::from_fn(|| s.poll_output()).collect();
    let (to, packets) = rtcp(&outs, Leg::Agent)
        .pop()
        .expect("a BYE when the leg goes");
    assert_eq!(
        (to, first::<Goodbye>(&packets).unwrap().sources),
        (addr("10.0.0.3:6101"), vec![8])
    );
    // The call record still gets the leg's statistics, the BYE counted.
    assert_eq!(
        s.stats(Leg::Agent).unwrap().rtcp.sent,
        agent.len() as u64 + 1
    );
}
