//! The accept loop: what a client can hold of the server is bounded, so
//! that idle connections cannot take the API offline (the agent it serves is
//! hostile, and so may be other local users).
//!
//! - A request head must arrive within [`HEADER_READ_TIMEOUT`] of the
//!   connection opening or of the previous response (hyper's
//!   `header_read_timeout` runs in both cases), else the connection closes.
//! - At most [`MAX_CONNECTIONS`] connections are open. A new one beyond that
//!   takes the place of the oldest *idle* one (no request in progress):
//!   otherwise whoever opens connections fastest would lock out everyone
//!   else for the timeout and could repeat it forever. When every
//!   connection is busy (requests and event streams in progress), the new
//!   one is closed at once.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// How long a client may take to send a request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections at most.
pub const MAX_CONNECTIONS: usize = 256;
/// How long in-flight requests may finish once the server stops.
const DRAIN: Duration = Duration::from_secs(5);

/// Connections the kernel queues until they are accepted. Tokio's default
/// (128, like std's) overflows when many connect at once: the kernel then
/// drops a SYN, and the client waits a second to send it again.
const BACKLOG: u32 = 1024;

/// A listening socket on `addr` with room for bursts of connections.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Bounds of the listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// One open connection, as the accept loop sees it.
struct Slot {
    /// Requests in progress (a response counts until its body is done).
    busy: Arc<AtomicUsize>,
    /// Closes the connection (it is dropped, mid-anything).
    close: Arc<Notify>,
}

type Slots = Arc<Mutex<BTreeMap<u64, Slot>>>;

fn lock(slots: &Slots) -> std::sync::MutexGuard<'_, BTreeMap<u64, Slot>> {
    slots.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes room for connection `id`: `false` when every slot is busy.
fn admit(slots: &Slots, id: u64, max: usize) -> Option<(Arc<AtomicUsize>, Arc<Notify>)> {
    let mut map = lock(slots);
    if map.len() >= max {
        // Ids grow with time: the first idle one is the oldest.
        let oldest_idle = map
            .iter()
            .find(|(_, s)| s.busy.load(Ordering::SeqCst) == 0)
            .map(|(k, _)| *k)?;
        if let Some(s) = map.remove(&oldest_idle) {
            s.close.notify_one();
        }
    }
    let busy = Arc::new(AtomicUsize::new(0));
    let close = Arc::new(Notify::new());
    map.insert(
        id,
        Slot {
            busy: busy.clone(),
            close: close.clone(),
        },
    );
    Some((busy, close))
}

/// Counts a request as in progress until dropped.
struct BusyGuard(Arc<AtomicUsize>);

impl BusyGuard {
    fn new(busy: &Arc<AtomicUsize>) -> BusyGuard {
        busy.fetch_add(1, Ordering::SeqCst);
        BusyGuard(busy.clone())
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves `app` on `listener` until `stop` turns true, then lets requests in
/// progress finish for a few seconds.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let slots: Slots = Arc::new(Mutex::new(BTreeMap::new()));
    let (closing, _) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut next_id: u64 = 0;
    loop {
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    next_id += 1;
                    let Some((busy, close)) = admit(&slots, next_id, limits.max_connections) else {
                        // Every slot has a request in progress: closed at once.
                        drop(stream);
                        continue;
                    };
                    tasks.spawn(connection(
                        stream,
                        app.clone(),
                        limits.header_read_timeout,
                        busy,
                        close,
                        closing.subscribe(),
                        slots.clone(),
                        next_id,
                    ));
                }
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            // Reaps finished connections.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    closing.send_replace(true);
    let drained =
        tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::info!("closing {} connection(s) still open", tasks.len());
    }
    tasks.shutdown().await;
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    app: Router,
    header_read_timeout: Duration,
    busy: Arc<AtomicUsize>,
    close: Arc<Notify>,
    mut closing: watch::Receiver<bool>,
    slots: Slots,
    id: u64,
) {
    let _ = stream.set_nodelay(true);
    let inner = TowerToHyperService::new(app);
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let guard = BusyGuard::new(&busy);
        let response = hyper::service::Service::call(&inner, req);
        async move {
            let response = response.await?;
            // In progress until the body is done: an event stream keeps
            // its connection from being taken for an idle one.
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _ = &guard;
                    frame
                }))
            }))
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            // Errors are clients going away or timing out; nothing to report.
            _ = conn.as_mut() => break,
            _ = close.notified() => break,
            changed = closing.changed(), if !draining => {
                draining = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
    lock(&slots).remove(&id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_gives_the_oldest_idle_slot_away() {
        let slots: Slots = Arc::new(Mutex::new(BTreeMap::new()));
        let (b1, c1) = admit(&slots, 1, 2).unwrap();
        let (_b2, _c2) = admit(&slots, 2, 2).unwrap();
        // 1 is busy: 2 (idle) goes.
        b1.fetch_add(1, Ordering::SeqCst);
        assert!(admit(&slots, 3, 2).is_some());
        assert_eq!(lock(&slots).keys().copied().collect::<Vec<_>>(), [1, 3]);
        let (b3, _) = {
            let map = lock(&slots);
            let s = &map[&3];
            (s.busy.clone(), s.close.clone())
        };
        // Both busy: the newcomer is refused.
        b3.fetch_add(1, Ordering::SeqCst);
        assert!(admit(&slots, 4, 2).is_none());
        drop(c1);
    }
}
