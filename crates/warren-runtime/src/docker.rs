//! The Docker runtime: bollard over the Docker Engine API. Works with
//! Podman's compatible socket too; `DOCKER_HOST` is honoured.

pub mod compose;
mod context;
mod convert;
mod limits;

pub use convert::KEEP_ALIVE;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters as qp;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use warren_core::RuntimeKind;

use crate::signals::{Action, Stops, killed_code};
use crate::{
    ContainerInfo, CreateSpec, ExecIo, ExecSpec, ExitStatus, ImageSource, PortBinding, Progress,
    ProgressSink, Result, Runtime, RuntimeError, Stream,
};

/// A connection to a Docker-compatible engine.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    docker: Docker,
    host: String,
}

/// What warren's containers may do, as `(cap_add, cap_drop, security_opt)`:
/// the reduced capability set and `no-new-privileges` of `spec` (for a
/// compose service, which gets them in its file).
pub fn privileges(spec: &CreateSpec) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut host = bollard::models::HostConfig::default();
    limits::apply(&mut host, spec);
    (
        host.cap_add.unwrap_or_default(),
        host.cap_drop.unwrap_or_default(),
        host.security_opt.unwrap_or_default(),
    )
}

/// The engine address in use (`DOCKER_HOST` or the default socket).
pub fn engine_host() -> String {
    std::env::var(warren_core::vars::DOCKER_HOST)
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

impl DockerRuntime {
    /// Connects and negotiates the API version (older engines, like Debian's
    /// 20.10, speak 1.41; newer ones refuse clients that are too old).
    pub async fn connect() -> Result<DockerRuntime> {
        let host = engine_host();
        let unreachable = |source| RuntimeError::Unreachable {
            host: host.clone(),
            source,
        };
        // A local socket is named explicitly (an empty `DOCKER_HOST` means
        // the default socket, as for the docker CLI); anything else is
        // bollard's to parse.
        let docker = match host.strip_prefix("unix://") {
            Some(path) => Docker::connect_with_socket(path, 120, bollard::API_DEFAULT_VERSION),
            None => Docker::connect_with_defaults(),
        }
        .map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        Ok(DockerRuntime { docker, host })
    }

    /// Engine address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The underlying client, for callers needing an endpoint not in [`Runtime`].
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Engine version and API version, for `warren doctor`.
    pub async fn version(&self) -> Result<(String, String)> {
        let v = self
            .docker
            .version()
            .await
            .map_err(|e| engine("reading the engine version", e))?;
        Ok((
            v.version.unwrap_or_default(),
            v.api_version.unwrap_or_default(),
        ))
    }

    /// Whether an image exists locally.
    pub async fn image_exists(&self, image: &str) -> Result<bool> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if status(&e) == Some(404) => Ok(false),
            Err(e) => Err(engine(format!("inspecting image `{image}`"), e)),
        }
    }

    async fn pull(&self, image: &str, progress: ProgressSink<'_>) -> Result<()> {
        progress(Progress::Message(format!("pulling {image}")));
        let (name, tag) = split_tag(image);
        let opts = qp::CreateImageOptionsBuilder::default()
            .from_image(name)
            .tag(tag)
            .build();
        let mut stream = self.docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|source| RuntimeError::Pull {
                image: image.to_string(),
                source,
            })?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(RuntimeError::Pull {
                    image: image.to_string(),
                    source: BollardError::DockerStreamError { error: err },
                });
            }
            let detail = info.progress_detail.unwrap_or_default();
            progress(Progress::Pull {
                layer: info.id.unwrap_or_default(),
                status: info.status.unwrap_or_default(),
                current: detail.current.map(|c| c.max(0) as u64),
                total: detail.total.map(|t| t.max(0) as u64),
            });
        }
        Ok(())
    }

    async fn build(&self, spec: &crate::BuildSpec, progress: ProgressSink<'_>) -> Result<()> {
        progress(Progress::Message(format!("building {}", spec.tag)));
        let ctx = context::pack(spec)?;
        let mut opts = qp::BuildImageOptionsBuilder::default()
            .dockerfile(&ctx.dockerfile)
            .t(&spec.tag)
            .rm(true)
            .forcerm(true)
            .buildargs(
                &spec
                    .args
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            )
            .labels(
                &spec
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .chain([("warren.managed".to_string(), "true".to_string())])
                    .collect::<HashMap<_, _>>(),
            );
        if let Some(t) = &spec.target {
            opts = opts.target(t);
        }
        if !spec.cache_from.is_empty() {
            opts = opts.cachefrom(&spec.cache_from);
        }
        let mut stream =
            self.docker
                .build_image(opts.build(), None, Some(bollard::body_full(ctx.tar.into())));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| RuntimeError::Build {
                tag: spec.tag.clone(),
                message: match e {
                    BollardError::DockerStreamError { error } => error,
                    other => other.to_string(),
                },
            })?;
            if let Some(line) = info.stream {
                for l in line.lines().filter(|l| !l.trim().is_empty()) {
                    progress(Progress::BuildLine(l.to_string()));
                }
            }
            if let Some(msg) = info.error_detail.and_then(|d| d.message) {
                return Err(RuntimeError::Build {
                    tag: spec.tag.clone(),
                    message: msg,
                });
            }
        }
        Ok(())
    }

    /// Sends `signal` to the container's main process.
    pub async fn kill(&self, id: &str, signal: &str) -> Result<()> {
        let opts = qp::KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        self.docker
            .kill_container(id, Some(opts))
            .await
            .map_err(|e| not_found_or(id, "killing the container", e))
    }

    async fn exec_attached(
        &self,
        exec_id: &str,
        tty: bool,
        with_stdin: bool,
        mut on_output: impl FnMut(Stream, &[u8]),
    ) -> Result<()> {
        let started = self
            .docker
            .start_exec(
                exec_id,
                Some(StartExecOptions {
                    detach: false,
                    tty,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(|e| engine("starting the command", e))?;
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        else {
            return Ok(());
        };
        let stdin_task = if with_stdin {
            let (mut chunks, stop) = crate::tty::stdin_reader().map_err(RuntimeError::Terminal)?;
            let copy = tokio::spawn(async move {
                while let Some(chunk) = chunks.recv().await {
                    if input.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                let _ = input.shutdown().await;
            });
            Some((copy, stop))
        } else {
            drop(input);
            None
        };
        let resize_task = if tty {
            let docker = self.docker.clone();
            let exec_id = exec_id.to_string();
            Some(tokio::spawn(async move {
                follow_window_size(docker, exec_id).await
            }))
        } else {
            None
        };
        while let Some(chunk) = output.next().await {
            deliver(chunk, &mut on_output)?;
        }
        // The command's output ended: it has exited. Stop reading the user's input
        // now (not at the next key press), so the exit code is read at once.
        if let Some((t, stop)) = stdin_task {
            drop(stop);
            t.abort();
        }
        if let Some(t) = resize_task {
            t.abort();
        }
        Ok(())
    }
}

impl DockerRuntime {
    /// Stops one container (what `stop` does for a plain environment).
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let opts = qp::StopContainerOptionsBuilder::default()
            .t(timeout.as_secs().min(i32::MAX as u64) as i32)
            .build();
        match self.docker.stop_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(304) => Ok(()),
            Err(e) => Err(not_found_or(id, "stopping the container", e)),
        }
    }

    /// Forwards SIGTERM, SIGINT and SIGHUP received by this process to the
    /// exec'd command, and kills it when it has not ended a grace period after
    /// the first (`crate::signals`), until the caller stops polling. Never
    /// returns on its own.
    async fn forward_signals(&self, container: &str, exec_id: &str, stops: Option<&mut Stops>) {
        let Some(stops) = stops else {
            return std::future::pending().await;
        };
        loop {
            let sig = match stops.next().await {
                Action::Forward(sig) => sig,
                Action::Kill => "KILL",
            };
            self.signal_exec(container, exec_id, sig).await;
        }
    }

    /// Sends `SIG<sig>` to an exec'd command: its pid inside the container
    /// comes from the host pid the engine reports (`NSpid` in /proc), and
    /// `kill` runs inside, so no host privileges are needed.
    async fn signal_exec(&self, container: &str, exec_id: &str, sig: &str) {
        let Ok(info) = self.docker.inspect_exec(exec_id).await else {
            return;
        };
        let Some(host_pid) = info.pid.filter(|p| *p > 0) else {
            return;
        };
        let inner = std::fs::read_to_string(format!("/proc/{host_pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("NSpid:"))
                    .and_then(|l| l.split_whitespace().last().map(str::to_string))
            });
        let Some(inner) = inner else {
            tracing::debug!("cannot map exec pid {host_pid} into the container");
            return;
        };
        let kill = ExecSpec {
            cmd: vec!["kill".into(), format!("-{sig}"), inner],
            env: Vec::new(),
            user: Some("0".into()),
            workdir: None,
        };
        let _ = Box::pin(self.exec(container, &kill, ExecIo::Null)).await;
    }
}

/// Hands one chunk of an attached stream to `sink`.
fn deliver(
    chunk: std::result::Result<bollard::container::LogOutput, BollardError>,
    sink: &mut impl FnMut(Stream, &[u8]),
) -> Result<()> {
    use bollard::container::LogOutput;
    match chunk {
        Ok(LogOutput::StdErr { message }) => sink(Stream::Stderr, &message),
        Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
            sink(Stream::Stdout, &message)
        }
        Ok(LogOutput::StdIn { .. }) => {}
        Err(e) => return Err(engine("reading the command's output", e)),
    }
    Ok(())
}

