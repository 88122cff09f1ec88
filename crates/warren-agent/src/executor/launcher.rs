//! Where a tool process runs: on the host in a per-session directory, or
//! inside an environment through `warren exec`. Both put the process in its
//! own process group so cancel and timeout signal the whole tree, and both
//! deliver the prompt ([`PromptInput`]) in the form the place allows.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::adapters::{Invocation, PROMPT_FILE, PromptInput};

/// A command ready to spawn, and what to feed it once it runs.
#[derive(Debug)]
pub struct Prepared {
    pub cmd: tokio::process::Command,
    /// Written to the command's stdin right after it starts, then stdin is
    /// closed. `None`: stdin is `/dev/null`.
    pub stdin: Option<Vec<u8>>,
    /// The prompt file on the host; removed when this is dropped (after the run).
    pub prompt_file: Option<tempfile::TempPath>,
}

/// Builds the OS command for an invocation.
pub trait Launcher: Send + Sync + std::fmt::Debug {
    /// The command that runs `inv`; `workdir` is the per-session directory
    /// (ignored where the environment decides).
    fn prepare(&self, inv: &Invocation, workdir: Option<&Path>) -> std::io::Result<Prepared>;
    /// Whether tasks get a per-session directory on the host.
    fn uses_workdir(&self) -> bool;
    /// `host` or `env NAME`, for status and logs.
    fn describe(&self) -> String;
}

fn configure(cmd: &mut tokio::process::Command, stdin: bool) {
    // Stdin is a pipe only when there is something to send: codex and
    // opencode wait for an open pipe's end before they start.
    cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own group: signals reach the tool's children too.
        .process_group(0);
}

/// `argv` with the prompt file's marker replaced by `path`.
fn with_prompt_path(argv: &[String], path: &str) -> Vec<String> {
    argv.iter().map(|a| a.replace(PROMPT_FILE, path)).collect()
}

/// Writes `text` to a new private temp file (0600, readable by this user
/// only: the prompt may be confidential).
fn prompt_file(text: &str) -> std::io::Result<tempfile::TempPath> {
    let mut f = tempfile::Builder::new()
        .prefix("warren-prompt-")
        .suffix(".txt")
        .tempfile()?;
    f.write_all(text.as_bytes())?;
    f.flush()?;
    Ok(f.into_temp_path())
}

/// Runs the tool directly on the host (no isolation; explicit opt-in).
#[derive(Debug, Clone, Default)]
pub struct HostLauncher;

impl Launcher for HostLauncher {
    fn prepare(&self, inv: &Invocation, workdir: Option<&Path>) -> std::io::Result<Prepared> {
        let (argv, stdin, file) = match &inv.input {
            PromptInput::None => (inv.argv.clone(), None, None),
            PromptInput::Stdin(text) => (inv.argv.clone(), Some(text.clone().into_bytes()), None),
            PromptInput::File(text) => {
                let file = prompt_file(text)?;
                let argv = with_prompt_path(&inv.argv, &file.display().to_string());
                (argv, None, Some(file))
            }
        };
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd.envs(inv.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = workdir {
            cmd.current_dir(dir);
        }
        configure(&mut cmd, stdin.is_some());
        Ok(Prepared {
            cmd,
            stdin,
            prompt_file: file,
        })
    }

    fn uses_workdir(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "host".into()
    }
}

/// Runs the tool inside an environment: `warren exec -T [-i] -e K … NAME --
/// argv`, with the values in the subprocess's environment (never in its
/// argv, which every local user can read in `/proc/*/cmdline`). `warren
/// exec` forwards SIGTERM/SIGINT to the command, runs it in the
/// environment's workspace and passes its exit code through; with `-i` it
/// passes its stdin on (the prompt).
#[derive(Debug, Clone)]
pub struct EnvLauncher {
    pub warren_bin: PathBuf,
    pub env: String,
}

impl EnvLauncher {
    /// The full argv (for tests and `/debug`) and the bytes for its stdin.
    pub fn argv(&self, inv: &Invocation) -> (Vec<String>, Option<Vec<u8>>) {
        // A file on the host is out of the environment's reach: the prompt
        // file is the command's stdin there (`/dev/stdin` exists in docker
        // containers and sandboxes alike).
        let (tool_argv, stdin) = match &inv.input {
            PromptInput::None => (inv.argv.clone(), None),
            PromptInput::Stdin(text) => (inv.argv.clone(), Some(text.clone().into_bytes())),
            PromptInput::File(text) => (
                with_prompt_path(&inv.argv, "/dev/stdin"),
                Some(text.clone().into_bytes()),
            ),
        };
        let mut a = vec![
            self.warren_bin.display().to_string(),
            "exec".into(),
            "-T".into(),
        ];
        if stdin.is_some() {
            a.push("-i".into());
        }
        for (k, _) in &inv.env {
            a.push("-e".into());
            a.push(k.clone());
        }
        a.push(self.env.clone());
        a.push("--".into());
        a.extend(tool_argv);
        (a, stdin)
    }
}

impl Launcher for EnvLauncher {
    fn prepare(&self, inv: &Invocation, _workdir: Option<&Path>) -> std::io::Result<Prepared> {
        let (argv, stdin) = self.argv(inv);
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd.envs(inv.env.iter().map(|(k, v)| (k, v)));
        configure(&mut cmd, stdin.is_some());
        Ok(Prepared {
            cmd,
            stdin,
            prompt_file: None,
        })
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
    fn env_argv_passes_names_not_values_and_keeps_stdin_for_the_prompt() {
        let l = EnvLauncher {
            warren_bin: "/bin/warren".into(),
            env: "otter".into(),
        };
        let mut inv = Invocation::new(
            vec!["claude".into(), "-p".into()],
            vec![("IS_SANDBOX".into(), "1".into())],
        );
        assert_eq!(
            l.argv(&inv).0.join(" "),
            "/bin/warren exec -T -e IS_SANDBOX otter -- claude -p"
        );
        inv.input = PromptInput::Stdin("hello".into());
        let (argv, stdin) = l.argv(&inv);
        assert_eq!(
            argv.join(" "),
            "/bin/warren exec -T -i -e IS_SANDBOX otter -- claude -p"
        );
        assert_eq!(stdin.as_deref(), Some(&b"hello"[..]));
        let inv = Invocation {
            argv: vec!["aider".into(), "--message-file".into(), PROMPT_FILE.into()],
            env: Vec::new(),
            input: PromptInput::File("hi".into()),
        };
        let (argv, stdin) = l.argv(&inv);
        assert_eq!(
            argv.join(" "),
            "/bin/warren exec -T -i otter -- aider --message-file /dev/stdin"
        );
        assert_eq!(stdin.as_deref(), Some(&b"hi"[..]));
    }

    #[test]
    fn host_prompt_file_is_private_and_removed_after() {
        use std::os::unix::fs::PermissionsExt;
        let inv = Invocation {
            argv: vec!["cat".into(), format!("--file={PROMPT_FILE}")],
            env: Vec::new(),
            input: PromptInput::File("secret prompt".into()),
        };
        let p = HostLauncher.prepare(&inv, None).unwrap();
        let path = p.prompt_file.as_ref().unwrap().to_path_buf();
        let args: Vec<String> = p
            .cmd
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, [format!("--file={}", path.display())]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "secret prompt");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(p.stdin.is_none());
        drop(p);
        assert!(!path.exists(), "removed with the run");
    }
}
