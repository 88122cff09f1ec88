//! Resolution: every config source merged into one [`Effective`] value, the
//! single input of the environment layer.
//!
//! Precedence, highest first (docs/configuration.md):
//!
//! 1. CLI flags ([`CliOverrides`]: `--runtime`, `--tool`, `-p SVC=PORT`, `-e K=V`, `--config`)
//! 2. environment (`WARREN_RUNTIME`, `WARREN_PORT_RANGE`, parsed with the
//!    global config into [`crate::EnvOverrides`] so they beat `.warren.yaml`)
//! 3. `.warren.yaml`: the chosen type (through its `extends` chain), then the
//!    top-level settings (see [`crate::resolve_type`])
//! 4. devcontainer.json
//! 5. the global `config.yaml` (user defaults for `runtime` and `port_range`)
//! 6. built-in defaults
//!
//! Each field of [`Effective`] documents which sources feed it. Lists that
//! add up (mounts, env, capabilities, services) are combined from every
//! source in that order, the higher source winning on conflicts (same env
//! key, same mount target, same service name).

use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use warren_core::names::slug;
use warren_core::tools::{tool, tool_names};

use crate::EnvLookup;
use crate::decode::suggestion;
use crate::devcontainer::{DevContainer, Lifecycle, PortSpec, ShutdownAction, WaitFor};
use crate::diagnostic::{ConfigError, Diagnostic, Loaded};
use crate::global::GlobalConfig;
use crate::lifecycle::hex;
use crate::project::{ProjectConfig, SandboxNetwork, SessionConfig};
use crate::runargs::RunArgs;
use crate::types::{ResolvedType, project_defaults, resolve_type};
use crate::values::{BuildSpec, Hook, Mount, MountKind, OrderedMap, PortRange, RuntimeChoice};
use crate::variables::DEFAULT_WORKSPACE_FOLDER;

/// Default `session_name_template` when `.warren.yaml` sets none.
pub const DEFAULT_SESSION_NAME_TEMPLATE: &str = "{name}-{session_name}";

/// What the command line asked for (highest precedence).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliOverrides {
    /// `--runtime`.
    pub runtime: Option<RuntimeChoice>,
    /// `--tool`.
    pub tool: Option<String>,
    /// `-p SVC=PORT`, in order.
    pub services: Vec<(String, u16)>,
    /// `-e K=V`, in order.
    pub env: Vec<(String, String)>,
    /// `--config`: the devcontainer.json to use (relative to the repo root).
    pub devcontainer_config: Option<PathBuf>,
}

/// Everything [`resolve`] merges. Files are loaded by the caller (or by
/// [`load_effective`]).
#[derive(Clone, Copy)]
pub struct ResolveInputs<'a> {
    /// The project's repository root: default project name, and the base of
    /// relative mount sources.
    pub repo_root: &'a Path,
    pub global: &'a GlobalConfig,
    pub project: Option<&'a ProjectConfig>,
    pub devcontainer: Option<&'a DevContainer>,
    /// The environment type (`--type` / `warren new TYPE`); `None` uses the
    /// project's top-level settings.
    pub type_name: Option<&'a str>,
    pub cli: &'a CliOverrides,
    /// The host environment, for `runArgs` `-e NAME` (the `WARREN_*`
    /// overrides come with `global`).
    pub env: EnvLookup<'a>,
    /// The user's home directory, for `~` in mount sources.
    pub home: Option<&'a Path>,
}

/// Where the image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum ImageSource {
    /// Use (pull if missing) this image.
    Image { name: String },
    /// Build it. Paths are absolute.
    Build {
        context: PathBuf,
        dockerfile: PathBuf,
        args: OrderedMap<String>,
        target: Option<String>,
        cache_from: Vec<String>,
    },
}

/// Which config a service came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceOrigin {
    /// `.warren.yaml` `services:`.
    Project,
    /// `-p SVC=PORT`.
    Cli,
    /// devcontainer.json `forwardPorts`.
    ForwardPorts,
    /// devcontainer.json `appPort`.
    AppPort,
}

/// A named port the environment exposes; the first is the default service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// Route name (`web` → `web.<env>.localhost`); a port number when the
    /// devcontainer port has no label.
    pub name: String,
    /// Port inside the environment.
    pub port: u16,
    /// `portsAttributes` label, if any.
    pub label: Option<String>,
    /// Host port asked for (`"8080:3000"`); `None`: engine-assigned.
    pub host_port: Option<u16>,
    /// Host address asked for (`"127.0.0.1:8080:3000"`); `None`: 127.0.0.1.
    pub host_ip: Option<IpAddr>,
    pub origin: ServiceOrigin,
}

