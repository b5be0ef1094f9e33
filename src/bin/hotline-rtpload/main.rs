//! `hotline-rtpload`: the RTP side of the media benchmark
//! (`scripts/bench-media.sh`, method in BENCHMARKS.md). SIPp places the
//! calls with SDP pointing here; this program plays every caller and
//! every seat on two UDP sockets and measures what hotline does to the
//! audio between them: loss per stream, one-way latency through hotline
//! and, on the same sockets and threads, the latency of streams sent
//! straight from the caller socket to the seat socket (the generator's own
//! share, to subtract).
//!
//! ```text
//!   caller socket --PCMA 20 ms--> hotline caller port --relay--> hotline agent port --> seat socket
//!   caller socket <-------------- hotline caller port <--relay-- hotline agent port <-- seat socket
//!   caller socket --baseline----------------------------------------------------------> seat socket
//! ```
//!
//! It waits until `--streams` calls carry audio both ways, lets them
//! settle, measures over `--measure` seconds (CPU and RSS of the `--pid`
//! processes, UDP drops, growth of `--recordings`), waits `--drain-ms`
//! for the window's last packets and prints one JSON object on stdout.
//! Progress goes to stderr. Exit status 0 when it measured, 1 when not
//! every call carried audio both ways in time (it still measures and
//! reports), 2 on a setup error.

mod flows;
mod probe;

use clap::Parser;
use flows::{BASELINE, CALLER, KINDS, SEAT, Shared};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "hotline-rtpload",
    version,
    about = "RTP load generator and meter for hotline's media benchmark"
)]
struct Args {
    /// Where the callers' audio is sent from and heard (the trunk's SDP address).
    #[arg(long)]
    caller: SocketAddr,
    /// Where the seats' audio is sent from and heard (the seat UAS's SDP address).
    #[arg(long)]
    seat: SocketAddr,
    /// Calls expected to carry audio both ways.
    #[arg(long)]
    streams: usize,
    /// Streams sent straight from the caller socket to the seat socket.
    #[arg(long, default_value_t = 32)]
    baseline: u32,
    /// Seconds to wait for every call's audio both ways.
    #[arg(long, default_value_t = 120)]
    ready_timeout: u64,
    /// Seconds between all calls carrying audio and the window's start.
    #[arg(long, default_value_t = 3)]
    settle: u64,
    /// Length of the measuring window, seconds.
    #[arg(long, default_value_t = 20)]
    measure: u64,
    /// After the window, how long its last packets may take to arrive (ms);
    /// later ones count as lost.
    #[arg(long, default_value_t = 1000)]
    drain_ms: u64,
    /// A process to read CPU and RSS of, as NAME=PID (repeatable).
    #[arg(long = "pid", value_parser = name_pid)]
    pids: Vec<(String, u32)>,
    /// hotline's recordings directory: bytes written during the window.
    #[arg(long)]
    recordings: Option<PathBuf>,
    /// hotline's RTP port range MIN-MAX: UDP receive-buffer drops on it.
    #[arg(long, value_parser = port_range)]
    hotline_ports: Option<(u16, u16)>,
    /// Receive by draining each socket, then sleeping this long (µs); 0
    /// blocks in recv_from instead, woken by every packet (see BENCHMARKS.md).
    #[arg(long, default_value_t = 500)]
    poll_us: u64,
    /// SO_RCVBUF and SO_SNDBUF of the two sockets, bytes.
    #[arg(long, default_value_t = 4 << 20)]
    sockbuf: usize,
}

fn name_pid(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s.split_once('=').ok_or("expected NAME=PID")?;
    Ok((
        name.to_string(),
        pid.parse().map_err(|e| format!("{pid}: {e}"))?,
    ))
}

fn port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').ok_or("expected MIN-MAX")?;
    Ok((
        a.parse().map_err(|e| format!("{a}: {e}"))?,
        b.parse().map_err(|e| format!("{b}: {e}"))?,
    ))
}

fn bind(addr: SocketAddr, buf: usize) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_recv_buffer_size(buf)?;
    s.set_send_buffer_size(buf)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// Readings at one moment.
struct Sample {
    at: Instant,
    cpu: Vec<Option<f64>>,
    wait: Vec<Option<f64>>,
    machine: Option<(f64, f64)>,
    rec: (u64, u64),
}

fn sample(args: &Args, pids: &[(String, u32)]) -> Sample {
    Sample {
        at: Instant::now(),
        cpu: pids.iter().map(|(_, p)| probe::cpu_secs(*p)).collect(),
        wait: pids
            .iter()
            .map(|(_, p)| probe::runq_wait_secs(*p))
            .collect(),
        machine: probe::machine_secs(),
        rec: args
            .recordings
            .as_deref()
            .map(probe::dir_bytes)
            .unwrap_or((0, 0)),
    }
}

