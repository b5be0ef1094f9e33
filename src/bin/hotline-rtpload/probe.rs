//! Readings from /proc and the file system, taken at the window's start
//! and end: CPU time, time waiting for a CPU and RSS of named processes,
//! the machine's busy time,
//! UDP receive-buffer drops per local port range, and the bytes under the
//! recordings directory.

use std::path::Path;

/// Linux reports CPU times in /proc in USER_HZ ticks, 100 a second.
const USER_HZ: f64 = 100.0;

/// utime + stime of a process (all its threads), in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is the 3rd field.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / USER_HZ)
}

/// Time all threads of a process spent runnable but waiting for a CPU, in
/// seconds (the second field of each /proc/PID/task/TID/schedstat).
pub fn runq_wait_secs(pid: u32) -> Option<f64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        ns += text
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(ns as f64 / 1e9)
}

/// A field of /proc/PID/status in kB (VmRSS, VmHWM).
pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix(key)?
            .strip_prefix(':')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// The whole machine's busy and total time (all CPUs), in seconds.
pub fn machine_secs() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().sum();
    // idle and iowait are not busy.
    let idle = v.get(3)? + v.get(4).unwrap_or(&0.0);
    Some(((total - idle) / USER_HZ, total / USER_HZ))
}

/// Datagrams dropped (receive buffer full) by IPv4 UDP sockets whose local
/// port is in `ports`, summed, and how many such sockets there are.
pub fn udp_drops(ports: std::ops::RangeInclusive<u16>) -> (u64, usize) {
    let Ok(text) = std::fs::read_to_string("/proc/net/udp") else {
        return (0, 0);
    };
    let mut drops = 0;
    let mut sockets = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(port) = f
            .get(1)
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| u16::from_str_radix(p, 16).ok())
        else {
            continue;
        };
        if ports.contains(&port) {
            sockets += 1;
            drops += f.last().and_then(|d| d.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    (drops, sockets)
}

/// Bytes of all files under `dir` and how many `.wav` files there are.
pub fn dir_bytes(dir: &Path) -> (u64, u64) {
    let mut bytes = 0;
    let mut wavs = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                todo.push(e.path());
            } else {
                bytes += meta.len();
                wavs += u64::from(e.path().extension().is_some_and(|x| x == "wav"));
            }
        }
    }
    (bytes, wavs)
}
