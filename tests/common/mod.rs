//! Test harness: starts the real `hotline` binary on ports chosen at run
//! time, from `config/demo.toml` with its addresses replaced, and drives
//! it with SIPp as trunk and as seat phones.
#![allow(dead_code)]

pub mod baresip;
pub mod receiver;
pub mod rtp;

use serde_json::Value;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SIPP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");

/// The demo config's API token with every access.
pub const ADMIN_TOKEN: &str = "demo-admin-token-change-me";

/// A port free for both UDP and TCP on 127.0.0.1.
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `n` consecutive UDP ports free on 127.0.0.1, starting at an even one,
/// for a hotline instance's `[media]` RTP range.
pub fn free_udp_range(n: u16) -> (u16, u16) {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Each call (tests run in parallel threads) takes its own slice, from
    // a start that differs between test processes.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    loop {
        let slot = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = 30000 + ((std::process::id() as u16 % 50) * 40 + slot) % 700 * 40;
        if (base..base + n).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return (base, base + n - 1);
        }
    }
}

/// The demo config with its `[media]` section removed: SDP passes end to
/// end and hotline never touches audio.
pub fn without_media(config: String) -> String {
    // Callbacks are recorded: [outbound] needs [media] and goes with it.
    let config = without_section(config, "outbound.patterns");
    let config = without_section(config, "outbound");
    assert!(config.contains("\n[media]\n"), "the demo has [media]");
    without_section(config, "media")
}

/// `config` without its `[name]` section (up to the next section), if any.
pub fn without_section(config: String, name: &str) -> String {
    let Some(start) = config.find(&format!("\n[{name}]\n")) else {
        return config;
    };
    let end = config[start + 1..]
        .find("\n[")
        .map_or(config.len(), |i| start + 1 + i);
    format!("{}{}", &config[..start], &config[end..])
}

