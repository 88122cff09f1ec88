//! Builds the sandbox's root filesystem from a [`Plan`] and switches to it. Runs in
//! the sandbox's pid 1, inside its fresh mount namespace.
//!
//! How: every bind source is first cloned as a detached mount tree (`open_tree`) while
//! the host tree is still visible, its flags set with `mount_setattr` (read-only,
//! nosuid, nodev, recursively), and the worktree's overlay is created the same way
//! (`fsmount`); then a tmpfs is mounted over `/tmp` (only in this namespace) as the new
//! root, targets are created in it and each tree is attached with `move_mount`, parents
//! first (a pin clones its directory from the new root at that point, so it sees the
//! overlay); finally `pivot_root` and a lazy unmount of the old root. Targets are
//! resolved component by component with `RESOLVE_NO_SYMLINKS`, so a symlink planted in
//! the worktree can never redirect a mount.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags, mkdirat, openat, openat2, symlinkat};
use rustix::io::Errno;
use rustix::mount::{
    MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags, UnmountFlags, mount,
    mount_change, move_mount, open_tree, unmount,
};

use super::plan::{MountOp, Plan};
use super::{overlay, sys};
use crate::error::{Layer, SandboxError};

/// Where the new root is assembled (a tmpfs mounted over it, visible only here).
const BASE: &str = "/tmp";

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::sys(Layer::Mounts, what, e)
}

