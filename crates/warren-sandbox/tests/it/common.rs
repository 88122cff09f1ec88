//! Test fixtures: a temp warren root with a real git repo and worktree, a planted HOME
//! with an ssh key, another environment's worktree, and ways to run the helper.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use warren_sandbox::{Network, Policy};

pub const SECRET_NAME: &str = "WARREN_TEST_PARENT_SECRET";

/// Always-read-only names that are directories where they exist (`hostile.py` knows the
/// same list); the others are files.
pub const PROTECTED_DIRS: &[&str] = &[
    ".vscode",
    ".idea",
    ".claude/commands",
    ".claude/agents",
    ".husky",
    ".github/workflows",
];

pub fn is_root() -> bool {
    rustix::process::getuid().is_root()
}

pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{}x{nanos}", std::process::id())
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway warren root with one environment (`env1`), whose tree is a repository of
/// its own borrowing the main repository's objects (`objects/info/alternates`), and a
/// second environment's worktree.
pub struct Layout {
    pub dir: tempfile::TempDir,
    pub mark: String,
    pub real_home: PathBuf,
    pub warren_root: PathBuf,
    pub repo: PathBuf,
    pub git_dir: PathBuf,
    pub worktree: PathBuf,
    pub other_wt: PathBuf,
    pub env_dir: PathBuf,
    pub outside: PathBuf,
}

impl Layout {
    pub fn new(mark: &str) -> Layout {
        // Not under /tmp: the sandbox shows its private dir there, so a path of the
        // layout under /tmp could be created inside without reaching the host, and an
        // attempt that did so would look like an escape.
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(base).unwrap();
        let dir = tempfile::Builder::new()
            .prefix("warren-sbx-")
            .tempdir_in(base)
            .unwrap();
        let root = dir.path().canonicalize().unwrap();
        let real_home = root.join("home");
        std::fs::create_dir_all(real_home.join(".ssh")).unwrap();
        std::fs::write(
            real_home.join(".ssh/id_ed25519"),
            format!("PRIVATE KEY {mark}\n"),
        )
        .unwrap();
        let warren_root = real_home.join(".warren");
        std::fs::create_dir_all(warren_root.join("credentials")).unwrap();
        std::fs::write(
            warren_root.join("credentials/token"),
            format!("token {mark}"),
        )
        .unwrap();
        std::fs::write(warren_root.join("state.db"), format!("sqlite {mark}")).unwrap();
        let repo = root.join("src/proj");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q"]);
        std::fs::write(repo.join("README"), "hello\n").unwrap();
        git(&repo, &["add", "README"]);
        git(&repo, &["commit", "-qm", "init"]);
        let worktree = warren_root.join("worktrees/proj/env1");
        git(
            &repo,
            &["clone", "-q", "--shared", ".", worktree.to_str().unwrap()],
        );
        git(&worktree, &["checkout", "-q", "-b", "warren/env1"]);
        let other_wt = warren_root.join("worktrees/proj/env2");
        std::fs::create_dir_all(&other_wt).unwrap();
        std::fs::write(other_wt.join("secret.txt"), format!("other env {mark}")).unwrap();
        let env_dir = warren_root.join("sandboxes/env1");
        let outside = root.join("outside");
        std::fs::create_dir_all(&outside).unwrap();

        std::os::unix::fs::symlink(outside.join("pwned-symlink"), worktree.join("link-out"))
            .unwrap();
        std::os::unix::fs::symlink(
            repo.join(".git/hooks/pre-commit"),
            worktree.join("link-hook"),
        )
        .unwrap();
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/hostile.py"),
            worktree.join("hostile.py"),
        )
        .unwrap();
        if is_root() {
            // A setuid binary owned by another user: outside, running it changes the euid.
            let suid = worktree.join("suid-id");
            std::fs::copy("/usr/bin/id", &suid).unwrap();
            std::os::unix::fs::chown(&suid, Some(65534), Some(65534)).unwrap();
            std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
        }
        let git_dir = repo.join(".git");
        Layout {
            dir,
            mark: mark.to_string(),
            real_home,
            warren_root,
            repo,
            git_dir,
            worktree,
            other_wt,
            env_dir,
            outside,
        }
    }

    /// Variables the hostile script reads.
    pub fn esc_env(&self) -> Vec<(String, String)> {
        let p = |p: &Path| p.to_string_lossy().into_owned();
        vec![
            ("ESC_WT".into(), p(&self.worktree)),
            ("ESC_GITDIR".into(), p(&self.git_dir)),
            ("ESC_OUTSIDE".into(), p(&self.outside)),
            ("ESC_MARK".into(), self.mark.clone()),
            ("ESC_REAL_HOME".into(), p(&self.real_home)),
            ("ESC_WARREN_ROOT".into(), p(&self.warren_root)),
            ("ESC_OTHER_WT".into(), p(&self.other_wt)),
            ("ESC_SECRET_NAME".into(), SECRET_NAME.into()),
            (
                "ESC_PROTECTED".into(),
                warren_sandbox::PROTECTED_WORKTREE_NAMES.join(":"),
            ),
        ]
    }

    /// Creates every always-read-only path on the host (directories with a `keep` file,
    /// files), each holding `orig`.
    pub fn create_protected(&self) {
        for name in warren_sandbox::PROTECTED_WORKTREE_NAMES {
            let path = self.worktree.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            if PROTECTED_DIRS.contains(name) {
                std::fs::create_dir_all(&path).unwrap();
                std::fs::write(path.join("keep"), "orig").unwrap();
            } else {
                std::fs::write(&path, "orig").unwrap();
            }
        }
    }

    /// Whether every always-read-only path is as [`Layout::create_protected`] made it.
    pub fn protected_unchanged(&self) -> Vec<String> {
        let mut changed = Vec::new();
        for name in warren_sandbox::PROTECTED_WORKTREE_NAMES {
            let path = self.worktree.join(name);
            let ok = if PROTECTED_DIRS.contains(name) {
                let entries: Vec<_> = std::fs::read_dir(&path)
                    .map(|r| r.flatten().map(|e| e.file_name()).collect())
                    .unwrap_or_default();
                entries == ["keep"]
                    && std::fs::read_to_string(path.join("keep")).ok().as_deref() == Some("orig")
            } else {
                std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
                    && std::fs::read_to_string(&path).ok().as_deref() == Some("orig")
            };
            if !ok {
                changed.push(name.to_string());
            }
        }
        changed
    }

    pub fn policy(&self, network: Network, extra_env: &[(String, String)]) -> Policy {
        let mut policy = Policy::new("env1", &self.worktree, &self.env_dir, &self.real_home);
        policy.read_only.push(self.git_dir.join("objects"));
        policy.network = network;
        policy.env = vec![
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("HOME".into(), self.real_home.to_string_lossy().into_owned()),
        ];
        policy.env.extend(self.esc_env());
        policy.env.extend(extra_env.iter().cloned());
        policy
    }

    pub fn write_policy(&self, policy: &Policy) -> PathBuf {
        let path = self.dir.path().join(format!("policy-{}.json", unique("")));
        std::fs::write(&path, serde_json::to_vec(policy).unwrap()).unwrap();
        path
    }
}

