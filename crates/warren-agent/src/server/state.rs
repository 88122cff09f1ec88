//! The server's shared state: phase (starting, idle/working, draining), the
//! running task's live output, the store, and shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{broadcast, watch};
use warren_core::{Redactor, TaskState};
use warren_store::{AgentRecord, Store};

use super::ServerConfig;
use crate::adapters::{Adapter, Invocation, Progress, default_binary};
use crate::error::AgentError;
use crate::executor::{Launcher, RunLimits, RunSink};
use warren_core::process::pid_alive;
use warren_core::time::now_ms;

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentPhase {
    /// The tool has not answered `--version` yet.
    Starting,
    Ready,
    /// Shutting down: no new tasks.
    Draining,
}

/// An event on a task's SSE stream.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TaskEvent {
    Progress { kind: String, text: String },
    Session { session_id: String },
    Done { task_id: String, state: TaskState },
}

/// What a running task has printed so far.
#[derive(Debug, Default)]
pub struct LiveData {
    pub session_id: Option<String>,
    pub stdout: String,
    pub stderr: String,
    pub events: Vec<TaskEvent>,
    pub text: Vec<String>,
    pub argv: Vec<String>,
    pub attempts: i64,
    pub finished: bool,
    pub(crate) last_flush: Option<Instant>,
}

/// The running task.
#[derive(Debug)]
pub struct LiveTask {
    pub id: String,
    pub data: Mutex<LiveData>,
    pub events: broadcast::Sender<TaskEvent>,
    pub cancel: watch::Sender<bool>,
    pub deadline: Instant,
}

impl LiveTask {
    pub fn lock(&self) -> MutexGuard<'_, LiveData> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub phase: AgentPhase,
    pub current: Option<Arc<LiveTask>>,
    pub version: Option<String>,
    pub probe_error: Option<String>,
    /// Why the server stopped by itself (the tool cannot run at all).
    pub fatal: Option<AgentError>,
}

/// State shared by the handlers, the task runner and the prober.
pub struct Shared {
    pub cfg: ServerConfig,
    pub adapter: Box<dyn Adapter>,
    pub launcher: Box<dyn Launcher>,
    pub token: String,
    pub addr: SocketAddr,
    pub started: Instant,
    pub redactor: Redactor,
    pub(crate) store: Mutex<Store>,
    pub(crate) inner: Mutex<Inner>,
    stop: watch::Sender<bool>,
    /// The runtime serving this agent (shutdown may be asked from outside it).
    rt: tokio::runtime::Handle,
    /// Set when a drain was asked for: (deadline, force).
    drain: watch::Sender<Option<(Instant, bool)>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.cfg.name)
            .field("addr", &self.addr)
            .finish()
    }
}

