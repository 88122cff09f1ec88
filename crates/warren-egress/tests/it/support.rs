//! Local servers, a proxy under test, and clients that speak to it: real
//! sockets and real TLS on 127.0.0.1, nothing beyond this machine.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use warren_egress::{Ca, EgressConfig, NetLog, NetLogEntry};

/// A request as a test server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
}

/// A local HTTP or HTTPS server that answers `200 ok <path>` (or `size`
/// bytes for `/bytes/<size>`) and records every request and connection.
pub struct Upstream {
    pub addr: SocketAddr,
    /// Its CA (for `upstream_roots` and direct clients); `None` for plain
    /// HTTP.
    pub ca: Option<CertificateDer<'static>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub connections: Arc<AtomicUsize>,
}

impl Upstream {
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A CA of the test's own and a server certificate for `names` signed by it.
pub fn test_pki(names: &[&str]) -> (CertificateDer<'static>, rustls::ServerConfig) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "test upstream CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca_cert.der().clone(), config)
}

/// Starts an HTTPS server for `names` (or plain HTTP when `names` is empty).
pub async fn upstream(names: &[&str]) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (ca, acceptor) = if names.is_empty() {
        (None, None)
    } else {
        let (ca, config) = test_pki(names);
        (Some(ca), Some(TlsAcceptor::from(Arc::new(config))))
    };
    let (seen2, conns2) = (Arc::clone(&seen), Arc::clone(&connections));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            conns2.fetch_add(1, Ordering::SeqCst);
            let seen = Arc::clone(&seen2);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let seen = Arc::clone(&seen);
                    async move { Ok::<_, Infallible>(answer(req, &seen).await) }
                });
                let builder = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            });
        }
    });
    Upstream {
        addr,
        ca,
        seen,
        connections,
    }
}

async fn answer(req: Request<Incoming>, seen: &Mutex<Vec<Seen>>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        headers: parts.headers.clone(),
    });
    if let Some(size) = path.strip_prefix("/bytes/") {
        let n: usize = size.parse().unwrap();
        return Response::new(Full::new(Bytes::from(vec![b'x'; n])));
    }
    let mut text = format!("ok {path}");
    if !body.is_empty() {
        text.push_str(&format!(" body={}", String::from_utf8_lossy(&body)));
    }
    Response::new(Full::new(Bytes::from(text)))
}

/// Every entry the proxy logged.
#[derive(Default)]
pub struct MemLog(Mutex<Vec<NetLogEntry>>);

impl NetLog for MemLog {
    fn record(&self, entry: NetLogEntry) {
        eprintln!("log: {entry:?}");
        self.0.lock().unwrap().push(entry);
    }
}

impl MemLog {
    pub fn entries(&self) -> Vec<NetLogEntry> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (briefly) until an entry for `host` with `method` is logged:
    /// tunnels and bodies log when they end, a moment after the client
    /// has its answer.
    pub async fn wait_for(&self, method: &str, host: &str) -> NetLogEntry {
        for _ in 0..200 {
            if let Some(e) = self
                .entries()
                .into_iter()
                .find(|e| e.method == method && e.host == host)
            {
                return e;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no {method} {host} in the log: {:?}", self.entries());
    }
}

/// A running proxy.
pub struct Proxy {
    pub addr: SocketAddr,
    pub log: Arc<MemLog>,
}

/// Serves `config` on a fresh loopback port.
pub async fn proxy(config: EgressConfig, ca: Option<Arc<Ca>>) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(MemLog::default());
    let log2: Arc<dyn NetLog> = log.clone();
    tokio::spawn(async move {
        warren_egress::serve(listener, Arc::new(config), ca, log2)
            .await
            .unwrap();
    });
    Proxy { addr, log }
}

/// `host -> addr` as the overrides map.
pub fn overrides(pairs: &[(&str, SocketAddr)]) -> HashMap<String, SocketAddr> {
    pairs.iter().map(|(h, a)| (h.to_string(), *a)).collect()
}

/// A proxy's answer to CONNECT: status, body (for refusals) and, for a 200,
/// the open tunnel.
pub struct Connected {
    pub status: u16,
    pub body: String,
    pub stream: Option<TcpStream>,
}

/// Sends `CONNECT target` and reads the answer.
pub async fn connect(proxy: SocketAddr, target: &str) -> Connected {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let (status, headers, mut rest) = read_head(&mut stream).await;
    if status == 200 {
        assert!(rest.is_empty(), "bytes after a 200 to CONNECT");
        return Connected {
            status,
            body: String::new(),
            stream: Some(stream),
        };
    }
    let len: usize = headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while rest.len() < len {
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed in the middle of the body");
        rest.extend_from_slice(&buf[..n]);
    }
    Connected {
        status,
        body: String::from_utf8(rest).unwrap(),
        stream: None,
    }
}

/// Reads a response head: status, the header lines, and bytes read past it.
async fn read_head(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed before a response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec()).unwrap();
            let rest = buf[end + 4..].to_vec();
            let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
            return (status, head, rest);
        }
    }
}

/// TLS over `stream` to `name`, trusting only `root`, then an HTTP/1.1
/// client on it.
pub async fn https(
    stream: TcpStream,
    name: &str,
    root: &CertificateDer<'static>,
) -> Result<SendRequest<Full<Bytes>>, std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(name.to_string()).unwrap(), stream)
        .await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    Ok(sender)
}

/// An HTTP/1.1 client over a plain connection to the proxy.
pub async fn plain(proxy: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(proxy).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// Sends `req` and reads the whole answer.
pub async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> (StatusCode, String) {
    sender.ready().await.unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A GET for `uri` with `headers`.
pub fn get(uri: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::get(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

/// The CA certificate as DER.
pub fn ca_der(ca: &Ca) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap()
}
