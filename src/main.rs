//! The `hotline` command: `serve` runs the service, `check-config`
//! validates a config file without starting anything, `outbox` lists and
//! replays the ticket system's events in the service's database, `report`
//! computes answer rates from it (docs/metrics.md); `provision` writes
//! the desk phones' configuration files; `retention` deletes the
//! recordings past their retention period; `doctor` checks a config and
//! the machine it is to run on.

use clap::{Parser, Subcommand, ValueEnum};
use hotline::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "hotline",
    version,
    about = "Telephony core for citizen-service hotline call centers"
)]
struct Cli {
    /// Log format: human-readable text, or JSON lines for log collectors.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
    /// Text with each line's syslog priority (`<3>` error ... `<7>`
    /// debug) and no time, for systemd's journal (deploy/hotline.service).
    Journald,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the service.
    Serve {
        /// The config file (see config/demo.toml).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file and print what it defines; exit 1 if invalid.
    CheckConfig {
        /// The config file to check.
        file: PathBuf,
    },
    /// The ticket system's events in the outbox: list them, replay dead ones.
    Outbox {
        /// The service's config file (its [store] url is the database).
        #[arg(long, short)]
        config: PathBuf,
        #[command(subcommand)]
        action: OutboxAction,
    },
    /// Drive a running hotline with simulated seat phones and callers over
    /// SIP, and print what was observed beside Erlang C and Erlang A.
    Simulate(SimulateArgs),

    /// Answer rate, service level, abandons and seat figures from the
    /// service's database (definitions: docs/metrics.md).
    Report {
        /// The service's config file (its [store] url is the database; its
        /// [reports] section sets the time zone and thresholds).
        #[arg(long, short)]
        config: PathBuf,
        /// Calls offered from: 2026-11-25 (local midnight), today,
        /// yesterday, or RFC 3339 (2026-11-25T08:00:00+08:00).
        #[arg(long, default_value = "today")]
        from: String,
        /// Calls offered until (exclusive); a date means the end of that
        /// day, so --from 2026-11-01 --to 2026-11-30 is all of November.
        #[arg(long, default_value = "now")]
        to: String,
        /// line, tag, class, queue, seat or interval.
        #[arg(long, default_value = "line")]
        by: String,
        /// Rows per 15m, 1h or 1d too (by interval: 1h if not given).
        #[arg(long)]
        interval: Option<String>,
        /// table, csv or json.
        #[arg(long, default_value = "table")]
        format: String,
        /// Count emergency and non-emergency calls together (class null).
        #[arg(long)]
        mix_classes: bool,
    },

    /// Delete the recordings past their class's retention period now
    /// (`hotline serve` does it at start and every hour), printing per
    /// class what it deletes; exit 1 if the database cannot be reached or
    /// a file cannot be deleted.
    Retention {
        /// The service's config file ([recordings] periods and roots,
        /// [store] url).
        #[arg(long, short)]
        config: PathBuf,
        /// Delete nothing: say per class how many recordings, the oldest
        /// and newest, and their size.
        #[arg(long)]
        dry_run: bool,
    },

    /// Check a config and the machine it is to run on (ports, RTP range,
    /// directories, database and migrations, prompts, trunk, credentials,
    /// clock) and say what to fix; exit 1 if a check FAILs. Run it as the
    /// service's user, in its working directory.
    Doctor {
        /// The config file to check.
        #[arg(long, short)]
        config: PathBuf,
        /// Another trunk address to probe with SIP OPTIONS besides
        /// [outbound] trunk (the carrier's SBC); may be repeated.
        #[arg(long = "trunk", value_name = "IP:PORT")]
        trunks: Vec<std::net::SocketAddr>,
        /// Seconds a trunk has to answer OPTIONS.
        #[arg(long, default_value_t = 4)]
        timeout_secs: u64,
    },

    /// Write every seat's desk-phone configuration file (account, feature
    /// keys, BLF keys) into a directory, by extension and by MAC.
    Provision {
        /// The service's config file (its seats, phones address and
        /// [provisioning] section).
        #[arg(long, short)]
        config: PathBuf,
        /// yealink (T4x/T5x .cfg) or grandstream (GXP .xml).
        #[arg(long, value_enum)]
        vendor: hotline::provision::Vendor,
        /// The directory to write to (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// The running service's config file (its phones and trunk addresses,
    /// seats, passwords, lines and queues).
    #[arg(long, short)]
    config: PathBuf,
    /// Lines and their calls per hour (or per minute: /m).
    #[arg(long, default_value = "12345=150/h,12329=30/h,110=12/h")]
    lines: String,
    /// The seats whose phones are simulated (their own phones stay away).
    #[arg(long, default_value = "8001-8010,8021-8022")]
    seats: String,
    /// Mean talk time in seconds (exponential).
    #[arg(long, default_value_t = 120)]
    talk_secs: u64,
    /// Mean patience of a waiting caller in seconds (exponential); 0: never gives up.
    #[arg(long, default_value_t = 60)]
    patience_secs: u64,
    /// How long a seat rings before its agent picks up, seconds.
    #[arg(long, default_value_t = 2)]
    answer_secs: u64,
    /// How long calls keep arriving, seconds.
    #[arg(long, default_value_t = 300)]
    duration_secs: u64,
    /// Multiply every line's rate (a typhoon: 5).
    #[arg(long, default_value_t = 1.0)]
    surge: f64,
    /// The service level threshold, seconds.
    #[arg(long, default_value_t = 20)]
    sl_secs: u64,
    /// Send no RTP (only for a hotline without [media]: with it, calls
    /// without RTP are hung up after rtp_timeout_secs).
    #[arg(long)]
    no_media: bool,
    /// Print the predictions and the seats the load needs; place no call.
    #[arg(long)]
    plan: bool,
    /// Seed of the arrival, talk and patience draws (printed; give it to
    /// run the same calls again). Default: a new one each run.
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Subcommand)]
enum OutboxAction {
    /// Events, oldest first, one per line: id, state, attempts, last error.
    List {
        /// pending, delivered or dead.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Put dead events back in line (all dead ones with --all-dead).
    Replay {
        /// Event ids (as `hotline outbox list --state dead` shows them).
        ids: Vec<String>,
        #[arg(long)]
        all_dead: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The doctor's report is its output: the store's info lines would
    // only get in the way.
    let quiet = matches!(cli.command, Cmd::Doctor { .. });
    init_logging(cli.log_format, if quiet { "warn" } else { "info" });
    match cli.command {
        Cmd::CheckConfig { file } => match Config::load(&file) {
            Ok(c) => {
                println!(
                    "{}: ok: {} lines, {} queues, {} seats; phones {} / trunk {}; HTTP {}; store {}",
                    file.display(),
                    c.lines.len(),
                    c.queues.len(),
                    c.all_seats().len(),
                    addr_list(c.sip.phones.udp, c.sip.phones.tcp),
                    addr_list(c.sip.trunk.udp, c.sip.trunk.tcp),
                    c.http.listen,
                    c.store.url,
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                eprintln!(
                    "fix the key named above and run `hotline check-config {}` again",
                    file.display()
                );
                ExitCode::from(1)
            }
        },
        Cmd::Outbox { config, action } => {
            let c = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            run(
                tokio::runtime::Builder::new_current_thread(),
                outbox(c, action),
            )
        }
        Cmd::Simulate(args) => {
            let c = match Config::load(&args.config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            run(
                tokio::runtime::Builder::new_multi_thread(),
                simulate(c, args),
            )
        }
        Cmd::Report {
            config,
            from,
            to,
            by,
            interval,
            format,
            mix_classes,
        } => {
            let c = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    eprintln!(
                        "fix the config (`hotline check-config {}` checks it) and run the report again",
                        config.display()
                    );
                    return ExitCode::from(1);
                }
            };
            let args = ReportArgs {
                from,
                to,
                by,
                interval,
                format,
                mix_classes,
            };
            run(
                tokio::runtime::Builder::new_current_thread(),
                report(c, args),
            )
        }
        Cmd::Retention { config, dry_run } => {
            let c = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    eprintln!("nothing was deleted; fix the config and run again");
                    return ExitCode::from(1);
                }
            };
            run(
                tokio::runtime::Builder::new_current_thread(),
                retention(c, dry_run),
            )
        }
        Cmd::Doctor {
            config,
            trunks,
            timeout_secs,
        } => {
            let opts = hotline::doctor::Options {
                trunks,
                timeout: Duration::from_secs(timeout_secs.max(1)),
            };
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            let checks = rt.block_on(hotline::doctor::run(&config, &opts));
            for c in &checks {
                println!("{c}");
            }
            println!("{}", hotline::doctor::summary(&checks, &config));
            if hotline::doctor::passed(&checks) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Cmd::Provision {
            config,
            vendor,
            out,
        } => provision(&config, vendor, &out),
        Cmd::Serve { config } => {
            let c = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    eprintln!(
                        "hotline did not start; fix the config and try again (`hotline check-config` checks it)"
                    );
                    return ExitCode::from(1);
                }
            };
            run(
                tokio::runtime::Builder::new_multi_thread(),
                hotline::server::serve(c, config),
            )
        }
    }
}

