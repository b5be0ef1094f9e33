//! G.711 against known codes and, exhaustively, every sample and code.

use super::*;

/// Half the quantisation step of the μ-law code's segment.
fn ulaw_half_step(code: u8) -> i32 {
    4 << ((!code >> 4) & 0x07)
}

/// Half the quantisation step of the A-law code's segment.
fn alaw_half_step(code: u8) -> i32 {
    match ((code ^ 0x55) >> 4) & 0x07 {
        0 => 8,
        segment => 8 << (segment - 1),
    }
}

fn half_step(codec: Codec, code: u8) -> i32 {
    match codec {
        Codec::Pcmu => ulaw_half_step(code),
        Codec::Pcma => alaw_half_step(code),
    }
}

#[test]
fn payload_types_names_and_rates() {
    assert_eq!(
        (Codec::Pcmu.payload_type(), Codec::Pcmu.name()),
        (0, "PCMU")
    );
    assert_eq!(
        (Codec::Pcma.payload_type(), Codec::Pcma.name()),
        (8, "PCMA")
    );
    assert_eq!(Codec::Pcma.clock_rate(), 8000);
    assert_eq!(Codec::Pcmu.samples_per_packet(20), 160);
    assert_eq!(Codec::Pcma.samples_per_packet(30), 240);
    assert_eq!(Codec::from_static_payload_type(0), Some(Codec::Pcmu));
    assert_eq!(Codec::from_static_payload_type(8), Some(Codec::Pcma));
    assert_eq!(Codec::from_static_payload_type(9), None, "G.722");
    assert_eq!(Codec::from_name("pcma"), Some(Codec::Pcma));
    assert_eq!(Codec::from_name("PCMU"), Some(Codec::Pcmu));
    assert_eq!(Codec::from_name("G729"), None);
}

#[test]
fn ulaw_known_codes() {
    assert_eq!(ulaw_decode(0xFF), 0);
    assert_eq!(ulaw_decode(0x7F), 0, "negative zero");
    assert_eq!(ulaw_decode(0x00), -32124);
    assert_eq!(ulaw_decode(0x80), 32124);
    assert_eq!(ulaw_decode(0xCE), 988);
    assert_eq!(ulaw_encode(0), 0xFF);
    assert_eq!(ulaw_encode(-1), 0x7F);
    assert_eq!(ulaw_encode(1000), 0xCE);
    assert_eq!(ulaw_encode(i16::MAX), 0x80);
    assert_eq!(ulaw_encode(i16::MIN), 0x00);
}

#[test]
fn alaw_known_codes() {
    assert_eq!(alaw_decode(0xD5), 8);
    assert_eq!(alaw_decode(0x55), -8);
    assert_eq!(alaw_decode(0xAA), 32256);
    assert_eq!(alaw_decode(0x2A), -32256);
    assert_eq!(alaw_decode(0xFA), 1008);
    assert_eq!(alaw_encode(0), 0xD5);
    assert_eq!(alaw_encode(-1), 0x55);
    assert_eq!(alaw_encode(1000), 0xFA);
    assert_eq!(alaw_encode(i16::MAX), 0xAA);
    assert_eq!(alaw_encode(i16::MIN), 0x2A);
}

#[test]
fn every_sample_round_trips_within_half_a_step() {
    for codec in Codec::ALL {
        let mut previous = i16::MIN;
        for x in i16::MIN..=i16::MAX {
            let code = codec.encode_sample(x);
            let y = codec.decode_sample(code);
            let err = (i32::from(y) - i32::from(x)).abs();
            let clipped = codec == Codec::Pcmu && i32::from(x).abs() > ULAW_CLIP;
            if clipped {
                assert_eq!(y, if x < 0 { -32124 } else { 32124 }, "{codec:?} clips {x}");
            } else {
                assert!(
                    err <= half_step(codec, code),
                    "{codec:?}: {x} -> {code:#04x} -> {y}"
                );
            }
            assert!(y >= previous, "{codec:?} is monotonic at {x}");
            previous = y;
        }
    }
}

