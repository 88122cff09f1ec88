//! `SandboxError`: which isolation layer failed and why.
//!
//! Errors cross process boundaries (pid 1 of the sandbox → helper → the caller of
//! [`crate::spawn`]), so every field is plain data and the type is serde-serialisable.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One isolation layer (or setup step) of the sandbox, named in errors and by `probe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The policy itself (paths, names) before anything is set up.
    Policy,
    /// Starting the `warren __sandbox` helper process.
    Helper,
    /// A new user namespace and its uid/gid maps.
    UserNamespace,
    /// A new mount namespace.
    MountNamespace,
    /// A new pid namespace (the sandbox's own pid 1).
    PidNamespace,
    /// A new IPC namespace.
    IpcNamespace,
    /// A new UTS namespace (hostname).
    UtsNamespace,
    /// A new network namespace (`network: none`).
    NetNamespace,
    /// A new cgroup namespace.
    CgroupNamespace,
    /// The environment's cgroup: its memory, CPU and pids limits.
    Cgroup,
    /// The filesystem view: binds, `/proc`, `/dev`, `pivot_root`.
    Mounts,
    /// The worktree's overlay (the host worktree as its upper layer), which shows the
    /// always-read-only paths that do not exist on the host without creating them there.
    Overlay,
    /// Landlock filesystem, network and scope rules.
    Landlock,
    /// The seccomp filter.
    Seccomp,
    /// Dropping every capability.
    Capabilities,
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs,
    /// Dying with the parent (`PR_SET_PDEATHSIG`, the lifeline pipe).
    DeathSignal,
    /// The process tree: fork, signals, the new session.
    Process,
    /// Per-environment state: private dirs, the overlay's skeleton and work dirs, the
    /// instance registry.
    State,
}

impl Layer {
    /// Stable snake_case name, as used in JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Policy => "policy",
            Layer::Helper => "helper",
            Layer::UserNamespace => "user_namespace",
            Layer::MountNamespace => "mount_namespace",
            Layer::PidNamespace => "pid_namespace",
            Layer::IpcNamespace => "ipc_namespace",
            Layer::UtsNamespace => "uts_namespace",
            Layer::NetNamespace => "net_namespace",
            Layer::CgroupNamespace => "cgroup_namespace",
            Layer::Cgroup => "cgroup",
            Layer::Mounts => "mounts",
            Layer::Overlay => "overlay",
            Layer::Landlock => "landlock",
            Layer::Seccomp => "seccomp",
            Layer::Capabilities => "capabilities",
            Layer::NoNewPrivs => "no_new_privs",
            Layer::DeathSignal => "death_signal",
            Layer::Process => "process",
            Layer::State => "state",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the sandbox could not run a command.
///
/// `Display` starts with `sandbox_error:` for every variant that means "isolation
/// could not be set up" (the agent API maps those to `sandbox_error`); a command that
/// cannot be executed inside a working sandbox is [`SandboxError::Exec`] instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SandboxError {
    /// A layer could not be set up; the command did not run.
    #[error("sandbox_error: {layer}: {reason}")]
    Layer {
        /// The layer that failed.
        layer: Layer,
        /// What failed, with the system's error text.
        reason: String,
        /// What the user can do about it, when known.
        hint: Option<String>,
    },
    /// The sandbox was set up but the command could not be executed
    /// (not found: exit code 127; not executable: 126).
    #[error("cannot run `{program}` in the sandbox: {reason}")]
    Exec {
        /// The program as given (argv[0]).
        program: String,
        /// Why execve failed.
        reason: String,
        /// The conventional shell exit code for this failure (126 or 127).
        code: i32,
    },
    /// The native sandbox does not exist on this platform.
    #[error("sandbox_error: the native sandbox is not available on this platform ({0})")]
    Unsupported(String),
}

impl SandboxError {
    /// A failed layer with a reason.
    pub fn layer(layer: Layer, reason: impl Into<String>) -> Self {
        SandboxError::Layer {
            layer,
            reason: reason.into(),
            hint: None,
        }
    }

    /// A failed layer whose reason is a system error, prefixed by what was attempted.
    pub fn sys(layer: Layer, what: impl fmt::Display, err: impl fmt::Display) -> Self {
        SandboxError::layer(layer, format!("{what}: {err}"))
    }

    /// Adds a hint (what the user can do) to a `Layer` error.
    pub fn with_hint(self, new_hint: impl Into<String>) -> Self {
        match self {
            SandboxError::Layer { layer, reason, .. } => SandboxError::Layer {
                layer,
                reason,
                hint: Some(new_hint.into()),
            },
            other => other,
        }
    }

    /// The layer that failed, if this is a setup failure.
    pub fn failed_layer(&self) -> Option<Layer> {
        match self {
            SandboxError::Layer { layer, .. } => Some(*layer),
            _ => None,
        }
    }

    /// True when isolation could not be set up (maps to the API's `sandbox_error`).
    pub fn is_sandbox_error(&self) -> bool {
        !matches!(self, SandboxError::Exec { .. })
    }

    /// The exit code a CLI should use when it reports this error and exits:
    /// 126/127 for exec failures (as shells do), 125 for setup failures (as `docker run`).
    pub fn exit_code(&self) -> i32 {
        match self {
            SandboxError::Exec { code, .. } => *code,
            _ => 125,
        }
    }
}

impl warren_core::Hint for SandboxError {
    fn hint(&self) -> Option<String> {
        match self {
            SandboxError::Layer { hint, .. } => hint.clone(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_layer() {
        let err = SandboxError::layer(Layer::Landlock, "kernel without Landlock");
        assert_eq!(
            err.to_string(),
            "sandbox_error: landlock: kernel without Landlock"
        );
        assert!(err.is_sandbox_error());
        assert_eq!(err.exit_code(), 125);
    }

    #[test]
    fn round_trips_through_json() {
        let err = SandboxError::layer(Layer::UserNamespace, "EPERM").with_hint("enable userns");
        let json = serde_json::to_string(&err).unwrap();
        let back: SandboxError = serde_json::from_str(&json).unwrap();
        assert_eq!(back, err);
        assert_eq!(
            warren_core::Hint::hint(&back).as_deref(),
            Some("enable userns")
        );
    }
}
