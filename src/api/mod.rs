//! The HTTP API (axum, JSON): health, live calls, queues and seats, agent
//! state changes, call records and the event log, tickets, recordings and
//! the ticket outbox; who may do what is `auth.rs`. The desk phones'
//! provisioning files are served here too (`provision.rs`).
//!
//! Live views come from the engine task through [`EngineHandle`]; records
//! come from the store. `docs/api.md` and `docs/openapi.yaml` describe
//! every endpoint.

use crate::acd::{AcdError, StateRequest};
use crate::b2bua::{ClickToCall, Command, DialRefused, Refused};
use crate::model::{EventKind, LineClass, Outcome};
use crate::server::{CommandError, EngineHandle};
use crate::store::{CallFilter, EventFilter, Store, WriterHandle};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandle,
    pub store: Store,
    pub writer: WriterHandle,
    /// `[recordings]`: recording paths on call records are relative to
    /// their class's root.
    pub recordings: crate::config::RecordingsConfig,
    /// `[http]` tokens, replaced by a reload.
    pub auth: crate::reload::Shared<auth::Auth>,
    /// `[reports]`: time zone and thresholds of `GET /api/reports`,
    /// replaced by a reload.
    pub reports: crate::reload::Shared<crate::reports::ReportSettings>,
    /// `POST /api/reload`.
    pub reload: crate::reload::ReloadHandle,
    /// Today's figures for the live view, shared by its viewers.
    pub today: std::sync::Arc<live::TodayCache>,
    /// The desk phones' files (`[provisioning]`); `None`: not served.
    pub provision: Option<std::sync::Arc<provision::ProvisionState>>,
}

pub mod auth;
pub mod live;
pub mod provision;
use auth::Caller;

pub fn router(state: AppState) -> Router {
    let auth = state.auth.clone();
    Router::new()
        .route("/", get(live::wallboard))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/stats/live", get(live::live))
        .route("/api/stats/stream", get(live::stream))
        .route("/api/health", get(health))
        .route("/api/calls/live", get(live_calls))
        .route("/api/callbacks", axum::routing::post(start_callback))
        .route("/api/calls", get(list_calls))
        .route("/api/calls/{id}", get(get_call))
        .route("/api/calls/{id}/ticket", put(set_call_ticket))
        .route("/api/calls/{id}/recording", get(download_recording))
        .route(
            "/api/calls/{id}/recording/accesses",
            get(recording_accesses),
        )
        .route("/api/tickets/{ticket_id}/calls", get(ticket_calls))
        .route(
            "/api/calls/{id}/recording/pause",
            axum::routing::post(pause_recording),
        )
        .route(
            "/api/calls/{id}/recording/resume",
            axum::routing::post(resume_recording),
        )
        .route(
            "/api/calls/{id}/transfer",
            axum::routing::post(transfer_call),
        )
        .route("/api/events", get(list_events))
        .route("/api/reports", get(report))
        .route("/api/outbox", get(list_outbox))
        .route(
            "/api/outbox/{id}/replay",
            axum::routing::post(replay_outbox),
        )
        .route("/api/queues", get(queues))
        .route("/api/seats", get(seats))
        .route("/api/seats/{ext}/state", put(set_state).post(set_state))
        .route("/api/reload", axum::routing::post(reload))
        .route("/provision/{secret}/{file}", get(provision::by_mac))
        .route(
            "/provision/{secret}/{vendor}/{file}",
            get(provision::by_extension),
        )
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                "no such endpoint; docs/api.md lists them".into(),
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed here; docs/api.md lists each endpoint's methods".into(),
            )
        })
        .layer(axum::middleware::from_fn_with_state(auth, auth::check))
        .with_state(state)
}

/// Query parameters whose errors are answered as JSON, like every error.
struct ApiQuery<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for ApiQuery<T>
{
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(ApiError(e.status(), e.body_text())),
        }
    }
}

