//! What warren remembers about an environment between commands: the
//! resolved, runtime-relevant parts of its configuration, stored as JSON in
//! the store's `spec` column. Secrets are never part of it.

use serde::{Deserialize, Serialize};
pub use warren_config::LifecycleCommand;
use warren_core::RuntimeKind;

/// The devcontainer lifecycle steps that run inside, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub on_create: Option<LifecycleCommand>,
    pub update_content: Option<LifecycleCommand>,
    pub post_create: Option<LifecycleCommand>,
    pub post_start: Option<LifecycleCommand>,
    pub post_attach: Option<LifecycleCommand>,
}

/// `.warren.yaml` hooks (shell commands).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hooks {
    /// On the host, before the environment is created/started.
    pub pre_start: Vec<String>,
    /// Inside, after the lifecycle commands.
    pub post_start: Vec<String>,
    /// Inside, before stopping.
    pub pre_stop: Vec<String>,
    /// On the host, after stopping.
    pub post_stop: Vec<String>,
}

/// A service an environment exposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub name: String,
    /// Port the service listens on inside the environment.
    pub port: u16,
    pub label: Option<String>,
    /// Fixed host port, when configured (`"8080:3000"`) or allocated (sandbox).
    pub host_port: Option<u16>,
}

/// Everything about an environment needed after it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSpec {
    pub runtime: RuntimeKind,
    /// Name of the container (docker) on the engine.
    pub container_name: String,
    /// Where the worktree is inside the environment.
    pub workspace_folder: String,
    /// User for exec and lifecycle commands (`remoteUser`).
    pub remote_user: Option<String>,
    /// `remoteEnv`, with `${containerEnv:…}` resolved once the container ran.
    pub remote_env: Vec<(String, String)>,
    /// `remoteEnv` as configured (unresolved), to resolve again on start.
    pub remote_env_raw: Vec<(String, String)>,
    /// `remoteEnv` variables set to `null`: unset in every process warren
    /// starts inside (see [`EnvSpec::command`]).
    #[serde(default)]
    pub remote_env_unset: Vec<String>,
    /// `--config`: the devcontainer.json it was created with, read again on
    /// every start.
    #[serde(default)]
    pub devcontainer_config: Option<std::path::PathBuf>,
    pub services: Vec<ServiceSpec>,
    pub lifecycle: Lifecycle,
    pub hooks: Hooks,
    /// The AI tool this environment uses, if any.
    pub tool: Option<String>,
    /// Env var names passed through from the host at exec time (credentials).
    pub passthrough_env: Vec<String>,
    /// How it reaches the network. Specs stored before network modes existed had the
    /// host's (sandbox) or the engine's bridge (docker): `host` for both.
    #[serde(default = "host_network")]
    pub network: warren_core::NetworkMode,
    /// Proxy port the `WARREN_URL*` variables point at.
    pub proxy_port: u16,
    /// Its sessions in tmux (docs/sessions.md).
    #[serde(default)]
    pub sessions: Vec<crate::sessions::SessionSpec>,
    /// The commit the environment's branch started at (new commits on top
    /// of it are the agent's work).
    #[serde(default)]
    pub base_commit: Option<String>,
    /// `checkpoint: on_idle`: the watcher records a checkpoint at each `idle`.
    #[serde(default)]
    pub checkpoint_on_idle: bool,
    /// What the container was created from, to create it again when it is
    /// gone (credential values left out).
    #[serde(default)]
    pub create: Option<warren_runtime::CreateSpec>,
    /// It works on the project's main checkout (read-only inside), not on a
    /// repository of its own: nothing warren does to an environment's tree or
    /// branch (`rm`, bringing commits back) applies to it.
    #[serde(default)]
    pub main_checkout: bool,
    /// What the image's `devcontainer.metadata` label contributed (merged
    /// again under the configuration a start re-reads).
    #[serde(default)]
    pub image_metadata: crate::metadata::ImageContribution,
    /// `initializeCommand`: on the host, in the main checkout, before every
    /// start (re-read from the main checkout's configuration, never from the
    /// environment's tree).
    #[serde(default)]
    pub initialize: Option<LifecycleCommand>,
}

fn host_network() -> warren_core::NetworkMode {
    warren_core::NetworkMode::Host
}

impl EnvSpec {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn from_json(s: &str) -> Result<EnvSpec, serde_json::Error> {
        serde_json::from_str(s)
    }

    /// What goes before every command run inside: `env -u VAR… --` when
    /// `remoteEnv` unsets variables (an exec can add variables to the
    /// container's, not remove them), else nothing.
    pub fn command_prefix(&self) -> Vec<String> {
        if self.remote_env_unset.is_empty() {
            return Vec::new();
        }
        let mut cmd = vec!["env".to_string()];
        for k in &self.remote_env_unset {
            cmd.push("-u".into());
            cmd.push(k.clone());
        }
        cmd.push("--".into());
        cmd
    }

    /// The default service: the first declared.
    pub fn default_service(&self) -> Option<&ServiceSpec> {
        self.services.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips() {
        let spec = EnvSpec {
            runtime: RuntimeKind::Docker,
            container_name: "warren-x".into(),
            workspace_folder: "/workspace".into(),
            remote_user: None,
            remote_env: vec![("A".into(), "1".into())],
            remote_env_raw: vec![],
            remote_env_unset: vec!["X".into()],
            devcontainer_config: Some(".devcontainer/alt/devcontainer.json".into()),
            services: vec![ServiceSpec {
                name: "web".into(),
                port: 3000,
                label: None,
                host_port: None,
            }],
            lifecycle: Lifecycle {
                post_create: Some(LifecycleCommand::Parallel(vec![(
                    "a".into(),
                    LifecycleCommand::Exec(vec!["true".into()]),
                )])),
                ..Default::default()
            },
            hooks: Hooks::default(),
            tool: Some("claude".into()),
            passthrough_env: vec!["ANTHROPIC_API_KEY".into()],
            network: warren_core::NetworkMode::Isolated,
            proxy_port: 8080,
            sessions: Vec::new(),
            base_commit: Some("0".repeat(40)),
            checkpoint_on_idle: true,
            create: None,
            main_checkout: true,
            image_metadata: Default::default(),
            initialize: Some(LifecycleCommand::Shell("./init.sh".into())),
        };
        assert_eq!(EnvSpec::from_json(&spec.to_json()).unwrap(), spec);
        // Specs stored before main-checkout environments existed still parse.
        let mut old: serde_json::Value = serde_json::from_str(&spec.to_json()).unwrap();
        old.as_object_mut().unwrap().remove("main_checkout");
        let parsed = EnvSpec::from_json(&old.to_string()).unwrap();
        assert!(!parsed.main_checkout);
        assert_eq!(spec.command_prefix(), ["env", "-u", "X", "--"]);
    }
}
