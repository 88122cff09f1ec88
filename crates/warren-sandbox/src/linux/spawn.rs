//! `spawn` for multi-threaded callers (the tokio runtime): re-executes the current
//! binary as `warren __sandbox`, a fresh single-threaded process, rather than forking
//! the runtime (after fork only async-signal-safe calls would be allowed, and the
//! namespace setup allocates, reads files and parses JSON). The policy travels through a
//! pipe (never argv or env, which other host processes can read); setup errors come back
//! through a second pipe; a third, the lifeline, kills the sandbox when the caller dies.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};

use rustix::pipe::{PipeFlags, pipe_with};

use super::{run, sys};
use crate::error::{Layer, SandboxError};
use crate::policy::Policy;

/// The hidden subcommand under which the `warren` binary acts as the helper.
pub const HELPER_SUBCOMMAND: &str = "__sandbox";

/// Standard streams of a sandboxed command (inherited by default).
#[derive(Debug, Default)]
pub struct SandboxStdio {
    /// stdin.
    pub stdin: Option<Stdio>,
    /// stdout.
    pub stdout: Option<Stdio>,
    /// stderr.
    pub stderr: Option<Stdio>,
}

impl SandboxStdio {
    /// All three piped.
    pub fn piped() -> SandboxStdio {
        SandboxStdio {
            stdin: Some(Stdio::piped()),
            stdout: Some(Stdio::piped()),
            stderr: Some(Stdio::piped()),
        }
    }
}

/// A running sandboxed command. Dropping it kills the sandbox (its lifeline closes):
/// nothing outlives the handle that started it.
#[derive(Debug)]
pub struct SandboxChild {
    child: Helper,
    _lifeline: OwnedFd,
    /// The command's stdin, if piped.
    pub stdin: Option<ChildStdin>,
    /// The command's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The command's stderr, if piped.
    pub stderr: Option<ChildStderr>,
}

