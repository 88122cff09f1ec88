//! The HTTP routes (listed in the OpenAPI document) and their error shape
//! `{error, message, details}`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};

use super::runner::TaskSpec;
use super::security::{self, Refusal};
use super::state::{AgentPhase, Shared, TaskEvent};
use crate::history::{DebugView, HistoryPage, TaskSummary, TaskView};
use warren_core::TaskState;
use warren_core::time::{now_ms, rfc3339_ms};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    fn with(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "validation_error", message)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no {what}"))
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            e.to_string(),
        )
    }

    pub fn busy(current: &str) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "agent_busy",
            format!("the agent is running task {current}"),
        )
        .with(json!({ "current_task": current }))
    }

    pub fn starting(why: Option<&str>) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "agent_starting",
            "the agent is starting: its tool has not answered `--version` yet",
        )
        .with(json!({ "waiting_for": why }))
    }

    pub fn draining() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the agent is shutting down",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": self.code,
            "message": self.message,
            "details": self.details,
        });
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Whether the request carried the token (set by the auth layer).
#[derive(Debug, Clone, Copy)]
struct Authed(bool);

/// Every route, for the OpenAPI check.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/status"),
    ("post", "/task"),
    ("get", "/task/{id}"),
    ("post", "/task/{id}/cancel"),
    ("post", "/task/{id}/continue"),
    ("post", "/task/{id}/end"),
    ("get", "/task/{id}/debug"),
    ("get", "/task/{id}/events"),
    ("get", "/history"),
    ("get", "/history/{id}"),
    ("post", "/shutdown"),
    ("get", "/openapi.json"),
];

/// The router with the security layer.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/task", post(create_task))
        .route("/task/{id}", get(get_task))
        .route("/task/{id}/cancel", post(cancel_task))
        .route("/task/{id}/continue", post(continue_task))
        .route("/task/{id}/end", post(end_task))
        .route("/task/{id}/debug", get(debug_task))
        .route("/task/{id}/events", get(task_events))
        .route("/history", get(history))
        .route("/history/{id}", get(history_item))
        .route("/shutdown", post(shutdown))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { ApiError::not_found("such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        })
        .layer(middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared)
}

/// Host/Origin checks, then the token (optional only for `GET /status`).
async fn guard(State(s): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    if let Err(r) = security::check_request(req.headers(), s.addr.port()) {
        let (code, msg) = match r {
            Refusal::Host(h) => (
                "forbidden_host",
                format!("requests for host `{h}` are refused (only loopback names are served)"),
            ),
            Refusal::Origin(o) => (
                "forbidden_origin",
                format!(
                    "requests from web pages are refused (origin `{o}`); only this server's own origin may call it"
                ),
            ),
        };
        s.log(&format!(
            "refused {} {}: {msg}",
            req.method(),
            req.uri().path()
        ));
        return ApiError::new(StatusCode::FORBIDDEN, code, msg).into_response();
    }
    let ok = security::authorized(req.headers(), req.uri(), &s.token);
    let public = req.method() == axum::http::Method::GET && req.uri().path() == "/status";
    if !ok && !public {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!(
                "a valid `Authorization: Bearer TOKEN` header (or `?token=TOKEN`) is required; \
                 the token is in `{}` on the machine that runs the agent",
                security::token_path(&s.cfg.root).display()
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert(Authed(ok));
    next.run(req).await
}

async fn status(
    State(s): State<Arc<Shared>>,
    Extension(Authed(authed)): Extension<Authed>,
) -> Json<Value> {
    let (phase, current, version, probe_error) = {
        let inner = s.inner();
        (
            inner.phase,
            inner.current.as_ref().map(|c| c.id.clone()),
            inner.version.clone(),
            inner.probe_error.clone(),
        )
    };
    let state = match (phase, &current) {
        (AgentPhase::Starting, _) => "starting",
        (_, Some(_)) => "working",
        (AgentPhase::Draining, None) => "stopping",
        (AgentPhase::Ready, None) => "idle",
    };
    let mut body = json!({
        "type": "agent",
        "interfaces": ["task-api/1"],
        "version": env!("CARGO_PKG_VERSION"),
        "state": state,
        "uptime_seconds": s.started.elapsed().as_secs(),
    });
    if authed {
        body["current_task"] = json!(current);
        body["config"] = json!({
            "name": s.cfg.name,
            "tool": s.cfg.tool,
            "tool_version": version,
            "runtime": s.launcher.describe(),
            "env": s.cfg.env,
            "skip_permissions": s.cfg.skip_permissions,
            "default_timeout_seconds": s.cfg.default_timeout.as_secs(),
            "max_turns": s.cfg.max_turns,
            "waiting_for": probe_error,
        });
    }
    Json(body)
}

/// `POST /task` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskBody {
    prompt: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    project: Option<ProjectBody>,
    #[serde(default)]
    env: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectBody {
    name: String,
    #[serde(default)]
    prompt: Option<String>,
}

/// `POST /task/:id/continue` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContinueBody {
    prompt: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    timeout_seconds: Option<u64>,
}

const MAX_PROMPT: usize = 1 << 20;
const MAX_TIMEOUT: u64 = 7 * 24 * 3600;

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::validation(e.body_text()))
}

