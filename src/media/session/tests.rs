//! A call's media in simulated time: prompts to the caller, latching,
//! bridging with transcoding, DTMF, hold, and the recording feed.

use super::*;
use crate::media::rtp::OutStream;

const MS: Duration = Duration::from_millis(1);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn leg(codec: Codec, remote: &str) -> LegConfig {
    LegConfig {
        codec,
        pt: codec.payload_type(),
        telephone_event: Some(101),
        remote: addr(remote),
        rtcp: None,
        send: true,
    }
}

/// A far end sending RTP: its own stream, 20 ms packets.
struct Peer {
    out: OutStream,
    codec: Codec,
}

impl Peer {
    fn new(ssrc: u32, codec: Codec) -> Peer {
        Peer {
            out: OutStream::new(ssrc, 1000, 50_000),
            codec,
        }
    }
    fn audio(&mut self, at: Instant, value: i16) -> Vec<u8> {
        let mut payload = Vec::new();
        self.codec.encode(&[value; FRAME], &mut payload);
        let mut data = Vec::new();
        self.out
            .generated(at, self.codec.payload_type(), &payload, &mut data);
        data
    }
    /// RFC 4733 event packet: `end` sets the E bit.
    fn event(&mut self, at: Instant, event: u8, end: bool, duration: u16) -> Vec<u8> {
        let d = duration.to_be_bytes();
        let payload = [event, if end { 0x80 | 10 } else { 10 }, d[0], d[1]];
        let mut data = Vec::new();
        self.out.generated(at, 101, &payload, &mut data);
        data
    }
}

fn outputs(s: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn sent(outs: &[Output], to_leg: Leg) -> Vec<(SocketAddr, rtp::Received, Vec<u8>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit { leg, to, data } if *leg == to_leg => {
                let rx = rtp::parse(data).unwrap();
                Some((
                    *to,
                    rx,
                    data[rx.payload_at..rx.payload_at + rx.payload_len].to_vec(),
                ))
            }
            _ => None,
        })
        .collect()
}

fn run_until(s: &mut Session, until: Instant) -> Vec<Output> {
    let mut outs = Vec::new();
    while let Some(t) = s.poll_timeout().filter(|t| *t <= until) {
        s.handle_timeout(t);
        outs.extend(outputs(s));
    }
    outs
}

#[test]
fn a_waiting_caller_hears_the_prompt_then_music_every_20_ms() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, SystemTime::UNIX_EPOCH);
    s.set_leg(t0, Leg::Caller, leg(Codec::Pcma, "10.0.0.1:4000"), 7);
    s.play(
        t0,
        vec![Clip::new("welcome", vec![1000; 400])],
        Some(Clip::new("music", vec![-500; 1600])),
    );
    let outs = run_until(&mut s, t0 + 99 * MS);
    let pkts = sent(&outs, Leg::Caller);
    assert_eq!(pkts.len(), 5, "t = 0, 20, 40, 60, 80 ms");
    let seqs: Vec<u16> = pkts.iter().map(|p| p.1.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "{seqs:?}"
    );
    assert!(
        pkts.iter().all(|p| p.0 == addr("10.0.0.1:4000")
            && p.1.pt == 8
            && p.1.ssrc == 7
            && p.2.len() == 160)
    );
    assert_eq!(pkts[1].1.ts.wrapping_sub(pkts[0].1.ts), 160);
    let mut prompt = Vec::new();
    Codec::Pcma.encode(&[1000; FRAME], &mut prompt);
    assert_eq!(pkts[0].2, prompt);
    let mut music = Vec::new();
    Codec::Pcma.encode(&[-500; FRAME], &mut music);
    assert_eq!(
        pkts[3].2, music,
        "400 samples of prompt fill frames 0-1 and half of 2"
    );
    assert!(outs.contains(&Output::Played("welcome".into())));
}

