//! Turns a [`Policy`] into the concrete filesystem view (a list of mounts in order)
//! and the Landlock rules that mirror it. Runs on the host side, before any namespace
//! exists, so it can look at the host's paths.

use std::path::{Path, PathBuf};

use super::overlay;
use crate::error::{Layer, SandboxError};
use crate::policy::Policy;

/// System trees shown read-only (or re-created as symlinks on merged-/usr systems).
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// The only parts of `/etc` programs need: name resolution, users, TLS roots, the
/// dynamic linker's cache, Debian's alternatives symlinks, time zone, shells' defaults.
const ETC_ENTRIES: &[&str] = &[
    "resolv.conf",
    "hosts",
    "host.conf",
    "gai.conf",
    "nsswitch.conf",
    "passwd",
    "group",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "pki",
    "crypto-policies",
    "alternatives",
    "localtime",
    "timezone",
    "os-release",
    "mime.types",
    "gitconfig",
    "inputrc",
    "profile",
    "bash.bashrc",
    "shells",
    "terminfo",
    "locale.alias",
    "locale.conf",
];

/// Device nodes bound from the host's `/dev` (read-write, device access allowed).
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// One step of building the new root, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountOp {
    /// The worktree's overlay (`linux/overlay.rs`) at `dst`, with `upper` (the host
    /// worktree) as its upper layer.
    Overlay { dst: PathBuf, upper: PathBuf },
    /// A bind of `dst`, as the new root shows it by then, onto itself: makes a directory
    /// of the overlay a mount point, so that it cannot be renamed away (nor removed).
    Pin { dst: PathBuf },
    /// Bind `src` (host) at `dst` (inside).
    Bind {
        src: PathBuf,
        dst: PathBuf,
        ro: bool,
        dev: bool,
        file: bool,
        create: bool,
    },
    /// A symlink at `dst` pointing to `target`.
    Symlink { target: PathBuf, dst: PathBuf },
    /// A fresh tmpfs at `dst`; `size` caps what the sandbox can write there (the
    /// skeleton ones, read-only once built, need none).
    Tmpfs {
        dst: PathBuf,
        mode: u32,
        size: Option<u64>,
    },
    /// The pid namespace's own procfs.
    Proc { dst: PathBuf },
    /// A private devpts instance.
    Devpts { dst: PathBuf },
}

impl MountOp {
    fn dst(&self) -> &Path {
        match self {
            MountOp::Bind { dst, .. }
            | MountOp::Overlay { dst, .. }
            | MountOp::Pin { dst }
            | MountOp::Symlink { dst, .. }
            | MountOp::Tmpfs { dst, .. }
            | MountOp::Proc { dst }
            | MountOp::Devpts { dst } => dst,
        }
    }
}

/// Landlock access classes (translated to rights in `landlock.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// List directories only (the root).
    ListDir,
    /// Read, list and execute.
    ReadExec,
    /// Read and list (procfs).
    Read,
    /// Device files: read, write, truncate, device ioctls.
    Devices,
    /// Everything.
    ReadWrite,
}

/// The whole filesystem plan.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) mounts: Vec<MountOp>,
    pub(crate) rules: Vec<(PathBuf, Access)>,
    /// The worktree overlay's layers, when there is one.
    pub(crate) overlay: Option<overlay::Layers>,
}

impl Plan {
    /// The filesystem view as text (mounts and Landlock rules, every path and flag; not
    /// the overlay's work dir): sandboxes of one environment with equal views can share a
    /// mount namespace. Compared whole, not hashed, so no collision can ever match two
    /// different views.
    pub(crate) fn view(&self) -> String {
        format!("{:?} {:?}", self.mounts, self.rules)
    }
}

