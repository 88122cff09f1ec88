//! Where a tool process runs: on the host in a per-session directory, or
//! inside an environment through `warren exec`. Both put the process in its
//! own process group so cancel and timeout signal the whole tree.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::adapters::Invocation;

/// Builds the OS command for an invocation.
pub trait Launcher: Send + Sync + std::fmt::Debug {
    /// The command that runs `inv`; `workdir` is the per-session directory
    /// (ignored where the environment decides).
    fn command(&self, inv: &Invocation, workdir: Option<&Path>) -> tokio::process::Command;
    /// Whether tasks get a per-session directory on the host.
    fn uses_workdir(&self) -> bool;
    /// `host` or `env NAME`, for status and logs.
    fn describe(&self) -> String;
}

fn prepare(cmd: &mut tokio::process::Command) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own group: signals reach the tool's children too.
        .process_group(0);
}

/// Runs the tool directly on the host (no isolation; explicit opt-in).
#[derive(Debug, Clone, Default)]
pub struct HostLauncher;

impl Launcher for HostLauncher {
    fn command(&self, inv: &Invocation, workdir: Option<&Path>) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&inv.argv[0]);
        cmd.args(&inv.argv[1..]);
        cmd.envs(inv.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = workdir {
            cmd.current_dir(dir);
        }
        prepare(&mut cmd);
        cmd
    }

    fn uses_workdir(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "host".into()
    }
}

/// Runs the tool inside an environment: `warren exec -T NAME -- env K=V … argv`.
/// `warren exec` forwards SIGTERM/SIGINT to the command, runs it in the
/// environment's workspace and passes its exit code through.
#[derive(Debug, Clone)]
pub struct EnvLauncher {
    pub warren_bin: PathBuf,
    pub env: String,
}

impl EnvLauncher {
    /// The full argv (for tests and `/debug`).
    pub fn argv(&self, inv: &Invocation) -> Vec<String> {
        let mut a = vec![
            self.warren_bin.display().to_string(),
            "exec".into(),
            "-T".into(),
            self.env.clone(),
            "--".into(),
        ];
        if !inv.env.is_empty() {
            a.push("env".into());
            a.extend(inv.env.iter().map(|(k, v)| format!("{k}={v}")));
        }
        a.extend(inv.argv.iter().cloned());
        a
    }
}

impl Launcher for EnvLauncher {
    fn command(&self, inv: &Invocation, _workdir: Option<&Path>) -> tokio::process::Command {
        let argv = self.argv(inv);
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        prepare(&mut cmd);
        cmd
    }

    fn uses_workdir(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        format!("env {}", self.env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_argv_wraps_with_env() {
        let l = EnvLauncher {
            warren_bin: "/bin/warren".into(),
            env: "otter".into(),
        };
        let inv = Invocation {
            argv: vec!["claude".into(), "-p".into()],
            env: vec![("IS_SANDBOX".into(), "1".into())],
        };
        assert_eq!(
            l.argv(&inv).join(" "),
            "/bin/warren exec -T otter -- env IS_SANDBOX=1 claude -p"
        );
    }
}
