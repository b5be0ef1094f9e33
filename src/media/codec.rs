//! G.711 (ITU-T G.711): μ-law (PCMU, RTP payload type 0) and A-law
//! (PCMA, payload type 8), the two codecs hotline speaks on both legs.
//!
//! One byte per sample at 8 kHz, so a payload is a run of codes and a
//! 20 ms packet holds 160 of them. Decoding is a lookup in a 256-entry
//! table, encoding a few shifts; transcoding between the laws is a lookup
//! in a 256-entry table too. All tables are built at compile time, and the
//! payload functions write into buffers the caller owns, so the relay's
//! packet path allocates nothing once those buffers have grown.
//!
//! Samples are 16-bit linear PCM. μ-law spans ±32124, A-law ±32256; each
//! encoder picks the code whose decision interval holds the sample, so a
//! round trip errs by at most half a quantisation step (μ-law clips beyond
//! ±32635).
//!
//! Transcoding maps each code to the other law's encoding of its decoded
//! value. ITU-T G.711's own conversion tables (Tables 3 and 4) round some
//! codes the other way, one step off; either is within a step of the
//! source.

/// One of the G.711 laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// μ-law, North America and Japan; RTP payload type 0.
    Pcmu,
    /// A-law, Europe and China's PSTN; RTP payload type 8.
    Pcma,
}

impl Codec {
    /// Both laws, μ-law first.
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    /// The static RTP payload type (RFC 3551 table 4).
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name in `a=rtpmap` (RFC 3551).
    pub const fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The RTP clock rate, which for G.711 is also the sample rate.
    pub const fn clock_rate(self) -> u32 {
        8000
    }

    /// Samples (and payload bytes) in a packet of `ptime_ms` milliseconds.
    pub const fn samples_per_packet(self, ptime_ms: u32) -> usize {
        (self.clock_rate() / 1000 * ptime_ms) as usize
    }

    /// The codec a static payload type stands for when no `a=rtpmap` says
    /// otherwise.
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.payload_type() == pt)
    }

    /// The codec an `a=rtpmap` encoding name names (case-insensitive).
    pub fn from_name(name: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// One code to a linear sample.
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Codec::Pcmu => ULAW_DECODE[code as usize],
            Codec::Pcma => ALAW_DECODE[code as usize],
        }
    }

    /// One linear sample to a code.
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => ulaw_encode(sample),
            Codec::Pcma => alaw_encode(sample),
        }
    }

    /// Appends the samples of `payload` to `out`.
    pub fn decode(self, payload: &[u8], out: &mut Vec<i16>) {
        let table = match self {
            Codec::Pcmu => &ULAW_DECODE,
            Codec::Pcma => &ALAW_DECODE,
        };
        out.extend(payload.iter().map(|&code| table[code as usize]));
    }

    /// Appends the codes of `samples` to `out`.
    pub fn encode(self, samples: &[i16], out: &mut Vec<u8>) {
        match self {
            Codec::Pcmu => out.extend(samples.iter().map(|&s| ulaw_encode(s))),
            Codec::Pcma => out.extend(samples.iter().map(|&s| alaw_encode(s))),
        }
    }

    /// Rewrites a payload of this law into `to`'s law, in place (a no-op
    /// when the laws match).
    pub fn transcode_in_place(self, to: Codec, payload: &mut [u8]) {
        if let Some(table) = transcode_table(self, to) {
            payload
                .iter_mut()
                .for_each(|code| *code = table[*code as usize]);
        }
    }

    /// Appends `payload`, transcoded from this law into `to`'s, to `out`.
    pub fn transcode(self, to: Codec, payload: &[u8], out: &mut Vec<u8>) {
        match transcode_table(self, to) {
            Some(table) => out.extend(payload.iter().map(|&code| table[code as usize])),
            None => out.extend_from_slice(payload),
        }
    }
}

fn transcode_table(from: Codec, to: Codec) -> Option<&'static [u8; 256]> {
    match (from, to) {
        (Codec::Pcmu, Codec::Pcma) => Some(&ULAW_TO_ALAW),
        (Codec::Pcma, Codec::Pcmu) => Some(&ALAW_TO_ULAW),
        _ => None,
    }
}