/// A JSON body whose errors are answered as JSON.
struct ApiJson<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(ApiError(e.status(), e.body_text())),
        }
    }
}

/// An error answer: status and a message that says what to do.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<CommandError> for ApiError {
    /// 503 while stopping, 404 for a seat or call that is not there, 409
    /// for anything else the engine refuses.
    fn from(e: CommandError) -> Self {
        let code = match &e {
            CommandError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            CommandError::Refused(
                Refused::Acd(AcdError::UnknownSeat(_))
                | Refused::UnknownCall(_)
                | Refused::Dial(DialRefused::UnknownSeat(_)),
            ) => StatusCode::NOT_FOUND,
            CommandError::Refused(Refused::Dial(DialRefused::NotAllowed { .. })) => {
                StatusCode::FORBIDDEN
            }
            CommandError::Refused(Refused::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            CommandError::Refused(Refused::Transfer { code, .. }) => match code {
                400 => StatusCode::BAD_REQUEST,
                403 => StatusCode::FORBIDDEN,
                404 | 481 => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            },
            CommandError::Refused(_) => StatusCode::CONFLICT,
        };
        ApiError(code, e.to_string())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError(StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}"))
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

async fn health(State(s): State<AppState>) -> Response {
    let db_ok = s.store.ping().await.is_ok();
    let snapshot = s.engine.snapshot().await;
    let engine_ok = snapshot.is_some();
    let draining = snapshot.as_ref().is_some_and(|s| s.draining);
    let writer = s.writer.status();
    let degraded = !db_ok || writer.degraded;
    let status = match (engine_ok, draining, degraded) {
        (false, _, _) => "down",
        // Stopping: new calls get 503; a load balancer should look elsewhere.
        (true, true, _) => "stopping",
        (true, false, true) => "degraded",
        (true, false, false) => "ok",
    };
    let code = if engine_ok && !draining {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": status,
        "engine": engine_ok,
        "database": db_ok,
        "records_pending": writer.pending,
        "records_dropped": writer.dropped,
        "version": env!("CARGO_PKG_VERSION"),
    });
    (code, Json(body)).into_response()
}

/// 403 unless the caller sees call `id`'s class (404 if there is no such call).
async fn call_visible(s: &AppState, caller: &Caller, id: &str) -> Result<(), ApiError> {
    let call = s
        .store
        .get_call(id)
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no call record {id}")))?;
    caller.may_see(call.class)
}

/// 403 unless the caller sees seat `ext`'s side (an unknown seat is the
/// engine's 404 later).
fn seat_visible(s: &AppState, caller: &Caller, ext: &str) -> Result<(), ApiError> {
    match s.reports.get().seat_class.get(ext) {
        Some(class) => caller.may_see(*class),
        None => Ok(()),
    }
}

/// Reads the config file again and puts it in force (docs/api.md): the
/// changes, or 422 with the file, the key and the reason (nothing changed).
/// Both sides' lines change with it: operators (scope admin) only.
async fn reload(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Result<Response, ApiError> {
    if caller.scope != crate::config::Scope::Admin {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "{} (scope {}) may not reload the config: it needs scope = \"admin\"",
                caller.name,
                caller.scope.as_str()
            ),
        ));
    }
    match s.reload.reload(format!("API ({})", caller.name)).await {
        Ok(done) => Ok(Json(json!(done)).into_response()),
        Err(crate::reload::ReloadError::Refused(e)) => {
            let body = json!({
                "error": e.to_string(),
                "file": e.file,
                "key": e.key,
                "reason": e.reason,
                "kept": "nothing was reloaded: the running config stays",
            });
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response())
        }
        Err(e) => Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

/// The outbox holds both sides' events: operators (scope admin) only.
fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.scope == crate::config::Scope::Admin {
        return Ok(());
    }
    Err(ApiError(
        StatusCode::FORBIDDEN,
        format!(
            "{} (scope {}) may not see the outbox: it needs scope = \"admin\"",
            caller.name,
            caller.scope.as_str()
        ),
    ))
}

