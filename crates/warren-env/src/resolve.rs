//! From a `warren run` request to a [`Plan`]: load the configuration (global,
//! `.warren.yaml`, devcontainer.json) through `warren-config`, pick the
//! runtime, and translate everything into the plan `create` executes.
//!
//! Configuration is always read from the main checkout, never from a
//! worktree: an agent can edit its worktree's `.devcontainer/`, and the next
//! environment must not pick that up (it would run the agent's commands on
//! the host as `initializeCommand`).
//!
//! It is read twice for a new environment: once for the project (before
//! the environment has a name), then again once its name and tree exist
//! ([`Warren::plan_for_environment`]), because devcontainer.json's
//! `${localWorkspaceFolder}` is the environment's own tree and
//! `${devcontainerId}` is its own id; every later start reads it the same
//! way ([`Warren::refreshed_spec`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::Digest;
use warren_config::{CliOverrides, Effective, LoadRequest, Loaded, MountKind, RuntimeChoice};
use warren_core::RuntimeKind;
use warren_runtime::{BuildSpec, ImageSource, Mount};

use crate::error::EnvError;
use crate::git::Repo;
use crate::manager::Warren;
use crate::plan::{ContainerPlan, LocalSettings, Plan};
use crate::spec::{EnvSpec, Hooks, Lifecycle, ServiceSpec};
use warren_store::EnvRecord;

/// What `warren run` asks for.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// A directory inside the project's repository.
    pub path: PathBuf,
    pub name: Option<String>,
    pub env_type: Option<String>,
    pub tool: Option<String>,
    pub runtime: Option<RuntimeChoice>,
    /// `-p SVC=PORT`.
    pub publish: Vec<(String, u16)>,
    /// `-e KEY=VALUE`.
    pub env: Vec<(String, String)>,
    /// `--config`: a devcontainer.json.
    pub devcontainer: Option<PathBuf>,
    /// `--network`.
    pub network: Option<warren_core::NetworkMode>,
    /// `warren start ISSUE`: the issue (its `WARREN_ISSUE_ID`, its port).
    pub issue_id: Option<u64>,
}

/// How long `runtime: auto` waits for a Docker engine before choosing the
/// sandbox.
const ENGINE_PROBE: Duration = Duration::from_secs(2);

impl Warren {
    /// Loads the configuration for `req` and resolves it into a plan.
    /// Configuration warnings come back with it; errors of every file come
    /// back together as [`EnvError::Config`].
    pub async fn plan(&self, req: &RunRequest) -> Result<Loaded<Plan>, EnvError> {
        let repo = self.project_of(&req.path)?;
        let cli = cli_overrides(req);
        let loaded = self.load_config(&repo.root, req.env_type.as_deref(), &cli, None)?;
        let proxy_port = self.settings.global.proxy.port;
        let mut eff = loaded.value;
        let runtime = match eff.runtime.kind() {
            Some(k) => k,
            None => self.auto_runtime().await,
        };
        // The stored hash names the runtime chosen, not `auto`: `start` hashes
        // the configuration with the environment's runtime, like with like.
        eff.runtime = runtime.into();
        if runtime != RuntimeKind::Docker && eff.workspace_mount.is_some() {
            self.reporter.info(&format!(
                "`workspaceMount` is not applied by the {runtime} runtime: the environment's tree stays at its own path"
            ));
        }
        self.warn_unapplied(req, &eff, runtime);
        if runtime == RuntimeKind::Sandbox {
            sandbox_host_access(&eff)?;
        }
        let plan = self.plan_from(repo, req, &eff, runtime, proxy_port)?;
        Ok(Loaded {
            value: plan,
            warnings: loaded.warnings,
            path: loaded.path,
        })
    }

    /// Says once (not again when the plan is made for the environment) what
    /// of the configuration `runtime` does not apply.
    fn warn_unapplied(&self, req: &RunRequest, eff: &Effective, runtime: RuntimeKind) {
        if let Some(c) = &eff.compose {
            self.reporter.info(&format!(
                "network: the compose project's own bridge (`{}` reaches its other services by name, and the outside without warren's egress proxy)",
                c.service
            ));
        }
        if runtime != RuntimeKind::Docker
            && let Some(w) = eff.ignored_without_engine_warning(&runtime.to_string())
        {
            self.reporter.warn(&w);
        }
        let network = req.network.unwrap_or(eff.network);
        if runtime == RuntimeKind::Docker
            && eff.run_args.network == Some(warren_config::RunNetwork::Bridge)
            && network.own_namespace()
        {
            self.reporter.warn(&format!(
                "runArgs `--network bridge` is not applied: the environment's network is `{network}` (only loopback, out through warren's egress proxy); set `network: host` in .warren.yaml for the engine's bridge"
            ));
        }
    }

