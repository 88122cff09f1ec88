//! A private tmux server for one test (its own socket in a temp dir), killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

pub struct Tmux {
    pub dir: tempfile::TempDir,
    socket: PathBuf,
}

/// What the watcher reads from a pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub screen: String,
    pub title: String,
    pub dead: Option<i32>,
}

impl Tmux {
    /// `None` (with the reason printed) when tmux is not installed.
    pub fn start() -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("SKIP: tmux is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux.sock");
        Some(Tmux { dir, socket })
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-u")
            .arg("-f")
            .arg("/dev/null")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .env_remove("TMUX")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A detached 120×40 session running `sh -c script` in `cwd`, its pane kept after exit.
    pub fn new_session(&self, name: &str, cwd: &Path, script: &str) {
        let cwd = cwd.to_str().unwrap();
        self.ok(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            cwd,
            script,
        ]);
        // The script waits a moment before printing, so this lands before any exit.
        self.ok(&["set-option", "-w", "-t", name, "remain-on-exit", "on"]);
    }

    pub fn capture(&self, name: &str) -> Capture {
        let cap = self.capture_once(name);
        if cap.dead != Some(-1) {
            return cap;
        }
        // tmux 3.3a misses a SIGCHLD now and then: the pane is dead, its process a
        // zombie, and no status is known until the server is told again (warren's
        // own watcher does the same, see `needs_reaping` in warren-env).
        let pid = self.ok(&["display-message", "-p", "#{pid}"]);
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let _ = std::process::Command::new("kill")
                .args(["-CHLD", &pid.to_string()])
                .status();
            std::thread::sleep(Duration::from_millis(50));
        }
        self.capture_once(name)
    }

    fn capture_once(&self, name: &str) -> Capture {
        let screen = self.ok(&["capture-pane", "-p", "-t", name]);
        let info = self.ok(&[
            "display-message",
            "-p",
            "-t",
            name,
            "#{pane_dead}\t#{pane_dead_status}\t#{pane_title}",
        ]);
        let mut parts = info.trim_end_matches('\n').splitn(3, '\t');
        let dead = parts.next() == Some("1");
        let status = parts.next().unwrap_or("");
        let title = parts.next().unwrap_or("").to_owned();
        Capture {
            screen,
            title,
            dead: dead.then(|| status.parse().unwrap_or(-1)),
        }
    }

    /// Polls `name` every 200 ms for `quiet` of no change (or until `timeout`),
    /// tracking when the screen last changed, as the session watcher does.
    pub fn watch(&self, name: &str, quiet: Duration, timeout: Duration) -> (Capture, SystemTime) {
        let deadline = Instant::now() + timeout;
        let mut last = self.capture(name);
        let mut changed = SystemTime::now();
        let mut still_since = Instant::now();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.capture(name);
            if now != last {
                last = now;
                changed = SystemTime::now();
                still_since = Instant::now();
            } else if still_since.elapsed() >= quiet && !last.screen.trim().is_empty() {
                break;
            }
        }
        (last, changed)
    }
}

impl Drop for Tmux {
    /// Kills the server and everything the test started: killing the server
    /// is not enough (gemini ignores the SIGHUP; codex leaves an app-server
    /// daemon in its own session under `$HOME/.codex`).
    fn drop(&mut self) {
        let panes = self.cmd(&["list-panes", "-a", "-F", "#{pane_pid}"]);
        let _ = self.cmd(&["kill-server"]);
        // tmux makes each pane's process a session (and group) leader.
        for pid in String::from_utf8_lossy(&panes.stdout).split_whitespace() {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{pid}")])
                .output();
        }
        // Daemons that left the group: anything running from, or in, this test's temp dir.
        let root = self.dir.path();
        let needle = root.to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let in_cmdline = String::from_utf8_lossy(&cmdline).contains(&needle);
            let in_cwd =
                std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(root));
            if in_cmdline || in_cwd {
                let _ = Command::new("kill").args(["-s", "KILL", pid]).output();
            }
        }
    }
}
