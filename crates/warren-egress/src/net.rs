//! Sockets: which addresses count as public, connecting to vetted ones, and
//! the byte tunnel.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// How long one connection attempt may take before the next address is
/// tried (and how long all of them may take together, times the count).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What kind of non-public address `ip` is, or `None` if it is public.
/// Callers pass the canonical form (`IpAddr::to_canonical`), so an
/// IPv4-mapped IPv6 address is judged as the IPv4 address it is.
pub(crate) fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => v6_kind(v6),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    Some(match ip.octets() {
        [0, ..] => "\"this network\" (0.0.0.0/8)",
        [10, ..] => "private (10.0.0.0/8)",
        [100, b, ..] if b & 0xc0 == 64 => "carrier-grade NAT (100.64.0.0/10)",
        [127, ..] => "loopback",
        [169, 254, ..] => "link-local (169.254.0.0/16, cloud metadata)",
        [172, b, ..] if b & 0xf0 == 16 => "private (172.16.0.0/12)",
        [192, 0, 0, _] => "IETF protocol assignment (192.0.0.0/24)",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [192, 168, ..] => "private (192.168.0.0/16)",
        [198, b, ..] if b & 0xfe == 18 => "benchmarking (198.18.0.0/15)",
        [255, 255, 255, 255] => "broadcast",
        [a, ..] if (224..240).contains(&a) => "multicast",
        [a, ..] if a >= 240 => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // IPv4 embedded by a translation mechanism reaches that IPv4 address.
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified",
        [0, 0, 0, 0, 0, 0, 0, 1] => "loopback",
        // Mapped addresses arrive canonicalised as IPv4; anything else in
        // ::/96 is the deprecated IPv4-compatible form, never legitimate.
        [0, 0, 0, 0, 0, 0xffff, ..] | [0, 0, 0, 0, 0, 0, ..] => "IPv4-compatible (::/96)",
        // NAT64 (RFC 6052): 64:ff9b::a9fe:a9fe is 169.254.169.254.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return v4_kind(embedded(hi, lo)),
        // 6to4: 2002:AABB:CCDD::/48 reaches AA.BB.CC.DD.
        [0x2002, hi, lo, ..] => return v4_kind(embedded(hi, lo)),
        // Teredo hides its IPv4 server and client addresses (obfuscated).
        [0x2001, 0, ..] => "Teredo (2001::/32)",
        [0x2001, 0xdb8, ..] => "documentation (2001:db8::/32)",
        [0x100, 0, 0, 0, ..] => "discard-only (100::/64)",
        [a, ..] if a & 0xfe00 == 0xfc00 => {
            "unique local (fc00::/7, includes fd00:ec2::254 metadata)"
        }
        [a, ..] if a & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [a, ..] if a & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        [a, ..] if a & 0xff00 == 0xff00 => "multicast",
        // Only 2000::/3 is allocated for global unicast (the NAT64 prefix
        // was handled above).
        [a, ..] if a & 0xe000 != 0x2000 => "reserved",
        _ => return None,
    })
}

/// Connects to the first of `addrs` that answers, with Nagle off (small
/// request/response pairs: Nagle would hold back every other write).
pub(crate) async fn connect(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Ok(Err(e)) => last = io::Error::new(e.kind(), format!("{addr}: {e}")),
            Err(_) => {
                last = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{addr}: no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                )
            }
        }
    }
    Err(last)
}

/// Size of each direction's tunnel buffer. Loopback and
/// LAN sockets hold far more than one TLS record (16 KiB); reading up to
/// 64 KiB at a time halves the system calls of a large download compared
/// to 16 KiB.
const TUNNEL_BUF: usize = 64 * 1024;

/// Copies bytes both ways until both sides have finished (or either fails),
/// passing a half-close on. Returns the bytes sent up (client to upstream)
/// and down, counted even when the tunnel ends with an error (clients often
/// reset a connection instead of closing it).
///
/// Plain reads and writes through one buffer per direction. `splice(2)`
/// (socket → pipe → socket) halves the proxy's CPU for a large download
/// but, measured on loopback, cost the transfer about 15% of its
/// throughput; copying keeps it at the direct connection's.
pub(crate) async fn tunnel(client: &mut TcpStream, upstream: &mut TcpStream) -> (u64, u64) {
    let (mut up, mut down) = (0, 0);
    let (mut cr, mut cw) = client.split();
    let (mut ur, mut uw) = upstream.split();
    both_ways(
        copy(&mut cr, &mut uw, &mut up),
        copy(&mut ur, &mut cw, &mut down),
    )
    .await;
    (up, down)
}

/// Runs both directions until both are done or one fails (the other would
/// then wait forever on a peer that is gone).
async fn both_ways(
    a: impl Future<Output = io::Result<()>>,
    b: impl Future<Output = io::Result<()>>,
) {
    tokio::pin!(a, b);
    let (mut a_done, mut b_done) = (false, false);
    while !(a_done && b_done) {
        tokio::select! {
            r = &mut a, if !a_done => {
                a_done = true;
                if r.is_err() { break; }
            }
            r = &mut b, if !b_done => {
                b_done = true;
                if r.is_err() { break; }
            }
        }
    }
}

/// One direction by copying: read, write, count; a clean end of input
/// becomes a write shutdown on the other side.
async fn copy<R, W>(r: &mut R, w: &mut W, count: &mut u64) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; TUNNEL_BUF];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return w.shutdown().await;
        }
        w.write_all(&buf[..n]).await?;
        *count += n as u64;
    }
}

/// A stream that first yields bytes already read from it (what hyper had
/// buffered past a `CONNECT` request), then reads from the stream itself.
pub(crate) struct Rewind<T> {
    pre: Bytes,
    inner: T,
}

impl<T> Rewind<T> {
    pub(crate) fn new(pre: Bytes, inner: T) -> Rewind<T> {
        Rewind { pre, inner }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            let head = self.pre.split_to(n);
            buf.put_slice(&head);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kind(s: &str) -> Option<&'static str> {
        non_public(s.parse::<IpAddr>().unwrap().to_canonical())
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for a in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2001::1",
            "2001:db8::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "4000::1",
        ] {
            assert!(kind(a).is_some(), "{a} should not be public");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "160.79.104.10",
            "169.253.1.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2606:4700::1111",
            "2607:6bc0::10",
        ] {
            assert_eq!(kind(a), None, "{a} should be public");
        }
    }
}
