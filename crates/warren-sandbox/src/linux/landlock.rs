//! Landlock rules that mirror the mount plan: a second, independent layer over the
//! filesystem view (rules are bound to inodes, so they hold even for a file reached
//! some other way), plus TCP denial for `network: none` (ABI 4) and scoping of abstract
//! unix sockets and signals to the sandbox (ABI 6).
//!
//! Compatibility is best-effort for features above the kernel's ABI, but Landlock itself
//! is required: a kernel that enforces nothing is an error, never a silent downgrade.

use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};

use super::plan::{self, Plan};
use crate::error::{Layer, SandboxError};
use crate::policy::Network;

/// The newest ABI whose rights warren asks for; older kernels get what they support.
const TARGET_ABI: ABI = ABI::V6;

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::sys(Layer::Landlock, what, e)
}

fn rights(access: plan::Access) -> BitFlags<AccessFs> {
    let abi = TARGET_ABI;
    match access {
        plan::Access::ListDir => AccessFs::ReadDir.into(),
        plan::Access::ReadExec => AccessFs::from_read(abi),
        plan::Access::Read => AccessFs::ReadFile | AccessFs::ReadDir,
        plan::Access::Devices => {
            AccessFs::ReadFile
                | AccessFs::ReadDir
                | AccessFs::WriteFile
                | AccessFs::Truncate
                | AccessFs::IoctlDev
        }
        plan::Access::ReadWrite => AccessFs::from_all(abi),
    }
}

/// Restricts the calling thread (pid 1, before it forks the command, or a command
/// joining the environment's keeper).
///
/// `shared_pids`: the pid namespace is the environment's keeper's, shared by commands
/// that each restrict themselves (sibling Landlock domains). Signal scoping would then
/// keep one command from signalling a daemon another started (`pkill` of the dev
/// server), and the pid namespace already hides every process outside the environment,
/// so signals are left unscoped there; likewise abstract unix sockets, which a network
/// namespace of its own already confines.
pub(crate) fn restrict(
    plan: &Plan,
    network: Network,
    shared_pids: bool,
) -> Result<(), SandboxError> {
    let abi = TARGET_ABI;
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(|e| err("handling filesystem access", e))?;
    if network == Network::None {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(abi))
            .map_err(|e| err("handling network access", e))?;
    }
    let mut scopes = Scope::from_all(abi);
    if shared_pids {
        scopes.remove(Scope::Signal);
        if network.own_namespace() {
            scopes.remove(Scope::AbstractUnixSocket);
        }
    }
    if !scopes.is_empty() {
        ruleset = ruleset
            .scope(scopes)
            .map_err(|e| err("scoping sockets and signals", e))?;
    }
    let mut created = ruleset
        .create()
        .map_err(|e| err("creating the ruleset", e))?;

    for (path, access) in &plan.rules {
        let fd = match PathFd::new(path) {
            Ok(fd) => fd,
            // A read-only extra path that does not exist was skipped by the plan.
            Err(_) if !path.exists() => continue,
            Err(e) => return Err(err(format!("opening `{}`", path.display()), e)),
        };
        let mut access = rights(*access);
        if !path.is_dir() {
            access &= AccessFs::from_file(abi);
        }
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| err(format!("rule for `{}`", path.display()), e))?;
    }

    // The caller's stdio may be a host tty or file; reopening it (`echo > /dev/stderr`)
    // needs a rule for that inode, limited to the access mode the caller gave the fd.
    for fd in 0..=2 {
        let Some(access) = stdio_rights(fd) else {
            continue;
        };
        let proc_path = format!("/proc/self/fd/{fd}");
        if let Ok(path_fd) = PathFd::new(Path::new(&proc_path)) {
            created = created
                .add_rule(PathBeneath::new(path_fd, access))
                .map_err(|e| err(format!("rule for stdio fd {fd}"), e))?;
        }
    }

    let status = created
        .restrict_self()
        .map_err(|e| err("landlock_restrict_self", e))?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(
            SandboxError::layer(Layer::Landlock, "the kernel does not enforce Landlock").with_hint(
                "Landlock needs Linux 5.13+ with `lsm=...,landlock` on the kernel command line",
            ),
        );
    }
    Ok(())
}

/// Rights for a stdio fd that is a regular file or a character device.
fn stdio_rights(fd: i32) -> Option<BitFlags<AccessFs>> {
    // SAFETY: fds 0-2 are not owned by anything in this process that could close them
    // concurrently (pid 1 is single-threaded); an invalid fd just yields EBADF.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let stat = rustix::fs::fstat(borrowed).ok()?;
    let mode = rustix::fs::FileType::from_raw_mode(stat.st_mode);
    let flags = rustix::fs::fcntl_getfl(borrowed).ok()?;
    let acc = flags & rustix::fs::OFlags::RWMODE;
    let mut rights = BitFlags::<AccessFs>::empty();
    if acc == rustix::fs::OFlags::RDONLY || acc == rustix::fs::OFlags::RDWR {
        rights |= AccessFs::ReadFile;
    }
    if acc == rustix::fs::OFlags::WRONLY || acc == rustix::fs::OFlags::RDWR {
        rights |= AccessFs::WriteFile | AccessFs::Truncate;
    }
    match mode {
        rustix::fs::FileType::RegularFile => Some(rights),
        rustix::fs::FileType::CharacterDevice => Some(rights | AccessFs::IoctlDev),
        _ => None,
    }
}

/// The kernel's Landlock ABI version, or why there is none.
pub(crate) fn abi_version() -> Result<i64, std::io::Error> {
    super::sys::landlock_abi()
}
