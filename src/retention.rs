//! Recording retention: one pass over each class's recordings past its
//! retention period (`[recordings] retention_days`,
//! `emergency_retention_days`), deleting the files and marking their
//! records, or, dry, only looking at them.
//!
//! `hotline serve` runs a pass at start and every hour
//! (`server::sweep_recordings`); `hotline retention` runs one from the
//! command line, dry with `--dry-run`, with progress on big runs. Both are
//! this code, and safe to run at the same time: a file already gone
//! counts as deleted, and a record is marked once.
//!
//! ```text
//!  store.expired_summary ──▶ count, oldest/newest, bytes (the plan)
//!  store.expired_recordings_after ──▶ a page of 500 ──▶ stat / remove (blocking thread)
//!        ▲                                                   │
//!        └──── next page after the last ◀── mark deleted ◀───┘
//! ```
//!
//! A file that cannot be removed stays unmarked: the walk goes past it and
//! the next pass tries again. A path on a record that would leave its
//! recordings root (absolute, or with `..`) is never touched.

use crate::config::RecordingsConfig;
use crate::model::LineClass;
use crate::store::{ExpiredRecording, ExpiredSummary, Store, StoreError};
use std::path::{Component, Path, PathBuf};

/// Recordings looked at per database round trip.
const PAGE: i64 = 500;
/// Errors kept per class to show (all are counted).
const KEEP_ERRORS: usize = 5;

/// Delete, or only look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Remove the files and mark their records deleted.
    Delete,
    /// Change nothing; say what a real pass would do.
    DryRun,
}

/// What one pass found and did for one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassPass {
    pub class: LineClass,
    /// The retention period in days; `None`: kept for ever (0), and the
    /// class was not looked at.
    pub keep_days: Option<u64>,
    /// Recordings of calls that ended before this are past it.
    pub cutoff_ms: i64,
    /// The class's recordings root.
    pub root: PathBuf,
    /// What the database listed when the pass began.
    pub planned: ExpiredSummary,
    /// Files removed (dry: that would be).
    pub deleted: u64,
    /// Their size on disk.
    pub bytes: u64,
    /// Recordings whose file was already gone: marked (dry: would be).
    pub missing: u64,
    /// Files that could not be removed (or looked at): left for the next
    /// pass.
    pub failed: u64,
    /// The first few failures: path and why.
    pub errors: Vec<String>,
    /// Recordings looked at so far.
    pub done: u64,
}

impl ClassPass {
    fn new(recordings: &RecordingsConfig, class: LineClass, now_ms: i64) -> ClassPass {
        let keep = recordings.retention(class);
        ClassPass {
            class,
            keep_days: keep.map(|k| k.as_secs() / 86_400),
            cutoff_ms: keep.map_or(i64::MIN, |k| {
                now_ms.saturating_sub(i64::try_from(k.as_millis()).unwrap_or(i64::MAX))
            }),
            root: recordings.root_for(class).to_path_buf(),
            planned: ExpiredSummary::default(),
            deleted: 0,
            bytes: 0,
            missing: 0,
            failed: 0,
            errors: Vec::new(),
            done: 0,
        }
    }

    /// The config key holding this class's period.
    pub fn key(&self) -> &'static str {
        match self.class {
            LineClass::Emergency => "[recordings] emergency_retention_days",
            LineClass::NonEmergency => "[recordings] retention_days",
        }
    }

    /// Logs what a server pass did (nothing when there was nothing to do).
    pub fn log(&self) {
        let class = self.class.as_str();
        if self.deleted + self.missing > 0 {
            tracing::info!(
                class,
                deleted = self.deleted,
                already_gone = self.missing,
                bytes = self.bytes,
                days = self.keep_days.unwrap_or(0),
                "retention: deleted recordings past their retention period"
            );
        }
        if self.failed > 0 {
            tracing::warn!(
                class,
                failed = self.failed,
                first = self.errors.first().map_or("", |e| e.as_str()),
                "retention: cannot delete some recordings; check their permissions (tried again in an hour)"
            );
        }
    }
}

