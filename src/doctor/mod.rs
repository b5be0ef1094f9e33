//! `hotline doctor`: checks a config and the machine it is to run on, and
//! says what to fix, one line per check (ok, warn, FAIL, or skip when
//! there is nothing to check).
//!
//! ```text
//!  Config::load ──refused──▶ FAIL naming file, key and reason (nothing else checked)
//!       │
//!  facts::gather (IO, look.rs and options.rs: bind and release ports,
//!       │         probe directories, open the database as it is, read
//!       │         prompts, OPTIONS to the trunk, ask a running hotline's
//!       │         /api/health, read the clock)
//!       ▼
//!  judge.rs, peers.rs, exposure.rs (pure: facts -> checks) ──▶ lines
//! ```
//!
//! Ports already held are fine when a hotline answers `/api/health` on
//! `[http] listen`: the doctor may run beside the service it checks.
//! Nothing here changes anything: probe files are removed, the database is
//! not migrated, a missing SQLite file is not created.

mod exposure;
pub mod facts;
mod judge;
mod look;
pub mod options;
mod peers;
#[cfg(test)]
mod tests;

use crate::config::Config;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// What `hotline doctor` is asked to do beyond the config.
#[derive(Debug, Clone)]
pub struct Options {
    /// More trunk addresses to probe with OPTIONS (`--trunk`).
    pub trunks: Vec<SocketAddr>,
    /// How long a trunk has to answer.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            trunks: Vec::new(),
            timeout: Duration::from_secs(4),
        }
    }
}

/// A check's verdict, in order of gravity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    /// Nothing to check (the feature is off).
    Skip,
    /// Works, but look at it.
    Warn,
    /// hotline will not start, or something it needs will not work.
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the doctor's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub status: Status,
    /// What was checked: `port`, `database`, `trunk`, ...
    pub topic: &'static str,
    /// What was found, and for warn and FAIL what to do.
    pub text: String,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<5} {:<10} {}",
            self.status.as_str(),
            self.topic,
            self.text
        )
    }
}

/// Checks the config at `path` and its environment.
pub async fn run(path: &Path, opts: &Options) -> Vec<Check> {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => return vec![refused(&e)],
    };
    let facts = facts::gather(&config, opts).await;
    judge::judge(path, &config, &facts)
}

/// The one check of a config that does not load.
pub fn refused(e: &crate::config::ConfigError) -> Check {
    Check {
        status: Status::Fail,
        topic: "config",
        text: format!(
            "{}: {}: {}: fix that key, then run the doctor again (nothing else was checked)",
            e.file.display(),
            e.key,
            e.reason
        ),
    }
}

/// The closing line: how many of each, and what next.
pub fn summary(checks: &[Check], path: &Path) -> String {
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let (fail, warn) = (count(Status::Fail), count(Status::Warn));
    if fail > 0 {
        format!(
            "{fail} FAIL, {warn} warn: fix the FAIL lines, then run `hotline doctor --config {}` again",
            path.display()
        )
    } else if warn > 0 {
        format!("no FAIL, {warn} warn: hotline can start; read the warn lines")
    } else {
        "all ok".to_string()
    }
}

/// Whether hotline can start: no FAIL.
pub fn passed(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Status::Fail)
}

/// `first..last (n seats)` for long lists.
fn summarize(list: &[String]) -> String {
    match list {
        [] => String::new(),
        [one] => one.clone(),
        [first, .., last] => format!("{first}..{last}"),
    }
}
