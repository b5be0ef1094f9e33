//! The delivery worker: a tokio task that takes due events from the
//! outbox under a lease, POSTs each to the ticket system and records what
//! came of it. Several workers (or several hotline nodes on one database)
//! can run at once: the lease keeps any event with one of them at a time;
//! a worker that dies mid-delivery loses its lease when it runs out and
//! the event is tried again (the receiver deduplicates by
//! `Idempotency-Key`).

use super::payload;
use super::policy::{self, Attempt};
use crate::store::Store;
use crate::store::outbox::OutboxEvent;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How the worker delivers.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub url: String,
    pub secret: Vec<u8>,
    /// One attempt's time limit.
    pub timeout: Duration,
    pub max_attempts: u32,
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// hotline's HTTP address as the ticket system reaches it.
    pub public_url: String,
    /// Signs recording links: the secret and how long a link works.
    pub link: Option<(Vec<u8>, Duration)>,
    /// Seat extension -> agent name, for the payload.
    pub agents: HashMap<String, String>,
    /// This worker's name in leases (unique per process).
    pub owner: String,
    /// How often to look for due events when there were none.
    pub poll: Duration,
    /// Whose events this worker delivers: `tickets` (12345) or `emergency`.
    pub sink: &'static str,
}

impl WorkerConfig {
    /// From the `[tickets]` section: the 12345 calls' events.
    pub fn from_config(c: &crate::config::Config) -> Option<WorkerConfig> {
        Some(WorkerConfig::from_section(
            c,
            c.tickets.as_ref()?,
            "tickets",
        ))
    }

    /// From the `[emergency_tickets]` section: the emergency calls' events.
    pub fn emergency_from_config(c: &crate::config::Config) -> Option<WorkerConfig> {
        Some(WorkerConfig::from_section(
            c,
            c.emergency_tickets.as_ref()?,
            "emergency",
        ))
    }

    /// `http_listen` is the default public URL.
    fn from_section(
        c: &crate::config::Config,
        t: &crate::config::TicketsConfig,
        sink: &'static str,
    ) -> WorkerConfig {
        WorkerConfig {
            url: t.url.clone(),
            secret: t.secret.clone().into_bytes(),
            timeout: Duration::from_secs(t.timeout_secs),
            max_attempts: t.max_attempts,
            retry_min: Duration::from_secs(t.retry_min_secs),
            retry_max: Duration::from_secs(t.retry_max_secs),
            public_url: t
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", c.http.listen)),
            link: c
                .http
                .link_secret
                .clone()
                .map(|s| (s.into_bytes(), Duration::from_secs(c.http.link_ttl_secs))),
            agents: c
                .all_seats()
                .into_iter()
                .filter_map(|s| Some((s.extension, s.name?)))
                .collect(),
            owner: format!(
                "hotline-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ),
            poll: Duration::from_millis(500),
            sink,
        }
    }

    /// Events taken at once.
    const BATCH: u32 = 10;

    /// A lease outlives the attempts at a whole batch, made one after
    /// another, by a margin: no event's lease runs out while it waits its turn.
    fn lease(&self) -> Duration {
        (self.timeout + Duration::from_secs(5)) * Self::BATCH + Duration::from_secs(30)
    }
}

pub struct Worker;

impl Worker {
    /// Starts delivering until `shutdown`; an attempt in flight finishes
    /// (within the timeout) first.
    pub fn spawn(
        store: Store,
        cfg: WorkerConfig,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(run(store, cfg, shutdown))
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn run(store: Store, cfg: WorkerConfig, shutdown: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(cfg.timeout)
        .user_agent(concat!("hotline/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client for the ticket system; events stay in the outbox");
            return;
        }
    };
    tracing::info!(url = %cfg.url, sink = cfg.sink, "delivering call events to the ticket system");
    while !shutdown.is_cancelled() {
        let claimed = store
            .claim_outbox(
                &cfg.owner,
                cfg.sink,
                unix_ms(),
                cfg.lease().as_millis() as i64,
                i64::from(WorkerConfig::BATCH),
            )
            .await;
        let events = match claimed {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox; trying again");
                Vec::new()
            }
        };
        if events.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(cfg.poll) => {}
            }
            continue;
        }
        for ev in events {
            deliver(&store, &client, &cfg, ev).await;
        }
    }
}

