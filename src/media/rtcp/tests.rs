//! RTCP in simulated time: two endpoints exchanging reports over a link
//! with a fixed delay, the RTT they compute, the intervals, SR versus RR,
//! and input that is not RTCP.

use super::*;
use rtc_rtcp::source_description::SdesType;

const MS: Duration = Duration::from_millis(1);

fn wall(t0: Instant, unix_secs: u64) -> WallClock {
    WallClock {
        at: t0,
        wall: UNIX_EPOCH + Duration::from_secs(unix_secs),
    }
}

fn parse(data: &[u8]) -> Vec<Box<dyn Packet>> {
    let mut buf = data;
    rtc_rtcp::packet::unmarshal(&mut buf).expect("hotline's RTCP parses")
}

fn first<T: 'static + Clone>(packets: &[Box<dyn Packet>]) -> Option<T> {
    packets
        .iter()
        .find_map(|p| p.as_any().downcast_ref::<T>().cloned())
}

fn cname_of(packets: &[Box<dyn Packet>]) -> Option<String> {
    let sdes: SourceDescription = first(packets)?;
    let item = sdes
        .chunks
        .first()?
        .items
        .iter()
        .find(|i| i.sdes_type == SdesType::SdesCname)?;
    Some(String::from_utf8_lossy(&item.text).into_owned())
}

/// Steps `a` to its next report and returns it with the time it left.
fn next_report(r: &mut Rtcp, sent: &Sent, source: Option<&RxSource>) -> (Instant, Vec<u8>) {
    let at = r.poll_timeout();
    assert!(
        r.poll_report(at - MS, sent, source).is_none(),
        "nothing before its time"
    );
    (
        at,
        r.poll_report(at, sent, source).expect("a report when due"),
    )
}

#[test]
fn two_endpoints_exchange_reports_and_compute_the_round_trip_time() {
    let t0 = Instant::now();
    // hotline (a) and a phone (b) whose wall clock is an hour off: the
    // RTT does not depend on the clocks agreeing.
    let mut a = Rtcp::new(t0, 0xAAAA_0001, 8000, wall(t0, 1_700_000_000), 1);
    let mut b = Rtcp::new(t0, 0xBBBB_0002, 8000, wall(t0, 1_700_003_600), 2);
    let one_way = 30 * MS;

    // a has sent 150 packets of 160 octets; b has heard 97 of the first 100
    // of them (3 lost on the way), with 80 timestamp units of jitter (10 ms).
    let a_sent = Sent {
        packets: 150,
        octets: 150 * 160,
        rtp_time: Some(24_000),
    };
    let b_hears_a = RxSource {
        ssrc: 0xAAAA_0001,
        ext_highest_seq: 70_099,
        expected: 100,
        received: 97,
        jitter: 80,
    };
    let a_hears_b = RxSource {
        ssrc: 0xBBBB_0002,
        ext_highest_seq: 5_049,
        expected: 50,
        received: 50,
        jitter: 16,
    };

    let (sr_at, sr) = next_report(&mut a, &a_sent, Some(&a_hears_b));
    let packets = parse(&sr);
    let s: SenderReport = first(&packets).expect("a sender's report is an SR");
    assert_eq!(
        (s.ssrc, s.packet_count, s.octet_count, s.rtp_time),
        (0xAAAA_0001, 150, 24_000, 24_000)
    );
    assert_eq!(s.ntp_time, wall(t0, 1_700_000_000).ntp(sr_at));
    assert_eq!(
        s.ntp_time >> 32,
        1_700_000_000 + NTP_UNIX_OFFSET + (sr_at - t0).as_secs(),
        "NTP seconds since 1900"
    );
    assert_eq!(s.reports.len(), 1);
    let block = &s.reports[0];
    assert_eq!(
        (
            block.ssrc,
            block.last_sequence_number,
            block.total_lost,
            block.fraction_lost
        ),
        (0xBBBB_0002, 5_049, 0, 0)
    );
    assert_eq!(
        (block.jitter, block.last_sender_report, block.delay),
        (16, 0, 0),
        "no SR from b yet: no LSR"
    );
    assert_eq!(cname_of(&packets), Some(cname(0xAAAA_0001)));

    // b gets the SR and, 1.5 s later, reports (it has sent nothing: an RR).
    assert!(b.handle(sr_at + one_way, &sr));
    let rr_at = sr_at + one_way + 1500 * MS;
    let rr = b
        .compound(rr_at, &Sent::default(), Some(&b_hears_a), false)
        .unwrap();
    let packets = parse(&rr);
    let r: ReceiverReport = first(&packets).expect("a silent phone sends an RR");
    let block = &r.reports[0];
    assert_eq!(
        (r.ssrc, block.ssrc, block.total_lost, block.fraction_lost),
        (0xBBBB_0002, 0xAAAA_0001, 3, 7),
        "3 of 100: 7/256"
    );
    assert_eq!(
        block.last_sender_report,
        middle(s.ntp_time),
        "LSR: the middle of a's SR timestamp"
    );
    assert_eq!(block.delay, 1500 * 65536 / 1000, "DLSR: 1.5 s in 1/65536 s");

    // a gets the RR: what b says about a's stream, and the round trip.
    assert!(a.handle(rr_at + one_way, &rr));
    let st = a.stats();
    assert_eq!(
        (st.remote_lost, st.remote_fraction_lost, st.remote_jitter_ms),
        (Some(3), Some(7.0 / 256.0), Some(10.0))
    );
    let rtt = st.rtt_ms.expect("an RTT from LSR/DLSR");
    assert!(
        (rtt - 60.0).abs() < 0.1,
        "twice the 30 ms one-way delay: {rtt} ms"
    );
    assert_eq!((st.sent, st.received), (1, 1));

    // b learnt from a's SR what a says about b's stream; no RTT for b,
    // which has sent no SR for a to answer.
    assert_eq!(
        (
            b.stats().remote_lost,
            b.stats().remote_jitter_ms,
            b.stats().rtt_ms
        ),
        (Some(0), Some(2.0), None)
    );
}