async fn snapshot(s: &AppState) -> Result<crate::server::Snapshot, ApiError> {
    s.engine.snapshot().await.ok_or_else(|| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "engine is not running".into(),
        )
    })
}

async fn live_calls(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> ApiResult<serde_json::Value> {
    let snap = snapshot(&s).await?;
    let calls: Vec<_> = snap
        .calls
        .iter()
        .filter(|c| caller.scope.sees(c.class))
        .collect();
    Ok(Json(json!({ "calls": calls })))
}

async fn queues(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> ApiResult<serde_json::Value> {
    let snap = snapshot(&s).await?;
    let queues: Vec<_> = snap
        .acd
        .queues
        .iter()
        .filter(|q| caller.scope.sees(q.class))
        .collect();
    Ok(Json(json!({ "queues": queues })))
}

async fn seats(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> ApiResult<serde_json::Value> {
    let snap = snapshot(&s).await?;
    Ok(Json(
        json!({ "seats": seat_views(snap, None, caller.scope) }),
    ))
}

/// Seats as the API shows them: the ACD's view with each seat's
/// registrations; only `only` when given.
fn seat_views(
    snap: crate::server::Snapshot,
    only: Option<&str>,
    scope: crate::config::Scope,
) -> Vec<serde_json::Value> {
    let registrations: std::collections::HashMap<_, _> = snap.registrations.into_iter().collect();
    snap.acd
        .seats
        .iter()
        .filter(|seat| only.is_none_or(|ext| seat.extension == ext) && scope.sees(seat.class))
        .map(|seat| {
            let mut v = serde_json::to_value(seat).unwrap_or_default();
            let regs = registrations
                .get(&seat.extension)
                .cloned()
                .unwrap_or_default();
            v["registrations"] = serde_json::to_value(regs).unwrap_or_default();
            v
        })
        .collect()
}

#[derive(Deserialize)]
struct StateBody {
    /// `ready`, `not_ready`, `logged_out` (or `logout`), `login`.
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

async fn set_state(
    State(s): State<AppState>,
    Path(ext): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
    ApiJson(body): ApiJson<StateBody>,
) -> ApiResult<serde_json::Value> {
    seat_visible(&s, &caller, &ext)?;
    let request = match body.state.as_str() {
        "ready" => StateRequest::Ready,
        "not_ready" => StateRequest::NotReady(body.reason.unwrap_or_else(|| "other".into())),
        "logged_out" | "logout" => StateRequest::Logout,
        "login" | "logged_in" => StateRequest::Login,
        other => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown state {other:?}; use ready, not_ready (with reason), login or logged_out"
                ),
            ));
        }
    };
    s.engine
        .command(Command::SetAgentState {
            seat: ext.clone(),
            request,
        })
        .await
        .map_err(ApiError::from)?;
    let snap = snapshot(&s).await?;
    let seat = seat_views(snap, Some(&ext), caller.scope).pop();
    Ok(Json(json!({ "seat": seat })))
}

