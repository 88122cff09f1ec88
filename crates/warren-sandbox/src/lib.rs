//! warren's native sandbox (docs/SECURITY.md): runs a command of an environment with
//! only its worktree, its private `/tmp` and `$HOME`, and the paths its [`Policy`]
//! grants, without a container engine, bwrap or root.
//!
//! # Layers (Linux)
//! New user, pid, mount, ipc, uts and cgroup namespaces (+ network for `network: none`);
//! a fresh tmpfs root with read-only system trees, a few `/etc` files, its own `/proc`
//! and a minimal `/dev`; the worktree as an overlay whose upper layer is the host
//! worktree itself (writes land there at once) and whose lower layer supplies the
//! always-read-only paths that do not exist on the host, so every one of them is a
//! read-only mount point without a placeholder in the host tree (their ancestors are
//! mount points too, so they cannot be renamed away); a new session; death with the
//! parent; no capabilities, locked securebits and `no_new_privs`; a seccomp deny-list;
//! Landlock rules mirroring the mounts, TCP denial when offline, and
//! abstract-socket/signal scoping. Every layer is required: if one cannot be set up the
//! command does not run ([`SandboxError`] names the layer). [`probe`] reports which
//! layers this kernel supports.
//!
//! # Process model
//! `helper (host pid) ─ pid 1 (mini init) ─ command`. The helper enters the user and
//! pid namespaces and forks pid 1, which builds the rest, restricts itself, forks the
//! command, forwards signals and reaps. While a sandbox of the environment with the same
//! view runs, a new one enters that one's user namespace and a copy of its mount
//! namespace instead of building a root, so they share one worktree overlay.
//! [`exec_in_place`] makes the calling process the helper (the CLI's fast path,
//! single-threaded); [`spawn`] re-executes the current binary as `warren __sandbox` (the
//! helper ships in the one binary; its `main` calls [`helper_main`]) so multi-threaded
//! callers never run setup code after `fork`. An interactive command
//! ([`Policy::tty`]) gets a pty of the sandbox's own `/dev/pts` as its controlling
//! terminal, which the helper relays to its caller's terminal (`linux/pty.rs`).
//!
//! # Crates
//! `rustix` for namespaces, the new mount API (`open_tree`/`move_mount`, fd-based and
//! symlink-safe), `pivot_root`, prctl and capabilities (safe wrappers, no libc
//! allocation surprises; `nix` lacks the new mount API and capability sets); the
//! Landlock project's `landlock` (best-effort ABI handling, scopes); Firecracker's
//! `seccompiler` (pure Rust BPF generation, no libseccomp C dependency); `libc` only for
//! the few calls none of them wrap (fork, signal masks, signalfd, `mount_setattr`),
//! all in `linux/sys.rs`.
//!
//! On macOS, [`seatbelt::profile`] renders the same policy as a `sandbox-exec` profile.

mod env;
mod error;
mod policy;
mod probe_types;
mod registry;
pub mod seatbelt;

#[cfg(target_os = "linux")]
mod linux;

pub use env::{prepare_env, remove_env, remove_env_except_worktree};
pub use error::{Layer, SandboxError};
pub use policy::{Network, PROTECTED_WORKTREE_NAMES, Policy, ancestors_between};
pub use probe_types::LayerStatus;
pub use registry::{Instance, is_running, list, stop_all};

#[cfg(target_os = "linux")]
pub use linux::netns::{DAEMON_SUBCOMMAND as NET_DAEMON_SUBCOMMAND, EGRESS_PORT};
#[cfg(target_os = "linux")]
pub use linux::spawn::{
    HELPER_SUBCOMMAND, SandboxChild, SandboxStdio, exec_in_place, helper_main, spawn, spawn_forked,
    spawn_keeper, spawn_keeper_with_helper, spawn_with_helper,
};

/// Which isolation layers this machine supports (for `warren doctor`).
#[cfg(target_os = "linux")]
pub fn probe() -> Vec<LayerStatus> {
    linux::probe::probe()
}

#[cfg(not(target_os = "linux"))]
mod unsupported {
    use std::ffi::OsString;

    use crate::{LayerStatus, Policy, SandboxError};

    /// The hidden subcommand under which the `warren` binary acts as the helper.
    pub const HELPER_SUBCOMMAND: &str = "__sandbox";

    fn unsupported() -> SandboxError {
        SandboxError::Unsupported(std::env::consts::OS.to_string())
    }

    /// Not available on this platform.
    pub fn exec_in_place(_policy: &Policy, _argv: &[OsString]) -> Result<i32, SandboxError> {
        Err(unsupported())
    }

    /// Not available on this platform.
    #[allow(clippy::print_stderr)] // the helper process has no printer
    pub fn helper_main(_args: Vec<OsString>) -> i32 {
        eprintln!("warren: {}", unsupported());
        125
    }

    /// No layer is available here.
    pub fn probe() -> Vec<LayerStatus> {
        vec![LayerStatus::no_platform()]
    }
}

#[cfg(not(target_os = "linux"))]
pub use unsupported::{HELPER_SUBCOMMAND, exec_in_place, helper_main, probe};
