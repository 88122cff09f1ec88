//! The runtimes without an engine: `sandbox` (warren's native sandbox) and
//! `host` (no isolation, only when asked for by name). An environment is a
//! directory under `ROOT/local/<id>` holding what `create` was given, its
//! state (running or stopped), the sandbox's private `/tmp` and `$HOME`, and
//! a registry of the processes it runs, so `stop` ends every one of them.
//!
//! Host paths appear at their own path inside (the worktree is where it is
//! on the host), and services listen on host ports directly.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use warren_core::RuntimeKind;

use crate::error::RuntimeError;
use crate::signals::{Action, Stops, killed_code};
use crate::{
    ContainerInfo, ContainerState, CreateSpec, ExecIo, ExecSpec, ExitStatus, ImageSource,
    MountKind, PortBinding, ProgressSink, Result, Runtime, Stream,
};
use nix::sys::signal::Signal;

/// Paths in a worktree that the sandbox keeps read-only, also where they do
/// not exist (without creating them on the host).
pub use warren_sandbox::PROTECTED_WORKTREE_NAMES;

/// PATH inside when the configuration sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What `create` stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalEnv {
    pub id: String,
    pub kind: RuntimeKind,
    pub labels: BTreeMap<String, String>,
    /// The environment's own env (devcontainer `containerEnv`, `WARREN_*`).
    pub env: Vec<(String, String)>,
    pub workdir: PathBuf,
    pub ports: Vec<u16>,
    /// The sandbox policy (sandbox runtime only).
    pub policy: Option<warren_sandbox::Policy>,
    /// `run --rm`: its keeper dies with the process that started it.
    #[serde(default)]
    pub ephemeral: bool,
}

/// The `sandbox` or `host` runtime.
#[derive(Debug, Clone)]
pub struct LocalRuntime {
    kind: RuntimeKind,
    dir: PathBuf,
    /// `$HOME` inside (the user's real home, so tool config paths match).
    home: PathBuf,
}

impl LocalRuntime {
    /// The native sandbox, keeping state under `root/local`.
    pub fn sandbox(root: &Path, home: &Path) -> LocalRuntime {
        LocalRuntime {
            kind: RuntimeKind::Sandbox,
            dir: root.join("local"),
            home: home.to_path_buf(),
        }
    }

    /// No isolation: commands run as the user, on the host.
    pub fn host(root: &Path, home: &Path) -> LocalRuntime {
        LocalRuntime {
            kind: RuntimeKind::Host,
            dir: root.join("local"),
            home: home.to_path_buf(),
        }
    }

