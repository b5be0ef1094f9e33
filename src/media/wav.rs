//! Recording files: 8 kHz 16-bit stereo WAV (caller left, agent right)
//! written with hound so that a crash leaves a playable file, and the
//! start-up pass that finalises what a crash left behind.
//!
//! ```text
//!   <root>/<class>/<yyyy>/<mm>/<dd>/<call-id>.wav           the audio
//!   <root>/<class>/<yyyy>/<mm>/<dd>/<call-id>.wav.partial   while recording
//! ```
//!
//! The marker is created before the WAV and removed once
//! [`RecordingWriter::finish`] has written the final header, synced the
//! file and hashed it; a marker found at start-up
//! ([`finalise_unfinished`]) means the process died mid-call.
//!
//! Crash safety: every second of audio, hound's `flush` rewrites the RIFF
//! and data sizes and hands everything to the OS, so a `kill -9` leaves a
//! WAV that plays up to the last flush (the page cache outlives the
//! process; a power cut may lose more, as nothing is synced until
//! `finish`). Audio written after that flush may be on disk beyond the
//! header's sizes; the start-up repair keeps it, since the sizes are
//! recomputed from the file's length.
//!
//! Every recording has the one format this module writes, so the repair
//! writes that canonical 44-byte header ([`HEADER_LEN`], the same bytes
//! hound writes) rather than trusting what a crash left.

use super::record::RATE;
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use time::{OffsetDateTime, UtcOffset};

/// Bytes of RIFF header, `fmt ` chunk (PCMWAVEFORMAT) and `data` chunk
/// header before the first sample.
pub const HEADER_LEN: u64 = 44;

/// Bytes per stereo sample frame: two 16-bit samples.
const BLOCK_ALIGN: u64 = 4;

/// Stereo sample frames between header updates: one second.
const FLUSH_EVERY: u64 = RATE as u64;

/// Appended to the WAV's file name to make the marker's.
const MARKER_SUFFIX: &str = ".partial";

/// Longest file name stem kept from a call id or class, in bytes.
const MAX_STEM: usize = 180;

/// Attempts at a free name (`<call-id>.wav`, `<call-id>-2.wav`, ...).
const MAX_NAME_TRIES: u32 = 100;

/// A finished recording, for the call record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    /// Relative to the recordings root.
    pub path: PathBuf,
    pub duration_ms: u64,
    pub size_bytes: u64,
    /// SHA-256 of the whole file, lower-case hex.
    pub sha256: String,
}

/// One recording being written.
pub struct RecordingWriter {
    root: PathBuf,
    rel: PathBuf,
    wav: hound::WavWriter<BufWriter<File>>,
    /// Stereo sample frames written, and since the last flush.
    frames: u64,
    unflushed: u64,
}

impl RecordingWriter {
    /// Starts `root/<class>/<yyyy>/<mm>/<dd>/<call-id>.wav` and its marker.
    ///
    /// The date is `started` in UTC, not the center's local time (out of
    /// scope for now): a call just after local midnight east of UTC lands
    /// in the previous day's folder. Characters other than letters, digits
    /// and `._@+=-` in `class` and `call_id` become `_`; a name already
    /// taken gets `-2`, `-3`, ... appended.
    pub fn create(
        root: &Path,
        class: &str,
        call_id: &str,
        started: OffsetDateTime,
    ) -> io::Result<Self> {
        let (class, stem) = (file_stem(class)?, file_stem(call_id)?);
        let day = started.to_offset(UtcOffset::UTC);
        let dir = PathBuf::from(class)
            .join(format!("{:04}", day.year()))
            .join(format!("{:02}", u8::from(day.month())))
            .join(format!("{:02}", day.day()));
        fs::create_dir_all(root.join(&dir))?;
        for n in 1..=MAX_NAME_TRIES {
            let name = if n == 1 {
                format!("{stem}.wav")
            } else {
                format!("{stem}-{n}.wav")
            };
            let rel = dir.join(name);
            let path = root.join(&rel);
            // The marker first, so no crash leaves a WAV without one.
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(marker(&path))
            {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
            let file = match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => file,
                Err(e) => {
                    let _ = fs::remove_file(marker(&path));
                    if e.kind() == io::ErrorKind::AlreadyExists {
                        continue;
                    }
                    return Err(e);
                }
            };
            let mut wav = hound::WavWriter::new(BufWriter::new(file), spec()).map_err(io_error)?;
            wav.flush().map_err(io_error)?;
            return Ok(RecordingWriter {
                root: root.into(),
                rel,
                wav,
                frames: 0,
                unflushed: 0,
            });
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("no free recording name for {call_id:?}"),
        ))
    }

    /// Appends interleaved stereo samples (caller, agent, caller, ...);
    /// updates the header and flushes after every second of audio.
    pub fn write_frame(&mut self, samples: &[i16]) -> io::Result<()> {
        if !samples.len().is_multiple_of(2) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "stereo audio needs an even number of samples",
            ));
        }
        // Through hound's 16-bit block writer (one buffer write per 20 ms
        // frame) rather than a checked write per sample; same bytes.
        for block in samples.chunks(2 * super::record::FRAME) {
            let mut w = self.wav.get_i16_writer(block.len() as u32);
            for &s in block {
                w.write_sample(s);
            }
            w.flush().map_err(io_error)?;
        }
        let frames = (samples.len() / 2) as u64;
        self.frames += frames;
        self.unflushed += frames;
        if self.unflushed >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// Updates the header's sizes and hands everything to the OS: the file
    /// is a valid WAV of all audio so far.
    pub fn flush(&mut self) -> io::Result<()> {
        self.wav.flush().map_err(io_error)?;
        self.unflushed = 0;
        Ok(())
    }

    pub fn duration_ms(&self) -> u64 {
        self.frames * 1000 / u64::from(RATE)
    }

    /// The WAV's path relative to the root.
    pub fn path(&self) -> &Path {
        &self.rel
    }

    /// Writes the final header, syncs the file to disk, hashes it and
    /// removes the marker.
    pub fn finish(self) -> io::Result<RecordingInfo> {
        let RecordingWriter { root, rel, wav, .. } = self;
        wav.finalize().map_err(io_error)?;
        let path = root.join(&rel);
        let info = describe(&path, rel)?;
        File::open(&path)?.sync_all()?;
        fs::remove_file(marker(&path))?;
        Ok(info)
    }
}

