//! The sandbox's pid 1: sets up every layer inside the new namespaces, forks the
//! command, forwards signals to it and reaps orphans. When the command exits, pid 1
//! exits with its status and the kernel kills whatever else is left in the namespace.
//! pid 1 dies with its parent (PR_SET_PDEATHSIG), so the whole tree dies with it.

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::process::{
    DumpableBehavior, Signal, set_dumpable_behavior, set_parent_process_death_signal,
};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use super::plan::Plan;
use super::sys::{self, Fork, SigSet};
use super::{caps, landlock, mounts, namespaces, seccomp};
use crate::error::{Layer, SandboxError};
use crate::policy::Policy;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What pid 1 needs, prepared by the helper before it forked.
pub(crate) struct Setup<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) plan: &'a Plan,
    pub(crate) argv: &'a [OsString],
    /// The signal mask to give back to the command.
    pub(crate) mask: SigSet,
    /// The mount namespace of a running sandbox of the environment to copy instead of
    /// building a root (`linux/join.rs`).
    pub(crate) join: Option<&'a OwnedFd>,
    /// The environment's keeper (`linux/keeper.rs`): no command, only reaping, until
    /// it is told to end.
    pub(crate) keeper: bool,
    /// Where to send the master of the command's terminal ([`Policy::tty`]).
    pub(crate) pty: Option<&'a OwnedFd>,
}

/// Writes an error for the helper to read (best effort: it is the only channel).
pub(crate) fn report(fd: &OwnedFd, err: &SandboxError) {
    if let Ok(json) = serde_json::to_vec(err) {
        let _ = rustix::io::write(fd, &json);
    }
}

fn forced(policy: &Policy, layer: Layer) -> Result<(), SandboxError> {
    if policy.fail_layer == Some(layer) {
        return Err(SandboxError::layer(
            layer,
            "failure forced by the policy's test hook",
        ));
    }
    Ok(())
}

/// Runs as pid 1; never returns. Writes the command's status on `done` before it
/// exits, so the helper need not wait for the namespaces to be torn down.
pub(crate) fn pid1(setup: &Setup<'_>, status: OwnedFd, alive: OwnedFd, done: OwnedFd) -> ! {
    let code = match prepare(setup, &status, alive, &done) {
        Ok((child, sigfd)) => {
            drop(status);
            let code = match child {
                Some(child) => supervise(child, &sigfd),
                None => keep(&sigfd),
            };
            let _ = rustix::io::write(&done, &code.to_le_bytes());
            code
        }
        Err(err) => {
            report(&status, &err);
            125
        }
    };
    sys::exit_now(code)
}

fn prepare(
    setup: &Setup<'_>,
    status: &OwnedFd,
    alive: OwnedFd,
    done: &OwnedFd,
) -> Result<(Option<libc::pid_t>, OwnedFd), SandboxError> {
    let policy = setup.policy;
    forced(policy, Layer::DeathSignal)?;
    set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| SandboxError::sys(Layer::DeathSignal, "prctl(PR_SET_PDEATHSIG)", e))?;
    // The helper may have died before the death signal was armed: its end of `alive`
    // is then closed, which poll reports as a hang-up.
    let mut fds = [PollFd::new(&alive, PollFlags::IN)];
    let zero = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    if poll(&mut fds, Some(&zero)).is_ok()
        && fds[0].revents().intersects(PollFlags::HUP | PollFlags::IN)
    {
        sys::exit_now(125);
    }
    drop(alive);
    // No host descriptor may reach the command (an open state.db would be an escape).
    let mut keep = vec![status.as_raw_fd(), done.as_raw_fd()];
    keep.extend(setup.join.map(|fd| fd.as_raw_fd()));
    keep.extend(setup.pty.map(|fd| fd.as_raw_fd()));
    keep.sort_unstable();
    sys::close_fds_from(3, &keep)
        .map_err(|e| SandboxError::sys(Layer::Process, "closing inherited descriptors", e))?;
    if let Some(mnt) = setup.join {
        // Into the running sandbox's view; the NEWNS below then makes a private copy,
        // so what is mounted here (this sandbox's /proc) stays here.
        forced(policy, Layer::MountNamespace)?;
        namespaces::join(Layer::MountNamespace, mnt, LinkNameSpaceType::Mount)?;
    }

    for (layer, flag) in [
        (Layer::MountNamespace, UnshareFlags::NEWNS),
        (Layer::IpcNamespace, UnshareFlags::NEWIPC),
        (Layer::UtsNamespace, UnshareFlags::NEWUTS),
        (Layer::CgroupNamespace, UnshareFlags::NEWCGROUP),
    ] {
        forced(policy, layer)?;
        namespaces::enter(layer, flag)?;
    }
    // The network namespace, if the environment has one of its own, was made by the
    // helper (`linux/netns.rs`): it hands the namespace to the network daemon.

    forced(policy, Layer::Mounts)?;
    if setup.plan.overlay.is_some() {
        forced(policy, Layer::Overlay)?;
    }
    if setup.join.is_some() {
        mounts::refresh_joined(policy.resources.tmp_size)?;
    } else {
        mounts::build_root(setup.plan)?;
    }
    rustix::system::sethostname(policy.name.as_bytes())
        .map_err(|e| SandboxError::sys(Layer::UtsNamespace, "sethostname", e))?;
    // Not dumpable: /proc/1/{mem,environ} stay closed to the command even though it
    // runs as the same uid (pid 1 still holds the helper's memory).
    set_dumpable_behavior(DumpableBehavior::NotDumpable)
        .map_err(|e| SandboxError::sys(Layer::Process, "prctl(PR_SET_DUMPABLE)", e))?;
    enter_cwd(policy)?;

    forced(policy, Layer::Landlock)?;
    landlock::restrict(setup.plan, policy.network, setup.keeper)?;
    forced(policy, Layer::Capabilities)?;
    caps::drop_all()?;
    forced(policy, Layer::NoNewPrivs)?;
    caps::no_new_privs()?;
    forced(policy, Layer::Seccomp)?;
    seccomp::install()?;

    let sigfd = sys::signalfd(&SigSet::waited())
        .map_err(|e| SandboxError::sys(Layer::Process, "signalfd", e))?;
    if setup.keeper {
        return Ok((None, sigfd));
    }
    let (program, argv, envp) = command(policy, setup.argv)?;
    // The command's terminal, from this sandbox's own `/dev/pts` (`linux/pty.rs`); the
    // helper relays it to the user's.
    let master = match setup.pty {
        Some(sock) => {
            let master = super::pty::open_master()?;
            super::pty::send_fd(sock, &master)?;
            Some(master)
        }
        None => None,
    };
    match sys::fork().map_err(|e| SandboxError::sys(Layer::Process, "fork", e))? {
        Fork::Child => {
            // A new session: without a terminal of its own, no controlling terminal, so
            // TIOCSTI has nothing to inject into even before seccomp refuses it; with
            // one, the sandbox's pty is the only terminal it can reach.
            let session = match &master {
                Some(m) => super::pty::attach(m),
                None => rustix::process::setsid()
                    .map(drop)
                    .map_err(|e| SandboxError::sys(Layer::Process, "setsid", e)),
            };
            drop(master);
            if let Err(e) = session {
                report(status, &e);
                sys::exit_now(125);
            }
            sys::reset_signal_dispositions();
            let _ = sys::set_mask(&setup.mask);
            let e = sys::execve(&program, &argv, &envp);
            let code = if e.raw_os_error() == Some(libc::ENOENT) {
                127
            } else {
                126
            };
            let name = setup
                .argv
                .first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default();
            report(
                status,
                &SandboxError::Exec {
                    program: name,
                    reason: e.to_string(),
                    code,
                },
            );
            sys::exit_now(code)
        }
        Fork::Parent(pid) => {
            drop(master);
            Ok((Some(pid), sigfd))
        }
    }
}

