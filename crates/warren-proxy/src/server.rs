//! `warren proxy serve`: own the lock, listen, keep the route table fresh,
//! answer connections, and leave when there has been nothing to route for
//! the idle grace period.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::signal::unix::{Signal, SignalKind, signal};
use warren_store::{Route, Store};

use crate::error::ProxyError;
use crate::forward::Forwarder;
use crate::limit::{self, Limiter, Slot};
use crate::lock::{Acquired, ProxyInfo, ProxyLock};
use crate::port_owner;
use crate::table::{self, RouteTable, SharedTable, StateRow};
use warren_config::ProxyConfig;

/// How often the store is asked whether routes changed. `data_version` is
/// a read of shared memory, so this costs next to nothing.
const POLL: Duration = Duration::from_millis(100);

/// Runs the proxy in the foreground until it is stopped (SIGTERM/SIGINT,
/// `warren proxy stop`) or has had no routes for `settings.idle`. Fails
/// with [`ProxyError::AlreadyRunning`] when another proxy owns `root`'s
/// lock and with [`ProxyError::PortTaken`] when the port is in use.
pub fn serve(root: &Path, settings: &ProxyConfig) -> Result<(), ProxyError> {
    crate::upstream::set_root(root);
    let store = Store::open(root)?;
    let table = SharedTable::default();
    let mut rows = Rows::load(&store)?;
    table.store(rows.table());

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (table, stop) = (table.clone(), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("routes".into())
            .spawn(move || watch_routes(&store, &table, &stop, &mut rows))
            .map_err(ProxyError::Runtime)?
    };
    let (max_connections, open_files) = limit::connection_budget();
    let limiter = Limiter::new(max_connections, open_files);
    let result = runtime()?.block_on(serve_loop(root, settings, &table, &limiter));
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    result
}

/// One thread per core is the default, but when pinned to a single core a
/// current-thread runtime skips the work-stealing machinery entirely.
fn runtime() -> Result<tokio::runtime::Runtime, ProxyError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = if cores <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(cores);
        b
    };
    builder.enable_all().build().map_err(ProxyError::Runtime)
}

enum Exit {
    Idle,
    /// The signal's name.
    Signal(&'static str),
}

async fn serve_loop(
    root: &Path,
    settings: &ProxyConfig,
    table: &SharedTable,
    limiter: &Arc<Limiter>,
) -> Result<(), ProxyError> {
    let mut term = signal(SignalKind::terminate()).map_err(ProxyError::Runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ProxyError::Runtime)?;
    let mut first = true;
    loop {
        let mut lock = match ProxyLock::acquire(root)? {
            Acquired::Owned(lock) => lock,
            Acquired::Held(info) if first => return Err(ProxyError::AlreadyRunning(info)),
            Acquired::Held(_) => {
                tracing::info!(
                    "another proxy took over the lock while this one was exiting; leaving it to that one"
                );
                return Ok(());
            }
        };
        if let Some(stale) = &lock.replaced {
            tracing::info!(
                "replacing the stale lock of pid {} (port {}): that proxy is no longer running",
                stale.pid,
                stale.port
            );
        }
        let listener = match bind(settings) {
            Ok(l) => l,
            Err(e) => {
                lock.release();
                return Err(e);
            }
        };
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(settings.port);
        let info = ProxyInfo {
            pid: std::process::id(),
            port,
            bind: settings.bind,
            started_at: warren_store::now_unix(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        lock.publish(&info)?;
        let loaded = table.load();
        let idle = if settings.idle.is_zero() {
            "never exits for lack of routes".to_string()
        } else {
            format!(
                "exits after {} s with nothing to route",
                settings.idle.as_secs_f64()
            )
        };
        tracing::info!(
            "listening on http://{} (pid {}): routing {}; {idle}",
            SocketAddr::new(settings.bind, port),
            info.pid,
            routing(&loaded),
        );
        tracing::info!(
            "holding at most {} client connections at once (open-file limit {}); a client has {} s to send its request headers",
            limiter.max(),
            limiter.open_files(),
            limit::HEADER_TIMEOUT.as_secs()
        );
        let forwarder = Arc::new(Forwarder::new(
            table.clone(),
            Arc::clone(limiter),
            port,
            info.started_at,
        ));
        let exit = accept_loop(
            listener,
            forwarder,
            limiter,
            table,
            settings.idle,
            &mut term,
            &mut int,
        )
        .await;
        // The listener is closed by now: release the lock so a starter that
        // looks next starts a fresh proxy instead of trusting this one.
        lock.release();
        match exit {
            Exit::Signal(name) => {
                tracing::info!("stopping: received {name}");
                return Ok(());
            }
            Exit::Idle => {
                // An environment may have added a route (and seen this proxy
                // as running) just before the lock went: look once more.
                if Rows::load(&Store::open(root)?)?.table().is_empty() {
                    tracing::info!(
                        "exiting: nothing to route for {} s",
                        settings.idle.as_secs_f64()
                    );
                    return Ok(());
                }
                tracing::info!("routes appeared while exiting; staying up");
                first = false;
            }
        }
    }
}

/// Connections the kernel queues for `accept` (capped by `somaxconn`). A
/// burst larger than the queue loses SYNs, and each lost one costs its
/// client a second; tokio's default is 1024.
const BACKLOG: u32 = 4096;

fn bind(settings: &ProxyConfig) -> Result<TcpListener, ProxyError> {
    let addr = SocketAddr::new(settings.bind, settings.port);
    let listen = || {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // As TcpListener::bind does: a restarted proxy gets its port back
        // while old connections linger in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(BACKLOG)
    };
    listen().map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            ProxyError::PortTaken {
                bind: settings.bind,
                port: settings.port,
                owner: port_owner::find_listener(settings.port),
            }
        } else {
            ProxyError::Bind {
                bind: settings.bind,
                port: settings.port,
                source,
            }
        }
    })
}