impl Shared {
    pub(crate) fn new(
        cfg: ServerConfig,
        adapter: Box<dyn Adapter>,
        launcher: Box<dyn Launcher>,
        store: Store,
        token: String,
        addr: SocketAddr,
    ) -> Result<Arc<Shared>, AgentError> {
        let mut redactor = Redactor::new();
        redactor.add(token.clone());
        // Every credential the tools read, and every secret-looking variable.
        for t in warren_core::tools::TOOLS {
            for name in t.credential_env {
                if let Ok(v) = std::env::var(name) {
                    redactor.add(v);
                }
            }
        }
        let env: Vec<(String, String)> = std::env::vars().collect();
        redactor.add_env(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        redactor.add_env(cfg.tool_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(dir) = &cfg.workdir {
            std::fs::create_dir_all(dir).map_err(|source| AgentError::CreateDir {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(Arc::new(Shared {
            cfg,
            adapter,
            launcher,
            token,
            addr,
            started: Instant::now(),
            redactor,
            store: Mutex::new(store),
            inner: Mutex::new(Inner {
                phase: AgentPhase::Starting,
                current: None,
                version: None,
                probe_error: None,
                fatal: None,
            }),
            stop: watch::channel(false).0,
            rt: tokio::runtime::Handle::current(),
            drain: watch::channel(None).0,
        }))
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs a line (the server's stderr) with every known secret redacted.
    pub fn log(&self, msg: &str) {
        tracing::info!(agent = %self.cfg.name, "{}", self.redactor.redact(msg));
    }

    /// The binary the adapter runs.
    pub fn tool_binary(&self) -> String {
        self.cfg
            .tool_bin
            .clone()
            .unwrap_or_else(|| default_binary(&self.cfg.tool))
    }

    pub fn phase(&self) -> AgentPhase {
        self.inner().phase
    }

    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub(crate) fn stop_now(&self) {
        self.stop.send_replace(true);
    }

    /// Starts a drain: no new tasks; the running one may finish within
    /// `timeout` (default: its own timeout) unless `force`, then the server stops.
    pub fn request_shutdown(self: &Arc<Self>, timeout: Option<Duration>, force: bool) {
        let current = {
            let mut inner = self.inner();
            inner.phase = AgentPhase::Draining;
            inner.current.clone()
        };
        let deadline = match (&current, timeout) {
            (_, Some(t)) => Instant::now() + t,
            (Some(live), None) => live.deadline,
            (None, None) => Instant::now(),
        };
        let first = self.drain.borrow().is_none();
        self.drain.send_replace(Some((deadline, force)));
        if !first {
            if force && let Some(live) = current {
                live.cancel.send_replace(true);
            }
            return;
        }
        let me = self.clone();
        self.rt.spawn(async move { me.drain_and_stop().await });
    }

    async fn drain_and_stop(self: Arc<Self>) {
        let mut drain = self.drain.subscribe();
        loop {
            let current = self.inner().current.clone();
            let Some(live) = current else { break };
            let Some((deadline, force)) = *drain.borrow() else {
                break;
            };
            if force || Instant::now() >= deadline {
                self.log(&format!("cancelling task {} to shut down", live.id));
                live.cancel.send_replace(true);
            } else {
                self.log(&format!(
                    "waiting for task {} before shutting down",
                    live.id
                ));
            }
            let mut cancel_rx = live.cancel.subscribe();
            let wait = async {
                loop {
                    if live.lock().finished {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };
            tokio::select! {
                _ = wait => {}
                _ = tokio::time::sleep_until(deadline.into()) => {}
                _ = drain.changed() => {}
                _ = cancel_rx.changed() => {}
            }
        }
        self.log("stopped");
        self.stop_now();
    }

    /// Marks this agent's tasks left `running` by a dead server as interrupted.
    pub(crate) fn recover_interrupted(&self) -> Result<(), AgentError> {
        let me = std::process::id();
        let ids = self.store().interrupt_orphaned_tasks(
            &self.cfg.name,
            |pid| pid != me && pid_alive(pid),
            now_ms(),
            "the agent server stopped while this task ran",
        )?;
        for id in ids {
            self.log(&format!("task {id} was interrupted by a server crash"));
        }
        Ok(())
    }

    pub(crate) fn register(&self) -> Result<(), AgentError> {
        let rec = AgentRecord {
            name: self.cfg.name.clone(),
            tool: self.cfg.tool.clone(),
            env: self.cfg.env.clone(),
            runtime: if self.cfg.env.is_some() {
                "env".into()
            } else {
                "host".into()
            },
            url: format!("http://{}", self.addr),
            port: self.addr.port(),
            pid: std::process::id(),
            started_at: warren_store::now_unix(),
        };
        self.store().register_agent(&rec)?;
        Ok(())
    }

    pub(crate) fn unregister(&self) {
        if let Err(e) = self
            .store()
            .unregister_agent(&self.cfg.name, std::process::id())
        {
            self.log(&format!("cannot unregister: {e}"));
        }
    }

    /// Runs `<tool> --version` until it answers; the server is `starting` until then.
    pub(crate) async fn probe_until_ready(self: Arc<Self>) {
        let mut wait = Duration::from_millis(500);
        let mut stop = self.stop_signal();
        loop {
            let inv = Invocation::new(
                self.adapter.probe(&self.tool_binary()),
                self.cfg.tool_env.clone(),
            );
            let mut parser = self.adapter.parser();
            let mut sink = NullSink;
            let (_tx, mut rx) = watch::channel(false);
            let limits = RunLimits {
                timeout: Duration::from_secs(60),
                kill_grace: Duration::from_secs(2),
            };
            let run = crate::executor::run(
                self.launcher.as_ref(),
                &inv,
                self.cfg.workdir.as_deref(),
                limits,
                parser.as_mut(),
                &mut sink,
                &mut rx,
            )
            .await;
            if run.spawn_error.is_none() && run.exit.success() {
                let version = run.stdout.lines().next().unwrap_or("").trim().to_string();
                self.log(&format!(
                    "ready: {} {version} ({})",
                    self.cfg.tool,
                    self.launcher.describe()
                ));
                if let Some(why) = self.missing_credentials(&[]) {
                    // Said now, not only when the first task fails.
                    tracing::warn!(agent = %self.cfg.name, "{why}");
                }
                let mut inner = self.inner();
                inner.version = Some(version);
                inner.probe_error = None;
                if inner.phase == AgentPhase::Starting {
                    inner.phase = AgentPhase::Ready;
                }
                return;
            }
            // A tool that is not there will not appear by waiting: stop
            // the server with the reason instead of staying `starting`.
            let missing = match (&run.spawn_error, run.exit.code) {
                (Some(e), _) if e.kind() == std::io::ErrorKind::NotFound => Some(format!(
                    "`{}` is not installed ({})",
                    inv.argv[0],
                    self.launcher.describe()
                )),
                (None, Some(127)) => Some(format!(
                    "`{}` is not installed ({})",
                    inv.argv[0],
                    self.launcher.describe()
                )),
                (None, Some(126)) => Some(format!(
                    "`{}` cannot be executed ({})",
                    inv.argv[0],
                    self.launcher.describe()
                )),
                _ => None,
            };
            if let Some(reason) = missing {
                self.log(&reason);
                self.inner().fatal = Some(AgentError::ToolUnavailable {
                    tool: self.cfg.tool.clone(),
                    env: self.cfg.env.clone(),
                    reason,
                });
                self.stop_now();
                return;
            }
            let said = crate::adapters::tail_lines(
                if run.stderr.trim().is_empty() {
                    &run.stdout
                } else {
                    &run.stderr
                },
                2,
            );
            let why = match (&run.spawn_error, run.exit.code, run.exit.signal) {
                (Some(e), _, _) => format!("cannot run `{}`: {e}", inv.argv[0]),
                (None, Some(code), _) => {
                    format!(
                        "`{} --version` exited with code {code}: {said}",
                        inv.argv[0]
                    )
                }
                (None, None, Some(sig)) => format!(
                    "`{} --version` was killed by signal {sig}: {said}",
                    inv.argv[0]
                ),
                (None, None, None) => format!("`{} --version` failed: {said}", inv.argv[0]),
            };
            let first = {
                let mut inner = self.inner();
                let first = inner.probe_error.is_none();
                inner.probe_error = Some(why.clone());
                first
            };
            if first {
                self.log(&format!("waiting for the tool: {why}"));
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    }

    /// Directory for a session on the host runtime.
    pub(crate) fn session_dir(&self, key: &str) -> Option<PathBuf> {
        if !self.launcher.uses_workdir() {
            return None;
        }
        if let Some(dir) = &self.cfg.workdir {
            return Some(dir.clone());
        }
        Some(
            self.cfg
                .root
                .join("agents")
                .join(&self.cfg.name)
                .join("sessions")
                .join(key),
        )
    }

    /// Applies live output to the running task and, at most once a second,
    /// saves it so a crash keeps it.
    pub(crate) fn flush_live(&self, live: &LiveTask, force: bool) {
        let mut d = live.lock();
        let due = force
            || d.last_flush
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if !due {
            return;
        }
        d.last_flush = Some(Instant::now());
        let output = self.redactor.redact(&d.text.join("\n"));
        let stdout = self.redactor.redact(&d.stdout);
        let stderr = self.redactor.redact(&d.stderr);
        let session = d.session_id.clone();
        drop(d);
        if let Err(e) = self.store().update_task_progress(
            &live.id,
            session.as_deref(),
            &output,
            &stdout,
            &stderr,
        ) {
            self.log(&format!("cannot save progress of {}: {e}", live.id));
        }
    }
}

struct NullSink;

impl RunSink for NullSink {
    fn stdout_line(&mut self, _: &str) {}
    fn stderr_line(&mut self, _: &str) {}
    fn progress(&mut self, _: Progress) {}
    fn session_id(&mut self, _: &str) {}
}