    /// The project `path` belongs to. Inside an environment's tree (a
    /// repository of its own, under the warren root) that is the
    /// environment's project: its configuration is read from the main
    /// checkout, never from a tree the agent writes.
    pub(crate) fn project_of(&self, path: &Path) -> Result<Repo, EnvError> {
        let repo = Repo::discover(path)?;
        let trees = self.root.join("worktrees");
        let trees = std::fs::canonicalize(&trees).unwrap_or(trees);
        if !repo.root.starts_with(&trees) {
            return Ok(repo);
        }
        let owner = self
            .store
            .environments()?
            .into_iter()
            .find(|r| std::fs::canonicalize(&r.worktree).ok().as_ref() == Some(&repo.root));
        match owner {
            Some(rec) => Ok(Repo::at_checkout(&rec.project_path)),
            None => Err(EnvError::Other(format!(
                "`{}` is inside warren's root but belongs to no environment; run warren in the project's own checkout",
                repo.root.display()
            ))),
        }
    }

    /// The plan of `plan` for the environment `rec` (its name reserved,
    /// its tree made): the configuration read again with
    /// `${localWorkspaceFolder}` = the environment's tree and its own
    /// `${devcontainerId}`. What was decided before stays: the image (pulled
    /// or built from the project's configuration, so environments share
    /// it), `initializeCommand` (it runs on the host in the main checkout,
    /// so its `${localWorkspaceFolder}` is the main checkout, never a tree
    /// an agent writes; the tree is `$WARREN_WORKTREE`) and what the caller
    /// set (one-shot, scratch, role).
    pub(crate) fn plan_for_environment(
        &self,
        plan: &Plan,
        rec: &EnvRecord,
    ) -> Result<Plan, EnvError> {
        let target = self.env_target(rec);
        let loaded = self.load_config(
            &plan.repo.root,
            plan.request.env_type.as_deref(),
            &cli_overrides(&plan.request),
            Some(&target),
        )?;
        let mut eff = loaded.value;
        // As in `plan`: the hash names the runtime chosen.
        eff.runtime = plan.runtime.into();
        let mut p = self.plan_from(
            plan.repo.clone(),
            &plan.request,
            &eff,
            plan.runtime,
            plan.proxy_port,
        )?;
        p.image = plan.image.clone();
        p.initialize = plan.initialize.clone();
        p.name = plan.name.clone();
        p.role = plan.role.clone();
        p.issue_id = plan.issue_id.clone();
        p.oneshot = plan.oneshot.clone();
        p.scratch = plan.scratch;
        p.ephemeral = plan.ephemeral;
        Ok(p)
    }

    /// What makes the configuration `rec`'s own (see [`EnvTarget`]).
    pub(crate) fn env_target(&self, rec: &EnvRecord) -> EnvTarget {
        let worktree = rec.worktree.to_string_lossy();
        let root = self.root.to_string_lossy();
        EnvTarget {
            worktree: rec.worktree.clone(),
            // Like the reference's id from its container's identifying labels:
            // these identify the environment, and stay across its restarts.
            devcontainer_id: warren_config::devcontainer_id(&[
                ("warren.root", &root),
                ("warren.project", &rec.project),
                ("warren.name", &rec.name),
                ("warren.worktree", &worktree),
            ]),
        }
    }

    /// Loads the effective configuration of the project at `repo_root`,
    /// for the environment `target` when it exists.
    fn load_config(
        &self,
        repo_root: &Path,
        type_name: Option<&str>,
        cli: &CliOverrides,
        target: Option<&EnvTarget>,
    ) -> Result<Loaded<Effective>, EnvError> {
        let host = self.host.clone();
        let lookup = move |k: &str| host.get_even_empty(k).map(str::to_string);
        let home = self.host.home();
        Ok(warren_config::load_effective(&LoadRequest {
            repo_root,
            global: &self.settings.global,
            type_name,
            cli,
            env: &lookup,
            home: home.as_deref(),
            local_workspace_folder: target.map(|t| t.worktree.as_path()),
            devcontainer_id: target.map(|t| t.devcontainer_id.as_str()),
        })?)
    }

