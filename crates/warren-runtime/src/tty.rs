//! The local terminal: raw mode for interactive sessions, its size, and reading
//! stdin in a way that stops when the session does.

use std::io::IsTerminal;
use std::os::fd::{AsFd, OwnedFd};

use nix::sys::termios::{self, SetArg, Termios};

/// Restores the terminal's previous mode when dropped.
pub struct RawModeGuard {
    saved: Termios,
}

impl RawModeGuard {
    /// Puts stdin's terminal in raw mode; `None` when stdin is not a terminal.
    pub fn enter() -> std::io::Result<Option<RawModeGuard>> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let saved = termios::tcgetattr(stdin.as_fd()).map_err(std::io::Error::from)?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).map_err(std::io::Error::from)?;
        Ok(Some(RawModeGuard { saved }))
    }
}

impl Drop for RawModeGuard {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Rows and columns of the terminal on stdout (or stdin), if any.
pub fn size() -> Option<(u16, u16)> {
    nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);
    for fd in [libc::STDOUT_FILENO, libc::STDIN_FILENO, libc::STDERR_FILENO] {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one `winsize` into the pointer we pass,
        // which points at a live, properly aligned local.
        if unsafe { tiocgwinsz(fd, &mut ws) }.is_ok() && ws.ws_row > 0 && ws.ws_col > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

/// Whether stdin and stdout are both terminals (an interactive user).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Stops a [`stdin_reader`] when dropped.
pub struct StdinStop {
    _stop: OwnedFd,
}

/// Reads this process's stdin on a thread of its own and hands each chunk to the
/// returned channel, until stdin ends or the [`StdinStop`] is dropped.
///
/// Why not `tokio::io::stdin()`: it reads on the runtime's blocking pool, and a read
/// of a terminal cannot be cancelled, so after the remote command ended the process
/// would wait at runtime shutdown for one more key press, and that key would be eaten.
/// This thread polls stdin together with a pipe the stop handle closes, and reads only
/// when input is there, so it leaves the moment the session ends, taking no byte the
/// user's shell should get; it is never joined.
pub fn stdin_reader() -> std::io::Result<(tokio::sync::mpsc::Receiver<Vec<u8>>, StdinStop)> {
    use rustix::event::{PollFd, PollFlags, poll};
    let (stop_r, stop_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut buf = vec![0u8; 8192];
            loop {
                let mut fds = [
                    PollFd::new(&stop_r, PollFlags::IN),
                    PollFd::new(&stdin, PollFlags::IN),
                ];
                match poll(&mut fds, None) {
                    Ok(_) => {}
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => return,
                }
                if !fds[0].revents().is_empty() {
                    return;
                }
                if fds[1].revents().is_empty() {
                    continue;
                }
                match rustix::io::read(&stdin, &mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                    Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                    Err(_) => return,
                }
            }
        })?;
    Ok((rx, StdinStop { _stop: stop_w }))
}