#[test]
fn the_caller_leg_latches_to_where_audio_comes_from_and_resists_strays() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, SystemTime::UNIX_EPOCH);
    s.set_leg(t0, Leg::Caller, leg(Codec::Pcmu, "10.0.0.1:4000"), 7);
    s.play(t0, vec![], Some(Clip::new("music", vec![1; 160])));
    let mut phone = Peer::new(1, Codec::Pcmu);
    s.handle_packet(t0, Leg::Caller, addr("192.0.2.9:7078"), &phone.audio(t0, 5));
    let outs = run_until(&mut s, t0 + 10 * MS);
    assert_eq!(
        sent(&outs, Leg::Caller)[0].0,
        addr("192.0.2.9:7078"),
        "NATed phone: answer where it sends from"
    );
    let mut stray = Peer::new(2, Codec::Pcmu);
    s.handle_packet(
        t0 + 30 * MS,
        Leg::Caller,
        addr("203.0.113.5:9"),
        &stray.audio(t0, 5),
    );
    let outs = run_until(&mut s, t0 + 50 * MS);
    assert_eq!(
        sent(&outs, Leg::Caller)[0].0,
        addr("192.0.2.9:7078"),
        "a stray does not steal the stream"
    );
    let later = t0 + RELATCH_AFTER + 100 * MS;
    s.handle_packet(
        later,
        Leg::Caller,
        addr("198.51.100.7:5004"),
        &stray.audio(later, 5),
    );
    let outs = run_until(&mut s, later + 20 * MS);
    assert_eq!(
        sent(&outs, Leg::Caller)[0].0,
        addr("198.51.100.7:5004"),
        "the old source went silent: relatch"
    );
}

#[test]
fn the_sdp_address_takes_the_leg_from_a_source_still_sending() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, SystemTime::UNIX_EPOCH);
    s.set_leg(t0, Leg::Caller, leg(Codec::Pcmu, "10.0.0.1:4000"), 7);
    s.play(t0, vec![], Some(Clip::new("music", vec![1; 160])));
    // The phone a transfer replaced still sends; the new phone's SDP names
    // 10.0.0.1:4000 and its first packet takes the leg at once.
    let mut old = Peer::new(1, Codec::Pcmu);
    s.handle_packet(t0, Leg::Caller, addr("192.0.2.9:7078"), &old.audio(t0, 5));
    let mut new = Peer::new(2, Codec::Pcmu);
    s.handle_packet(
        t0 + 5 * MS,
        Leg::Caller,
        addr("10.0.0.1:4000"),
        &new.audio(t0, 5),
    );
    s.handle_packet(
        t0 + 8 * MS,
        Leg::Caller,
        addr("192.0.2.9:7078"),
        &old.audio(t0, 5),
    );
    let outs = run_until(&mut s, t0 + 30 * MS);
    let to: Vec<SocketAddr> = sent(&outs, Leg::Caller)
        .iter()
        .map(|(a, _, _)| *a)
        .collect();
    assert!(
        !to.is_empty() && to.iter().all(|a| *a == addr("10.0.0.1:4000")),
        "{to:?}"
    );
}

#[test]
fn bridged_audio_flows_both_ways_and_is_transcoded_between_laws() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, SystemTime::UNIX_EPOCH);
    s.set_leg(t0, Leg::Caller, leg(Codec::Pcmu, "10.0.0.1:4000"), 7);
    s.set_leg(t0, Leg::Agent, leg(Codec::Pcma, "10.0.0.2:6000"), 8);
    s.bridge();
    let (mut caller, mut agent) = (Peer::new(1, Codec::Pcmu), Peer::new(2, Codec::Pcma));
    let mut to_agent = Vec::new();
    for i in 0..3 {
        let at = t0 + i * 20 * MS;
        s.handle_packet(
            at,
            Leg::Caller,
            addr("10.0.0.1:4000"),
            &caller.audio(at, 3000),
        );
        s.handle_packet(
            at,
            Leg::Agent,
            addr("10.0.0.2:6000"),
            &agent.audio(at, -3000),
        );
        let outs = outputs(&mut s);
        to_agent.extend(sent(&outs, Leg::Agent));
        let to_caller = sent(&outs, Leg::Caller);
        assert_eq!(to_caller.len(), 1);
        assert_eq!(to_caller[0].1.pt, 0, "the caller gets PCMU");
        let mut want = Vec::new();
        Codec::Pcmu.encode(&[-3000; FRAME], &mut want);
        let mut got = Vec::new();
        Codec::Pcmu.decode(&to_caller[0].2, &mut got);
        assert!(
            got.iter().all(|v| (v + 3000).abs() < 100),
            "transcoded A-law -> mu-law keeps the level"
        );
    }
    assert_eq!(to_agent.len(), 3);
    assert!(
        to_agent
            .iter()
            .all(|p| p.1.pt == 8 && p.1.ssrc == 8 && p.0 == addr("10.0.0.2:6000"))
    );
    assert_eq!(to_agent[2].1.seq.wrapping_sub(to_agent[0].1.seq), 2);
    assert_eq!(to_agent[2].1.ts.wrapping_sub(to_agent[0].1.ts), 320);
}

