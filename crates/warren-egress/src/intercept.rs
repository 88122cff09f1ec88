//! Interception of a granted host: the environment's TLS ends here with a
//! leaf from warren's CA, each request gets the grant's credential, and goes
//! on over a verified TLS connection to the host the CONNECT named, and only
//! to it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Method, Request, Response, StatusCode, Version, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::server::Acceptor;
use tokio_rustls::LazyConfigAcceptor;

use crate::NetLogEntry;
use crate::body::{Body, Counted, Dir, Pending};
use crate::headers;
use crate::net::Rewind;
use crate::policy::Host;
use crate::server::{Shared, into_tcp, origin_form, respond, text};
use crate::upstream::{self, ConnCache};

/// How long the environment may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One intercepted tunnel: the host it was opened to and that host's vetted
/// addresses, and the upstream connections its requests use.
struct Tunnel {
    shared: Arc<Shared>,
    host: Host,
    host_text: String,
    port: u16,
    addrs: Vec<SocketAddr>,
    server_name: ServerName<'static>,
    conns: ConnCache,
}

/// Takes over the CONNECT's connection once hyper has sent the `200`: TLS
/// towards the environment, then HTTP/1.1 requests until it hangs up.
pub(crate) async fn run(
    shared: Arc<Shared>,
    on_upgrade: OnUpgrade,
    host: Host,
    port: u16,
    addrs: Vec<SocketAddr>,
    time: SystemTime,
) {
    let host_text = host.text();
    // A failure before any request, or a plain tunnel, is one CONNECT line
    // in the log.
    let entry = |status: u16, reason: Option<String>| NetLogEntry {
        time,
        method: "CONNECT".to_string(),
        host: host_text.clone(),
        port,
        path: None,
        status,
        bytes_up: 0,
        bytes_down: 0,
        allowed: true,
        reason,
        grant: None,
    };
    let log = Arc::clone(&shared.log);
    let (Some(ca), Ok(server_name)) = (&shared.ca, ServerName::try_from(host_text.clone())) else {
        // `serve` refuses grants without a CA, and a parsed Host is always
        // a valid server name.
        log.record(entry(502, Some("cannot intercept: no CA".to_string())));
        return;
    };
    let config = match ca.server_config(&host_text) {
        Ok(c) => c,
        Err(e) => {
            log.record(entry(
                502,
                Some(format!("no certificate for the host: {e}")),
            ));
            return;
        }
    };
    let (tcp, pre) = match on_upgrade.await.map(into_tcp) {
        Ok(Ok(io)) => io,
        Ok(Err(e)) => return log.record(entry(400, Some(e.to_string()))),
        Err(e) => {
            let reason = format!("the client left before the tunnel opened: {e}");
            return log.record(entry(400, Some(reason)));
        }
    };
    // Only TLS is intercepted. A client speaking anything else to a granted
    // host (git over ssh to github.com:22 or ssh.github.com:443) gets a
    // plain tunnel, without the credential: a TLS client speaks first, with
    // a handshake record (0x16); SSH clients send their banner at once.
    if !starts_tls(&tcp, &pre).await {
        let upstream = match crate::net::connect(&addrs).await {
            Ok(s) => s,
            Err(e) => return log.record(entry(502, Some(format!("connect failed: {e}")))),
        };
        let done = entry(200, None);
        return crate::server::tunnel(tcp, pre, upstream, log, done).await;
    }
    let handshake = async {
        let start = LazyConfigAcceptor::new(Acceptor::default(), Rewind::new(pre, tcp))
            .await
            .map_err(Handshake::Failed)?;
        // The name the client asks the TLS server for must be the one it
        // CONNECTed to: anything else is a client confused about where its
        // requests (and the credential) go.
        if let Some(sni) = start.client_hello().server_name()
            && Host::parse(sni).as_ref() != Some(&host)
        {
            return Err(Handshake::OtherName(sni.to_string()));
        }
        start.into_stream(config).await.map_err(Handshake::Failed)
    };
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(Handshake::OtherName(sni))) => {
            let reason = format!("the TLS server name {sni} differs from the CONNECT target");
            return log.record(entry(400, Some(reason)));
        }
        Ok(Err(Handshake::Failed(e))) => {
            let reason = format!(
                "TLS with the environment failed: {} (does it trust warren's CA?)",
                upstream::error_chain(&e)
            );
            return log.record(entry(400, Some(reason)));
        }
        Err(_) => {
            let reason = format!("no TLS handshake within {} s", HANDSHAKE_TIMEOUT.as_secs());
            return log.record(entry(400, Some(reason)));
        }
    };
    let tunnel = Arc::new(Tunnel {
        conns: ConnCache::new(Arc::clone(&shared.pool)),
        shared,
        host,
        host_text,
        port,
        addrs,
        server_name,
    });
    let service = service_fn(move |req| {
        let tunnel = Arc::clone(&tunnel);
        async move { Ok::<_, Infallible>(tunnel.handle(req).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await
    {
        tracing::debug!("intercepted connection ended: {e}");
    }
}

/// How long to wait for the client's first byte before deciding it is not
/// starting TLS (a protocol where the server speaks first).
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether the client's first byte opens a TLS handshake record.
async fn starts_tls(tcp: &tokio::net::TcpStream, pre: &[u8]) -> bool {
    const HANDSHAKE: u8 = 0x16;
    if let Some(&b) = pre.first() {
        return b == HANDSHAKE;
    }
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(FIRST_BYTE_TIMEOUT, tcp.peek(&mut first)).await,
        Ok(Ok(1)) if first[0] == HANDSHAKE
    )
}

/// Why the environment's TLS handshake did not complete.
enum Handshake {
    /// The client asked for another server name (SNI).
    OtherName(String),
    Failed(std::io::Error),
}

impl Tunnel {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let time = SystemTime::now();
        let policy = &self.shared.policy;
        let mut entry = NetLogEntry {
            time,
            method: req.method().as_str().to_string(),
            host: self.host_text.clone(),
            port: self.port,
            path: Some(req.uri().path().to_string()),
            status: 502,
            bytes_up: 0,
            bytes_down: 0,
            allowed: true,
            reason: None,
            grant: None,
        };
        if let Some(reason) = self.misdirected(&req) {
            // 421 (RFC 9110 section 15.5.20): this connection serves one
            // host. Forwarding on another name would let a server that
            // hosts several names route the credential to the wrong one.
            entry.status = 421;
            entry.allowed = false;
            entry.reason = Some(reason.clone());
            self.shared.log.record(entry);
            return text(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "warren: {reason}; this connection reaches only {}\n",
                    self.host_text
                ),
            );
        }
        let client_version = req.version();
        let (mut parts, body) = req.into_parts();
        parts.uri = origin_form(&parts.uri);
        parts.version = Version::HTTP_11;
        parts.extensions = http::Extensions::new();
        headers::strip_hop_by_hop(&mut parts.headers);
        if !parts.headers.contains_key(header::HOST)
            && let Ok(h) = HeaderValue::from_str(&self.authority())
        {
            parts.headers.insert(header::HOST, h);
        }
        for g in policy.grants.iter().filter(|g| g.hosts.matches(&self.host)) {
            headers::apply_grant(&mut parts.headers, g);
            entry.grant.get_or_insert_with(|| g.name.clone());
        }
        let pending = Pending::new(Arc::clone(&self.shared.log), entry);
        let req = Request::from_parts(parts, Counted::new(body, Arc::clone(&pending), Dir::Up));
        let sent = self
            .conns
            .send(&self.host_text, self.port, true, req, || {
                upstream::connect_tls(&self.addrs, &self.shared.tls, self.server_name.clone())
            })
            .await;
        respond(
            &self.shared,
            &self.host,
            self.port,
            sent,
            pending,
            client_version,
        )
    }

    /// Why a request cannot go to this tunnel's host, if it cannot: it
    /// names another host (absolute-form target or `Host`), has several
    /// `Host` headers, or asks for a tunnel inside the tunnel.
    fn misdirected(&self, req: &Request<Incoming>) -> Option<String> {
        if req.method() == Method::CONNECT {
            return Some("CONNECT inside an intercepted connection".to_string());
        }
        let mut hosts = req.headers().get_all(header::HOST).iter();
        let first = hosts.next();
        if hosts.next().is_some() {
            return Some("the request has more than one Host header".to_string());
        }
        // The absolute-form target wins over Host (RFC 9112 section 3.2.2).
        let named = match (req.uri().authority(), first) {
            (Some(a), _) => a.as_str(),
            (None, Some(v)) => match v.to_str() {
                Ok(s) => s,
                Err(_) => return Some("the request's Host is not a host name".to_string()),
            },
            // HTTP/1.0 without Host: it goes to the tunnel's host.
            (None, None) => return None,
        };
        if self.is_mine(named) {
            None
        } else {
            Some(format!("the request is for {named}"))
        }
    }

    /// Whether `authority` (`host[:port]`) names this tunnel's host and
    /// port (a missing port is the tunnel's). Compared without allocating:
    /// this runs for every request.
    fn is_mine(&self, authority: &str) -> bool {
        let (host, port) = match authority.rsplit_once(':') {
            // `[v6]` alone, or `host:port` / `[v6]:port`.
            Some((h, p)) if !p.contains(']') && (!h.contains(':') || h.ends_with(']')) => {
                match p.parse::<u16>() {
                    Ok(p) => (h, Some(p)),
                    Err(_) => return false,
                }
            }
            _ => (authority, None),
        };
        if port.is_some_and(|p| p != self.port) {
            return false;
        }
        match &self.host {
            Host::Name(name) => {
                let h = host.strip_suffix('.').unwrap_or(host);
                h.eq_ignore_ascii_case(name)
            }
            Host::Ip(ip) => {
                let h = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host);
                h.parse::<std::net::IpAddr>().is_ok_and(|h| h == *ip)
            }
        }
    }

    fn authority(&self) -> String {
        let host = match &self.host {
            Host::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
            other => other.to_string(),
        };
        if self.port == 443 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}