fn check_prompt(p: &str) -> ApiResult<()> {
    if p.is_empty() {
        return Err(ApiError::validation("`prompt` must not be empty"));
    }
    if p.chars().count() > MAX_PROMPT {
        return Err(ApiError::validation("`prompt` is longer than 1 MiB"));
    }
    if p.contains('\0') {
        return Err(ApiError::validation("`prompt` must not contain NUL"));
    }
    Ok(())
}

fn check_word(name: &str, v: &Option<String>) -> ApiResult<()> {
    if let Some(v) = v
        && (v.is_empty() || v.chars().count() > 256 || v.chars().any(|c| c.is_control()))
    {
        return Err(ApiError::validation(format!(
            "`{name}` must be 1-256 printable characters"
        )));
    }
    Ok(())
}

fn check_timeout(t: Option<u64>) -> ApiResult<Option<Duration>> {
    match t {
        None => Ok(None),
        Some(0) => Err(ApiError::validation("`timeout_seconds` must be at least 1")),
        Some(n) if n > MAX_TIMEOUT => Err(ApiError::validation(format!(
            "`timeout_seconds` must be at most {MAX_TIMEOUT}"
        ))),
        Some(n) => Ok(Some(Duration::from_secs(n))),
    }
}

fn valid_env_name(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 128
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why a task may not set `k`: variables that steer the dynamic loader (of
/// the tool and of everything it starts: `LD_PRELOAD` runs code in each) or
/// warren itself (`WARREN_*`, which warren also sets inside environments).
/// Everything else reaches only the command.
fn steering_env_name(k: &str) -> Option<&'static str> {
    if k.starts_with("LD_") || k.starts_with("DYLD_") || k == "GLIBC_TUNABLES" || k == "GCONV_PATH"
    {
        Some("it steers the dynamic loader")
    } else if k == "WARREN" || k.starts_with("WARREN_") {
        Some("warren sets and reads the `WARREN_*` variables itself")
    } else {
        None
    }
}

fn started_body(
    s: &Shared,
    task_id: &str,
    session_id: Option<String>,
) -> (StatusCode, Json<Value>) {
    let _ = s;
    (
        StatusCode::CREATED,
        Json(json!({ "task_id": task_id, "session_id": session_id, "status": "running" })),
    )
}

async fn create_task(
    State(s): State<Arc<Shared>>,
    body: Result<Json<TaskBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = json_body(body)?;
    check_prompt(&b.prompt)?;
    check_word("model", &b.model)?;
    check_word("session_id", &b.session_id)?;
    let timeout = check_timeout(b.timeout_seconds)?;
    let mut env = Vec::new();
    for (k, v) in b.env.unwrap_or_default() {
        if !valid_env_name(&k) || v.contains('\0') {
            return Err(ApiError::validation(format!(
                "`env` key `{k}` is not a valid variable name (or its value has NUL)"
            )));
        }
        if let Some(why) = steering_env_name(&k) {
            return Err(
                ApiError::validation(format!("`env` may not set `{k}`: {why}"))
                    .with(json!({ "variable": k })),
            );
        }
        env.push((k, v));
    }
    let instructions = match b.project {
        Some(p) => {
            check_word("project.name", &Some(p.name.clone()))?;
            if p.prompt.as_deref().is_some_and(|pp| pp.contains('\0')) {
                return Err(ApiError::validation(
                    "`project.prompt` must not contain NUL",
                ));
            }
            Some(match p.prompt {
                Some(pp) if !pp.trim().is_empty() => {
                    format!("You are working on the project `{}`.\n{pp}", p.name)
                }
                _ => format!("You are working on the project `{}`.", p.name),
            })
        }
        None => None,
    };
    if let Some(sid) = &b.session_id
        && let Some(prev) = s
            .store()
            .latest_task_in_session(&s.cfg.name, sid)
            .map_err(ApiError::internal)?
        && prev.session_ended
    {
        return Err(ended(&prev.id, sid));
    }
    let started = s.start_task(TaskSpec {
        prompt: b.prompt,
        model: b.model,
        timeout,
        resume: b.session_id,
        parent_id: None,
        env,
        instructions,
    })?;
    Ok(started_body(&s, &started.task_id, started.session_id))
}

fn ended(task: &str, session: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "already_completed",
        format!("session {session} was ended"),
    )
    .with(json!({ "task_id": task, "session_id": session }))
}

