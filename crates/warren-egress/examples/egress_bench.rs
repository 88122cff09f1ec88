//! The programs behind `bench/sections/60-egress.sh`, one binary with four
//! modes, each its own process so the script can pin them to cores:
//!
//! ```text
//! egress_bench upstream DIR   TLS server for `localhost` and `bench.test` (its own CA in
//!                             DIR/upstream.pem, port in DIR/upstream.port)
//! egress_bench proxy DIR      warren's egress proxy (CA in DIR/ca/, port in DIR/proxy.port):
//!                             bench.test allowed (tunnelled), localhost granted (intercepted)
//! egress_bench tunnel DIR N   direct vs through the CONNECT tunnel: latency on fresh and on
//!                             kept-alive connections (N requests each), large-download throughput
//! egress_bench download DIR direct|tunnel MIB
//!                             one download, for looking at one route alone
//! egress_bench rps DIR PORT CA SECONDS CONNS
//!                             intercepted requests/s through the proxy on PORT (warren's or
//!                             mitmproxy's), trusting CA, CONNS kept-alive connections
//! ```
//!
//! Results go to stdout as `key value` lines for the script to read.

// A benchmark tool: its output is its purpose.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use warren_egress::{Ca, EgressConfig, Grant, Mode, NetLog, NetLogEntry};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// The key the upstream expects on `/granted`, and what clients send instead.
const SECRET: &str = "sk-bench-real-secret-0123456789";
const PLACEHOLDER: &str = "warren-grant-placeholder-bench";
const SMALL: &[u8] = b"hello, warren\n";

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Res<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument {i}; see the module docs").into())
    };
    // One thread when pinned to one core (as the script does for servers):
    // a multi-threaded runtime there only adds wake-ups between threads.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = if threads == 1 || arg(0)? != "proxy" {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    };
    let dir = PathBuf::from(arg(1)?);
    rt.block_on(async {
        match arg(0)? {
            "upstream" => upstream(&dir).await,
            "proxy" => proxy(&dir).await,
            "tunnel" => tunnel(&dir, arg(2)?.parse()?).await,
            "download" => download(&dir, arg(2)? == "tunnel", arg(3)?.parse()?).await,
            "rps" => {
                let port: u16 = arg(2)?.parse()?;
                let ca = PathBuf::from(arg(3)?);
                rps(&dir, port, &ca, arg(4)?.parse()?, arg(5)?.parse()?).await
            }
            other => Err(format!("unknown mode {other}").into()),
        }
    })
}

/// Writes `contents` to `dir/name` so readers never see it half-written.
fn publish(dir: &Path, name: &str, contents: &str) -> Res<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(tmp, dir.join(name))?;
    Ok(())
}

fn read_port(dir: &Path, name: &str) -> Res<u16> {
    Ok(std::fs::read_to_string(dir.join(name))?.trim().parse()?)
}

fn read_cert(path: &Path) -> Res<CertificateDer<'static>> {
    Ok(CertificateDer::from_pem_file(path)?)
}

// ---- upstream ------------------------------------------------------------

