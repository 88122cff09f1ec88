//! Runs one tool process: streams its output line by line into a parser
//! and a sink, enforces the timeout, honours cancel (SIGTERM to the process
//! group, then SIGKILL after the grace period) and keeps partial output.

pub mod launcher;

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::adapters::{ExitInfo, Invocation, OutputParser, Progress};
pub use launcher::{EnvLauncher, HostLauncher, Launcher, Prepared};

/// Seconds between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(10);

/// How long to keep reading pipes that stay open after the tool exited
/// (a background grandchild holding them).
const PIPE_LINGER: Duration = Duration::from_secs(2);

/// Why a run was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Cancelled,
    Timeout,
}

/// What happened to one run (the default: nothing, no process).
#[derive(Debug, Default)]
pub struct RawRun {
    pub exit: ExitInfo,
    pub stdout: String,
    pub stderr: String,
    pub stopped: Option<StopReason>,
    /// Set when the process could not be started at all.
    pub spawn_error: Option<std::io::Error>,
    /// Whether SIGKILL was needed.
    pub killed: bool,
}

impl RawRun {
    /// A run whose process could not be started.
    pub fn not_started(e: std::io::Error) -> RawRun {
        RawRun {
            spawn_error: Some(e),
            ..RawRun::default()
        }
    }
}

/// Receives everything a run prints, as it prints it.
pub trait RunSink: Send {
    fn stdout_line(&mut self, line: &str);
    fn stderr_line(&mut self, line: &str);
    fn progress(&mut self, p: Progress);
    fn session_id(&mut self, id: &str);
}

/// Limits of one run.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    pub timeout: Duration,
    pub kill_grace: Duration,
}

fn signal_group(pgid: Option<u32>, sig: i32) {
    if let Some(pid) = pgid
        && pid > 0
        && pid <= i32::MAX as u32
    {
        // SAFETY: plain kill(2) on our child's process group.
        unsafe {
            libc::kill(-(pid as i32), sig);
        }
    }
}

/// Runs `inv` to completion (or until stopped). `cancel` turning `true`
/// stops it like a timeout does.
pub async fn run(
    launcher: &dyn Launcher,
    inv: &Invocation,
    workdir: Option<&Path>,
    limits: RunLimits,
    parser: &mut dyn OutputParser,
    sink: &mut dyn RunSink,
    cancel: &mut watch::Receiver<bool>,
) -> RawRun {
    // Kept to the end of the run: dropping it removes the prompt file.
    let mut prepared = match launcher.prepare(inv, workdir) {
        Ok(p) => p,
        Err(e) => return RawRun::not_started(e),
    };
    let mut child = match prepared.cmd.spawn() {
        Ok(c) => c,
        Err(e) => return RawRun::not_started(e),
    };
    let pgid = child.id();
    if let Some(pipe) = prepared.env_pipe.take() {
        // The child has its copy of the read end; the variables go in on a
        // blocking thread (a pipe holds 64 KiB until the child reads).
        drop(pipe.read);
        let mut w = std::fs::File::from(pipe.write);
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            match w.write_all(&pipe.data) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => tracing::warn!("cannot send the variables to `warren exec`: {e}"),
            }
        });
    }
    if let (Some(data), Some(mut pipe)) = (prepared.stdin.take(), child.stdin.take()) {
        // All of it at once, then close: claude and gemini give up on stdin
        // if its first byte is late, and wait for its end. A tool may exit
        // without reading it (gemini does when not logged in): a broken pipe
        // is its business, and its exit status tells the story.
        tokio::spawn(async move {
            match pipe.write_all(&data).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => tracing::warn!("cannot write the prompt to the tool's stdin: {e}"),
            }
            drop(pipe);
        });
    }
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        let _ = child.start_kill();
        return RawRun::not_started(std::io::Error::other("no pipes to the tool"));
    };
    let mut out = BufReader::new(out);
    let mut err = BufReader::new(err);
    let (mut obuf, mut ebuf) = (Vec::new(), Vec::new());
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let (mut out_done, mut err_done) = (false, false);
    let mut exit: Option<ExitInfo> = None;
    let mut stopped = None;
    let mut killed = false;
    let deadline = Instant::now() + limits.timeout;
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    let mut kill_at: Option<Instant> = None;
    let mut linger_until: Option<Instant> = None;
    let mut last_session: Option<String> = None;
    let mut cancel_open = true;

    loop {
        if exit.is_some() && out_done && err_done {
            break;
        }
        tokio::select! {
            r = out.read_until(b'\n', &mut obuf), if !out_done => match r {
                Ok(0) | Err(_) => out_done = true,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&obuf).trim_end_matches(['\n', '\r']).to_string();
                    obuf.clear();
                    stdout.push_str(&line);
                    stdout.push('\n');
                    sink.stdout_line(&line);
                    for p in parser.stdout_line(&line) {
                        sink.progress(p);
                    }
                    if let Some(id) = parser.session_id()
                        && last_session.as_deref() != Some(id.as_str()) {
                            sink.session_id(&id);
                            last_session = Some(id);
                        }
                }
            },
            r = err.read_until(b'\n', &mut ebuf), if !err_done => match r {
                Ok(0) | Err(_) => err_done = true,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&ebuf).trim_end_matches(['\n', '\r']).to_string();
                    ebuf.clear();
                    stderr.push_str(&line);
                    stderr.push('\n');
                    sink.stderr_line(&line);
                    for p in parser.stderr_line(&line) {
                        sink.progress(p);
                    }
                }
            },
            status = child.wait(), if exit.is_none() => {
                let info = match status {
                    Ok(s) => {
                        use std::os::unix::process::ExitStatusExt;
                        ExitInfo { code: s.code(), signal: s.signal() }
                    }
                    Err(_) => ExitInfo { code: None, signal: None },
                };
                exit = Some(info);
                linger_until = Some(Instant::now() + PIPE_LINGER);
            },
            _ = sleep_until(deadline), if stopped.is_none() => {
                stopped = Some(StopReason::Timeout);
                signal_group(pgid, libc::SIGTERM);
                kill_at = Some(Instant::now() + limits.kill_grace);
            },
            r = cancel.changed(), if stopped.is_none() && cancel_open => {
                if r.is_err() {
                    cancel_open = false;
                } else if *cancel.borrow() {
                    stopped = Some(StopReason::Cancelled);
                    signal_group(pgid, libc::SIGTERM);
                    kill_at = Some(Instant::now() + limits.kill_grace);
                }
            },
            _ = sleep_until(kill_at.unwrap_or(far)), if kill_at.is_some() => {
                signal_group(pgid, libc::SIGKILL);
                let _ = child.start_kill();
                killed = true;
                kill_at = None;
            },
            _ = sleep_until(linger_until.unwrap_or(far)), if linger_until.is_some() => {
                // The tool exited but something it started holds the pipes.
                signal_group(pgid, libc::SIGKILL);
                out_done = true;
                err_done = true;
            },
        }
    }
    for (buf, text, is_out) in [(&obuf, &mut stdout, true), (&ebuf, &mut stderr, false)] {
        if !buf.is_empty() {
            let line = String::from_utf8_lossy(buf).to_string();
            text.push_str(&line);
            if is_out {
                for p in parser.stdout_line(&line) {
                    sink.progress(p);
                }
            }
        }
    }
    RawRun {
        exit: exit.unwrap_or(ExitInfo {
            code: None,
            signal: None,
        }),
        stdout,
        stderr,
        stopped,
        spawn_error: None,
        killed,
    }
}
