//! What every test uses: its own warren root, the `warren` binary, a
//! proxy started through `ensure_running`, backends, curl, and cleanup of
//! every process on drop.

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use warren_config::ProxyConfig;
use warren_proxy::ProxyInfo;
use warren_store::{Route, Store};

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// The `warren` binary: `$WARREN_BIN`, else the one in this test binary's
/// target dir, built first (`cargo build -p warren`) if it is missing or
/// older than the warren-proxy library it must contain. Under `cargo test
/// --workspace` it is already fresh and nothing is rebuilt.
pub fn warren_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("WARREN_BIN") {
            return PathBuf::from(bin);
        }
        let me = std::env::current_exe().unwrap();
        // target/<profile>/deps/it-HASH -> target/<profile>/warren
        let deps = me.parent().unwrap();
        let profile_dir = deps.parent().unwrap();
        let bin = profile_dir.join("warren");
        let mtime = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
        let newest_lib = std::fs::read_dir(deps)
            .unwrap()
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libwarren_proxy-") && name.ends_with(".rlib")
            })
            .filter_map(|e| mtime(&e.path()))
            .max();
        let fresh = match (mtime(&bin), newest_lib) {
            (Some(b), Some(lib)) => b >= lib,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !fresh {
            eprintln!("building the warren binary (cargo build -p warren)");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "--quiet", "-p", "warren", "--bin", "warren"])
                .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(
                status.success(),
                "cargo build -p warren failed; or set WARREN_BIN"
            );
        }
        bin
    })
    .clone()
}

/// One test's world: a warren root, a runtime for backends, and every
/// process it started (killed on drop).
pub struct TestContext {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    children: Vec<Child>,
    proxy: Option<ProxyInfo>,
    /// The port this test's proxy listens on (free when the test began).
    pub proxy_port: u16,
    started: Instant,
}

impl TestContext {
    pub fn new(name: &str) -> TestContext {
        eprintln!("[{name}] start");
        TestContext {
            name: name.to_string(),
            dir: tempfile::Builder::new()
                .prefix("warren-proxy-it-")
                .tempdir()
                .unwrap(),
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            proxy_port: dead_port().port(),
            children: Vec::new(),
            proxy: None,
            started: Instant::now(),
        }
    }

