//! The worktree's overlay: how always-read-only paths that do not exist on the host are
//! made read-only inside without creating anything in the host tree.
//!
//! A read-only mount needs a directory entry to sit on, and an entry created in the
//! host worktree is a placeholder every host tool trips over (`cat .mcp.json`: "Is a
//! directory"). So the sandbox shows the worktree as an overlayfs whose *upper* layer is
//! the host worktree itself (every write lands there at once, as with a bind) and whose
//! *lower* layer is a skeleton (in `Policy::overlay_dir`, which environments share, or
//! the state dir) holding only the missing protected names, as empty directories (git ignores empty directories, so `git add -A` inside
//! never picks one up). Each protected path, now present in the merged view, then gets a
//! read-only bind (of the host path when it exists, of the skeleton's entry otherwise),
//! and every directory between the worktree and it a self-bind, so that neither can be
//! renamed, removed or replaced (a mount point is busy in its own namespace).
//!
//! Options, for an unprivileged mount (Linux 5.11+): `userxattr` (the overlay's own
//! xattrs are `user.overlay.*`; `trusted.*` needs CAP_SYS_ADMIN on the host);
//! `redirect_dir=nofollow` and `metacopy=off` (never follow what an xattr in the upper
//! layer, which the agent writes, says; `userxattr` refuses the other settings anyway);
//! `index=off` (no index dir, and several sandboxes of one environment may share the
//! upper layer: with an index the second mount would be refused as "in use");
//! `xino=off`; `uuid=off` where the kernel knows it (otherwise 6.6+ stores a
//! `user.overlay.uuid` xattr on the worktree's root at every mount); `volatile`: the
//! overlay does not sync the whole upper file system when it is unmounted, which cost
//! every sandbox's teardown 5 ms and more on a busy disk. An `fsync` of a working-tree
//! file inside then reaches the page cache only (the repository, `.git`, is bound past
//! the overlay, so git's own syncs are real); after a host crash the work dir's
//! `incompat/volatile` mark is cleared when the dir is next claimed.
//!
//! What the kernel does in the host tree: a directory the agent creates something in
//! that exists only in the skeleton (`.claude` when the host has none, for
//! `.claude/foo`) is copied up first, so the host gets `.claude/` with `foo` in it and
//! nothing else: the skeleton's other entries stay in the lower layer. Copied-up and
//! merged directories get a `user.overlay.origin` xattr and their parent
//! `user.overlay.impure` (extended attributes only; no file or directory). Whiteouts and
//! opaque directories are never made: the only entries of the lower layer are protected
//! paths and their ancestors, all mount points, which cannot be removed or renamed.
//!
//! The trade-off (overlayfs's documented limit: changes to a layer behind the overlay's
//! back are undefined): an overlay caches what it looked up. Commands of an environment
//! that run at the same time share one overlay (`linux/join.rs`), so what one changes
//! the others see at once, inotify included. A change the host makes in the worktree
//! while a sandbox runs is seen at once when it writes a file in place or creates a name
//! the sandbox had not looked up; a name the sandbox had looked up and found missing,
//! or a file the host replaced by rename or deleted, may show the old state until the
//! sandboxes of the environment end, and inotify inside hears nothing of host changes.
//! The repository (`.git`) is therefore bound directly, past the overlay, so git's refs
//! and index are never stale. When nothing protected is missing the worktree is a plain
//! bind.
//!
//! The overlay's work dir must be on the same mount as the upper layer. It lives next to
//! the skeletons (one per overlay in use, held with `flock` by every sandbox on it,
//! because the kernel empties a work dir when it mounts one; a free one is reused, by any
//! environment when they share the dir, so a sandbox creates and removes none); a state dir on another mount than the
//! worktree is an error naming this layer, not a fallback to placeholders: the kernels
//! warren supports (Landlock needs 5.13) all have unprivileged overlayfs, so the only
//! way to hit it is a layout that can be changed, and a silent weaker mode is what the
//! sandbox never does.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, StatxFlags, flock, open, statx};
use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, fsconfig_create, fsconfig_set_flag,
    fsconfig_set_string, fsmount, fsopen,
};

use crate::error::{Layer, SandboxError};
use crate::policy::{Policy, ancestors_between};

/// Most sandboxes of one environment that may run at once (one work dir each).
const MAX_SLOTS: usize = 4096;

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::sys(Layer::Overlay, what, e)
}

