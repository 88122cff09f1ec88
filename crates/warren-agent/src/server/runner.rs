//! One task from submission to its stored result: reserve the agent, store
//! the task, run the tool (retrying retryable failures with exponential
//! backoff), classify the outcome, store it, release the agent.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use warren_core::TaskState;
use warren_store::{TaskFinish, TaskRecord};

use super::api::ApiError;
use super::state::{AgentPhase, LiveData, LiveTask, Shared, TaskEvent};
use crate::adapters::{ErrorClass, HeadlessRequest, Outcome, Progress, ToolFailure};
use crate::executor::{self, RawRun, RunLimits, RunSink, StopReason};
use crate::util::uuid_v4;
use warren_core::time::now_ms;

/// A task to start, validated.
#[derive(Debug, Clone, Default)]
pub struct TaskSpec {
    pub prompt: String,
    pub model: Option<String>,
    pub timeout: Option<Duration>,
    /// Continue this tool session.
    pub resume: Option<String>,
    pub parent_id: Option<String>,
    pub env: Vec<(String, String)>,
    /// Extra instructions (the request's `project`).
    pub instructions: Option<String>,
}

/// What `POST /task` answers.
#[derive(Debug, Clone)]
pub struct Started {
    pub task_id: String,
    pub session_id: Option<String>,
}

struct LiveSink<'a> {
    shared: &'a Shared,
    live: &'a LiveTask,
}

impl LiveSink<'_> {
    fn emit(&self, d: &mut LiveData, ev: TaskEvent) {
        d.events.push(ev.clone());
        let _ = self.live.events.send(ev);
    }
}

impl RunSink for LiveSink<'_> {
    fn stdout_line(&mut self, line: &str) {
        {
            let mut d = self.live.lock();
            d.stdout.push_str(line);
            d.stdout.push('\n');
        }
        self.shared.flush_live(self.live, false);
    }

    fn stderr_line(&mut self, line: &str) {
        {
            let mut d = self.live.lock();
            d.stderr.push_str(line);
            d.stderr.push('\n');
        }
        self.shared.flush_live(self.live, false);
    }

    fn progress(&mut self, p: Progress) {
        let text = self.shared.redactor.redact(&p.text);
        let mut d = self.live.lock();
        if p.kind == "text" {
            d.text.push(text.clone());
        }
        self.emit(&mut d, TaskEvent::Progress { kind: p.kind, text });
    }

    fn session_id(&mut self, id: &str) {
        let mut d = self.live.lock();
        if d.session_id.as_deref() == Some(id) {
            return;
        }
        d.session_id = Some(id.to_string());
        self.emit(
            &mut d,
            TaskEvent::Session {
                session_id: id.to_string(),
            },
        );
    }
}

impl Shared {
    /// Why the tool cannot log in at all, when it cannot: none of its key
    /// variables is set (for the server, in `tool_env`, or in the task's
    /// `env`), none is stored under `ROOT/credentials/`, and no login file
    /// is in `home`. Such a run only ends in "not logged in" (claude), or
    /// retries for minutes (codex, opencode), or waits 5 minutes for a
    /// browser login (aider). Custom tools are not checked.
    pub(crate) fn missing_credentials(&self, task_env: &[(String, String)]) -> Option<String> {
        let info = self.adapter.info()?;
        let set_in =
            |list: &[(String, String)], k: &str| list.iter().any(|(n, v)| n == k && !v.is_empty());
        let is_set = |k: &str| {
            std::env::var_os(k).is_some_and(|v| !v.is_empty())
                || set_in(&self.cfg.tool_env, k)
                || set_in(task_env, k)
        };
        let found = warren_core::tools::credential_sources(
            info,
            &is_set,
            self.cfg.home.as_deref(),
            Some(&self.cfg.root),
        );
        if !found.is_empty() {
            return None;
        }
        Some(format!(
            "`{}` has no credentials: none of {} is set for the agent or stored in `{}`, and no login file is in {}; {}",
            info.name,
            info.key_env.join(", "),
            self.cfg.root.join("credentials").display(),
            self.cfg
                .home
                .as_ref()
                .map(|h| format!("`{}`", h.display()))
                .unwrap_or_else(|| "the home directory".into()),
            info.login_hint
        ))
    }

