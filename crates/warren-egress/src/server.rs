//! The proxy's front: accepting connections from the environment, and the
//! two kinds of proxy request, `CONNECT` (tunnel or interception) and
//! absolute-form plain HTTP (forwarded).

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

use crate::body::{Body, Counted, Dir, Pending};
use crate::headers;
use crate::intercept;
use crate::policy::{Host, Policy, Refusal};
use crate::upstream::{self, ConnCache, Fail, Pool};
use crate::{Ca, EgressConfig, NetLog, NetLogEntry};

/// What every connection of one proxy shares.
pub(crate) struct Shared {
    pub(crate) policy: Policy,
    pub(crate) ca: Option<Arc<Ca>>,
    pub(crate) log: Arc<dyn NetLog>,
    /// Verifies upstream hosts of intercepted requests (Mozilla's roots plus
    /// the configured ones), HTTP/1.1 only. Its session cache makes repeat
    /// handshakes to one host resumptions.
    pub(crate) tls: TlsConnector,
    pub(crate) pool: Arc<Pool>,
}

/// Serves one environment's egress proxy on `listener` until accepting
/// fails for good (not on a transient error such as a full file table).
/// Each connection runs in its own task. `ca` is needed when `config` has
/// grants (their hosts are intercepted with leaves it signs); without
/// grants it is unused. Fails at once with `InvalidInput` for a config that
/// [`EgressConfig::validate`] refuses or grants without a CA.
pub async fn serve(
    listener: TcpListener,
    config: Arc<EgressConfig>,
    ca: Option<Arc<Ca>>,
    log: Arc<dyn NetLog>,
) -> io::Result<()> {
    let invalid =
        |e: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
    let policy = Policy::new(&config).map_err(|e| invalid(&e))?;
    if !policy.grants.is_empty() && ca.is_none() {
        return Err(invalid(
            &"grants need warren's CA to intercept their hosts; none was given",
        ));
    }
    let tls = upstream_tls(&config).map_err(|e| invalid(&e))?;
    let shared = Arc::new(Shared {
        policy,
        ca,
        log,
        tls,
        pool: Arc::default(),
    });
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) if transient(&e) => {
                // Out of descriptors or memory: the next accept would fail
                // the same way at once. Back off instead of spinning.
                tracing::warn!(
                    "egress proxy for {}: accept failed: {e}",
                    shared.policy.env_name
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        // Nagle would hold back every other small write of a request or
        // response pair.
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(Arc::clone(&shared), stream));
    }
}

fn transient(e: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM]
        .iter()
        .any(|n| e.raw_os_error() == Some(n.raw_os_error()))
}

fn upstream_tls(config: &EgressConfig) -> Result<TlsConnector, crate::ConfigError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in &config.upstream_roots {
        roots.add(cert.clone()).map_err(crate::ConfigError::Root)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(crate::ConfigError::Root)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // The forwarding side speaks HTTP/1.1 only.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(tls)))
}

/// State of one connection from the environment.
struct Client {
    shared: Arc<Shared>,
    /// Upstream connections of plain-HTTP requests on this connection.
    conns: ConnCache,
}

async fn serve_connection(shared: Arc<Shared>, stream: TcpStream) {
    let client = Arc::new(Client {
        conns: ConnCache::new(Arc::clone(&shared.pool)),
        shared,
    });
    let service = service_fn(move |req| {
        let client = Arc::clone(&client);
        async move { Ok::<_, Infallible>(client.handle(req).await) }
    });
    // Half-closed clients (`nc`, scripts that shut down their write side once the
    // request is sent) still get their answer.
    let served = hyper::server::conn::http1::Builder::new()
        .half_close(true)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(e) = served {
        // The environment hung up mid-request or sent garbage: its business.
        tracing::debug!("egress connection ended: {e}");
    }
}

