//! The few raw syscalls no well-kept crate wraps safely (fork, signal masks and
//! signalfd, `mount_setattr`, `close_range`, execve, the capability bounding set).
//! Every `unsafe` block of the crate lives here, each with its justification.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Result of [`fork`].
pub(crate) enum Fork {
    Child,
    Parent(libc::pid_t),
}

/// `fork(2)`.
pub(crate) fn fork() -> io::Result<Fork> {
    // SAFETY: fork has no memory-safety preconditions of its own. Callers are either
    // single-threaded (the helper, the CLI before its runtime — enforced by
    // unshare(CLONE_NEWUSER), which fails with EINVAL with several threads — and pid 1),
    // or, in `probe`, a child that makes raw syscalls only on pre-allocated data.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid)),
    }
}

/// The signals the helper and pid 1 forward to the command.
pub(crate) const FORWARDED: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGALRM,
];

/// A signal set (`sigset_t`).
#[derive(Clone, Copy)]
pub(crate) struct SigSet(libc::sigset_t);

impl SigSet {
    pub(crate) fn of(signals: &[libc::c_int]) -> SigSet {
        // SAFETY: sigemptyset/sigaddset only write into the zeroed local set.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in signals {
                libc::sigaddset(&mut set, s);
            }
            SigSet(set)
        }
    }

    /// The forwarded signals plus SIGCHLD.
    pub(crate) fn waited() -> SigSet {
        let mut all = FORWARDED.to_vec();
        all.push(libc::SIGCHLD);
        SigSet::of(&all)
    }
}

/// Blocks `set`, returning the previous mask.
pub(crate) fn block(set: &SigSet) -> io::Result<SigSet> {
    // SAFETY: both pointers are valid sigset_t values owned by this frame.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        if libc::sigprocmask(libc::SIG_BLOCK, &set.0, &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SigSet(old))
    }
}

/// Sets the signal mask to `set`.
pub(crate) fn set_mask(set: &SigSet) -> io::Result<()> {
    // SAFETY: a valid sigset_t pointer; the old mask is not requested.
    let rc = unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set.0, std::ptr::null_mut()) };
    if rc != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Resets every catchable signal to its default action. Ignored dispositions survive
/// execve: the Rust runtime ignores SIGPIPE, and `yes | head` must still terminate.
pub(crate) fn reset_signal_dispositions() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition; errors (EINVAL for reserved
        // real-time signals used by libc) are ignored on purpose.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// A `signalfd` for `set` (the signals must be blocked).
pub(crate) fn signalfd(set: &SigSet) -> io::Result<OwnedFd> {
    // SAFETY: valid sigset pointer; on success the kernel returns a new fd we own.
    let fd = unsafe { libc::signalfd(-1, &set.0, libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads one signal from a signalfd; `Ok(None)` when interrupted.
pub(crate) fn read_signal(fd: BorrowedFd<'_>) -> io::Result<Option<libc::c_int>> {
    // SAFETY: signalfd_siginfo is plain old data; the kernel fills at most its size.
    unsafe {
        let mut info: libc::signalfd_siginfo = std::mem::zeroed();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        let n = libc::read(
            fd.as_raw_fd(),
            (&mut info as *mut libc::signalfd_siginfo).cast(),
            size,
        );
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted || err.kind() == io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            return Err(err);
        }
        if n as usize != size {
            return Ok(None);
        }
        Ok(Some(info.ssi_signo as libc::c_int))
    }
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// Shell convention: the code, or 128 + the signal number.
    pub(crate) fn code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// `waitpid(pid, WNOHANG or blocking)`; `Ok(None)` when nothing changed (or EINTR).
pub(crate) fn waitpid(pid: libc::pid_t, nohang: bool) -> io::Result<Option<(libc::pid_t, Exit)>> {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer.
    let rc = unsafe { libc::waitpid(pid, &mut status, if nohang { libc::WNOHANG } else { 0 }) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(None);
        }
        return Err(err);
    }
    if rc == 0 {
        return Ok(None);
    }
    let exit = if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else if libc::WIFEXITED(status) {
        Exit::Code(libc::WEXITSTATUS(status))
    } else {
        return Ok(None);
    };
    Ok(Some((rc, exit)))
}

/// `kill(pid, sig)`.
pub(crate) fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `_exit(code)`: leave without running atexit handlers or flushing stdio buffers that
/// belong to the parent's copy of the address space.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Closes every descriptor >= `from` except `keep` (which must be sorted ascending).
pub(crate) fn close_fds_from(from: RawFd, keep: &[RawFd]) -> io::Result<()> {
    let mut start = from as libc::c_uint;
    for &k in keep {
        let k = k as libc::c_uint;
        if k < start {
            continue;
        }
        if k > start {
            close_range(start, k - 1)?;
        }
        start = k + 1;
    }
    close_range(start, libc::c_uint::MAX)
}

fn close_range(first: libc::c_uint, last: libc::c_uint) -> io::Result<()> {
    // SAFETY: close_range only closes descriptors; callers keep no borrowed fds in range
    // (pid 1 calls this first thing, before it opens anything of its own).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    if rc != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `struct mount_attr` of `mount_setattr(2)` (not in the libc crate).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x4;

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {set, private})`: sets mount
/// flags on the mount `fd` refers to (and, recursively, every mount beneath). Unlike a
/// classic `MS_REMOUNT|MS_BIND`, it never needs to repeat locked flags and reaches
/// sub-mounts in one call (kernel 5.12+, below Landlock's minimum anyway).
pub(crate) fn mount_setattr(fd: BorrowedFd<'_>, set: u64, recursive: bool) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= 0x8000; // AT_RECURSIVE
    }
    // SAFETY: the path is a valid empty C string, attr is a live repr(C) struct and its
    // exact size is passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Drops capability `cap` from the bounding set; `Ok(false)` past the last capability.
pub(crate) fn capbset_drop(cap: libc::c_ulong) -> io::Result<bool> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINVAL) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Whether `cap` is still in the bounding set; `None` past the last capability.
pub(crate) fn capbset_read(cap: libc::c_ulong) -> Option<bool> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) };
    if rc < 0 { None } else { Some(rc == 1) }
}

/// `execve(path, argv, envp)`; returns only on failure.
pub(crate) fn execve(path: &CString, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    // SAFETY: every pointer refers to a NUL-terminated string kept alive by the slices
    // above for the duration of the call; both arrays are NULL-terminated.
    unsafe {
        libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr());
    }
    io::Error::last_os_error()
}

/// Clears `FD_CLOEXEC` on `fd`, so the helper inherits it. Async-signal-safe: used in
/// `pre_exec`, between fork and exec of a multi-threaded caller.
pub(crate) fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an integer fd; no memory is touched.
    let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    if rc != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`: the ABI version.
pub(crate) fn landlock_abi() -> io::Result<i64> {
    // SAFETY: with a NULL attr and size 0 the kernel reads no memory and returns a version.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Makes `fds` survive the exec of `cmd` (they stay close-on-exec in this process, so
/// other children spawned concurrently by other threads never inherit them).
pub(crate) fn inherit_fds(cmd: &mut std::process::Command, fds: Vec<RawFd>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec of a possibly multi-threaded
    // parent; it only calls fcntl (async-signal-safe) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                clear_cloexec(fd)?;
            }
            Ok(())
        });
    }
}

