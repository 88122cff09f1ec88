//! The daemon's unix socket: the router asks for a connection to a service port and
//! gets back a TCP socket connected inside the environment's network namespace
//! (passed with `SCM_RIGHTS`). Request: the port, 2 bytes big-endian. Answer: 4 bytes,
//! `0` and the socket, or an errno.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::TcpStream;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// A connection to `127.0.0.1:port` inside the environment whose daemon dir is
/// `net_dir` (blocking; call it off the async runtime).
pub fn connect(net_dir: &Path, port: u16) -> io::Result<TcpStream> {
    let mut sock = UnixStream::connect(net_dir.join(crate::SOCKET)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "the environment's network daemon does not answer at `{}` ({e}); `warren restart` the environment",
                net_dir.display()
            ),
        )
    })?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    sock.write_all(&port.to_be_bytes())?;
    let mut code = [0u8; 4];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        &sock,
        &mut [IoSliceMut::new(&mut code)],
        &mut anc,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    if got.bytes < code.len() {
        // The rest of a short read (never split in practice; a stream allows it).
        sock.read_exact(&mut code[got.bytes..])?;
    }
    let errno = i32::from_be_bytes(code);
    let mut fd: Option<OwnedFd> = None;
    for msg in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(mut rights) = msg {
            fd = fd.or_else(|| rights.next());
        }
    }
    match (errno, fd) {
        (0, Some(fd)) => Ok(TcpStream::from(fd)),
        (0, None) => Err(io::Error::other("the network daemon sent no socket")),
        (e, _) => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Serves one request on `conn` with `make`.
pub(crate) fn answer(
    mut conn: UnixStream,
    make: impl FnOnce(u16) -> io::Result<TcpStream>,
) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut port = [0u8; 2];
    conn.read_exact(&mut port)?;
    match make(u16::from_be_bytes(port)) {
        Ok(stream) => {
            let fds = [stream.as_fd()];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut anc = SendAncillaryBuffer::new(&mut space);
            anc.push(SendAncillaryMessage::ScmRights(&fds));
            rustix::net::sendmsg(
                &conn,
                &[IoSlice::new(&0i32.to_be_bytes())],
                &mut anc,
                SendFlags::empty(),
            )?;
            Ok(())
        }
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(libc::ECONNREFUSED);
            conn.write_all(&errno.to_be_bytes())
        }
    }
}