    /// The tool request of one attempt at `spec`.
    fn request(
        &self,
        spec: &TaskSpec,
        resume: Option<String>,
        new_session_id: Option<String>,
    ) -> HeadlessRequest {
        let instructions = match (&self.cfg.append_system_prompt, &spec.instructions) {
            (Some(a), Some(b)) => Some(format!("{a}\n\n{b}")),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        HeadlessRequest {
            prompt: spec.prompt.clone(),
            model: spec.model.clone(),
            resume,
            new_session_id,
            skip_permissions: self.cfg.skip_permissions,
            max_turns: self.cfg.max_turns,
            append_system_prompt: instructions,
        }
    }

    /// Reserves the agent and starts `spec` in the background.
    pub(crate) fn start_task(self: &Arc<Self>, spec: TaskSpec) -> Result<Started, ApiError> {
        let task_id = uuid_v4();
        let timeout = spec.timeout.unwrap_or(self.cfg.default_timeout);
        let (session_id, new_session_id) = match &spec.resume {
            Some(s) => (Some(s.clone()), None),
            None if self.adapter.assigns_session_id() => {
                let id = uuid_v4();
                (Some(id.clone()), Some(id))
            }
            None => (None, None),
        };
        // A command line the tool cannot be started with (an argument over
        // the kernel's limit) is the request's fault: refuse it now.
        let req = self.request(&spec, spec.resume.clone(), new_session_id.clone());
        if let Err(e) = self.adapter.headless(&self.tool_binary(), &req) {
            let hint = warren_core::Hint::hint(&e)
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            return Err(ApiError::validation(format!("{e}{hint}")));
        }
        // Resume only works from the directory the session started in.
        let workdir = match &spec.resume {
            Some(s) => {
                let prev = self
                    .store()
                    .latest_task_in_session(&self.cfg.name, s)
                    .map_err(ApiError::internal)?;
                prev.and_then(|t| t.workdir)
                    .map(std::path::PathBuf::from)
                    .or_else(|| self.session_dir(s))
            }
            None => self.session_dir(new_session_id.as_deref().unwrap_or(&task_id)),
        };
        let live = Arc::new(LiveTask {
            id: task_id.clone(),
            data: std::sync::Mutex::new(LiveData {
                session_id: session_id.clone(),
                ..LiveData::default()
            }),
            events: broadcast::channel(1024).0,
            cancel: watch::channel(false).0,
            deadline: std::time::Instant::now() + timeout,
        });
        {
            let mut inner = self.inner();
            match inner.phase {
                AgentPhase::Starting => {
                    return Err(ApiError::starting(inner.probe_error.as_deref()));
                }
                AgentPhase::Draining => return Err(ApiError::draining()),
                AgentPhase::Ready => {}
            }
            if let Some(cur) = &inner.current {
                return Err(ApiError::busy(&cur.id));
            }
            inner.current = Some(live.clone());
        }
        let now = now_ms();
        let record = TaskRecord {
            id: task_id.clone(),
            agent: self.cfg.name.clone(),
            tool: self.cfg.tool.clone(),
            state: TaskState::Running,
            prompt: self.redactor.redact(&spec.prompt),
            model: spec.model.clone(),
            session_id: session_id.clone(),
            parent_id: spec.parent_id.clone(),
            workdir: workdir.as_ref().map(|p| p.display().to_string()),
            timeout_seconds: Some(timeout.as_secs() as i64),
            owner_pid: Some(std::process::id()),
            created_at_ms: now,
            started_at_ms: Some(now),
            argv: "[]".into(),
            ..TaskRecord::default()
        };
        if let Err(e) = self.store().insert_task(&record, self.cfg.keep_tasks) {
            self.inner().current = None;
            return Err(ApiError::internal(e));
        }
        self.log(&format!(
            "task {task_id} started (session {}, timeout {} s)",
            session_id.as_deref().unwrap_or("new"),
            timeout.as_secs()
        ));
        let me = self.clone();
        let spec2 = spec.clone();
        tokio::spawn(async move {
            me.run_task(live, spec2, new_session_id, workdir, timeout)
                .await
        });
        Ok(Started {
            task_id,
            session_id,
        })
    }

    async fn run_task(
        self: Arc<Self>,
        live: Arc<LiveTask>,
        spec: TaskSpec,
        mut new_session_id: Option<String>,
        workdir: Option<std::path::PathBuf>,
        timeout: Duration,
    ) {
        let deadline = Instant::now() + timeout;
        let mut cancel = live.cancel.subscribe();
        let mut redactor = self.redactor.clone();
        redactor.add_env(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(message) = self.missing_credentials(&spec.env) {
            // Fails at once: no run, no retry.
            let outcome = Outcome {
                failure: Some(ToolFailure {
                    class: ErrorClass::Fatal,
                    reason: "not_logged_in".into(),
                    message,
                    resets: None,
                }),
                ..Outcome::default()
            };
            self.finish_task(
                &live,
                RawRun::default(),
                outcome,
                Vec::new(),
                timeout,
                &redactor,
            );
            return;
        }
        let mut resume = spec.resume.clone();
        let mut attempt: u32 = 0;
        let (raw, outcome, argv) = loop {
            attempt += 1;
            live.lock().attempts = attempt as i64;
            let req = self.request(&spec, resume.clone(), new_session_id.clone());
            let mut inv = match self.adapter.headless(&self.tool_binary(), &req) {
                Ok(inv) => inv,
                Err(e) => {
                    let raw = RawRun::not_started(std::io::Error::other(e.to_string()));
                    break (raw, Outcome::default(), Vec::new());
                }
            };
            inv.env.extend(self.cfg.tool_env.iter().cloned());
            inv.env.extend(spec.env.iter().cloned());
            let argv: Vec<String> = inv
                .display_argv()
                .iter()
                .map(|a| redactor.redact(a))
                .collect();
            live.lock().argv = argv.clone();
            if let Some(dir) = &workdir
                && let Err(e) = std::fs::create_dir_all(dir)
            {
                self.log(&format!("cannot create {}: {e}", dir.display()));
            }
            let mut parser = self.adapter.parser();
            let remaining = deadline.saturating_duration_since(Instant::now());
            let limits = RunLimits {
                timeout: remaining,
                kill_grace: self.cfg.kill_grace,
            };
            let raw = {
                let mut sink = LiveSink {
                    shared: &self,
                    live: &live,
                };
                executor::run(
                    self.launcher.as_ref(),
                    &inv,
                    workdir.as_deref(),
                    limits,
                    parser.as_mut(),
                    &mut sink,
                    &mut cancel,
                )
                .await
            };
            let outcome = parser.finish(raw.exit, &raw.stdout, &raw.stderr);
            let retryable = raw.stopped.is_none()
                && raw.spawn_error.is_none()
                && outcome
                    .failure
                    .as_ref()
                    .is_some_and(|f| f.class == ErrorClass::Retryable);
            if !retryable || attempt > self.cfg.retries {
                break (raw, outcome, argv);
            }
            let backoff = self.cfg.retry_base * 2u32.saturating_pow(attempt - 1);
            let msg = format!(
                "attempt {attempt} failed ({}); retrying in {:.1} s",
                outcome
                    .failure
                    .as_ref()
                    .map(|f| f.message.as_str())
                    .unwrap_or(""),
                backoff.as_secs_f64()
            );
            self.log(&format!("task {}: {msg}", live.id));
            {
                let mut sink = LiveSink {
                    shared: &self,
                    live: &live,
                };
                sink.progress(Progress::new("status", msg));
            }
            // A session the failed attempt created is continued, not recreated.
            if let Some(s) = outcome.session_id.clone().or_else(|| parser.session_id())
                && resume.is_none()
                && new_session_id.is_some()
            {
                resume = Some(s);
                new_session_id = None;
            }
            let stop_early = tokio::select! {
                _ = tokio::time::sleep(backoff) => false,
                _ = tokio::time::sleep_until(deadline) => true,
                _ = cancel.wait_for(|c| *c) => true,
            };
            if stop_early {
                let stopped = if *cancel.borrow() {
                    StopReason::Cancelled
                } else {
                    StopReason::Timeout
                };
                let raw = RawRun {
                    stopped: Some(stopped),
                    ..raw
                };
                break (raw, outcome, argv);
            }
        };
        self.finish_task(&live, raw, outcome, argv, timeout, &redactor);
    }

    fn finish_task(
        &self,
        live: &LiveTask,
        raw: RawRun,
        outcome: Outcome,
        argv: Vec<String>,
        timeout: Duration,
        redactor: &warren_core::Redactor,
    ) {
        let (live_session, text, attempts) = {
            let d = live.lock();
            (d.session_id.clone(), d.text.join("\n"), d.attempts)
        };
        let output = outcome.result.clone().unwrap_or(text);
        let kill_note = if raw.killed {
            "SIGTERM, then SIGKILL"
        } else {
            "SIGTERM"
        };
        let (st, err_type, err_msg, details) = match (&raw.stopped, &raw.spawn_error) {
            (Some(StopReason::Timeout), _) => (
                TaskState::Failed,
                Some("timeout"),
                format!(
                    "the task ran longer than {} s and was stopped ({kill_note})",
                    timeout.as_secs()
                ),
                json!({"class": "fatal", "killed": raw.killed}),
            ),
            (Some(StopReason::Cancelled), _) => (
                TaskState::Cancelled,
                Some("cancelled"),
                format!("the task was cancelled ({kill_note})"),
                json!({"killed": raw.killed}),
            ),
            (None, Some(e)) => {
                let env_mode = self.cfg.env.is_some();
                let kind = if env_mode {
                    "sandbox_error"
                } else {
                    "tool_error"
                };
                let reason = if e.kind() == std::io::ErrorKind::NotFound {
                    "not_installed"
                } else {
                    "spawn_failed"
                };
                (
                    TaskState::Failed,
                    Some(kind),
                    format!(
                        "cannot start `{}`: {e}",
                        argv.first().map(String::as_str).unwrap_or("?")
                    ),
                    json!({"class": "fatal", "reason": reason}),
                )
            }
            (None, None) => match &outcome.failure {
                None => (
                    TaskState::Completed,
                    None,
                    String::new(),
                    serde_json::Value::Null,
                ),
                Some(f) => {
                    let kind = match (f.class, f.reason.as_str()) {
                        (ErrorClass::RateLimit, _) => "rate_limited",
                        (_, "sandbox_error") => "sandbox_error",
                        _ => "tool_error",
                    };
                    let mut details = serde_json::to_value(f).unwrap_or_default();
                    if let Some(o) = details.as_object_mut() {
                        // Already the error's message.
                        o.remove("message");
                    }
                    (TaskState::Failed, Some(kind), f.message.clone(), details)
                }
            },
        };
        let finish = TaskFinish {
            state: st,
            session_id: outcome.session_id.clone().or(live_session),
            completed_at_ms: now_ms(),
            exit_code: raw.exit.code,
            output: redactor.redact(&output),
            error_type: err_type.map(str::to_string),
            error_message: err_type.map(|_| redactor.redact(&err_msg)),
            error_details: (!details.is_null()).then(|| redactor.redact(&details.to_string())),
            usage: outcome
                .usage
                .as_ref()
                .and_then(|u| serde_json::to_string(u).ok()),
            cost_usd: outcome.cost_usd,
            num_turns: outcome.num_turns.map(i64::from),
            attempts,
            argv: serde_json::to_string(&argv).unwrap_or_else(|_| "[]".into()),
            raw_stdout: redactor.redact(&raw.stdout),
            raw_stderr: redactor.redact(&raw.stderr),
        };
        if let Err(e) = self.store().finish_task(&live.id, &finish) {
            self.log(&format!("cannot store the result of {}: {e}", live.id));
        }
        self.log(&format!(
            "task {} {st}{}",
            live.id,
            err_type
                .map(|t| format!(" ({t}: {})", redactor.redact(&err_msg)))
                .unwrap_or_default()
        ));
        {
            let mut inner = self.inner();
            if inner.current.as_ref().is_some_and(|c| c.id == live.id) {
                inner.current = None;
            }
        }
        let mut d = live.lock();
        d.finished = true;
        let ev = TaskEvent::Done {
            task_id: live.id.clone(),
            state: st,
        };
        d.events.push(ev.clone());
        let _ = live.events.send(ev);
    }
}