fn spawn_hotline(dir: &Path, config: &Path) -> Child {
    let log = std::fs::File::create(dir.join("hotline.log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["serve", "--config"])
        .arg(config)
        .current_dir(dir)
        .env("HOTLINE_LOG", "hotline=debug,info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start hotline")
}

pub struct Hotline {
    child: Child,
    pub dir: tempfile::TempDir,
    pub phones: SocketAddr,
    pub trunk: SocketAddr,
    pub http: String,
    pub config_path: PathBuf,
    /// The port of the ticket system's URL (nothing listens unless the
    /// test starts a receiver there).
    pub tickets_port: u16,
}

impl Hotline {
    /// Starts hotline on the demo config with fresh ports and database;
    /// `edit` may change the config text first. A port another test took
    /// between choosing and binding it means a new try with new ports.
    pub fn start(edit: impl Fn(String) -> String) -> Hotline {
        for _ in 0..3 {
            match Hotline::try_start(&edit) {
                Ok(h) => return h,
                Err(log) if log.contains("in use") => eprintln!(
                    "a port was taken meanwhile; trying new ones:\n{}",
                    tail(&log, 5)
                ),
                Err(log) => panic!("hotline did not become healthy; log:\n{log}"),
            }
        }
        panic!("hotline could not bind its ports in three tries");
    }

    fn try_start(edit: &impl Fn(String) -> String) -> Result<Hotline, String> {
        let dir = tempfile::tempdir().unwrap();
        let (pp, tp, hp) = (free_port(), free_port(), free_port());
        let (rtp_min, rtp_max) = free_udp_range(24);
        let tickets_port = free_port();
        let demo =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml"))
                .unwrap();
        let text = demo
            // Quoted, so that a new port (say 50805) is never matched again.
            .replace("\"127.0.0.1:5060\"", &format!("\"127.0.0.1:{pp}\""))
            .replace("\"127.0.0.1:5080\"", &format!("\"127.0.0.1:{tp}\""))
            .replace("\"127.0.0.1:8080\"", &format!("\"127.0.0.1:{hp}\""))
            .replace(
                "\"sqlite://hotline.db\"",
                &format!("\"sqlite://{}/hotline.db\"", dir.path().display()),
            )
            // An RTP range of its own (tests run in parallel), and the
            // shipped prompts (hotline runs in a temporary directory).
            .replace(
                "\"http://127.0.0.1:9099/tickets\"",
                &format!("\"http://127.0.0.1:{tickets_port}/tickets\""),
            )
            .replace("rtp_port_min = 20000", &format!("rtp_port_min = {rtp_min}"))
            .replace("rtp_port_max = 20999", &format!("rtp_port_max = {rtp_max}"))
            .replace(
                "prompts_dir = \"config/prompts\"",
                &format!(
                    "prompts_dir = \"{}/config/prompts\"",
                    env!("CARGO_MANIFEST_DIR")
                ),
            );
        let text = edit(text);
        let config_path = dir.path().join("hotline.toml");
        std::fs::write(&config_path, text).unwrap();
        let child = spawn_hotline(dir.path(), &config_path);
        let mut h = Hotline {
            child,
            phones: format!("127.0.0.1:{pp}").parse().unwrap(),
            trunk: format!("127.0.0.1:{tp}").parse().unwrap(),
            http: format!("http://127.0.0.1:{hp}"),
            config_path,
            dir,
            tickets_port,
        };
        h.wait_healthy()?;
        Ok(h)
    }

    /// Kills hotline (SIGKILL, as a crash) and starts it again in the same
    /// directory on the same config.
    pub fn crash_and_restart(&mut self) {
        self.kill();
        let old = std::fs::read_to_string(self.dir.path().join("hotline.log")).unwrap_or_default();
        std::fs::write(self.dir.path().join("hotline.before-crash.log"), old).unwrap();
        self.child = spawn_hotline(self.dir.path(), &self.config_path);
        if let Err(log) = self.wait_healthy() {
            panic!("hotline did not come back after the crash; log:\n{log}");
        }
    }

    /// Waits for /api/health; `Err` with the log if hotline exits first
    /// or takes more than 20 s.
    fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::blocking::get(format!("{}/api/health", self.http))
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("(exited: {status})\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("(not healthy after 20 s)\n{}", self.log()))
    }

    /// Waits for a file named `name` anywhere under the working directory.
    pub fn wait_file(&self, name: &str, timeout: Duration) -> PathBuf {
        self.wait_file_where(timeout, |p| p.file_name().is_some_and(|n| n == name))
    }

    /// Waits for a file under the working directory for which `want` holds.
    pub fn wait_file_where(&self, timeout: Duration, want: impl Fn(&Path) -> bool) -> PathBuf {
        fn find(dir: &Path, want: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
            for entry in std::fs::read_dir(dir).ok()?.flatten() {
                let p = entry.path();
                if p.is_dir() {
                    if let Some(f) = find(&p, want) {
                        return Some(f);
                    }
                } else if want(&p) {
                    return Some(p);
                }
            }
            None
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(p) = find(self.dir.path(), &want) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "no such file appeared; log tail:\n{}",
                tail(&self.log(), 40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("hotline.log")).unwrap_or_default()
    }

    /// GETs a JSON body, with the demo's admin token.
    pub fn get(&self, path: &str) -> Value {
        let r = reqwest::blocking::Client::new()
            .get(format!("{}{path}", self.http))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .expect("GET");
        r.json().expect("JSON body")
    }

    /// GET with the status: (status, JSON body or null).
    pub fn get_status(&self, path: &str) -> (u16, Value) {
        let r = reqwest::blocking::Client::new()
            .get(format!("{}{path}", self.http))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .expect("GET");
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    pub fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let r = reqwest::blocking::Client::new()
            .put(format!("{}{path}", self.http))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .expect("PUT");
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    /// POSTs `body` as JSON (nothing for `Value::Null`).
    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let mut req = reqwest::blocking::Client::new()
            .post(format!("{}{path}", self.http))
            .bearer_auth(ADMIN_TOKEN);
        if !body.is_null() {
            req = req.json(&body);
        }
        let r = req.send().expect("POST");
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    /// The last `n` call records, newest first.
    pub fn calls(&self, n: usize) -> Vec<Value> {
        self.get(&format!("/api/calls?limit={n}"))["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Polls until `f` holds or the timeout passes.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut f: impl FnMut(&Hotline) -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if f(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out waiting for {what}; log tail:\n{}",
            tail(&self.log(), 60)
        );
    }

    /// A seat's state as the API reports it.
    pub fn seat_state(&self, ext: &str) -> Value {
        let seats = self.get("/api/seats");
        seats["seats"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["extension"] == ext).cloned())
            .unwrap_or(Value::Null)
    }

    /// Sends a signal (`"HUP"`, ...) to hotline.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([format!("-{signal}").as_str(), &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Sends SIGTERM and waits (up to `within`) for a clean exit.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        self.signal("TERM");
        self.wait_exit(within)
    }

    /// Waits for hotline to exit, at most `within`.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "hotline did not exit in time; log:\n{}",
                tail(&self.log(), 40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Hotline {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- hotline log tail ---\n{}", tail(&self.log(), 80));
        }
        self.kill();
    }
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One SIPp run: scenario file, local address, remote target, options.
pub struct Sipp {
    args: Vec<String>,
    dir: PathBuf,
}

impl Sipp {
    /// `scenario` is a file in tests/sipp; `{{KEY}}` placeholders are
    /// replaced from `vars`.
    pub fn new(scenario: &str, local_ip: &str, port: u16, remote: SocketAddr) -> Sipp {
        let dir = tempfile::tempdir().unwrap().keep();
        let text = std::fs::read_to_string(Path::new(SIPP_DIR).join(scenario)).unwrap();
        let sf = dir.join(scenario);
        std::fs::write(&sf, text).unwrap();
        let mut args = vec![
            remote.to_string(),
            "-sf".into(),
            sf.display().to_string(),
            "-i".into(),
            local_ip.into(),
            "-p".into(),
            port.to_string(),
            "-nostdin".into(),
            "-trace_err".into(),
            "-error_file".into(),
            dir.join("errors.log").display().to_string(),
            "-timeout_error".into(),
        ];
        if std::env::var_os("HOTLINE_SIPP_TRACE").is_some() {
            // Every message SIPp sends and receives, for debugging a test.
            args.extend([
                "-trace_msg".into(),
                "-message_file".into(),
                dir.join("messages.log").display().to_string(),
            ]);
            eprintln!("SIPp message trace: {}", dir.join("messages.log").display());
        }
        Sipp { args, dir }
    }

    pub fn var(self, key: &str, value: &str) -> Sipp {
        let sf = self.args[2].clone();
        let text = std::fs::read_to_string(&sf)
            .unwrap()
            .replace(&format!("{{{{{key}}}}}"), value);
        std::fs::write(&sf, text).unwrap();
        self
    }

    pub fn arg(mut self, a: &str) -> Sipp {
        self.args.extend(a.split_whitespace().map(String::from));
        self
    }

    /// Credentials for seat `ext` with `password` (a CSV injection file).
    pub fn seat(self, ext: &str, password: &str) -> Sipp {
        let csv = self.dir.join("seat.csv");
        std::fs::write(
            &csv,
            format!(
                "SEQUENTIAL\n{ext};{password};[authentication username={ext} password={password}]\n"
            ),
        )
        .unwrap();
        let csv = csv.display().to_string();
        self.arg(&format!("-inf {csv}"))
    }

    pub fn spawn(&self) -> Child {
        Command::new("sipp")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sipp is installed (apt-get install sip-tester)")
    }

    /// Runs to the end; panics with SIPp's errors if it failed.
    pub fn run_ok(&self) {
        let out = self.spawn().wait_with_output().unwrap();
        self.check(&out, true);
    }

    pub fn check(&self, out: &Output, want_success: bool) {
        if out.status.success() != want_success {
            panic!(
                "sipp {} exited {:?}; errors:\n{}\nstderr:\n{}",
                self.args.join(" "),
                out.status.code(),
                tail(
                    &std::fs::read_to_string(self.dir.join("errors.log")).unwrap_or_default(),
                    60
                ),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// A SIPp seat phone: registers from `ip:port`, then runs `scenario` as
/// UAS on the same address for `calls` calls.
pub struct Seat {
    pub ext: String,
    pub child: Child,
    pub sipp: Sipp,
}

impl Seat {
    pub fn start(
        h: &Hotline,
        ext: &str,
        ip: &str,
        scenario: &str,
        calls: u32,
        extra: &str,
    ) -> Seat {
        Seat::start_over(h, "", ext, ip, scenario, calls, extra)
    }

    /// Like [`Seat::start`] with SIPp transport flags (e.g. `-t t1` for
    /// TCP) for both the registration and the answering phone.
    pub fn start_over(
        h: &Hotline,
        transport: &str,
        ext: &str,
        ip: &str,
        scenario: &str,
        calls: u32,
        extra: &str,
    ) -> Seat {
        let port = free_port_on(ip);
        Sipp::new("seat_register.xml", ip, port, h.phones)
            .seat(ext, &format!("demo-{ext}"))
            .arg(&format!("-m 1 -timeout 10s {transport}"))
            .run_ok();
        let sipp = Sipp::new(scenario, ip, port, h.phones)
            .arg(&format!("-m {calls} -timeout 60s {transport} {extra}"));
        let child = sipp.spawn();
        Seat {
            ext: ext.into(),
            child,
            sipp,
        }
    }

    /// Waits for the seat's SIPp to finish its calls and checks it succeeded.
    pub fn finish(self) {
        let out = self.child.wait_with_output().unwrap();
        self.sipp.check(&out, true);
    }
}

pub fn free_port_on(ip: &str) -> u16 {
    loop {
        let udp = UdpSocket::bind((ip, 0)).unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
}

/// A trunk call with SIPp to `line`; `hold_ms` is the talk time.
pub fn trunk(h: &Hotline, scenario: &str, line: &str, calls: u32, extra: &str) -> Sipp {
    let ip = "127.0.0.2";
    Sipp::new(scenario, ip, free_port_on(ip), h.trunk)
        .arg(&format!("-s {line} -m {calls} -timeout 60s {extra}"))
}