fn code_of(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// The helper process: re-executed (`spawn`) or forked (`spawn_forked`).
#[derive(Debug)]
enum Helper {
    Exec(Child),
    Forked {
        pid: libc::pid_t,
        exited: Option<i32>,
    },
}

impl SandboxChild {
    /// Host pid of the helper (signals sent to it reach the command).
    pub fn id(&self) -> u32 {
        match &self.child {
            Helper::Exec(c) => c.id(),
            Helper::Forked { pid, .. } => *pid as u32,
        }
    }

    /// Waits for the command; its exit code, or 128 + signal.
    pub fn wait(&mut self) -> std::io::Result<i32> {
        match &mut self.child {
            Helper::Exec(c) => c.wait().map(code_of),
            Helper::Forked { pid, exited } => loop {
                if let Some(code) = exited {
                    return Ok(*code);
                }
                if let Some((_, exit)) = sys::waitpid(*pid, false)? {
                    *exited = Some(exit.code());
                }
            },
        }
    }

    /// The exit code if the command has ended.
    pub fn try_wait(&mut self) -> std::io::Result<Option<i32>> {
        match &mut self.child {
            Helper::Exec(c) => Ok(c.try_wait()?.map(code_of)),
            Helper::Forked { pid, exited } => {
                if exited.is_none()
                    && let Some((_, exit)) = sys::waitpid(*pid, true)?
                {
                    *exited = Some(exit.code());
                }
                Ok(*exited)
            }
        }
    }

    /// Sends `signal` to the command (through the helper and pid 1).
    pub fn signal(&self, signal: i32) -> std::io::Result<()> {
        match &self.child {
            Helper::Forked {
                exited: Some(_), ..
            } => Ok(()),
            _ => sys::kill(self.id() as libc::pid_t, signal),
        }
    }

    /// Kills the whole sandbox (SIGKILL to the helper; pid 1 dies with it, and with pid
    /// 1 every process of the sandbox).
    pub fn kill(&mut self) -> std::io::Result<()> {
        match &mut self.child {
            Helper::Exec(c) => c.kill(),
            Helper::Forked {
                exited: Some(_), ..
            } => Ok(()),
            Helper::Forked { pid, .. } => sys::kill(*pid, libc::SIGKILL),
        }
    }
}

/// Starts `argv` in a sandbox described by `policy`, from any process (multi-threaded
/// included). Blocks only until the sandbox is set up (a few milliseconds); a setup
/// failure is returned here, never as a command that runs with less isolation.
pub fn spawn(
    policy: &Policy,
    argv: &[OsString],
    stdio: SandboxStdio,
) -> Result<SandboxChild, SandboxError> {
    spawn_with_helper(OsStr::new("/proc/self/exe"), policy, argv, stdio)
}

/// [`spawn`] with an explicit helper executable (one whose `main` dispatches
/// `HELPER_SUBCOMMAND` to [`crate::helper_main`]).
pub fn spawn_with_helper(
    helper: &OsStr,
    policy: &Policy,
    argv: &[OsString],
    stdio: SandboxStdio,
) -> Result<SandboxChild, SandboxError> {
    policy.validate()?;
    let herr = |what: &str, e: &dyn std::fmt::Display| SandboxError::sys(Layer::Helper, what, e);
    let json = serde_json::to_vec(policy).map_err(|e| herr("encoding the policy", &e))?;
    let pipe = || pipe_with(PipeFlags::CLOEXEC).map_err(|e| herr("pipe", &e));
    let (policy_r, policy_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let (life_r, life_w) = pipe()?;

    let mut cmd = Command::new(helper);
    cmd.arg0("warren")
        .arg(HELPER_SUBCOMMAND)
        .arg("--policy-fd")
        .arg(policy_r.as_raw_fd().to_string())
        .arg("--status-fd")
        .arg(status_w.as_raw_fd().to_string())
        .arg("--lifeline-fd")
        .arg(life_r.as_raw_fd().to_string())
        .arg("--")
        .args(argv)
        .env_clear();
    if let Some(s) = stdio.stdin {
        cmd.stdin(s);
    }
    if let Some(s) = stdio.stdout {
        cmd.stdout(s);
    }
    if let Some(s) = stdio.stderr {
        cmd.stderr(s);
    }
    sys::inherit_fds(
        &mut cmd,
        vec![
            policy_r.as_raw_fd(),
            status_w.as_raw_fd(),
            life_r.as_raw_fd(),
        ],
    );
    let mut child = cmd
        .spawn()
        .map_err(|e| herr("starting the sandbox helper", &e))?;
    drop((policy_r, status_w, life_r));

    let fail = |child: &mut Child, err: SandboxError| {
        let _ = child.kill();
        let _ = child.wait();
        Err(err)
    };
    let mut policy_w = std::fs::File::from(policy_w);
    if let Err(e) = policy_w.write_all(&json) {
        return fail(&mut child, herr("sending the policy to the helper", &e));
    }
    drop(policy_w);
    let mut buf = Vec::new();
    let _ = std::fs::File::from(status_r).read_to_end(&mut buf);
    if buf != run::STARTED {
        let err = if buf.is_empty() {
            // Not a warren helper (e.g. a test binary whose main does not dispatch
            // `__sandbox`: use `spawn_with_helper`), or it crashed.
            let _ = child.kill();
            let what = format!(
                "`{}` did not answer as a sandbox helper",
                helper.to_string_lossy()
            );
            SandboxError::layer(Layer::Helper, what)
        } else {
            serde_json::from_slice::<SandboxError>(&buf).unwrap_or_else(|_| {
                SandboxError::layer(Layer::Helper, String::from_utf8_lossy(&buf).into_owned())
            })
        };
        let _ = child.wait();
        return Err(err);
    }
    Ok(SandboxChild {
        stdin: child.stdin.take(),
        stdout: child.stdout.take(),
        stderr: child.stderr.take(),
        child: Helper::Exec(child),
        _lifeline: life_w,
    })
}

/// Starts the environment's keeper (`linux/keeper.rs`) for `policy` and returns once
/// it is set up. It runs detached (its own session, no lifeline, standard streams on
/// `/dev/null`) until [`crate::stop_all`] ends it; every later [`spawn`] or
/// [`exec_in_place`] of the environment joins its namespaces.
///
/// `tied`: the keeper (and with it the environment's every process) dies with the
/// calling process, as a `run --rm` environment must: its lifeline's write end is kept
/// open, never closed, until this process exits.
pub fn spawn_keeper(policy: &Policy, tied: bool) -> Result<(), SandboxError> {
    spawn_keeper_with_helper(OsStr::new("/proc/self/exe"), policy, tied)
}

/// [`spawn_keeper`] with an explicit helper executable.
pub fn spawn_keeper_with_helper(
    helper: &OsStr,
    policy: &Policy,
    tied: bool,
) -> Result<(), SandboxError> {
    policy.validate()?;
    let herr = |what: &str, e: &dyn std::fmt::Display| SandboxError::sys(Layer::Helper, what, e);
    let json = serde_json::to_vec(policy).map_err(|e| herr("encoding the policy", &e))?;
    let pipe = || pipe_with(PipeFlags::CLOEXEC).map_err(|e| herr("pipe", &e));
    let (policy_r, policy_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let lifeline = if tied { Some(pipe()?) } else { None };
    let mut cmd = Command::new(helper);
    cmd.arg0("warren").arg(HELPER_SUBCOMMAND);
    let mut inherit = vec![policy_r.as_raw_fd(), status_w.as_raw_fd()];
    if let Some((r, _)) = &lifeline {
        cmd.arg("--lifeline-fd").arg(r.as_raw_fd().to_string());
        inherit.push(r.as_raw_fd());
    }
    cmd.arg("--keeper")
        .arg("--policy-fd")
        .arg(policy_r.as_raw_fd().to_string())
        .arg("--status-fd")
        .arg(status_w.as_raw_fd().to_string())
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    sys::inherit_fds(&mut cmd, inherit);
    let mut child = cmd
        .spawn()
        .map_err(|e| herr("starting the sandbox helper", &e))?;
    drop((policy_r, status_w));
    if let Some((r, w)) = lifeline {
        drop(r);
        // Closed only when this process exits (the kernel closes it then).
        std::mem::forget(w);
    }
    let written = std::fs::File::from(policy_w).write_all(&json);
    let mut buf = Vec::new();
    if written.is_ok() {
        let _ = std::fs::File::from(status_r).read_to_end(&mut buf);
    }
    // The helper forks the keeper's helper and exits at once (so nobody has to reap
    // the keeper's helper but init).
    let _ = child.wait();
    if let Err(e) = written {
        return Err(herr("sending the policy to the helper", &e));
    }
    if buf == run::STARTED {
        return Ok(());
    }
    Err(if buf.is_empty() {
        SandboxError::layer(
            Layer::Helper,
            format!(
                "`{}` did not answer as a sandbox helper",
                helper.to_string_lossy()
            ),
        )
    } else {
        serde_json::from_slice::<SandboxError>(&buf).unwrap_or_else(|_| {
            SandboxError::layer(Layer::Helper, String::from_utf8_lossy(&buf).into_owned())
        })
    })
}

/// [`spawn`] by forking the calling process instead of re-executing the binary
/// (loading it again costs a few milliseconds), for a command that inherits the
/// caller's stdout and stderr (and stdin, or `/dev/null` with `stdin_null`). Only
/// when the caller has a single thread right now, so the child copies no lock
/// another thread holds; otherwise this is [`spawn`].
pub fn spawn_forked(
    policy: &Policy,
    argv: &[OsString],
    stdin_null: bool,
) -> Result<SandboxChild, SandboxError> {
    if !sys::single_threaded() {
        let stdio = SandboxStdio {
            stdin: stdin_null.then(Stdio::null),
            ..SandboxStdio::default()
        };
        return spawn(policy, argv, stdio);
    }
    policy.validate()?;
    let herr = |what: &str, e: &dyn std::fmt::Display| SandboxError::sys(Layer::Helper, what, e);
    let pipe = || pipe_with(PipeFlags::CLOEXEC).map_err(|e| herr("pipe", &e));
    let (status_r, status_w) = pipe()?;
    let (life_r, life_w) = pipe()?;
    let pid = match sys::fork().map_err(|e| herr("fork", &e))? {
        sys::Fork::Child => {
            // The helper, as `helper_main` would be after reading the policy.
            drop((status_r, life_w));
            let mut status = Some(status_w);
            let result = if stdin_null {
                sys::stdin_null().map_err(|e| herr("stdin", &e))
            } else {
                Ok(())
            }
            .and_then(|()| run::run(policy, argv, &mut status, Some(life_r)));
            let code = match result {
                Ok(code) => code,
                Err(err) => {
                    if let Some(fd) = &status {
                        super::init::report(fd, &err);
                    }
                    err.exit_code()
                }
            };
            sys::exit_now(code)
        }
        sys::Fork::Parent(pid) => pid,
    };
    drop((status_w, life_r));
    let mut buf = Vec::new();
    let _ = std::fs::File::from(status_r).read_to_end(&mut buf);
    if buf != run::STARTED {
        let err = serde_json::from_slice::<SandboxError>(&buf).unwrap_or_else(|_| {
            let what = if buf.is_empty() {
                "the sandbox helper ended without answering".to_string()
            } else {
                String::from_utf8_lossy(&buf).into_owned()
            };
            SandboxError::layer(Layer::Helper, what)
        });
        let _ = sys::kill(pid, libc::SIGKILL);
        let _ = sys::waitpid(pid, false);
        return Err(err);
    }
    Ok(SandboxChild {
        child: Helper::Forked { pid, exited: None },
        _lifeline: life_w,
        stdin: None,
        stdout: None,
        stderr: None,
    })
}

/// Runs `argv` in a sandbox from the calling process, which must be single-threaded
/// (the CLI before any runtime starts): no re-exec, so the fast path of `warren exec`.
/// Returns the command's exit code (128 + signal when killed); the caller should exit
/// with it right away (the process now lives in the sandbox's user namespace).
pub fn exec_in_place(policy: &Policy, argv: &[OsString]) -> Result<i32, SandboxError> {
    run::run(policy, argv, &mut None, None)
}

/// Entry point of `warren __sandbox ARGS…` (ARGS excludes the subcommand itself):
/// `--policy-fd N | --policy-file PATH`, optional `--status-fd N` and `--lifeline-fd N`,
/// then `--` and the command. Returns the process exit code.
pub fn helper_main(args: Vec<OsString>) -> i32 {
    let mut status: Option<OwnedFd> = None;
    let result = helper(args, &mut status);
    match result {
        Ok(code) => code,
        Err(err) => {
            if let Some(fd) = &status {
                super::init::report(fd, &err);
            } else {
                // The helper is its own process with no printer: when it
                // has no status pipe to report through, stderr is where the
                // person who started it looks.
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("warren: {err}");
                    if let Some(hint) = warren_core::Hint::hint(&err) {
                        eprintln!("hint: {hint}");
                    }
                }
            }
            err.exit_code()
        }
    }
}

fn helper(args: Vec<OsString>, status: &mut Option<OwnedFd>) -> Result<i32, SandboxError> {
    let usage = |what: String| SandboxError::layer(Layer::Helper, what);
    let mut policy_json: Option<Vec<u8>> = None;
    let mut lifeline = None;
    let mut keeper = false;
    let mut it = args.into_iter();
    let fd_arg = |v: Option<OsString>, name: &str| -> Result<OwnedFd, SandboxError> {
        let n: i32 = v
            .and_then(|v| v.to_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| usage(format!("{name} needs a descriptor number")))?;
        sys::take_inherited_fd(n)
            .map_err(|e| SandboxError::sys(Layer::Helper, format!("{name} {n}"), e))
    };
    // The status fd first, so that later argument errors are reported through it.
    let mut rest = Vec::new();
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("--status-fd") => *status = Some(fd_arg(it.next(), "--status-fd")?),
            Some("--lifeline-fd") => lifeline = Some(fd_arg(it.next(), "--lifeline-fd")?),
            Some("--keeper") => keeper = true,
            Some("--policy-fd") => {
                let fd = fd_arg(it.next(), "--policy-fd")?;
                let mut buf = Vec::new();
                std::fs::File::from(fd)
                    .read_to_end(&mut buf)
                    .map_err(|e| SandboxError::sys(Layer::Helper, "reading the policy", e))?;
                policy_json = Some(buf);
            }
            Some("--policy-file") => {
                let path = it
                    .next()
                    .ok_or_else(|| usage("--policy-file needs a path".into()))?;
                policy_json = Some(std::fs::read(&path).map_err(|e| {
                    SandboxError::sys(
                        Layer::Helper,
                        format!("reading `{}`", path.to_string_lossy()),
                        e,
                    )
                })?);
            }
            Some("--") => {
                rest.extend(it.by_ref());
                break;
            }
            _ => {
                return Err(usage(format!(
                    "unexpected argument `{}`",
                    arg.to_string_lossy()
                )));
            }
        }
    }
    let json = policy_json
        .ok_or_else(|| usage("no policy given (--policy-fd or --policy-file)".into()))?;
    let policy: Policy = serde_json::from_slice(&json)
        .map_err(|e| SandboxError::sys(Layer::Policy, "parsing the policy", e))?;
    if keeper {
        // Detach: the process that started this one reaps it now; the keeper's helper
        // lives on in a session of its own until the keeper ends.
        return match sys::fork().map_err(|e| SandboxError::sys(Layer::Helper, "fork", e))? {
            sys::Fork::Parent(_) => {
                *status = None;
                Ok(0)
            }
            sys::Fork::Child => {
                let _ = rustix::process::setsid();
                run::run_keeper(&policy, status, lifeline)
            }
        };
    }
    run::run(&policy, &rest, status, lifeline)
}