/// A driver that hands sent buffers back gets them again: relaying a
/// packet allocates nothing once the call runs, and the packets are the
/// same as in fresh buffers.
#[test]
fn relayed_packets_are_built_in_recycled_buffers() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, SystemTime::UNIX_EPOCH);
    s.set_leg(t0, Leg::Caller, leg(Codec::Pcma, "10.0.0.1:4000"), 7);
    s.set_leg(t0, Leg::Agent, leg(Codec::Pcma, "10.0.0.2:6000"), 8);
    s.bridge();
    let mut caller = Peer::new(1, Codec::Pcma);
    let mut last: Option<(*const u8, u16)> = None;
    for i in 0..5 {
        let at = t0 + i * 20 * MS;
        s.handle_packet(
            at,
            Leg::Caller,
            addr("10.0.0.1:4000"),
            &caller.audio(at, 3000),
        );
        let Some(Output::Transmit {
            leg: Leg::Agent,
            data,
            ..
        }) = s.poll_output()
        else {
            panic!("a relayed packet")
        };
        let rx = rtp::parse(&data).unwrap();
        if let Some((ptr, seq)) = last {
            assert_eq!(
                data.as_ptr(),
                ptr,
                "packet {i} is built in the buffer handed back"
            );
            assert_eq!(rx.seq, seq.wrapping_add(1));
        }
        assert_eq!(data.len(), 12 + 160);
        last = Some((data.as_ptr(), rx.seq));
        s.recycle(data);
    }
}

#[test]
fn dtmf_is_reported_once_per_digit_and_relayed_with_the_other_legs_payload_type() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, SystemTime::UNIX_EPOCH);
    s.set_leg(t0, Leg::Caller, leg(Codec::Pcma, "10.0.0.1:4000"), 7);
    let mut agent_cfg = leg(Codec::Pcma, "10.0.0.2:6000");
    agent_cfg.telephone_event = Some(96);
    s.set_leg(t0, Leg::Agent, agent_cfg, 8);
    s.bridge();
    let mut caller = Peer::new(1, Codec::Pcma);
    let from = addr("10.0.0.1:4000");
    // An RFC 4733 "1": start, updates, then the end packet three times.
    let mut outs = Vec::new();
    for (i, end) in [false, false, true, true, true].into_iter().enumerate() {
        let at = t0 + i as u32 * 20 * MS;
        let pkt = caller.event(at, 1, end, 160 * (i as u16 + 1));
        // Events of one digit share a timestamp (RFC 4733 2.5.1.2).
        let mut pkt = pkt;
        pkt[4..8].copy_from_slice(&50_000u32.to_be_bytes());
        s.handle_packet(at, Leg::Caller, from, &pkt);
        outs.extend(outputs(&mut s));
    }
    let digits: Vec<&Output> = outs
        .iter()
        .filter(|o| matches!(o, Output::Dtmf { .. }))
        .collect();
    assert_eq!(
        digits,
        [&Output::Dtmf {
            leg: Leg::Caller,
            digit: '1'
        }]
    );
    let relayed = sent(&outs, Leg::Agent);
    assert_eq!(relayed.len(), 5);
    assert!(relayed.iter().all(|p| p.1.pt == 96 && p.2[0] == 1));
    // Not bridged (a survey prompt): digits are still heard.
    s.play(t0, vec![Clip::new("survey", vec![0; 1600])], None);
    let at = t0 + 200 * MS;
    s.handle_packet(at, Leg::Caller, from, &caller.event(at, 3, true, 800));
    assert!(outputs(&mut s).contains(&Output::Dtmf {
        leg: Leg::Caller,
        digit: '3'
    }));
}

#[test]
fn a_leg_on_hold_gets_nothing() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, SystemTime::UNIX_EPOCH);
    let mut held = leg(Codec::Pcma, "10.0.0.1:4000");
    held.send = false;
    s.set_leg(t0, Leg::Caller, held, 7);
    s.set_leg(t0, Leg::Agent, leg(Codec::Pcma, "10.0.0.2:6000"), 8);
    s.bridge();
    let mut agent = Peer::new(2, Codec::Pcma);
    s.handle_packet(t0, Leg::Agent, addr("10.0.0.2:6000"), &agent.audio(t0, 100));
    assert!(sent(&outputs(&mut s), Leg::Caller).is_empty());
}