#[test]
fn intervals_are_randomised_around_5_s_and_repeat_with_the_seed() {
    let t0 = Instant::now();
    let times = |seed| {
        let mut r = Rtcp::new(t0, 1, 8000, wall(t0, 0), seed);
        let mut at = vec![r.poll_timeout()];
        for _ in 0..50 {
            let t = r.poll_timeout();
            r.poll_report(t, &Sent::default(), None).unwrap();
            at.push(r.poll_timeout());
        }
        at
    };
    let a = times(7);
    assert_eq!(a, times(7), "the same seed, the same schedule");
    assert_ne!(a, times(8));
    let first = a[0] - t0;
    assert!(
        first >= 1250 * MS && first <= 3750 * MS,
        "the first report after half an interval: {first:?}"
    );
    let gaps: Vec<Duration> = a.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| *g >= 2500 * MS && *g <= 7500 * MS),
        "{gaps:?}"
    );
    let mean = gaps.iter().sum::<Duration>() / gaps.len() as u32;
    assert!(
        mean > 4 * REPORT_INTERVAL / 5 && mean < 6 * REPORT_INTERVAL / 5,
        "about 5 s on average: {mean:?}"
    );
    assert!(gaps.windows(2).any(|w| w[0] != w[1]), "not a fixed period");
}

#[test]
fn a_sender_reports_with_an_sr_until_it_has_been_silent_for_two_intervals() {
    let t0 = Instant::now();
    let mut r = Rtcp::new(t0, 9, 8000, wall(t0, 0), 3);
    let kind = |data: &[u8]| parse(data)[0].header().packet_type;
    use rtc_rtcp::header::PacketType::{ReceiverReport as Rr, SenderReport as Sr};
    let none = Sent::default();
    let (_, p) = next_report(&mut r, &none, None);
    assert_eq!(kind(&p), Rr, "nothing sent yet");
    let ten = Sent {
        packets: 10,
        octets: 1600,
        rtp_time: Some(1600),
    };
    let (_, p) = next_report(&mut r, &ten, None);
    assert_eq!(kind(&p), Sr);
    let (_, p) = next_report(&mut r, &ten, None);
    assert_eq!(
        kind(&p),
        Sr,
        "still a sender one interval after its last packet"
    );
    let (_, p) = next_report(&mut r, &ten, None);
    assert_eq!(kind(&p), Rr, "silent for two intervals");
    let p: ReceiverReport = first(&parse(&p)).unwrap();
    assert!(p.reports.is_empty(), "no block while nothing was received");
}

#[test]
fn fraction_lost_counts_the_interval_and_duplicates_make_loss_negative() {
    let t0 = Instant::now();
    let mut r = Rtcp::new(t0, 9, 8000, wall(t0, 0), 4);
    let src = |expected, received| RxSource {
        ssrc: 5,
        ext_highest_seq: expected as u32,
        expected,
        received,
        jitter: 0,
    };
    let block = |r: &mut Rtcp, s: RxSource| {
        let (_, p) = next_report(r, &Sent::default(), Some(&s));
        let rr: ReceiverReport = first(&parse(&p)).unwrap();
        rr.reports[0].clone()
    };
    let b = block(&mut r, src(100, 90));
    assert_eq!(
        (b.fraction_lost, b.total_lost),
        (25, 10),
        "10 of 100: 25/256"
    );
    let b = block(&mut r, src(200, 190));
    assert_eq!(
        (b.fraction_lost, b.total_lost),
        (0, 10),
        "none lost since the last report"
    );
    let b = block(&mut r, src(300, 240));
    assert_eq!(
        (b.fraction_lost, b.total_lost),
        (128, 60),
        "half of the last 100"
    );
    let b = block(&mut r, src(310, 312));
    assert_eq!(
        (b.fraction_lost, b.total_lost),
        (0, 0xFF_FFFE),
        "two duplicates: -2 in 24 bits"
    );
    // The peer reading it back sees -2.
    let mut peer = Rtcp::new(t0, 5, 8000, wall(t0, 0), 5);
    let rr = ReceiverReport {
        ssrc: 9,
        reports: vec![ReceptionReport { ssrc: 5, ..b }],
        profile_extensions: Bytes::new(),
    };
    let data = rr.marshal().unwrap();
    assert!(peer.handle(t0, &data));
    assert_eq!(peer.stats().remote_lost, Some(-2));
}

