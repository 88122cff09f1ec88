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
        log.stdout
            .contains("restarted (on-failure, exit code 3; restart 1 in a row)"),
        "{}",
        log.stdout
    );
    progress!("with backoff: 1 s, 2 s, 4 s … between restarts");
    let restart_at = |n: u32| -> Option<i64> {
        let log = t.warren(&["logs", "f1"]).ok().stdout;
        let line = log
            .lines()
            .find(|l| l.contains(&format!("restart {n} in a row")))?;
        // `2026-12-03T04:37:41Z …`: seconds of the day are enough here.
        let hms = line.get(11..19)?;
        let mut f = hms.split(':').map(|x| x.parse::<i64>().unwrap_or(0));
        Some(f.next()? * 3600 + f.next()? * 60 + f.next()?)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while restart_at(4).is_none() {
        assert!(Instant::now() < deadline, "no fourth restart");
        std::thread::sleep(Duration::from_millis(250));
    }
    let (third, fourth) = (restart_at(3).unwrap(), restart_at(4).unwrap());
    assert!(
        fourth - third >= 3,
        "the fourth restart came {}s after the third: no backoff",
        fourth - third
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

    progress!("start 1 2: several issues start side by side, their output in order");
    let both = t.warren(&["start", "1", "2"]).ok();
    let (i1, i2) = (both.stderr.find("issue-1"), both.stderr.find("issue-2"));
    assert!(i1.is_some() && i2.is_some() && i1 < i2, "{}", both.stderr);
    assert_eq!(t.env_json("issue-1")["state"], "running");
    assert_eq!(t.env_json("issue-2")["state"], "running");
    progress!("start 4 14: the same port; one by one, so the clash is still an error");
    let clash = t.warren(&["start", "4", "14"]).fails(1);
    assert!(
        clash.stderr.contains("issue 14 and issue 4"),
        "{}",
        clash.stderr
    );
    t.warren(&["rm", "-f", "issue-1", "issue-2", "issue-4"])
        .ok();

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
fn many_issues_started_at_once_on_a_fresh_server_all_run() {
    let t = TestContext::new();
    // The session's command ends in `;` (`sh -c` gets `$0` = `;`): tmux reads an
    // argument ending in `;` as the end of its own command unless told otherwise.
    const SEMI: &str = r#"  semi:
    command: "exec sh -c 'echo \"[semi $0]\"; exec sleep 600' \\;"
"#;
    t.write(
        ".warren.yaml",
        &CONFIG
            .replace("  shell:\n", &format!("{SEMI}  shell:\n"))
            .replace(
                "issue: {sessions: [serve]}",
                "issue: {sessions: [serve, semi]}",
            ),
    );
    t.write("index.html", "issue-page\n");
    t.commit("sessions");
    progress!("start 1 … 6 with 6 jobs: six processes race to start the tmux server");
    t.warren(&["start", "--jobs", "6", "1", "2", "3", "4", "5", "6"])
        .ok();
    let mut want: Vec<String> = (1..=6)
        .flat_map(|n| [format!("issue-{n}-semi"), format!("issue-{n}-serve")])
        .collect();
    want.sort();
    eventually("every session runs", || tmux_sessions(&t) == want);
    let watchers = Command::new("tmux")
        .arg("-S")
        .arg(t.root.join("tmux.sock"))
        .args(["list-panes", "-a", "-F", "#{session_name} #{pane_dead}"])
        .output()
        .unwrap();
    let watchers = String::from_utf8_lossy(&watchers.stdout);
    assert_eq!(
        watchers
            .lines()
            .filter(|l| l.starts_with("warren-watch "))
            .collect::<Vec<_>>(),
        ["warren-watch 0"],
        "one live watcher: {watchers}"
    );
    for e in t.ls() {
        assert_eq!(e["state"], "running", "{e}");
    }
    progress!("a command ending in `;` reaches the shell whole");
    eventually("the semi session printed its line", || {
        t.warren(&["output", "issue-3", "--session", "semi"])
            .stdout
            .contains("[semi ;]")
    });
    t.warren(&["rm", "--all", "-f"]).ok();
    assert!(t.ls().is_empty());
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

/// A codex role relays its turn ends through codex's `notify` program (`-c notify=[…]`)
/// and is resumed after a stop with `codex resume THREAD-ID …`, its flags kept; a thread
/// id that is not a UUID is ignored.
#[test]
fn a_codex_role_resumes_its_conversation_after_stop() {
    let t = TestContext::new();
    t.write(
        ".warren.yaml",
        "runtime: sandbox\nroles:\n  dev: {tool: codex, model: o3, dangerous: true}\ntypes:\n  agent: {roles: [dev]}\n",
    );
    t.commit("roles");
    t.warren(&["new", "agent", "x1"]).ok();
    let start_command = || {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(t.root.join("tmux.sock"))
            .args([
                "display-message",
                "-p",
                "-t",
                "=x1-dev:",
                "#{pane_start_command}",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = start_command();
    progress!("role session: {first}");
    assert!(
        first.contains("-m o3") && first.contains("--dangerously-bypass-approvals-and-sandbox"),
        "{first}"
    );
    assert!(
        first.contains("notify=") && first.contains(".git/warren/hooks-dev.jsonl"),
        "{first}"
    );
    assert!(!first.contains(" resume "), "{first}");

    // What codex's notify program appends after a turn (codex-cli 0.171.0's
    // agent-turn-complete), then a hostile line naming another "thread".
    let relay = t.root.join("worktrees/repo/x1/.git/warren/hooks-dev.jsonl");
    assert!(relay.parent().unwrap().is_dir());
    std::fs::write(
        &relay,
        concat!(
            r#"{"time":"1796266887.25","hook":{"type":"agent-turn-complete","thread-id":"0199a213-81c0-7800-8aa1-bbab2a035a53","turn-id":"1","cwd":"/w","input-messages":["hi"],"last-assistant-message":"Hello."}}"#,
            "\n",
            r#"{"time":"1796266888.25","hook":{"type":"agent-turn-complete","thread-id":"--config=notify=x"}}"#,
            "\n"
        ),
    )
    .unwrap();
    t.warren(&["stop", "x1"]).ok();
    t.warren(&["start", "x1"]).ok();
    let again = start_command();
    progress!("after stop and start: {again}");
    assert!(
        again.contains("codex resume 0199a213-81c0-7800-8aa1-bbab2a035a53 -m o3"),
        "{again}"
    );
    assert!(
        again.contains("--dangerously-bypass-approvals-and-sandbox") && again.contains("notify="),
        "{again}"
    );
    assert!(!again.contains("notify=x"), "{again}");
    t.warren(&["rm", "-f", "x1"]).ok();
}

/// The keeper of every sandbox environment under `root` (pid 1 of its namespaces).
fn keepers(root: &std::path::Path) -> Vec<i32> {
    let mut out = Vec::new();
    let mut dirs = vec![root.join("local")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                dirs.push(p);
            } else if name.starts_with("run-") && name.ends_with(".json") {
                let v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&p).unwrap_or_default())
                        .unwrap_or_default();
                if v["keeper"] == true {
                    out.push(v["pid"].as_i64().unwrap_or(0) as i32);
                }
            }
        }
    }
    out
}

fn kill_tmux_server(t: &TestContext) {
    let _ = Command::new("tmux")
        .arg("-S")
        .arg(t.root.join("tmux.sock"))
        .arg("kill-server")
        .status();
}

/// Item 8: tmux, the runtime and the store agree again after the tmux server is
/// killed, and after a "machine restart" (the sandbox's keeper killed with
/// everything in it, and tmux with it): `ls` tells the truth, `start` brings it back.
#[test]
fn ls_tells_the_truth_and_start_brings_it_back_after_tmux_or_the_machine_dies() {
    resync("sandbox");
}

#[test]
fn the_same_on_docker() {
    if !require_docker() {
        return;
    }
    resync("docker");
}

fn resync(runtime: &str) {
    let t = TestContext::new();
    let config = match runtime {
        "docker" => CONFIG.replace(
            "runtime: sandbox",
            &format!("runtime: docker\nimage: {BUSYBOX}"),
        ),
        _ => CONFIG.to_string(),
    };
    t.write(".warren.yaml", &config);
    t.write("index.html", "back-again\n");
    t.commit("sessions");
    t.warren(&["new", "dev", "r1"]).ok();
    let url = format!("http://serve.r1.localhost:{}/", t.proxy_port);
    eventually("the session's server answers", || {
        curl(&url) == "back-again\n"
    });

    progress!("the tmux server is killed: the environment runs, its sessions are gone");
    kill_tmux_server(&t);
    let env = t.env_json("r1");
    assert_eq!(env["state"], "running", "{env}");
    for s in env["sessions"].as_array().unwrap() {
        assert_eq!(s["state"], "stopped", "{s}");
        assert!(
            s["reason"].as_str().unwrap().contains("warren start"),
            "{s}"
        );
    }
    let fleet = t.warren(&["start"]).ok();
    progress!("start:\n{}", fleet.stdout);
    assert!(
        fleet.stdout.contains("2 session(s) started again"),
        "{}",
        fleet.stdout
    );
    assert_eq!(tmux_sessions(&t), ["r1-serve", "r1-shell"]);
    eventually("the server answers again", || curl(&url) == "back-again\n");

    progress!("the machine restarts: the environment (and all in it) and tmux are gone");
    if runtime == "docker" {
        let id = t.env_json("r1")["container"].as_str().unwrap().to_string();
        let st = Command::new("docker").args(["kill", &id]).output().unwrap();
        assert!(st.status.success(), "{st:?}");
    } else {
        let ks = keepers(&t.root);
        assert_eq!(ks.len(), 1, "one keeper: {ks:?}");
        let _ = Command::new("kill")
            .args(["-9", &ks[0].to_string()])
            .status();
        eventually("the keeper is gone", || {
            !std::path::Path::new(&format!("/proc/{}", ks[0])).exists()
        });
    }
    kill_tmux_server(&t);
    let env = t.env_json("r1");
    assert_eq!(env["state"], "stopped", "ls says what runs: {env}");
    assert!(
        env["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "stopped"),
        "{env}"
    );
    let exec = t.warren(&["exec", "r1", "--", "true"]).fails(1);
    assert!(exec.stderr.contains("not running"), "{}", exec.stderr);
    let fleet = t.warren(&["start"]).ok();
    progress!("start:\n{}", fleet.stdout);
    assert!(fleet.stdout.contains("started"), "{}", fleet.stdout);
    assert_eq!(t.env_json("r1")["state"], "running");
    assert_eq!(tmux_sessions(&t), ["r1-serve", "r1-shell"]);
    eventually("the server answers after the restart", || {
        curl(&url) == "back-again\n"
    });
    t.warren(&["rm", "-f", "r1"]).ok();
    assert!(keepers(&t.root).is_empty(), "rm ends the keeper");
}

/// A gemini role's hooks live in the environment's private `~/.gemini/settings.json`
/// (gemini reads no per-session settings, and a system settings file only when root
/// owns it): what gemini's hook command does there lands in the role's relay, and the
/// turn it relayed is resumed after a stop.
#[test]
fn a_gemini_role_relays_through_its_private_settings_and_resumes() {
    let t = TestContext::new();
    t.write(
        ".warren.yaml",
        "runtime: sandbox\nroles:\n  dev: {tool: gemini}\ntypes:\n  agent: {roles: [dev]}\n",
    );
    t.commit("roles");
    // The user's own gemini settings are kept beside warren's hooks.
    std::fs::create_dir_all(t.home.join(".gemini")).unwrap();
    std::fs::write(
        t.home.join(".gemini/settings.json"),
        r#"{"ui": {"theme": "Dracula"}}"#,
    )
    .unwrap();
    t.warren(&["new", "agent", "g1"]).ok();
    let private = t.root.join("configs/g1/.gemini/settings.json");
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&private).unwrap()).unwrap();
    assert_eq!(settings["ui"]["theme"], "Dracula", "{settings}");
    let command = settings["hooks"]["AfterAgent"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_string();
    progress!("AfterAgent hook: {command}");
    let inside = t
        .warren(&[
            "exec",
            "g1",
            "--",
            "cat",
            &format!("{}/.gemini/settings.json", t.home.display()),
        ])
        .ok()
        .stdout;
    assert!(
        inside.contains("AfterAgent"),
        "the environment sees the hooks: {inside}"
    );

    progress!("gemini runs the hook with bash -c, the session's variables, the event on stdin");
    let payload = r#"{"session_id":"5f0c7a3e-2b1d-4c5e-9f8a-0123456789ab","hook_event_name":"AfterAgent","cwd":"/w","timestamp":"2026-12-03T05:00:00Z","prompt":"hi","prompt_response":"done"}"#;
    let mut c = t.cmd(&[
        "exec",
        "-e",
        "WARREN_ROLE=dev",
        "g1",
        "--",
        "sh",
        "-c",
        &command,
    ]);
    c.stdin(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), payload.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    let relay = t.root.join("worktrees/repo/g1/.git/warren/hooks-dev.jsonl");
    let line = std::fs::read_to_string(&relay).unwrap();
    assert!(
        line.contains("AfterAgent") && line.contains("5f0c7a3e"),
        "{line}"
    );

    progress!("the relayed turn's session id is resumed after a stop");
    t.warren(&["stop", "g1"]).ok();
    t.warren(&["start", "g1"]).ok();
    let out = Command::new("tmux")
        .arg("-S")
        .arg(t.root.join("tmux.sock"))
        .args([
            "display-message",
            "-p",
            "-t",
            "=g1-dev:",
            "#{pane_start_command}",
        ])
        .output()
        .unwrap();
    let again = String::from_utf8_lossy(&out.stdout);
    progress!("after stop and start: {again}");
    assert!(
        again.contains("gemini --resume 5f0c7a3e-2b1d-4c5e-9f8a-0123456789ab"),
        "{again}"
    );
    t.warren(&["rm", "-f", "g1"]).ok();
}

/// A tmux session left behind under a new environment's session name (an earlier
/// environment of that name whose session outlived it) neither fails the start nor
/// is replaced: the start goes on with the session that exists, as `warren start`
/// does for a session already running.
#[test]
fn a_leftover_tmux_session_of_the_same_name_does_not_fail_a_new_environment() {
    let t = TestContext::new();
    t.write(".warren.yaml", CONFIG);
    t.commit("sessions");
    progress!("a tmux session `issue-5-serve` already runs on the root's server");
    let sock = t.root.join("tmux.sock");
    std::fs::create_dir_all(&t.root).unwrap();
    let made = Command::new("tmux")
        .arg("-S")
        .arg(&sock)
        .args([
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "issue-5-serve",
            "sleep 600",
        ])
        .status()
        .unwrap();
    assert!(made.success());
    progress!("warren start 5 creates the environment anyway");
    t.warren(&["start", "5"]).ok();
    assert_eq!(tmux_sessions(&t), ["issue-5-serve"]);
    let env = t.env_json("issue-5");
    assert_eq!(env["state"], "running", "{env}");
}
