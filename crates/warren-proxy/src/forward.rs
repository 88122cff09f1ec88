//! One request: read the Host, find the backend, forward with rewritten
//! headers and the bodies streamed both ways (frames are passed on as they
//! arrive, so SSE events and large uploads are never buffered whole).

use std::convert::Infallible;

use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Response, Uri, Version, header};
use http_body_util::Either;
use hyper::body::Incoming;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::headers;
use crate::host::{self, HostTarget};
use crate::limit::{Limiter, Slot};
use crate::pages::{self, Body, Format};
use crate::table::{Lookup, SharedTable};
use crate::upgrade;
use crate::upstream::{ConnCache, Upstream};

/// Path answered on the proxy's own names with its identity (used by
/// `ensure_running` to check that the port is really this proxy).
pub const STATUS_PATH: &str = "/__warren/status";

/// The forwarding service shared by every connection.
#[derive(Debug)]
pub struct Forwarder {
    table: SharedTable,
    limiter: Arc<Limiter>,
    upstream: Arc<Upstream>,
    port: u16,
    pid: u32,
    started_at: i64,
}

impl Forwarder {
    /// A forwarder answering from `table`; `port` is where clients reach it
    /// (for links on the landing page).
    pub fn new(table: SharedTable, limiter: Arc<Limiter>, port: u16, started_at: i64) -> Forwarder {
        Forwarder {
            table,
            limiter,
            upstream: Arc::default(),
            port,
            pid: std::process::id(),
            started_at,
        }
    }

    /// State for one new client connection from `client_ip`, holding `slot`.
    pub fn connection(&self, client_ip: HeaderValue, slot: Arc<Slot>) -> ClientConn {
        ClientConn {
            client_ip,
            backends: ConnCache::new(Arc::clone(&self.upstream)),
            slot,
            requested: AtomicBool::new(false),
        }
    }

