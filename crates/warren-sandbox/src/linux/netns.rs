//! The environment's network namespace and its daemon (docs/SECURITY.md, "Network").
//!
//! The helper that creates an environment's namespaces (in its user namespace, before
//! the pid namespace) first forks the network daemon, which stays in the host's network
//! namespace; then it unshares a network namespace of its own, brings its loopback up,
//! opens the egress proxy's listener on `127.0.0.1:EGRESS_PORT` there, and hands the
//! daemon that listener and a descriptor of the namespace. No iptables, veth or bridge:
//! the namespace has nothing but `lo`, so nothing inside can reach anything outside but
//! through sockets the daemon holds — connections it accepts on that listener (the
//! egress proxy) and connections it makes into the namespace (the router reaching a
//! service). The daemon dies with the helper (death signal), so with the environment.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags, open};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketAddrV4, SocketFlags, SocketType, sockopt,
};
use rustix::process::{Signal, set_parent_process_death_signal};
use rustix::thread::UnshareFlags;

use super::{namespaces, sys};
use crate::error::{Layer, SandboxError};
use crate::policy::{Network, Policy};

pub use warren_core::network::EGRESS_PORT;

/// The hidden subcommand of the `warren` binary that serves an environment's network
/// (`warren-net`); the daemon the helper forks execs it, so it starts as a fresh process.
pub const DAEMON_SUBCOMMAND: &str = "__netd";

fn err(what: &str, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::sys(Layer::NetNamespace, what, e)
}

/// Gives the calling process (the helper, in the sandbox's user namespace) a new
/// network namespace with loopback up and, with `policy.net_dir`, forks the daemon and
/// hands it the namespace. Returns the daemon's pid.
/// `origin`: the cgroups the daemon moves back to (out of the environment's).
pub(crate) fn create(
    policy: &Policy,
    origin: &[PathBuf],
) -> Result<Option<libc::pid_t>, SandboxError> {
    let mut forked = None;
    if let Some(dir) = policy.net_dir.clone() {
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| err("socketpair", e))?;
        let parent = rustix::process::getpid();
        match sys::fork().map_err(|e| err("fork of the network daemon", e))? {
            sys::Fork::Child => {
                drop(ours);
                // Not one of the environment's processes: its limits and its OOM
                // kills are not the daemon's (best effort: without the right to
                // move back, it stays, and counts against them).
                let _ = super::cgroup::add(origin, std::process::id());
                sys::exit_now(daemon_child(dir, theirs, parent))
            }
            sys::Fork::Parent(pid) => {
                drop(theirs);
                forked = Some((pid, ours));
            }
        }
    }
    let fail = |forked: &Option<(libc::pid_t, OwnedFd)>, e: SandboxError| {
        if let Some((pid, _)) = forked {
            let _ = sys::kill(*pid, libc::SIGKILL);
            let _ = sys::waitpid(*pid, false);
        }
        Err(e)
    };
    if let Err(e) = enter(policy) {
        return fail(&forked, e);
    }
    let Some((pid, sock)) = forked else {
        return Ok(None);
    };
    match handoff(policy, &sock) {
        Ok(()) => Ok(Some(pid)),
        Err(e) => fail(&Some((pid, sock)), e),
    }
}

/// Unshares the network namespace and brings loopback up.
fn enter(policy: &Policy) -> Result<(), SandboxError> {
    if policy.fail_layer == Some(Layer::NetNamespace) {
        return Err(SandboxError::layer(
            Layer::NetNamespace,
            "failure forced by the policy's test hook",
        ));
    }
    namespaces::enter(Layer::NetNamespace, UnshareFlags::NEWNET)?;
    sys::loopback_up().map_err(|e| err("bringing loopback up", e))
}

fn handoff(policy: &Policy, sock: &OwnedFd) -> Result<(), SandboxError> {
    let netns = open(
        "/proc/thread-self/ns/net",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("opening the network namespace", e))?;
    let listener = if policy.network == Network::Isolated {
        Some(listen(EGRESS_PORT)?)
    } else {
        None
    };
    let mut fds = vec![netns.as_fd()];
    fds.extend(listener.as_ref().map(|l| l.as_fd()));
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut buf = SendAncillaryBuffer::new(&mut space);
    buf.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        sock,
        &[std::io::IoSlice::new(&[fds.len() as u8])],
        &mut buf,
        SendFlags::empty(),
    )
    .map_err(|e| err("handing the network namespace to its daemon", e))?;
    Ok(())
}

/// A listening TCP socket on `127.0.0.1:port` of the current network namespace.
pub(crate) fn listen(port: u16) -> Result<OwnedFd, SandboxError> {
    let fd = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| err("socket", e))?;
    sockopt::set_socket_reuseaddr(&fd, true).map_err(|e| err("SO_REUSEADDR", e))?;
    rustix::net::bind(&fd, &SocketAddrV4::new([127, 0, 0, 1].into(), port))
        .map_err(|e| err(&format!("binding 127.0.0.1:{port}"), e))?;
    rustix::net::listen(&fd, 1024).map_err(|e| err("listen", e))?;
    Ok(fd)
}

/// The forked daemon: waits for the namespace, then executes `warren __netd` with it
/// (a fresh process: nothing of the helper's state, tokio's included, carries over).
/// Returns only on failure.
fn daemon_child(dir: PathBuf, sock: OwnedFd, parent: rustix::process::Pid) -> i32 {
    // Dies with the helper, so with the environment (kept across exec).
    if set_parent_process_death_signal(Some(Signal::KILL)).is_err()
        || rustix::process::getppid() != Some(parent)
    {
        return 125;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("netd.log"));
    if let Ok(log) = &log {
        let _ = sys::redirect_stdio(log);
    }
    let _ = sys::set_mask(&sys::SigSet::of(&[]));
    let mut byte = [0u8; 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        &sock,
        &mut [IoSliceMut::new(&mut byte)],
        &mut anc,
        RecvFlags::CMSG_CLOEXEC,
    );
    if !matches!(got, Ok(ref m) if m.bytes == 1) {
        return 125;
    }
    let mut fds: Vec<OwnedFd> = Vec::new();
    for msg in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = msg {
            fds.extend(rights);
        }
    }
    drop(sock);
    // The namespace at fd 3, the listener (if any) at fd 4: nothing else survives exec.
    let mut argv: Vec<std::ffi::CString> = Vec::new();
    let mut arg = |s: &[u8]| {
        if let Ok(c) = std::ffi::CString::new(s) {
            argv.push(c);
        }
    };
    arg(b"warren");
    arg(DAEMON_SUBCOMMAND.as_bytes());
    arg(b"--dir");
    arg(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()));
    arg(b"--netns-fd");
    arg(b"3");
    if fds.len() > 1 {
        arg(b"--listener-fd");
        arg(b"4");
    }
    if sys::place_fds(&fds, 3).is_err() {
        return 125;
    }
    let exe = c"/proc/self/exe".to_owned();
    let e = sys::execve(&exe, &argv, &[]);
    let _ = e;
    125
}
