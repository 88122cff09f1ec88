//! `warren task` through the real binary against `warren agent serve`.

use serde_json::Value;

use crate::harness::{ServeProcess, wait_idle, warren};

#[test]
fn task_finds_the_only_agent_streams_and_prints_the_session() {
    let root = tempfile::tempdir().unwrap();
    let (code, _, err) = warren(root.path(), &["task", "hello"]);
    eprintln!("no agent: {err}");
    assert_eq!(code, 1);
    assert!(err.contains("no agent server is running"), "{err}");

    let p = ServeProcess::start(root.path(), &["--runtime", "host", "--name", "dev"], &[]);
    wait_idle(&p.url);
    let (code, out, err) = warren(root.path(), &["task", "hello director"]);
    eprintln!("stdout: {out}\nstderr: {err}");
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "echo: hello director");
    assert!(
        err.contains("echo: hello director"),
        "progress streamed to stderr"
    );
    let session = err
        .lines()
        .find_map(|l| l.strip_prefix("session: "))
        .expect("session printed")
        .trim()
        .to_string();
    assert!(err.contains(&format!("warren task --agent dev --session {session}")));

    // Continue the session by name, with --json.
    let (code, out, _) = warren(
        root.path(),
        &[
            "task",
            "--agent",
            "dev",
            "--session",
            &session,
            "--json",
            "again",
        ],
    );
    assert_eq!(code, 0);
    let t: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (t["state"].as_str(), t["session_id"].as_str()),
        (Some("completed"), Some(session.as_str()))
    );

    // A failure exits 1 and says why.
    let (code, _, err) = warren(root.path(), &["task", "--agent", &p.url, "not logged in"]);
    eprintln!("failure: {err}");
    assert_eq!(code, 1);
    assert!(err.contains("Not logged in"), "{err}");

    // By URL, a second agent makes the bare form ambiguous.
    let p2 = ServeProcess::start(root.path(), &["--runtime", "host", "--name", "other"], &[]);
    wait_idle(&p2.url);
    let (code, _, err) = warren(root.path(), &["task", "hi"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("2 agent servers are running (dev, other)"),
        "{err}"
    );
    let (code, out, _) = warren(root.path(), &["task", "--agent", "other", "hi"]);
    assert_eq!((code, out.trim()), (0, "echo: hi"));
    let (code, out, _) = warren(root.path(), &["agent", "ls", "--json"]);
    assert_eq!(code, 0);
    let ls: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ls.as_array().unwrap().len(), 2);
    let (code, _, err) = warren(root.path(), &["task", "--agent", "nope", "hi"]);
    assert_eq!(code, 1);
    assert!(err.contains("no running agent named `nope`"), "{err}");
}

#[test]
fn serve_requires_an_environment_or_the_host_runtime() {
    let root = tempfile::tempdir().unwrap();
    let (code, _, err) = warren(root.path(), &["agent", "serve"]);
    eprintln!("{err}");
    assert_ne!(code, 0);
    assert!(
        err.contains("warren agent serve NAME") && err.contains("--runtime host"),
        "{err}"
    );
}

#[test]
fn ctrl_c_in_task_cancels_it_on_the_agent() {
    let root = tempfile::tempdir().unwrap();
    let p = ServeProcess::start(root.path(), &["--runtime", "host", "--name", "dev"], &[]);
    wait_idle(&p.url);
    let child = std::process::Command::new(crate::harness::warren_bin())
        .args(["task", "slow 30"])
        .env("WARREN_ROOT", root.path())
        .env("HOME", root.path())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first progress step, then interrupt like a terminal would.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let t0 = std::time::Instant::now();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("stderr: {err}");
    assert_eq!(out.status.code(), Some(1), "a cancelled task is a failure");
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(15),
        "cancelled, not run to the end"
    );
    assert!(err.contains("cancelling task"), "{err}");
    assert!(
        err.contains("step 1"),
        "progress before the interrupt: {err}"
    );
    let (_, out, _) = warren(root.path(), &["agent", "ls", "--json"]);
    let _: Value = serde_json::from_str(&out).unwrap();
    let h = crate::harness::http();
    let status: Value = h
        .get(&format!("{}/status", p.url))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_ne!(status["state"], "working", "{status}");
}