impl ClassPass {
    /// What the pass set out to do, one line: the period, the root and
    /// what the database listed (times in `tz`).
    pub fn plan(&self, tz: crate::reports::Tz) -> String {
        let at = |ms: i64| tz.format(ms - ms.rem_euclid(1000));
        let class = self.class.as_str();
        let Some(days) = self.keep_days else {
            return format!("{class}: {} = 0: kept for ever", self.key());
        };
        let p = &self.planned;
        let head = format!(
            "{class}: {} = {days}, root {}: ",
            self.key(),
            self.root.display()
        );
        match (p.count, p.oldest_ended_ms, p.newest_ended_ms) {
            (0, _, _) | (_, None, _) | (_, _, None) => format!(
                "{head}no recording of a call that ended before {}",
                at(self.cutoff_ms)
            ),
            (n, Some(oldest), Some(newest)) => format!(
                "{head}{n} recording(s) of calls that ended before {}: oldest {}, newest {}, {} on their records",
                at(self.cutoff_ms),
                at(oldest),
                at(newest),
                human_bytes(p.bytes)
            ),
        }
    }

    /// What it did (dry: would do), one line; `None` if it had nothing to do.
    pub fn outcome(&self, mode: Mode) -> Option<String> {
        if self.done == 0 && self.failed == 0 {
            return None;
        }
        let (deleted, marked) = match mode {
            Mode::Delete => ("deleted", "their records marked"),
            Mode::DryRun => ("would delete", "their records would be marked"),
        };
        let mut line = format!(
            "{}: {deleted} {} file(s), {}",
            self.class.as_str(),
            self.deleted,
            human_bytes(self.bytes)
        );
        if self.missing > 0 {
            line += &format!("; {} already gone ({marked})", self.missing);
        }
        if self.failed > 0 {
            line += &format!(
                "; {} cannot be {}, first: {}",
                self.failed,
                if mode == Mode::Delete {
                    "deleted"
                } else {
                    "read"
                },
                self.errors.first().map_or("", |e| e.as_str())
            );
        }
        Some(line)
    }

    /// Progress for a big pass: `non_emergency: 1500 of 52000 (2%)`.
    pub fn progress(&self) -> String {
        let total = self.planned.count.max(self.done);
        format!(
            "{}: {} of {total} ({}%)",
            self.class.as_str(),
            self.done,
            (self.done * 100).checked_div(total).unwrap_or(100)
        )
    }
}

/// What became of one recording of a page.
enum Fate {
    /// Removed (dry: there, would be removed), with its size.
    Gone(u64),
    /// Its file was not there.
    Missing,
    /// Left in place, and why.
    Kept(String),
}

/// One pass over both classes (emergency second), as of `now_ms`.
/// `progress` hears about each class once its plan is known (`done` 0),
/// then after each page. Stops at the first database error.
pub async fn run_pass(
    store: &Store,
    recordings: &RecordingsConfig,
    now_ms: i64,
    mode: Mode,
    progress: &mut (dyn FnMut(&ClassPass) + Send),
) -> Result<Vec<ClassPass>, StoreError> {
    let mut passes = Vec::new();
    for class in [LineClass::NonEmergency, LineClass::Emergency] {
        let mut pass = ClassPass::new(recordings, class, now_ms);
        if pass.keep_days.is_some() {
            pass.planned = store.expired_summary(class, pass.cutoff_ms).await?;
        }
        progress(&pass);
        if pass.planned.count > 0 {
            sweep_class(store, &mut pass, mode, progress).await?;
        }
        passes.push(pass);
    }
    Ok(passes)
}