/// The helper as the CLI fast path runs it: `<this binary> __sandbox --policy-file P -- argv`,
/// with a secret in the helper's own environment and a leaked host fd (9 → state.db).
pub fn helper_command(layout: &Layout, policy: &Policy, argv: &[&str]) -> Command {
    let policy_file = layout.write_policy(policy);
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("__sandbox")
        .arg("--policy-file")
        .arg(&policy_file)
        .arg("--")
        .args(argv);
    cmd.env(SECRET_NAME, format!("secret {}", layout.mark));
    leak_fd(&mut cmd, &layout.warren_root.join("state.db"));
    cmd
}

/// Gives the child fd 9 open on `path` (not close-on-exec), like a careless parent.
pub fn leak_fd(cmd: &mut Command, path: &Path) {
    let file = std::fs::File::open(path).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    // Keep the file open in the parent until the child has exec'd.
    let keep = Box::leak(Box::new(file));
    let _ = keep;
    // SAFETY: dup2 and fcntl are async-signal-safe and touch no memory.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep the close-on-exec flag the file was opened with.
            let rc = if raw == 9 {
                libc::fcntl(9, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 9)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Waits with a deadline; kills the child when it passes.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs to completion with piped output: (code, stdout, stderr).
pub fn output(mut cmd: Command, limit: Duration) -> (i32, String, String) {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t2 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_timeout(&mut child, limit);
    let code = status.map(|s| s.code().unwrap_or(-1)).unwrap_or(-2);
    (code, t1.join().unwrap(), t2.join().unwrap())
}

/// Host pids whose cmdline contains `needle`.
pub fn host_pids_matching(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline"))
            && String::from_utf8_lossy(&cmd).contains(needle)
        {
            out.push(pid);
        }
    }
    out
}

/// Test servers on the host's loopback: an HTTP-ish TCP server, a UDP echo (also
/// answers DNS queries with the same id), an abstract unix socket, a victim process.
pub struct Servers {
    pub tcp_port: u16,
    pub udp_port: u16,
    pub abstract_name: String,
    pub victim: Child,
}

impl Servers {
    pub fn start(mark: &str) -> Servers {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_port = tcp.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut conn in tcp.incoming().flatten() {
                let _ = conn.set_read_timeout(Some(Duration::from_millis(300)));
                let mut buf = [0u8; 512];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp_port = udp.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = udp.recv_from(&mut buf) {
                let _ = udp.send_to(&buf[..n], from);
            }
        });
        let abstract_name = unique("warren-escape-");
        let addr = <std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(
            abstract_name.as_bytes(),
        )
        .unwrap();
        let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
        std::thread::spawn(move || for _conn in listener.incoming() {});
        let victim = Command::new("sleep")
            .arg0(format!("warren-victim-{mark}"))
            .arg("600")
            .spawn()
            .unwrap();
        Servers {
            tcp_port,
            udp_port,
            abstract_name,
            victim,
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("ESC_TCP_PORT".into(), self.tcp_port.to_string()),
            ("ESC_UDP_PORT".into(), self.udp_port.to_string()),
            ("ESC_ABSTRACT".into(), self.abstract_name.clone()),
            ("ESC_VICTIM_PID".into(), self.victim.id().to_string()),
        ]
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = self.victim.kill();
        let _ = self.victim.wait();
    }
}

/// Reads lines from a child's stdout until one equals `want` (or EOF / deadline).
pub fn wait_for_line(child: &mut Child, want: &str, limit: Duration) -> bool {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let want = want.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.trim() == want {
                let _ = tx.send(());
                return;
            }
        }
    });
    rx.recv_timeout(limit).is_ok()
}

pub fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}