/// Takes ownership of a descriptor this process inherited and was told about on its
/// command line; marks it close-on-exec again.
pub(crate) fn take_inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 3 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: F_SETFD on an integer fd touches no memory; EBADF if it is not open.
    let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd is open (checked above) and was handed to this process by its
    // parent for exactly this purpose; nothing else in the process owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether the calling process has a single thread (`Threads:` of
/// `/proc/self/status`): then a fork copies no lock another thread holds.
pub(crate) fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .is_some_and(|n| n.trim() == "1")
    })
}

/// Points stdin at `/dev/null` (in a forked helper whose command gets no input).
pub(crate) fn stdin_null() -> io::Result<()> {
    let null = std::fs::File::open("/dev/null")?;
    // SAFETY: dup2 onto fd 0 only replaces the descriptor; `null` stays owned and
    // is closed when dropped.
    let rc = unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Brings the loopback interface of the calling thread's network namespace up (a new
/// namespace starts with `lo` down: nothing, not even 127.0.0.1, would answer).
pub(crate) fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain socket(2); the fd is owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket(2) and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: the ioctls read and write only `req`, which lives across the calls.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Points stdin at `/dev/null` and stdout/stderr at `log` (a forked daemon).
pub(crate) fn redirect_stdio(log: &std::fs::File) -> io::Result<()> {
    let null = std::fs::File::open("/dev/null")?;
    for (from, to) in [
        (null.as_raw_fd(), 0),
        (log.as_raw_fd(), 1),
        (log.as_raw_fd(), 2),
    ] {
        // SAFETY: dup2 only replaces descriptor `to`; `from` stays owned.
        if unsafe { libc::dup2(from, to) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Moves `fds` to descriptors `first`, `first + 1`, … without close-on-exec, and
/// closes every other descriptor from `first` up (right before an exec).
pub(crate) fn place_fds(fds: &[OwnedFd], first: RawFd) -> io::Result<()> {
    // Out of the way first, so a dup2 never lands on a descriptor still to be moved.
    let mut moved = Vec::with_capacity(fds.len());
    for fd in fds {
        // SAFETY: F_DUPFD_CLOEXEC on a valid descriptor makes a new one above 100.
        let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 100) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        moved.push(n);
    }
    for (i, n) in moved.iter().enumerate() {
        let to = first + i as RawFd;
        // SAFETY: dup2 replaces descriptor `to` (no close-on-exec on the copy).
        if unsafe { libc::dup2(*n, to) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    close_range(
        (first + fds.len() as RawFd) as libc::c_uint,
        libc::c_uint::MAX,
    )
}

/// Makes descriptor `target` (0, 1 or 2) a copy of `fd` (the command's terminal),
/// without close-on-exec.
pub(crate) fn dup_onto(fd: &OwnedFd, target: RawFd) -> io::Result<()> {
    // SAFETY: dup2 only replaces descriptor `target`, which no Rust object of this
    // process owns (the standard streams); `fd` stays owned by the caller.
    if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A borrow of standard stream `fd` (0, 1 or 2) for the life of the process.
pub(crate) fn stdio(fd: RawFd) -> BorrowedFd<'static> {
    debug_assert!((0..=2).contains(&fd));
    // SAFETY: the helper never closes its standard streams (they are only read,
    // written and ioctl'd), so a 'static borrow of one stays valid; a stream the
    // caller left closed just makes every call on it fail with EBADF.
    unsafe { BorrowedFd::borrow_raw(fd) }
}