#[test]
fn the_recording_has_the_caller_left_and_what_the_caller_heard_right() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, SystemTime::UNIX_EPOCH);
    s.set_leg(t0, Leg::Caller, leg(Codec::Pcma, "10.0.0.1:4000"), 7);
    s.set_leg(t0, Leg::Agent, leg(Codec::Pcma, "10.0.0.2:6000"), 8);
    s.start_recording(t0);
    s.play(t0, vec![], Some(Clip::new("music", vec![2000; 160])));
    let (mut caller, mut agent) = (Peer::new(1, Codec::Pcma), Peer::new(2, Codec::Pcma));
    let mut frames = Vec::new();
    let mut t = t0;
    // 1 s waiting with music, then 1 s bridged to the agent.
    for i in 0..100u32 {
        t = t0 + i * 20 * MS;
        if i == 50 {
            s.bridge();
        }
        for o in run_until(&mut s, t) {
            if let Output::Frame(f) = o {
                frames.push(f);
            }
        }
        s.handle_packet(
            t,
            Leg::Caller,
            addr("10.0.0.1:4000"),
            &caller.audio(t, 1000),
        );
        if i >= 50 {
            s.handle_packet(t, Leg::Agent, addr("10.0.0.2:6000"), &agent.audio(t, -1000));
        }
        frames.extend(outputs(&mut s).into_iter().filter_map(|o| match o {
            Output::Frame(f) => Some(f),
            _ => None,
        }));
    }
    s.stop_recording(t + 20 * MS);
    frames.extend(outputs(&mut s).into_iter().filter_map(|o| match o {
        Output::Frame(f) => Some(f),
        _ => None,
    }));
    assert!(
        frames.len() >= 99,
        "about 2 s of 20 ms frames: {}",
        frames.len()
    );
    assert!(
        frames.windows(2).all(|w| w[1].index == w[0].index + 1),
        "frames in order, none missing"
    );
    let near = |v: i16, want: i16| (v - want).abs() < 64;
    let waiting = &frames[20];
    assert!(
        waiting.caller().all(|v| near(v, 1000)) && waiting.agent().all(|v| near(v, 2000)),
        "music on the right"
    );
    let talking = &frames[80];
    assert!(
        talking.caller().all(|v| near(v, 1000)) && talking.agent().all(|v| near(v, -1000)),
        "the agent on the right"
    );
}

#[test]
fn a_caller_whose_rtp_stops_is_reported_once_until_it_comes_back() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, SystemTime::UNIX_EPOCH);
    s.set_leg(t0, Leg::Caller, leg(Codec::Pcmu, "10.0.0.1:4000"), 7);
    s.watch_silence(Some(Duration::from_secs(30)));
    assert_eq!(
        s.silence_deadline(),
        None,
        "nothing to watch before the first packet"
    );
    let mut caller = Peer::new(1, Codec::Pcmu);
    s.handle_packet(t0, Leg::Caller, addr("10.0.0.1:4000"), &caller.audio(t0, 5));
    assert_eq!(s.silence_deadline(), Some(t0 + Duration::from_secs(30)));
    assert!(
        s.poll_timeout()
            .is_some_and(|t| t <= t0 + Duration::from_secs(30)),
        "the deadline is one of the session's"
    );
    s.handle_timeout(t0 + Duration::from_secs(29));
    assert!(!outputs(&mut s).contains(&Output::Silent(Leg::Caller)));
    s.handle_timeout(t0 + Duration::from_secs(30));
    assert!(outputs(&mut s).contains(&Output::Silent(Leg::Caller)));
    s.handle_timeout(t0 + Duration::from_secs(90));
    assert!(
        !outputs(&mut s).contains(&Output::Silent(Leg::Caller)),
        "reported once"
    );
    let back = t0 + Duration::from_secs(100);
    s.handle_packet(
        back,
        Leg::Caller,
        addr("10.0.0.1:4000"),
        &caller.audio(back, 5),
    );
    s.watch_silence(None);
    assert_eq!(
        s.silence_deadline(),
        None,
        "not watched while the caller holds"
    );
}