#[test]
fn task_shows_claudes_api_retries_and_says_the_failure_once() {
    let root = tempfile::tempdir().unwrap();
    let p = ServeProcess::start(root.path(), &["--runtime", "host", "--name", "dev"], &[]);
    wait_idle(&p.url);
    // The fake replays claude's recorded retries against an overloaded API.
    let (code, out, err) = warren(root.path(), &["task", "api overloaded"]);
    eprintln!("stdout: {out}\nstderr: {err}");
    assert_eq!(code, 1);
    let retries: Vec<&str> = err.lines().filter(|l| l.contains('↻')).collect();
    assert_eq!(retries.len(), 10, "{err}");
    assert_eq!(
        retries[2].trim(),
        "↻ API error (overloaded, HTTP 529); retry 3/10 in 2.3 s"
    );
    let said = "API Error: 529 Overloaded.";
    let all = format!("{out}{err}");
    assert_eq!(all.matches(said).count(), 1, "said once: {all}");
    assert!(
        err.lines().any(|l| l.starts_with("error: task")
            && l.contains(said)
            && l.ends_with("(rate_limited)")),
        "{err}"
    );
}

/// `warren` with extra variables; returns (exit code, stdout, stderr, time).
fn warren_env(
    root: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String, std::time::Duration) {
    let t0 = std::time::Instant::now();
    let mut cmd = std::process::Command::new(crate::harness::warren_bin());
    cmd.args(args)
        .env("WARREN_ROOT", root)
        .env("HOME", root)
        .env("NO_COLOR", "1")
        .current_dir(root)
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        t0.elapsed(),
    )
}

#[test]
fn serve_stops_with_the_reason_when_the_tool_is_missing_or_the_env_unknown() {
    let root = tempfile::tempdir().unwrap();
    let (code, _, err, took) = warren_env(
        root.path(),
        &["agent", "serve", "--runtime", "host", "--tool", "claude"],
        &[
            ("WARREN_TOOL_CLAUDE_BIN", "/nonexistent"),
            ("ANTHROPIC_API_KEY", "sk-ant-dummy"),
        ],
    );
    eprintln!("missing tool ({took:?}): {err}");
    assert_eq!(code, 1);
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    assert!(
        err.contains("error: the agent's tool cannot run: `/nonexistent` is not installed (host)"),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("hint:") && l.contains("WARREN_TOOL_CLAUDE_BIN")),
        "{err}"
    );
    let (_, out, _) = warren(root.path(), &["agent", "ls", "--json"]);
    assert_eq!(out.trim(), "[]", "it unregistered");

    let (code, _, err, took) = warren_env(root.path(), &["agent", "serve", "nosuch-env"], &[]);
    eprintln!("unknown environment ({took:?}): {err}");
    assert_eq!(code, 1);
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    assert!(err.contains("no environment named `nosuch-env`"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn task_says_what_to_do_when_the_tool_is_slow_to_start_or_gone() {
    // Still starting: the tool has not answered `--version`.
    let root = tempfile::tempdir().unwrap();
    let p = ServeProcess::start(
        root.path(),
        &["--runtime", "host", "--name", "slow"],
        &[("FAKE_VERSION_SLEEP", "30")],
    );
    let (code, _, err) = warren(root.path(), &["task", "hello"]);
    eprintln!("starting: {err}");
    assert_eq!(code, 1);
    assert!(err.contains("503 agent_starting"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("hint: the agent's tool has not answered yet")),
        "{err}"
    );
    drop(p);

    // Gone after the server started: the task fails and says how to fix it.
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let claude = bin.join("claude");
    std::fs::write(
        &claude,
        format!(
            "#!/bin/sh\nexec '{}' \"$@\"\n",
            crate::harness::tool("claude").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&claude, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let p = ServeProcess::start(
        root.path(),
        &["--runtime", "host", "--name", "dev"],
        &[("WARREN_TOOL_CLAUDE_BIN", claude.to_str().unwrap())],
    );
    wait_idle(&p.url);
    let (code, out, _) = warren(root.path(), &["task", "hello"]);
    assert_eq!((code, out.trim()), (0, "echo: hello"));
    std::fs::remove_file(&claude).unwrap();
    let (code, _, err) = warren(root.path(), &["task", "hello"]);
    eprintln!("gone: {err}");
    assert_eq!(code, 1);
    assert!(err.contains("cannot start"), "{err}");
    assert!(err.contains("(tool_error)"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("hint:") && l.contains("WARREN_TOOL_CLAUDE_BIN")),
        "{err}"
    );
}
