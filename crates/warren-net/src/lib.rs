//! An environment's network daemon (docs/SECURITY.md, "Network").
//!
//! An `isolated`, `open` or `none` environment has a network namespace of its own
//! with nothing but loopback. Its daemon runs in the host's namespace and holds the
//! only sockets that cross: the egress proxy's listener inside the namespace (served by
//! `warren-egress`, logging every request to the store) and, on request of the router,
//! connections it opens to the environment's service ports from inside. It needs no
//! iptables, veth or bridge, so it works where dockerd runs with `--iptables=false`.
//!
//! The daemon of a sandbox environment is forked by the sandbox helper that creates
//! the namespace ([`serve_handoff`]); that of a Docker environment (run with
//! `--network none`) is started by warren once the container runs ([`serve_pid`]),
//! entering the container's namespace by its pid. Either way it lives as long as the
//! environment and talks to the rest of warren through a unix socket in its 0700 dir
//! `ROOT/net/<name>/` ([`dial`]).

pub mod daemon;
pub mod dial;
mod factory;
mod log;

pub use daemon::{serve_fds, serve_pid};
pub use dial::connect;

/// The daemon's unix socket in its dir.
pub const SOCKET: &str = "sock";
/// Its configuration ([`warren_core::network::NetConfig`]) in its dir.
pub const CONFIG: &str = "net.json";
/// Its pid (Docker environments: so `stop` can end it).
pub const PID_FILE: &str = "netd.pid";

/// The hidden subcommand under which the `warren` binary runs a network daemon.
pub const DAEMON_SUBCOMMAND: &str = "__netd";

/// Entry point of `warren __netd --dir DIR` and either
/// - `--netns-fd N [--listener-fd M]`: executed by the sandbox helper that made the
///   namespace (it dies with the helper), or
/// - `--pid PID`: a container's; detaches (the caller reaps this process at once; the
///   daemon lives on in a session of its own, output in `DIR/netd.log`) and serves
///   until process PID ends.
///
/// Returns the exit code.
pub fn daemon_main(args: Vec<std::ffi::OsString>) -> i32 {
    let mut pid: Option<i32> = None;
    let mut netns: Option<i32> = None;
    let mut listener: Option<i32> = None;
    let mut dir: Option<std::path::PathBuf> = None;
    let mut it = args.into_iter();
    let num = |v: Option<std::ffi::OsString>| v.and_then(|v| v.to_str()?.parse::<i32>().ok());
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--pid") => pid = num(it.next()),
            Some("--netns-fd") => netns = num(it.next()),
            Some("--listener-fd") => listener = num(it.next()),
            Some("--dir") => dir = it.next().map(Into::into),
            _ => return 2,
        }
    }
    let Some(dir) = dir else { return 2 };
    if let Some(fd) = netns {
        let take = |fd: i32| -> Option<std::os::fd::OwnedFd> {
            if fd < 3 {
                return None;
            }
            // SAFETY: the helper placed these descriptors here for this process
            // alone before exec (`--netns-fd`, `--listener-fd`).
            Some(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
        };
        let Some(netns) = take(fd) else { return 2 };
        let listener = listener.and_then(take).map(std::net::TcpListener::from);
        return daemon::serve_fds(&dir, netns, listener);
    }
    let Some(pid) = pid else { return 2 };
    // SAFETY: this process is single-threaded here (nothing has started a thread
    // before `main` dispatched to us), so the child may run any code.
    match unsafe { libc::fork() } {
        -1 => 1,
        0 => {
            let _ = rustix::process::setsid();
            if let Ok(log) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("netd.log"))
            {
                use std::os::fd::AsRawFd;
                // SAFETY: dup2 only replaces descriptors 1 and 2.
                unsafe {
                    libc::dup2(log.as_raw_fd(), 1);
                    libc::dup2(log.as_raw_fd(), 2);
                }
            }
            serve_pid(pid, &dir)
        }
        _ => 0,
    }
}