/// Streams a call's WAV (HTTP Range supported, for players that seek),
/// after writing who asked to the audit log.
async fn download_recording(
    State(s): State<AppState>,
    Path(id): Path<String>,
    axum::extract::ConnectInfo(remote): axum::extract::ConnectInfo<std::net::SocketAddr>,
    axum::Extension(caller): axum::Extension<Caller>,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    use tower::ServiceExt;
    // Owned before any await: a borrow of the request would make the
    // handler's future !Send (the body is not Sync).
    let (who, byte_range) = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        (header("x-hotline-user"), header("range"))
    };
    let call = s
        .store
        .get_call(&id)
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no call record {id}")))?;
    caller.may_see(call.class)?;
    let Some(rec) = call.media.recording.as_ref() else {
        let why = call
            .media
            .recording_error
            .as_deref()
            .unwrap_or("the call was not recorded (or its recording is not finished yet)");
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no recording for call {id}: {why}"),
        ));
    };
    if let Some(at) = rec.deleted_at_ms {
        return Err(ApiError(
            StatusCode::GONE,
            format!(
                "the recording of call {id} was deleted at {at} (Unix ms) by the retention policy ([recordings] retention_days); its duration and SHA-256 stay on the record"
            ),
        ));
    }
    let path = s.recordings.root_for(call.class).join(&rec.path);
    if !path.is_file() {
        return Err(ApiError(
            StatusCode::GONE,
            format!(
                "the recording of call {id} is on record but its file {} is missing",
                rec.path
            ),
        ));
    }
    let access = crate::store::RecordingAccess {
        at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        call_id: id.clone(),
        who: match who.filter(|w| !w.is_empty()) {
            Some(user) => format!("{} for {user}", caller.name),
            None => caller.name.clone(),
        },
        remote: remote.to_string(),
        byte_range,
    };
    s.store.log_recording_access(&access).await?;
    tracing::info!(call = %id, who = %access.who, remote = %access.remote, range = access.byte_range.as_deref(), "recording downloaded");
    let served = tower_http::services::ServeFile::new(&path)
        .oneshot(req)
        .await
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reading {}: {e}", path.display()),
            )
        })?;
    let mut resp = served.map(axum::body::Body::new).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("attachment; filename=\"{id}.wav\""))
    {
        resp.headers_mut()
            .insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// The audit log of a call's recording downloads.
async fn recording_accesses(
    State(s): State<AppState>,
    Path(id): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> ApiResult<serde_json::Value> {
    call_visible(&s, &caller, &id).await?;
    let accesses = s.store.recording_accesses(&id).await?;
    Ok(Json(json!({ "call": id, "accesses": accesses })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketBody {
    /// The ticket; null unlinks the call.
    ticket_id: Option<String>,
}

/// Links a call to a ticket (the agent desktop or the ticket system,
/// when the ticket is made after the call, or for a callback).
async fn set_call_ticket(
    State(s): State<AppState>,
    Path(id): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
    ApiJson(body): ApiJson<TicketBody>,
) -> ApiResult<serde_json::Value> {
    call_visible(&s, &caller, &id).await?;
    let ticket = body.ticket_id.filter(|t| !t.trim().is_empty());
    if ticket.as_ref().is_some_and(|t| t.len() > 200) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "ticket_id: at most 200 characters".into(),
        ));
    }
    if !s.store.set_call_ticket(&id, ticket.as_deref()).await? {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no call record {id}"),
        ));
    }
    tracing::info!(call = %id, ticket_id = ticket.as_deref(), "call linked to a ticket");
    Ok(Json(json!({ "call": id, "ticket_id": ticket })))
}

