//! Small enums shared by every layer.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How an environment is isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// A Docker (or Podman) container.
    Docker,
    /// warren's native sandbox (namespaces, Landlock, seccomp; seatbelt on macOS).
    Sandbox,
    /// No isolation at all; only when asked for by name.
    Host,
}

impl RuntimeKind {
    pub const ALL: [RuntimeKind; 3] =
        [RuntimeKind::Docker, RuntimeKind::Sandbox, RuntimeKind::Host];

    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Sandbox => "sandbox",
            RuntimeKind::Host => "host",
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown runtime name.
#[derive(Debug, thiserror::Error)]
#[error("unknown runtime `{0}` (expected one of: docker, sandbox, host)")]
pub struct UnknownRuntime(pub String);

impl FromStr for RuntimeKind {
    type Err = UnknownRuntime;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "docker" | "podman" => Ok(RuntimeKind::Docker),
            "sandbox" => Ok(RuntimeKind::Sandbox),
            "host" => Ok(RuntimeKind::Host),
            other => Err(UnknownRuntime(other.to_string())),
        }
    }
}

/// Lifecycle state of an environment as recorded in the store and reconciled
/// with the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvState {
    /// Being created; the name is reserved.
    Creating,
    /// The runtime reports it running.
    Running,
    /// Stopped (container exists but is not running).
    Stopped,
    /// The store knows it but the runtime does not (deleted behind warren's back).
    Gone,
    /// Creation failed part way; cleanup was attempted.
    Failed,
}

impl EnvState {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvState::Creating => "creating",
            EnvState::Running => "running",
            EnvState::Stopped => "stopped",
            EnvState::Gone => "gone",
            EnvState::Failed => "failed",
        }
    }
}

impl fmt::Display for EnvState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown state string (a store written by a newer warren).
#[derive(Debug, thiserror::Error)]
#[error("unknown state `{0}`")]
pub struct UnknownState(pub String);

impl FromStr for EnvState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "creating" => EnvState::Creating,
            "running" => EnvState::Running,
            "stopped" => EnvState::Stopped,
            "gone" => EnvState::Gone,
            "failed" => EnvState::Failed,
            other => return Err(UnknownState(other.to_string())),
        })
    }
}

/// State of an agent's task as stored and shown by the task API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// The tool runs.
    #[default]
    Running,
    Completed,
    /// Ended with an error (including `interrupted`: its server died).
    Failed,
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }

    /// Whether the task has ended.
    pub fn is_final(self) -> bool {
        self != TaskState::Running
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "running" => TaskState::Running,
            "completed" => TaskState::Completed,
            "failed" => TaskState::Failed,
            "cancelled" => TaskState::Cancelled,
            other => return Err(UnknownState(other.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_round_trip() {
        for k in RuntimeKind::ALL {
            assert_eq!(k.as_str().parse::<RuntimeKind>().unwrap(), k);
        }
        assert!("lxc".parse::<RuntimeKind>().is_err());
    }

    #[test]
    fn state_round_trip() {
        for s in [
            EnvState::Creating,
            EnvState::Running,
            EnvState::Stopped,
            EnvState::Gone,
            EnvState::Failed,
        ] {
            assert_eq!(s.as_str().parse::<EnvState>().unwrap(), s);
        }
    }
}
