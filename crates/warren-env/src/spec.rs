//! What warren remembers about an environment between commands: the
//! resolved, runtime-relevant parts of its configuration, stored as JSON in
//! the store's `spec` column. Secrets are never part of it.

use serde::{Deserialize, Serialize};
use warren_core::RuntimeKind;

/// A lifecycle command in one of the devcontainer spec's three forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "lowercase")]
pub enum StepCommand {
    /// A string: run by `/bin/sh -c`.
    Shell { script: String },
    /// An array: executed directly, no shell.
    Exec { argv: Vec<String> },
    /// An object: named commands run in parallel; all must succeed.
    Parallel { entries: Vec<(String, StepCommand)> },
}

impl StepCommand {
    /// The argv to execute for a non-parallel command.
    pub fn argv(&self) -> Option<Vec<String>> {
        match self {
            StepCommand::Shell { script } => {
                Some(vec!["/bin/sh".into(), "-c".into(), script.clone()])
            }
            StepCommand::Exec { argv } => Some(argv.clone()),
            StepCommand::Parallel { .. } => None,
        }
    }

    /// Stable hash of the command text: a changed command runs again.
    pub fn hash(&self) -> String {
        use sha2::Digest;
        let json = serde_json::to_string(self).unwrap_or_default();
        warren_core::secret::hex(&sha2::Sha256::digest(json.as_bytes())[..16])
    }
}

/// The devcontainer lifecycle steps that run inside, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub on_create: Option<StepCommand>,
    pub update_content: Option<StepCommand>,
    pub post_create: Option<StepCommand>,
    pub post_start: Option<StepCommand>,
    pub post_attach: Option<StepCommand>,
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
    pub services: Vec<ServiceSpec>,
    pub lifecycle: Lifecycle,
    pub hooks: Hooks,
    /// The AI tool this environment uses, if any.
    pub tool: Option<String>,
    /// Env var names passed through from the host at exec time (credentials).
    pub passthrough_env: Vec<String>,
    /// Proxy port the `WARREN_URL*` variables point at.
    pub proxy_port: u16,
    /// devcontainer `waitFor` (default `updateContentCommand`).
    pub wait_for: Option<String>,
    /// Runtime-specific data (the sandbox policy), opaque here.
    #[serde(default)]
    pub runtime_data: serde_json::Value,
    /// The commit the environment's branch started at (new commits on top
    /// of it are the agent's work).
    #[serde(default)]
    pub base_commit: Option<String>,
}

impl EnvSpec {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn from_json(s: &str) -> Result<EnvSpec, serde_json::Error> {
        serde_json::from_str(s)
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
    fn hash_changes_with_text_and_form() {
        let a = StepCommand::Shell {
            script: "make".into(),
        };
        let b = StepCommand::Shell {
            script: "make all".into(),
        };
        let c = StepCommand::Exec {
            argv: vec!["make".into()],
        };
        assert_eq!(a.hash(), a.clone().hash());
        assert_ne!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
    }

    #[test]
    fn spec_round_trips() {
        let spec = EnvSpec {
            runtime: RuntimeKind::Docker,
            container_name: "warren-x".into(),
            workspace_folder: "/workspace".into(),
            remote_user: None,
            remote_env: vec![("A".into(), "1".into())],
            remote_env_raw: vec![],
            services: vec![ServiceSpec {
                name: "web".into(),
                port: 3000,
                label: None,
                host_port: None,
            }],
            lifecycle: Lifecycle {
                post_create: Some(StepCommand::Parallel {
                    entries: vec![(
                        "a".into(),
                        StepCommand::Exec {
                            argv: vec!["true".into()],
                        },
                    )],
                }),
                ..Default::default()
            },
            hooks: Hooks::default(),
            tool: Some("claude".into()),
            passthrough_env: vec!["ANTHROPIC_API_KEY".into()],
            proxy_port: 8080,
            wait_for: None,
            runtime_data: serde_json::Value::Null,
            base_commit: Some("0".repeat(40)),
        };
        assert_eq!(EnvSpec::from_json(&spec.to_json()).unwrap(), spec);
    }
}