fn drops(args: &Args) -> (u64, u64) {
    let hl = args
        .hotline_ports
        .map(|(a, b)| probe::udp_drops(a..=b).0)
        .unwrap_or(0);
    let gen_ports = [args.caller.port(), args.seat.port()];
    let mine = gen_ports.iter().map(|p| probe::udp_drops(*p..=*p).0).sum();
    (hl, mine)
}

fn sleep_until(t: Instant) {
    if let Some(d) = t.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (caller, seat) = match (
        bind(args.caller, args.sockbuf),
        bind(args.seat, args.sockbuf),
    ) {
        (Ok(c), Ok(s)) => (Arc::new(c), Arc::new(s)),
        (Err(e), _) => {
            return fail(&format!(
                "cannot bind the caller socket {}: {e}",
                args.caller
            ));
        }
        (_, Err(e)) => return fail(&format!("cannot bind the seat socket {}: {e}", args.seat)),
    };
    let shared = Arc::new(Shared::new());
    let (start_tx, start_rx) = std::sync::mpsc::channel();
    let spawn = |name: &str| std::thread::Builder::new().name(name.into());
    let sender = {
        let (sh, socks) = (shared.clone(), [caller.clone(), seat.clone()]);
        spawn("rtp-send")
            .spawn(move || flows::send_loop(sh, socks, start_rx))
            .expect("thread")
    };
    let poll = (args.poll_us > 0).then(|| Duration::from_micros(args.poll_us));
    let receivers = [
        (caller.clone(), 0, args.seat),
        (seat.clone(), 1, args.caller),
    ]
    .map(|(sock, side, other)| {
        let (sh, tx) = (shared.clone(), start_tx.clone());
        spawn(if side == 0 {
            "rtp-recv-caller"
        } else {
            "rtp-recv-seat"
        })
        .spawn(move || flows::recv_loop(sh, sock, side, other, tx, poll))
        .expect("thread")
    });
    for index in 0..args.baseline {
        let _ = start_tx.send(flows::NewStream {
            kind: BASELINE,
            index,
            to: args.seat,
        });
    }

    // ---- wait for every call's audio both ways ----------------------------------
    let n = args.streams;
    let t_ready = Instant::now();
    let heard = |k: usize| shared.heard[k].load(Ordering::Relaxed);
    let started = |k: usize| shared.started[k].load(Ordering::Relaxed);
    let mut last_print = Instant::now();
    let ready = loop {
        if heard(CALLER) >= n && heard(SEAT) >= n {
            break true;
        }
        if t_ready.elapsed() > Duration::from_secs(args.ready_timeout) {
            break false;
        }
        if last_print.elapsed() >= Duration::from_secs(2) {
            eprintln!(
                "rtpload: calls heard by hotline {}/{n}; relayed caller->seat {}/{n}, seat->caller {}/{n}",
                started(CALLER),
                heard(CALLER),
                heard(SEAT)
            );
            last_print = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let ready_s = t_ready.elapsed().as_secs_f64();
    if ready {
        eprintln!(
            "rtpload: all {n} calls carry audio both ways after {ready_s:.1} s; settling {} s",
            args.settle
        );
    } else {
        eprintln!(
            "rtpload: only {} caller->seat and {} seat->caller streams of {n} after {} s; measuring what there is",
            heard(CALLER),
            heard(SEAT),
            args.ready_timeout
        );
    }
    std::thread::sleep(Duration::from_secs(args.settle));

    // ---- the window -------------------------------------------------------------
    let mut pids = args.pids.clone();
    pids.push(("rtpload".into(), std::process::id()));
    // Set well ahead, so every thread sees it before it matters.
    let w0 = shared.now_ns() + 200_000_000;
    let w1 = w0 + args.measure * 1_000_000_000;
    shared.window_end.store(w1, Ordering::Relaxed);
    shared.window_start.store(w0, Ordering::Relaxed);
    sleep_until(shared.epoch + Duration::from_nanos(w0));
    let drops0 = drops(&args);
    let s0 = sample(&args, &pids);
    eprintln!("rtpload: measuring {} s", args.measure);
    sleep_until(shared.epoch + Duration::from_nanos(w1));
    let s1 = sample(&args, &pids);
    let rss: Vec<Option<u64>> = pids
        .iter()
        .map(|(_, p)| probe::status_kb(*p, "VmRSS"))
        .collect();
    let calls_at_end = (heard(CALLER), heard(SEAT), started(CALLER), started(SEAT));
    sleep_until(shared.epoch + Duration::from_nanos(w1) + Duration::from_millis(args.drain_ms));
    let drops1 = drops(&args);
    shared.stop.store(true, Ordering::Relaxed);
    let sent = sender.join().expect("sender");
    let [rx_caller, rx_seat] = receivers.map(|h| h.join().expect("receiver"));

    // ---- report -------------------------------------------------------------------
    let secs = s1.at.duration_since(s0.at).as_secs_f64();
    // Where each kind's packets arrive: caller streams at the seat socket, seat streams at the caller socket.
    let rx_of = |k: usize| if k == SEAT { &rx_caller } else { &rx_seat };
    let mut kinds = serde_json::Map::new();
    let mut lat = Vec::new();
    for (k, name) in [
        (CALLER, "caller_to_seat"),
        (SEAT, "seat_to_caller"),
        (BASELINE, "baseline"),
    ] {
        let s: u64 = sent[k].iter().map(|&v| u64::from(v)).sum();
        let r: u64 = rx_of(k).counts[k].iter().map(|&v| u64::from(v)).sum();
        let lossy = sent[k]
            .iter()
            .zip(&rx_of(k).counts[k])
            .filter(|(s, r)| r < s)
            .count();
        let h = &rx_of(k).latency[k];
        let q = |x| h.quantile_us(x).map(|v| (v * 10.0).round() / 10.0);
        kinds.insert(
            name.into(),
            serde_json::json!({
                "sent": s, "received": r, "lost": s.saturating_sub(r), "streams_with_loss": lossy,
                "loss_pct": if s > 0 { s.saturating_sub(r) as f64 * 100.0 / s as f64 } else { 0.0 },
                "latency_us": { "p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "max": h.max_us() },
            }),
        );
        lat.push((q(0.5), q(0.99)));
    }
    debug_assert_eq!(lat.len(), KINDS);
    // Through hotline: the worse of the two directions, at each quantile.
    let worse = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let through = (
        worse(lat[CALLER].0, lat[SEAT].0),
        worse(lat[CALLER].1, lat[SEAT].1),
    );
    // Added by hotline: minus the generator's own typical latency.
    let base_p50 = lat[BASELINE].0.unwrap_or(0.0);
    let added = |v: Option<f64>| v.map(|v| ((v - base_p50).max(0.0) * 10.0).round() / 10.0);
    let (mut cpu, mut wait) = (serde_json::Map::new(), serde_json::Map::new());
    let pct = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => serde_json::json!(((b - a) * 1000.0 / secs).round() / 10.0),
        _ => serde_json::Value::Null,
    };
    for (i, (name, _)) in pids.iter().enumerate() {
        cpu.insert(name.clone(), pct(s0.cpu[i], s1.cpu[i]));
        wait.insert(name.clone(), pct(s0.wait[i], s1.wait[i]));
    }
    let machine_pct = match (s0.machine, s1.machine) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            ((b1 - b0) / (t1 - t0) * 100.0 * ncpu * 10.0).round() / 10.0
        }
        _ => 0.0,
    };
    let rec_rate = (s1.rec.0.saturating_sub(s0.rec.0)) as f64 / secs;
    // What was sent through hotline against 50 packets/s per stream of every call.
    let sent_through: u64 = [CALLER, SEAT]
        .iter()
        .map(|&k| sent[k].iter().map(|&v| u64::from(v)).sum::<u64>())
        .sum();
    let nominal = 2.0 * n as f64 * 50.0 * (w1 - w0) as f64 / 1e9;
    let send_pct = if nominal > 0.0 {
        (sent_through as f64 * 1000.0 / nominal).round() / 10.0
    } else {
        0.0
    };
    let report = serde_json::json!({
        "streams": n,
        "poll_us": args.poll_us,
        "ready": ready,
        "ready_secs": (ready_s * 10.0).round() / 10.0,
        "window_secs": (secs * 100.0).round() / 100.0,
        "calls_heard": { "caller_to_seat": calls_at_end.0, "seat_to_caller": calls_at_end.1,
                         "caller_streams": calls_at_end.2, "seat_streams": calls_at_end.3 },
        "rtp": kinds,
        "sent_pct_of_nominal": send_pct,
        "through_hotline_us": { "p50": through.0, "p99": through.1 },
        "added_latency_us": { "p50": added(through.0), "p99": added(through.1) },
        "reordered": rx_caller.reordered + rx_seat.reordered,
        "music_packets": rx_caller.unmarked,
        "udp_drops": { "hotline": drops1.0.saturating_sub(drops0.0), "generator": drops1.1.saturating_sub(drops0.1) },
        "cpu_pct": cpu,
        // Threads runnable but waiting for a CPU, in % of the window (summed over threads).
        "runq_wait_pct": wait,
        "machine_cpu_pct": machine_pct,
        "rss_kb": pids.iter().zip(&rss).map(|((name, _), r)| (name.clone(), serde_json::json!(r))).collect::<serde_json::Map<_, _>>(),
        "recordings": { "bytes_per_sec": rec_rate.round(), "files": s1.rec.1 },
    });
    println!("{report}");
    if ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("rtpload: error: {msg}");
    ExitCode::from(2)
}