/// Every call of a ticket, first call first (the citizen's call, then
/// callbacks and transfers).
async fn ticket_calls(
    State(s): State<AppState>,
    Path(ticket_id): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> ApiResult<serde_json::Value> {
    let filter = CallFilter {
        ticket_id: Some(ticket_id.clone()),
        class: caller.scope.only(),
        limit: Some(1000),
        ..Default::default()
    };
    let mut calls = s.store.list_calls(&filter).await?;
    calls.reverse();
    Ok(Json(json!({ "ticket_id": ticket_id, "calls": calls })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OutboxQuery {
    /// pending | delivered | dead
    state: Option<String>,
    limit: Option<u32>,
}

/// The ticket system's events: what waits, what was delivered, what is
/// dead-lettered and why.
async fn list_outbox(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> ApiResult<serde_json::Value> {
    admin_only(&caller)?;
    if let Some(state) = q.state.as_deref()
        && !matches!(state, "pending" | "delivered" | "dead")
    {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("state {state:?}: use pending, delivered or dead"),
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let events = s
        .store
        .list_outbox(q.state.as_deref(), i64::from(limit))
        .await?;
    Ok(Json(json!({ "events": events })))
}

/// Puts a dead-lettered event back in line (after the ticket system or
/// the secret was fixed).
async fn replay_outbox(
    State(s): State<AppState>,
    Path(id): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> ApiResult<serde_json::Value> {
    admin_only(&caller)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    if !s.store.outbox_replay(&id, now).await? {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no dead event {id:?}; list them with GET /api/outbox?state=dead"),
        ));
    }
    tracing::info!(event = %id, "dead event replayed");
    Ok(Json(json!({ "event": id, "state": "pending" })))
}

/// Optional body of the recording pause/resume requests.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    /// Who asked (an agent, a supervisor): written to the event log.
    by: Option<String>,
}

async fn pause_recording(
    s: State<AppState>,
    id: Path<String>,
    caller: axum::Extension<Caller>,
    body: axum::body::Bytes,
) -> ApiResult<serde_json::Value> {
    set_recording_paused(s, id, caller, body, true).await
}

async fn resume_recording(
    s: State<AppState>,
    id: Path<String>,
    caller: axum::Extension<Caller>,
    body: axum::body::Bytes,
) -> ApiResult<serde_json::Value> {
    set_recording_paused(s, id, caller, body, false).await
}

/// Pauses or resumes a live call's recording: the pause is silence in the
/// WAV, and an event (`recording_paused` / `recording_resumed`) says who
/// and when.
async fn set_recording_paused(
    State(s): State<AppState>,
    Path(id): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
    body: axum::body::Bytes,
    pause: bool,
) -> ApiResult<serde_json::Value> {
    let body: PauseBody = if body.iter().all(u8::is_ascii_whitespace) {
        PauseBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("body: {e}; send {{\"by\": \"who asked\"}} or nothing"),
            )
        })?
    };
    call_visible(&s, &caller, &id).await?;
    // Without tokens the caller is "anonymous": keep the old default "api".
    let by = body.by.unwrap_or_else(|| {
        if caller.name == "anonymous" {
            "api".into()
        } else {
            caller.name.clone()
        }
    });
    s.engine
        .command(Command::PauseRecording {
            call: id.clone(),
            pause,
            by,
        })
        .await
        .map_err(ApiError::from)?;
    Ok(Json(
        json!({ "call": id, "recording": if pause { "paused" } else { "recording" } }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    /// A seat extension, or a line number (110, 12345, ...).
    to: String,
    /// Who asked: written to the log; the token's name if not given.
    by: Option<String>,
}

/// Blind transfer of a connected call (`POST /api/calls/{id}/transfer`):
/// the agent is released and the caller waits for `to`. Across sides the
/// call goes on under a new id (`call` in the answer), whose record's
/// `parent_id` is `id`.
async fn transfer_call(
    State(s): State<AppState>,
    Path(id): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let body: TransferBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("body: {e}; send {{\"to\": \"110\"}} (a line number or a seat extension)"),
        )
    })?;
    call_visible(&s, &caller, &id).await?;
    let by = body.by.unwrap_or_else(|| caller.name.clone());
    let (reply, answer) = tokio::sync::oneshot::channel();
    let cmd = Command::Transfer {
        call: id.clone(),
        to: body.to.clone(),
        by,
        reply: Some(reply),
    };
    s.engine.command(cmd).await.map_err(ApiError::from)?;
    let continues = answer.await.unwrap_or_else(|_| id.clone());
    let json = json!({ "transferred": id, "to": body.to, "call": continues, "new_record": continues != id });
    Ok((StatusCode::ACCEPTED, Json(json)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackBody {
    /// The seat whose phone rings first (its agent talks to the citizen).
    seat: String,
    /// The citizen's number, as dialled through the trunk (no prefix).
    number: String,
    /// The ticket the callback is for: stored on the call from the start.
    #[serde(default)]
    ticket_id: Option<String>,
    /// Who asked, for the log; default the token's name.
    #[serde(default)]
    by: Option<String>,
}

/// Click-to-call: rings the seat's phone, and once the agent picks up,
/// calls the citizen through the trunk. Answers 202 at once with the call
/// id; the call's record (direction `outbound`) tells how it went.
async fn start_callback(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    ApiJson(body): ApiJson<CallbackBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let number = body.number.trim().to_string();
    if number.is_empty()
        || !number
            .trim_start_matches('+')
            .chars()
            .all(|c| c.is_ascii_digit())
    {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("number {number:?} must be digits (an optional leading +)"),
        ));
    }
    let ticket = body
        .ticket_id
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    if ticket.as_ref().is_some_and(|t| t.len() > 200) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "ticket_id is longer than 200 characters".into(),
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    seat_visible(&s, &caller, &body.seat)?;
    let by = body.by.unwrap_or_else(|| caller.name.clone());
    let req = ClickToCall {
        id: id.clone(),
        seat: body.seat.clone(),
        number: number.clone(),
        ticket: ticket.clone(),
        by,
    };
    s.engine
        .command(Command::Callback(req))
        .await
        .map_err(ApiError::from)?;
    let answer = json!({ "call": id, "seat": body.seat, "number": number, "ticket_id": ticket, "state": "ringing_seat" });
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

#[derive(Deserialize, Default)]
struct CallQuery {
    from: Option<String>,
    to: Option<String>,
    line: Option<String>,
    queue: Option<String>,
    seat: Option<String>,
    outcome: Option<String>,
    class: Option<String>,
    direction: Option<String>,
    parent_id: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

/// Accepts Unix milliseconds or an RFC 3339 timestamp.
fn parse_time(key: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(Some(ms));
    }
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map(|t| Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
        .map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("{key}={v:?} is neither Unix milliseconds nor RFC 3339 (2026-11-22T08:00:00+08:00)"),
            )
        })
}

async fn list_calls(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<CallQuery>,
) -> ApiResult<serde_json::Value> {
    let outcome = match &q.outcome {
        Some(o) => Some(o.parse::<Outcome>().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("outcome={o:?}: use answered, abandoned, overflowed, rejected or failed"),
            )
        })?),
        None => None,
    };
    let class = match &q.class {
        Some(c) => Some(c.parse::<LineClass>().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("class={c:?}: use emergency or non_emergency"),
            )
        })?),
        None => None,
    };
    // A token limited to one side lists only its calls; asking for the
    // other side's is refused, not answered empty.
    if let Some(c) = class {
        caller.may_see(c)?;
    }
    let class = class.or(caller.scope.only());
    let direction = match &q.direction {
        Some(d) => Some(d.parse::<crate::model::Direction>().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("direction={d:?}: use inbound, outbound or internal"),
            )
        })?),
        None => None,
    };
    let filter = CallFilter {
        from_ms: parse_time("from", &q.from)?,
        to_ms: parse_time("to", &q.to)?,
        line: q.line,
        queue: q.queue,
        seat: q.seat,
        outcome,
        class,
        direction,
        ticket_id: None,
        parent_id: q.parent_id,
        limit: q.limit,
        offset: q.offset,
    };
    let calls = s.store.list_calls(&filter).await?;
    Ok(Json(json!({ "calls": calls })))
}