    pub fn step(&self, msg: &str) {
        let at = self.started.elapsed().as_secs_f64();
        eprintln!("[{} +{at:.1}s] {msg}", self.name);
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn store(&self) -> Store {
        Store::open(&self.root()).unwrap()
    }

    /// Settings of a test proxy: its own port, never idle out.
    pub fn settings(&self) -> ProxyConfig {
        ProxyConfig {
            port: self.proxy_port,
            idle: Duration::ZERO,
            ..ProxyConfig::default()
        }
    }

    /// Starts (or finds) the proxy through the real binary.
    pub fn proxy(&mut self) -> ProxyInfo {
        self.proxy_with(&self.settings())
    }

    pub fn proxy_with(&mut self, settings: &ProxyConfig) -> ProxyInfo {
        let info = warren_proxy::ensure_running(&self.root(), &warren_bin(), settings).unwrap();
        self.step(&format!("proxy pid {} on port {}", info.pid, info.port));
        self.proxy = Some(info.clone());
        info
    }

    /// Adds a route and waits until the proxy serves it.
    pub fn route(&self, env: &str, service: &str, ord: i64, target: SocketAddr) {
        self.store()
            .add_route(&Route {
                env: env.into(),
                service: service.into(),
                ord,
                target_host: target.ip().to_string(),
                target_port: target.port(),
                inner_port: None,
                label: None,
            })
            .unwrap();
        if let Some(p) = &self.proxy {
            let port = p.port;
            wait_until(Duration::from_secs(5), || {
                !curl(&[
                    "-s",
                    &format!("http://{service}.{env}.localhost:{port}/__probe"),
                ])
                .contains("unknown_")
            });
        }
    }

    /// Spawns a process that is killed when the test ends.
    pub fn spawn(&mut self, cmd: &mut Command) -> &mut Child {
        let child = cmd.spawn().unwrap();
        self.children.push(child);
        self.children.last_mut().unwrap()
    }

    /// Starts a hyper backend on 127.0.0.1 answering with `handler`.
    pub fn backend<F, Fut>(&self, handler: F) -> SocketAddr
    where
        F: Fn(Request<Incoming>, SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        // A deep accept queue: a burst of connections from the proxy must
        // not lose SYNs (each lost one costs a second or more).
        let listener = self.rt.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            socket.listen(4096).unwrap()
        });
        let addr = listener.local_addr().unwrap();
        let handler = Arc::new(handler);
        self.rt.spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let fut = handler(req, peer);
                        async move { Ok::<_, Infallible>(fut.await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        addr
    }

    /// The pid of the proxy this test started.
    pub fn proxy_pid(&self) -> u32 {
        self.proxy.as_ref().map(|p| p.pid).unwrap()
    }

    /// Runs `warren ARGS…` with this test's root.
    pub fn warren(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(warren_bin())
            .args(args)
            .env("WARREN_ROOT", self.root())
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for TestContext {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The proxy runs in its own session: stop it by its pid, then make sure.
        if let Ok(warren_proxy::Probe::Running(info)) = warren_proxy::probe(&self.root()) {
            let _ = warren_proxy::stop(&self.root(), Duration::from_secs(5));
            kill9(info.pid);
        }
        if let Some(p) = &self.proxy {
            kill9(p.pid);
        }
        eprintln!("[{}] done", self.name);
    }
}

pub fn kill9(pid: u32) {
    if warren_proxy_alive(pid) {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
}

pub fn warren_proxy_alive(pid: u32) -> bool {
    // A zombie still has /proc/PID; its state line says Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// Runs curl with `args`; returns stdout (stderr is printed on failure).
pub fn curl(args: &[&str]) -> String {
    let out = curl_output(args);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn curl_output(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--max-time", "30", "--no-progress-meter"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `(status, body)` of a GET.
pub fn get(url: &str, extra: &[&str]) -> (u16, String) {
    let mut args = vec!["-s", "-w", "\n%{http_code}", url];
    args.extend_from_slice(extra);
    let out = curl(&args);
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), body.to_string())
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "condition not met within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A 127.0.0.1 port with nothing listening on it.
pub fn dead_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

pub fn full(body: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    http_body_util::Full::new(body.into())
        .map_err(|e| match e {})
        .boxed_unsync()
}

/// Peak resident memory of a process in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmHWM:")
}

/// Current resident memory of a process in KiB (VmRSS).
pub fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS:")
}

fn status_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A hyper echo backend: answers JSON with what it received (method,
/// path, headers, body byte count, its peer address); reads the body frame
/// by frame so it never holds more than one chunk.
pub fn echo_handler(
    req: Request<Incoming>,
    peer: SocketAddr,
) -> impl Future<Output = Response<Body>> + Send + 'static {
    use http_body_util::BodyExt;
    async move {
        let (parts, mut body) = req.into_parts();
        let mut bytes = 0u64;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => bytes += f.data_ref().map_or(0, |d| d.len() as u64),
                Err(_) => break,
            }
        }
        let headers: serde_json::Map<String, serde_json::Value> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
            .collect();
        let v = serde_json::json!({
            "method": parts.method.as_str(),
            "path": parts.uri.to_string(),
            "headers": headers,
            "bytes": bytes,
            "peer": peer.to_string(),
        });
        Response::builder()
            .header("content-type", "application/json")
            .body(full(v.to_string()))
            .unwrap()
    }
}

/// A response body fed from a channel: each `send` becomes one chunk,
/// dropping the sender ends the body.
pub struct ChannelBody(pub tokio::sync::mpsc::UnboundedReceiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

pub fn channel_body() -> (tokio::sync::mpsc::UnboundedSender<Bytes>, Body) {
    use http_body_util::BodyExt;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (tx, ChannelBody(rx).boxed_unsync())
}

/// What a browser sends as `Accept` when it navigates (Chrome's).
pub const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";

/// `(status, content type, body)` of a GET with `Accept: accept`.
pub fn get_as(url: &str, accept: &str, extra: &[&str]) -> (u16, String, String) {
    let accept = format!("Accept: {accept}");
    let mut args = vec![
        "-s",
        "-H",
        &accept,
        "-w",
        "\n%{http_code} %{content_type}",
        url,
    ];
    args.extend_from_slice(extra);
    let out = curl(&args);
    let (body, tail) = out.rsplit_once('\n').unwrap();
    let (code, ctype) = tail.split_once(' ').unwrap_or((tail, ""));
    (
        code.trim().parse().unwrap_or(0),
        ctype.trim().to_string(),
        body.to_string(),
    )
}

/// Sends `request` as raw bytes on a new connection to the proxy's port
/// and returns everything it answers until it closes (or 5 s pass).
pub fn raw(port: u16, request: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A backend that counts its requests and echoes them (see [`echo_handler`]).
pub fn counting_echo(t: &TestContext) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    let addr = t.backend(move |r, p| {
        h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        echo_handler(r, p)
    });
    (addr, hits)
}

/// A test that cannot run here for want of a tool: under `CI` that is a broken
/// install step, so it fails; elsewhere the reason is printed and the test passes.
pub fn skip(reason: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{reason}; under CI this is a failure (scripts/install-deps.sh installs it)"
    );
    eprintln!("SKIPPED: {reason}");
}
