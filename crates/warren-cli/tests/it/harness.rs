//! `TestContext`: each test gets its own `WARREN_ROOT`, HOME, git repository
//! and ports, runs the real `warren` binary with an explicit environment
//! (never mutating the test process's own), and cleans up containers,
//! worktrees and processes on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BUSYBOX: &str = "warren-test/busybox:latest";

/// Path of the `warren` binary under test.
pub fn warren_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_warren"))
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Prints a progress line (visible with `--nocapture` and in nextest output).
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => { eprintln!("[{}] {}", module_path!().rsplit("::").next().unwrap_or(""), format!($($arg)*)) };
}

/// Whether the Docker engine answers. Under CI a missing engine is a test
/// failure (a broken install step must be seen), elsewhere a skip.
pub fn require_docker() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *OK.get_or_init(|| {
        let ok = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            let st = Command::new(workspace().join("scripts/build-test-images.sh"))
                .status()
                .expect("run scripts/build-test-images.sh");
            assert!(st.success(), "building the test images failed");
        }
        ok
    });
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!(
                "the Docker engine is not reachable; under CI this is a failure (run scripts/install-deps.sh)"
            );
        }
        eprintln!("skipped: the Docker engine is not reachable (run scripts/install-deps.sh)");
    }
    ok
}

/// Runs git in `dir`, panicking on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.invalid",
        ])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A free TCP port on 127.0.0.1.
/// The names in `dir` (none when it does not exist), in directory order.
pub fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// Output of one `warren` invocation.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts failure with `code` and returns self.
    #[track_caller]
    pub fn fails(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// One test's private world.
pub struct TestContext {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
    pub repo: PathBuf,
    pub proxy_port: u16,
    extra_env: Vec<(String, String)>,
}

impl TestContext {
    /// A context with an initialised repository holding one commit.
    pub fn new() -> TestContext {
        let dir = tempfile::Builder::new()
            .prefix("warren-it-")
            .tempdir()
            .expect("tempdir");
        let root = dir.path().join("root");
        let home = dir.path().join("home");
        let repo = dir.path().join("repo");
        for d in [&root, &home, &repo] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        git(&repo, &["init", "--quiet", "-b", "main"]);
        std::fs::write(repo.join("README.md"), "test project\n").expect("write");
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "--quiet", "-m", "initial"]);
        TestContext {
            root,
            home,
            repo,
            proxy_port: free_port(),
            extra_env: Vec::new(),
            dir,
        }
    }

    /// Sets an env var for every later `warren` invocation.
    pub fn env(&mut self, k: &str, v: &str) -> &mut Self {
        self.extra_env.retain(|(n, _)| n != k);
        self.extra_env.push((k.to_string(), v.to_string()));
        self
    }

    /// Writes a file into the repository (creating directories).
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.repo.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    /// Commits everything in the repository.
    pub fn commit(&self, msg: &str) {
        git(&self.repo, &["add", "-A"]);
        git(
            &self.repo,
            &["commit", "--quiet", "--allow-empty", "-m", msg],
        );
    }

    /// A `warren` command with this context's environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(warren_bin());
        c.args(args)
            .current_dir(&self.repo)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("WARREN_ROOT", &self.root)
            .env("WARREN_PROXY_PORT", self.proxy_port.to_string())
            .env("WARREN_PROXY_IDLE_SECONDS", "2")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        if let Some(h) = std::env::var_os("DOCKER_HOST") {
            c.env("DOCKER_HOST", h);
        }
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    /// Runs `warren ARGS` to completion.
    pub fn warren(&self, args: &[&str]) -> Run {
        progress!("$ warren {}", args.join(" "));
        let run = Run::from(self.cmd(args).output().expect("run warren"));
        if run.code != 0 {
            progress!("  exit {}: {}", run.code, run.stderr.trim());
        }
        run
    }

    /// `warren ls --json` parsed.
    pub fn ls(&self) -> Vec<serde_json::Value> {
        let run = self.warren(&["ls", "--json"]).ok();
        serde_json::from_str(&run.stdout).expect("ls --json is JSON")
    }

    /// The `ls --json` entry of `name`.
    pub fn env_json(&self, name: &str) -> serde_json::Value {
        self.ls()
            .into_iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no environment {name} in ls"))
    }

    /// Label value identifying this context's containers (`warren.root`).
    pub fn container_filter(&self) -> String {
        format!("label=warren.root={}", self.root_id())
    }

    /// What warren calls this context's root in labels and compose project names.
    pub fn root_id(&self) -> String {
        use sha2::Digest;
        let d = sha2::Sha256::digest(self.root.to_string_lossy().as_bytes());
        format!("{:02x}{:02x}{:02x}", d[0], d[1], d[2])
    }

    /// Ids of this context's containers on the engine.
    pub fn containers(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--filter", &self.container_filter()])
            .output()
            .expect("docker ps");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for TestContext {
    fn drop(&mut self) {
        // Environments through warren first (routes, worktrees), with none of
        // the variables a test set (one may have left a bad value), then
        // anything left on the engine, then git's worktree records.
        self.extra_env.clear();
        if let Ok(out) = self.cmd(&["ls", "-q"]).output() {
            for name in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = self.cmd(&["rm", "--force", name]).output();
            }
        }
        let _ = self.cmd(&["proxy", "stop"]).output();
        // The change feed's watcher ends within a second of its socket.
        let _ = std::fs::remove_file(self.root.join("feed").join("sock"));
        // The root's tmux server (sessions), whatever is left of it.
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(self.root.join("tmux.sock"))
            .arg("kill-server")
            .stderr(std::process::Stdio::null())
            .output();
        // A sandbox environment's keeper warren could not stop: its pid 1 is in
        // the environment's registry (`local/<id>/run-<pid>.json`).
        for env in dir_names(&self.root.join("local")) {
            for rec in dir_names(&self.root.join("local").join(&env)) {
                let Some(pid) = rec
                    .strip_prefix("run-")
                    .and_then(|r| r.strip_suffix(".json"))
                else {
                    continue;
                };
                let is_warren = std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("warren"));
                if is_warren {
                    let _ = Command::new("kill").args(["-9", pid]).output();
                }
            }
        }
        let ids = self.containers();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .arg("rm")
                .arg("-f")
                .args(&ids)
                .output();
        }
        // Compose environments' networks and volumes (`warren-<root>-<name>_…`).
        let prefix = format!("warren-{}-", self.root_id());
        for kind in ["network", "volume"] {
            let Ok(out) = Command::new("docker")
                .args([kind, "ls", "--format", "{{.Name}}"])
                .output()
            else {
                continue;
            };
            let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|n| n.starts_with(&prefix))
                .map(str::to_string)
                .collect();
            if !names.is_empty() {
                let _ = Command::new("docker")
                    .arg(kind)
                    .arg("rm")
                    .args(&names)
                    .output();
            }
        }
        let _ = Command::new("git")
            .arg("-C")
            .arg(&self.repo)
            .args(["worktree", "prune"])
            .output();
    }
}
