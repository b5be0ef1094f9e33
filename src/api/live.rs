//! The live view for supervisors: `GET /api/stats/live` (one JSON
//! document), `GET /api/stats/stream` (the same document as Server-Sent
//! Events, sent again on every change of a queue, a seat or a call) and
//! the wallboard page at `/` that draws it (`wallboard.html`, plain
//! HTML and JavaScript, no build step).
//!
//! Emergency and non-emergency are two panels, never summed: every queue,
//! seat, line and call carries its class, and the document groups them.
//! Today's figures per line come from the same SQL as `hotline report`
//! (`crate::reports`, by line from local midnight), so the wallboard and
//! the reports agree; they are computed at most twice a second, however
//! many wallboards watch.
//!
//! ```text
//!  engine task --changes (watch)--> stream: wait for a change (or 5 s),
//!                                          snapshot + today's figures -> `event: live`
//! ```

use super::{ApiError, AppState};
use crate::model::LineClass;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Duration;

/// The wallboard: one page, its script inline.
const WALLBOARD: &str = include_str!("wallboard.html");

pub(super) async fn wallboard() -> impl IntoResponse {
    Html(WALLBOARD)
}

/// Today's report by line, shared by every viewer for half a second.
#[derive(Default)]
pub struct TodayCache {
    last: tokio::sync::Mutex<Option<(std::time::Instant, Value)>>,
}

/// Today's figures per line (from local midnight), as `GET /api/reports`
/// gives them.
async fn today(s: &AppState, now_ms: i64) -> Result<Value, ApiError> {
    let mut last = s.today.last.lock().await;
    if let Some((at, v)) = last.as_ref()
        && at.elapsed() < Duration::from_millis(500)
    {
        return Ok(v.clone());
    }
    let from = s.reports.get().tz.day_start(now_ms);
    let query =
        crate::reports::ReportQuery::new(from, now_ms + 1, crate::reports::By::Line, None, false)
            .map_err(|e| ApiError(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let report = crate::reports::run(&s.store, &query, &s.reports.get(), now_ms).await?;
    let v = crate::reports::format::to_json(&report);
    *last = Some((std::time::Instant::now(), v.clone()));
    Ok(v)
}

/// The live document: per class, the queues, seats and calls now, and
/// today's figures per line.
/// A token limited to one side gets `null` for the other's panel.
pub(super) async fn live_view(
    s: &AppState,
    scope: crate::config::Scope,
) -> Result<Value, ApiError> {
    let snap = super::snapshot(s).await?;
    let now_ms = crate::server::unix_ms_now();
    let today = today(s, now_ms).await?;
    let panel = |class: LineClass| {
        let lines: Vec<&Value> = today["rows"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter(|row| row["class"] == class.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let queues: Vec<&crate::acd::QueueSnapshot> = snap
            .acd
            .queues
            .iter()
            .filter(|q| q.class == class)
            .collect();
        let mut seats: Vec<&crate::acd::SeatSnapshot> =
            snap.acd.seats.iter().filter(|q| q.class == class).collect();
        seats.sort_by(|a, b| a.extension.cmp(&b.extension));
        let calls: Vec<&crate::b2bua::LiveCall> =
            snap.calls.iter().filter(|c| c.class == class).collect();
        json!({
            "class": class,
            "waiting": queues.iter().map(|q| q.waiting).sum::<usize>(),
            "longest_wait_ms": queues.iter().map(|q| q.longest_wait_ms).max().unwrap_or(0),
            "queues": queues,
            "seats": seats,
            "calls": calls,
            "today": { "from": today["from"], "lines": lines },
        })
    };
    let shown = |class: LineClass| {
        if scope.sees(class) {
            panel(class)
        } else {
            Value::Null
        }
    };
    Ok(json!({
        "at_ms": now_ms,
        "non_emergency": shown(LineClass::NonEmergency),
        "emergency": shown(LineClass::Emergency),
    }))
}

pub(super) async fn live(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<super::Caller>,
) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(live_view(&s, caller.scope).await?))
}

/// `event: live` with the live document at once, then again after every
/// change (at most every 100 ms), one second after a change (the call
/// records it wrote are in today's figures by then), and every 5 s.
pub(super) async fn stream(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<super::Caller>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let changes = s.engine.changes();
    let start = Step {
        s,
        scope: caller.scope,
        changes,
        first: true,
        catch_up: false,
    };
    let events = futures_util::stream::unfold(start, |mut step| async move {
        if !step.first {
            let idle = if step.catch_up {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(5)
            };
            tokio::select! {
                changed = step.changes.changed() => {
                    changed.ok()?;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    step.catch_up = true;
                }
                _ = tokio::time::sleep(idle) => step.catch_up = false,
            }
        }
        step.first = false;
        step.changes.borrow_and_update();
        // The engine stopped (shutting down): the stream ends.
        let view = live_view(&step.s, step.scope).await.ok()?;
        let event = Event::default()
            .event("live")
            .json_data(view)
            .unwrap_or_else(|_| Event::default().comment("unserialisable"));
        Some((Ok(event), step))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

struct Step {
    s: AppState,
    scope: crate::config::Scope,
    changes: tokio::sync::watch::Receiver<u64>,
    first: bool,
    /// A change was sent: send once more a second later.
    catch_up: bool,
}
