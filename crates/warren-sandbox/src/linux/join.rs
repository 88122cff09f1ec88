//! Joining a running sandbox of the same environment: a new sandbox whose filesystem
//! view equals that of one already running enters its user namespace and a copy of its
//! mount namespace instead of building its own, so every command of the environment
//! that runs at the same time sees the worktree through one overlay. Separate overlays
//! each cache what they looked up: one would keep showing a file another had replaced
//! by rename, and inotify in one would not hear of writes through another (a dev
//! server's reload after the agent's edit). It is also faster: no overlay to mount, no
//! root to build.
//!
//! Only an instance whose record says it is set up, with exactly this view (the plan as
//! text), is joined; its namespaces are opened before its start time is checked again,
//! so a pid reused meanwhile is never mistaken for it, and the descriptors keep them
//! alive even if it ends right after. The new sandbox still has its own pid, ipc, uts,
//! cgroup (and network) namespaces, its own `/proc`, `/dev/pts` and `/dev/shm`, and sets
//! up Landlock, capabilities and seccomp itself.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, fstat, open};

use super::overlay;
use crate::registry;

/// The namespaces of a running sandbox to join, and its overlay's work dir (held).
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) user_ns: OwnedFd,
    pub(crate) mnt_ns: OwnedFd,
    pub(crate) work_dir: Option<PathBuf>,
    _work_lock: Option<OwnedFd>,
}

/// A running, set-up sandbox of the environment (`state_dir`) with this view, if any.
pub(crate) fn find(state_dir: &Path, view: &str) -> Option<Joined> {
    let own_user = open(
        "/proc/self/ns/user",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .and_then(fstat)
    .ok()?;
    for inst in registry::list(state_dir) {
        if inst.view.as_deref() != Some(view) {
            continue;
        }
        // The work dir first: once held, no new overlay can take it over.
        let lock = match &inst.work_dir {
            Some(dir) => match overlay::share_work_dir(dir) {
                Ok(fd) => Some(fd),
                Err(_) => continue,
            },
            None => None,
        };
        let ns = |kind: &str| {
            open(
                format!("/proc/{}/ns/{kind}", inst.pid),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        let (Ok(user_ns), Ok(mnt_ns)) = (ns("user"), ns("mnt")) else {
            continue;
        };
        if registry::start_time(inst.pid) != Some(inst.start_time) {
            continue;
        }
        // A sandbox's pid 1 is never in this process's user namespace; a record that
        // says otherwise is not joined.
        let same = fstat(&user_ns)
            .is_ok_and(|s| s.st_ino == own_user.st_ino && s.st_dev == own_user.st_dev);
        if same {
            continue;
        }
        return Some(Joined {
            user_ns,
            mnt_ns,
            work_dir: inst.work_dir,
            _work_lock: lock,
        });
    }
    None
}
