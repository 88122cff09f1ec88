//! How environments are isolated. [`Runtime`] is the one interface the
//! environment layer uses; [`docker::DockerRuntime`] implements it over the
//! Docker Engine API (also Podman's compatible socket).

pub mod docker;
mod error;
pub mod local;
mod signals;
pub mod tty;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use warren_core::RuntimeKind;

pub use error::RuntimeError;

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Where an environment's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// Use this image; pull it if it is not present locally.
    Image(String),
    /// Build it (tagged `tag`) unless an image with that tag exists.
    Build(BuildSpec),
}

/// A Dockerfile build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    /// Build context directory (absolute).
    pub context: PathBuf,
    /// Dockerfile (absolute, or relative to `context`).
    pub dockerfile: PathBuf,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub cache_from: Vec<String>,
    /// Stable tag derived from the project and the build's inputs; an image
    /// with this tag is reused without building.
    pub tag: String,
    /// Labels set on the built image (besides `warren.managed`).
    pub labels: BTreeMap<String, String>,
}

/// Progress reported while pulling or building.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A line of build output (`Step 2/5 : RUN make`).
    BuildLine(String),
    /// Pull progress of one layer.
    Pull {
        layer: String,
        status: String,
        current: Option<u64>,
        total: Option<u64>,
    },
    /// A one-off message (`pulling busybox:latest`).
    Message(String),
}

/// Receives output chunks of [`Runtime::logs`].
pub type LogSink<'a> = &'a mut (dyn FnMut(Stream, &[u8]) + Send);

/// Receives [`Progress`].
pub type ProgressSink<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// A filesystem mount into an environment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    pub kind: MountKind,
    /// Host path (bind) or volume name (volume); unused for tmpfs.
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

/// A port published on the host: container port -> 127.0.0.1:host_port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortBinding {
    pub container_port: u16,
    /// `None` until the engine assigned one (or when not published).
    pub host_port: Option<u16>,
    pub host_ip: Option<std::net::IpAddr>,
}

/// A port to publish at create time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishPort {
    pub container_port: u16,
    /// Fixed host port; `None` lets the engine pick a free one.
    pub host_port: Option<u16>,
    /// Address to bind on the host (default 127.0.0.1).
    pub host_ip: Option<std::net::IpAddr>,
}

/// Everything needed to create an environment's container.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateSpec {
    /// Container name on the engine.
    pub container_name: String,
    pub hostname: Option<String>,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// The container's own environment (devcontainer `containerEnv`).
    pub env: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    pub publish: Vec<PublishPort>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// Replace the image's command with a keep-alive loop (devcontainer
    /// `overrideCommand`, default true).
    pub override_command: bool,
    pub init: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    /// Capabilities to drop (runArgs `--cap-drop`; `ALL` drops warren's default
    /// set too, leaving only `cap_add`).
    #[serde(default)]
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    /// `host`, `none`, `bridge` or a network name; for the sandbox `isolated`,
    /// `open`, `none` or `host`.
    pub network: Option<String>,
    /// The environment's network daemon dir (`ROOT/net/<name>`) when it has a network
    /// namespace of its own: the sandbox forks the daemon with it.
    #[serde(default)]
    pub net_dir: Option<std::path::PathBuf>,
    pub extra_hosts: Vec<String>,
    /// Memory, CPU, pids and tmpfs limits (docker: the HostConfig; sandbox:
    /// a cgroup and sized tmpfs). Specs stored before limits existed have none.
    #[serde(default)]
    pub resources: warren_core::Resources,
    /// `name=soft[:hard]`.
    pub ulimits: Vec<String>,
    /// A one-shot job: the container's only process is this command (no
    /// keep-alive, no entrypoint), run by [`Runtime::run_attached`].
    #[serde(default)]
    pub oneshot: Option<Vec<String>>,
    /// One command, then removal: nothing needs to outlive it (the sandbox
    /// gives it a tmpfs `/tmp` and `$HOME`; docker ignores this).
    #[serde(default)]
    pub scratch: bool,
    /// `run --rm`: nothing of it may outlive the process that runs it (the sandbox
    /// ties its keeper to that process).
    #[serde(default)]
    pub ephemeral: bool,
    /// Host access the user granted (`host_access:` in their own config):
    /// GPUs, devices and host namespaces (docs/SECURITY.md).
    #[serde(default)]
    pub host: HostAccessSpec,
    /// Scripts to run as the container starts, before its command (image
    /// metadata `entrypoint`s: what Features such as docker-in-docker need).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoints: Vec<String>,
    /// A Docker Compose environment: this container is the main service of
    /// that project (docker only; the fields above are in the project's file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<docker::compose::ComposeProject>,
}

