//! Entering new namespaces, and explaining why the kernel refused one (the known traps:
//! sysctls that disable unprivileged user namespaces, Ubuntu's AppArmor restriction, a
//! container's seccomp profile or missing CAP_SYS_ADMIN).

use std::io;

use rustix::thread::{UnshareFlags, unshare_unsafe};

use crate::error::{Layer, SandboxError};

/// Unshares one namespace, naming `layer` on failure.
pub(crate) fn enter(layer: Layer, flags: UnshareFlags) -> Result<(), SandboxError> {
    // SAFETY: unshare_unsafe is "unsafe" only because unsharing
    // CLONE_FILES/CLONE_FS can invalidate borrowed fds/paths of other threads; we only
    // pass namespace flags, from a single-threaded process.
    let res = unsafe { unshare_unsafe(flags) };
    res.map_err(|e| {
        let err = io::Error::from(e);
        explain(SandboxError::sys(layer, "unshare", &err), &err)
    })
}

/// Enters the namespace `fd` refers to (`/proc/PID/ns/KIND`), naming `layer` on failure.
pub(crate) fn join(
    layer: Layer,
    fd: &std::os::fd::OwnedFd,
    kind: rustix::thread::LinkNameSpaceType,
) -> Result<(), SandboxError> {
    use std::os::fd::AsFd;
    rustix::thread::move_into_link_name_space(fd.as_fd(), Some(kind)).map_err(|e| {
        let err = io::Error::from(e);
        explain(SandboxError::sys(layer, "setns", &err), &err)
    })
}

/// Creates the user namespace and maps the caller's uid/gid to themselves (so files
/// keep their owners and tools see the same uid as on the host).
pub(crate) fn enter_user() -> Result<(), SandboxError> {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    enter(Layer::UserNamespace, UnshareFlags::NEWUSER)?;
    let write = |file: &str, data: String| {
        std::fs::write(file, data.as_bytes()).map_err(|e| {
            explain(
                SandboxError::sys(Layer::UserNamespace, format!("writing {file}"), &e),
                &e,
            )
        })
    };
    // "deny" first: an unprivileged process may only write gid_map after it, and it
    // keeps setgroups(2) from dropping groups that deny access through negative ACLs.
    write("/proc/self/setgroups", "deny".to_string())?;
    write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
    write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))?;
    Ok(())
}

/// Adds the likely cause and a hint to a namespace/mount failure.
pub(crate) fn explain(err: SandboxError, cause: &io::Error) -> SandboxError {
    let errno = cause.raw_os_error().unwrap_or(0);
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    if errno == libc::EINVAL && err.failed_layer() == Some(Layer::UserNamespace) {
        return err.with_hint(
            "the calling process has several threads; call `exec_in_place` before starting any runtime, or use `spawn`",
        );
    }
    if errno == libc::ENOSPC {
        return err.with_hint(
            "user namespaces are exhausted or disabled: `sysctl user.max_user_namespaces` must be > 0",
        );
    }
    if errno != libc::EPERM && errno != libc::EACCES {
        return err;
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return err.with_hint(
            "unprivileged user namespaces are disabled: `sudo sysctl -w kernel.unprivileged_userns_clone=1`",
        );
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return err.with_hint(
            "Ubuntu's AppArmor restricts unprivileged user namespaces: add an AppArmor profile allowing `userns` for warren, or `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`",
        );
    }
    let seccomp = read("/proc/self/status").and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("Seccomp:"))
            .map(|l| l.trim_start_matches("Seccomp:").trim().to_string())
    });
    if seccomp.as_deref() == Some("2") {
        return err.with_hint(
            "a seccomp filter on warren itself denies this (a container's default profile?): run the container with `--security-opt seccomp=unconfined` and `--security-opt apparmor=unconfined`, or use the docker runtime",
        );
    }
    if std::path::Path::new("/.dockerenv").exists()
        || std::path::Path::new("/run/.containerenv").exists()
    {
        return err.with_hint(
            "running inside a container without the rights to create namespaces (CAP_SYS_ADMIN, unmasked /proc): use the docker runtime, or run the container with `--privileged`",
        );
    }
    err
}
