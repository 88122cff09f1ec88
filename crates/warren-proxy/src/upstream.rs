//! Connections to backends, kept alive and reused.
//!
//! Each client connection keeps the backend connections it opened
//! ([`ConnCache`]): HTTP/1.1 requests on one client connection come one
//! after another, so its backend connection is free again by the time the
//! next request arrives, and a request costs no pool lock, no hashing and
//! no extra task (hyper-util's pooled client spawns one per request to
//! notice when the connection is idle again). When the client connection
//! ends, its idle backend connections move to a shared pool ([`Upstream`])
//! for the next client connection to the same backend.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::uri::Authority;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why a backend could not be reached or answered badly.
pub type UpstreamError = Box<dyn std::error::Error + Send + Sync>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Backend connections idle longer than this are not reused. Node's HTTP
/// server (Vite, Next, Express) closes idle keep-alive connections after 5 s;
/// a request sent just as the backend closes would fail after it was sent
/// and could not be retried, so we stop reusing them before that.
const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Idle connections kept per backend in the shared pool.
const MAX_IDLE_PER_BACKEND: usize = 64;

/// Idle connections per backend, each with when it became idle.
type IdleMap = HashMap<Authority, Vec<(Instant, SendRequest<Incoming>)>>;

/// The shared pool of idle backend connections.
#[derive(Debug, Default)]
pub struct Upstream {
    idle: Mutex<IdleMap>,
}

impl Upstream {
    fn idle(&self) -> MutexGuard<'_, IdleMap> {
        // Entries are only moved in and out; a panic elsewhere cannot leave
        // one half-written, so a poisoned lock is still usable.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_idle(&self, authority: &Authority) -> Option<SendRequest<Incoming>> {
        let mut idle = self.idle();
        let conns = idle.get_mut(authority)?;
        while let Some((since, sender)) = conns.pop() {
            if since.elapsed() < IDLE_TIMEOUT && sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    fn put_idle(&self, conns: Vec<Cached>) {
        let mut idle = self.idle();
        for (authority, sender, since) in conns {
            // A connection still busy (a response cut short) or closed is
            // not worth keeping.
            if !sender.is_ready() {
                continue;
            }
            let list = idle.entry(authority).or_default();
            list.retain(|(since, s)| since.elapsed() < IDLE_TIMEOUT && !s.is_closed());
            if list.len() < MAX_IDLE_PER_BACKEND {
                list.push((since, sender));
            }
        }
        idle.retain(|_, list| !list.is_empty());
    }
}

/// A backend connection and when it was last handed a request.
type Cached = (Authority, SendRequest<Incoming>, Instant);

/// The backend connections of one client connection.
#[derive(Debug)]
pub struct ConnCache {
    upstream: Arc<Upstream>,
    conns: Mutex<Vec<Cached>>,
}

impl ConnCache {
    pub fn new(upstream: Arc<Upstream>) -> ConnCache {
        ConnCache {
            upstream,
            conns: Mutex::new(Vec::new()),
        }
    }

    fn conns(&self) -> MutexGuard<'_, Vec<Cached>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `req` to `authority` over a kept-alive connection if there is
    /// one, else a new one. `keep` = false for upgrades, whose connection
    /// becomes the tunnel and is never reused.
    pub async fn send(
        &self,
        authority: &Authority,
        mut req: Request<Incoming>,
        keep: bool,
    ) -> Result<Response<Incoming>, UpstreamError> {
        // A kept connection may have been closed by the backend while idle;
        // hyper hands the request back if it was not sent, and it goes out
        // again on a fresh connection.
        let reused = self.cached(authority).await;
        if let Some(mut sender) = reused {
            let fut = sender.try_send_request(req);
            if keep {
                self.conns()
                    .push((authority.clone(), sender, Instant::now()));
            }
            match fut.await {
                Ok(resp) => return Ok(resp),
                Err(mut e) => match e.take_message() {
                    Some(back) => req = back,
                    None => return Err(e.into_error().into()),
                },
            }
        }
        let mut sender = connect(authority).await?;
        let fut = sender.send_request(req);
        if keep {
            self.conns()
                .push((authority.clone(), sender, Instant::now()));
        }
        Ok(fut.await?)
    }

    /// A ready connection to `authority`: this client connection's own, or
    /// one from the shared pool.
    async fn cached(&self, authority: &Authority) -> Option<SendRequest<Incoming>> {
        let mine = {
            let mut conns = self.conns();
            let at = conns.iter().position(|(a, _, _)| a == authority);
            at.map(|i| conns.swap_remove(i))
                .filter(|(_, _, since)| since.elapsed() < IDLE_TIMEOUT)
                .map(|(_, sender, _)| sender)
        };
        if let Some(mut sender) = mine {
            if sender.is_ready() {
                return Some(sender);
            }
            // The previous response has been passed on completely, but the
            // connection's task may not have run since. Bounded, in case
            // the connection is stuck in a state we did not foresee.
            if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), sender.ready()).await {
                return Some(sender);
            }
        }
        self.upstream.take_idle(authority)
    }
}

impl Drop for ConnCache {
    fn drop(&mut self) {
        let conns = std::mem::take(&mut *self.conns());
        if !conns.is_empty() {
            self.upstream.put_idle(conns);
        }
    }
}

/// Host suffix of a backend inside an environment's own network namespace
/// (`<env>.warren-netns:<port>`, see `table::authority`).
pub(crate) const NETNS_SUFFIX: &str = ".warren-netns";

/// The warren root, whose `net/<env>/` dirs hold the environments' network daemons.
static ROOT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Tells the proxy where the environments' network daemons are.
pub fn set_root(root: &std::path::Path) {
    let _ = ROOT.set(root.to_path_buf());
}

async fn dial(authority: &Authority) -> Result<TcpStream, UpstreamError> {
    if let Some(env) = authority.host().strip_suffix(NETNS_SUFFIX) {
        let root = ROOT
            .get()
            .ok_or("the proxy does not know the warren root")?;
        let dir = root.join("net").join(env);
        let port = authority.port_u16().unwrap_or(80);
        let stream = tokio::task::spawn_blocking(move || warren_net::connect(&dir, port))
            .await
            .map_err(|e| e.to_string())??;
        stream.set_nonblocking(true)?;
        return Ok(TcpStream::from_std(stream)?);
    }
    Ok(TcpStream::connect(authority.as_str()).await?)
}

async fn connect(authority: &Authority) -> Result<SendRequest<Incoming>, UpstreamError> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, dial(authority))
        .await
        .map_err(|_| format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()))??;
    // Small request/response pairs: Nagle would hold back every other write.
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await?;
    // One task per backend connection drives it (and, after a 101, hands
    // it over to the tunnel); it ends when the connection closes or every
    // sender is dropped.
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}