    /// Answers one request arriving on `conn`.
    pub async fn handle(
        &self,
        mut req: Request<Incoming>,
        conn: &ClientConn,
    ) -> Result<Response<Body>, Infallible> {
        if !conn.requested.load(Ordering::Relaxed) {
            // Once per connection: from now on it is never closed to make
            // room for a new one.
            conn.requested.store(true, Ordering::Relaxed);
            conn.slot.requested();
        }
        let table = self.table.load();
        let client_version = req.version();
        let host = match headers::request_host(&req) {
            Ok(host) => host,
            Err(bad) => {
                // Debug only: any client can send these, as often as it likes.
                tracing::debug!("answering 400: {}", bad.reason());
                let format = Format::for_error(req.headers());
                return Ok(pages::bad_request(bad.reason(), self.port, format));
            }
        };
        // A reverse proxy: tunnelling to an address the client names is a
        // forward proxy's job, and would reach far beyond the routes.
        if req.method() == Method::CONNECT {
            let format = Format::for_error(req.headers());
            return Ok(pages::method_not_allowed(self.port, format));
        }
        let (env, service) = match host::classify(host) {
            HostTarget::Route { env, service } => (env, service),
            HostTarget::Proxy if req.uri().path() == STATUS_PATH => {
                return Ok(pages::status(
                    self.pid,
                    self.port,
                    self.started_at,
                    &table,
                    &self.limiter,
                ));
            }
            HostTarget::Proxy => {
                let format = Format::for_page(req.headers());
                return Ok(pages::landing(&table, self.port, format));
            }
            // Any other name may be a DNS-rebinding site's, whose scripts
            // can read the answer: it learns nothing.
            HostTarget::Foreign => return Ok(pages::foreign_host()),
        };
        let (env, backend) = match table.lookup(env, service) {
            Lookup::Found { env, backend } => (env, backend),
            Lookup::UnknownEnv => {
                let format = Format::for_error(req.headers());
                return Ok(pages::unknown_environment(env, &table, self.port, format));
            }
            Lookup::UnknownService(routes) => {
                let format = Format::for_error(req.headers());
                let service = service.unwrap_or("");
                return Ok(pages::unknown_service(
                    env, service, routes, self.port, format,
                ));
            }
            Lookup::NotRouted(known) => {
                let format = Format::for_error(req.headers());
                return Ok(pages::not_routed(known, self.port, format));
            }
        };
        let hops = headers::hops(req.headers());
        if hops >= headers::MAX_HOPS {
            tracing::warn!(
                "a request for {}.{} has passed {hops} warren proxies: a route points back at a proxy; answering 508",
                backend.service,
                env.name
            );
            let format = Format::for_error(req.headers());
            return Ok(pages::loop_detected(hops, self.port, format));
        }
        let upgrade = headers::upgrade_request(req.headers());
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));

        let (mut parts, body) = req.into_parts();
        if let Some(authority) = parts.uri.authority() {
            // Routed on an absolute-form target: the backend gets that as
            // its Host, not whatever Host header came along.
            if let Ok(h) = HeaderValue::from_str(authority.as_str()) {
                parts.headers.insert(header::HOST, h);
            }
        }
        // Origin-form for the backend: the connection already says where.
        parts.uri = match parts.uri.path_and_query() {
            Some(pq) => Uri::from(pq.clone()),
            None => Uri::from(PathAndQuery::from_static("/")),
        };
        // Keep-alive to the backend even for HTTP/1.0 clients.
        parts.version = Version::HTTP_11;
        // The client connection's extensions (its upgrade handle) must not
        // travel to the backend connection.
        parts.extensions = http::Extensions::new();
        headers::to_backend(&mut parts.headers, &conn.client_ip, hops, upgrade);

        // The request is gone once sent; a 502 still has to suit the client.
        // (A reference-count bump, not a copy.)
        let accept = parts.headers.get(header::ACCEPT).cloned();
        let keep = client_upgrade.is_none();
        let request = Request::from_parts(parts, body);
        let mut resp = match conn.backends.send(&backend.authority, request, keep).await {
            Ok(r) => r,
            Err(e) => {
                let why = error_chain(&*e);
                if !backend.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "{}.{} at {} is not answering ({why}); answering 502 until it does",
                        backend.service,
                        env.name,
                        backend.authority
                    );
                }
                let mut asked = http::HeaderMap::new();
                if let Some(a) = accept {
                    asked.insert(header::ACCEPT, a);
                }
                return Ok(pages::bad_gateway(
                    env,
                    &backend.service,
                    backend.authority.as_str(),
                    &why,
                    self.port,
                    Format::for_error(&asked),
                ));
            }
        };
        // One relaxed load per request; the swap only after an outage.
        if backend.down.load(Ordering::Relaxed) && backend.down.swap(false, Ordering::Relaxed) {
            tracing::info!(
                "{}.{} at {} answers again",
                backend.service,
                env.name,
                backend.authority
            );
        }
        let switched = resp.status() == http::StatusCode::SWITCHING_PROTOCOLS;
        if switched && let Some(client_upgrade) = client_upgrade {
            let backend_upgrade = hyper::upgrade::on(&mut resp);
            // The tunnel keeps the connection's slot: it holds both sockets.
            let slot = Arc::clone(&conn.slot);
            tokio::spawn(upgrade::tunnel(client_upgrade, backend_upgrade, slot));
        }
        headers::to_client(resp.headers_mut(), switched);
        // Answer in the client's HTTP version: a backend speaking HTTP/1.0
        // (python's http.server) must not turn keep-alive off for the client.
        *resp.version_mut() = client_version;
        Ok(resp.map(Either::Left))
    }
}

/// What the proxy keeps per client connection.
#[derive(Debug)]
pub struct ClientConn {
    /// `X-Forwarded-For` value, formatted once per connection.
    client_ip: HeaderValue,
    backends: ConnCache,
    slot: Arc<Slot>,
    /// Has sent a request (and told the slot so).
    requested: AtomicBool,
}

/// `outer: inner: innermost`, skipping repeats (hyper's errors nest deeply
/// and the useful part, e.g. "Connection refused", is at the bottom).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if parts.last() != Some(&s) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}