/// `hotline provision`: the files, with a line per file written.
fn provision(
    config: &std::path::Path,
    vendor: hotline::provision::Vendor,
    out: &std::path::Path,
) -> ExitCode {
    let c = match Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let p = hotline::provision::Provisioning::from_config(&c, None);
    let written = hotline::provision::write_all(&p, vendor, out, |i, n, seat, path| {
        eprintln!("[{i}/{n}] seat {}: {}", seat.extension, path.display());
    });
    match written {
        Ok(files) => {
            eprintln!(
                "{} {} file(s) in {}: SIP server {}:{} over {}; they hold SIP passwords",
                files.len(),
                vendor.name(),
                out.display(),
                p.server,
                p.port,
                p.transport_name()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: writing to {}: {e}", out.display());
            ExitCode::from(1)
        }
    }
}

/// Runs `work` on a runtime from `builder`; its error, if any, is printed.
fn run(
    mut builder: tokio::runtime::Builder,
    work: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn simulate(c: Config, a: SimulateArgs) -> anyhow::Result<()> {
    use hotline::simulate;
    let secs = Duration::from_secs;
    let opts = simulate::Options {
        lines: simulate::parse_lines(&a.lines).map_err(|e| anyhow::anyhow!("--lines {e}"))?,
        seats: simulate::parse_seats(&a.seats).map_err(|e| anyhow::anyhow!("--seats {e}"))?,
        talk: secs(a.talk_secs.max(1)),
        patience: (a.patience_secs > 0).then(|| secs(a.patience_secs)),
        answer_delay: secs(a.answer_secs),
        duration: secs(a.duration_secs),
        surge: a.surge,
        media: !a.no_media,
        sl: secs(a.sl_secs),
        seed: a.seed.unwrap_or_else(rand::random),
    };
    if !a.plan {
        eprintln!(
            "seed {} (--seed {} repeats these calls)",
            opts.seed, opts.seed
        );
    }
    if !(opts.surge > 0.0 && opts.surge.is_finite()) {
        anyhow::bail!(
            "--surge {}: give a factor above 0 (5 for a fivefold surge)",
            a.surge
        );
    }
    let queues = if a.plan {
        simulate::plan(&c, &opts).map_err(anyhow::Error::msg)?
    } else {
        simulate::run(&c, &opts).await?
    };
    print!("{}", simulate::render(&queues, &opts, !a.plan));
    Ok(())
}

async fn outbox(c: Config, action: OutboxAction) -> anyhow::Result<()> {
    use anyhow::Context;
    let store = hotline::store::Store::connect(&c.store.url)
        .await
        .with_context(|| format!("opening the database ([store] url = {:?})", c.store.url))?;
    match action {
        OutboxAction::List { state, limit } => {
            if let Some(s) = state.as_deref()
                && !matches!(s, "pending" | "delivered" | "dead")
            {
                anyhow::bail!("--state {s:?}: use pending, delivered or dead");
            }
            let events = store.list_outbox(state.as_deref(), limit).await?;
            for e in &events {
                println!(
                    "{}\t{}\tattempts={}\t{}",
                    e.id,
                    e.state,
                    e.attempts,
                    e.last_error.as_deref().unwrap_or("")
                );
            }
            eprintln!("{} event(s)", events.len());
        }
        OutboxAction::Replay { mut ids, all_dead } => {
            if all_dead {
                ids.extend(
                    store
                        .list_outbox(Some("dead"), 100_000)
                        .await?
                        .into_iter()
                        .map(|e| e.id),
                );
            }
            if ids.is_empty() {
                anyhow::bail!(
                    "name the events to replay, or --all-dead (see `hotline outbox list --state dead`)"
                );
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let mut missing = Vec::new();
            for id in &ids {
                if store.outbox_replay(id, now).await? {
                    println!("{id}\tpending");
                } else {
                    missing.push(id.as_str());
                }
            }
            if !missing.is_empty() {
                anyhow::bail!(
                    "no dead event {}; `hotline outbox list --state dead` lists them",
                    missing.join(", ")
                );
            }
            eprintln!(
                "{} event(s) back in line; the running service delivers them",
                ids.len()
            );
        }
    }
    store.close().await;
    Ok(())
}

/// How long `retention` waits for the database to answer.
const DB_TIMEOUT: Duration = Duration::from_secs(15);

async fn retention(c: Config, dry_run: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    use hotline::retention::{Mode, run_pass};
    let mode = if dry_run { Mode::DryRun } else { Mode::Delete };
    let shown = hotline::store::redact_url(&c.store.url);
    let store = tokio::time::timeout(DB_TIMEOUT, hotline::store::Store::open_existing(&c.store.url))
        .await
        .map_err(|_| anyhow::anyhow!("the database ([store] url = {shown}) did not answer within {} s: check that it runs and that this host reaches it; nothing was deleted", DB_TIMEOUT.as_secs()))?
        .with_context(|| format!("opening the database ([store] url = {shown}); nothing was deleted"))?;
    let state = store.migration_state().await?;
    if state.is_empty_database() {
        println!("{shown} holds no call records yet: nothing to delete");
        return Ok(());
    }
    if !state.is_current() {
        let pending: Vec<String> = state
            .pending
            .iter()
            .map(|(v, d)| format!("{v:04} {d}"))
            .collect();
        anyhow::bail!(
            "the database ([store] url = {shown}) is not at this hotline's schema (pending: [{}]; failed: {:?}; edited: {:?}); nothing was deleted. Run the retention with the hotline version the service runs, or start this version's `hotline serve` once to migrate it (back up first: deploy/BACKUP.md); `hotline doctor` says more",
            pending.join(", "),
            state.failed,
            state.changed
        );
    }
    if !state.unknown.is_empty() {
        eprintln!(
            "warning: a newer hotline migrated this database (versions {:?}); this one may not know all of it",
            state.unknown
        );
    }
    let tz = hotline::config::runtime::report_settings(&c).tz;
    let mut shown_at = std::time::Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let passes = run_pass(&store, &c.recordings, now, mode, &mut |p| {
        if p.done == 0 {
            println!("{}", p.plan(tz));
        } else if shown_at.elapsed() >= Duration::from_secs(2) {
            eprintln!("  {}", p.progress());
            shown_at = std::time::Instant::now();
        }
    })
    .await;
    store.close().await;
    let passes = passes.with_context(|| {
        format!("the database ([store] url = {shown}) failed during the pass; what was deleted is marked, run again to go on")
    })?;
    for line in passes.iter().filter_map(|p| p.outcome(mode)) {
        println!("{line}");
    }
    let failed: u64 = passes.iter().map(|p| p.failed).sum();
    if failed > 0 {
        anyhow::bail!(
            "{failed} recording(s) could not be {} (first ones above); they are left as they are. Let the service's user remove them (chown -R hotline: <root>) and run again",
            if dry_run { "read" } else { "deleted" }
        );
    }
    if dry_run {
        eprintln!("dry run: nothing deleted; run without --dry-run to delete");
    }
    Ok(())
}

/// `hotline report`'s options, as typed.
struct ReportArgs {
    from: String,
    to: String,
    by: String,
    interval: Option<String>,
    format: String,
    mix_classes: bool,
}

async fn report(c: Config, a: ReportArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use hotline::reports::{self, By, End, Interval, ReportQuery};
    let settings = hotline::config::runtime::report_settings(&c);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let bad = |opt: &str, e: String| anyhow::anyhow!("--{opt}: {e}");
    let from =
        reports::parse_bound(&a.from, settings.tz, now, End::From).map_err(|e| bad("from", e))?;
    let to = reports::parse_bound(&a.to, settings.tz, now, End::To).map_err(|e| bad("to", e))?;
    let by = By::parse(&a.by).map_err(|e| bad("by", e))?;
    let interval = a
        .interval
        .as_deref()
        .map(Interval::parse)
        .transpose()
        .map_err(|e| bad("interval", e))?;
    if !matches!(a.format.as_str(), "table" | "csv" | "json") {
        anyhow::bail!("--format {:?}: use table, csv or json", a.format);
    }
    let query = ReportQuery::new(from, to, by, interval, a.mix_classes).map_err(|e| {
        anyhow::anyhow!(
            "{e} (from {}, to {})",
            settings.tz.format(from),
            settings.tz.format(to)
        )
    })?;
    if let Some(path) = sqlite_file(&c.store.url)
        && !path.exists()
    {
        anyhow::bail!(
            "no database at {} ([store] url = {:?}, relative to the working directory {}): run the report in the service's working directory, with its config",
            path.display(),
            c.store.url,
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        );
    }
    let store = hotline::store::Store::connect(&c.store.url)
        .await
        .with_context(|| format!("opening the database ([store] url = {:?}); run the report where the service runs, with its config", c.store.url))?;
    let report = reports::run(&store, &query, &settings, now).await;
    store.close().await;
    let report = report?;
    match a.format.as_str() {
        "json" => println!(
            "{}",
            serde_json::to_string_pretty(&reports::format::to_json(&report))?
        ),
        "csv" => print!("{}", reports::format::to_csv(&report)),
        _ => print!("{}", reports::format::to_table(&report)),
    }
    Ok(())
}

/// The file a `sqlite:` URL names, unless it is an in-memory database.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:" && !rest.contains("mode=memory"))
        .then(|| PathBuf::from(path))
}

fn addr_list(udp: Option<std::net::SocketAddr>, tcp: Option<std::net::SocketAddr>) -> String {
    let mut parts = Vec::new();
    if let Some(a) = udp {
        parts.push(format!("udp {a}"));
    }
    if let Some(a) = tcp {
        parts.push(format!("tcp {a}"));
    }
    parts.join(", ")
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOTLINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
        LogFormat::Journald => builder.event_format(hotline::journald::format()).init(),
    }
}
