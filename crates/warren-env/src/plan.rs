//! [`Plan`]: everything needed to create one environment, resolved from the
//! configuration (see `resolve.rs`) and the command line. Creating from a
//! plan touches no configuration file.

use std::collections::BTreeMap;

use warren_core::RuntimeKind;
use warren_runtime::{ImageSource, Mount};

use crate::git::Repo;
use crate::spec::{Hooks, Lifecycle, LifecycleCommand, ServiceSpec};

/// Container settings from devcontainer.json / `.warren.yaml` (the parts the
/// system does not add itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerPlan {
    pub env: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    pub user: Option<String>,
    pub override_command: bool,
    /// Scripts the image's metadata (its Features) runs at container start.
    pub entrypoints: Vec<String>,
    pub init: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    /// runArgs `--cap-drop`.
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub network: Option<String>,
    pub extra_hosts: Vec<String>,
    /// `.warren.yaml resources` over runArgs `--memory`/`--cpus`/`--shm-size`
    /// and the defaults; every runtime enforces them its own way.
    pub resources: warren_core::Resources,
    pub ulimits: Vec<String>,
    pub hostname: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// runArgs `-w/--workdir`: the container's working directory (default:
    /// the workspace folder). Commands warren runs still start in the
    /// workspace folder, as the reference CLI's do.
    pub workdir: Option<String>,
    /// GPUs, devices and host namespaces granted by `host_access:`, and the
    /// list of what was given up.
    pub host: warren_runtime::HostAccessSpec,
    /// `.warren.yaml shared_volumes`: named volumes not scoped to the environment.
    pub shared_volumes: Vec<String>,
    /// What the trusted configuration grants (`host_access:`): checked again
    /// for what Features ask for once they are fetched.
    pub grants: warren_config::HostAccessOptIn,
}

/// `.warren.yaml` settings of the runtimes without an engine (sandbox,
/// host): their network, the extra host paths they see, and the ports their
/// services take (there is no port mapping).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalSettings {
    pub network: warren_config::SandboxNetwork,
    /// Host paths visible read-only (`~/` expanded at create).
    pub read_only_paths: Vec<String>,
    /// Host paths visible read-write.
    pub read_write_paths: Vec<String>,
    pub port_range: warren_config::PortRange,
}

/// A fully resolved request to create an environment.
#[derive(Debug, Clone)]
pub struct Plan {
    pub repo: Repo,
    pub project: String,
    /// Explicit name; `None` generates one.
    pub name: Option<String>,
    pub env_type: Option<String>,
    pub role: Option<String>,
    pub issue_id: Option<String>,
    pub runtime: RuntimeKind,
    /// The image (docker); `None` for runtimes without images.
    pub image: Option<ImageSource>,
    /// devcontainer `features` to install on the image (docker only).
    pub features: Option<crate::features::FeaturesPlan>,
    pub container: ContainerPlan,
    pub workspace_folder: String,
    /// devcontainer `workspaceMount` (docker): where the environment's tree
    /// is mounted, when not at `workspace_folder`.
    pub tree_mount: Option<TreeMount>,
    pub remote_user: Option<String>,
    /// `remote_user` was configured (not the container user's fallback): an
    /// image's `remoteUser` metadata does not replace it.
    pub remote_user_set: bool,
    /// `overrideCommand` was configured: an image's metadata does not replace it.
    pub override_command_set: bool,
    /// `remoteEnv` as configured; `${containerEnv:…}` resolved after start.
    pub remote_env: Vec<(String, String)>,
    /// `remoteEnv` variables set to `null`: unset for processes warren starts.
    pub remote_env_unset: Vec<String>,
    pub services: Vec<ServiceSpec>,
    pub initialize: Option<LifecycleCommand>,
    pub lifecycle: Lifecycle,
    pub hooks: Hooks,
    pub tools: Vec<String>,
    pub credentials: Vec<String>,
    pub proxy_port: u16,
    pub config_hash: String,
    /// `.warren.yaml` settings of the runtimes without an engine.
    pub local: LocalSettings,
    /// `--network` > `.warren.yaml network` > … > `isolated`.
    pub network: warren_core::NetworkMode,
    /// Hosts the egress proxy lets through (`isolated`), the tools' own included.
    pub egress_allow: Vec<String>,
    /// Credentials the proxy adds (`grants:`).
    pub grants: Vec<warren_config::GrantSpec>,
    /// `run --rm -- CMD` with nothing to run before CMD: the container's
    /// only process is CMD (like `docker run --rm`), saving an exec. See
    /// [`Plan::can_run_oneshot`].
    pub oneshot: Option<Vec<String>>,
    /// The environment will run one command and be removed (`run --rm --
    /// CMD`, [`Plan::single_command`]): the sandbox gives it a tmpfs `/tmp`
    /// and `$HOME` instead of directories on disk.
    pub scratch: bool,
    /// `run --rm`: the environment lives only as long as this process (the sandbox's
    /// keeper dies with it).
    pub ephemeral: bool,
    /// The type's command sessions (`sessions:`), rendered at create.
    pub sessions: Vec<warren_config::EffectiveSession>,
    /// The type's role sessions (`roles:`).
    pub roles: Vec<warren_config::EffectiveRole>,
    /// `default_session_name_template`.
    pub session_name_template: String,
    /// `checkpoint: on_idle`.
    pub checkpoint_on_idle: bool,
    /// A Docker Compose config: the environment is a service of a compose
    /// project of its own (docker only).
    pub compose: Option<crate::compose::ComposePlan>,
    /// What was asked for: the configuration is read again with it once the
    /// environment has a name and a tree ([`crate::Warren::create`]).
    pub request: crate::resolve::RunRequest,
}

/// Where the environment's tree is mounted (devcontainer `workspaceMount`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeMount {
    pub target: String,
    pub read_only: bool,
}

/// The type whose environments work on the project's main checkout.
pub const MAIN_CHECKOUT_TYPE: &str = "manager";

impl Plan {
    /// Whether the environment works on the project's main checkout, read-only,
    /// instead of a repository of its own: type `manager` (docs/sessions.md).
    pub fn on_main_checkout(&self) -> bool {
        self.env_type.as_deref() == Some(MAIN_CHECKOUT_TYPE)
    }

    /// Where the environment's tree is inside a container: `workspaceMount`'s
    /// target, else `workspace_folder`.
    pub fn tree_inside(&self) -> &str {
        self.tree_mount
            .as_ref()
            .map_or(&self.workspace_folder, |m| &m.target)
    }

    /// Whether CMD can be the container's own process: docker, and nothing
    /// before CMD (see [`Plan::single_command`]).
    pub fn can_run_oneshot(&self) -> bool {
        // The egress proxy of a container is served once it runs (its network daemon
        // enters it by pid), so CMD could start before it: such a one runs by exec.
        self.runtime == RuntimeKind::Docker
            && self.compose.is_none()
            && self.single_command()
            && !self.network.has_egress()
            // CMD is the container's process: nothing could unset these for it.
            && self.remote_env_unset.is_empty()
    }

    /// Whether CMD would be the environment's only command: no lifecycle
    /// command, hook or service that needs the environment up before it.
    pub fn single_command(&self) -> bool {
        let l = &self.lifecycle;
        l.on_create.is_none()
            && l.update_content.is_none()
            && l.post_create.is_none()
            && l.post_start.is_none()
            && l.post_attach.is_none()
            && self.hooks.post_start.is_empty()
            && self.hooks.pre_stop.is_empty()
            && self.services.is_empty()
            && self.sessions.is_empty()
            && self.roles.is_empty()
    }
}