/// A role session with its tool decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveRole {
    pub name: String,
    pub tool: String,
    pub model: Option<String>,
    /// Skip permission prompts: the environment's `allow_dangerous` AND the
    /// role's `dangerous` (both default true).
    pub dangerous: bool,
    pub skill: Option<String>,
    pub prompt: Option<String>,
}

/// A command session to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveSession {
    pub name: String,
    pub config: SessionConfig,
}

/// `.warren.yaml` hooks, resolved (empty when unset).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct EffectiveHooks {
    /// Host, before create (after `initializeCommand`).
    pub pre_start: Vec<Hook>,
    /// Inside, after the lifecycle commands.
    pub post_start: Vec<Hook>,
    /// Inside, before stop.
    pub pre_stop: Vec<Hook>,
    /// Host, after stop.
    pub post_stop: Vec<Hook>,
}

/// Sandbox runtime settings, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct EffectiveSandbox {
    pub network: SandboxNetwork,
    pub read_only_paths: Vec<String>,
    pub read_write_paths: Vec<String>,
}

/// The resolved configuration of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective {
    /// `.warren.yaml name` > repo directory name (slugged) > `project`.
    pub project: String,
    pub repo_root: PathBuf,
    pub type_name: Option<String>,
    /// The `extends` chain merged (root first), empty without a type.
    pub type_chain: Vec<String>,
    /// `--runtime` > `WARREN_RUNTIME` > `.warren.yaml runtime` (type, top) >
    /// global `runtime` > `auto`.
    pub runtime: RuntimeChoice,
    /// `.warren.yaml image/build` (type, top) > devcontainer `image`/`build` > none.
    pub image: Option<ImageSource>,
    /// `.warren.yaml services`, then new `-p` names (an existing name gets
    /// the CLI port), then devcontainer `forwardPorts` and `appPort` whose
    /// port is not already a service.
    pub services: Vec<Service>,
    /// devcontainer `containerEnv` < runArgs `-e` < `.warren.yaml env` (top <
    /// type chain) < `-e K=V`. May contain `${containerEnv:…}`.
    pub container_env: OrderedMap<String>,
    /// devcontainer `remoteEnv` (None = unset), for processes warren starts
    /// inside. May contain `${containerEnv:…}`: see
    /// [`crate::substitute_container_env`].
    pub remote_env: OrderedMap<Option<String>>,
    /// devcontainer `mounts`, then `.warren.yaml mounts` (top, then type
    /// chain); a later mount on the same target replaces the earlier one.
    /// Bind sources are absolute (`~` expanded, relative to the repo root).
    pub mounts: Vec<Mount>,
    /// devcontainer `workspaceMount`: always a bind of the environment's own
    /// tree (anything else is refused when the file is read); its target is
    /// where the docker runtime mounts the tree (None: at `workspace_folder`).
    pub workspace_mount: Option<Mount>,
    /// The remaining `runArgs` (env, capabilities, security options, init and
    /// privileged are folded into their own fields).
    pub run_args: RunArgs,
    /// `.warren.yaml workspace_folder` > devcontainer `workspaceFolder` >
    /// `workspaceMount`'s target > `/workspace`.
    pub workspace_folder: String,
    /// `.warren.yaml user` > devcontainer `remoteUser` > `containerUser`.
    pub remote_user: Option<String>,
    /// devcontainer `containerUser` > runArgs `-u`.
    pub container_user: Option<String>,
    /// devcontainer `overrideCommand`, default true (false for a Compose
    /// config, as the spec says: the service's own command runs).
    pub override_command: bool,
    /// devcontainer `init` or runArgs `--init`.
    pub init: bool,
    /// devcontainer `privileged` or runArgs `--privileged`.
    pub privileged: bool,
    /// devcontainer `capAdd` + runArgs `--cap-add`.
    pub cap_add: Vec<String>,
    /// devcontainer `securityOpt` + runArgs `--security-opt`.
    pub security_opt: Vec<String>,
    /// devcontainer lifecycle commands.
    pub lifecycle: Lifecycle,
    /// `.warren.yaml` hooks (type > top).
    pub hooks: EffectiveHooks,
    /// devcontainer `waitFor` (default `updateContentCommand`).
    pub wait_for: WaitFor,
    pub shutdown_action: Option<ShutdownAction>,
    /// `.warren.yaml credentials` (top + type chain).
    pub credentials: Vec<String>,
    /// The tool to attach to: `--tool` > `.warren.yaml tool` (type > top).
    pub tool: Option<String>,
    /// Every tool the environment uses (`tool` and the roles' tools): their
    /// config dirs are mounted.
    pub tools: Vec<String>,
    /// The type's roles, with tools decided (role `tool` > `tool`).
    pub roles: Vec<EffectiveRole>,
    /// The type's command sessions.
    pub sessions: Vec<EffectiveSession>,
    /// `.warren.yaml allow_dangerous`, default true.
    pub allow_dangerous: bool,
    /// `.warren.yaml interactive`, default false.
    pub interactive: bool,
    pub sandbox: EffectiveSandbox,
    /// `.warren.yaml network` (type > top) > `sandbox.network` > devcontainer
    /// `runArgs --network host|none` > `isolated`. The CLI's `--network` wins over all.
    pub network: warren_core::NetworkMode,
    /// `.warren.yaml egress.allow` (type and top, accumulated); the tools' own API
    /// hosts are added when the proxy starts.
    pub egress_allow: Vec<String>,
    /// `.warren.yaml grants` (type and top, accumulated by name).
    pub grants: Vec<crate::network::GrantSpec>,
    /// `.warren.yaml resources` (type > top, key by key) > devcontainer
    /// `runArgs` (`--memory`, `--cpus`, `--shm-size`) > defaults (memory
    /// min(8 GiB, half of RAM), 4096 pids, 1 GiB tmpfs, every CPU).
    pub resources: warren_core::Resources,
    /// `WARREN_PORT_RANGE` > `.warren.yaml port_range` > global `port_range`.
    pub port_range: PortRange,
    /// `.warren.yaml default_session_name_template` > [`DEFAULT_SESSION_NAME_TEMPLATE`].
    pub session_name_template: String,
    /// `.warren.yaml checkpoint: on_idle`.
    pub checkpoint_on_idle: bool,
    /// `.warren.yaml commands`.
    pub commands: OrderedMap<String>,
    pub project_file: Option<PathBuf>,
    pub devcontainer_file: Option<PathBuf>,
    /// The devcontainer.json is a Compose config (`dockerComposeFile`): the
    /// environment is its `service` in a compose project of its own.
    pub compose: Option<crate::ComposeConfig>,
    /// devcontainer `features` (installed on the image by the docker runtime).
    pub features: Vec<crate::FeatureRequest>,
    /// devcontainer `overrideFeatureInstallOrder`.
    pub feature_install_order: Vec<String>,
    /// `remote_user` was configured (`user`/`remoteUser`), not taken from
    /// the container user: an image's `remoteUser` metadata does not beat it.
    pub remote_user_set: bool,
    /// `overrideCommand` was configured: an image's metadata does not beat it.
    pub override_command_set: bool,
    /// The host access the devcontainer.json asked for and `host_access:`
    /// (project or global) granted: the isolation this environment gives up.
    pub host_access: Vec<crate::host_access::HostAccess>,
    /// `host_access:` of the global config and the project, merged: also
    /// what an image label may use (never more).
    pub host_access_grants: crate::host_access::HostAccessOptIn,
    /// `.warren.yaml shared_volumes`: named volumes not scoped to the environment.
    pub shared_volumes: Vec<String>,
}

