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

/// Runs the tool inside an environment: `warren exec -T -e K … NAME -- argv`,
/// with the values in the subprocess's environment (never in its argv, which
/// every local user can read in `/proc/*/cmdline`). `warren exec` forwards
/// SIGTERM/SIGINT to the command, runs it in the environment's workspace and
/// passes its exit code through.
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
        ];
        for (k, _) in &inv.env {
            a.push("-e".into());
            a.push(k.clone());
        }
        a.push(self.env.clone());
        a.push("--".into());
        a.extend(inv.argv.iter().cloned());
        a
    }
}

impl Launcher for EnvLauncher {
    fn command(&self, inv: &Invocation, _workdir: Option<&Path>) -> tokio::process::Command {
        let argv = self.argv(inv);
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd.envs(inv.env.iter().map(|(k, v)| (k, v)));
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
    fn env_argv_passes_names_not_values() {
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
            "/bin/warren exec -T -e IS_SANDBOX otter -- claude -p"
        );
    }
}