/// Builds the new root and pivots into it.
pub(crate) fn build_root(plan: &Plan) -> Result<(), SandboxError> {
    // Nothing we mount may propagate back to the host (and pivot_root requires it).
    mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(|e| super::namespaces::explain(err("making / private", e), &e.into()))?;

    // Clone every source while the host tree is still reachable.
    let mut trees: Vec<Option<OwnedFd>> = Vec::with_capacity(plan.mounts.len());
    for op in &plan.mounts {
        trees.push(match op {
            MountOp::Bind { src, ro, dev, .. } => Some(clone_tree(src, *ro, *dev)?),
            MountOp::Overlay { upper, .. } => {
                let layers = plan.overlay.as_ref().ok_or_else(|| {
                    SandboxError::layer(Layer::Overlay, "the plan has no overlay layers")
                })?;
                Some(overlay::mount(upper, layers)?)
            }
            _ => None,
        });
    }

    mount(
        "tmpfs",
        BASE,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        c"mode=0755",
    )
    .map_err(|e| super::namespaces::explain(err("mounting the new root (tmpfs)", e), &e.into()))?;
    let root = openat(
        rustix::fs::CWD,
        BASE,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("opening the new root", e))?;

    for (op, tree) in plan.mounts.iter().zip(trees) {
        match op {
            MountOp::Bind {
                dst, file, create, ..
            } => {
                let Some(tree) = tree else { continue };
                let target = target(&root, dst, *file, *create)?;
                attach(&tree, &target, dst)?;
            }
            MountOp::Overlay { dst, .. } => {
                let Some(tree) = tree else { continue };
                let target = target(&root, dst, false, true)?;
                attach(&tree, &target, dst).map_err(|e| match e {
                    SandboxError::Layer { reason, hint, .. } => SandboxError::Layer {
                        layer: Layer::Overlay,
                        reason,
                        hint,
                    },
                    e => e,
                })?;
            }
            MountOp::Pin { dst } => {
                let target = target(&root, dst, false, false)?;
                let flags = OpenTreeFlags::OPEN_TREE_CLONE
                    | OpenTreeFlags::OPEN_TREE_CLOEXEC
                    | OpenTreeFlags::AT_RECURSIVE
                    | OpenTreeFlags::AT_EMPTY_PATH;
                let tree = open_tree(target.as_fd(), c"", flags)
                    .map_err(|e| err(format!("cloning `{}`", dst.display()), e))?;
                attach(&tree, &target, dst)?;
            }
            MountOp::Symlink { target: link, dst } => {
                let (parent, name) = split(dst)?;
                let dir = target(&root, parent, false, true)?;
                match symlinkat(link, &dir, name) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(err(format!("creating symlink `{}`", dst.display()), e)),
                }
            }
            MountOp::Tmpfs { dst, mode, size } => {
                target(&root, dst, false, true)?;
                let data = std::ffi::CString::new(tmpfs_options(*mode, *size))
                    .map_err(|e| err("tmpfs options", e))?;
                mount(
                    "tmpfs",
                    in_base(dst).as_str(),
                    "tmpfs",
                    MountFlags::NOSUID | MountFlags::NODEV,
                    data.as_c_str(),
                )
                .map_err(|e| err(format!("mounting tmpfs at `{}`", dst.display()), e))?;
            }
            MountOp::Proc { dst } => {
                target(&root, dst, false, true)?;
                let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
                // Must happen before the old root goes: the kernel only allows a new procfs
                // in a user namespace while a fully visible one exists in the mount ns (a
                // container that masks /proc fails here with EPERM).
                mount("proc", in_base(dst).as_str(), "proc", flags, None).map_err(|e| {
                    super::namespaces::explain(
                        err("mounting /proc for the new pid namespace", e),
                        &e.into(),
                    )
                })?;
            }
            MountOp::Devpts { dst } => {
                target(&root, dst, false, true)?;
                mount(
                    "devpts",
                    in_base(dst).as_str(),
                    "devpts",
                    MountFlags::NOSUID | MountFlags::NOEXEC,
                    c"newinstance,ptmxmode=0666,mode=620",
                )
                .map_err(|e| err("mounting /dev/pts", e))?;
            }
        }
    }

    // The skeleton (root tmpfs, /dev, /etc) becomes read-only; writable trees are
    // separate mounts and keep their own flags.
    for skeleton in ["", "/dev", "/etc"] {
        let path = format!("{BASE}{skeleton}");
        let fd = openat(
            rustix::fs::CWD,
            path.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err(format!("opening `{path}`"), e))?;
        sys::mount_setattr(
            fd.as_fd(),
            sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID,
            false,
        )
        .map_err(|e| {
            err(
                format!(
                    "making `{}` read-only",
                    if skeleton.is_empty() { "/" } else { skeleton }
                ),
                e,
            )
        })?;
    }

    // pivot_root(".", ".") stacks the old root on top of the new one; the lazy unmount
    // then drops it, so no directory for the old root is needed in the read-only tmpfs.
    rustix::process::fchdir(&root).map_err(|e| err("chdir to the new root", e))?;
    rustix::process::pivot_root(".", ".").map_err(|e| err("pivot_root", e))?;
    unmount(".", UnmountFlags::DETACH).map_err(|e| err("detaching the old root", e))?;
    rustix::process::chdir("/").map_err(|e| err("chdir /", e))?;
    Ok(())
}

/// Options of a tmpfs: its mode and, when sized, its size and an inode cap (one inode
/// per 4 KiB, at least 4096: otherwise empty files, which take no blocks, would fill
/// kernel memory past the size).
pub(crate) fn tmpfs_options(mode: u32, size: Option<u64>) -> String {
    match size {
        Some(bytes) => format!(
            "mode={mode:o},size={bytes},nr_inodes={}",
            (bytes / 4096).max(4096)
        ),
        None => format!("mode={mode:o}"),
    }
}

/// In a copy of a running sandbox's mount namespace (`linux/join.rs`): this sandbox's
/// own `/proc` (its pid namespace), `/dev/pts` and `/dev/shm` (of `shm_size`), mounted
/// over that sandbox's. The kernel allows the new procfs because a fully visible one
/// is there.
pub(crate) fn refresh_joined(shm_size: Option<u64>) -> Result<(), SandboxError> {
    mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(|e| err("making / private", e))?;
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    mount("proc", "/proc", "proc", flags, None)
        .map_err(|e| err("mounting /proc for the new pid namespace", e))?;
    mount(
        "devpts",
        "/dev/pts",
        "devpts",
        MountFlags::NOSUID | MountFlags::NOEXEC,
        c"newinstance,ptmxmode=0666,mode=620",
    )
    .map_err(|e| err("mounting /dev/pts", e))?;
    let data = std::ffi::CString::new(tmpfs_options(0o1777, shm_size))
        .map_err(|e| err("tmpfs options", e))?;
    mount(
        "tmpfs",
        "/dev/shm",
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        data.as_c_str(),
    )
    .map_err(|e| err("mounting /dev/shm", e))
}

