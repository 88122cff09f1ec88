//! Sessions in tmux and the fleet commands (docs/sessions.md), through the real binary
//! and a real tmux server under the test's root: sessions start with their
//! environment and end with it, `output`, `send` and `attach` reach them, declared
//! session ports are routed, `new TYPE`, `start ISSUE` with ports per issue (and the
//! clash error), `cmd`, `stop --all`, `start` (the fleet) and `rm --all`.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

const CONFIG: &str = r#"runtime: sandbox
port_range: 9300-9310
sessions:
  flaky:
    command: "echo run; sleep 1; exit 3"
    restart: on-failure
  serve:
    command: "echo serving $WARREN_NAME on {{ port }}; exec busybox httpd -f -p {{ port }} -h ."
    ports: ["{{ port }}"]
  shell:
    command: "sh"
types:
  issue: {sessions: [serve]}
  dev: {sessions: [serve, shell]}
  fragile: {sessions: [flaky]}
commands:
  hello: "echo hello from $WARREN_NAME issue=${WARREN_ISSUE_ID:-none}"
"#;

fn tmux_sessions(t: &TestContext) -> Vec<String> {
    let out = Command::new("tmux")
        .arg("-S")
        .arg(t.root.join("tmux.sock"))
        .args(["list-sessions", "-F", "#{session_name}"])
        .output()
        .unwrap();
    // The root's watcher has a session of its own.
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| *l != "warren-watch")
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn curl(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-m", "5", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sessions_live_and_end_with_their_environment() {
    let t = TestContext::new();
    t.write(".warren.yaml", CONFIG);
    t.write("index.html", "session-page\n");
    t.commit("sessions");

    t.warren(&["new", "dev", "d1"]).ok();
    assert_eq!(tmux_sessions(&t), ["d1-serve", "d1-shell"]);
    let env = t.env_json("d1");
    let names: Vec<&str> = env["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["serve", "shell"]);
    progress!("sessions: {}", env["sessions"]);

    progress!("the session's declared port is routed");
    let url = format!("http://serve.d1.localhost:{}/", t.proxy_port);
    eventually("the session's server answers through the router", || {
        curl(&url) == "session-page\n"
    });
    let out = t.warren(&["output", "d1", "--session", "serve"]).ok();
    assert!(out.stdout.contains("serving d1 on 9300"), "{}", out.stdout);

    progress!("send types into the session, Enter included; output shows it");
    t.warren(&["send", "d1", "-s", "shell", "echo typed-$((6*7))"])
        .ok();
    eventually("the shell answered", || {
        t.warren(&["output", "d1", "-s", "shell", "-n", "5"])
            .ok()
            .stdout
            .contains("typed-42")
    });
    progress!("tmux: {:?}", tmux_sessions(&t));
    let several = t.warren(&["output", "d1"]).fails(1);
    progress!("tmux: {:?}", tmux_sessions(&t));
    assert!(several.stderr.contains("--session"), "{}", several.stderr);

    progress!("cmd runs a `commands:` entry in the environment of the current worktree");
    let mut c = t.cmd(&["cmd", "hello"]);
    c.current_dir(t.root.join("worktrees/repo/d1"));
    let out = c.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello from d1 issue=none"
    );

    progress!(
        "wait: the shell at its prompt is idle; after `exit 4`, exited; explain gives the evidence"
    );
    let w = t
        .warren(&[
            "wait",
            "d1",
            "-s",
            "shell",
            "--until",
            "idle",
            "--timeout",
            "20s",
        ])
        .ok();
    assert!(w.stdout.contains("shell idle"), "{}", w.stdout);
    let why = t.warren(&["explain", "d1", "--json"]).ok();
    let why: serde_json::Value = serde_json::from_str(&why.stdout).unwrap();
    let shell = why
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["session"] == "shell")
        .unwrap();
    assert_eq!(shell["state"], "idle");
    assert!(!shell["evidence"].as_array().unwrap().is_empty(), "{shell}");
    t.warren(&["send", "d1", "-s", "shell", "exit 4"]).ok();
    t.warren(&[
        "wait",
        "d1",
        "-s",
        "shell",
        "--until",
        "exited",
        "--timeout",
        "20s",
    ])
    .ok();
    let env = t.env_json("d1");
    let shell = env["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "shell")
        .unwrap()
        .clone();
    assert_eq!(
        (shell["state"].as_str(), shell["exit_code"].as_i64()),
        (Some("exited"), Some(4))
    );
    let timed_out = t
        .warren(&[
            "wait",
            "d1",
            "-s",
            "serve",
            "--until",
            "exited",
            "--timeout",
            "1s",
        ])
        .fails(1);
    assert!(
        timed_out.stderr.contains("timed out"),
        "{}",
        timed_out.stderr
    );
    let events = t.warren(&["events", "--env", "d1", "--json"]).ok();
    assert!(
        events.stdout.contains("\"to\":\"exited\""),
        "{}",
        events.stdout
    );

    progress!("stop ends the sessions; start brings them back");
    t.warren(&["stop", "d1"]).ok();
    assert!(tmux_sessions(&t).is_empty());
    let env = t.env_json("d1");
    assert!(
        env["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "stopped"),
        "{env}"
    );
    t.warren(&["start", "d1"]).ok();
    assert_eq!(tmux_sessions(&t), ["d1-serve", "d1-shell"]);
    t.warren(&["rm", "-f", "d1"]).ok();
    assert!(tmux_sessions(&t).is_empty(), "rm ends the sessions");
}

#[test]
fn the_heartbeat_restarts_failed_sessions_and_ends_orphans() {
    let t = TestContext::new();
    t.write(".warren.yaml", CONFIG);
    t.commit("sessions");
    t.warren(&["new", "fragile", "f1"]).ok();
    progress!("`restart: on-failure`: the watcher runs the failed command again");
    eventually("the session ran at least twice", || {
        t.warren(&["output", "f1"])
            .ok()
            .stdout
            .matches("run")
            .count()
            >= 2
    });
    let log = t.warren(&["logs", "f1"]).ok();
    assert!(
        log.stdout.contains("restarted (on-failure)"),
        "{}",
        log.stdout
    );
    progress!("a tmux session no environment owns is ended by the watcher");
    let st = Command::new("tmux")
        .arg("-S")
        .arg(t.root.join("tmux.sock"))
        .args(["new-session", "-d", "-s", "stray", "sleep 600"])
        .status()
        .unwrap();
    assert!(st.success());
    eventually("the stray session is gone", || {
        !tmux_sessions(&t).contains(&"stray".to_string())
    });
    t.warren(&["rm", "-f", "f1"]).ok();
}

#[test]
fn issues_get_their_ports_and_the_fleet_starts_together() {
    let t = TestContext::new();
    t.write(".warren.yaml", CONFIG);
    t.write("index.html", "issue-page\n");
    t.commit("sessions");

    progress!("start 7: an `issue` environment, WARREN_ISSUE_ID=7, port 9300 + 7 mod 10");
    t.warren(&["start", "7"]).ok();
    let env = t.env_json("issue-7");
    assert_eq!(env["type"], "issue");
    let out = t
        .warren(&["exec", "issue-7", "--", "sh", "-c", "echo $WARREN_ISSUE_ID"])
        .ok();
    assert_eq!(out.stdout.trim(), "7");
    let out = t.warren(&["output", "issue-7"]).ok();
    assert!(out.stdout.contains("on 9307"), "{}", out.stdout);

    progress!("start 17 would take issue 7's port: an error naming both");
    let clash = t.warren(&["start", "17"]).fails(1);
    assert!(
        clash.stderr.contains("issue 17") && clash.stderr.contains("issue-7"),
        "{}",
        clash.stderr
    );
    assert!(
        t.ls().iter().all(|e| e["name"] != "issue-17"),
        "nothing half-created"
    );

    progress!("stop --all, then `start` brings the project's fleet back");
    t.warren(&["start", "3"]).ok();
    t.warren(&["stop", "--all"]).ok();
    assert!(t.ls().iter().all(|e| e["state"] == "stopped"));
    let fleet = t.warren(&["start"]).ok();
    assert!(
        fleet.stdout.contains("issue-3") && fleet.stdout.contains("issue-7"),
        "{}",
        fleet.stdout
    );
    assert!(t.ls().iter().all(|e| e["state"] == "running"));
    assert_eq!(tmux_sessions(&t), ["issue-3-serve", "issue-7-serve"]);

    progress!("rm --all removes every environment and its sessions");
    t.warren(&["rm", "--all", "-f"]).ok();
    assert!(t.ls().is_empty());
    assert!(tmux_sessions(&t).is_empty());
}

#[test]
fn attach_reaches_the_session_and_detaching_leaves_it_running() {
    let t = TestContext::new();
    t.write(".warren.yaml", CONFIG);
    t.commit("sessions");
    t.warren(&["new", "dev", "a1"]).ok();
    // A real terminal: python's pty runs `warren attach`, types a command, detaches
    // with C-b d.
    let driver = r#"
import os, pty, sys, time, select
argv = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
def read_until(needle, limit=10):
    buf = b""; end = time.time() + limit
    while needle not in buf and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try: buf += os.read(fd, 4096)
            except OSError: break
    return needle in buf
time.sleep(1)
os.write(fd, b"echo attached-$((2+3))\r")
ok = read_until(b"attached-5")
# Detach as another client would (`tmux detach-client`): the attached client exits.
import subprocess
subprocess.run(["tmux", "-S", os.environ["WARREN_ROOT"] + "/tmux.sock", "detach-client", "-s", "=a1-shell"])
end = time.time() + 10
code = None
while time.time() < end:
    p, status = os.waitpid(pid, os.WNOHANG)
    if p:
        code = os.waitstatus_to_exitcode(status); break
    read_until(b"\0", 0.2)
if code is None:
    os.kill(pid, 9)
print("saw" if ok else "missed", code)
"#;
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(driver)
        .arg(warren_bin())
        .args(["attach", "a1", "--session", "shell"]);
    let base = t.cmd(&[]);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.env("TERM", "xterm");
    let out = cmd.current_dir(&t.repo).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    progress!("attach driver: {}", text.trim());
    assert_eq!(
        text.trim(),
        "saw 0",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        tmux_sessions(&t),
        ["a1-serve", "a1-shell"],
        "detaching left it running"
    );
    t.warren(&["rm", "-f", "a1"]).ok();
}

/// Item 8: a claude role's conversation is resumed after a stop, from the session id its
/// hooks relayed; an id that is not shaped like one is ignored.
#[test]
fn a_claude_role_resumes_its_conversation_after_stop() {
    let t = TestContext::new();
    t.write(
        ".warren.yaml",
        "runtime: sandbox\nroles:\n  dev: {tool: claude, model: opus}\ntypes:\n  agent: {roles: [dev]}\n",
    );
    t.commit("roles");
    t.warren(&["new", "agent", "c1"]).ok();
    let start_command = || {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(t.root.join("tmux.sock"))
            .args([
                "display-message",
                "-p",
                "-t",
                "=c1-dev:",
                "#{pane_start_command}",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = start_command();
    progress!("role session: {first}");
    assert!(
        first.contains("--model opus") && first.contains("--dangerously-skip-permissions"),
        "{first}"
    );
    assert!(
        first.contains("--settings") && !first.contains("--resume"),
        "{first}"
    );

    // What claude's SessionStart hook appends (recorded from claude 2.1.197), and a
    // hostile line after it.
    let relay = t.root.join("worktrees/repo/c1/.git/warren/hooks-dev.jsonl");
    std::fs::write(
        &relay,
        concat!(
            r#"{"time":"1796266887.25","hook":{"session_id":"4b3b28ed-9426-4e53-9542-272e090204f4","hook_event_name":"SessionStart","source":"startup"}}"#,
            "\n",
            r#"{"time":"1796266888.25","hook":{"session_id":"$(touch /tmp/pwned)","hook_event_name":"Stop"}}"#,
            "\n"
        ),
    )
    .unwrap();
    t.warren(&["stop", "c1"]).ok();
    t.warren(&["start", "c1"]).ok();
    let again = start_command();
    progress!("after stop and start: {again}");
    assert!(
        again.contains("--resume 4b3b28ed-9426-4e53-9542-272e090204f4"),
        "{again}"
    );
    assert!(!again.contains("pwned"), "{again}");
    t.warren(&["rm", "-f", "c1"]).ok();
}
