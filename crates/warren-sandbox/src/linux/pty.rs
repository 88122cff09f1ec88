//! The terminal of an interactive command ([`crate::Policy::tty`]), as `docker exec -it`
//! or ssh give one: a new pseudo-terminal from the sandbox's own `/dev/pts`, which the
//! command gets as stdin, stdout, stderr and controlling terminal (so job control,
//! Ctrl-C and `tty` work inside), and which the helper connects to its own stdin and
//! stdout (the user's terminal, in raw mode meanwhile).
//!
//! Why a new pty rather than the user's terminal: a command whose controlling terminal
//! is the user's could push keystrokes into the user's shell with TIOCSTI (refused by
//! seccomp, but also where a kernel lacks the filter's view, e.g. a new ioctl alias).
//! With its own pty, the most it can reach is its own input. Ctrl-C arrives as a byte
//! (the user's terminal is raw) and the pty's line discipline signals the foreground
//! process group inside; a window change (SIGWINCH to the helper) becomes TIOCSWINSZ on
//! the master, which signals that group too.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use rustix::pty::OpenptFlags;
use rustix::termios::{OptionalActions, Termios};

use super::sys;
use crate::error::{Layer, SandboxError};

fn err(what: &str, e: impl Into<std::io::Error>) -> SandboxError {
    SandboxError::sys(Layer::Process, what, e.into())
}

/// Opens a new pty master from the `/dev/ptmx` of the calling process's mount namespace
/// (the sandbox's, so the command's `tty` names a path that exists inside) and gives it
/// the user's window size.
pub(crate) fn open_master() -> Result<OwnedFd, SandboxError> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .map_err(|e| err("opening /dev/ptmx", e))?;
    rustix::pty::unlockpt(&master).map_err(|e| err("unlockpt", e))?;
    copy_window_size(&master);
    Ok(master)
}

/// In the command's process, before its restrictions: a new session whose controlling
/// terminal is the slave of `master`, on fds 0, 1 and 2. (The caller closes `master`
/// with every other inherited descriptor.)
pub(crate) fn attach(master: &OwnedFd) -> Result<(), SandboxError> {
    rustix::process::setsid().map_err(|e| err("setsid", e))?;
    // TIOCGPTPEER opens the slave from the master itself, without a path lookup that a
    // process of the sandbox could redirect.
    let slave = rustix::pty::ioctl_tiocgptpeer(master, OpenptFlags::RDWR | OpenptFlags::NOCTTY)
        .map_err(|e| err("ioctl(TIOCGPTPEER)", e))?;
    rustix::process::ioctl_tiocsctty(&slave).map_err(|e| err("ioctl(TIOCSCTTY)", e))?;
    for target in 0..=2 {
        sys::dup_onto(&slave, target).map_err(|e| err("dup2 of the pty", e))?;
    }
    Ok(())
}

/// A connected pair of sockets to hand a pty master over (pid 1 opens it inside the
/// mount namespace it built; the helper, outside, relays it).
pub(crate) fn channel() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| err("socketpair", e))
}

/// Sends `fd` over `sock` (SCM_RIGHTS).
pub(crate) fn send_fd(sock: &OwnedFd, fd: &OwnedFd) -> Result<(), SandboxError> {
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        sock,
        &[IoSlice::new(b"p")],
        &mut control,
        SendFlags::empty(),
    )
    .map_err(|e| err("sending the pty", e))?;
    Ok(())
}

/// Receives the descriptor [`send_fd`] sent (it is already there: the sender sent it
/// before the command started).
pub(crate) fn recv_fd(sock: &OwnedFd) -> Result<OwnedFd, SandboxError> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    rustix::net::recvmsg(
        sock,
        &mut [IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
    )
    .map_err(|e| err("receiving the pty", e))?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    Err(SandboxError::layer(
        Layer::Process,
        "the sandbox's pid 1 sent no pty",
    ))
}

fn stdin() -> BorrowedFd<'static> {
    sys::stdio(0)
}

fn stdout() -> BorrowedFd<'static> {
    sys::stdio(1)
}

/// Gives `master` the window size of the user's terminal (stdout, else stdin).
fn copy_window_size(master: &OwnedFd) {
    let size =
        rustix::termios::tcgetwinsize(stdout()).or_else(|_| rustix::termios::tcgetwinsize(stdin()));
    if let Ok(size) = size
        && size.ws_row > 0
    {
        let _ = rustix::termios::tcsetwinsize(master, size);
    }
}