async fn upstream(dir: &Path) -> Res<()> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "bench upstream CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["localhost".to_string(), "bench.test".to_string()])?
        .signed_by(&key, &issuer)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    publish(dir, "upstream.pem", &ca_cert.pem())?;
    publish(
        dir,
        "upstream.port",
        &listener.local_addr()?.port().to_string(),
    )?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = service_fn(|req: Request<Incoming>| async move {
                Ok::<_, std::convert::Infallible>(answer(&req))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn answer(req: &Request<Incoming>) -> Response<Payload> {
    let path = req.uri().path();
    if let Some(n) = path.strip_prefix("/large/") {
        return Response::new(Payload::repeat(n.parse().unwrap_or(0)));
    }
    if path == "/granted"
        && req.headers().get("x-api-key").map(|v| v.as_bytes()) != Some(SECRET.as_bytes())
    {
        let mut resp = Response::new(Payload::Small(Some(Bytes::from_static(b"no key\n"))));
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
        return resp;
    }
    Response::new(Payload::Small(Some(Bytes::from_static(SMALL))))
}

/// A response body: the small text, or `left` bytes in 64 KiB chunks that
/// all share one buffer (the server should cost as little as it can).
enum Payload {
    Small(Option<Bytes>),
    Repeat { left: u64, chunk: Bytes },
}

impl Payload {
    fn repeat(n: u64) -> Payload {
        Payload::Repeat {
            left: n,
            chunk: Bytes::from(vec![b'x'; 64 * 1024]),
        }
    }
}

impl Body for Payload {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(match self.get_mut() {
            Payload::Small(b) => b.take().map(|b| Ok(Frame::data(b))),
            Payload::Repeat { left, chunk } => {
                if *left == 0 {
                    None
                } else {
                    let n = (*left).min(chunk.len() as u64);
                    *left -= n;
                    Some(Ok(Frame::data(chunk.slice(..n as usize))))
                }
            }
        })
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Payload::Small(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Payload::Repeat { left, .. } => SizeHint::with_exact(*left),
        }
    }
}

// ---- proxy ---------------------------------------------------------------

/// Counts entries; the bench measures the proxy, not a log writer.
#[derive(Default)]
struct CountLog(AtomicU64);

impl NetLog for CountLog {
    fn record(&self, _: NetLogEntry) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

async fn proxy(dir: &Path) -> Res<()> {
    let up: SocketAddr = ([127, 0, 0, 1], read_port(dir, "upstream.port")?).into();
    let ca = Arc::new(Ca::load_or_create(&dir.join("ca"))?);
    let mut config = EgressConfig::new("bench", Mode::Allow(vec!["bench.test".to_string()]));
    config.overrides = [
        ("bench.test".to_string(), up),
        ("localhost".to_string(), up),
    ]
    .into();
    config.upstream_roots = vec![read_cert(&dir.join("upstream.pem"))?];
    config.grants = vec![Grant {
        name: "bench".to_string(),
        hosts: vec!["localhost".to_string()],
        header: "x-api-key".to_string(),
        value: SECRET.to_string(),
        secret: SECRET.to_string(),
        placeholder: PLACEHOLDER.to_string(),
    }];
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    publish(
        dir,
        "proxy.port",
        &listener.local_addr()?.port().to_string(),
    )?;
    warren_egress::serve(
        listener,
        Arc::new(config),
        Some(ca),
        Arc::new(CountLog::default()),
    )
    .await?;
    Ok(())
}

// ---- clients -------------------------------------------------------------

fn client_tls(root: CertificateDer<'static>) -> Res<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// How a client reaches the TLS server.
#[derive(Clone, Copy)]
enum Route<'a> {
    Direct(SocketAddr),
    /// Through a proxy at this address, with `CONNECT target`.
    Via(SocketAddr, &'a str),
}

/// A TCP connection (through CONNECT for `Via`), TLS to `name`, and an
/// HTTP/1.1 client on it.
async fn open(route: Route<'_>, tls: &TlsConnector, name: &str) -> Res<SendRequest<Empty<Bytes>>> {
    let stream = match route {
        Route::Direct(addr) => {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            s
        }
        Route::Via(proxy, target) => {
            let mut s = TcpStream::connect(proxy).await?;
            s.set_nodelay(true)?;
            s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
                .await?;
            // Read the answer's head byte by byte-ish: nothing follows a 200
            // until we speak TLS, so no read can swallow the server's bytes.
            let mut head = Vec::with_capacity(128);
            let mut buf = [0u8; 256];
            while !head.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    return Err("proxy closed during CONNECT".into());
                }
                head.extend_from_slice(&buf[..n]);
            }
            if !head.starts_with(b"HTTP/1.1 200") {
                return Err(format!("CONNECT answered {}", String::from_utf8_lossy(&head)).into());
            }
            s
        }
    };
    let tls = tls
        .connect(ServerName::try_from(name.to_string())?, stream)
        .await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Sends a GET and reads the whole body; returns the status and its size.
async fn fetch(
    sender: &mut SendRequest<Empty<Bytes>>,
    path: &str,
    key: bool,
) -> Res<(StatusCode, u64)> {
    let mut req = Request::get(path).header("host", "localhost");
    if key {
        req = req.header("x-api-key", PLACEHOLDER);
    }
    sender.ready().await?;
    let resp = sender.send_request(req.body(Empty::new())?).await?;
    let status = resp.status();
    let mut body = resp.into_body();
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(d) = frame?.data_ref() {
            n += d.len() as u64;
        }
    }
    Ok((status, n))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    println!(
        "{name}_p50_ms {:.3}\n{name}_p99_ms {:.3}",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
}

/// Direct vs tunnel, interleaved so drift on the machine hits both alike.
async fn tunnel(dir: &Path, n: usize) -> Res<()> {
    let up: SocketAddr = ([127, 0, 0, 1], read_port(dir, "upstream.port")?).into();
    let proxy: SocketAddr = ([127, 0, 0, 1], read_port(dir, "proxy.port")?).into();
    let tls = client_tls(read_cert(&dir.join("upstream.pem"))?)?;
    let direct = Route::Direct(up);
    let via = Route::Via(proxy, "bench.test:443");
    let routes = [("direct", direct), ("tunnel", via)];

    // Fresh connections: TCP (+ CONNECT) + TLS + one small request each.
    // Both share one client config, so both resume TLS sessions alike.
    for (_, route) in routes {
        for _ in 0..20 {
            let mut s = open(route, &tls, "bench.test").await?;
            fetch(&mut s, "/small", false).await?;
        }
    }
    eprintln!("egress_bench: {n} requests on fresh connections, each route");
    let mut fresh = [Vec::with_capacity(n), Vec::with_capacity(n)];
    for _ in 0..n {
        for (i, (_, route)) in routes.iter().enumerate() {
            let t = Instant::now();
            let mut s = open(*route, &tls, "bench.test").await?;
            let (status, _) = fetch(&mut s, "/small", false).await?;
            fresh[i].push(t.elapsed().as_secs_f64() * 1e3);
            if status != StatusCode::OK {
                return Err(format!("status {status}").into());
            }
        }
    }
    for ((name, _), samples) in routes.iter().zip(fresh) {
        summary(&format!("fresh_{name}"), samples);
    }

    eprintln!(
        "egress_bench: {} requests on one kept-alive connection, each route",
        n * 5
    );
    let mut conns = [
        open(direct, &tls, "bench.test").await?,
        open(via, &tls, "bench.test").await?,
    ];
    let mut kept = [Vec::with_capacity(n * 5), Vec::with_capacity(n * 5)];
    for round in 0..n * 5 + 200 {
        for (i, c) in conns.iter_mut().enumerate() {
            let t = Instant::now();
            fetch(c, "/small", false).await?;
            // The first 200 are warm-up.
            if round >= 200 {
                kept[i].push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    for ((name, _), samples) in routes.iter().zip(kept) {
        summary(&format!("keepalive_{name}"), samples);
    }

    // Throughput: the best of 9 interleaved downloads per route. Short
    // runs, many of them: on a shared machine the best one is the one
    // nothing else disturbed.
    let size: u64 = 512 << 20;
    eprintln!(
        "egress_bench: {} MiB downloads, best of 9, each route",
        size >> 20
    );
    let mut best = [0f64; 2];
    for _ in 0..9 {
        for (i, (_, route)) in routes.iter().enumerate() {
            let mut s = open(*route, &tls, "bench.test").await?;
            let t = Instant::now();
            let (_, got) = fetch(&mut s, &format!("/large/{size}"), false).await?;
            let secs = t.elapsed().as_secs_f64();
            if got != size {
                return Err(format!("downloaded {got} of {size} bytes").into());
            }
            best[i] = best[i].max(size as f64 / secs / 1e6);
        }
    }
    for ((name, _), mbps) in routes.iter().zip(best) {
        println!("download_{name}_mbps {mbps:.0}");
    }
    Ok(())
}

/// One download of `mib` MiB on one route.
async fn download(dir: &Path, via_proxy: bool, mib: u64) -> Res<()> {
    let up: SocketAddr = ([127, 0, 0, 1], read_port(dir, "upstream.port")?).into();
    let proxy: SocketAddr = ([127, 0, 0, 1], read_port(dir, "proxy.port")?).into();
    let tls = client_tls(read_cert(&dir.join("upstream.pem"))?)?;
    let route = if via_proxy {
        Route::Via(proxy, "bench.test:443")
    } else {
        Route::Direct(up)
    };
    let mut s = open(route, &tls, "bench.test").await?;
    let t = Instant::now();
    let (_, got) = fetch(&mut s, &format!("/large/{}", mib << 20), false).await?;
    println!("mbps {:.0}", got as f64 / t.elapsed().as_secs_f64() / 1e6);
    Ok(())
}

/// Intercepted requests per second through the proxy on `port`.
async fn rps(dir: &Path, port: u16, ca: &Path, seconds: f64, conns: usize) -> Res<()> {
    let up = read_port(dir, "upstream.port")?;
    let proxy: SocketAddr = ([127, 0, 0, 1], port).into();
    let tls = client_tls(read_cert(ca)?)?;
    let target = format!("localhost:{up}");
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let counting = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let warmup = Duration::from_secs(1);
    let end = Instant::now() + warmup + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let mut s = open(Route::Via(proxy, &target), &tls, "localhost").await?;
        let (ok, bad, counting) = (Arc::clone(&ok), Arc::clone(&bad), Arc::clone(&counting));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let good = matches!(
                    fetch(&mut s, "/granted", true).await,
                    Ok((StatusCode::OK, 14))
                );
                if counting.load(Ordering::Relaxed) {
                    if good { &ok } else { &bad }.fetch_add(1, Ordering::Relaxed);
                }
                if !good {
                    // A failed connection stays failed; do not spin on it.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    tokio::time::sleep(warmup).await;
    counting.store(true, Ordering::Relaxed);
    let t = Instant::now();
    for task in tasks {
        task.await?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!("rps {:.0}", ok.load(Ordering::Relaxed) as f64 / secs);
    println!("errors {}", bad.load(Ordering::Relaxed));
    Ok(())
}
