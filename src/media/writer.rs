//! The recording writers: a few blocking threads, shared by every call,
//! writing the recordings off the packet path.
//!
//! ```text
//!   RTP worker: Recorder --chunk of 0.5 s (Vec<i16>)--> writer thread k (call id % k)
//!                                                         | RecordingWriter per open call
//!   tokio task: Recorder::finish --Close--> writer: hands the file back
//!               --> blocking task: RecordingWriter::finish (header, sync, SHA-256)
//! ```
//!
//! A call's RTP worker gathers its 20 ms frames into chunks and hands over
//! one chunk every [`CHUNK_FRAMES`] frames, so a writer thread wakes a
//! couple of times a second per call rather than fifty, and a slow disk
//! holds up only the chunks (the channels are unbounded), never a packet.
//! The writers end once every [`Recordings`] handle and [`Recorder`] is
//! gone (the RTP workers stopped, at shutdown), finishing the recordings
//! still open; the runtime waits for them.

use super::driver::RecordingTarget;
use super::wav::{RecordingInfo, RecordingWriter};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Frames (20 ms each) a call gathers before handing them to its writer:
/// half a second, half of the writer's flush interval.
pub const CHUNK_FRAMES: usize = 25;

/// Stereo samples in a chunk.
const CHUNK_SAMPLES: usize = CHUNK_FRAMES * 2 * super::record::FRAME;

enum Write {
    Open {
        id: u64,
        target: RecordingTarget,
    },
    Audio {
        id: u64,
        samples: Vec<i16>,
    },
    /// The call ended: the open file goes back (to be finished on a
    /// blocking task), or, without `done`, is finished here.
    Close {
        id: u64,
        done: Option<oneshot::Sender<Result<RecordingWriter, String>>>,
    },
}

/// The writer threads; cheap to clone.
#[derive(Debug, Clone)]
pub struct Recordings {
    writers: Arc<[mpsc::Sender<Write>]>,
    next_id: Arc<AtomicU64>,
}

impl Recordings {
    /// Starts `threads` writer threads on the runtime's blocking pool.
    pub fn start(threads: usize) -> Recordings {
        let writers: Vec<mpsc::Sender<Write>> = (0..threads.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel();
                tokio::task::spawn_blocking(move || write_loop(rx));
                tx
            })
            .collect();
        Recordings {
            writers: writers.into(),
            next_id: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Starts a call's recording.
    pub fn open(&self, target: RecordingTarget) -> Recorder {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let writer = self.writers[(id % self.writers.len() as u64) as usize].clone();
        let _ = writer.send(Write::Open { id, target });
        Recorder {
            id,
            writer,
            chunk: Vec::with_capacity(CHUNK_SAMPLES),
            closed: false,
        }
    }
}

/// One call's recording, as its RTP worker sees it.
pub struct Recorder {
    id: u64,
    writer: mpsc::Sender<Write>,
    chunk: Vec<i16>,
    closed: bool,
}

impl Recorder {
    /// Appends interleaved stereo samples (a 20 ms frame).
    pub fn frame(&mut self, samples: &[i16]) {
        self.chunk.extend_from_slice(samples);
        if self.chunk.len() >= CHUNK_SAMPLES {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        if !self.chunk.is_empty() {
            let samples = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_SAMPLES));
            let _ = self.writer.send(Write::Audio {
                id: self.id,
                samples,
            });
        }
    }

    /// Writes what is left, then finishes the file (final header, sync,
    /// hash) on a blocking task.
    pub async fn finish(mut self) -> Result<RecordingInfo, String> {
        self.hand_over();
        self.closed = true;
        let (done, file) = oneshot::channel();
        let _ = self.writer.send(Write::Close {
            id: self.id,
            done: Some(done),
        });
        let w = file
            .await
            .map_err(|_| "recording thread failed: the writer stopped".to_string())??;
        tokio::task::spawn_blocking(move || {
            w.finish()
                .map_err(|e| format!("finishing the recording: {e}"))
        })
        .await
        .map_err(|e| format!("recording thread failed: {e}"))?
    }
}

impl Drop for Recorder {
    /// Dropped without [`Recorder::finish`] (the RTP workers stopping at
    /// shutdown, or the finishing task cut short): what it gathered is
    /// written and the writer finishes the file.
    fn drop(&mut self) {
        if !self.closed {
            self.hand_over();
            let _ = self.writer.send(Write::Close {
                id: self.id,
                done: None,
            });
        }
    }
}

fn write_loop(rx: mpsc::Receiver<Write>) {
    let mut open: HashMap<u64, Result<RecordingWriter, String>> = HashMap::new();
    for cmd in rx {
        match cmd {
            Write::Open { id, target } => {
                let w = RecordingWriter::create(
                    &target.root,
                    &target.class,
                    &target.call_id,
                    target.started,
                )
                .map_err(|e| {
                    format!(
                        "cannot create the recording under {}: {e}",
                        target.root.display()
                    )
                });
                open.insert(id, w);
            }
            Write::Audio { id, samples } => {
                if let Some(entry) = open.get_mut(&id)
                    && let Ok(w) = entry
                    && let Err(e) = w.write_frame(&samples)
                {
                    *entry = Err(format!("writing {}: {e}", w.path().display()));
                }
            }
            Write::Close { id, done } => {
                let w = open
                    .remove(&id)
                    .unwrap_or_else(|| Err("recording thread failed: unknown recording".into()));
                // Nobody to hand it to (the finishing task is gone): finish it here.
                let orphan = match done {
                    Some(done) => done.send(w).err(),
                    None => Some(w),
                };
                if let Some(Ok(w)) = orphan {
                    let _ = w.finish();
                }
            }
        }
    }
    for w in open.into_values().flatten() {
        let _ = w.finish();
    }
}