    fn env_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Reads what `create` stored for `id`.
    pub fn load(&self, id: &str) -> Result<LocalEnv> {
        let path = self.env_dir(id).join("env.json");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::NotFound(id.to_string()));
            }
            Err(e) => return Err(io_err(format!("reading `{}`", path.display()), e)),
        };
        serde_json::from_slice(&text)
            .map_err(|e| RuntimeError::Other(format!("`{}` is unreadable: {e}", path.display())))
    }

    fn is_running(&self, id: &str) -> bool {
        std::fs::read_to_string(self.env_dir(id).join("state")).is_ok_and(|s| s.trim() == "running")
    }

    /// Whether a sandbox environment that should run still has its keeper (the
    /// process holding its namespaces). A restart of the machine, or a kill, takes the
    /// keeper and everything in the environment: it is then not running, whatever
    /// its state file says.
    fn keeper_alive(&self, env: &LocalEnv) -> bool {
        match (&self.kind, &env.policy) {
            (RuntimeKind::Sandbox, Some(p)) if !p.scratch => match &p.state_dir {
                Some(state) => warren_sandbox::list(state).iter().any(|i| i.keeper),
                None => true,
            },
            _ => true,
        }
    }

    fn set_state(&self, id: &str, state: &str) -> Result<()> {
        let path = self.env_dir(id).join("state");
        std::fs::write(&path, state).map_err(|e| io_err(format!("writing `{}`", path.display()), e))
    }

    /// The policy and environment for one command of `id`.
    pub fn command_policy(
        &self,
        env: &LocalEnv,
        spec: &ExecSpec,
    ) -> Result<warren_sandbox::Policy> {
        let mut policy = env
            .policy
            .clone()
            .ok_or_else(|| RuntimeError::Other(format!("`{}` has no sandbox policy", env.id)))?;
        policy.env = command_env(env, spec, &policy.home);
        if let Some(w) = &spec.workdir {
            policy.cwd = PathBuf::from(w);
        }
        Ok(policy)
    }

    /// Runs `spec` in sandbox environment `id` with this process as the
    /// sandbox helper (no async runtime, no threads, no re-exec), and
    /// returns its exit code. The process must be single-threaded. With
    /// `tty`, the command gets a terminal of its own, relayed to this
    /// process's (`warren_sandbox::Policy::tty`).
    pub fn exec_in_place(&self, id: &str, spec: &ExecSpec, tty: bool) -> Result<i32> {
        let mut policy = self.command_policy(&self.load(id)?, spec)?;
        policy.tty = tty;
        if !policy.scratch {
            ensure_keeper(&policy)?;
        }
        let argv: Vec<OsString> = spec.cmd.iter().map(Into::into).collect();
        warren_sandbox::exec_in_place(&policy, &argv).map_err(sandbox_err)
    }

    fn policy_for(
        &self,
        spec: &CreateSpec,
        id: &str,
        workdir: &Path,
    ) -> Result<(warren_sandbox::Policy, Vec<(PathBuf, PathBuf)>)> {
        let name = spec.hostname.clone().unwrap_or_else(|| id.to_string());
        let mut policy = warren_sandbox::Policy::new(&name, workdir, &self.env_dir(id), &self.home);
        policy.overlay_dir = Some(self.dir.join("overlay"));
        let mut home_links = Vec::new();
        for m in &spec.mounts {
            if m.kind != MountKind::Bind {
                return Err(RuntimeError::Other(format!(
                    "the sandbox runtime has no volumes or tmpfs mounts (mount at `{}`); use a bind mount of a host directory, or `--runtime docker`",
                    m.target
                )));
            }
            let source = PathBuf::from(&m.source);
            if source == workdir {
                // The worktree itself; read-only for an environment on the
                // project's main checkout (`manager`).
                policy.worktree_read_only = m.read_only;
                continue;
            }
            // A private copy shown at a path under `$HOME` (a tool's
            // config): the sandbox's `$HOME` is a private directory, where a
            // symlink to the copy (shown read-write at its own path) stands.
            let target = PathBuf::from(&m.target);
            if m.source != m.target && !m.read_only && target.starts_with(&self.home) {
                policy.read_write.push(source.clone());
                home_links.push((target, source));
                continue;
            }
            if m.source != m.target {
                return Err(RuntimeError::Other(format!(
                    "the sandbox runtime shows host paths at their own path: cannot mount `{}` at `{}`; mount it at `{}`, or use `--runtime docker`",
                    m.source, m.target, m.source
                )));
            }
            // The main repository's `.git/objects` arrives as a read-only mount like
            // any other; a `.git` dir gets no special case either.
            if m.read_only {
                policy.read_only.push(source);
            } else {
                policy.read_write.push(source);
            }
        }
        policy.network = match spec.network.as_deref() {
            Some("isolated" | "open") => warren_sandbox::Network::Isolated,
            Some("none") => warren_sandbox::Network::None,
            _ => warren_sandbox::Network::Host,
        };
        if policy.network.own_namespace() {
            policy.net_dir = spec.net_dir.clone();
        }
        // The links live in the private `$HOME` on disk, not in a tmpfs.
        policy.scratch = spec.scratch && home_links.is_empty();
        policy.resources = spec.resources;
        Ok((policy, home_links))
    }

    /// Makes each `(target, source)` of `links` a symlink in the private
    /// `$HOME` of `policy` (`target` is a path under the user's home).
    fn link_home(
        &self,
        policy: &warren_sandbox::Policy,
        links: &[(PathBuf, PathBuf)],
    ) -> Result<()> {
        for (target, source) in links {
            let Ok(rel) = target.strip_prefix(&self.home) else {
                continue;
            };
            let link = policy.home_dir.join(rel);
            if let Some(parent) = link.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| io_err(format!("creating `{}`", parent.display()), e))?;
            }
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(source, &link)
                .map_err(|e| io_err(format!("linking `{}`", link.display()), e))?;
        }
        Ok(())
    }
}