/// One always-read-only path, as the plan mounts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Protected {
    /// Its path (host path = path inside).
    pub(crate) path: PathBuf,
    /// What is bound read-only on it: the host path, or the skeleton's empty directory.
    pub(crate) source: PathBuf,
    /// A file (only an existing host file can be one).
    pub(crate) file: bool,
}

/// What the host side prepared for one sandbox.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Every protected path with its source.
    pub(crate) protected: Vec<Protected>,
    /// Directories strictly between the worktree and a protected path.
    pub(crate) ancestors: Vec<PathBuf>,
    /// The overlay's layers, or `None` when nothing protected is missing.
    pub(crate) layers: Option<Layers>,
}

/// The overlay's lower layer and work dir (its upper layer is the worktree).
#[derive(Debug)]
pub(crate) struct Layers {
    pub(crate) lower: PathBuf,
    /// `state/overlay`, where work dirs are claimed.
    pub(crate) base: PathBuf,
    /// The work dir, once claimed ([`claim_work_dir`]).
    pub(crate) work: Option<PathBuf>,
}

/// Looks at the host worktree and prepares what the overlay needs: which protected
/// paths exist, the skeleton of the missing ones, a work dir. `worktree` is canonical.
pub(crate) fn prepare(policy: &Policy, worktree: &Path) -> Result<Prepared, SandboxError> {
    let mut protected = Vec::new();
    let mut ancestors: Vec<PathBuf> = Vec::new();
    let mut missing: Vec<PathBuf> = Vec::new();
    for path in policy.protected_paths() {
        let rel = path.strip_prefix(&policy.worktree).unwrap_or(&path);
        let path = worktree.join(rel);
        let mut parent_missing = false;
        for anc in ancestors_between(worktree, &path) {
            match std::fs::symlink_metadata(&anc) {
                Ok(meta) if meta.file_type().is_symlink() => return Err(symlink(&anc)),
                Ok(meta) if !meta.is_dir() => {
                    return Err(SandboxError::layer(
                        Layer::Mounts,
                        format!(
                            "`{}` is not a directory, so `{}` cannot be kept read-only",
                            anc.display(),
                            path.display()
                        ),
                    )
                    .with_hint(format!("remove it on the host: `rm {}`", anc.display())));
                }
                Ok(_) => {}
                Err(_) => parent_missing = true,
            }
            if !ancestors.contains(&anc) {
                ancestors.push(anc);
            }
        }
        let meta = if parent_missing {
            None
        } else {
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => return Err(symlink(&path)),
                Ok(meta) => Some(meta),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(err(format!("checking `{}`", path.display()), e)),
            }
        };
        match meta {
            Some(meta) => protected.push(Protected {
                source: path.clone(),
                path,
                file: !meta.is_dir(),
            }),
            None => {
                missing.push(rel.to_path_buf());
                protected.push(Protected {
                    // The skeleton's dir; its final name is known once it exists.
                    source: rel.to_path_buf(),
                    path,
                    file: false,
                });
            }
        }
    }
    if missing.is_empty() {
        return Ok(Prepared {
            protected,
            ancestors,
            layers: None,
        });
    }

    let state = policy.state_dir.as_deref().ok_or_else(|| {
        SandboxError::layer(
            Layer::Policy,
            "the policy has no state_dir, where the worktree's overlay keeps its layers",
        )
    })?;
    let base = match &policy.overlay_dir {
        Some(dir) => dir.clone(),
        None => state.join("overlay"),
    };
    std::fs::create_dir_all(&base).map_err(|e| {
        SandboxError::sys(Layer::State, format!("creating `{}`", base.display()), e)
    })?;
    same_mount(worktree, &base)?;
    let lower = skeleton(&base, &missing)?;
    for p in protected.iter_mut().filter(|p| p.source.is_relative()) {
        p.source = lower.join(&p.source);
    }
    Ok(Prepared {
        protected,
        ancestors,
        layers: Some(Layers {
            lower,
            base,
            work: None,
        }),
    })
}

fn symlink(path: &Path) -> SandboxError {
    SandboxError::layer(
        Layer::Mounts,
        format!("always-read-only path `{}` is a symlink", path.display()),
    )
    .with_hint(format!("remove it on the host: `rm {}`", path.display()))
}