/// The user's terminal in raw mode; its previous mode comes back when dropped, on every
/// way out of the helper that runs destructors (the helper blocks the signals that end
/// a process by default and only ends when the command has).
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        let saved = rustix::termios::tcgetattr(stdin()).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(stdin(), OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // Drain: output still on its way must not be interpreted in raw mode.
        let _ = rustix::termios::tcsetattr(stdin(), OptionalActions::Drain, &self.saved);
    }
}

/// Copies bytes between the user's terminal and the pty master.
pub(crate) struct Relay {
    master: OwnedFd,
    master_open: bool,
    stdin_open: bool,
    /// Input read from the user that the pty has not taken yet.
    pending: Vec<u8>,
    _raw: Option<RawMode>,
}

impl Relay {
    /// Starts relaying for `master` (raw mode on the user's terminal when stdin is one).
    pub(crate) fn new(master: OwnedFd) -> Relay {
        // Non-blocking: a pty whose input queue is full must not stall the loop (the
        // helper also watches signals and the lifeline).
        let _ = rustix::io::ioctl_fionbio(&master, true);
        copy_window_size(&master);
        Relay {
            master,
            master_open: true,
            stdin_open: true,
            pending: Vec::new(),
            _raw: RawMode::enter(),
        }
    }

    /// Descriptors to poll, appended to `fds`; returns how many.
    pub(crate) fn poll_fds<'a>(&'a self, fds: &mut Vec<PollFd<'a>>) -> usize {
        let mut n = 0;
        if self.master_open {
            let mut flags = PollFlags::IN;
            if !self.pending.is_empty() {
                flags |= PollFlags::OUT;
            }
            fds.push(PollFd::new(&self.master, flags));
            n += 1;
        }
        if self.stdin_open && self.pending.is_empty() {
            fds.push(PollFd::from_borrowed_fd(stdin(), PollFlags::IN));
            n += 1;
        }
        n
    }

    /// Moves what is ready, given the `revents` of the descriptors [`Self::poll_fds`]
    /// added (in the same order).
    pub(crate) fn on_ready(&mut self, revents: &[PollFlags]) {
        let mut it = revents.iter();
        let master = if self.master_open {
            it.next().copied().unwrap_or(PollFlags::empty())
        } else {
            PollFlags::empty()
        };
        let input = if self.stdin_open && self.pending.is_empty() {
            it.next().copied().unwrap_or(PollFlags::empty())
        } else {
            PollFlags::empty()
        };
        if !master.is_empty() {
            self.copy_output();
        }
        if !input.is_empty() {
            let mut buf = [0u8; 4096];
            match rustix::io::read(stdin(), &mut buf) {
                Ok(0) => self.stdin_open = false,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(Errno::INTR | Errno::AGAIN) => {}
                Err(_) => self.stdin_open = false,
            }
        }
        if !self.pending.is_empty() && self.master_open {
            match rustix::io::write(&self.master, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::INTR | Errno::AGAIN) => {}
                Err(_) => self.pending.clear(),
            }
        }
    }

    /// Copies what the command wrote to the user's stdout; `true` if anything was.
    fn copy_output(&mut self) -> bool {
        let mut buf = [0u8; 8192];
        let mut any = false;
        loop {
            match rustix::io::read(&self.master, &mut buf) {
                Ok(0) => {
                    self.master_open = false;
                    return any;
                }
                Ok(n) => {
                    any = true;
                    write_all(stdout(), &buf[..n]);
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return any,
                // EIO: every slave descriptor is closed.
                Err(_) => {
                    self.master_open = false;
                    return any;
                }
            }
        }
    }

    /// The user's window changed (SIGWINCH): the pty follows, which signals the
    /// command's foreground process group.
    pub(crate) fn resize(&self) {
        copy_window_size(&self.master);
    }

    /// After the command exited: copies what it wrote last, without waiting for more
    /// input, and for at most a moment (a background job may keep the pty open).
    pub(crate) fn finish(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(200);
        while self.master_open && Instant::now() < deadline {
            let mut fds = [PollFd::new(&self.master, PollFlags::IN)];
            let wait = rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: 20_000_000,
            };
            match poll(&mut fds, Some(&wait)) {
                Ok(0) => return,
                Ok(_) => {
                    if !self.copy_output() && self.master_open {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::OUT)];
                let _ = poll(&mut fds, None);
            }
            Err(_) => return,
        }
    }
}
