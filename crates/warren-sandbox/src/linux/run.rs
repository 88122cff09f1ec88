//! The helper side: enter the user and pid namespaces, fork the sandbox's pid 1, learn
//! whether setup succeeded, then wait for it while forwarding signals. Used in place by
//! the CLI (`exec_in_place`) and, re-executed as `warren __sandbox`, by `spawn`.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::thread::UnshareFlags;

use rustix::thread::LinkNameSpaceType;

use super::init::{self, Setup};
use super::sys::{self, Fork, SigSet};
use super::{join, keeper, namespaces, netns, overlay, plan, pty};
use crate::error::{Layer, SandboxError};
use crate::policy::Policy;
use crate::registry::{self, Instance};

/// What the helper writes on its status fd once the command runs.
pub(crate) const STARTED: &[u8] = b"started";

/// Runs `argv` under `policy` and returns its exit status (128 + signal when killed).
///
/// `status`: where a parent process waits for the setup result; closed once the
/// command runs. `lifeline`: read end of a pipe whose writer is the parent; when the
/// parent dies, the sandbox is killed.
pub(crate) fn run(
    policy: &Policy,
    argv: &[OsString],
    status: &mut Option<OwnedFd>,
    lifeline: Option<OwnedFd>,
) -> Result<i32, SandboxError> {
    run_as(policy, argv, status, lifeline, false)
}

/// Runs the environment's keeper (`linux/keeper.rs`) until it is stopped.
pub(crate) fn run_keeper(
    policy: &Policy,
    status: &mut Option<OwnedFd>,
    lifeline: Option<OwnedFd>,
) -> Result<i32, SandboxError> {
    run_as(policy, &[], status, lifeline, true)
}

fn run_as(
    policy: &Policy,
    argv: &[OsString],
    status: &mut Option<OwnedFd>,
    lifeline: Option<OwnedFd>,
    keeper: bool,
) -> Result<i32, SandboxError> {
    policy.validate()?;
    if argv.is_empty() && !keeper {
        return Err(SandboxError::layer(Layer::Policy, "empty command"));
    }
    if keeper && (policy.scratch || policy.state_dir.is_none()) {
        return Err(SandboxError::layer(
            Layer::Policy,
            "a keeper needs an environment with a state dir (not a one-command scratch one)",
        ));
    }
    let policy = &canonical_policy(policy)?;
    crate::env::prepare_env(policy)?;
    let mut plan = plan::build(policy)?;
    // Into the environment's cgroup before anything is forked (there is no point
    // after the fork where pid 1 waits for us): pid 1, the command and whatever they
    // fork are born inside; and while the helper still holds the caller's capabilities
    // (in the user namespace it has none over the host's cgroup files).
    let origin = super::cgroup::origin(policy);
    super::cgroup::enter(policy)?;

    for layer in [Layer::UserNamespace, Layer::PidNamespace] {
        if policy.fail_layer == Some(layer) {
            return Err(SandboxError::layer(
                layer,
                "failure forced by the policy's test hook",
            ));
        }
    }
    // One mount namespace (so one overlay) for the commands of an environment that run
    // at the same time; a one-command environment has nothing to share.
    let view = plan.view();
    // Every command of an environment with a keeper runs in the keeper's namespaces.
    if !keeper
        && !policy.scratch
        && let Some(dir) = &policy.state_dir
        && let Some(k) = keeper::find(dir, &view)
    {
        return keeper::run_in(policy, &plan, argv, status, lifeline, k);
    }
    let joined = match &policy.state_dir {
        Some(dir) if !policy.scratch && !keeper => join::find(dir, &view),
        _ => None,
    };
    let mut work_lock = None;
    if joined.is_none()
        && let Some(layers) = plan.overlay.as_mut()
    {
        let (dir, lock) = overlay::claim_work_dir(&layers.base)?;
        layers.work = Some(dir);
        work_lock = Some(lock);
    }
    let record = Ready {
        keeper,
        origin,
        view: (!policy.scratch).then_some(view),
        work_dir: match &joined {
            Some(j) => j.work_dir.clone(),
            None => plan.overlay.as_ref().and_then(|l| l.work.clone()),
        },
    };
    // Blocked before fork so no signal is lost between fork and pid 1's signalfd.
    let mask = sys::block(&SigSet::waited())
        .map_err(|e| SandboxError::sys(Layer::Process, "sigprocmask", e))?;
    let result = run_blocked(
        policy,
        &plan,
        argv,
        mask,
        status,
        lifeline,
        joined.as_ref(),
        record,
    );
    let _ = sys::set_mask(&mask);
    // The work dir stays held until here: the overlay may outlive pid 1's status.
    drop(work_lock);
    result
}

