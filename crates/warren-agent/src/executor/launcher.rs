//! Where a tool process runs: on the host in a per-session directory, or
//! inside an environment through `warren exec`. Both put the process in its
//! own process group so cancel and timeout signal the whole tree, and both
//! deliver the prompt ([`PromptInput`]) in the form the place allows.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use warren_core::envpipe;

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
    /// Variables for `warren exec --env-fd`, sent once the command runs.
    pub env_pipe: Option<EnvPipe>,
}

/// A pipe whose read end the command inherits (at the same number) and
/// reads variables from; the caller closes `read` after spawning and writes
/// `data` to `write`.
#[derive(Debug)]
pub struct EnvPipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
    pub data: Vec<u8>,
}

impl EnvPipe {
    fn new(data: Vec<u8>) -> std::io::Result<EnvPipe> {
        let mut fds: [RawFd; 2] = [0; 2];
        // SAFETY: pipe2 fills two new descriptors. O_CLOEXEC: no other child
        // started meanwhile inherits them; ours gets the read end by
        // `inherit` below.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned here only.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // The child sets up its stdio on 0-2 before it keeps this one: a
        // read end there (this process started with a closed stdin) would
        // be overwritten.
        let read = if read.as_raw_fd() <= 2 {
            // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor (or -1).
            let fd = unsafe { libc::fcntl(read.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: `fd` is new and owned here only.
            unsafe { OwnedFd::from_raw_fd(fd) }
        } else {
            read
        };
        Ok(EnvPipe { read, write, data })
    }

    /// Lets `cmd`'s process inherit the read end.
    fn inherit(&self, cmd: &mut tokio::process::Command) {
        let fd = self.read.as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and only
        // calls fcntl(2), which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
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
            env_pipe: None,
        })
    }

    fn uses_workdir(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "host".into()
    }
}

/// Runs the tool inside an environment: `warren exec -T [-i] [--env-fd N]
/// NAME -- argv`. The variables (the tool's, and a task's `env`) travel
/// through a pipe at descriptor N: never in argv, which every local user
/// can read in `/proc/*/cmdline`, and never in `warren exec`'s own
/// environment, where a task's `LD_PRELOAD`, `PATH` or `DOCKER_HOST` would
/// steer the host-side process instead of reaching only the command.
/// `warren exec` forwards SIGTERM/SIGINT to the command, runs it in the
/// environment's workspace and passes its exit code through; with `-i` it
/// passes its stdin on (the prompt).
#[derive(Debug, Clone)]
pub struct EnvLauncher {
    pub warren_bin: PathBuf,
    pub env: String,
}

impl EnvLauncher {
    /// The full argv (for tests and `/debug`) and the bytes for its stdin;
    /// `env_fd` is the descriptor number the variables arrive on.
    pub fn argv(&self, inv: &Invocation, env_fd: Option<RawFd>) -> (Vec<String>, Option<Vec<u8>>) {
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
        if let Some(fd) = env_fd {
            a.push("--env-fd".into());
            a.push(fd.to_string());
        }
        a.push(self.env.clone());
        a.push("--".into());
        a.extend(tool_argv);
        (a, stdin)
    }
}

impl Launcher for EnvLauncher {
    fn prepare(&self, inv: &Invocation, _workdir: Option<&Path>) -> std::io::Result<Prepared> {
        let pipe = if inv.env.is_empty() {
            None
        } else {
            Some(EnvPipe::new(envpipe::encode(&inv.env))?)
        };
        let (argv, stdin) = self.argv(inv, pipe.as_ref().map(|p| p.read.as_raw_fd()));
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        if let Some(p) = &pipe {
            p.inherit(&mut cmd);
        }
        configure(&mut cmd, stdin.is_some());
        Ok(Prepared {
            cmd,
            stdin,
            prompt_file: None,
            env_pipe: pipe,
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
    fn env_argv_has_no_values_and_keeps_stdin_for_the_prompt() {
        let l = EnvLauncher {
            warren_bin: "/bin/warren".into(),
            env: "otter".into(),
        };
        let mut inv = Invocation::new(
            vec!["claude".into(), "-p".into()],
            vec![("IS_SANDBOX".into(), "1".into())],
        );
        assert_eq!(
            l.argv(&inv, Some(7)).0.join(" "),
            "/bin/warren exec -T --env-fd 7 otter -- claude -p"
        );
        inv.input = PromptInput::Stdin("hello".into());
        let (argv, stdin) = l.argv(&inv, None);
        assert_eq!(argv.join(" "), "/bin/warren exec -T -i otter -- claude -p");
        assert_eq!(stdin.as_deref(), Some(&b"hello"[..]));
        let inv = Invocation {
            argv: vec!["aider".into(), "--message-file".into(), PROMPT_FILE.into()],
            env: Vec::new(),
            input: PromptInput::File("hi".into()),
        };
        let (argv, stdin) = l.argv(&inv, None);
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

#[cfg(test)]
mod env_pipe_tests {
    use super::*;

    /// The child sees the variables on the descriptor named in its argv,
    /// and not in its own environment.
    #[tokio::test]
    async fn variables_reach_the_child_on_its_descriptor_only() {
        let l = EnvLauncher {
            warren_bin: "/bin/warren".into(),
            env: "e".into(),
        };
        let inv = Invocation::new(
            vec!["tool".into()],
            vec![("SECRET_X".into(), "v1\nline2".into())],
        );
        let mut p = l.prepare(&inv, None).unwrap();
        let fd = p.env_pipe.as_ref().unwrap().read.as_raw_fd();
        let args: Vec<String> = p
            .cmd
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args.join(" "), format!("exec -T --env-fd {fd} e -- tool"));
        // The same pipe handed to a shell that reads it like `warren exec`.
        let script = format!(
            "tr '\\0' '|' <&{fd}; echo; env | grep -c SECRET_X || true; ls /proc/self/fd/{} 2>&1 | grep -c 'No such' || true",
            p.env_pipe.as_ref().unwrap().write.as_raw_fd()
        );
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.args(["-c", &script]);
        if let Some(pipe) = &p.env_pipe {
            pipe.inherit(&mut cmd);
        }
        cmd.stdout(Stdio::piped()).stdin(Stdio::null());
        let child = cmd.spawn().unwrap();
        let pipe = p.env_pipe.take().unwrap();
        drop(pipe.read);
        let mut w = std::fs::File::from(pipe.write);
        w.write_all(&pipe.data).unwrap();
        drop(w);
        let out = child.wait_with_output().await.unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text, "SECRET_X=v1\nline2|\n0\n1\n", "{text}");
        assert!(!p.cmd.as_std().get_envs().any(|(k, _)| k == "SECRET_X"));
    }
}