/// Moves into the policy's working directory (inside the sandbox's view).
pub(crate) fn enter_cwd(policy: &Policy) -> Result<(), SandboxError> {
    rustix::process::chdir(&policy.cwd).map_err(|e| {
        SandboxError::sys(
            Layer::Policy,
            format!(
                "cwd `{}` is not visible in the sandbox",
                policy.cwd.display()
            ),
            e,
        )
    })
}

/// Resolves the program on the policy's PATH and builds argv/envp.
pub(crate) fn command(
    policy: &Policy,
    argv: &[OsString],
) -> Result<(CString, Vec<CString>, Vec<CString>), SandboxError> {
    let bad = |what: &str| SandboxError::layer(Layer::Policy, what.to_string());
    let first = argv.first().ok_or_else(|| bad("empty command"))?;
    let program =
        resolve(first, policy.env_var("PATH").unwrap_or(DEFAULT_PATH)).ok_or_else(|| {
            SandboxError::Exec {
                program: first.to_string_lossy().into_owned(),
                reason: "command not found".to_string(),
                code: 127,
            }
        })?;
    let cstr = |bytes: Vec<u8>| CString::new(bytes).map_err(|_| bad("NUL byte in the command"));
    let program = cstr(program.into_os_string().into_vec())?;
    let argv = argv
        .iter()
        .map(|a| cstr(a.as_bytes().to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = policy
        .env
        .iter()
        .map(|(k, v)| cstr(format!("{k}={v}").into_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((program, argv, envp))
}

fn resolve(program: &std::ffi::OsStr, path: &str) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .map(|m| m.is_file())
                .unwrap_or(false)
                && rustix::fs::access(candidate, rustix::fs::Access::EXEC_OK).is_ok()
        })
}

/// Forwards signals to the command and reaps everything; returns the command's status.
fn supervise(child: libc::pid_t, sigfd: &OwnedFd) -> i32 {
    loop {
        let sig = match sys::read_signal(sigfd.as_fd()) {
            Ok(Some(sig)) => sig,
            Ok(None) => continue,
            Err(_) => return 125,
        };
        if sig == libc::SIGCHLD {
            loop {
                match sys::waitpid(-1, true) {
                    Ok(Some((pid, exit))) if pid == child => return exit.code(),
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
        } else {
            let _ = sys::kill(child, sig);
        }
    }
}

/// The keeper's loop: reaps whatever the environment's commands left behind until it
/// is told to end (SIGTERM, SIGINT, SIGHUP); then passes SIGTERM on to every process of
/// the namespace and exits once its children are gone (or at the SIGKILL `stop` sends
/// after its grace period). Its exit ends the pid namespace.
fn keep(sigfd: &OwnedFd) -> i32 {
    let mut ending = false;
    loop {
        match sys::read_signal(sigfd.as_fd()) {
            Ok(Some(libc::SIGTERM | libc::SIGINT | libc::SIGHUP)) if !ending => {
                ending = true;
                let _ = sys::kill(-1, libc::SIGTERM);
            }
            Ok(_) => {}
            Err(_) => return 125,
        }
        loop {
            match sys::waitpid(-1, true) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                // No child left.
                Err(_) if ending => return 0,
                Err(_) => break,
            }
        }
    }
}
