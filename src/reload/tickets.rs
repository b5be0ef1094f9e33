//! The ticket workers (`[tickets]`, `[emergency_tickets]`), started at
//! start and restarted by a reload that changes what they deliver with.
//!
//! A worker stopped by a reload finishes the attempt in flight; events it
//! had leased go to the new worker when their lease runs out (the lease
//! keeps any event with one worker at a time, and the receiver
//! deduplicates by `Idempotency-Key`).

use crate::config::Config;
use crate::store::Store;
use crate::tickets::{Worker, WorkerConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One sink's worker.
struct Running {
    cfg: WorkerConfig,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// The workers of both sinks, and those stopped but still finishing.
pub struct TicketSinks {
    store: Store,
    shutdown: CancellationToken,
    tickets: Option<Running>,
    emergency: Option<Running>,
    stopping: Vec<JoinHandle<()>>,
}

impl TicketSinks {
    /// Starts the workers `config` asks for; each stops on `shutdown`.
    pub fn start(config: &Config, store: Store, shutdown: CancellationToken) -> TicketSinks {
        let mut sinks = TicketSinks {
            store,
            shutdown,
            tickets: None,
            emergency: None,
            stopping: Vec::new(),
        };
        sinks.tickets = sinks.spawn(WorkerConfig::from_config(config));
        sinks.emergency = sinks.spawn(WorkerConfig::emergency_from_config(config));
        if sinks.tickets.is_none() {
            tracing::info!("no [tickets]: call events wait in the outbox");
        }
        if sinks.emergency.is_none() {
            tracing::info!(
                "no [emergency_tickets]: emergency calls' events are sent nowhere (they wait in the outbox)"
            );
        }
        sinks
    }

    fn spawn(&self, cfg: Option<WorkerConfig>) -> Option<Running> {
        let cfg = cfg?;
        let stop = self.shutdown.child_token();
        let task = Worker::spawn(self.store.clone(), cfg.clone(), stop.clone());
        Some(Running { cfg, stop, task })
    }

    /// Restarts the workers whose settings `config` changes.
    pub fn update(&mut self, config: &Config) {
        self.stopping.retain(|t| !t.is_finished());
        let wanted = [
            WorkerConfig::from_config(config),
            WorkerConfig::emergency_from_config(config),
        ];
        for (i, cfg) in wanted.into_iter().enumerate() {
            let slot = if i == 0 {
                &self.tickets
            } else {
                &self.emergency
            };
            if same(slot.as_ref().map(|r| &r.cfg), cfg.as_ref()) {
                continue;
            }
            let sink = if i == 0 { "tickets" } else { "emergency" };
            let old = if i == 0 {
                self.tickets.take()
            } else {
                self.emergency.take()
            };
            if let Some(old) = old {
                old.stop.cancel();
                self.stopping.push(old.task);
            }
            let new = self.spawn(cfg);
            tracing::info!(
                sink,
                running = new.is_some(),
                "reload: ticket delivery restarted with the new settings"
            );
            if i == 0 {
                self.tickets = new;
            } else {
                self.emergency = new;
            }
        }
    }

    /// Waits for every worker (after shutdown was cancelled).
    pub async fn join(self) {
        for task in [self.tickets.map(|r| r.task), self.emergency.map(|r| r.task)]
            .into_iter()
            .flatten()
            .chain(self.stopping)
        {
            let _ = task.await;
        }
    }
}

/// Whether two workers deliver the same way (their lease owner aside).
fn same(a: Option<&WorkerConfig>, b: Option<&WorkerConfig>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            (
                &a.url,
                &a.secret,
                a.timeout,
                a.max_attempts,
                a.retry_min,
                a.retry_max,
                &a.public_url,
                &a.link,
                &a.agents,
                a.poll,
                a.sink,
            ) == (
                &b.url,
                &b.secret,
                b.timeout,
                b.max_attempts,
                b.retry_min,
                b.retry_max,
                &b.public_url,
                &b.link,
                &b.agents,
                b.poll,
                b.sink,
            )
        }
        _ => false,
    }
}
