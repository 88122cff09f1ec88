//! The environment's keeper: like a container, a sandbox environment is one set of
//! namespaces for its whole life. `spawn_keeper` starts a sandbox whose pid 1 runs no
//! command and only reaps (it holds the user, mount, pid, ipc, uts, cgroup and network
//! namespaces); every later command of the environment joins all of them, so a dev
//! server started by `postStartCommand` or `exec … &` is reparented to that pid 1 and
//! lives until `stop` kills it (and with it the whole pid namespace).
//!
//! A joining command is forked by its helper after the helper entered the keeper's
//! namespaces; it sets up its own Landlock rules, drops every capability, sets
//! `no_new_privs` and installs the seccomp filter before it runs, exactly as a command
//! run by a sandbox's own pid 1 does. It is not the namespace's pid 1, so ending it
//! (its caller gone, a signal) ends only it — like `docker exec`.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::fs::{Mode, OFlags, open};
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::{Signal, set_parent_process_death_signal};
use rustix::thread::LinkNameSpaceType;

use super::init::{command, enter_cwd, report};
use super::plan::Plan;
use super::sys::{self, Fork, SigSet};
use super::{caps, landlock, namespaces, pty, seccomp};
use crate::error::{Layer, SandboxError};
use crate::policy::Policy;
use crate::registry;

/// The namespaces of a running keeper, opened (so they stay valid even if it ends).
pub(crate) struct Keeper {
    ns: Vec<(Layer, LinkNameSpaceType, OwnedFd)>,
}

/// The running keeper of the environment (`state_dir`) with this view, if any.
pub(crate) fn find(state_dir: &Path, view: &str) -> Option<Keeper> {
    registry::list(state_dir)
        .into_iter()
        .filter(|i| i.keeper && i.view.as_deref() == Some(view))
        .find_map(|inst| {
            // The user namespace first: every other one is owned by it.
            let kinds = [
                (Layer::UserNamespace, "user", LinkNameSpaceType::User),
                (Layer::MountNamespace, "mnt", LinkNameSpaceType::Mount),
                (
                    Layer::IpcNamespace,
                    "ipc",
                    LinkNameSpaceType::InterProcessCommunication,
                ),
                (
                    Layer::UtsNamespace,
                    "uts",
                    LinkNameSpaceType::HostNameAndNISDomainName,
                ),
                (Layer::NetNamespace, "net", LinkNameSpaceType::Network),
                (
                    Layer::CgroupNamespace,
                    "cgroup",
                    LinkNameSpaceType::ControlGroup,
                ),
                (Layer::PidNamespace, "pid", LinkNameSpaceType::ProcessID),
            ];
            let mut ns = Vec::with_capacity(kinds.len());
            let open_ns =
                |path: String| open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty());
            for (layer, name, kind) in kinds {
                let fd = open_ns(format!("/proc/{}/ns/{name}", inst.pid)).ok()?;
                // One the keeper shares with us (the host's network, for
                // `network: host`) is not entered: it is where we are already, and
                // from inside the sandbox's user namespace we could not enter it.
                let same = open_ns(format!("/proc/self/ns/{name}"))
                    .and_then(|own| Ok((rustix::fs::fstat(&own)?, rustix::fs::fstat(&fd)?)))
                    .is_ok_and(|(a, b)| a.st_ino == b.st_ino && a.st_dev == b.st_dev);
                if !same {
                    ns.push((layer, kind, fd));
                }
            }
            // Opened before the start time is checked again: a pid reused meanwhile is
            // never mistaken for the keeper.
            (registry::start_time(inst.pid) == Some(inst.start_time)).then_some(Keeper { ns })
        })
}

/// Runs `argv` inside the keeper's namespaces; returns its exit status.
pub(crate) fn run_in(
    policy: &Policy,
    plan: &Plan,
    argv: &[OsString],
    status: &mut Option<OwnedFd>,
    lifeline: Option<OwnedFd>,
    keeper: Keeper,
) -> Result<i32, SandboxError> {
    let mask = sys::block(&SigSet::waited())
        .map_err(|e| SandboxError::sys(Layer::Process, "sigprocmask", e))?;
    let result = run_blocked(policy, plan, argv, status, lifeline, keeper, mask);
    let _ = sys::set_mask(&mask);
    result
}