    /// The stored spec of `rec` with what applies without recreating the
    /// container (lifecycle commands, hooks, `remoteEnv`) re-read from the
    /// project's configuration, so a changed `postCreateCommand` runs on the
    /// next start. A configuration that no longer loads keeps the stored
    /// spec (with a warning); a changed container shape is reported.
    ///
    /// Host access it was created with must still be granted: a start after
    /// the user took a grant back fails instead of giving it again.
    pub(crate) fn refreshed_spec(
        &self,
        rec: &EnvRecord,
        mut spec: EnvSpec,
    ) -> Result<EnvSpec, EnvError> {
        let cli = CliOverrides {
            runtime: Some(rec.runtime.into()),
            // The devcontainer.json it was created with (`--config`).
            devcontainer_config: spec.devcontainer_config.clone(),
            ..Default::default()
        };
        let target = self.env_target(rec);
        let given_up: Vec<String> = spec
            .create
            .as_ref()
            .map(|c| c.host.given_up.clone())
            .unwrap_or_default();
        let revoked = |granted: &[String]| -> Result<(), EnvError> {
            let gone: Vec<&String> = given_up.iter().filter(|g| !granted.contains(g)).collect();
            if gone.is_empty() {
                return Ok(());
            }
            Err(EnvError::Other(format!(
                "`{0}` was created with host access that your configuration no longer grants ({1}); it is not started with it: `warren rm {0}` and `warren run` again",
                rec.name,
                gone.iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        };
        let eff = match self.load_config(
            &rec.project_path,
            rec.env_type.as_deref(),
            &cli,
            Some(&target),
        ) {
            Ok(l) => l.value,
            Err(e) => {
                // A configuration that no longer loads grants nothing: say
                // why it does not load (a host-access error names the
                // line to add back).
                if !given_up.is_empty() {
                    match &e {
                        EnvError::Config(c) => {
                            for d in c.errors() {
                                self.reporter.warn(&format!(
                                    "{}: {}{}",
                                    d.location(),
                                    d.message,
                                    d.hint
                                        .as_deref()
                                        .map(|h| format!(" ({h})"))
                                        .unwrap_or_default()
                                ));
                            }
                        }
                        other => self.reporter.warn(&format!(
                            "the configuration of `{}` no longer loads: {other}",
                            rec.name
                        )),
                    }
                }
                revoked(&[])?;
                self.reporter.warn(&format!(
                    "the configuration no longer loads ({e}); starting `{}` with the one it was created with",
                    rec.name
                ));
                return Ok(spec);
            }
        };
        revoked(
            &eff.host_access
                .iter()
                .map(warren_config::HostAccess::short)
                .collect::<Vec<_>>(),
        )?;
        let lc = &eff.lifecycle;
        spec.lifecycle = spec.image_metadata.lifecycle_under(lifecycle(&eff));
        spec.hooks = hooks(&eff);
        spec.initialize = lc.initialize.as_ref().cloned();
        let (file_remote, unset) = remote_env(&eff);
        let remote: Vec<(String, String)> = spec
            .image_metadata
            .remote_env_under(file_remote)
            .into_iter()
            .filter(|(k, _)| !unset.contains(k))
            .collect();
        if remote != spec.remote_env_raw {
            spec.remote_env_raw = remote.clone();
            spec.remote_env = remote;
        }
        spec.remote_env_unset = unset;
        if eff.config_hash() != rec.config_hash {
            self.reporter.warn(&format!(
                "the container settings of `{0}` changed since it was created; they apply to new environments (`warren rm {0}` and `warren run` again to pick them up)",
                rec.name
            ));
        }
        Ok(spec)
    }

    /// `runtime: auto`: docker when an engine answers, else the sandbox.
    async fn auto_runtime(&self) -> RuntimeKind {
        match tokio::time::timeout(ENGINE_PROBE, self.runtime(RuntimeKind::Docker)).await {
            Ok(Ok(_)) => RuntimeKind::Docker,
            _ => {
                self.reporter.info(
                    "no container engine answers; using the sandbox runtime (`runtime: auto`)",
                );
                RuntimeKind::Sandbox
            }
        }
    }

    fn plan_from(
        &self,
        repo: Repo,
        req: &RunRequest,
        eff: &Effective,
        runtime: RuntimeKind,
        proxy_port: u16,
    ) -> Result<Plan, EnvError> {
        let config_hash = eff.config_hash();
        let compose = eff
            .compose
            .as_ref()
            .map(|c| crate::compose::ComposePlan::new(c, eff.shutdown_action, &repo.root));
        if let Some(c) = &compose {
            if runtime != RuntimeKind::Docker {
                return Err(EnvError::Refused {
                    message: format!(
                        "the Compose config (service `{}`) needs the docker runtime, not {runtime}",
                        c.config.service
                    ),
                    hint: "use `--runtime docker` with a Docker engine and a compose CLI, or point `--config` at a devcontainer.json with `image` or `build`".into(),
                });
            }
            if let Some(n) = req.network {
                return Err(EnvError::Refused {
                    message: format!(
                        "`--network {n}` cannot apply to a Compose environment: it is on its compose project's own network"
                    ),
                    hint: "drop `--network`".into(),
                });
            }
        }
        let image = match runtime {
            RuntimeKind::Docker if compose.is_none() => Some(image_source(eff, &config_hash)?),
            _ => None,
        };
        let mut services: Vec<ServiceSpec> = eff
            .services
            .iter()
            .map(|s| ServiceSpec {
                name: s.name.clone(),
                port: s.port,
                label: s.label.clone(),
                host_port: s.host_port,
            })
            .collect();
        let network = req.network.unwrap_or(eff.network);
        if runtime != RuntimeKind::Docker && !network.own_namespace() {
            // Without port mapping, a service listens on the host port itself.
            for s in &mut services {
                s.host_port.get_or_insert(s.port);
            }
        }
        let mut egress_allow = eff.egress_allow.clone();
        let home = self.host.home();
        let mounts = eff
            .mounts
            .iter()
            .map(|m| convert_mount(m, home.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        let ra = &eff.run_args;
        let mut env: Vec<(String, String)> = eff
            .container_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        for (k, v) in ra.env.iter() {
            env.retain(|(e, _)| e != k);
            env.push((k.to_string(), v.clone()));
        }
        let container = ContainerPlan {
            env,
            mounts,
            user: eff.container_user.clone().or_else(|| ra.user.clone()),
            override_command: eff.override_command,
            entrypoints: Vec::new(),
            init: eff.init || ra.init,
            privileged: eff.privileged || ra.privileged,
            cap_add: dedup([eff.cap_add.clone(), ra.cap_add.clone()].concat()),
            cap_drop: dedup(ra.cap_drop.clone()),
            security_opt: dedup([eff.security_opt.clone(), ra.security_opt.clone()].concat()),
            network: ra.network.map(|n| n.as_str().to_string()),
            extra_hosts: ra.add_hosts.clone(),
            resources: eff.resources,
            ulimits: ra.ulimits.clone(),
            hostname: ra.hostname.clone(),
            labels: ra
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
            workdir: ra.workdir.clone(),
            host: warren_runtime::HostAccessSpec {
                gpus: ra.gpus.clone(),
                devices: ra.devices.clone(),
                ipc: ra.ipc.clone(),
                pid: ra.pid.clone(),
                uts: ra.uts.clone(),
                given_up: eff
                    .host_access
                    .iter()
                    .map(warren_config::HostAccess::short)
                    .collect(),
            },
            shared_volumes: eff.shared_volumes.clone(),
            grants: eff.host_access_grants.clone(),
        };
        let (remote_env, remote_env_unset) = remote_env(eff);
        let lc = &eff.lifecycle;
        let lifecycle = lifecycle(eff);
        let hooks = hooks(eff);
        let mut tools = eff.tools.clone();
        if let Some(t) = &eff.tool
            && !tools.contains(t)
        {
            tools.insert(0, t.clone());
        }
        // Each tool reaches its own API without a line in `egress.allow`.
        for t in &tools {
            for h in warren_egress::tool_hosts(t) {
                if !egress_allow.iter().any(|a| a == h) {
                    egress_allow.push(h.to_string());
                }
            }
        }
        let features = match (runtime, &eff.devcontainer_file) {
            (RuntimeKind::Docker, Some(config)) if !eff.features.is_empty() => {
                Some(crate::features::FeaturesPlan {
                    config: config.clone(),
                    requests: eff.features.clone(),
                    order: eff.feature_install_order.clone(),
                })
            }
            _ => None,
        };
        Ok(Plan {
            features,
            repo,
            project: eff.project.clone(),
            name: req.name.clone(),
            env_type: eff.type_name.clone(),
            role: None,
            issue_id: req.issue_id.map(|i| i.to_string()),
            runtime,
            image,
            container,
            workspace_folder: eff.workspace_folder.clone(),
            // Checked to be the environment's tree when the file was read.
            tree_mount: match (runtime, &eff.workspace_mount, &compose) {
                (RuntimeKind::Docker, _, Some(c)) => Some(crate::plan::TreeMount {
                    target: c.tree_target(&eff.workspace_folder),
                    read_only: false,
                }),
                (RuntimeKind::Docker, Some(m), None) => Some(crate::plan::TreeMount {
                    target: m.target.clone(),
                    read_only: m.read_only,
                }),
                _ => None,
            },
            remote_user: eff.remote_user.clone(),
            remote_user_set: eff.remote_user_set,
            override_command_set: eff.override_command_set,
            remote_env,
            remote_env_unset,
            services,
            initialize: lc.initialize.as_ref().cloned(),
            lifecycle,
            hooks,
            tools,
            credentials: eff.credentials.clone(),
            proxy_port,
            config_hash,
            local: LocalSettings {
                network: eff.sandbox.network,
                read_only_paths: eff.sandbox.read_only_paths.clone(),
                read_write_paths: eff.sandbox.read_write_paths.clone(),
                port_range: eff.port_range,
            },
            network,
            egress_allow,
            grants: eff.grants.clone(),
            oneshot: None,
            scratch: false,
            ephemeral: false,
            sessions: eff.sessions.clone(),
            roles: eff.roles.clone(),
            session_name_template: eff.session_name_template.clone(),
            checkpoint_on_idle: eff.checkpoint_on_idle,
            compose,
            request: req.clone(),
        })
    }
}

/// What makes a project's configuration one environment's own.
#[derive(Debug, Clone)]
pub(crate) struct EnvTarget {
    /// `${localWorkspaceFolder}`: the environment's tree.
    pub worktree: PathBuf,
    /// `${devcontainerId}`.
    pub devcontainer_id: String,
}

/// The command line's part of a [`RunRequest`].
fn cli_overrides(req: &RunRequest) -> CliOverrides {
    CliOverrides {
        runtime: req.runtime,
        tool: req.tool.clone(),
        services: req.publish.clone(),
        env: req.env.clone(),
        devcontainer_config: req.devcontainer.clone(),
    }
}

/// `remoteEnv`: the variables to set, and those to unset (`null`).
fn remote_env(eff: &Effective) -> (Vec<(String, String)>, Vec<String>) {
    let mut set = Vec::new();
    let mut unset = Vec::new();
    for (k, v) in eff.remote_env.iter() {
        match v {
            Some(v) => set.push((k.to_string(), v.clone())),
            None => unset.push(k.to_string()),
        }
    }
    (set, unset)
}

/// The in-environment lifecycle commands of the configuration (`initializeCommand`,
/// which runs on the host, is kept apart).
fn lifecycle(eff: &Effective) -> Lifecycle {
    let lc = &eff.lifecycle;
    Lifecycle {
        on_create: lc.on_create.clone(),
        update_content: lc.update_content.clone(),
        post_create: lc.post_create.clone(),
        post_start: lc.post_start.clone(),
        post_attach: lc.post_attach.clone(),
    }
}

fn hooks(eff: &Effective) -> Hooks {
    let runs = |h: &[warren_config::Hook]| h.iter().map(|h| h.run.clone()).collect::<Vec<_>>();
    Hooks {
        pre_start: runs(&eff.hooks.pre_start),
        post_start: runs(&eff.hooks.post_start),
        pre_stop: runs(&eff.hooks.pre_stop),
        post_stop: runs(&eff.hooks.post_stop),
    }
}

/// The image to use, or how to build it. A build gets a stable tag from the
/// project and a hash of the build inputs (Dockerfile text, args, target,
/// cache sources) and of the config hash, so an unchanged config reuses
/// the image it built last time.
fn image_source(eff: &Effective, config_hash: &str) -> Result<ImageSource, EnvError> {
    match &eff.image {
        Some(warren_config::ImageSource::Image { name }) => Ok(ImageSource::Image(name.clone())),
        Some(warren_config::ImageSource::Build {
            context,
            dockerfile,
            args,
            target,
            cache_from,
        }) => {
            let args = args.iter().map(|(k, v)| (k.to_string(), v.clone()));
            let build = StableBuild {
                project: &eff.project,
                config_hash,
                salt: &[],
                what: String::new(),
                tag_prefix: String::new(),
            };
            build
                .spec(
                    context.clone(),
                    dockerfile.clone(),
                    args.collect(),
                    target.clone(),
                    cache_from.clone(),
                )
                .map(ImageSource::Build)
        }
        None => Err(EnvError::Other(
            "no image configured for the docker runtime: set `image:` (or `build:`) in \
             .devcontainer/devcontainer.json or .warren.yaml, or use `--runtime sandbox`"
                .into(),
        )),
    }
}

/// A build tagged by what it builds from, so that an unchanged build reuses
/// the image it made last time: the config hash, `salt`, the Dockerfile's
/// text, the args (in their order), target and cache sources.
pub(crate) struct StableBuild<'a> {
    /// The project: the tag's repository (`warren-PROJECT`).
    pub(crate) project: &'a str,
    pub(crate) config_hash: &'a str,
    /// More of what the build depends on (hashed after the config hash).
    pub(crate) salt: &'a [u8],
    /// Said after the Dockerfile's path when it cannot be read.
    pub(crate) what: String,
    /// Before the hash in the tag.
    pub(crate) tag_prefix: String,
}

impl StableBuild<'_> {
    pub(crate) fn spec(
        &self,
        context: PathBuf,
        dockerfile: PathBuf,
        args: Vec<(String, String)>,
        target: Option<String>,
        cache_from: Vec<String>,
    ) -> Result<BuildSpec, EnvError> {
        let text = std::fs::read(&dockerfile).map_err(|e| {
            EnvError::Io(
                format!(
                    "cannot read the Dockerfile `{}`{}",
                    dockerfile.display(),
                    self.what
                ),
                e,
            )
        })?;
        let mut h = sha2::Sha256::new();
        h.update(self.config_hash.as_bytes());
        h.update(self.salt);
        h.update((text.len() as u64).to_le_bytes());
        h.update(&text);
        for (k, v) in &args {
            h.update(format!("{k}={v}\n").as_bytes());
        }
        h.update(target.as_deref().unwrap_or("").as_bytes());
        for c in &cache_from {
            h.update(c.as_bytes());
        }
        let repo = match warren_core::names::slug(self.project) {
            s if s.is_empty() => "project".to_string(),
            s => s,
        };
        Ok(BuildSpec {
            context,
            dockerfile,
            args: args.into_iter().collect(),
            target,
            cache_from,
            tag: format!(
                "warren-{repo}:{}{}",
                self.tag_prefix,
                warren_core::secret::hex(&h.finalize()[..6])
            ),
            labels: Default::default(),
        })
    }
}

/// The sandbox honours host paths (bind mounts at their own path) and the
/// host's network (`network: host`); it fails closed on every other grant
/// instead of running without it.
fn sandbox_host_access(eff: &Effective) -> Result<(), EnvError> {
    match eff.sandbox_host_access_error() {
        Some(message) => Err(EnvError::Other(message)),
        None => Ok(()),
    }
}

pub(crate) fn convert_mount(
    m: &warren_config::Mount,
    home: Option<&Path>,
) -> Result<Mount, EnvError> {
    let kind = match m.kind {
        MountKind::Bind => warren_runtime::MountKind::Bind,
        MountKind::Volume => warren_runtime::MountKind::Volume,
        MountKind::Tmpfs => warren_runtime::MountKind::Tmpfs,
    };
    let mut source = m.source.clone().unwrap_or_default();
    if let (Some(rest), Some(home)) = (source.strip_prefix("~/"), home) {
        source = home.join(rest).to_string_lossy().into_owned();
    }
    if kind == warren_runtime::MountKind::Bind && !Path::new(&source).exists() {
        return Err(EnvError::Other(format!(
            "mount source `{source}` (for `{}`) does not exist; create it or remove the mount",
            m.target
        )));
    }
    Ok(Mount {
        kind,
        source,
        target: m.target.clone(),
        read_only: m.read_only,
    })
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
}
