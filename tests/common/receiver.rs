//! The test ticket system: tests/receiver/ticket_receiver.py, a real HTTP
//! server on Python's standard library, written apart from hotline. It
//! checks signatures, deduplicates by Idempotency-Key, can be told to fail,
//! and logs every request as a JSON line.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

const RECEIVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/receiver/ticket_receiver.py"
);

pub struct Receiver {
    child: Child,
    log: PathBuf,
}

impl Receiver {
    /// Starts the receiver on `port` with `secret`, failing per `plan`.
    pub fn start(dir: &Path, port: u16, secret: &str, plan: &str) -> Receiver {
        let log = dir.join("receiver.jsonl");
        let child = Command::new("python3")
            .args([
                RECEIVER,
                &port.to_string(),
                secret,
                log.to_str().unwrap(),
                plan,
            ])
            .spawn()
            .expect("start python3 ticket receiver");
        // Dropped (killed and waited for) on every path from here.
        let rx = Receiver { child, log };
        // Ready once it accepts connections.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return rx;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the ticket receiver did not start on port {port}");
    }

    /// Every request it logged.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The events that took effect (accepted, not duplicates), in order.
    pub fn effective(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["status"] == 201 && r["duplicate"] == false)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