/// The parts of [`Effective`] that shape the container (or sandbox) itself.
#[derive(Serialize)]
struct HashView<'a> {
    version: u32,
    runtime: RuntimeChoice,
    image: &'a Option<ImageSource>,
    services: Vec<(&'a str, u16, Option<u16>, Option<IpAddr>)>,
    container_env: &'a OrderedMap<String>,
    mounts: &'a [Mount],
    workspace_mount: &'a Option<Mount>,
    run_args: &'a RunArgs,
    workspace_folder: &'a str,
    container_user: &'a Option<String>,
    override_command: bool,
    init: bool,
    privileged: bool,
    cap_add: &'a [String],
    security_opt: &'a [String],
    credentials: &'a [String],
    tools: &'a [String],
    sandbox: &'a EffectiveSandbox,
    resources: &'a warren_core::Resources,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    shared_volumes: &'a [String],
    // Skipped when empty: configurations without Features keep their hash.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    features: &'a [crate::FeatureRequest],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    feature_install_order: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    compose: &'a Option<crate::ComposeConfig>,
}

impl Effective {
    /// Hex SHA-256 over everything that affects the container (runtime,
    /// image source, published ports, container env, mounts, run args,
    /// workspace folder, container user, override command, init, privileged,
    /// capabilities, security options, credentials, tools, sandbox, resource
    /// limits). Not
    /// included: lifecycle commands (hashed one by one), hooks, sessions,
    /// roles and `remoteEnv`, which apply without recreating. Stored as the
    /// `warren.config-hash` label: an unchanged config is recognised.
    pub fn config_hash(&self) -> String {
        let view = HashView {
            version: 1,
            runtime: self.runtime,
            image: &self.image,
            services: self
                .services
                .iter()
                .map(|s| (s.name.as_str(), s.port, s.host_port, s.host_ip))
                .collect(),
            container_env: &self.container_env,
            mounts: &self.mounts,
            workspace_mount: &self.workspace_mount,
            run_args: &self.run_args,
            workspace_folder: &self.workspace_folder,
            container_user: &self.container_user,
            override_command: self.override_command,
            init: self.init,
            privileged: self.privileged,
            cap_add: &self.cap_add,
            security_opt: &self.security_opt,
            credentials: &self.credentials,
            tools: &self.tools,
            sandbox: &self.sandbox,
            resources: &self.resources,
            shared_volumes: &self.shared_volumes,
            features: &self.features,
            feature_install_order: &self.feature_install_order,
            compose: &self.compose,
        };
        // Serializing plain structs, vectors and ordered maps cannot fail.
        let json = serde_json::to_vec(&view).unwrap_or_default();
        hex(&Sha256::digest(&json))
    }