/// The view of a task: live when it is the running one, else from history.
fn task_view(s: &Shared, id: &str) -> ApiResult<TaskView> {
    let live = s.inner().current.clone().filter(|c| c.id == id);
    let rec = s
        .store()
        .task(id)
        .map_err(ApiError::internal)?
        .filter(|t| t.agent == s.cfg.name)
        .ok_or_else(|| ApiError::not_found("task with that id"))?;
    let mut view = TaskView::from_record(&rec, now_ms());
    if let Some(live) = live {
        let d = live.lock();
        view.output = s.redactor.redact(&d.text.join("\n"));
        view.session_id = d.session_id.clone().or(view.session_id);
        view.attempts = d.attempts;
    }
    Ok(view)
}

async fn get_task(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskView>> {
    Ok(Json(task_view(&s, &id)?))
}

/// The body of a request that takes none. Read anyway: a response sent
/// before its body has arrived makes hyper close the connection, and a
/// client that pooled it (ureq does) fails its next request.
type IgnoredBody = axum::body::Bytes;

async fn cancel_task(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    _body: IgnoredBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let live = s.inner().current.clone().filter(|c| c.id == id);
    match live {
        Some(l) => {
            s.log(&format!("task {id}: cancel requested"));
            l.cancel.send_replace(true);
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "task_id": id, "status": "cancelling" })),
            ))
        }
        None => {
            let view = task_view(&s, &id)?;
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_completed",
                format!("task {id} has already ended ({})", view.state),
            )
            .with(json!({ "task_id": id, "state": view.state })))
        }
    }
}

async fn continue_task(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<ContinueBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let view = task_view(&s, &id)?;
    let b = json_body(body)?;
    check_prompt(&b.prompt)?;
    check_word("model", &b.model)?;
    let timeout = check_timeout(b.timeout_seconds)?;
    if view.state == TaskState::Running {
        return Err(in_progress(&id));
    }
    let Some(session) = view.session_id.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_completed",
            format!("task {id} has no tool session to continue"),
        ));
    };
    if view.session_ended {
        return Err(ended(&id, &session));
    }
    let started = s.start_task(TaskSpec {
        prompt: b.prompt,
        model: b.model.or(view.model),
        timeout,
        resume: Some(session),
        parent_id: Some(id),
        env: Vec::new(),
        instructions: None,
    })?;
    Ok(started_body(&s, &started.task_id, started.session_id))
}

fn in_progress(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "task_in_progress",
        format!("task {id} is still running"),
    )
    .with(json!({ "task_id": id }))
}

async fn end_task(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    _body: IgnoredBody,
) -> ApiResult<Json<Value>> {
    let view = task_view(&s, &id)?;
    if view.state == TaskState::Running {
        return Err(in_progress(&id));
    }
    let Some(session) = view.session_id else {
        return Ok(Json(
            json!({ "task_id": id, "session_id": null, "ended": true }),
        ));
    };
    if view.session_ended {
        return Err(ended(&id, &session));
    }
    s.store()
        .end_session(&s.cfg.name, &session)
        .map_err(ApiError::internal)?;
    s.log(&format!("session {session} ended"));
    Ok(Json(
        json!({ "task_id": id, "session_id": session, "ended": true }),
    ))
}