/// A sink writing to this process's stdout/stderr, flushed per chunk.
fn to_stdio() -> impl FnMut(Stream, &[u8]) + Send {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    move |s, bytes| {
        use std::io::Write;
        let _ = match s {
            Stream::Stdout => out.write_all(bytes).and_then(|_| out.flush()),
            Stream::Stderr => err.write_all(bytes).and_then(|_| err.flush()),
        };
    }
}

async fn follow_window_size(docker: Docker, exec_id: String) {
    let resize = |(h, w): (u16, u16)| {
        let docker = docker.clone();
        let exec_id = exec_id.clone();
        async move {
            let _ = docker
                .resize_exec(
                    &exec_id,
                    bollard::exec::ResizeExecOptions {
                        height: h,
                        width: w,
                    },
                )
                .await;
        }
    };
    if let Some(size) = crate::tty::size() {
        resize(size).await;
    }
    let Ok(mut winch) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
    else {
        return;
    };
    while winch.recv().await.is_some() {
        if let Some(size) = crate::tty::size() {
            resize(size).await;
        }
    }
}

fn split_tag(image: &str) -> (&str, &str) {
    // A colon after the last slash separates the tag (a colon before it is a
    // registry port); digests (`@sha256:`) are passed whole.
    if image.contains('@') {
        return (image, "");
    }
    let last_slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[last_slash..].rfind(':') {
        Some(i) => (&image[..last_slash + i], &image[last_slash + i + 1..]),
        None => (image, "latest"),
    }
}