    /// The default service (the first declared), if any.
    pub fn default_service(&self) -> Option<&Service> {
        self.services.first()
    }
}

/// Lexically removes `.` and `..` (no filesystem access).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Makes a bind source absolute: `~` → home, relative → under `base`.
pub(crate) fn resolve_source(source: &str, base: &Path, home: Option<&Path>) -> String {
    let path = if source == "~" {
        home.map(Path::to_path_buf)
    } else if let Some(rest) = source.strip_prefix("~/") {
        home.map(|h| h.join(rest))
    } else {
        None
    };
    let path = path.unwrap_or_else(|| base.join(source));
    normalize(&path).to_string_lossy().into_owned()
}

fn resolve_mount(m: &Mount, base: &Path, home: Option<&Path>) -> Mount {
    let mut m = m.clone();
    if m.kind == MountKind::Bind {
        m.source = m.source.as_deref().map(|s| resolve_source(s, base, home));
    }
    m
}

fn image_source(image: &Option<String>, build: &Option<BuildSpec>) -> Option<ImageSource> {
    if let Some(b) = build {
        let context = normalize(&b.base.join(b.context.as_deref().unwrap_or(".")));
        let dockerfile = match &b.dockerfile {
            Some(f) => normalize(&b.base.join(f)),
            None => context.join("Dockerfile"),
        };
        return Some(ImageSource::Build {
            context,
            dockerfile,
            args: b.args.clone(),
            target: b.target.clone(),
            cache_from: b.cache_from.clone(),
        });
    }
    image
        .as_ref()
        .map(|name| ImageSource::Image { name: name.clone() })
}

