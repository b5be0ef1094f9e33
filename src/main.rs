//! The `hotline` command: `serve` runs the service, `check-config`
//! validates a config file without starting anything, `outbox` lists and
//! replays the ticket system's events in the service's database.

use clap::{Parser, Subcommand, ValueEnum};
use hotline::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "hotline", version, about = "Telephony core for citizen-service hotline call centers")]
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
    init_logging(cli.log_format);
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
                eprintln!("fix the key named above and run `hotline check-config {}` again", file.display());
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
            run(tokio::runtime::Builder::new_current_thread(), outbox(c, action))
        }
        Cmd::Serve { config } => {
            let c = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    eprintln!("hotline did not start; fix the config and try again (`hotline check-config` checks it)");
                    return ExitCode::from(1);
                }
            };
            run(tokio::runtime::Builder::new_multi_thread(), hotline::server::serve(c))
        }
    }
}

/// Runs `work` on a runtime from `builder`; its error, if any, is printed.
fn run(mut builder: tokio::runtime::Builder, work: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
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
                println!("{}\t{}\tattempts={}\t{}", e.id, e.state, e.attempts, e.last_error.as_deref().unwrap_or(""));
            }
            eprintln!("{} event(s)", events.len());
        }
        OutboxAction::Replay { mut ids, all_dead } => {
            if all_dead {
                ids.extend(store.list_outbox(Some("dead"), 100_000).await?.into_iter().map(|e| e.id));
            }
            if ids.is_empty() {
                anyhow::bail!("name the events to replay, or --all-dead (see `hotline outbox list --state dead`)");
            }
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let mut missing = Vec::new();
            for id in &ids {
                if store.outbox_replay(id, now).await? {
                    println!("{id}\tpending");
                } else {
                    missing.push(id.as_str());
                }
            }
            if !missing.is_empty() {
                anyhow::bail!("no dead event {}; `hotline outbox list --state dead` lists them", missing.join(", "));
            }
            eprintln!("{} event(s) back in line; the running service delivers them", ids.len());
        }
    }
    store.close().await;
    Ok(())
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

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOTLINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
