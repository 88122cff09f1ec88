//! What every test uses: an agent server in-process (own root, ephemeral
//! port, the recorded-output test tools), a blocking HTTP client, raw
//! requests for header tricks, and the real `warren` binary.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warren_agent::{ServerConfig, ServerHandle};

/// `tests/tools/NAME`: scripts replaying the recorded CLI outputs.
pub fn tool(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tools")
        .join(name)
}

/// A prompt of `chars` characters that would break a careless command line:
/// it starts with `-`, has newlines, quotes, `$` and multi-byte characters,
/// and asks the test tools to `measure` what they received.
pub fn long_prompt(chars: usize) -> String {
    let mut s = String::from("-measure this: ");
    let mut n = s.chars().count();
    let mut i = 0;
    while n < chars {
        let line = format!("line {i}: ü✓ \"quoted\" $HOME `x` --flag\n");
        n += line.chars().count();
        s.push_str(&line);
        i += 1;
    }
    s.chars().take(chars).collect()
}

/// What the test tools answer to a `measure` prompt: its exact bytes.
pub fn measured(prompt: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(prompt.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("received {} bytes, sha256 {hex}", prompt.len())
}

/// A key for every built-in tool (claude, aider and opencode take
/// ANTHROPIC_API_KEY; codex CODEX_API_KEY; gemini GEMINI_API_KEY).
pub const DUMMY_KEYS: &[(&str, &str)] = &[
    ("ANTHROPIC_API_KEY", "sk-ant-test-dummy"),
    ("CODEX_API_KEY", "sk-codex-test-dummy"),
    ("GEMINI_API_KEY", "gemini-test-dummy"),
];

/// An in-process agent server on its own runtime and warren root.
pub struct TestServer {
    pub rt: tokio::runtime::Runtime,
    pub handle: Option<ServerHandle>,
    pub url: String,
    pub token: String,
    pub root: tempfile::TempDir,
    pub http: ureq::Agent,
}

pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A server running the fake `tool` (`tests/tools/TOOL`).
pub fn server_for(tool_name: &str, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
    server(|c| {
        c.tool = tool_name.into();
        c.tool_bin = Some(tool(tool_name).display().to_string());
        tweak(c);
    })
}

/// A server running the fake `claude`, with short grace and backoff.
pub fn server(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let root = tempfile::tempdir().unwrap();
    server_in(root, tweak)
}

pub fn server_in(root: tempfile::TempDir, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let mut cfg = ServerConfig::new(root.path().to_path_buf(), "test-agent", "claude");
    cfg.tool_bin = Some(tool("claude").display().to_string());
    // The fake tools need no key, but the server refuses to run a tool that
    // has none; and this machine's own logins stay out of the tests.
    cfg.tool_env = DUMMY_KEYS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    cfg.home = Some(root.path().to_path_buf());
    cfg.kill_grace = Duration::from_secs(1);
    cfg.retry_base = Duration::from_millis(100);
    cfg.default_timeout = Duration::from_secs(60);
    tweak(&mut cfg);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.block_on(warren_agent::server::start(cfg)).unwrap();
    let url = handle.url();
    let token = handle.token.clone();
    eprintln!("test server at {url} (root {})", root.path().display());
    TestServer {
        rt,
        handle: Some(handle),
        url,
        token,
        root,
        http: http(),
    }
}

impl TestServer {
    pub fn get(&self, path: &str) -> (u16, Value) {
        let mut r = self
            .http
            .get(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_json().unwrap_or(Value::Null))
    }

    pub fn get_anon(&self, path: &str) -> (u16, Value) {
        let mut r = self
            .http
            .get(&format!("{}{path}", self.url))
            .call()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_json().unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let mut r = self
            .http
            .post(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {}", self.token))
            .send_json(&body)
            .unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_json().unwrap_or(Value::Null))
    }

    /// Waits until the agent answers `idle` (the tool probe passed).
    pub fn wait_ready(&self) {
        let t0 = Instant::now();
        loop {
            let (_, s) = self.get("/status");
            if s["state"] == "idle" {
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "never idle: {s}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Submits a prompt, returns the 201 body.
    pub fn submit(&self, body: Value) -> Value {
        self.wait_ready();
        let (status, v) = self.post("/task", body);
        assert_eq!(status, 201, "{v}");
        v
    }

    /// Polls `GET /task/:id` until it is no longer running.
    pub fn wait_task(&self, id: &str) -> Value {
        let t0 = Instant::now();
        loop {
            let (status, t) = self.get(&format!("/task/{id}"));
            assert_eq!(status, 200, "{t}");
            if t["state"] != "running" {
                return t;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "task never ended: {t}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Runs one prompt to its end.
    pub fn run(&self, prompt: &str) -> Value {
        let v = self.submit(json!({ "prompt": prompt }));
        self.wait_task(v["task_id"].as_str().unwrap())
    }

    /// Stops the server (forced) and waits for it.
    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown(true);
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(20), h.wait()).await });
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends a raw HTTP/1.1 request; returns (status, body).
pub fn raw(addr: &str, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

/// The `warren` binary: `$WARREN_BIN`, else `target/<profile>/warren`
/// next to this test binary, built first when missing or older than the
/// warren-agent library it must contain.
pub fn warren_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("WARREN_BIN") {
            return PathBuf::from(bin);
        }
        let me = std::env::current_exe().unwrap();
        let deps = me.parent().unwrap();
        let bin = deps.parent().unwrap().join("warren");
        let mtime = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
        let newest_lib = std::fs::read_dir(deps)
            .unwrap()
            .flatten()
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.starts_with("libwarren_agent-") && n.ends_with(".rlib")
            })
            .filter_map(|e| mtime(&e.path()))
            .max();
        let fresh = match (mtime(&bin), newest_lib) {
            (Some(b), Some(l)) => b >= l,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !fresh {
            eprintln!("building the warren binary (cargo build -p warren)");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-p", "warren", "--manifest-path"])
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml"))
                .env("CARGO_TARGET_DIR", deps.parent().unwrap().parent().unwrap())
                .status()
                .unwrap();
            assert!(status.success(), "cargo build -p warren failed");
        }
        bin
    })
    .clone()
}

/// `warren agent serve` as a child process; killed on drop.
pub struct ServeProcess {
    pub child: Child,
    pub url: String,
    pub stderr_path: PathBuf,
}

impl ServeProcess {
    /// `warren agent serve ARGS` with a dummy key for every tool, then `env`.
    pub fn start(root: &Path, args: &[&str], env: &[(&str, &str)]) -> ServeProcess {
        let mut all: Vec<(&str, &str)> = DUMMY_KEYS.to_vec();
        all.extend_from_slice(env);
        Self::start_without_keys(root, args, &all)
    }

    /// `warren agent serve ARGS` with no credentials but those in `env`
    /// (this machine's are removed from its environment; HOME is `root`).
    pub fn start_without_keys(root: &Path, args: &[&str], env: &[(&str, &str)]) -> ServeProcess {
        Self::spawn(root, args, env, None)
    }

    /// [`ServeProcess::start`] with at most `nofile` open descriptors (a
    /// common default is 1024).
    pub fn start_with_nofile(root: &Path, args: &[&str], nofile: u64) -> ServeProcess {
        Self::spawn(root, args, DUMMY_KEYS, Some(nofile))
    }

    fn spawn(
        root: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        nofile: Option<u64>,
    ) -> ServeProcess {
        let stderr_path = root.join(format!("serve-{}.log", crate::harness::unique()));
        let mut cmd = Command::new(warren_bin());
        cmd.args(["agent", "serve"])
            .args(args)
            .env("WARREN_ROOT", root)
            .env("WARREN_TOOL_CLAUDE_BIN", tool("claude"))
            .env("HOME", root)
            // A host agent works in the directory it was started in.
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap());
        for t in warren_core::tools::TOOLS {
            for k in t.key_env.iter().chain(t.credential_env) {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit(2) in the child before exec; async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "serve printed {url:?}; log: {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        eprintln!("warren agent serve at {url}");
        ServeProcess {
            child,
            url,
            stderr_path,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn unique() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// `warren …` with this root; returns (exit code, stdout, stderr).
pub fn warren(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(warren_bin())
        .args(args)
        .env("WARREN_ROOT", root)
        .env("HOME", root)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Waits for the agent at `url` to be idle.
pub fn wait_idle(url: &str) {
    let h = http();
    let t0 = Instant::now();
    loop {
        if let Ok(mut r) = h.get(&format!("{url}/status")).call() {
            let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
            if v["state"] == "idle" {
                return;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{url} never idle");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the Docker engine answers (and the test images are built). Under
/// CI a missing engine is a test failure, elsewhere a skip (printed).
pub fn require_docker() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    let ok = *OK.get_or_init(|| {
        let ok = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-test-images.sh");
            let st = Command::new(script).status().unwrap();
            assert!(st.success(), "building the test images failed");
        }
        ok
    });
    if !ok {
        skip("the Docker engine is not reachable");
    }
    ok
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