fn run_blocked(
    policy: &Policy,
    plan: &Plan,
    argv: &[OsString],
    status: &mut Option<OwnedFd>,
    lifeline: Option<OwnedFd>,
    keeper: Keeper,
    mask: SigSet,
) -> Result<i32, SandboxError> {
    for (layer, kind, fd) in &keeper.ns {
        namespaces::join(*layer, fd, *kind)?;
    }
    drop(keeper);
    // From the keeper's `/dev/ptmx` (this process is in its mount namespace now).
    let master = if policy.tty {
        Some(pty::open_master()?)
    } else {
        None
    };
    let (setup_r, setup_w) =
        pipe_with(PipeFlags::CLOEXEC).map_err(|e| SandboxError::sys(Layer::Process, "pipe", e))?;
    let child = match sys::fork().map_err(|e| SandboxError::sys(Layer::Process, "fork", e))? {
        Fork::Child => {
            drop(setup_r);
            let code = match exec_command(policy, plan, argv, &setup_w, &mask, master.as_ref()) {
                Ok(never) => match never {},
                Err(e) => {
                    report(&setup_w, &e);
                    e.exit_code()
                }
            };
            sys::exit_now(code)
        }
        Fork::Parent(pid) => pid,
    };
    drop(setup_w);
    let mut buf = Vec::new();
    let _ = std::fs::File::from(setup_r).read_to_end(&mut buf);
    if !buf.is_empty() {
        let err = serde_json::from_slice::<SandboxError>(&buf).unwrap_or_else(|_| {
            SandboxError::layer(Layer::Process, String::from_utf8_lossy(&buf).into_owned())
        });
        let _ = sys::waitpid(child, false);
        return Err(err);
    }
    if let Some(fd) = status.take() {
        let _ = rustix::io::write(&fd, super::run::STARTED);
    }
    Ok(supervise(child, lifeline, master.map(pty::Relay::new)))
}

/// The joining command's own setup, then exec. Errors go back through `setup`.
fn exec_command(
    policy: &Policy,
    plan: &Plan,
    argv: &[OsString],
    setup: &OwnedFd,
    mask: &SigSet,
    master: Option<&OwnedFd>,
) -> Result<std::convert::Infallible, SandboxError> {
    set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| SandboxError::sys(Layer::DeathSignal, "prctl(PR_SET_PDEATHSIG)", e))?;
    // In the keeper's pid namespace the helper is outside: its pid reads as 0 here, so
    // a death before the signal was armed shows as a parent that is no longer ours.
    if rustix::process::getppid().is_some() {
        return Err(SandboxError::layer(
            Layer::DeathSignal,
            "the helper ended before the command started",
        ));
    }
    // Its own terminal, while the master is still open here (closed just below).
    if let Some(master) = master {
        pty::attach(master)?;
    }
    // No host descriptor may reach the command.
    sys::close_fds_from(3, &[setup.as_raw_fd()])
        .map_err(|e| SandboxError::sys(Layer::Process, "closing inherited descriptors", e))?;
    enter_cwd(policy)?;
    landlock::restrict(plan, policy.network, true)?;
    caps::drop_all()?;
    caps::no_new_privs()?;
    seccomp::install()?;
    let (program, argv, envp) = command(policy, argv)?;
    // A session of its own (with a terminal, `pty::attach` made it already).
    if master.is_none() {
        rustix::process::setsid().map_err(|e| SandboxError::sys(Layer::Process, "setsid", e))?;
    }
    sys::reset_signal_dispositions();
    let _ = sys::set_mask(mask);
    let e = sys::execve(&program, &argv, &envp);
    let code = if e.raw_os_error() == Some(libc::ENOENT) {
        127
    } else {
        126
    };
    Err(SandboxError::Exec {
        program: argv
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default(),
        reason: e.to_string(),
        code,
    })
}

/// Waits for the command, forwarding signals to it; kills it if the lifeline breaks.
/// With a terminal (`relay`), copies between it and the user's, follows the window
/// size, and returns as soon as the command has exited.
fn supervise(child: libc::pid_t, lifeline: Option<OwnedFd>, mut relay: Option<pty::Relay>) -> i32 {
    let Ok(sigfd) = sys::signalfd(&SigSet::waited()) else {
        return super::run::wait_for(child);
    };
    let mut lifeline = lifeline;
    loop {
        if let Ok(Some((_, exit))) = sys::waitpid(child, true) {
            if let Some(r) = &mut relay {
                r.finish();
            }
            return exit.code();
        }
        let mut fds = vec![PollFd::new(&sigfd, PollFlags::IN)];
        if let Some(l) = &lifeline {
            fds.push(PollFd::new(l, PollFlags::IN));
        }
        let first_relay = fds.len();
        if let Some(r) = &relay {
            r.poll_fds(&mut fds);
        }
        if poll(&mut fds, None).is_err() {
            continue;
        }
        let sig_ready = !fds[0].revents().is_empty();
        let parent_gone = lifeline.is_some() && !fds[1].revents().is_empty();
        let relay_ready: Vec<PollFlags> = fds[first_relay..].iter().map(|f| f.revents()).collect();
        drop(fds);
        if let Some(r) = &mut relay {
            r.on_ready(&relay_ready);
        }
        if parent_gone {
            // The command and its process group (it leads a session of its own); what
            // it detached from that (`setsid … &`) lives on, as in a container, until
            // the environment stops.
            let _ = sys::kill(-child, libc::SIGKILL);
            let _ = sys::kill(child, libc::SIGKILL);
            lifeline = None;
        }
        if sig_ready
            && let Ok(Some(sig)) = sys::read_signal(sigfd.as_fd())
            && sig != libc::SIGCHLD
        {
            match &relay {
                // The pty signals its foreground process group itself.
                Some(r) if sig == libc::SIGWINCH => r.resize(),
                _ => {
                    let _ = sys::kill(child, sig);
                }
            }
        }
    }
}
