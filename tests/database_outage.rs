//! The database goes away mid-run and comes back: calls keep flowing,
//! `/api/health` says `degraded` meanwhile, and every call's record reaches
//! the database once it is back. Against a PostgreSQL server of the
//! test's own (the machine's shared one cannot be stopped), started from
//! the PostgreSQL binaries installed here.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A PostgreSQL server in a temporary directory, on a free port.
struct PrivatePg {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

/// Runs a PostgreSQL binary as the `postgres` user when we are root (the
/// server refuses to run as root), as ourselves otherwise.
fn pg_command(bin: &Path, args: &[&str]) -> std::process::Output {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args).output().expect("run a PostgreSQL binary")
}

impl PrivatePg {
    fn start() -> PrivatePg {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.flatten().map(|e| e.path().join("bin")).find(|b| b.join("initdb").exists()))
            .expect("no PostgreSQL server binaries under /usr/lib/postgresql: install them with `apt-get install -y postgresql` (scripts/test.sh runs on a machine that has them)");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _ = Command::new("chown")
            .args(["postgres:postgres", &dir.path().display().to_string()])
            .status();
        let out = pg_command(
            &bin.join("initdb"),
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pg = PrivatePg {
            bin,
            data,
            port: free_port(),
            _dir: dir,
        };
        pg.start_again();
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start_again(&self) {
        let sock = self.data.parent().unwrap().display().to_string();
        let opts = format!(
            "-p {} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        let log = self
            .data
            .parent()
            .unwrap()
            .join("pg.log")
            .display()
            .to_string();
        let out = pg_command(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &self.data.display().to_string(),
                "-o",
                &opts,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&self, mode: &str) {
        let out = pg_command(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                mode,
                "-w",
                "stop",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = pg_command(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

#[test]
fn the_database_stopped_and_started_mid_run_loses_no_call_record() {
    let pg = PrivatePg::start();
    let url = pg.url();
    let h = Hotline::start(|c| {
        // The harness points [store] at a SQLite file of its own: this
        // test's PostgreSQL instead.
        let c: String = c
            .lines()
            .map(|l| match l.starts_with("url = \"sqlite://") {
                true => format!("url = \"{url}\""),
                false => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        without_media(c)
            .replace("wrapup_secs = 3", "wrapup_secs = 0")
            .replace("wrapup_secs = 5", "wrapup_secs = 0")
    });
    let seat = Seat::start(&h, "8004", "127.0.0.14", "seat_answer.xml", 16, "-d 300");
    // 16 calls, one a second, 300 ms each: the database is down from the
    // 4th second to the 10th.
    let calls = trunk(&h, "trunk_call.xml", "12345", 16, "-r 1 -d 300").spawn();
    std::thread::sleep(Duration::from_secs(4));
    pg.stop("fast");
    let down = Instant::now();
    let mut saw_degraded = false;
    let mut seen = Vec::new();
    while down.elapsed() < Duration::from_secs(6) {
        let (code, health) = h.get_status("/api/health");
        seen.push(format!("{:?} {code} {health}", down.elapsed()));
        if health["status"] == "degraded" && health["database"] == false {
            saw_degraded = true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        saw_degraded,
        "the health check said degraded while the database was down"
    );
    pg.start_again();
    let out = calls.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "every SIPp call succeeded: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    seat.finish();
    h.wait_for(
        "all 16 records in the database",
        Duration::from_secs(30),
        |h| {
            let calls = h.calls(100);
            calls.len() == 16 && calls.iter().all(|c| c["outcome"] == "answered")
        },
    );
    let (_, health) = h.get_status("/api/health");
    assert_eq!(
        (
            health["status"].as_str(),
            health["records_pending"].as_u64()
        ),
        (Some("ok"), Some(0)),
        "{health}"
    );
    assert_eq!(health["records_dropped"], 0, "{health}");
    let events = h.get("/api/events?kind=connect&limit=1000");
    assert_eq!(
        events["events"].as_array().unwrap().len(),
        16,
        "every event too"
    );
}
