//! The agent server: one tool behind an authenticated JSON API (its routes
//! in the OpenAPI document at `/openapi.json`; docs/ARCHITECTURE.md and
//! docs/SECURITY.md). [`start`] binds, registers the agent, probes the tool and serves
//! until shut down; [`ServerHandle`] drives it from tests and the CLI.

mod api;
pub mod listener;
pub mod openapi;
mod runner;
pub mod security;
mod state;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::adapters;
use crate::error::AgentError;
use crate::executor::{EnvLauncher, HostLauncher, KILL_GRACE, Launcher};
pub use api::ROUTES;
pub use state::{AgentPhase, Shared};

/// Everything an agent server needs to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The warren root (state database, credentials, session dirs).
    pub root: PathBuf,
    /// Agent name (the environment's name, or `--name`).
    pub name: String,
    pub tool: String,
    /// Command template for `tool = custom`.
    pub template: Option<String>,
    /// The tool's binary (`warren_config::Settings::tool_bin`); `None`: its
    /// own name, looked up on PATH.
    pub tool_bin: Option<String>,
    /// Run the tool in this environment; `None` = host runtime.
    pub env: Option<String>,
    /// The `warren` binary used for `warren exec` (env runtime;
    /// `warren_config::Settings::warren_exe`).
    pub warren_bin: PathBuf,
    /// Host runtime: run every session here instead of a per-session directory.
    pub workdir: Option<PathBuf>,
    /// 0 picks a free port.
    pub port: u16,
    pub skip_permissions: bool,
    pub max_turns: Option<u32>,
    pub append_system_prompt: Option<String>,
    /// Timeout of a task that gives none.
    pub default_timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Retries of a retryable failure, with exponential backoff from `retry_base`.
    pub retries: u32,
    pub retry_base: Duration,
    /// Finished tasks kept per agent.
    pub keep_tasks: usize,
    /// Extra env for the tool, e.g. from tests.
    pub tool_env: Vec<(String, String)>,
    /// Where the tool's login files are looked for (mounted from here into
    /// environments); `None`: nowhere.
    pub home: Option<PathBuf>,
    /// How long a client may take to send a request head.
    pub header_read_timeout: Duration,
    /// Open connections at most (see [`listener`]).
    pub max_connections: usize,
}

impl ServerConfig {
    /// Defaults for an agent `name` running `tool`.
    pub fn new(root: PathBuf, name: &str, tool: &str) -> ServerConfig {
        ServerConfig {
            root,
            name: name.to_string(),
            tool: tool.to_string(),
            template: None,
            tool_bin: None,
            env: None,
            warren_bin: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("warren")),
            workdir: None,
            port: 0,
            skip_permissions: false,
            max_turns: None,
            append_system_prompt: None,
            default_timeout: Duration::from_secs(30 * 60),
            kill_grace: KILL_GRACE,
            retries: 2,
            retry_base: Duration::from_secs(2),
            keep_tasks: 100,
            tool_env: Vec::new(),
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            header_read_timeout: listener::HEADER_READ_TIMEOUT,
            max_connections: listener::MAX_CONNECTIONS,
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub token: String,
    pub shared: Arc<Shared>,
    done: watch::Receiver<bool>,
}

impl ServerHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Asks the server to stop (draining unless `force`).
    pub fn shutdown(&self, force: bool) {
        self.shared.request_shutdown(None, force);
    }

    /// Waits until the server has stopped; returns why, when it stopped by
    /// itself (its tool cannot run).
    pub async fn wait(mut self) -> Option<AgentError> {
        while !*self.done.borrow() {
            if self.done.changed().await.is_err() {
                break;
            }
        }
        self.shared.inner().fatal.take()
    }
}

/// Binds, registers and starts serving in the background of the current
/// tokio runtime.
pub async fn start(cfg: ServerConfig) -> Result<ServerHandle, AgentError> {
    let adapter = adapters::adapter(&cfg.tool, cfg.template.as_deref())?;
    let launcher: Box<dyn Launcher> = match &cfg.env {
        Some(env) => Box::new(EnvLauncher {
            warren_bin: cfg.warren_bin.clone(),
            env: env.clone(),
        }),
        None => Box::new(HostLauncher),
    };
    let token = security::load_or_create_token(&cfg.root)?;
    let store = warren_store::Store::open(&cfg.root)?;
    if let Some(existing) = store.agent(&cfg.name)?
        && existing.pid != std::process::id()
        && warren_core::process::pid_alive(existing.pid)
    {
        return Err(AgentError::NameTaken {
            name: cfg.name.clone(),
            pid: existing.pid,
            url: existing.url,
        });
    }
    let tcp =
        listener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, cfg.port))).map_err(|source| {
            AgentError::Bind {
                port: cfg.port,
                source,
            }
        })?;
    let addr = tcp.local_addr().map_err(|source| AgentError::Bind {
        port: cfg.port,
        source,
    })?;
    let shared = Shared::new(cfg, adapter, launcher, store, token.clone(), addr)?;
    shared.recover_interrupted()?;
    shared.register()?;
    let (done_tx, done_rx) = watch::channel(false);
    let app = api::router(shared.clone());
    let limits = listener::Limits {
        header_read_timeout: shared.cfg.header_read_timeout,
        max_connections: shared.cfg.max_connections.max(1),
    };
    let s2 = shared.clone();
    tokio::spawn(async move {
        listener::serve(tcp, app, limits, s2.stop_signal()).await;
        s2.unregister();
        let _ = done_tx.send(true);
    });
    let s3 = shared.clone();
    tokio::spawn(async move { s3.probe_until_ready().await });
    Ok(ServerHandle {
        addr,
        token,
        shared,
        done: done_rx,
    })
}