/// Finds every recording a crash left unfinished under `root` (by its
/// marker), makes it a valid WAV of all whole sample frames on disk (an
/// empty one if not even the header made it), and removes the marker.
/// Returns what it fixed, by path. A file that cannot be fixed is logged
/// and keeps its marker for the next start; a missing `root` has nothing
/// to fix.
pub fn finalise_unfinished(root: &Path) -> io::Result<Vec<RecordingInfo>> {
    let mut markers = Vec::new();
    match find_markers(root, &mut markers) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other?,
    }
    markers.sort();
    let mut fixed = Vec::new();
    for m in markers {
        let wav = m.with_extension("");
        match finalise(root, &wav) {
            Ok(info) => fixed.push(info),
            Err(e) => {
                tracing::warn!(path = %wav.display(), error = %e, "cannot finalise an unfinished recording")
            }
        }
    }
    Ok(fixed)
}

fn finalise(root: &Path, wav: &Path) -> io::Result<RecordingInfo> {
    repair(wav)?;
    let rel = wav
        .strip_prefix(root)
        .map_err(io::Error::other)?
        .to_path_buf();
    let info = describe(wav, rel)?;
    fs::remove_file(marker(wav))?;
    Ok(info)
}

/// Cuts a trailing partial sample frame and writes the canonical header
/// for the audio left; a file shorter than a header becomes an empty WAV.
fn repair(path: &Path) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let len = file.metadata()?.len();
    let data = if len < HEADER_LEN {
        0
    } else {
        ((len - HEADER_LEN) / BLOCK_ALIGN * BLOCK_ALIGN).min(MAX_DATA)
    };
    file.set_len(HEADER_LEN + data)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&header(data as u32))?;
    file.sync_all()
}

/// The most audio a WAV's 32-bit sizes can describe, in whole frames.
const MAX_DATA: u64 = (u32::MAX as u64 - 36) / BLOCK_ALIGN * BLOCK_ALIGN;

/// The header hound writes for [`spec`] with `data` bytes of samples.
fn header(data: u32) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    let fields: [&[u8]; 13] = [
        b"RIFF",
        &(36 + data).to_le_bytes(),
        b"WAVE",
        b"fmt ",
        &16u32.to_le_bytes(),
        &1u16.to_le_bytes(), // PCM
        &2u16.to_le_bytes(), // channels
        &RATE.to_le_bytes(),
        &(RATE * BLOCK_ALIGN as u32).to_le_bytes(), // bytes per second
        &(BLOCK_ALIGN as u16).to_le_bytes(),
        &16u16.to_le_bytes(), // bits per sample
        b"data",
        &data.to_le_bytes(),
    ];
    let mut at = 0;
    for f in fields {
        h[at..at + f.len()].copy_from_slice(f);
        at += f.len();
    }
    h
}

fn spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// Size, duration (from the length, header excluded) and SHA-256 of a
/// finished file.
fn describe(path: &Path, rel: PathBuf) -> io::Result<RecordingInfo> {
    let mut file = File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        size += n as u64;
    }
    let frames = size.saturating_sub(HEADER_LEN) / BLOCK_ALIGN;
    Ok(RecordingInfo {
        path: rel,
        duration_ms: frames * 1000 / u64::from(RATE),
        size_bytes: size,
        sha256: hex(&hash.finalize()),
    })
}

fn find_markers(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            find_markers(&path, out)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".wav.partial"))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn marker(wav: &Path) -> PathBuf {
    let mut name = wav.as_os_str().to_owned();
    name.push(MARKER_SUFFIX);
    PathBuf::from(name)
}

/// `s` made safe as one path component.
fn file_stem(s: &str) -> io::Result<String> {
    let mut out = String::new();
    for c in s.chars() {
        let c = if c.is_alphanumeric() || "._@+=-".contains(c) {
            c
        } else {
            '_'
        };
        if out.len() + c.len_utf8() > MAX_STEM {
            break;
        }
        out.push(if out.is_empty() && c == '.' { '_' } else { c });
    }
    if out.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty recording class or call id",
        ));
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_error(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests;
