//! Connections to upstream hosts for forwarded requests (plain HTTP and
//! intercepted HTTPS), kept alive and reused.
//!
//! The same scheme as warren's reverse proxy: each client connection keeps
//! the upstream connections it opened ([`ConnCache`]); HTTP/1.1 requests on
//! one client connection come one after another, so its upstream connection
//! is free again when the next request arrives, and a request costs no pool
//! lock and no hashing. When the client connection ends, its idle upstream
//! connections move to a shared pool ([`Pool`]) for the next client
//! connection to the same host.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::body::Counted;
use crate::net;
use crate::policy::Refusal;

/// Why a request could not be forwarded.
pub(crate) enum Fail {
    /// The host resolved to addresses the proxy will not connect to.
    Refused(Refusal),
    /// Connecting, the TLS handshake, or the exchange failed.
    Upstream(Box<dyn std::error::Error + Send + Sync>),
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for Fail {
    fn from(e: E) -> Fail {
        Fail::Upstream(Box::new(e))
    }
}

pub(crate) type Sender = SendRequest<Counted>;

/// Upstream connections idle longer than this are not reused: many servers
/// close idle keep-alive connections after 5 s, and a request sent just as
/// the server closes fails after it was sent and cannot be retried.
const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Idle connections kept per host in the shared pool.
const MAX_IDLE_PER_HOST: usize = 32;
/// How long a TLS handshake with an upstream may take.
const TLS_TIMEOUT: Duration = Duration::from_secs(10);

/// Which upstream a connection goes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    host: String,
    port: u16,
    tls: bool,
}

impl Key {
    fn is(&self, host: &str, port: u16, tls: bool) -> bool {
        self.port == port && self.tls == tls && self.host == host
    }
}

type IdleMap = HashMap<Key, Vec<(Instant, Sender)>>;

/// The shared pool of idle upstream connections of one proxy.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<IdleMap>,
}

impl Pool {
    fn idle(&self) -> MutexGuard<'_, IdleMap> {
        // Entries are only moved in and out; a panic elsewhere cannot leave
        // one half-written, so a poisoned lock is still usable.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self, host: &str, port: u16, tls: bool) -> Option<(Key, Sender)> {
        let key = Key {
            host: host.to_string(),
            port,
            tls,
        };
        let mut idle = self.idle();
        let conns = idle.get_mut(&key)?;
        while let Some((since, sender)) = conns.pop() {
            if since.elapsed() < IDLE_TIMEOUT && sender.is_ready() {
                return Some((key, sender));
            }
        }
        None
    }

    fn put(&self, conns: Vec<Cached>) {
        let mut idle = self.idle();
        for (key, sender, since) in conns {
            // A connection still busy (a response cut short) or closed is
            // not worth keeping.
            if !sender.is_ready() {
                continue;
            }
            let list = idle.entry(key).or_default();
            list.retain(|(since, s)| since.elapsed() < IDLE_TIMEOUT && !s.is_closed());
            if list.len() < MAX_IDLE_PER_HOST {
                list.push((since, sender));
            }
        }
        idle.retain(|_, list| !list.is_empty());
    }
}

/// An upstream connection and when it was last handed a request.
type Cached = (Key, Sender, Instant);

/// The upstream connections of one client connection.
pub(crate) struct ConnCache {
    pool: Arc<Pool>,
    conns: Mutex<Vec<Cached>>,
}

impl ConnCache {
    pub(crate) fn new(pool: Arc<Pool>) -> ConnCache {
        ConnCache {
            pool,
            conns: Mutex::new(Vec::new()),
        }
    }

    fn conns(&self) -> MutexGuard<'_, Vec<Cached>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `req` over a kept-alive connection to `host:port` if there is
    /// one, else over a new one from `connect`.
    pub(crate) async fn send<F, Fut>(
        &self,
        host: &str,
        port: u16,
        tls: bool,
        mut req: Request<Counted>,
        connect: F,
    ) -> Result<Response<Incoming>, Fail>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Sender, Fail>>,
    {
        // A kept connection may have been closed by the server while idle;
        // hyper hands the request back if it was not sent, and it goes out
        // again on a fresh connection.
        if let Some((key, mut sender)) = self.cached(host, port, tls).await {
            let fut = sender.try_send_request(req);
            self.conns().push((key, sender, Instant::now()));
            match fut.await {
                Ok(resp) => return Ok(resp),
                Err(mut e) => match e.take_message() {
                    Some(back) => req = back,
                    None => return Err(e.into_error().into()),
                },
            }
        }
        let mut sender = connect().await?;
        let fut = sender.send_request(req);
        let key = Key {
            host: host.to_string(),
            port,
            tls,
        };
        self.conns().push((key, sender, Instant::now()));
        Ok(fut.await?)
    }

    /// A ready connection: this client connection's own, or one from the
    /// shared pool.
    async fn cached(&self, host: &str, port: u16, tls: bool) -> Option<(Key, Sender)> {
        let mine = {
            let mut conns = self.conns();
            let at = conns.iter().position(|(k, _, _)| k.is(host, port, tls));
            at.map(|i| conns.swap_remove(i))
                .filter(|(_, _, since)| since.elapsed() < IDLE_TIMEOUT)
        };
        if let Some((key, mut sender, _)) = mine {
            if sender.is_ready() {
                return Some((key, sender));
            }
            // The previous response has been passed on completely, but the
            // connection's task may not have run since. Bounded, in case
            // the connection is stuck in a state we did not foresee.
            if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), sender.ready()).await {
                return Some((key, sender));
            }
        }
        self.pool.take(host, port, tls)
    }
}

impl Drop for ConnCache {
    fn drop(&mut self) {
        let conns = std::mem::take(&mut *self.conns());
        if !conns.is_empty() {
            self.pool.put(conns);
        }
    }
}

/// A plain-HTTP connection to the first of `addrs` that answers.
pub(crate) async fn connect_plain(addrs: &[SocketAddr]) -> Result<Sender, Fail> {
    let stream = net::connect(addrs).await?;
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await?;
    // One task per upstream connection drives it; it ends when the
    // connection closes or every sender is dropped.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// A verified TLS connection to `name` at the first of `addrs` that
/// answers.
pub(crate) async fn connect_tls(
    addrs: &[SocketAddr],
    tls: &TlsConnector,
    name: ServerName<'static>,
) -> Result<Sender, Fail> {
    let stream = net::connect(addrs).await?;
    let stream = tokio::time::timeout(TLS_TIMEOUT, tls.connect(name, stream))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no TLS handshake within {} s", TLS_TIMEOUT.as_secs()),
            )
        })??;
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// `outer: inner: innermost`, skipping repeats (hyper's and rustls's errors
/// nest, and the useful part, e.g. "Connection refused" or "invalid peer
/// certificate: UnknownIssuer", is at the bottom).
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}