impl Client {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        if req.method() == Method::CONNECT {
            return self.connect(req).await;
        }
        if req.uri().authority().is_some() {
            return self.forward(req).await;
        }
        text(
            StatusCode::BAD_REQUEST,
            "warren: this is the environment's egress proxy; send proxy requests (`CONNECT host:port` or `GET http://host/path`), e.g. through HTTP_PROXY/HTTPS_PROXY\n",
        )
    }

    /// `CONNECT host:port`: refuse, intercept (granted host) or tunnel.
    async fn connect(&self, mut req: Request<Incoming>) -> Response<Body> {
        let time = SystemTime::now();
        let policy = &self.shared.policy;
        let Some((host, port)) = req.uri().authority().and_then(connect_target) else {
            return text(
                StatusCode::BAD_REQUEST,
                "warren: CONNECT needs a target of the form host:port\n",
            );
        };
        let entry = |status: u16, allowed: bool, reason: Option<String>| NetLogEntry {
            time,
            method: "CONNECT".to_string(),
            host: host.text(),
            port,
            path: None,
            status,
            bytes_up: 0,
            bytes_down: 0,
            allowed,
            reason,
            grant: None,
        };
        if let Err(refusal) = policy.check(&host) {
            return self.refuse(&host, &refusal, entry(403, false, Some(refusal.reason())));
        }
        let addrs = match policy.resolve(&host, port).await {
            Ok(addrs) => addrs,
            Err(refusal) => {
                let logged = entry(refusal.status(), refusal.allowed(), Some(refusal.reason()));
                return self.refuse(&host, &refusal, logged);
            }
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        if policy.granted(&host) {
            tokio::spawn(intercept::run(
                Arc::clone(&self.shared),
                on_upgrade,
                host,
                port,
                addrs,
                time,
            ));
            return Response::new(Body::empty());
        }
        // Connect before answering, so a host that does not answer is a 502
        // the client sees rather than a tunnel that closes at once.
        let upstream = match crate::net::connect(&addrs).await {
            Ok(s) => s,
            Err(e) => {
                let why = format!("connect failed: {e}");
                let body = format!("warren: cannot reach {host}:{port}: {e}\n");
                self.shared.log.record(entry(502, true, Some(why)));
                return text(StatusCode::BAD_GATEWAY, body);
            }
        };
        let log = Arc::clone(&self.shared.log);
        let done = entry(200, true, None);
        tokio::spawn(run_tunnel(on_upgrade, upstream, log, done));
        Response::new(Body::empty())
    }

    fn refuse(&self, host: &Host, refusal: &Refusal, entry: NetLogEntry) -> Response<Body> {
        let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
        let body = self.shared.policy.refusal_body(host, refusal);
        self.shared.log.record(entry);
        text(status, body)
    }

    /// An absolute-form plain-HTTP request: forwarded (with grants applied
    /// for a granted host) over a kept-alive upstream connection.
    async fn forward(&self, req: Request<Incoming>) -> Response<Body> {
        let time = SystemTime::now();
        let policy = &self.shared.policy;
        if req.uri().scheme() != Some(&Scheme::HTTP) {
            return text(
                StatusCode::BAD_REQUEST,
                "warren: only http:// URLs are forwarded; https goes through CONNECT\n",
            );
        }
        let Some(authority) = req.uri().authority().cloned() else {
            return text(
                StatusCode::BAD_REQUEST,
                "warren: the request names no host\n",
            );
        };
        let Some(host) = Host::parse(authority.host()) else {
            return text(
                StatusCode::BAD_REQUEST,
                "warren: the request's host is not a host name\n",
            );
        };
        let port = authority.port_u16().unwrap_or(80);
        let entry = NetLogEntry {
            time,
            method: req.method().as_str().to_string(),
            host: host.text(),
            port,
            path: Some(req.uri().path().to_string()),
            status: 502,
            bytes_up: 0,
            bytes_down: 0,
            allowed: true,
            reason: None,
            grant: None,
        };
        if let Err(refusal) = policy.check(&host) {
            let mut entry = entry;
            entry.status = 403;
            entry.allowed = false;
            entry.reason = Some(refusal.reason());
            return self.refuse(&host, &refusal, entry);
        }
        let client_version = req.version();
        let (mut parts, body) = req.into_parts();
        parts.uri = origin_form(&parts.uri);
        parts.version = Version::HTTP_11;
        parts.extensions = http::Extensions::new();
        headers::strip_hop_by_hop(&mut parts.headers);
        // The absolute-form target wins over any Host header (RFC 9112
        // section 3.2.2), and the upstream must see that one.
        if let Ok(h) = HeaderValue::from_str(authority.as_str()) {
            parts.headers.insert(header::HOST, h);
        }
        let mut entry = entry;
        for g in policy.grants.iter().filter(|g| g.hosts.matches(&host)) {
            headers::apply_grant(&mut parts.headers, g);
            entry.grant.get_or_insert_with(|| g.name.clone());
        }
        let pending = Pending::new(Arc::clone(&self.shared.log), entry);
        let req = Request::from_parts(parts, Counted::new(body, Arc::clone(&pending), Dir::Up));
        let host_text = host.text();
        let sent = self
            .conns
            .send(&host_text, port, false, req, || async {
                let addrs = policy.resolve(&host, port).await.map_err(Fail::Refused)?;
                upstream::connect_plain(&addrs).await
            })
            .await;
        respond(&self.shared, &host, port, sent, pending, client_version)
    }
}