/// What an instance's record gets once it is set up, so others can join it.
struct Ready {
    keeper: bool,
    /// The cgroups the helper was in before it entered the environment's.
    origin: Vec<std::path::PathBuf>,
    view: Option<String>,
    work_dir: Option<std::path::PathBuf>,
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
fn run_blocked(
    policy: &Policy,
    plan: &plan::Plan,
    argv: &[OsString],
    mask: SigSet,
    status: &mut Option<OwnedFd>,
    lifeline: Option<OwnedFd>,
    joined: Option<&join::Joined>,
    ready: Ready,
) -> Result<i32, SandboxError> {
    match joined {
        Some(j) => namespaces::join(Layer::UserNamespace, &j.user_ns, LinkNameSpaceType::User)?,
        None => namespaces::enter_user()?,
    }
    // Before the pid namespace, so the network daemon stays in the host's.
    if policy.network.own_namespace() {
        match joined {
            None => {
                netns::create(policy, &ready.origin)?;
            }
            Some(_) => {
                let mut p = policy.clone();
                p.net_dir = None;
                netns::create(&p, &[])?;
            }
        }
    }
    namespaces::enter(Layer::PidNamespace, UnshareFlags::NEWPID)?;

    let pipe = |what| {
        pipe_with(PipeFlags::CLOEXEC).map_err(|e| SandboxError::sys(Layer::Process, what, e))
    };
    let (setup_r, setup_w) = pipe("pipe")?;
    let (alive_r, alive_w) = pipe("pipe")?;
    let (done_r, done_w) = pipe("pipe")?;
    // pid 1 opens the command's terminal in the root it builds and hands the master
    // back here, to be relayed to the user's terminal.
    let (pty_r, pty_w) = match policy.tty {
        true => {
            let (r, w) = pty::channel()?;
            (Some(r), Some(w))
        }
        false => (None, None),
    };
    let setup = Setup {
        policy,
        plan,
        argv,
        mask,
        join: joined.map(|j| &j.mnt_ns),
        keeper: ready.keeper,
        pty: pty_w.as_ref(),
    };
    let init = match sys::fork().map_err(|e| SandboxError::sys(Layer::Process, "fork", e))? {
        Fork::Child => {
            drop((setup_r, alive_w, done_r, pty_r));
            init::pid1(&setup, setup_w, alive_r, done_w)
        }
        Fork::Parent(pid) => pid,
    };
    drop((setup_w, alive_r, done_w, pty_w));

    let mut instance = Instance {
        pid: init,
        start_time: registry::start_time(init).unwrap_or(0),
        argv: argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        view: None,
        work_dir: None,
        keeper: ready.keeper,
    };
    let registered = match &policy.state_dir {
        Some(dir) => match registry::register(dir, &instance) {
            Ok(path) => Some(path),
            Err(e) => {
                let _ = sys::kill(init, libc::SIGKILL);
                let _ = sys::waitpid(init, false);
                return Err(e);
            }
        },
        None => None,
    };

    // EOF on the setup pipe: the command was exec'd (its copy was close-on-exec) and
    // pid 1 closed its own. Anything else is a serialised SandboxError.
    let mut buf = Vec::new();
    let _ = std::fs::File::from(setup_r).read_to_end(&mut buf);
    // The command's terminal, sent before the command started.
    let relay = match (&pty_r, buf.is_empty()) {
        (Some(sock), true) => match pty::recv_fd(sock) {
            Ok(master) => Some(pty::Relay::new(master)),
            Err(e) => {
                let _ = sys::kill(init, libc::SIGKILL);
                let _ = wait_for(init);
                return Err(e);
            }
        },
        _ => None,
    };
    drop(pty_r);
    let outcome = if buf.is_empty() {
        // Tells a waiting parent the command runs. An explicit answer (not just EOF), so
        // a binary that is not a warren helper cannot pass for a successful start.
        if let Some(fd) = status.take() {
            let _ = rustix::io::write(&fd, STARTED);
        }
        // Only now may another sandbox join this one: its view is complete.
        if let Some(path) = &registered
            && ready.view.is_some()
        {
            instance.view = ready.view;
            instance.work_dir = ready.work_dir;
            let _ = registry::update(path, &instance);
        }
        Ok(supervise(init, lifeline, done_r, relay))
    } else {
        let err = serde_json::from_slice::<SandboxError>(&buf).unwrap_or_else(|_| {
            SandboxError::layer(Layer::Process, String::from_utf8_lossy(&buf).into_owned())
        });
        let _ = wait_for(init);
        Err(err)
    };
    drop(alive_w);
    if let Some(path) = registered {
        let _ = std::fs::remove_file(path);
    }
    outcome
}

/// Waits for the command's status, forwarding signals to pid 1; kills pid 1 if the
/// lifeline breaks.
///
/// pid 1 writes the command's status on `done` just before it exits, and that is
/// what this returns, without waiting for pid 1 to be gone: tearing the namespaces
/// down happens in pid 1's (or its last process's) exit and can take long, since
/// unmounting the worktree's overlay syncs the whole file system under it (measured:
/// ~230 ms a command with another process writing, against ~18 ms without the
/// overlay). Whatever the command left behind is being killed by then (pid 1 is
/// exiting), and pid 1 is reaped by whoever inherits it when this process exits, which
/// every caller does right after. Only if pid 1 dies without writing (killed) is its
/// own status waited for. With a terminal (`relay`), copies between it and the user's
/// and follows the window size until then.
fn supervise(
    init: libc::pid_t,
    lifeline: Option<OwnedFd>,
    done: OwnedFd,
    mut relay: Option<pty::Relay>,
) -> i32 {
    let Ok(sigfd) = sys::signalfd(&SigSet::waited()) else {
        return wait_for(init);
    };
    let mut lifeline = lifeline;
    let mut done = Some(done);
    let mut status = [0u8; 4];
    let mut got = 0;
    let finish = |relay: &mut Option<pty::Relay>, code: i32| {
        if let Some(r) = relay {
            r.finish();
        }
        code
    };
    loop {
        if let Ok(Some((_, exit))) = sys::waitpid(init, true) {
            return finish(&mut relay, exit.code());
        }
        let mut fds = vec![PollFd::new(&sigfd, PollFlags::IN)];
        let done_at = done.as_ref().map(|d| {
            fds.push(PollFd::new(d, PollFlags::IN));
            fds.len() - 1
        });
        let lifeline_at = lifeline.as_ref().map(|l| {
            fds.push(PollFd::new(l, PollFlags::IN));
            fds.len() - 1
        });
        let first_relay = fds.len();
        if let Some(r) = &relay {
            r.poll_fds(&mut fds);
        }
        if poll(&mut fds, None).is_err() {
            continue;
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds.get(i))
                .is_some_and(|f| !f.revents().is_empty())
        };
        let sig_ready = ready(Some(0));
        let done_ready = ready(done_at);
        let parent_gone = ready(lifeline_at);
        let relay_ready: Vec<PollFlags> = fds[first_relay..].iter().map(|f| f.revents()).collect();
        drop(fds);
        if let Some(r) = &mut relay {
            r.on_ready(&relay_ready);
        }
        if done_ready && let Some(d) = &done {
            match rustix::io::read(d, &mut status[got..]) {
                Ok(0) | Err(_) => done = None,
                Ok(n) => got += n,
            }
            if got == status.len() {
                return finish(&mut relay, i32::from_le_bytes(status));
            }
        }
        if parent_gone {
            let _ = sys::kill(init, libc::SIGKILL);
            lifeline = None;
        }
        if sig_ready
            && let Ok(Some(sig)) = sys::read_signal(sigfd.as_fd())
            && sig != libc::SIGCHLD
        {
            match &relay {
                // The pty signals the command's foreground process group itself.
                Some(r) if sig == libc::SIGWINCH => r.resize(),
                _ => {
                    let _ = sys::kill(init, sig);
                }
            }
        }
    }
}

/// Waits for `pid` to end; its exit code (125 when it cannot be waited for).
pub(crate) fn wait_for(init: libc::pid_t) -> i32 {
    loop {
        match sys::waitpid(init, false) {
            Ok(Some((_, exit))) => return exit.code(),
            Ok(None) => continue,
            Err(_) => return 125,
        }
    }
}

/// Resolves symlinks in the host-side paths, so the plan, the overlay and the Landlock
/// rules all talk about the same directories.
fn canonical_policy(policy: &Policy) -> Result<Policy, SandboxError> {
    let mut p = policy.clone();
    let canon = |path: &std::path::Path, field: &str| {
        std::fs::canonicalize(path).map_err(|e| {
            SandboxError::sys(Layer::Policy, format!("{field} `{}`", path.display()), e)
        })
    };
    p.worktree = canon(&policy.worktree, "worktree")?;
    if let Ok(rest) = policy.cwd.strip_prefix(&policy.worktree) {
        p.cwd = p.worktree.join(rest);
    }
    for path in &mut p.protect {
        if let Ok(rest) = path.strip_prefix(&policy.worktree) {
            *path = p.worktree.join(rest);
        }
    }
    Ok(p)
}