/// Builds the plan. `policy` must be validated; paths are canonicalised here.
pub(crate) fn build(policy: &Policy) -> Result<Plan, SandboxError> {
    let mut mounts = Vec::new();
    let mut rules: Vec<(PathBuf, Access)> = vec![(PathBuf::from("/"), Access::ListDir)];

    for dir in SYSTEM_DIRS {
        let path = Path::new(dir);
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(path).map_err(|e| {
                    SandboxError::sys(Layer::Mounts, format!("reading link `{dir}`"), e)
                })?;
                mounts.push(MountOp::Symlink {
                    target,
                    dst: path.to_path_buf(),
                });
            }
            Ok(meta) if meta.is_dir() => {
                mounts.push(bind_ro(path, path, false));
                rules.push((path.to_path_buf(), Access::ReadExec));
            }
            _ => {}
        }
    }

    mounts.push(MountOp::Tmpfs {
        dst: PathBuf::from("/etc"),
        mode: 0o755,
        size: None,
    });
    for entry in ETC_ENTRIES {
        let path = Path::new("/etc").join(entry);
        // Follows symlinks on purpose: /etc/resolv.conf often points into /run.
        if let Ok(meta) = std::fs::metadata(&path) {
            mounts.push(bind_ro(&path, &path, !meta.is_dir()));
        }
    }
    rules.push((PathBuf::from("/etc"), Access::ReadExec));

    mounts.push(MountOp::Proc {
        dst: PathBuf::from("/proc"),
    });
    rules.push((PathBuf::from("/proc"), Access::Read));

    mounts.push(MountOp::Tmpfs {
        dst: PathBuf::from("/dev"),
        mode: 0o755,
        size: None,
    });
    for dev in DEVICES {
        let path = Path::new("/dev").join(dev);
        if path.exists() {
            mounts.push(MountOp::Bind {
                src: path.clone(),
                dst: path,
                ro: false,
                dev: true,
                file: true,
                create: true,
            });
        }
    }
    mounts.push(MountOp::Devpts {
        dst: PathBuf::from("/dev/pts"),
    });
    let tmp_size = policy.resources.tmp_size;
    mounts.push(MountOp::Tmpfs {
        dst: PathBuf::from("/dev/shm"),
        mode: 0o1777,
        size: tmp_size,
    });
    for (name, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        mounts.push(MountOp::Symlink {
            target: PathBuf::from(target),
            dst: Path::new("/dev").join(name),
        });
    }
    rules.push((PathBuf::from("/dev"), Access::Devices));
    rules.push((PathBuf::from("/dev/shm"), Access::ReadWrite));
    rules.push((PathBuf::from("/dev/pts"), Access::Devices));

    if policy.scratch {
        mounts.push(MountOp::Tmpfs {
            dst: PathBuf::from("/tmp"),
            mode: 0o1777,
            size: tmp_size,
        });
        mounts.push(MountOp::Tmpfs {
            dst: policy.home.clone(),
            mode: 0o700,
            size: tmp_size,
        });
    } else {
        let tmp_dir = canonical(&policy.tmp_dir, "tmp_dir")?;
        mounts.push(bind_rw(&tmp_dir, Path::new("/tmp")));
        let home_dir = canonical(&policy.home_dir, "home_dir")?;
        mounts.push(bind_rw(&home_dir, &policy.home));
    }
    rules.push((PathBuf::from("/tmp"), Access::ReadWrite));
    rules.push((policy.home.clone(), Access::ReadWrite));

    let worktree = canonical(&policy.worktree, "worktree")?;
    let prepared = if policy.worktree_read_only {
        // Nothing in it is writable: no overlay, no protected paths, no `.git` bind.
        overlay::Prepared {
            protected: Vec::new(),
            ancestors: Vec::new(),
            layers: None,
        }
    } else {
        overlay::prepare(policy, &worktree)?
    };
    if policy.worktree_read_only {
        mounts.push(bind_ro(&worktree, &worktree, false));
    } else if prepared.layers.is_some() {
        mounts.push(MountOp::Overlay {
            dst: worktree.clone(),
            upper: worktree.clone(),
        });
        // The repository past the overlay, straight from the host: an overlay caches
        // what it looked up, and git's refs and index, rewritten by rename, must never
        // be stale for a sandbox that runs beside another one (see `linux/overlay.rs`).
        let git = worktree.join(".git");
        if std::fs::symlink_metadata(&git).is_ok_and(|m| m.is_dir()) {
            mounts.push(bind_rw(&git, &git));
        }
    } else {
        mounts.push(bind_rw(&worktree, &worktree));
    }
    let access = if policy.worktree_read_only {
        Access::ReadExec
    } else {
        Access::ReadWrite
    };
    rules.push((worktree.clone(), access));
    for path in &policy.read_write {
        if let Ok(real) = std::fs::canonicalize(path) {
            let file = !real.is_dir();
            mounts.push(MountOp::Bind {
                src: real.clone(),
                dst: path.clone(),
                ro: false,
                dev: false,
                file,
                create: true,
            });
            rules.push((path.clone(), Access::ReadWrite));
        }
    }
    for path in &policy.read_only {
        if let Ok(real) = std::fs::canonicalize(path) {
            mounts.push(bind_ro(&real, path, !real.is_dir()));
            rules.push((path.clone(), Access::ReadExec));
        }
    }
    for path in &policy.sockets {
        if let Ok(real) = std::fs::canonicalize(path) {
            mounts.push(bind_ro(&real, path, true));
        }
    }

    // Always-read-only paths: a read-only bind on each (the host path, or the
    // skeleton's empty dir where the host has none), and a self-bind of every directory
    // between the worktree and it, so no parent can be renamed away and back.
    for anc in &prepared.ancestors {
        mounts.push(MountOp::Pin { dst: anc.clone() });
    }
    for p in &prepared.protected {
        mounts.push(MountOp::Bind {
            src: p.source.clone(),
            dst: p.path.clone(),
            ro: true,
            dev: false,
            file: p.file,
            create: false,
        });
    }

    // Parents before children; the sort is stable, so equal depths keep policy order.
    mounts.sort_by_key(|m| m.dst().components().count());
    Ok(Plan {
        mounts,
        rules,
        overlay: prepared.layers,
    })
}

fn bind_ro(src: &Path, dst: &Path, file: bool) -> MountOp {
    MountOp::Bind {
        src: src.to_path_buf(),
        dst: dst.to_path_buf(),
        ro: true,
        dev: false,
        file,
        create: true,
    }
}

fn bind_rw(src: &Path, dst: &Path) -> MountOp {
    MountOp::Bind {
        src: src.to_path_buf(),
        dst: dst.to_path_buf(),
        ro: false,
        dev: false,
        file: false,
        create: true,
    }
}

fn canonical(path: &Path, field: &str) -> Result<PathBuf, SandboxError> {
    std::fs::canonicalize(path)
        .map_err(|e| SandboxError::sys(Layer::Policy, format!("{field} `{}`", path.display()), e))
}