#[test]
fn every_code_round_trips_but_mulaw_negative_zero() {
    for code in 0..=255u8 {
        assert_eq!(
            Codec::Pcma.encode_sample(Codec::Pcma.decode_sample(code)),
            code
        );
        let expected = if code == 0x7F { 0xFF } else { code };
        assert_eq!(
            Codec::Pcmu.encode_sample(Codec::Pcmu.decode_sample(code)),
            expected
        );
    }
    let distinct = |codec: Codec| {
        let mut values: Vec<i16> = (0..=255).map(|c| codec.decode_sample(c)).collect();
        values.sort_unstable();
        values.dedup();
        values.len()
    };
    assert_eq!(distinct(Codec::Pcmu), 255);
    assert_eq!(distinct(Codec::Pcma), 256);
}

#[test]
fn transcoding_stays_within_half_a_step_of_the_target_law() {
    for (from, to) in [(Codec::Pcmu, Codec::Pcma), (Codec::Pcma, Codec::Pcmu)] {
        for code in 0..=255u8 {
            let mut out = [code];
            from.transcode_in_place(to, &mut out);
            let err =
                (i32::from(to.decode_sample(out[0])) - i32::from(from.decode_sample(code))).abs();
            assert!(
                err <= half_step(to, out[0]),
                "{from:?} {code:#04x} -> {to:?} {:#04x}",
                out[0]
            );
        }
    }
}

/// There and back is the identity, except where the target law is
/// coarser: μ-law's 16 smallest magnitudes (A-law steps 16 there, μ-law
/// 8) and 16 A-law codes that straddle μ-law decision levels. Those
/// come back on the neighbouring code.
#[test]
fn transcoding_there_and_back_is_stable_or_moves_to_a_neighbour() {
    for (from, to) in [(Codec::Pcmu, Codec::Pcma), (Codec::Pcma, Codec::Pcmu)] {
        let mut levels: Vec<i16> = (0..=255).map(|c| from.decode_sample(c)).collect();
        levels.sort_unstable();
        levels.dedup();
        let mut moved = Vec::new();
        for code in 0..=255u8 {
            let mut buf = [code];
            from.transcode_in_place(to, &mut buf);
            to.transcode_in_place(from, &mut buf);
            if buf[0] == code {
                continue;
            }
            let (a, b) = (from.decode_sample(code), from.decode_sample(buf[0]));
            let (lo, hi) = (a.min(b), a.max(b));
            assert!(
                !levels.iter().any(|&v| lo < v && v < hi),
                "{from:?} {code:#04x} jumped to {:#04x}",
                buf[0]
            );
            moved.push(code);
        }
        assert_eq!(moved.len(), 16, "{from:?}: {moved:02x?}");
        if from == Codec::Pcmu {
            assert!(moved.iter().all(|&c| from.decode_sample(c).abs() <= 112));
        }
    }
}

#[test]
fn payload_functions_append_into_buffers_without_reallocating() {
    let samples: Vec<i16> = (0..160)
        .map(|i| ((i * 409) % 65536 - 32768) as i16)
        .collect();
    let mut codes = Vec::with_capacity(320);
    let ptr = codes.as_ptr();
    Codec::Pcmu.encode(&samples, &mut codes);
    Codec::Pcmu.encode(&samples[..10], &mut codes);
    assert_eq!(codes.len(), 170);
    assert_eq!(codes.as_ptr(), ptr, "no reallocation");
    assert!(
        codes
            .iter()
            .zip(&samples)
            .all(|(&c, &s)| c == ulaw_encode(s))
    );

    let mut pcm = vec![7i16];
    Codec::Pcmu.decode(&codes[..160], &mut pcm);
    assert_eq!(pcm.len(), 161);
    assert_eq!(pcm[0], 7, "decode appends");
    assert!(
        pcm[1..]
            .iter()
            .zip(&codes)
            .all(|(&s, &c)| s == ulaw_decode(c))
    );

    let mut alaw = Vec::new();
    Codec::Pcmu.transcode(Codec::Pcma, &codes[..160], &mut alaw);
    let mut in_place = codes[..160].to_vec();
    Codec::Pcmu.transcode_in_place(Codec::Pcma, &mut in_place);
    assert_eq!(alaw, in_place);
    assert!(
        alaw.iter()
            .zip(&codes)
            .all(|(&a, &u)| a == alaw_encode(ulaw_decode(u)))
    );

    let mut same = codes[..160].to_vec();
    Codec::Pcma.transcode_in_place(Codec::Pcma, &mut same);
    assert_eq!(same, codes[..160]);
    let mut copied = Vec::new();
    Codec::Pcmu.transcode(Codec::Pcmu, &codes[..3], &mut copied);
    assert_eq!(copied, codes[..3]);
}