async fn accept_loop(
    listener: TcpListener,
    forwarder: Arc<Forwarder>,
    limiter: &Arc<Limiter>,
    table: &SharedTable,
    idle: Duration,
    term: &mut Signal,
    int: &mut Signal,
) -> Exit {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut empty_since: Option<Instant> = None;
    // Accept failures in a row.
    let mut failing = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if failing > 0 {
                        tracing::info!("accepting connections again, after {failing} failures");
                        failing = 0;
                    }
                    match limiter.admit() {
                    Some(slot) => {
                        let slot = Arc::new(slot);
                        let task = tokio::spawn(connection(
                            stream,
                            peer,
                            Arc::clone(&forwarder),
                            Arc::clone(&slot),
                        ));
                        // Still holding the slot here, so the task cannot
                        // have given it back yet.
                        slot.attach(task.abort_handle());
                    }
                    // Every connection is busy: closed at once.
                    None => drop(stream),
                    }
                }
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning, and say
                    // so once, not twenty times a second.
                    if failing == 0 {
                        tracing::warn!("cannot accept connections: {e}; retrying every 50 ms");
                    }
                    failing += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = tick.tick() => {
                if table.load().is_empty() {
                    let since = *empty_since.get_or_insert_with(Instant::now);
                    if !idle.is_zero() && since.elapsed() >= idle {
                        return Exit::Idle;
                    }
                } else {
                    empty_since = None;
                }
            }
            _ = term.recv() => return Exit::Signal("SIGTERM"),
            _ = int.recv() => return Exit::Signal("SIGINT"),
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    forwarder: Arc<Forwarder>,
    slot: Arc<Slot>,
) {
    let _ = stream.set_nodelay(true);
    // Formatted once per connection, cloned (a refcount) per request.
    let client_ip = HeaderValue::from_str(&peer.ip().to_canonical().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
    let conn = Arc::new(forwarder.connection(client_ip, slot));
    let service = service_fn(move |req| {
        let forwarder = Arc::clone(&forwarder);
        let conn = Arc::clone(&conn);
        async move { forwarder.handle(req, &conn).await }
    });
    // Errors here are clients going away mid-request; nothing to report.
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        // Also between requests on a kept-alive connection: an idle
        // connection holds a slot and files, so it does not hold them long.
        .header_read_timeout(limit::HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

/// What the route table is built from.
#[derive(Debug)]
struct Rows {
    data_version: i64,
    routes: Vec<Route>,
    states: Vec<StateRow>,
}

impl Rows {
    /// Reads `data_version` first, then the rows, so a commit in between is
    /// seen by the next poll rather than missed.
    fn load(store: &Store) -> Result<Rows, ProxyError> {
        Ok(Rows {
            data_version: store.data_version()?,
            routes: store.routes()?,
            states: table::load_states(store)?,
        })
    }

    fn table(&self) -> RouteTable {
        RouteTable::new(self.routes.clone(), &self.states)
    }
}

/// Reloads the table whenever the store changes, until `stop`.
fn watch_routes(store: &Store, table: &SharedTable, stop: &AtomicBool, current: &mut Rows) {
    let mut failing = false;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(POLL);
        match store.data_version() {
            Ok(v) if v == current.data_version && !failing => continue,
            Ok(_) => {}
            Err(e) => {
                if !failing {
                    tracing::warn!(
                        "cannot read the state database: {}; still serving the routes loaded before, retrying",
                        error_chain(&e)
                    );
                }
                failing = true;
                continue;
            }
        }
        match Rows::load(store) {
            Ok(rows) => {
                if failing {
                    tracing::info!("reading the state database again");
                }
                failing = false;
                // Other tables (tasks, lifecycle runs) change too; rebuild
                // only when routes or environment states did.
                if rows.routes != current.routes || rows.states != current.states {
                    let new = rows.table();
                    for change in table::changes(&table.load(), &new) {
                        tracing::info!("{change}");
                    }
                    tracing::info!("now routing {}", routing(&new));
                    table.store(new);
                }
                *current = rows;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(
                        "cannot read the routes: {}; still serving the routes loaded before, retrying",
                        error_chain(&e)
                    );
                }
                failing = true;
            }
        }
    }
}

/// `3 services of 2 environments`, or `nothing`.
fn routing(table: &RouteTable) -> String {
    if table.is_empty() {
        return "nothing".to_string();
    }
    format!(
        "{} of {}",
        table::count(table.served(), "service"),
        table::count(table.env_names().len(), "environment")
    )
}

/// `error: cause: cause`, so the log says why (the store's own message is
/// only "state database error").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cur = e.source();
    }
    text
}
