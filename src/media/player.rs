//! What hotline plays to a caller who is not talking to an agent: prompts
//! in order, then a loop (music on hold), 20 ms at a time.
//!
//! Clips are loaded once ([`load_clip`]: 8 kHz, 16-bit, mono WAV) and
//! shared; playing never allocates. The player says which clips it
//! finished so the engine can follow a prompt with the next step (listen
//! for the survey digit, hang up after "goodbye").

use super::record::FRAME;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

/// A prompt or a piece of music, decoded to 8 kHz linear PCM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clip {
    /// Where it came from (the file), for logs and events.
    pub name: Arc<str>,
    pub pcm: Arc<[i16]>,
}

impl Clip {
    pub fn new(name: &str, pcm: Vec<i16>) -> Clip {
        Clip {
            name: name.into(),
            pcm: pcm.into(),
        }
    }

    pub fn duration_ms(&self) -> u64 {
        self.pcm.len() as u64 / 8
    }
}

/// Why a prompt file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// The file is missing, unreadable or not a WAV file.
    #[error("{path}: {source}")]
    Read { path: String, source: hound::Error },
    /// The file is a WAV file of another format.
    #[error(
        "{path}: is {rate} Hz, {channels} channel(s), {bits}-bit; prompts must be 8000 Hz mono 16-bit PCM (convert with: sox in.wav -r 8000 -c 1 -b 16 out.wav)"
    )]
    Format {
        path: String,
        rate: u32,
        channels: u16,
        bits: u16,
    },
}

/// Reads a prompt: 8 kHz, mono, 16-bit PCM WAV.
pub fn load_clip(path: &Path) -> Result<Clip, ClipError> {
    let shown = path.display().to_string();
    let read = |source| ClipError::Read {
        path: shown.clone(),
        source,
    };
    let reader = hound::WavReader::open(path).map_err(read)?;
    let spec = reader.spec();
    if spec.sample_rate != 8000
        || spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(ClipError::Format {
            path: shown,
            rate: spec.sample_rate,
            channels: spec.channels,
            bits: spec.bits_per_sample,
        });
    }
    let pcm = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    Ok(Clip::new(&shown, pcm))
}

#[derive(Debug, Default)]
pub struct Player {
    clips: VecDeque<Clip>,
    /// Position in the front clip.
    pos: usize,
    looping: Option<Clip>,
    loop_pos: usize,
}

impl Player {
    /// Replaces what is playing: `clips` in order, then `then_loop` over
    /// and over (or silence when `None`).
    pub fn play(&mut self, clips: Vec<Clip>, then_loop: Option<Clip>) {
        self.clips = clips.into();
        self.pos = 0;
        if self.looping.as_ref().map(|c| &c.name) != then_loop.as_ref().map(|c| &c.name) {
            self.loop_pos = 0;
        }
        self.looping = then_loop;
    }

    /// Plays these clips first, then goes on with the loop where it was
    /// (an announcement breaking into the music).
    pub fn interject(&mut self, clips: Vec<Clip>) {
        self.clips = clips.into();
        self.pos = 0;
    }

    pub fn stop(&mut self) {
        self.clips.clear();
        self.looping = None;
    }

    /// Has something to play.
    pub fn active(&self) -> bool {
        !self.clips.is_empty() || self.looping.is_some()
    }

    /// Fills the next 20 ms; `finished` gets the clips that ended in it.
    pub fn next_frame(&mut self, out: &mut [i16; FRAME], finished: &mut Vec<Arc<str>>) {
        let mut filled = 0;
        while filled < FRAME {
            if let Some(clip) = self.clips.front() {
                let take = (clip.pcm.len() - self.pos).min(FRAME - filled);
                out[filled..filled + take].copy_from_slice(&clip.pcm[self.pos..self.pos + take]);
                filled += take;
                self.pos += take;
                if self.pos >= clip.pcm.len() {
                    finished.push(clip.name.clone());
                    self.clips.pop_front();
                    self.pos = 0;
                }
            } else if let Some(music) = self.looping.as_ref().filter(|m| !m.pcm.is_empty()) {
                let take = (music.pcm.len() - self.loop_pos).min(FRAME - filled);
                out[filled..filled + take]
                    .copy_from_slice(&music.pcm[self.loop_pos..self.loop_pos + take]);
                filled += take;
                self.loop_pos = (self.loop_pos + take) % music.pcm.len();
            } else {
                out[filled..].fill(0);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(name: &str, n: usize, base: i16) -> Clip {
        Clip::new(name, (0..n).map(|i| base + i as i16).collect())
    }

    #[test]
    fn clips_play_in_order_then_the_loop_repeats_and_interjections_resume_it() {
        let mut p = Player::default();
        p.play(vec![ramp("a", 200, 0)], Some(ramp("music", 300, 1000)));
        let mut f = [0i16; FRAME];
        let mut done = Vec::new();
        p.next_frame(&mut f, &mut done);
        assert_eq!(f[159], 159);
        assert!(done.is_empty());
        p.next_frame(&mut f, &mut done);
        assert_eq!(
            (f[39], f[40]),
            (199, 1000),
            "the clip ends, the music starts in the same frame"
        );
        assert_eq!(done, vec![Arc::from("a")]);
        p.next_frame(&mut f, &mut done); // music 120..280
        p.interject(vec![ramp("b", 160, 500)]);
        p.next_frame(&mut f, &mut done);
        assert_eq!(f[0], 500);
        p.next_frame(&mut f, &mut done);
        assert_eq!(
            (f[0], f[19], f[20]),
            (1280, 1299, 1000),
            "the music resumes where it was and wraps"
        );
    }

    #[test]
    fn nothing_to_play_is_silence() {
        let mut p = Player::default();
        let mut f = [7i16; FRAME];
        p.next_frame(&mut f, &mut Vec::new());
        assert!(f.iter().all(|s| *s == 0));
        assert!(!p.active());
    }

    #[test]
    fn shipped_prompts_load_and_a_wrong_format_is_refused_with_a_fix() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prompts");
        let welcome = load_clip(&root.join("zh/welcome.wav")).unwrap();
        assert!(welcome.duration_ms() > 1000);
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("cd.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        hound::WavWriter::create(&bad, spec)
            .unwrap()
            .finalize()
            .unwrap();
        let err = load_clip(&bad).unwrap_err().to_string();
        assert!(
            err.contains("44100 Hz, 2 channel(s)") && err.contains("sox in.wav -r 8000"),
            "{err}"
        );
        assert!(load_clip(&dir.path().join("missing.wav")).is_err());
    }
}