#[test]
fn the_last_packet_says_bye() {
    let t0 = Instant::now();
    let mut a = Rtcp::new(t0, 0xA, 8000, wall(t0, 1_000), 1);
    let mut b = Rtcp::new(t0, 0xB, 8000, wall(t0, 2_000), 2);
    let bye = a
        .bye(
            t0 + 3 * MS,
            &Sent {
                packets: 3,
                octets: 480,
                rtp_time: Some(480),
            },
            None,
        )
        .unwrap();
    let packets = parse(&bye);
    let g: Goodbye = first(&packets).expect("a BYE");
    assert_eq!(
        (g.sources.as_slice(), &g.reason[..]),
        (&[0xA][..], &b"end of call"[..])
    );
    // Every packet of the compound fills whole words with no padding
    // (rtc-rtcp's would put a count where the SDES wants nulls).
    let mut at = 0;
    while at < bye.len() {
        assert_eq!(bye[at] & 0x20, 0, "no padding bit at {at}: {bye:02x?}");
        let len = 4 + 4 * u16::from_be_bytes([bye[at + 2], bye[at + 3]]) as usize;
        if bye[at + 1] == 202 {
            let items_end = at + 4 + 4 + 2 + cname(0xA).len();
            let tail = &bye[items_end..at + len];
            assert!(
                !tail.is_empty() && tail.iter().all(|b| *b == 0),
                "the SDES chunk ends in nulls: {bye:02x?}"
            );
        }
        at += len;
    }
    assert_eq!(at, bye.len());
    assert!(
        first::<SenderReport>(&packets).is_some() && cname_of(&packets) == Some(cname(0xA)),
        "in a compound with a report and the CNAME"
    );
    assert!(!b.stats().bye);
    assert!(b.handle(t0 + 4 * MS, &bye));
    assert!(b.stats().bye);
}

#[test]
fn what_is_not_rtcp_or_not_about_hotline_is_ignored() {
    let t0 = Instant::now();
    let mut a = Rtcp::new(t0, 0xA, 8000, wall(t0, 1_000), 1);
    let mut b = Rtcp::new(t0, 0xB, 8000, wall(t0, 2_000), 2);
    let sr = a
        .bye(
            t0,
            &Sent {
                packets: 1,
                octets: 160,
                rtp_time: Some(0),
            },
            None,
        )
        .unwrap();
    // Every truncation, garbage, an RTP packet, and bit flips: never a panic.
    for n in 0..sr.len() {
        b.handle(t0, &sr[..n]);
    }
    let rtp = [
        0x80u8, 8, 0, 1, 0, 0, 0, 160, 0, 0, 0, 0xB, 0xD5, 0xD5, 0xD5, 0xD5,
    ];
    for junk in [
        &b""[..],
        b"garbage!",
        &rtp,
        &[0xFF; 64],
        &[0x80, 200, 0xFF, 0xFF, 0, 0, 0, 0],
    ] {
        assert!(!b.handle(t0, junk), "{junk:?}");
    }
    let mut state = 0x1234_5678_9ABC_DEF0u64;
    for _ in 0..2000 {
        let mut data = sr.clone();
        for _ in 0..3 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state % data.len() as u64) as usize;
            data[i] ^= (state >> 32) as u8;
        }
        b.handle(t0, &data);
    }
    let before = b.stats().clone();
    assert!(
        !b.handle(t0, &sr[..sr.len() - 1]),
        "a truncated compound is refused whole"
    );
    assert_eq!(b.stats(), &before);

    // A block about another SSRC, and one whose LSR is none of a's SRs.
    let block = |ssrc, lsr| ReceptionReport {
        ssrc,
        total_lost: 9,
        last_sender_report: lsr,
        delay: 1,
        ..Default::default()
    };
    let rr = |r| {
        ReceiverReport {
            ssrc: 0xB,
            reports: vec![r],
            profile_extensions: Bytes::new(),
        }
        .marshal()
        .unwrap()
    };
    assert!(a.handle(t0, &rr(block(0xC, 0))));
    assert_eq!(a.stats().remote_lost, None, "not about a's stream");
    assert!(a.handle(t0, &rr(block(0xA, 0x1234_5678))));
    assert_eq!(
        (a.stats().remote_lost, a.stats().rtt_ms),
        (Some(9), None),
        "an LSR a never sent gives no RTT"
    );
}