async fn sweep_class(
    store: &Store,
    pass: &mut ClassPass,
    mode: Mode,
    progress: &mut (dyn FnMut(&ClassPass) + Send),
) -> Result<(), StoreError> {
    let mut after: Option<ExpiredRecording> = None;
    loop {
        let page = store
            .expired_recordings_after(pass.class, pass.cutoff_ms, after.as_ref(), PAGE)
            .await?;
        let Some(last) = page.last().cloned() else {
            break;
        };
        let root = pass.root.clone();
        let todo = page.clone();
        let fates = tokio::task::spawn_blocking(move || {
            todo.iter()
                .map(|r| handle_file(&root, &r.path, mode))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_else(|e| {
            page.iter()
                .map(|_| Fate::Kept(format!("internal error: {e}")))
                .collect()
        });
        let marked_at = crate::server::unix_ms_now();
        for (rec, fate) in page.iter().zip(fates) {
            let mark = match fate {
                Fate::Gone(bytes) => {
                    pass.deleted += 1;
                    pass.bytes += bytes;
                    true
                }
                Fate::Missing => {
                    pass.missing += 1;
                    true
                }
                Fate::Kept(why) => {
                    pass.failed += 1;
                    if pass.errors.len() < KEEP_ERRORS {
                        pass.errors.push(format!("{}: {why}", rec.path));
                    }
                    false
                }
            };
            if mark && mode == Mode::Delete {
                store.mark_recording_deleted(&rec.id, marked_at).await?;
            }
            pass.done += 1;
        }
        progress(pass);
        if page.len() < PAGE as usize {
            break;
        }
        after = Some(last);
    }
    Ok(())
}

/// Removes (or, dry, looks at) `rel` under `root`; then, for a real
/// removal, the day, month and year folders it leaves empty.
fn handle_file(root: &Path, rel: &str, mode: Mode) -> Fate {
    let rel = Path::new(rel);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Fate::Kept("the path leaves the recordings root; not touched".into());
    }
    let path = root.join(rel);
    let size = match std::fs::symlink_metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Fate::Missing,
        Err(e) => return Fate::Kept(e.to_string()),
    };
    if mode == Mode::DryRun {
        return Fate::Gone(size);
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Fate::Missing,
        Err(e) => return Fate::Kept(e.to_string()),
    }
    // <class>/<yyyy>/<mm>/<dd>/<id>.wav: at most the three date folders,
    // each only if empty (remove_dir refuses otherwise).
    let mut dir = rel.parent();
    for _ in 0..3 {
        match dir {
            Some(d) if d.components().count() > 1 => {
                if std::fs::remove_dir(root.join(d)).is_err() {
                    break;
                }
                dir = d.parent();
            }
            _ => break,
        }
    }
    Fate::Gone(size)
}

/// `n` bytes for people: `812 B`, `3.4 MB`, `1.2 GB` (powers of 1000).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_removed_with_the_date_folders_they_leave_empty() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let day = root.join("non_emergency/2025/01/02");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(day.join("a.wav"), b"RIFF1234").unwrap();
        std::fs::write(day.join("b.wav"), b"RIFF").unwrap();

        let rel = "non_emergency/2025/01/02/a.wav";
        assert!(matches!(
            handle_file(root, rel, Mode::DryRun),
            Fate::Gone(8)
        ));
        assert!(day.join("a.wav").exists(), "a dry run removes nothing");
        assert!(matches!(
            handle_file(root, rel, Mode::Delete),
            Fate::Gone(8)
        ));
        assert!(!day.join("a.wav").exists() && day.is_dir(), "b.wav stays");
        assert!(matches!(
            handle_file(root, rel, Mode::Delete),
            Fate::Missing
        ));

        let rel = "non_emergency/2025/01/02/b.wav";
        assert!(matches!(
            handle_file(root, rel, Mode::Delete),
            Fate::Gone(4)
        ));
        assert!(!root.join("non_emergency/2025").exists());
        assert!(
            root.join("non_emergency").is_dir(),
            "the class folder stays"
        );
    }

    #[test]
    fn paths_leaving_the_root_are_never_touched() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.wav");
        std::fs::write(&outside, b"x").unwrap();
        let root = dir.path().join("recordings");
        for rel in ["../outside.wav", outside.to_str().unwrap(), "a/../../x.wav"] {
            assert!(
                matches!(handle_file(&root, rel, Mode::Delete), Fate::Kept(_)),
                "{rel}"
            );
        }
        assert!(outside.exists());
    }

    #[test]
    fn sizes_read_like_df() {
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(3_400_000), "3.4 MB");
        assert_eq!(human_bytes(1_240_000_000), "1.2 GB");
    }
}