/// The host access a [`CreateSpec`] was granted beyond its mounts,
/// capabilities and security options (which have their own fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostAccessSpec {
    /// `--gpus`: `all`, a count, or `device=ID[,ID]`.
    #[serde(default)]
    pub gpus: Option<String>,
    /// `--device SRC[:DST[:PERMS]]`.
    #[serde(default)]
    pub devices: Vec<String>,
    /// `host` (or a private mode) per namespace.
    #[serde(default)]
    pub ipc: Option<String>,
    #[serde(default)]
    pub pid: Option<String>,
    #[serde(default)]
    pub uts: Option<String>,
    /// Every host access granted, in a few words each (`ipc host`, `gpus
    /// all`…): what `ls`, `doctor` and the banner say was given up.
    #[serde(default)]
    pub given_up: Vec<String>,
}

/// A command to run inside an environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: Option<String>,
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How an exec's input and output are connected.
pub enum ExecIo<'a> {
    /// This process's stdin/stdout/stderr. With `tty`, a TTY is allocated,
    /// the local terminal is put in raw mode and window size changes follow.
    Inherit { tty: bool, stdin: bool },
    /// Output chunks go to the callback; no stdin.
    Capture(&'a mut (dyn FnMut(Stream, &[u8]) + Send)),
    /// Discard all output.
    Null,
}

/// How a finished command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// Exit code; 128+N for a command killed by signal N.
    pub code: i64,
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self.code == 0
    }
}

/// State of a container as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
    Removing,
    Unknown,
}

impl ContainerState {
    pub fn is_running(self) -> bool {
        matches!(self, ContainerState::Running | ContainerState::Restarting)
    }
}

/// What the engine knows about one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: ContainerState,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<PortBinding>,
    /// The container's environment (`KEY=VALUE`), when inspected.
    pub env: Vec<(String, String)>,
    /// Host pid of its init while it runs, when inspected (its network namespace is
    /// entered through it).
    pub pid: Option<u32>,
}

/// What the engine knows about a local image that shapes a container made
/// from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// The image's labels (`devcontainer.metadata` among them).
    pub labels: BTreeMap<String, String>,
    /// Whether it has a command to run (a non-empty `CMD` or `ENTRYPOINT`).
    pub has_command: bool,
    /// The engine's id of the image (`sha256:…`).
    pub id: String,
    /// The image's `USER` (empty: root).
    pub user: String,
}

/// An isolation backend. Implementations: docker (here), sandbox, host.
#[async_trait]
pub trait Runtime: Send + Sync {
    fn kind(&self) -> RuntimeKind;

    /// Makes `image` available locally (pull or build) and returns the
    /// reference to create containers from.
    async fn ensure_image(&self, image: &ImageSource, progress: ProgressSink<'_>)
    -> Result<String>;

    /// The labels and command of a local image (after [`Runtime::ensure_image`]);
    /// `None` for runtimes without images or an image the engine does not know.
    async fn image_info(&self, image: &str) -> Result<Option<ImageInfo>> {
        let _ = image;
        Ok(None)
    }

    /// Creates (does not start) an environment; returns its id.
    async fn create(&self, spec: &CreateSpec) -> Result<String>;

    async fn start(&self, id: &str) -> Result<()>;

    /// Runs a command inside a running environment and waits for it.
    async fn exec(&self, id: &str, spec: &ExecSpec, io: ExecIo<'_>) -> Result<ExitStatus>;

    async fn stop(&self, id: &str, timeout: Duration) -> Result<()>;

    /// Removes the environment (stopping it first). Missing is not an error.
    async fn remove(&self, id: &str) -> Result<()>;

    /// Published ports and the host ports they got.
    async fn port_bindings(&self, id: &str) -> Result<Vec<PortBinding>>;

    /// Hands the environment's main process output to `sink`, chunk by
    /// chunk; with `follow`, until the process ends.
    async fn logs(
        &self,
        id: &str,
        follow: bool,
        tail: Option<usize>,
        sink: LogSink<'_>,
    ) -> Result<()>;

    /// `None` when the engine does not know the id.
    async fn inspect(&self, id: &str) -> Result<Option<ContainerInfo>>;

    /// Every environment carrying all of `labels`.
    async fn list(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerInfo>>;

    /// Starts a container created with [`CreateSpec::oneshot`], streams its
    /// output to `io` and waits for its exit code.
    async fn run_attached(&self, id: &str, io: ExecIo<'_>) -> Result<ExitStatus> {
        let _ = (id, io);
        Err(RuntimeError::Other(format!(
            "the {} runtime has no one-shot containers",
            self.kind()
        )))
    }
}