/// μ-law encoder bias: magnitudes are offset by 132 (33 in the standard's
/// 14-bit scale) so every segment starts at a power of two.
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude μ-law encodes before clipping (32767 minus the bias,
/// rounded down to the top of segment 7).
const ULAW_CLIP: i32 = 32635;

/// A linear sample to μ-law.
pub const fn ulaw_encode(sample: i16) -> u8 {
    let (magnitude, mask) = if sample < 0 {
        (-(sample as i32), 0x7F)
    } else {
        (sample as i32, 0xFF)
    };
    let biased = if magnitude > ULAW_CLIP {
        ULAW_CLIP
    } else {
        magnitude
    } + ULAW_BIAS;
    // biased is in 132..=32767: its top bit (7..=14) gives the segment.
    let segment = (31 - biased.leading_zeros() as i32) - 7;
    let mantissa = (biased >> (segment + 3)) & 0x0F;
    (((segment << 4) | mantissa) ^ mask) as u8
}

/// μ-law to a linear sample, computed (the tables are built from this).
const fn ulaw_decode_calc(code: u8) -> i16 {
    let code = !code;
    let segment = (code >> 4) & 0x07;
    let biased = ((((code & 0x0F) as i32) << 3) + ULAW_BIAS) << segment;
    (if code & 0x80 != 0 {
        ULAW_BIAS - biased
    } else {
        biased - ULAW_BIAS
    }) as i16
}

/// A linear sample to A-law.
pub const fn alaw_encode(sample: i16) -> u8 {
    // A-law works on 13 bits; negative values are folded so -1..-8 (like
    // 0..7) land in the first interval.
    let scaled = (sample >> 3) as i32;
    let (magnitude, mask) = if scaled >= 0 {
        (scaled, 0xD5)
    } else {
        (-scaled - 1, 0x55)
    };
    // magnitude is in 0..=4095; segments 0 and 1 share a step of 2.
    let segment = if magnitude < 32 {
        0
    } else {
        (31 - magnitude.leading_zeros() as i32) - 4
    };
    let mantissa = if segment < 2 {
        (magnitude >> 1) & 0x0F
    } else {
        (magnitude >> segment) & 0x0F
    };
    (((segment << 4) | mantissa) ^ mask) as u8
}

/// A-law to a linear sample, computed (the tables are built from this).
const fn alaw_decode_calc(code: u8) -> i16 {
    let code = code ^ 0x55;
    let segment = ((code >> 4) & 0x07) as i32;
    let step = ((code & 0x0F) as i32) << 4;
    let magnitude = match segment {
        0 => step + 8,
        _ => (step + 0x108) << (segment - 1),
    };
    (if code & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    }) as i16
}

/// A μ-law code to a linear sample.
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// An A-law code to a linear sample.
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

const fn decode_calc(codec: Codec, code: u8) -> i16 {
    match codec {
        Codec::Pcmu => ulaw_decode_calc(code),
        Codec::Pcma => alaw_decode_calc(code),
    }
}

const fn encode_calc(codec: Codec, sample: i16) -> u8 {
    match codec {
        Codec::Pcmu => ulaw_encode(sample),
        Codec::Pcma => alaw_encode(sample),
    }
}

const fn decode_table(codec: Codec) -> [i16; 256] {
    let mut table = [0; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = decode_calc(codec, code as u8);
        code += 1;
    }
    table
}

const fn transcode_table_for(from: Codec, to: Codec) -> [u8; 256] {
    let mut table = [0; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = encode_calc(to, decode_calc(from, code as u8));
        code += 1;
    }
    table
}

static ULAW_DECODE: [i16; 256] = decode_table(Codec::Pcmu);
static ALAW_DECODE: [i16; 256] = decode_table(Codec::Pcma);
static ULAW_TO_ALAW: [u8; 256] = transcode_table_for(Codec::Pcmu, Codec::Pcma);
static ALAW_TO_ULAW: [u8; 256] = transcode_table_for(Codec::Pcma, Codec::Pcmu);

#[cfg(test)]
mod tests;
