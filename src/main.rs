//! The `hotline` command: `serve` runs the service, `check-config`
//! validates a config file without starting anything.

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
        Cmd::Serve { config } => {
            let c = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    eprintln!("hotline did not start; fix the config and try again (`hotline check-config` checks it)");
                    return ExitCode::from(1);
                }
            };
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            match rt.block_on(hotline::server::serve(c)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
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
