//! Interactive commands through a real pseudo-terminal, on both runtimes: `exec -it`
//! and `run` without a command behave like `docker exec -it` or ssh (a terminal with
//! job control, Ctrl-C to the foreground process, window resizes, the prompt back the
//! moment the command exits), and a `run --rm` whose command hangs ends on SIGTERM,
//! SIGHUP and SIGINT, leaving nothing behind.
//!
//! The terminal side is `fixtures/pty_session.py` (Python's `pty`-level calls:
//! `openpty`, `TIOCSCTTY`, `TIOCSWINSZ`): it plays the user, step by step, and prints
//! each check; see its docstring.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

fn project(ctx: &TestContext, runtime: &str) {
    ctx.write(
        ".warren.yaml",
        &format!("name: tt\nruntime: {runtime}\nnetwork: host\n"),
    );
    if runtime == "docker" {
        ctx.write(
            ".devcontainer/devcontainer.json",
            &format!(r#"{{"image": "{BUSYBOX}"}}"#),
        );
    }
    ctx.commit("terminal project");
}

/// Runs `warren ARGS` under the pty driver (the shell it starts must be interactive)
/// and asserts every check passed.
fn drive(ctx: &TestContext, args: &[&str], tiocsti: bool) {
    progress!("$ warren {} (through a pty)", args.join(" "));
    let warren = ctx.cmd(args);
    let mut py = Command::new("python3");
    py.arg(workspace().join("crates/warren-cli/tests/it/fixtures/pty_session.py"));
    if tiocsti {
        py.arg("--tiocsti");
    }
    py.arg("--")
        .arg(warren_bin())
        .args(warren.get_args())
        .current_dir(&ctx.repo)
        .env_clear()
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in warren.get_envs() {
        if let Some(v) = v {
            py.env(k, v);
        }
    }
    let out = py.output().expect("run python3");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines().filter(|l| l.starts_with("pty: ")) {
        progress!("  {line}");
    }
    assert!(
        out.status.success() && text.contains("pty: ok"),
        "the terminal session failed:\n{text}"
    );
}

#[test]
fn sandbox_terminals_behave_like_ssh() {
    let ctx = TestContext::new();
    project(&ctx, "sandbox");
    ctx.warren(&["run", "--name", "box", "--", "true"]).ok();
    // The CLI's fast path (this process is the sandbox helper), in the keeper.
    drive(&ctx, &["exec", "-it", "box", "--", "sh"], true);
    // bash too: it probes the terminal differently (and opens /dev/tty).
    if Command::new("bash").arg("-c").arg("true").status().is_ok() {
        drive(&ctx, &["exec", "-it", "box", "--", "bash", "--norc"], true);
    }
    // `run` without a command: the helper is forked or re-executed by the async
    // runtime, and the shell is the login shell warren picks.
    drive(&ctx, &["run", "--name", "inter"], true);
    // A one-command environment: the terminal comes from the sandbox's own pid 1.
    drive(&ctx, &["run", "--rm", "--", "sh"], true);
}

#[test]
fn docker_terminals_behave_like_docker_exec() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    project(&ctx, "docker");
    ctx.warren(&["run", "--name", "box", "--", "true"]).ok();
    // busybox has no python3, so no TIOCSTI step: the container's terminal is the
    // engine's pty, never the driver's.
    drive(&ctx, &["exec", "-it", "box", "--", "sh"], false);
    drive(&ctx, &["run", "--name", "inter"], false);
    drive(&ctx, &["run", "--rm"], false);
}

/// `warren run --rm` of a command that ignores every signal and never ends: each of
/// SIGTERM, SIGHUP and SIGINT to warren ends it within a few seconds with 128 + the
/// signal, and nothing is left: no environment, no container, no process.
fn hung_run_rm_ends_on_signals(runtime: &str) {
    let ctx = TestContext::new();
    project(&ctx, runtime);
    // A sleep of a length nothing else uses (the other runtime's test included)
    // marks the command's process.
    let offset = if runtime == "docker" { 0 } else { 100_000 };
    let marker = format!("sleep {}", 300_000 + offset + std::process::id() % 100_000);
    let script = format!("trap '' TERM HUP INT; {marker}; echo survived");
    let alive = |marker: &str| {
        Command::new("pgrep")
            .args(["-f", &format!("^{marker}$")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    for (sig, num) in [("TERM", 15), ("HUP", 1), ("INT", 2)] {
        let mut child = ctx
            .cmd(&["run", "--rm", "--", "sh", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !alive(&marker) {
            assert!(Instant::now() < deadline, "the command did not start");
            assert!(
                child.try_wait().unwrap().is_none(),
                "warren run ended early"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let t0 = Instant::now();
        Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if t0.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                panic!("{runtime}: warren run --rm ignored SIG{sig} for 15 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        progress!(
            "{runtime}: SIG{sig} -> warren exited {:?} after {:.1}s",
            status.code(),
            t0.elapsed().as_secs_f64()
        );
        assert_eq!(status.code(), Some(128 + num), "{runtime}: exit code");
        assert!(
            t0.elapsed() < Duration::from_secs(8),
            "{runtime}: too slow to end"
        );
        assert!(!alive(&marker), "{runtime}: the command outlived warren");
        assert!(ctx.ls().is_empty(), "{runtime}: an environment was left");
        if runtime == "docker" {
            assert!(ctx.containers().is_empty(), "a container was left");
        }
    }
}

#[test]
fn a_hung_run_rm_ends_on_signals_in_the_sandbox() {
    hung_run_rm_ends_on_signals("sandbox");
}

#[test]
fn a_hung_run_rm_ends_on_signals_on_docker() {
    if !require_docker() {
        return;
    }
    hung_run_rm_ends_on_signals("docker");
}