fn status(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn engine(action: impl Into<String>, source: BollardError) -> RuntimeError {
    RuntimeError::Engine {
        action: action.into(),
        source,
    }
}

/// What the engine says when a GPU is requested and it has no GPU driver.
const NO_GPU_DRIVER: &str = "could not select device driver";

/// The plain-words error for a GPU request the engine cannot serve.
pub const NO_GPU_SUPPORT: &str = "this machine's Docker engine has no GPU support (no NVIDIA container toolkit or other GPU device driver is installed), so the `--gpus` / `hostRequirements.gpu` this environment asks for cannot be given; install the NVIDIA container toolkit and restart the engine, or remove the GPU request (and `gpus` from `host_access:`)";

fn not_found_or(id: &str, action: &str, e: BollardError) -> RuntimeError {
    if e.to_string().contains(NO_GPU_DRIVER) {
        return RuntimeError::Other(format!("{NO_GPU_SUPPORT} (the engine said: {e})"));
    }
    if status(&e) == Some(404) {
        RuntimeError::NotFound(id.to_string())
    } else {
        engine(action, e)
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }

    async fn ensure_image(
        &self,
        image: &ImageSource,
        progress: ProgressSink<'_>,
    ) -> Result<String> {
        match image {
            ImageSource::Image(name) => {
                if !self.image_exists(name).await? {
                    self.pull(name, progress).await?;
                }
                Ok(name.clone())
            }
            ImageSource::Build(spec) => {
                if !self.image_exists(&spec.tag).await? {
                    self.build(spec, progress).await?;
                }
                Ok(spec.tag.clone())
            }
        }
    }

    async fn image_info(&self, image: &str) -> Result<Option<crate::ImageInfo>> {
        let inspect = match self.docker.inspect_image(image).await {
            Ok(i) => i,
            Err(e) if status(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(engine(format!("inspecting image `{image}`"), e)),
        };
        let config = inspect.config.unwrap_or_default();
        let present = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
        Ok(Some(crate::ImageInfo {
            labels: config.labels.unwrap_or_default().into_iter().collect(),
            has_command: present(&config.cmd) || present(&config.entrypoint),
            id: inspect.id.unwrap_or_default(),
            user: config.user.unwrap_or_default(),
        }))
    }

    async fn create(&self, spec: &CreateSpec) -> Result<String> {
        if let Some(p) = &spec.compose {
            return self.compose_create(spec, p).await;
        }
        let opts = qp::CreateContainerOptionsBuilder::default()
            .name(&spec.container_name)
            .build();
        match self
            .docker
            .create_container(Some(opts), convert::create_body(spec))
            .await
        {
            Ok(r) => Ok(r.id),
            Err(e) if status(&e) == Some(409) => {
                Err(RuntimeError::NameConflict(spec.container_name.clone()))
            }
            Err(e) if e.to_string().contains(NO_GPU_DRIVER) => Err(RuntimeError::Other(format!(
                "{NO_GPU_SUPPORT} (the engine said: {e})"
            ))),
            Err(e) => Err(engine(
                format!("creating container `{}`", spec.container_name),
                e,
            )),
        }
    }

    async fn start(&self, id: &str) -> Result<()> {
        if let Some(p) = self.compose_of(id).await? {
            return self.compose_start(&p).await;
        }
        match self
            .docker
            .start_container(id, None::<qp::StartContainerOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(304) => Ok(()),
            Err(e) => Err(not_found_or(id, "starting the container", e)),
        }
    }

    async fn run_attached(&self, id: &str, io: ExecIo<'_>) -> Result<ExitStatus> {
        // Attach first so no output is lost, then start, stream, and read
        // the exit code once the output ends (the container has exited).
        let opts = qp::AttachContainerOptionsBuilder::default()
            .stream(true)
            .stdout(true)
            .stderr(true)
            .build();
        let attached = self
            .docker
            .attach_container(id, Some(opts))
            .await
            .map_err(|e| not_found_or(id, "attaching to the container", e))?;
        let mut output = attached.output;
        drop(attached.input);
        // The command is the container's own process: one the engine cannot
        // start fails the start, with the engine's text.
        if let Err(e) = self.start(id).await {
            let text = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            if let Some(code) = RuntimeError::engine_exec_failure(&text) {
                let program = text
                    .split_once("exec: \"")
                    .and_then(|(_, rest)| rest.split('"').next())
                    .unwrap_or("the command")
                    .to_string();
                return Err(RuntimeError::cannot_exec(
                    &program,
                    "the engine could not start it",
                    code,
                ));
            }
            return Err(e);
        }
        let mut sink: Box<dyn FnMut(Stream, &[u8]) + Send + '_> = match io {
            ExecIo::Capture(sink) => Box::new(move |s, b| sink(s, b)),
            ExecIo::Null => Box::new(|_, _| {}),
            ExecIo::Inherit { .. } => Box::new(to_stdio()),
        };
        let pump = async {
            while let Some(chunk) = output.next().await {
                deliver(chunk, &mut sink)?;
            }
            Ok(())
        };
        // Signals for this foreground job go to the container's process, and one
        // that ignores them (as a pid 1 without handlers does) is killed after a
        // grace period: `run --rm` must get to its teardown.
        let mut stops = Stops::new();
        let forward = async {
            let Some(stops) = stops.as_mut() else {
                return std::future::pending::<()>().await;
            };
            loop {
                let sig = match stops.next().await {
                    Action::Forward(sig) => format!("SIG{sig}"),
                    Action::Kill => "SIGKILL".to_string(),
                };
                let opts = qp::KillContainerOptionsBuilder::default()
                    .signal(&sig)
                    .build();
                let _ = self.docker.kill_container(id, Some(opts)).await;
            }
        };
        tokio::select! {
            r = pump => r?,
            _ = forward => {}
        }
        let opts = qp::WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let mut wait = self.docker.wait_container(id, Some(opts));
        let code = match wait.next().await {
            Some(Ok(r)) => r.status_code,
            // Non-zero exits arrive as an error carrying the code.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(engine("waiting for the container", e)),
            None => -1,
        };
        Ok(ExitStatus {
            code: killed_code(stops.as_ref()).unwrap_or(code),
        })
    }

    async fn exec(&self, id: &str, spec: &ExecSpec, io: ExecIo<'_>) -> Result<ExitStatus> {
        let (tty, stdin) = match &io {
            ExecIo::Inherit { tty, stdin } => (*tty, *stdin),
            _ => (false, false),
        };
        let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let created = self
            .docker
            .create_exec(
                id,
                CreateExecOptions {
                    attach_stdin: Some(stdin),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(tty),
                    env: (!env.is_empty()).then_some(env),
                    cmd: Some(spec.cmd.clone()),
                    user: spec.user.clone(),
                    working_dir: spec.workdir.clone(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| match status(&e) {
                Some(404) => RuntimeError::NotFound(id.to_string()),
                Some(409) => RuntimeError::Other(format!("container `{id}` is not running")),
                _ => engine("creating the command", e),
            })?;
        // The engine reports a command it cannot start as text in the
        // output stream and exit code 126; that text is caught here and
        // turned into `CannotExec` (exit 127 for "not found", as a shell).
        let mut engine_failure: Option<i32> = None;
        let mut first_chunk = true;
        let mut watch = |s: Stream, b: &[u8], sink: &mut dyn FnMut(Stream, &[u8])| {
            if std::mem::take(&mut first_chunk)
                && let Some(code) = RuntimeError::engine_exec_failure(&String::from_utf8_lossy(b))
            {
                engine_failure = Some(code);
                return;
            }
            sink(s, b);
        };
        let mut stops = match io {
            ExecIo::Inherit { .. } => Stops::new(),
            _ => None,
        };
        match io {
            ExecIo::Inherit { tty, stdin } => {
                let _raw = if tty {
                    crate::tty::RawModeGuard::enter().map_err(RuntimeError::Terminal)?
                } else {
                    None
                };
                let mut out = to_stdio();
                let attached =
                    self.exec_attached(&created.id, tty, stdin, |s, b| watch(s, b, &mut out));
                // The command is this process's foreground job: signals
                // sent to us (a supervisor's SIGTERM, Ctrl-C without a
                // TTY) go to it, and we keep waiting for its exit code.
                let forward = self.forward_signals(id, &created.id, stops.as_mut());
                tokio::select! {
                    r = attached => r?,
                    _ = forward => {}
                }
            }
            ExecIo::Capture(sink) => {
                self.exec_attached(&created.id, false, false, |s, b| watch(s, b, &mut *sink))
                    .await?;
            }
            ExecIo::Null => {
                self.exec_attached(&created.id, false, false, |s, b| {
                    watch(s, b, &mut |_, _| {})
                })
                .await?;
            }
        }
        let inspect = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| engine("reading the command's exit code", e))?;
        let code = inspect.exit_code.unwrap_or(-1);
        if let Some(failure) = engine_failure
            && (code == 126 || code == 127)
        {
            let program = spec.cmd.first().map(String::as_str).unwrap_or("");
            return Err(RuntimeError::cannot_exec(
                program,
                "the engine could not start it",
                failure,
            ));
        }
        Ok(ExitStatus {
            code: killed_code(stops.as_ref()).unwrap_or(code),
        })
    }

    async fn stop(&self, id: &str, timeout: Duration) -> Result<()> {
        if let Some(p) = self.compose_of(id).await? {
            return self.compose_stop(id, &p, timeout).await;
        }
        self.stop_container(id, timeout).await
    }

    async fn remove(&self, id: &str) -> Result<()> {
        if let Some(p) = self.compose_of(id).await? {
            return self.compose_remove(&p).await;
        }
        // The environment's own named volumes (`<container name>-<name>`,
        // see `shared_volumes` in docs/configuration.md) go with it.
        let own_volumes: Vec<String> = match self
            .docker
            .inspect_container(id, None::<qp::InspectContainerOptions>)
            .await
        {
            Ok(c) => {
                let prefix = format!("{}-", c.name.unwrap_or_default().trim_start_matches('/'));
                c.mounts
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|m| m.typ.as_deref() == Some("volume"))
                    .filter_map(|m| m.name)
                    .filter(|n| prefix.len() > 1 && n.starts_with(&prefix))
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        let opts = qp::RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(()) => {}
            Err(e) if status(&e) == Some(404) => return Ok(()),
            Err(e) => return Err(engine("removing the container", e)),
        }
        for v in own_volumes {
            if let Err(e) = self
                .docker
                .remove_volume(&v, None::<qp::RemoveVolumeOptions>)
                .await
                && status(&e) != Some(404)
            {
                return Err(engine(format!("removing the volume `{v}`"), e));
            }
        }
        Ok(())
    }

    async fn port_bindings(&self, id: &str) -> Result<Vec<PortBinding>> {
        let info = self
            .docker
            .inspect_container(id, None::<qp::InspectContainerOptions>)
            .await
            .map_err(|e| not_found_or(id, "inspecting the container", e))?;
        // A container on another's network (compose `network_mode: service:db`)
        // has its ports published on that one.
        let owner = compose::network_owner(
            info.host_config
                .as_ref()
                .and_then(|h| h.network_mode.as_deref()),
        )
        .map(str::to_string);
        match owner {
            Some(owner) => Ok(self
                .inspect(&owner)
                .await?
                .ok_or(RuntimeError::NotFound(owner))?
                .ports),
            None => Ok(convert::from_inspect(info).ports),
        }
    }

    async fn logs(
        &self,
        id: &str,
        follow: bool,
        tail: Option<usize>,
        sink: crate::LogSink<'_>,
    ) -> Result<()> {
        let opts = qp::LogsOptionsBuilder::default()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .tail(&tail.map(|t| t.to_string()).unwrap_or_else(|| "all".into()))
            .build();
        let mut stream = self.docker.logs(id, Some(opts));
        while let Some(item) = stream.next().await {
            match item.map_err(|e| not_found_or(id, "reading logs", e))? {
                bollard::container::LogOutput::StdErr { message } => {
                    sink(crate::Stream::Stderr, &message)
                }
                bollard::container::LogOutput::StdOut { message }
                | bollard::container::LogOutput::Console { message } => {
                    sink(crate::Stream::Stdout, &message)
                }
                bollard::container::LogOutput::StdIn { .. } => {}
            }
        }
        Ok(())
    }

    async fn inspect(&self, id: &str) -> Result<Option<ContainerInfo>> {
        match self
            .docker
            .inspect_container(id, None::<qp::InspectContainerOptions>)
            .await
        {
            Ok(r) => Ok(Some(convert::from_inspect(r))),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(engine("inspecting the container", e)),
        }
    }

    async fn list(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerInfo>> {
        let filters: HashMap<String, Vec<String>> = HashMap::from([(
            "label".to_string(),
            labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        )]);
        let opts = qp::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(|e| engine("listing containers", e))?;
        Ok(list.into_iter().map(convert::from_summary).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::split_tag;

    #[test]
    fn tags() {
        assert_eq!(split_tag("busybox"), ("busybox", "latest"));
        assert_eq!(split_tag("busybox:1.36"), ("busybox", "1.36"));
        assert_eq!(
            split_tag("reg:5000/team/app"),
            ("reg:5000/team/app", "latest")
        );
        assert_eq!(
            split_tag("reg:5000/team/app:v2"),
            ("reg:5000/team/app", "v2")
        );
        assert_eq!(split_tag("app@sha256:abc"), ("app@sha256:abc", ""));
    }
}