/// The overlay refuses a work dir on another mount than its upper layer (the rename
/// that makes a copy-up atomic cannot cross mounts); say so before the kernel does.
fn same_mount(worktree: &Path, base: &Path) -> Result<(), SandboxError> {
    let mnt = |p: &Path| {
        statx(rustix::fs::CWD, p, AtFlags::empty(), StatxFlags::MNT_ID)
            .map(|s| s.stx_mnt_id)
            .map_err(|e| err(format!("statx `{}`", p.display()), e))
    };
    if mnt(worktree)? != mnt(base)? {
        return Err(SandboxError::layer(
            Layer::Overlay,
            format!(
                "the worktree `{}` and the state dir `{}` are on different mounts; the worktree's overlay needs its work dir on the worktree's mount",
                worktree.display(),
                base.display()
            ),
        )
        .with_hint(
            "keep warren's root (`WARREN_ROOT`) and the worktree on the same file system, with no mount point between them",
        ));
    }
    Ok(())
}

/// The skeleton for this set of missing paths: `base/skel-<hash>`, made once (in a
/// temporary dir renamed into place, so a concurrent sandbox never sees half of one)
/// and never changed after, so sandboxes running on it share it safely.
fn skeleton(base: &Path, missing: &[PathBuf]) -> Result<PathBuf, SandboxError> {
    let mut sorted: Vec<&Path> = missing.iter().map(PathBuf::as_path).collect();
    sorted.sort();
    // FNV-1a: stable across Rust versions (unlike `DefaultHasher`); not a security
    // boundary, the skeleton is checked below.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for p in &sorted {
        for b in p.as_os_str().as_encoded_bytes().iter().chain([&0u8]) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    let dir = base.join(format!("skel-{hash:016x}"));
    let complete = |dir: &Path| sorted.iter().all(|p| dir.join(p).is_dir());
    if complete(&dir) {
        return Ok(dir);
    }
    let state = |what: String, e: std::io::Error| SandboxError::sys(Layer::State, what, e);
    let tmp = base.join(format!("skel-{hash:016x}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for p in &sorted {
        let d = tmp.join(p);
        std::fs::create_dir_all(&d).map_err(|e| state(format!("creating `{}`", d.display()), e))?;
    }
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another sandbox got there first (rename onto a non-empty dir fails).
        Err(_) if complete(&dir) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(state(format!("creating `{}`", dir.display()), e))
        }
    }
}

/// A work dir no running sandbox uses (`base/work-N`), for a new overlay. Every
/// sandbox on an overlay holds a shared `flock` on its work dir for its whole life (the
/// overlay outlives the sandbox that made it while others that joined it run); a dir
/// is free when an exclusive lock can be had. The test and the switch to a shared lock
/// happen under `base/slots.lock`, so two new sandboxes never pick the same dir.
pub(crate) fn claim_work_dir(base: &Path) -> Result<(PathBuf, OwnedFd), SandboxError> {
    let state = |what: String, e: Errno| SandboxError::sys(Layer::State, what, e);
    let mutex_path = base.join("slots.lock");
    let mutex = open(
        &mutex_path,
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| state(format!("opening `{}`", mutex_path.display()), e))?;
    flock(&mutex, FlockOperation::LockExclusive)
        .map_err(|e| state(format!("locking `{}`", mutex_path.display()), e))?;
    for n in 0..MAX_SLOTS {
        let dir = base.join(format!("work-{n}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(SandboxError::sys(
                    Layer::State,
                    format!("creating `{}`", dir.display()),
                    e,
                ));
            }
        }
        let fd = open_work_dir(&dir)?;
        match flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                // A `volatile` overlay that did not unmount cleanly (the host
                // crashed) leaves this mark, and the kernel refuses the work
                // dir until it goes: nobody uses the dir now, so it can.
                let _ = std::fs::remove_dir_all(dir.join("work/incompat"));
                flock(&fd, FlockOperation::LockShared)
                    .map_err(|e| state(format!("locking `{}`", dir.display()), e))?;
                return Ok((dir, fd));
            }
            Err(Errno::WOULDBLOCK) => continue,
            Err(e) => return Err(state(format!("locking `{}`", dir.display()), e)),
        }
    }
    Err(SandboxError::layer(
        Layer::State,
        format!(
            "{MAX_SLOTS} overlays of this environment are in use (no free work dir in `{}`)",
            base.display()
        ),
    ))
}