fn valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// Merges all inputs by precedence. Every problem is reported at once.
pub fn resolve(inputs: ResolveInputs<'_>) -> Result<Effective, ConfigError> {
    let mut diags: Vec<Diagnostic> = Vec::new();
    let cli = inputs.cli;
    let dc = inputs.devcontainer;

    // .warren.yaml: the type's chain over the top-level settings.
    let resolved = match (inputs.project, inputs.type_name) {
        (Some(p), Some(t)) => match resolve_type(p, t) {
            Ok(r) => r,
            Err(e) => {
                diags.extend(e.diagnostics);
                project_defaults(p)
            }
        },
        (Some(p), None) => project_defaults(p),
        (None, Some(t)) => {
            diags.push(
                Diagnostic::arg_error("type", format!("unknown environment type `{t}`")).with_hint(
                    "types are defined under `types:` in .warren.yaml, and this project has none",
                ),
            );
            ResolvedType::default()
        }
        (None, None) => ResolvedType::default(),
    };
    let s = &resolved.settings;

    let project = inputs
        .project
        .and_then(|p| p.name.clone())
        .or_else(|| {
            inputs
                .repo_root
                .file_name()
                .map(|n| slug(&n.to_string_lossy()))
                .filter(|n| !n.is_empty())
        })
        .unwrap_or_else(|| "project".to_string());

    // Runtime and port range: CLI > env > .warren.yaml > global > default.
    let runtime = cli
        .runtime
        .or(inputs.global.env.runtime)
        .or(s.runtime)
        .unwrap_or(inputs.global.runtime);
    let port_range = inputs
        .global
        .env
        .port_range
        .or(inputs.project.and_then(|p| p.port_range))
        .unwrap_or(inputs.global.port_range);

    let image = image_source(&s.image, &s.build)
        .or_else(|| dc.and_then(|d| image_source(&d.image, &d.build)));

    // Services: .warren.yaml, then CLI, then devcontainer ports.
    let mut services: Vec<Service> = Vec::new();
    if let Some(p) = inputs.project {
        for (name, port) in p.services.iter() {
            services.push(Service {
                name: name.to_string(),
                port: *port,
                label: None,
                host_port: None,
                host_ip: None,
                origin: ServiceOrigin::Project,
            });
        }
    }
    for (name, port) in &cli.services {
        if !valid_service_name(name) {
            let fixed = slug(name);
            diags.push(
                Diagnostic::arg_error(
                    "-p",
                    format!("invalid service name `{name}` in `-p {name}={port}`"),
                )
                .with_hint(if fixed.is_empty() {
                    "use lowercase letters, digits and `-`, e.g. `-p web=3000`".to_string()
                } else {
                    format!("try `-p {fixed}={port}`")
                }),
            );
            continue;
        }
        match services.iter_mut().find(|s| s.name == *name) {
            Some(existing) => {
                existing.port = *port;
                existing.origin = ServiceOrigin::Cli;
            }
            None => services.push(Service {
                name: name.clone(),
                port: *port,
                label: None,
                host_port: None,
                host_ip: None,
                origin: ServiceOrigin::Cli,
            }),
        }
    }
    if let Some(d) = dc {
        let ports = d
            .forward_ports
            .iter()
            .map(|p| (p, ServiceOrigin::ForwardPorts))
            .chain(d.app_port.iter().map(|p| (p, ServiceOrigin::AppPort)));
        for (spec, origin) in ports {
            let PortSpec {
                host_ip,
                host_port,
                container_port,
            } = *spec;
            if services.iter().any(|s| s.port == container_port) {
                continue;
            }
            let label = d.port_label(container_port).map(str::to_string);
            let number = container_port.to_string();
            let name = label
                .as_deref()
                .map(slug)
                .filter(|n| !n.is_empty() && !services.iter().any(|s| s.name == *n))
                .unwrap_or(number);
            if services.iter().any(|s| s.name == name) {
                continue;
            }
            services.push(Service {
                name,
                port: container_port,
                label,
                host_port,
                host_ip,
                origin,
            });
        }
    }

    // Container env: containerEnv < runArgs -e < .warren env < CLI -e.
    let mut run_args = dc.map(|d| d.run_args.clone()).unwrap_or_default();
    let mut container_env = dc.map(|d| d.container_env.clone()).unwrap_or_default();
    container_env.merge(&std::mem::take(&mut run_args.env));
    container_env.merge(&s.env);
    for (k, v) in &cli.env {
        let valid = k
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            container_env.insert(k.clone(), v.clone());
        } else {
            diags.push(
                Diagnostic::arg_error(
                    "-e",
                    format!("invalid environment variable name `{k}` in `-e {k}=…`"),
                )
                .with_hint("use letters, digits and `_`, not starting with a digit"),
            );
        }
    }

    // Mounts: devcontainer, then .warren.yaml (later same target wins).
    let mut mounts: Vec<Mount> = Vec::new();
    let dc_mounts = dc.map(|d| d.mounts.as_slice()).unwrap_or_default();
    let run_mounts = std::mem::take(&mut run_args.mounts);
    for m in dc_mounts.iter().chain(&run_mounts).chain(&s.mounts) {
        let m = resolve_mount(m, inputs.repo_root, inputs.home);
        match mounts.iter_mut().find(|x| x.target == m.target) {
            Some(existing) => *existing = m,
            None => mounts.push(m),
        }
    }
    let workspace_mount = dc
        .and_then(|d| d.workspace_mount.as_ref())
        .map(|m| resolve_mount(m, inputs.repo_root, inputs.home));

    let workspace_folder = s
        .workspace_folder
        .clone()
        .or_else(|| dc.and_then(|d| d.workspace_folder.clone()))
        .or_else(|| workspace_mount.as_ref().map(|m| m.target.clone()))
        .unwrap_or_else(|| DEFAULT_WORKSPACE_FOLDER.to_string());
    let container_user = dc
        .and_then(|d| d.container_user.clone())
        .or_else(|| run_args.user.take());
    let remote_user = s
        .user
        .clone()
        .or_else(|| dc.and_then(|d| d.remote_user.clone()))
        .or_else(|| container_user.clone());

    let mut cap_add = dc.map(|d| d.cap_add.clone()).unwrap_or_default();
    push_unique(&mut cap_add, std::mem::take(&mut run_args.cap_add));
    let mut security_opt = dc.map(|d| d.security_opt.clone()).unwrap_or_default();
    push_unique(
        &mut security_opt,
        std::mem::take(&mut run_args.security_opt),
    );
    let init = dc.and_then(|d| d.init).unwrap_or(false) || std::mem::take(&mut run_args.init);
    let privileged =
        dc.and_then(|d| d.privileged).unwrap_or(false) || std::mem::take(&mut run_args.privileged);

    // Tools and roles.
    let tool_names_list: Vec<&str> = tool_names().collect();
    let cli_tool = cli.tool.as_ref().and_then(|t| {
        if tool(t).is_some() {
            Some(t.clone())
        } else {
            diags.push(
                Diagnostic::arg_error("--tool", format!("unknown tool `{t}`"))
                    .with_opt_hint(suggestion(t, &tool_names_list)),
            );
            None
        }
    });
    let primary_tool = cli_tool.or_else(|| s.tool.clone());
    let allow_dangerous = s.allow_dangerous.unwrap_or(true);
    let mut roles = Vec::new();
    if let Some(p) = inputs.project {
        for name in &resolved.roles {
            let Some(role) = p.roles.get(name) else {
                continue; // reported by the type checks
            };
            let Some(tool) = role.tool.clone().or_else(|| primary_tool.clone()) else {
                diags.push(
                    Diagnostic::file_error(&p.file, format!("role `{name}` does not name a tool"))
                        .with_hint(format!(
                            "add `tool: claude` (or another tool) to `roles.{name}`"
                        )),
                );
                continue;
            };
            roles.push(EffectiveRole {
                name: name.clone(),
                tool,
                model: role.model.clone(),
                dangerous: allow_dangerous && role.dangerous.unwrap_or(true),
                skill: role.skill.clone(),
                prompt: role.prompt.clone(),
            });
        }
    }
    let mut tools: Vec<String> = primary_tool.iter().cloned().collect();
    push_unique(&mut tools, roles.iter().map(|r| r.tool.clone()));
    // A type lists its sessions; an environment of no type gets every session the
    // project declares (so a `.warren.yaml` with just `sessions:` starts its dev
    // server with `warren run`).
    let all_sessions: Vec<String> = match (inputs.type_name, inputs.project) {
        (None, Some(p)) => p.sessions.keys().map(|k| k.to_string()).collect(),
        _ => resolved.sessions.clone(),
    };
    let sessions = inputs
        .project
        .map(|p| {
            all_sessions
                .iter()
                .filter_map(|n| {
                    p.sessions.get(n).map(|c| EffectiveSession {
                        name: n.clone(),
                        config: c.clone(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();

    let hooks = EffectiveHooks {
        pre_start: s.hooks.pre_start.clone().unwrap_or_default(),
        post_start: s.hooks.post_start.clone().unwrap_or_default(),
        pre_stop: s.hooks.pre_stop.clone().unwrap_or_default(),
        post_stop: s.hooks.post_stop.clone().unwrap_or_default(),
    };

    let network = s
        .network
        .or(s.sandbox.network.map(|n| match n {
            SandboxNetwork::Host => warren_core::NetworkMode::Host,
            SandboxNetwork::None => warren_core::NetworkMode::None,
        }))
        .or(match run_args.network {
            Some(crate::runargs::RunNetwork::Host) => Some(warren_core::NetworkMode::Host),
            Some(crate::runargs::RunNetwork::None) => Some(warren_core::NetworkMode::None),
            _ => None,
        })
        .unwrap_or_default();
    // Host access: what the devcontainer.json asks for, against the grants
    // of the trusted config (docs/SECURITY.md). `.warren.yaml`'s own
    // settings (its `mounts`, `network`) are the user's and need no grant.
    let mut grants = inputs.global.host_access.clone();
    if let Some(p) = inputs.project {
        grants.merge(&p.host_access);
    }
    let trusted_file = inputs
        .project
        .map(|p| p.source.name())
        .unwrap_or_else(|| ".warren.yaml".to_string());
    let (host_access, refused) = crate::host_access::check_uses(
        dc.map(|d| d.host_access.as_slice()).unwrap_or_default(),
        &grants,
        &|p| resolve_source(p, inputs.repo_root, inputs.home),
        inputs.home,
        &trusted_file,
    );
    diags.extend(refused);
    if dc.and_then(|d| d.gpu) == Some(crate::devcontainer::GpuRequirement::Optional)
        && run_args.gpus.is_none()
        && grants.allows(
            &crate::host_access::HostAccess::Gpus("all".into()),
            inputs.home,
        )
    {
        run_args.gpus = Some("all".into());
    }
    if dc.and_then(|d| d.gpu) == Some(crate::devcontainer::GpuRequirement::Required)
        && run_args.gpus.is_none()
    {
        run_args.gpus = Some("all".into());
    }
    // A Compose environment is on its project's own network (services reach each
    // other by name); warren cannot put it in a namespace of its own, and says
    // so rather than claim an isolation that is not there.
    let compose = dc.and_then(|d| d.compose.as_ref());
    let network = match compose {
        None => network,
        Some(c) => {
            if let (Some(n), Some(p)) = (s.network, inputs.project) {
                diags.push(
                    Diagnostic::file_error(
                        &p.file,
                        format!(
                            "`network: {n}` cannot apply to the Compose config `{}`: its environments are on their compose project's own network",
                            dc.map(|d| d.file.display().to_string()).unwrap_or_default()
                        ),
                    )
                    .with_hint(format!(
                        "remove `network:`; service `{}` reaches the project's other services by name and the outside through the engine (no egress proxy)",
                        c.service
                    )),
                );
            }
            warren_core::NetworkMode::Compose
        }
    };
    let shutdown_action = dc
        .and_then(|d| d.shutdown_action)
        .or(compose.map(|_| ShutdownAction::StopCompose));
    let resources = crate::resources::resolve(
        &s.resources,
        &run_args,
        warren_core::resources::host_memory(),
    );

    if diags.iter().any(Diagnostic::is_error) {
        return Err(ConfigError::new(diags));
    }
    Ok(Effective {
        project,
        repo_root: inputs.repo_root.to_path_buf(),
        type_name: resolved.name.clone(),
        type_chain: resolved.chain.clone(),
        runtime,
        image,
        services,
        container_env,
        remote_env: dc.map(|d| d.remote_env.clone()).unwrap_or_default(),
        mounts,
        workspace_mount,
        run_args,
        workspace_folder,
        remote_user,
        container_user,
        override_command: dc
            .and_then(|d| d.override_command)
            .unwrap_or(dc.is_none_or(|d| d.compose.is_none())),
        init,
        privileged,
        cap_add,
        security_opt,
        lifecycle: dc.map(|d| d.lifecycle.clone()).unwrap_or_default(),
        hooks,
        wait_for: dc.and_then(|d| d.wait_for).unwrap_or_default(),
        shutdown_action,
        credentials: s.credentials.clone(),
        tool: primary_tool,
        tools,
        roles,
        sessions,
        allow_dangerous,
        interactive: s.interactive.unwrap_or(false),
        sandbox: EffectiveSandbox {
            network: s.sandbox.network.unwrap_or_default(),
            read_only_paths: s.sandbox.read_only_paths.clone(),
            read_write_paths: s.sandbox.read_write_paths.clone(),
        },
        network,
        egress_allow: s.egress_allow.clone(),
        grants: s.grants.clone(),
        resources,
        port_range,
        session_name_template: inputs
            .project
            .and_then(|p| p.default_session_name_template.clone())
            .unwrap_or_else(|| DEFAULT_SESSION_NAME_TEMPLATE.to_string()),
        checkpoint_on_idle: inputs.project.is_some_and(|p| p.checkpoint_on_idle),
        commands: inputs
            .project
            .map(|p| p.commands.clone())
            .unwrap_or_default(),
        project_file: inputs.project.map(|p| p.file.clone()),
        devcontainer_file: dc.map(|d| d.file.clone()),
        compose: dc.and_then(|d| d.compose.clone()),
        features: dc.map(|d| d.features.clone()).unwrap_or_default(),
        feature_install_order: dc
            .map(|d| d.override_feature_install_order.clone())
            .unwrap_or_default(),
        remote_user_set: s.user.is_some() || dc.is_some_and(|d| d.remote_user.is_some()),
        override_command_set: dc.is_some_and(|d| d.override_command.is_some()),
        host_access,
        host_access_grants: grants,
        shared_volumes: inputs
            .project
            .map(|p| p.shared_volumes.clone())
            .unwrap_or_default(),
    })
}

/// What [`load_effective`] needs to find, load and resolve everything.
#[derive(Clone, Copy)]
pub struct LoadRequest<'a> {
    /// The project's repository root (where `.warren.yaml` and
    /// `.devcontainer/` are looked for).
    pub repo_root: &'a Path,
    /// The global configuration (read once per command, see [`crate::Settings`]).
    pub global: &'a GlobalConfig,
    pub type_name: Option<&'a str>,
    pub cli: &'a CliOverrides,
    pub env: EnvLookup<'a>,
    pub home: Option<&'a Path>,
    /// `${localWorkspaceFolder}`: the environment's worktree (default: `repo_root`).
    pub local_workspace_folder: Option<&'a Path>,
    /// `${devcontainerId}` (default: derived from the repo root; pass one
    /// from [`crate::devcontainer_id`] per environment).
    pub devcontainer_id: Option<&'a str>,
}

/// Loads the global config, `.warren.yaml` and the devcontainer.json (chosen
/// by `--config`, else the type's `devcontainer:`, else the standard
/// locations), then [`resolve`]s them. Warnings of every file come back
/// together; errors of every file are reported together.
pub fn load_effective(req: &LoadRequest<'_>) -> Result<Loaded<Effective>, ConfigError> {
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut take = |r: Result<Vec<Diagnostic>, ConfigError>| match r {
        Ok(w) => diags.extend(w),
        Err(e) => diags.extend(e.diagnostics),
    };
    let global = req.global;
    let project = match crate::project::load_project(req.repo_root) {
        Ok(p) => {
            take(Ok(p.warnings));
            p.value
        }
        Err(e) => {
            take(Err(e));
            None
        }
    };
    // The devcontainer.json: --config > `devcontainer:` (type > top) > discovery.
    let configured = project.as_ref().and_then(|p| {
        let settings = match req.type_name {
            Some(t) => resolve_type(p, t).ok()?.settings,
            None => p.defaults.clone(),
        };
        settings.devcontainer
    });
    let dc_path = match (&req.cli.devcontainer_config, configured) {
        (Some(c), _) => crate::devcontainer::find_devcontainer(req.repo_root, Some(c)),
        (None, Some(c)) => {
            let path = req.repo_root.join(&c);
            if path.is_file() {
                Ok(Some(path))
            } else {
                let file = project.as_ref().map(|p| p.file.clone()).unwrap_or_default();
                Err(ConfigError::one(
                    Diagnostic::file_error(&file, format!("`devcontainer: {c}` does not exist"))
                        .with_hint("the path is relative to the repository root"),
                ))
            }
        }
        (None, None) => crate::devcontainer::find_devcontainer(req.repo_root, None),
    };
    let default_id;
    let devcontainer_id = match req.devcontainer_id {
        Some(id) => id,
        None => {
            default_id = crate::variables::devcontainer_id(&[(
                "devcontainer.local_folder",
                &req.repo_root.to_string_lossy(),
            )]);
            &default_id
        }
    };
    let container_folder = project.as_ref().and_then(|p| {
        match req.type_name {
            Some(t) => resolve_type(p, t).ok().map(|r| r.settings),
            None => Some(p.defaults.clone()),
        }
        .and_then(|s| s.workspace_folder)
    });
    let devcontainer = match dc_path {
        Ok(Some(path)) => {
            let ctx = crate::variables::SubstitutionContext {
                local_env: req.env,
                local_workspace_folder: req.local_workspace_folder.unwrap_or(req.repo_root),
                container_workspace_folder: container_folder.as_deref(),
                devcontainer_id,
            };
            match crate::devcontainer::load_devcontainer(&path, &ctx) {
                Ok(d) => {
                    take(Ok(d.warnings));
                    Some(d.value)
                }
                Err(e) => {
                    take(Err(e));
                    None
                }
            }
        }
        Ok(None) => None,
        Err(e) => {
            take(Err(e));
            None
        }
    };
    let resolved = resolve(ResolveInputs {
        repo_root: req.repo_root,
        global,
        project: project.as_ref(),
        devcontainer: devcontainer.as_ref(),
        type_name: req.type_name,
        cli: req.cli,
        env: req.env,
        home: req.home,
    });
    let effective = match resolved {
        Ok(e) => Some(e),
        Err(e) => {
            for d in e.diagnostics {
                if !diags.contains(&d) {
                    diags.push(d);
                }
            }
            None
        }
    };
    match effective {
        Some(value) if !diags.iter().any(Diagnostic::is_error) => {
            crate::diagnostic::sort_diagnostics(&mut diags);
            Ok(Loaded {
                path: value.project_file.clone(),
                value,
                warnings: diags,
            })
        }
        _ => Err(ConfigError::new(diags)),
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