async fn debug_task(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult<Json<DebugView>> {
    let live = s.inner().current.clone().filter(|c| c.id == id);
    let rec = s
        .store()
        .task(&id)
        .map_err(ApiError::internal)?
        .filter(|t| t.agent == s.cfg.name)
        .ok_or_else(|| ApiError::not_found("task with that id"))?;
    let mut v = DebugView::from_record(&rec);
    if let Some(l) = live {
        let d = l.lock();
        v.argv = d.argv.clone();
        v.stdout = s.redactor.redact(&d.stdout);
        v.stderr = s.redactor.redact(&d.stderr);
        v.attempts = d.attempts;
    }
    Ok(Json(v))
}

fn sse_event(ev: &TaskEvent) -> Event {
    let (name, data) = match ev {
        TaskEvent::Progress { kind, text } => ("progress", json!({ "kind": kind, "text": text })),
        TaskEvent::Session { session_id } => ("session", json!({ "session_id": session_id })),
        TaskEvent::Done { task_id, state } => {
            ("done", json!({ "task_id": task_id, "state": state }))
        }
    };
    Event::default().event(name).data(data.to_string())
}

async fn task_events(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let live = s.inner().current.clone().filter(|c| c.id == id);
    let (backlog, rx) = match &live {
        Some(l) => {
            let d = l.lock();
            // Subscribing under the lock: nothing sent in between is lost.
            (d.events.clone(), Some(l.events.subscribe()))
        }
        None => {
            let view = task_view(&s, &id)?;
            (
                vec![TaskEvent::Done {
                    task_id: id.clone(),
                    state: view.state,
                }],
                None,
            )
        }
    };
    let finished = backlog.iter().any(|e| matches!(e, TaskEvent::Done { .. }));
    let backlog_stream = stream::iter(backlog.into_iter().map(|e| Ok(sse_event(&e))));
    let live_stream = stream::unfold((rx.filter(|_| !finished), false), |(rx, done)| async move {
        let mut rx = rx?;
        if done {
            return None;
        }
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let is_done = matches!(ev, TaskEvent::Done { .. });
                    return Some((Ok(sse_event(&ev)), (Some(rx), is_done)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(backlog_stream.chain(live_stream)).keep_alive(KeepAlive::default()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    #[allow(dead_code)]
    token: Option<String>,
}

async fn history(
    State(s): State<Arc<Shared>>,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> ApiResult<Json<HistoryPage>> {
    let Query(q) = q.map_err(|e| ApiError::validation(e.body_text()))?;
    let page = q.page.unwrap_or(1);
    let limit = q.limit.unwrap_or(20);
    if page == 0 || page > 1_000_000 {
        return Err(ApiError::validation("`page` must be between 1 and 1000000"));
    }
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("`limit` must be between 1 and 100"));
    }
    let (rows, total) = s
        .store()
        .tasks_page(&s.cfg.name, (page - 1) * limit, limit)
        .map_err(ApiError::internal)?;
    let now = now_ms();
    Ok(Json(HistoryPage {
        tasks: rows
            .iter()
            .map(|r| TaskSummary::from_record(r, now))
            .collect(),
        page,
        limit,
        total,
    }))
}

async fn history_item(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskView>> {
    Ok(Json(task_view(&s, &id)?))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ShutdownBody {
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    force: Option<bool>,
}

async fn shutdown(
    State(s): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b: ShutdownBody = if body.iter().all(|c| c.is_ascii_whitespace()) {
        ShutdownBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation(format!("invalid JSON body: {e}")))?
    };
    if b.timeout_seconds.is_some_and(|t| t > MAX_TIMEOUT) {
        return Err(ApiError::validation(format!(
            "`timeout_seconds` must be at most {MAX_TIMEOUT}"
        )));
    }
    let force = b.force.unwrap_or(false);
    let current = s.inner().current.as_ref().map(|c| c.id.clone());
    s.log(&format!(
        "shutdown requested{}",
        if force { " (forced)" } else { "" }
    ));
    s.request_shutdown(b.timeout_seconds.map(Duration::from_secs), force);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "status": "shutting_down",
            "draining_task": current,
            "force": force,
            "at": rfc3339_ms(now_ms()),
        })),
    ))
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::DOCUMENT,
    )
        .into_response()
}