/// Holds the work dir of an overlay this sandbox joins (a shared lock; see
/// [`claim_work_dir`]).
pub(crate) fn share_work_dir(dir: &Path) -> Result<OwnedFd, SandboxError> {
    let fd = open_work_dir(dir)?;
    flock(&fd, FlockOperation::LockShared)
        .map_err(|e| SandboxError::sys(Layer::State, format!("locking `{}`", dir.display()), e))?;
    Ok(fd)
}

fn open_work_dir(dir: &Path) -> Result<OwnedFd, SandboxError> {
    open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SandboxError::sys(Layer::State, format!("opening `{}`", dir.display()), e))
}

/// Creates the overlay (in the sandbox's mount namespace, before the host paths are
/// hidden) and returns it as a detached mount. Layers are named as `/proc/self/fd/N` of
/// descriptors opened here, so no path needs escaping (`:` and `,` separate options) and
/// none is looked up twice.
pub(crate) fn mount(upper: &Path, layers: &Layers) -> Result<OwnedFd, SandboxError> {
    let dir = |p: &Path| {
        open(
            p,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err(format!("opening `{}`", p.display()), e))
    };
    let work = layers
        .work
        .as_deref()
        .ok_or_else(|| SandboxError::layer(Layer::Overlay, "no work dir was claimed"))?;
    let fds = [dir(&layers.lower)?, dir(upper)?, dir(work)?];
    let names = fds
        .iter()
        .map(|fd| CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err("layer path", e))?;
    match attempt(&names, true) {
        Ok(fd) => Ok(fd),
        // Kernels before `uuid=off` existed refuse the option; they do not store the
        // uuid xattr either.
        Err((Errno::INVAL, _)) => attempt(&names, false).map_err(|(_, e)| e),
        Err((_, e)) => Err(e),
    }
    .map_err(|e| {
        e.with_hint(format!(
            "the worktree `{}` must be on a local file system that overlayfs accepts as an upper layer (ext4, xfs, btrfs, tmpfs; not NFS or FUSE), and the kernel must allow overlayfs in user namespaces (Linux 5.11+)",
            upper.display()
        ))
    })
}

fn attempt(names: &[CString], uuid_off: bool) -> Result<OwnedFd, (Errno, SandboxError)> {
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| (e, err("fsopen(overlay)", e)))?;
    let fail = |what: &str, e: Errno| (e, err(format!("{what}{}", kernel_log(&fs)), e));
    fsconfig_set_flag(fs.as_fd(), "userxattr").map_err(|e| fail("userxattr", e))?;
    fsconfig_set_flag(fs.as_fd(), "volatile").map_err(|e| fail("volatile", e))?;
    let mut options = vec![
        ("redirect_dir", "nofollow"),
        ("metacopy", "off"),
        ("index", "off"),
        ("xino", "off"),
    ];
    if uuid_off {
        options.push(("uuid", "off"));
    }
    for (key, value) in options {
        fsconfig_set_string(fs.as_fd(), key, value)
            .map_err(|e| fail(&format!("option {key}={value}"), e))?;
    }
    for (key, value) in ["lowerdir", "upperdir", "workdir"].into_iter().zip(names) {
        fsconfig_set_string(fs.as_fd(), key, value.as_c_str())
            .map_err(|e| fail(&format!("option {key}"), e))?;
    }
    fsconfig_create(fs.as_fd()).map_err(|e| fail("creating the overlay", e))?;
    fsmount(
        fs.as_fd(),
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV,
    )
    .map_err(|e| fail("fsmount", e))
}

/// What the file system said about a failed `fsconfig` (the new mount API keeps
/// messages on the context descriptor; overlayfs explains refusals there).
fn kernel_log(fs: &OwnedFd) -> String {
    let mut out = String::new();
    let mut buf = [0u8; 512];
    // One message per read; ENODATA once drained. Bounded in case a kernel never ends.
    for _ in 0..8 {
        match rustix::io::read(fs, &mut buf) {
            Ok(n) if n > 0 => {
                let msg = String::from_utf8_lossy(&buf[..n]);
                out.push_str(" (");
                out.push_str(msg.trim());
                out.push(')');
            }
            _ => break,
        }
    }
    out
}