/// Starts the environment's keeper (`warren_sandbox::spawn_keeper`) unless one runs,
/// and waits for its network daemon's socket: every command of the environment then
/// runs in the keeper's namespaces, and the router can reach its services.
fn ensure_keeper(policy: &warren_sandbox::Policy) -> Result<()> {
    ensure_keeper_tied(policy, false)
}

/// [`ensure_keeper`]; with `tied`, the keeper dies with this process (`run --rm`).
fn ensure_keeper_tied(policy: &warren_sandbox::Policy, tied: bool) -> Result<()> {
    let Some(state) = &policy.state_dir else {
        return Ok(());
    };
    if warren_sandbox::list(state).iter().any(|i| i.keeper) {
        return Ok(());
    }
    // One keeper per environment, also when two commands start at once.
    let lock_path = state.join("keeper.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_err(format!("opening `{}`", lock_path.display()), e))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| io_err(format!("locking `{}`", lock_path.display()), e.into()))?;
    if warren_sandbox::list(state).iter().any(|i| i.keeper) {
        return Ok(());
    }
    let sock = policy.net_dir.as_ref().map(|d| d.join("sock"));
    if let Some(s) = &sock {
        let _ = std::fs::remove_file(s);
    }
    warren_sandbox::spawn_keeper(policy, tied).map_err(sandbox_err)?;
    if let (Some(dir), Some(sock)) = (&policy.net_dir, sock) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            if std::time::Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("netd.log")).unwrap_or_default();
                return Err(RuntimeError::Other(format!(
                    "the environment's network daemon did not start{}",
                    log.lines()
                        .last()
                        .map(|l| format!(": {l}"))
                        .unwrap_or_default()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    Ok(())
}

/// The exact environment of a command: a base, the environment's own env,
/// then the command's (`remoteEnv`, credentials).
fn command_env(env: &LocalEnv, spec: &ExecSpec, home: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOME".into(), home.to_string_lossy().into_owned()),
        (
            "TERM".into(),
            std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into()),
        ),
        (
            "LANG".into(),
            std::env::var("LANG").unwrap_or_else(|_| "C.UTF-8".into()),
        ),
    ];
    let set = |out: &mut Vec<(String, String)>, k: &str, v: &str| {
        out.retain(|(n, _)| n != k);
        out.push((k.to_string(), v.to_string()));
    };
    for (k, v) in env.env.iter().chain(spec.env.iter()) {
        set(&mut out, k, v);
    }
    out
}

fn io_err(what: String, e: std::io::Error) -> RuntimeError {
    RuntimeError::Other(format!("{what}: {e}"))
}

fn sandbox_err(e: warren_sandbox::SandboxError) -> RuntimeError {
    match e {
        warren_sandbox::SandboxError::Exec {
            program,
            reason,
            code,
        } => RuntimeError::CannotExec {
            program,
            reason,
            code,
        },
        e => RuntimeError::Sandbox(e),
    }
}

/// Reads a child's pipes into `sink` until both close.
async fn pump(
    stdout: Option<impl Read + Send + 'static>,
    stderr: Option<impl Read + Send + 'static>,
    sink: &mut (dyn FnMut(Stream, &[u8]) + Send),
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Stream, Vec<u8>)>();
    fn reader(
        mut r: impl Read + Send + 'static,
        s: Stream,
        tx: tokio::sync::mpsc::UnboundedSender<(Stream, Vec<u8>)>,
    ) {
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send((s, buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    if let Some(o) = stdout {
        reader(o, Stream::Stdout, tx.clone());
    }
    if let Some(e) = stderr {
        reader(e, Stream::Stderr, tx.clone());
    }
    drop(tx);
    while let Some((s, chunk)) = rx.recv().await {
        sink(s, &chunk);
    }
}

fn stdio_for(io: &ExecIo<'_>) -> (Stdio, Stdio, Stdio) {
    match io {
        ExecIo::Inherit { stdin, .. } => (
            if *stdin {
                Stdio::inherit()
            } else {
                Stdio::null()
            },
            Stdio::inherit(),
            Stdio::inherit(),
        ),
        ExecIo::Capture(_) => (Stdio::null(), Stdio::piped(), Stdio::piped()),
        ExecIo::Null => (Stdio::null(), Stdio::null(), Stdio::null()),
    }
}

#[async_trait]
impl Runtime for LocalRuntime {
    fn kind(&self) -> RuntimeKind {
        self.kind
    }

    async fn ensure_image(
        &self,
        _image: &ImageSource,
        _progress: ProgressSink<'_>,
    ) -> Result<String> {
        Ok(String::new())
    }

    async fn create(&self, spec: &CreateSpec) -> Result<String> {
        let id = spec.container_name.clone();
        let dir = self.env_dir(&id);
        if dir.join("env.json").exists() {
            return Err(RuntimeError::NameConflict(id));
        }
        let workdir = PathBuf::from(spec.workdir.clone().unwrap_or_default());
        if !workdir.is_absolute() {
            return Err(RuntimeError::Other(format!(
                "the {} runtime needs an absolute working directory, got `{}`",
                self.kind,
                workdir.display()
            )));
        }
        let (policy, home_links) = match self.kind {
            RuntimeKind::Sandbox => {
                let (p, links) = self.policy_for(spec, &id, &workdir)?;
                (Some(p), links)
            }
            _ => (None, Vec::new()),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| io_err(format!("creating `{}`", dir.display()), e))?;
        if let Some(p) = &policy {
            let prepared = warren_sandbox::prepare_env(p)
                .map_err(sandbox_err)
                .and_then(|()| self.link_home(p, &home_links));
            if let Err(e) = prepared {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        }
        let env = LocalEnv {
            id: id.clone(),
            kind: self.kind,
            labels: spec.labels.clone(),
            env: spec.env.clone(),
            workdir,
            ports: spec.publish.iter().map(|p| p.container_port).collect(),
            policy,
            ephemeral: spec.ephemeral,
        };
        let json =
            serde_json::to_vec_pretty(&env).map_err(|e| RuntimeError::Other(e.to_string()))?;
        std::fs::write(dir.join("env.json"), json)
            .map_err(|e| io_err(format!("writing `{}`", dir.display()), e))?;
        self.set_state(&id, "created")?;
        Ok(id)
    }

    async fn start(&self, id: &str) -> Result<()> {
        let env = self.load(id)?;
        if let Some(p) = &env.policy {
            warren_sandbox::prepare_env(p).map_err(sandbox_err)?;
            if !p.scratch {
                let (p, tied) = (p.clone(), env.ephemeral);
                tokio::task::spawn_blocking(move || ensure_keeper_tied(&p, tied))
                    .await
                    .map_err(|e| RuntimeError::Other(e.to_string()))??;
            }
        }
        self.set_state(id, "running")
    }

    async fn exec(&self, id: &str, spec: &ExecSpec, io: ExecIo<'_>) -> Result<ExitStatus> {
        let env = self.load(id)?;
        if !self.is_running(id) {
            return Err(RuntimeError::Other(format!("`{id}` is not running")));
        }
        if !self.keeper_alive(&env) {
            return Err(RuntimeError::Other(format!(
                "`{id}` is not running: the process holding its sandbox is gone (the machine restarted, or it was killed); `warren start` brings it back"
            )));
        }
        let argv: Vec<OsString> = spec.cmd.iter().map(OsString::from).collect();
        if argv.is_empty() {
            return Err(RuntimeError::Other("no command to run".into()));
        }
        let (stdin, stdout, stderr) = stdio_for(&io);
        let code = match self.kind {
            RuntimeKind::Sandbox => {
                let mut policy = self.command_policy(&env, spec)?;
                policy.tty = matches!(io, ExecIo::Inherit { tty: true, .. });
                if !policy.scratch {
                    let p = policy.clone();
                    tokio::task::spawn_blocking(move || ensure_keeper(&p))
                        .await
                        .map_err(|e| RuntimeError::Other(e.to_string()))??;
                }
                let mut child = match io {
                    // Streams the helper can simply inherit: fork rather than
                    // load the binary again (when this process is still
                    // single-threaded; `spawn_forked` checks).
                    ExecIo::Inherit { stdin, .. } => {
                        warren_sandbox::spawn_forked(&policy, &argv, !stdin)
                    }
                    _ => {
                        let stdio = warren_sandbox::SandboxStdio {
                            stdin: Some(stdin),
                            stdout: Some(stdout),
                            stderr: Some(stderr),
                        };
                        warren_sandbox::spawn(&policy, &argv, stdio)
                    }
                }
                .map_err(sandbox_err)?;
                // A foreground command: signals sent to warren go on to it (through
                // the helper), and one that has not ended a grace period after the
                // first is killed, so `run --rm` gets to its teardown.
                let mut stops = match io {
                    ExecIo::Inherit { .. } => Stops::new(),
                    _ => None,
                };
                if let ExecIo::Capture(sink) = io {
                    pump(child.stdout.take(), child.stderr.take(), sink).await;
                }
                let helper = nix::unistd::Pid::from_raw(child.id() as i32);
                let waited = tokio::task::spawn_blocking(move || child.wait());
                let forward = async {
                    let Some(stops) = stops.as_mut() else {
                        return std::future::pending::<std::convert::Infallible>().await;
                    };
                    loop {
                        let sig = match stops.next().await {
                            Action::Forward("INT") => Signal::SIGINT,
                            Action::Forward("HUP") => Signal::SIGHUP,
                            Action::Forward(_) => Signal::SIGTERM,
                            // The helper's death takes the command (and, for a
                            // sandbox of its own, every process in it) along.
                            Action::Kill => Signal::SIGKILL,
                        };
                        let _ = nix::sys::signal::kill(helper, sig);
                    }
                };
                let code = tokio::select! {
                    r = waited => r
                        .map_err(|e| RuntimeError::Other(e.to_string()))?
                        .map_err(|e| io_err("waiting for the command".into(), e))?,
                    never = forward => match never {},
                };
                killed_code(stops.as_ref()).map_or(code, |c| c as i32)
            }
            _ => {
                let mut cmd = std::process::Command::new(&argv[0]);
                cmd.args(&argv[1..])
                    .env_clear()
                    .envs(command_env(&env, spec, &self.home))
                    .env(
                        "PATH",
                        std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
                    )
                    .current_dir(
                        spec.workdir
                            .as_deref()
                            .map(PathBuf::from)
                            .unwrap_or(env.workdir.clone()),
                    )
                    .stdin(stdin)
                    .stdout(stdout)
                    .stderr(stderr);
                std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
                let mut child = cmd
                    .spawn()
                    .map_err(|e| io_err(format!("cannot run `{}`", spec.cmd[0]), e))?;
                let pid_file = register_host(&self.env_dir(id), child.id());
                if let ExecIo::Capture(sink) = io {
                    pump(child.stdout.take(), child.stderr.take(), sink).await;
                }
                let status = tokio::task::spawn_blocking(move || child.wait())
                    .await
                    .map_err(|e| RuntimeError::Other(e.to_string()))?
                    .map_err(|e| io_err("waiting for the command".into(), e))?;
                if let Some(f) = pid_file {
                    let _ = std::fs::remove_file(f);
                }
                use std::os::unix::process::ExitStatusExt;
                status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
            }
        };
        Ok(ExitStatus { code: code as i64 })
    }

    async fn stop(&self, id: &str, timeout: Duration) -> Result<()> {
        let _ = self.load(id)?;
        let dir = self.env_dir(id);
        match self.kind {
            RuntimeKind::Sandbox => {
                // Waiting for processes to end blocks; nothing to wait for
                // (a one-shot command that ended) needs no thread.
                if warren_sandbox::is_running(&dir) {
                    let d = dir.clone();
                    tokio::task::spawn_blocking(move || warren_sandbox::stop_all(&d, timeout))
                        .await
                        .map_err(|e| RuntimeError::Other(e.to_string()))?
                        .map_err(sandbox_err)?;
                }
            }
            _ => stop_host(&dir, timeout).await,
        }
        self.set_state(id, "stopped")
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let env = match self.load(id) {
            Ok(e) => e,
            Err(RuntimeError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.stop(id, Duration::from_secs(2)).await?;
        if let Some(p) = &env.policy {
            // The worktree goes with the environment (deleted, or kept whole
            // as a spare for the next one), and its placeholders with it.
            warren_sandbox::remove_env_except_worktree(p).map_err(sandbox_err)?;
        }
        let dir = self.env_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io_err(format!("removing `{}`", dir.display()), e))
            }
            _ => Ok(()),
        }
    }

    async fn port_bindings(&self, id: &str) -> Result<Vec<PortBinding>> {
        let env = self.load(id)?;
        Ok(env
            .ports
            .iter()
            .map(|p| PortBinding {
                container_port: *p,
                host_port: Some(*p),
                host_ip: None,
            })
            .collect())
    }

    async fn logs(
        &self,
        _id: &str,
        _follow: bool,
        _tail: Option<usize>,
        _sink: crate::LogSink<'_>,
    ) -> Result<()> {
        // Commands of these runtimes print to whoever ran them; lifecycle
        // output is in warren's own log.
        Ok(())
    }

    async fn inspect(&self, id: &str) -> Result<Option<ContainerInfo>> {
        let env = match self.load(id) {
            Ok(e) => e,
            Err(RuntimeError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(self.info(&env)))
    }

    async fn list(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerInfo>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            let Ok(env) = self.load(&id) else { continue };
            if env.kind != self.kind {
                continue;
            }
            if labels
                .iter()
                .all(|(k, v)| env.labels.get(*k).is_some_and(|x| x == v))
            {
                out.push(self.info(&env));
            }
        }
        Ok(out)
    }
}

impl LocalRuntime {
    fn info(&self, env: &LocalEnv) -> ContainerInfo {
        ContainerInfo {
            id: env.id.clone(),
            name: env.id.clone(),
            image: String::new(),
            state: if self.is_running(&env.id) && self.keeper_alive(env) {
                ContainerState::Running
            } else {
                ContainerState::Exited
            },
            labels: env.labels.clone(),
            ports: env
                .ports
                .iter()
                .map(|p| PortBinding {
                    container_port: *p,
                    host_port: Some(*p),
                    host_ip: None,
                })
                .collect(),
            env: command_env(env, &ExecSpec::default(), &self.home),
            pid: None,
        }
    }
}

/// Records a host command's process group so `stop` can end it.
fn register_host(dir: &Path, pid: u32) -> Option<PathBuf> {
    let run = dir.join("host-run");
    std::fs::create_dir_all(&run).ok()?;
    let f = run.join(pid.to_string());
    std::fs::write(&f, b"").ok()?;
    Some(f)
}

/// SIGTERM to every recorded process group, then SIGKILL after `timeout`.
async fn stop_host(dir: &Path, timeout: Duration) {
    let run = dir.join("host-run");
    let pgids: Vec<i32> = std::fs::read_dir(&run)
        .map(|r| {
            r.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let alive = |pg: i32| nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pg), None).is_ok();
    for pg in &pgids {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(*pg),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let deadline = tokio::time::Instant::now() + timeout;
    while pgids.iter().any(|pg| alive(*pg)) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for pg in &pgids {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(*pg),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = std::fs::remove_dir_all(&run);
}