/// One attempt at `ev`, and its outcome written back.
async fn deliver(store: &Store, client: &reqwest::Client, cfg: &WorkerConfig, ev: OutboxEvent) {
    let attempt = match store.get_call(&ev.call_id).await {
        Ok(Some(call)) => {
            let agent = call
                .seat
                .as_ref()
                .and_then(|s| cfg.agents.get(s))
                .map(String::as_str);
            let body = match serde_json::to_vec(&payload::build(
                &ev,
                &call,
                agent,
                recording_url(cfg, &ev.call_id),
            )) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(event = %ev.id, error = %e, "cannot encode the event");
                    return;
                }
            };
            post(client, cfg, &ev, body).await
        }
        Ok(None) => Attempt::Refused("no call record for the event".into()),
        Err(e) => {
            tracing::warn!(event = %ev.id, error = %e, "cannot read the call for an event; it waits for its lease to run out");
            return;
        }
    };
    let now = unix_ms();
    let attempts = ev.attempts.max(0) as u32 + 1;
    let result = match attempt {
        Attempt::Delivered { ticket_id } => {
            tracing::info!(event = %ev.id, attempts, ticket_id = ticket_id.as_deref(), "event delivered");
            store
                .outbox_delivered(&ev.id, &cfg.owner, now, ticket_id.as_deref())
                .await
        }
        Attempt::Retry(why) => failed(store, cfg, &ev, attempts, now, &why, false, None).await,
        Attempt::RetryAfter(why, wait) => {
            failed(store, cfg, &ev, attempts, now, &why, false, Some(wait)).await
        }
        Attempt::Refused(why) => failed(store, cfg, &ev, attempts, now, &why, true, None).await,
    };
    match result {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(event = %ev.id, "the event's lease ran out during the attempt; another worker has it")
        }
        Err(e) => {
            tracing::warn!(event = %ev.id, error = %e, "cannot record the attempt; the event is tried again when its lease runs out")
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn failed(
    store: &Store,
    cfg: &WorkerConfig,
    ev: &OutboxEvent,
    attempts: u32,
    now: i64,
    why: &str,
    refused: bool,
    asked: Option<Duration>,
) -> Result<bool, crate::store::StoreError> {
    let dead = policy::after_failure(attempts, cfg.max_attempts, refused);
    // The receiver's Retry-After, if longer than our own backoff (capped by
    // retry_max_secs: a receiver cannot park events for days).
    let backoff = policy::backoff(
        attempts,
        cfg.retry_min,
        cfg.retry_max,
        policy::seed(&ev.id, attempts),
    );
    let wait = asked.map_or(backoff, |a| backoff.max(a.min(cfg.retry_max)));
    if dead {
        tracing::error!(event = %ev.id, attempts, reason = why, "event dead-lettered; replay it with POST /api/outbox/{{id}}/replay once the ticket system is fixed");
    } else {
        tracing::warn!(event = %ev.id, attempts, reason = why, retry_in_ms = wait.as_millis() as u64, "event delivery failed; will retry");
    }
    store
        .outbox_failed(&ev.id, &cfg.owner, why, now + wait.as_millis() as i64, dead)
        .await
}

async fn post(
    client: &reqwest::Client,
    cfg: &WorkerConfig,
    ev: &OutboxEvent,
    body: Vec<u8>,
) -> Attempt {
    let timestamp = unix_ms() / 1000;
    let signature = policy::signature(&cfg.secret, timestamp, &body);
    let sent = client
        .post(&cfg.url)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", &ev.id)
        .header("X-Hotline-Event", &ev.kind)
        .header("X-Hotline-Timestamp", timestamp.to_string())
        .header("X-Hotline-Signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = resp.text().await.unwrap_or_default();
            policy::judge(status, retry_after.as_deref(), &text)
        }
        Err(e) if e.is_timeout() => {
            Attempt::Retry(format!("no answer within {} s", cfg.timeout.as_secs()))
        }
        Err(e) if e.is_connect() => {
            Attempt::Retry(format!("cannot connect to {}: {}", cfg.url, root_cause(&e)))
        }
        Err(e) => Attempt::Retry(root_cause(&e)),
    }
}

/// The recording's download URL, signed to expire `link` ttl from now.
fn recording_url(cfg: &WorkerConfig, call: &str) -> String {
    let base = format!(
        "{}/api/calls/{call}/recording",
        cfg.public_url.trim_end_matches('/')
    );
    match &cfg.link {
        Some((secret, ttl)) => {
            let expires = unix_ms() / 1000 + ttl.as_secs() as i64;
            format!(
                "{base}?expires={expires}&sig={}",
                crate::api::auth::link_signature(secret, call, expires)
            )
        }
        None => base,
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