/// Turns an upstream's answer (or failure) into the environment's response,
/// with the log entry finished when the body is.
pub(crate) fn respond(
    shared: &Shared,
    host: &Host,
    port: u16,
    sent: Result<Response<Incoming>, Fail>,
    pending: Arc<Pending>,
    client_version: Version,
) -> Response<Body> {
    match sent {
        Ok(resp) => {
            pending.set_status(resp.status().as_u16());
            let (mut parts, body) = resp.into_parts();
            headers::strip_hop_by_hop(&mut parts.headers);
            // Answer in the client's HTTP version: an upstream speaking
            // HTTP/1.0 must not turn keep-alive off for the client.
            parts.version = client_version;
            Response::from_parts(
                parts,
                Body::Upstream(Counted::new(body, pending, Dir::Down)),
            )
        }
        Err(Fail::Refused(refusal)) => {
            pending.set_status(refusal.status());
            pending.set_refused();
            pending.set_reason(refusal.reason());
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
            text(status, shared.policy.refusal_body(host, &refusal))
        }
        Err(Fail::Upstream(e)) => {
            let why = shared.policy.redactor.redact(&upstream::error_chain(&*e));
            let body = format!("warren: {host}:{port} did not answer: {why}\n");
            pending.set_reason(why);
            text(StatusCode::BAD_GATEWAY, body)
        }
    }
}

/// The tunnel of an allowed, non-granted host: bytes copied both ways until
/// both sides are done, then one log entry.
async fn run_tunnel(
    on_upgrade: OnUpgrade,
    upstream: TcpStream,
    log: Arc<dyn NetLog>,
    mut entry: NetLogEntry,
) {
    match on_upgrade.await.map(into_tcp) {
        Ok(Ok((client, pre))) => return tunnel(client, pre, upstream, log, entry).await,
        Ok(Err(e)) => entry.reason = Some(e.to_string()),
        Err(e) => entry.reason = Some(format!("the client left before the tunnel opened: {e}")),
    }
    log.record(entry);
}

/// Copies between the environment's socket and the upstream's until both
/// are done (`pre`: bytes the client sent right behind its CONNECT), then
/// logs `entry` with the byte counts.
pub(crate) async fn tunnel(
    mut client: TcpStream,
    pre: hyper::body::Bytes,
    mut upstream: TcpStream,
    log: Arc<dyn NetLog>,
    mut entry: NetLogEntry,
) {
    let mut early = 0;
    if !pre.is_empty() {
        if let Err(e) = upstream.write_all(&pre).await {
            entry.reason = Some(format!("upstream closed at once: {e}"));
        }
        early = pre.len() as u64;
    }
    let (up, down) = crate::net::tunnel(&mut client, &mut upstream).await;
    entry.bytes_up = up + early;
    entry.bytes_down = down;
    log.record(entry);
}

/// The client's own socket back from hyper, plus what hyper had read past
/// the CONNECT request: the tunnel then copies between two plain sockets,
/// with no per-read indirection through hyper.
pub(crate) fn into_tcp(upgraded: Upgraded) -> io::Result<(TcpStream, hyper::body::Bytes)> {
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => Ok((parts.io.into_inner(), parts.read_buf)),
        // Cannot happen: connections are served over `TokioIo<TcpStream>`.
        Err(_) => Err(io::Error::other("upgraded connection is not a TCP stream")),
    }
}

/// `host:port` of a CONNECT target; the port is required (RFC 9110 section
/// 9.3.6).
fn connect_target(authority: &Authority) -> Option<(Host, u16)> {
    let port = authority.port_u16()?;
    Some((Host::parse(authority.host())?, port))
}

/// The origin-form (`/path?query`) of a request target.
pub(crate) fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(pq) => Uri::from(pq.clone()),
        None => Uri::from(PathAndQuery::from_static("/")),
    }
}

/// A short plain-text answer from the proxy itself.
pub(crate) fn text(status: StatusCode, body: impl Into<hyper::body::Bytes>) -> Response<Body> {
    let mut resp = Response::new(Body::text(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