async fn get_call(
    State(s): State<AppState>,
    Path(id): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Result<Response, ApiError> {
    match s.store.get_call(&id).await? {
        Some(call) => {
            caller.may_see(call.class)?;
            let events = s
                .store
                .list_events(&EventFilter {
                    call_id: Some(id.clone()),
                    ..Default::default()
                })
                .await?;
            // The records continuing this one after a transfer across
            // sides, those this token may see.
            let filter = CallFilter {
                parent_id: Some(id),
                class: caller.scope.only(),
                ..Default::default()
            };
            let children: Vec<String> = s
                .store
                .list_calls(&filter)
                .await?
                .into_iter()
                .map(|c| c.record.id)
                .collect();
            Ok(
                Json(json!({ "call": call, "events": events, "children": children }))
                    .into_response(),
            )
        }
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no call record {id}"),
        )),
    }
}

#[derive(Deserialize, Default)]
struct EventQuery {
    call_id: Option<String>,
    queue: Option<String>,
    seat: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn list_events(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<serde_json::Value> {
    let kind = match &q.kind {
        Some(k) => Some(k.parse::<EventKind>().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("kind={k:?}: use enqueue, ring, no_answer, connect, abandon, overflow, reject, complete or agent_state"),
            )
        })?),
        None => None,
    };
    let filter = EventFilter {
        call_id: q.call_id,
        queue: q.queue,
        seat: q.seat,
        kind,
        from_ms: parse_time("from", &q.from)?,
        to_ms: parse_time("to", &q.to)?,
        limit: q.limit,
        offset: q.offset,
    };
    let mut events = s.store.list_events(&filter).await?;
    if caller.scope.only().is_some() {
        // An event belongs to its queue's side, else to its seat's; one
        // with neither (none is logged so today) only admins see.
        let snap = snapshot(&s).await?;
        let queue_class: std::collections::HashMap<&str, LineClass> = snap
            .acd
            .queues
            .iter()
            .map(|q| (q.name.as_str(), q.class))
            .collect();
        let seat_class: std::collections::HashMap<&str, LineClass> = snap
            .acd
            .seats
            .iter()
            .map(|q| (q.extension.as_str(), q.class))
            .collect();
        events.retain(|e| {
            let class = e
                .queue
                .as_deref()
                .and_then(|q| queue_class.get(q))
                .or_else(|| e.seat.as_deref().and_then(|x| seat_class.get(x)));
            class.is_some_and(|c| caller.scope.sees(*c))
        });
    }
    Ok(Json(json!({ "events": events })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
    interval: Option<String>,
    mix_classes: Option<bool>,
}

/// A historical report (docs/metrics.md), as `hotline report --format json`.
async fn report(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<ReportParams>,
) -> ApiResult<serde_json::Value> {
    use crate::reports::{self, By, End, Interval, ReportQuery};
    let bad = |key: &str, e: String| ApiError(StatusCode::BAD_REQUEST, format!("{key}: {e}"));
    let tz = s.reports.get().tz;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let from = reports::parse_bound(q.from.as_deref().unwrap_or("today"), tz, now, End::From)
        .map_err(|e| bad("from", e))?;
    let to = reports::parse_bound(q.to.as_deref().unwrap_or("now"), tz, now, End::To)
        .map_err(|e| bad("to", e))?;
    let by = By::parse(q.by.as_deref().unwrap_or("line")).map_err(|e| bad("by", e))?;
    let interval = q
        .interval
        .as_deref()
        .map(Interval::parse)
        .transpose()
        .map_err(|e| bad("interval", e))?;
    let query =
        ReportQuery::new(from, to, by, interval, q.mix_classes.unwrap_or(false)).map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                e.replace("--to", "to").replace("--from", "from"),
            )
        })?;
    if query.mix_classes && caller.scope.only().is_some() {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "{} (scope {}) may not mix emergency and non-emergency figures",
                caller.name,
                caller.scope.as_str()
            ),
        ));
    }
    let report = reports::run(&s.store, &query, &s.reports.get(), now).await?;
    let mut v = reports::format::to_json(&report);
    if let (Some(only), Some(rows)) = (caller.scope.only(), v["rows"].as_array_mut()) {
        rows.retain(|r| r["class"] == only.as_str());
    }
    Ok(Json(v))
}