/// Attaches the detached mount `tree` on `target` (an O_PATH descriptor of `dst`).
fn attach(tree: &OwnedFd, target: &OwnedFd, dst: &Path) -> Result<(), SandboxError> {
    move_mount(
        tree.as_fd(),
        c"",
        target.as_fd(),
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| err(format!("mounting `{}`", dst.display()), e))
}

/// A detached, recursive clone of `src` with the sandbox's mount flags.
fn clone_tree(src: &Path, ro: bool, dev: bool) -> Result<OwnedFd, SandboxError> {
    let flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_RECURSIVE;
    let fd = open_tree(rustix::fs::CWD, src, flags)
        .map_err(|e| err(format!("cloning `{}`", src.display()), e))?;
    let mut attrs = sys::MOUNT_ATTR_NOSUID;
    if ro {
        attrs |= sys::MOUNT_ATTR_RDONLY;
    }
    if !dev {
        attrs |= sys::MOUNT_ATTR_NODEV;
    }
    sys::mount_setattr(fd.as_fd(), attrs, true)
        .map_err(|e| err(format!("setting flags on `{}`", src.display()), e))?;
    Ok(fd)
}

fn in_base(dst: &Path) -> String {
    format!("{BASE}{}", dst.display())
}

fn split(path: &Path) -> Result<(&Path, &std::ffi::OsStr), SandboxError> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(err(format!("`{}`", path.display()), "no parent")),
    }
}

/// Opens (O_PATH) the mount target `dst` under the new root, walking one component at a
/// time without following any symlink and re-walking from the root each time, so
/// mounts attached earlier are crossed. Missing components are created when `create`.
fn target(root: &OwnedFd, dst: &Path, file: bool, create: bool) -> Result<OwnedFd, SandboxError> {
    let comps: Vec<_> = dst
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::BENEATH;
    // Most targets exist: one walk of the whole path, with the same rules
    // (the kernel crosses mounts and refuses symlinks at every component),
    // instead of one call per component.
    if !comps.is_empty() {
        let rel: PathBuf = comps.iter().collect();
        let mut oflags = OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        if !file {
            oflags |= OFlags::DIRECTORY;
        }
        // On failure (missing, to be created, or an error) the walk below
        // does it one component at a time and reports what it finds.
        if let Ok(fd) = openat2(root, &rel, oflags, Mode::empty(), resolve) {
            return Ok(fd);
        }
    }
    let mut cur = rustix::io::dup(root).map_err(|e| err("dup", e))?;
    for (i, name) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let want_dir = !last || !file;
        let mut oflags = OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        if want_dir {
            oflags |= OFlags::DIRECTORY;
        }
        let next = match openat2(&cur, *name, oflags, Mode::empty(), resolve) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create => {
                if want_dir {
                    match mkdirat(&cur, *name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => {
                            return Err(err(
                                format!("creating mount point `{}`", dst.display()),
                                e,
                            ));
                        }
                    }
                } else {
                    let f = openat(
                        &cur,
                        *name,
                        OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o644),
                    )
                    .map_err(|e| err(format!("creating mount point `{}`", dst.display()), e))?;
                    drop(f);
                }
                openat2(&cur, *name, oflags, Mode::empty(), resolve)
                    .map_err(|e| err(format!("opening mount point `{}`", dst.display()), e))?
            }
            Err(Errno::LOOP) | Err(Errno::XDEV) => {
                return Err(err(
                    format!("mount point `{}`", dst.display()),
                    "a path component is a symlink",
                ));
            }
            Err(e) => return Err(err(format!("opening mount point `{}`", dst.display()), e)),
        };
        cur = next;
    }
    Ok(cur)
}
