//! SDP as the trunk (SIPp) and desk phones write it, hold and rejection,
//! hotline's own offers and answers read back, and text that is not SDP.

use super::*;
use crate::testutil::Rng;

const ALL: &[Codec] = &Codec::ALL;

/// SDP lines joined with CRLF, as they travel in a SIP body.
fn sdp(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

/// `tests/sipp/trunk_call.xml`'s body as SIPp sends it on loopback.
fn sipp_trunk() -> String {
    sdp(&[
        "v=0",
        "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        "m=audio 6000 RTP/AVP 8 0 101",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
    ])
}

/// A Yealink T4x offer: PCMU first, wideband and G.729 offered too.
fn yealink() -> String {
    sdp(&[
        "v=0",
        "o=- 20024 20024 IN IP4 192.168.10.21",
        "s=SDP data",
        "c=IN IP4 192.168.10.21",
        "t=0 0",
        "m=audio 11796 RTP/AVP 0 8 9 18 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:18 G729/8000",
        "a=fmtp:18 annexb=no",
        "a=ptime:20",
        "a=sendrecv",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
    ])
}

/// A Grandstream GXP offer: G.722 first, then A-law before μ-law.
fn grandstream() -> String {
    sdp(&[
        "v=0",
        "o=1001 8000 8000 IN IP4 192.168.10.35",
        "s=SIP Call",
        "c=IN IP4 192.168.10.35",
        "t=0 0",
        "m=audio 5004 RTP/AVP 9 8 0 18 101",
        "a=sendrecv",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:18 G729/8000",
        "a=fmtp:18 annexb=no",
        "a=ptime:30",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
    ])
}

fn formats(media: &RemoteMedia) -> Vec<(u8, Option<Codec>)> {
    media.formats.iter().map(|f| (f.pt, f.codec)).collect()
}

#[test]
fn sipp_trunk_offer_is_answered_in_its_own_preference_a_law() {
    let offer = parse(&sipp_trunk()).unwrap();
    assert_eq!(offer.addr, "127.0.0.1:6000".parse().unwrap());
    assert_eq!(
        (offer.session_id, offer.session_version),
        (53655765, 2353687637)
    );
    assert_eq!(
        formats(&offer),
        [(8, Some(Codec::Pcma)), (0, Some(Codec::Pcmu)), (101, None)]
    );
    assert_eq!(offer.telephone_event, Some(101));
    assert_eq!((offer.ptime, offer.direction), (20, Direction::SendRecv));
    assert!(!offer.is_hold() && !offer.null_address && offer.declined.is_empty());

    let n = negotiate(&offer, &[Codec::Pcmu, Codec::Pcma]).unwrap();
    assert_eq!(
        (n.codec, n.pt, n.telephone_event, n.ptime),
        (Codec::Pcma, 8, Some(101), 20)
    );
    assert_eq!(n.remote, offer.addr);

    let answer = build_answer(
        "10.1.2.3:40002".parse().unwrap(),
        &n,
        Direction::SendRecv,
        7,
        1,
    );
    assert_eq!(
        answer,
        sdp(&[
            "v=0",
            "o=hotline 7 1 IN IP4 10.1.2.3",
            "s=hotline",
            "c=IN IP4 10.1.2.3",
            "t=0 0",
            "m=audio 40002 RTP/AVP 8 101",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            "a=ptime:20",
            "a=sendrecv",
        ])
    );
}

#[test]
fn sipp_default_uac_offers_bare_static_pcmu() {
    let text = "v=0\r\no=user1 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
    let offer = parse(text).unwrap();
    assert_eq!(formats(&offer), [(0, Some(Codec::Pcmu))]);
    assert_eq!((offer.telephone_event, offer.ptime), (None, DEFAULT_PTIME));
    let n = negotiate(&offer, ALL).unwrap();
    assert_eq!((n.codec, n.telephone_event), (Codec::Pcmu, None));
    let answer = build_answer(
        "10.0.0.1:40000".parse().unwrap(),
        &n,
        Direction::SendRecv,
        1,
        1,
    );
    assert!(
        answer.contains("m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"),
        "{answer}"
    );
    assert!(!answer.contains("telephone-event"));
}

#[test]
fn desk_phone_offers_pick_the_first_g711_law_the_phone_lists() {
    let y = parse(&yealink()).unwrap();
    assert_eq!(y.addr, "192.168.10.21:11796".parse().unwrap());
    assert_eq!(
        formats(&y),
        [
            (0, Some(Codec::Pcmu)),
            (8, Some(Codec::Pcma)),
            (9, None),
            (18, None),
            (101, None)
        ]
    );
    assert_eq!(
        (y.telephone_event, y.ptime, y.direction),
        (Some(101), 20, Direction::SendRecv)
    );
    assert_eq!(
        negotiate(&y, &[Codec::Pcma, Codec::Pcmu]).unwrap().codec,
        Codec::Pcmu
    );
    assert_eq!(
        negotiate(&y, &[Codec::Pcma]).unwrap().codec,
        Codec::Pcma,
        "only what we support"
    );

    let g = parse(&grandstream()).unwrap();
    assert_eq!(
        g.codecs().collect::<Vec<_>>(),
        [(8, Codec::Pcma), (0, Codec::Pcmu)]
    );
    let n = negotiate(&g, &[Codec::Pcmu, Codec::Pcma]).unwrap();
    assert_eq!(
        (n.codec, n.pt, n.ptime, n.telephone_event),
        (Codec::Pcma, 8, 30, Some(101))
    );
}

#[test]
fn session_level_direction_media_level_connection_and_other_dtmf_types() {
    // Polycom style: a=sendrecv at session level, telephone-event on 127,
    // a dynamic payload type for μ-law, a per-stream c= and b= line.
    let text = sdp(&[
        "v=0",
        "o=- 1234 1 IN IP4 10.1.1.5",
        "s=Polycom IP Phone",
        "c=IN IP4 10.1.1.5",
        "t=0 0",
        "a=sendonly",
        "m=audio 2222 RTP/AVP 9 102 96 127 100",
        "c=IN IP4 10.1.1.6",
        "b=TIAS:64000",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:102 G7221/16000",
        "a=fmtp:102 bitrate=32000",
        "a=rtpmap:96 pcmu/8000",
        "a=rtpmap:100 telephone-event/16000",
        "a=rtpmap:127 telephone-event/8000",
    ]);
    let offer = parse(&text).unwrap();
    assert_eq!(
        offer.addr,
        "10.1.1.6:2222".parse().unwrap(),
        "media-level c= wins"
    );
    assert_eq!(
        offer.direction,
        Direction::SendOnly,
        "session-level direction applies"
    );
    assert_eq!(
        offer.telephone_event,
        Some(127),
        "only telephone-event/8000 counts"
    );
    assert_eq!(offer.codecs().collect::<Vec<_>>(), [(96, Codec::Pcmu)]);
    let n = negotiate(&offer, ALL).unwrap();
    assert_eq!(
        (n.codec, n.pt),
        (Codec::Pcmu, 96),
        "the offer's payload type number is kept"
    );
    let answer = build_answer(
        "10.0.0.1:40000".parse().unwrap(),
        &n,
        answer_direction(offer.direction),
        1,
        1,
    );
    assert!(
        answer.contains("m=audio 40000 RTP/AVP 96 127\r\na=rtpmap:96 PCMU/8000\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with("a=recvonly\r\n"), "{answer}");
}

#[test]
fn odd_rtpmaps_and_ptimes() {
    let text = sdp(&[
        "v=0",
        "o=- 1 1 IN IP4 10.0.0.2",
        "s=-",
        "c=IN IP4 10.0.0.2",
        "t=0 0",
        "a=ptime:40",
        "m=audio 4000 RTP/AVP 8 97 0 abc 300",
        "a=rtpmap:8 PCMA/8000/2",
        "a=rtpmap:97 PCMA/16000",
        "a=rtpmap:0 PCMU/8000/1",
    ]);
    let offer = parse(&text).unwrap();
    assert_eq!(
        formats(&offer),
        [(8, None), (97, None), (0, Some(Codec::Pcmu))],
        "stereo and 16 kHz are not G.711"
    );
    assert_eq!(offer.ptime, 40, "session-level ptime");
    let bad_ptime = sipp_trunk().replace("a=ptime:20", "a=ptime:fast");
    assert_eq!(parse(&bad_ptime).unwrap().ptime, DEFAULT_PTIME);
    let lf_only = sipp_trunk().replace("\r\n", "\n");
    assert_eq!(parse(&lf_only).unwrap(), parse(&sipp_trunk()).unwrap());
}

#[test]
fn hold_both_styles_and_the_answer_directions() {
    let sendonly = parse(&yealink().replace("a=sendrecv", "a=sendonly")).unwrap();
    assert_eq!(sendonly.direction, Direction::SendOnly);
    assert!(sendonly.is_hold() && !sendonly.null_address);
    let n = negotiate(&sendonly, ALL).unwrap();
    let answer = build_answer(
        "10.0.0.1:40000".parse().unwrap(),
        &n,
        answer_direction(sendonly.direction),
        1,
        2,
    );
    assert_eq!(parse(&answer).unwrap().direction, Direction::RecvOnly);

    let inactive = parse(&yealink().replace("a=sendrecv", "a=inactive")).unwrap();
    assert!(inactive.is_hold());

    let old_style = parse(&sipp_trunk().replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0")).unwrap();
    assert_eq!(
        (old_style.direction, old_style.null_address),
        (Direction::SendRecv, true)
    );
    assert!(old_style.is_hold());
    assert_eq!(old_style.addr, "0.0.0.0:6000".parse().unwrap());

    assert_eq!(answer_direction(Direction::SendRecv), Direction::SendRecv);
    assert_eq!(answer_direction(Direction::SendOnly), Direction::RecvOnly);
    assert_eq!(answer_direction(Direction::RecvOnly), Direction::SendOnly);
    assert_eq!(answer_direction(Direction::Inactive), Direction::Inactive);
}

#[test]
fn a_stream_with_port_zero_is_disabled() {
    let rejected = parse(&sipp_trunk().replace("m=audio 6000", "m=audio 0")).unwrap();
    assert!(rejected.is_disabled() && rejected.is_hold());
    assert_eq!(
        rejected.direction,
        Direction::Inactive,
        "port 0 overrides sendrecv"
    );
    assert_eq!(negotiate(&rejected, ALL), Err(SdpError::Disabled));

    let bare = "v=0\r\no=- 1 2 IN IP4 10.0.0.3\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n";
    assert_eq!(
        parse(bare).unwrap().addr,
        "0.0.0.0:0".parse().unwrap(),
        "no c= needed when disabled"
    );
}

#[test]
fn other_streams_are_declined_in_place() {
    let text = sdp(&[
        "v=0",
        "o=- 5 5 IN IP4 192.168.10.50",
        "s=-",
        "c=IN IP4 192.168.10.50",
        "t=0 0",
        "m=video 5008 RTP/AVP 96 97",
        "a=rtpmap:96 H264/90000",
        "m=audio 5006 RTP/SAVP 0",
        "m=audio 5004 RTP/AVP 0 101",
        "a=rtpmap:101 telephone-event/8000",
    ]);
    let offer = parse(&text).unwrap();
    assert_eq!(offer.audio_index, 2, "the first audio over plain RTP/AVP");
    assert_eq!(offer.addr.port(), 5004);
    let n = negotiate(&offer, ALL).unwrap();
    let answer = build_answer(
        "10.0.0.1:40000".parse().unwrap(),
        &n,
        Direction::SendRecv,
        1,
        1,
    );
    let m_lines: Vec<&str> = answer.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(
        m_lines,
        [
            "m=video 0 RTP/AVP 96",
            "m=audio 0 RTP/SAVP 0",
            "m=audio 40000 RTP/AVP 0 101"
        ]
    );
    let back = parse(&answer).unwrap();
    assert_eq!((back.audio_index, back.declined.len()), (2, 2));
}

#[test]
fn sdp_hotline_cannot_use_says_why() {
    let no_c = sipp_trunk().replace("c=IN IP4 127.0.0.1\r\n", "");
    assert_eq!(parse(&no_c), Err(SdpError::NoConnection));
    let host = sipp_trunk().replace("c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example.net");
    assert_eq!(
        parse(&host),
        Err(SdpError::Address("pbx.example.net".into()))
    );
    let mismatch = sipp_trunk().replace("c=IN IP4 127.0.0.1", "c=IN IP4 ::1");
    assert_eq!(parse(&mismatch), Err(SdpError::Address("::1".into())));
    let srtp = sipp_trunk().replace("RTP/AVP", "RTP/SAVP");
    assert_eq!(parse(&srtp), Err(SdpError::Transport("RTP/SAVP".into())));
    let video = "v=0\r\no=- 1 1 IN IP4 10.0.0.4\r\ns=-\r\nc=IN IP4 10.0.0.4\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n";
    assert_eq!(parse(video), Err(SdpError::NoAudio));
    assert_eq!(
        parse("v=0\r\no=- 1 1 IN IP4 10.0.0.4\r\ns=-\r\nt=0 0\r\n"),
        Err(SdpError::NoAudio)
    );

    let wideband = parse(&yealink().replace("RTP/AVP 0 8 9 18 101", "RTP/AVP 9 18 101")).unwrap();
    let err = negotiate(&wideband, ALL).unwrap_err();
    assert_eq!(
        err,
        SdpError::NoCommonCodec {
            offered: vec![9, 18, 101],
            supported: "PCMU, PCMA".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "no common audio codec: the peer lists payload types [9, 18, 101], hotline takes PCMU, PCMA"
    );
}

#[test]
fn ipv6_offers_round_trip() {
    let local: SocketAddr = "[2001:db8::1]:40010".parse().unwrap();
    let text = build_offer(local, ALL, 101, 20, Direction::SendRecv, 9, 9);
    assert!(
        text.contains("o=hotline 9 9 IN IP6 2001:db8::1\r\n")
            && text.contains("c=IN IP6 2001:db8::1\r\n")
    );
    assert_eq!(parse(&text).unwrap().addr, local);
}

#[test]
fn hotline_offer_is_exact_and_reads_back() {
    let local: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let text = build_offer(
        local,
        &[Codec::Pcmu, Codec::Pcma],
        101,
        20,
        Direction::SendRecv,
        42,
        1,
    );
    assert_eq!(
        text,
        sdp(&[
            "v=0",
            "o=hotline 42 1 IN IP4 10.0.0.1",
            "s=hotline",
            "c=IN IP4 10.0.0.1",
            "t=0 0",
            "m=audio 40000 RTP/AVP 0 8 101",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            "a=ptime:20",
            "a=sendrecv",
        ])
    );
    for direction in [
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ] {
        for (codecs, te, ptime) in [
            (ALL, 101, 20),
            (&[Codec::Pcma, Codec::Pcmu][..], 96, 30),
            (&[Codec::Pcma][..], 127, 10),
        ] {
            let back = parse(&build_offer(local, codecs, te, ptime, direction, 42, 3)).unwrap();
            let expected: Vec<(u8, Codec)> =
                codecs.iter().map(|c| (c.payload_type(), *c)).collect();
            assert_eq!(back.codecs().collect::<Vec<_>>(), expected);
            assert_eq!(
                back.formats.last().map(|f| (f.pt, f.codec)),
                Some((te, None))
            );
            assert_eq!(
                (back.addr, back.telephone_event, back.ptime, back.direction),
                (local, Some(te), ptime, direction)
            );
            assert_eq!(
                (back.session_id, back.session_version, back.null_address),
                (42, 3, false)
            );
        }
    }
}

/// The trunk offers μ-law only; hotline answers it, offers the seat both
/// laws, and the seat answers A-law: the legs differ, so hotline transcodes.
#[test]
fn trunk_and_seat_settling_on_different_laws() {
    let trunk_offer = parse(&sipp_trunk().replace("RTP/AVP 8 0 101", "RTP/AVP 0 101")).unwrap();
    let trunk_leg = negotiate(&trunk_offer, ALL).unwrap();
    assert_eq!(trunk_leg.codec, Codec::Pcmu);

    let to_seat = build_offer(
        "10.0.0.1:40004".parse().unwrap(),
        ALL,
        101,
        20,
        Direction::SendRecv,
        77,
        1,
    );
    let seat_answer = sdp(&[
        "v=0",
        "o=- 20031 20031 IN IP4 192.168.10.21",
        "s=SDP data",
        "c=IN IP4 192.168.10.21",
        "t=0 0",
        "m=audio 11800 RTP/AVP 8 101",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        "a=sendrecv",
    ]);
    let ours = parse(&to_seat).unwrap();
    let seat_leg = negotiate(
        &parse(&seat_answer).unwrap(),
        &ours.codecs().map(|(_, c)| c).collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(
        (seat_leg.codec, seat_leg.remote),
        (Codec::Pcma, "192.168.10.21:11800".parse().unwrap())
    );
    assert_ne!(trunk_leg.codec, seat_leg.codec);
}

#[test]
fn garbage_is_an_error_never_a_panic() {
    for text in [
        "",
        "hello",
        "v=1\r\n",
        "v=0\r\n",
        "=\r\n",
        "v=0\r\no=\r\n",
        "<html><body>502</body></html>",
        "\r\n\r\n",
        "m=audio 1 RTP/AVP 0",
    ] {
        assert!(
            matches!(parse(text), Err(SdpError::Syntax(_))),
            "{text:?}: {:?}",
            parse(text)
        );
    }
    let overflow = sipp_trunk().replace("m=audio 6000", "m=audio 70000");
    assert!(matches!(parse(&overflow), Err(SdpError::Syntax(_))));

    // Every prefix of real SDP, and random damage to it: any outcome but a panic.
    let samples = [sipp_trunk(), yealink(), grandstream()];
    for text in &samples {
        for end in 0..=text.len() {
            let _ = parse(&text[..end]).and_then(|m| negotiate(&m, ALL));
        }
    }
    let alphabet = b"v=oscmtab0123456789 :/\r\n.-IPNRTAVx";
    let mut rng = Rng::seeded(3264);
    for _ in 0..3000 {
        let mut bytes = samples[rng.below(3) as usize].clone().into_bytes();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len() as u64) as usize;
            let byte = alphabet[rng.below(alphabet.len() as u64) as usize];
            match rng.below(3) {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => drop(bytes.remove(at)),
            }
        }
        let text = String::from_utf8(bytes).unwrap();
        if let Ok(media) = parse(&text) {
            let _ = negotiate(&media, ALL);
        }
    }
}

#[test]
fn rtcp_attribute_names_the_rtcp_port_and_address() {
    // baresip writes a=rtcp with its port; RFC 3605 allows an address too.
    let with = |attr: &str| {
        let text = sipp_trunk().replace("a=ptime:20\r\n", &format!("a=ptime:20\r\n{attr}\r\n"));
        parse(&text).unwrap().rtcp
    };
    assert_eq!(
        parse(&sipp_trunk()).unwrap().rtcp,
        None,
        "no a=rtcp: port + 1"
    );
    assert_eq!(with("a=rtcp:6001"), Some("127.0.0.1:6001".parse().unwrap()));
    assert_eq!(
        with("a=rtcp:53020 IN IP4 192.0.2.9"),
        Some("192.0.2.9:53020".parse().unwrap())
    );
    assert_eq!(
        with("a=rtcp:53020 IN IP6 2001:db8::9"),
        Some("[2001:db8::9]:53020".parse().unwrap())
    );
    for bad in [
        "a=rtcp:",
        "a=rtcp:0",
        "a=rtcp:x",
        "a=rtcp:99999",
        "a=rtcp:5 IN IP4 host.example",
        "a=rtcp:5 IN IP6 192.0.2.1",
    ] {
        assert_eq!(with(bad), None, "{bad}");
    }
}
