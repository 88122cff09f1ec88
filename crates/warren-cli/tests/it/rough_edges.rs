//! The rough edges a new user hit, each tried again the way they were found.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

fn curl(url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
    (body.trim().to_string(), code.to_string())
}

/// A project whose environment serves `index.html` on port 8000 from
/// `postStartCommand` (busybox httpd daemonises itself).
fn web_project(ctx: &TestContext) {
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{
          "image": "warren-test/busybox:latest",
          "forwardPorts": [8000],
          "portsAttributes": {"8000": {"label": "web"}},
          "postStartCommand": "mkdir -p /tmp/w && echo hello > /tmp/w/index.html && httpd -p 8000 -h /tmp/w"
        }"#,
    );
    ctx.commit("web");
}

#[test]
fn a_printed_url_answers_at_once_after_run_and_start() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    web_project(&ctx);
    let p = ctx.proxy_port;
    let url = format!("http://web.site.localhost:{p}/");
    let run = ctx.warren(&["run", "--name", "site", "--", "true"]).ok();
    assert!(
        run.stderr.contains(&url.trim_end_matches('/').to_string()),
        "{}",
        run.stderr
    );
    assert_eq!(
        curl(&url),
        ("hello".into(), "200".into()),
        "right after run"
    );
    for round in 0..5 {
        progress!("round {round}: stop, start, and the URL answers at once");
        ctx.warren(&["stop", "site"]).ok();
        let start = ctx.warren(&["start", "site"]).ok();
        assert!(start.stderr.contains("Started site"), "{}", start.stderr);
        assert!(
            start.stderr.contains(url.trim_end_matches('/')),
            "start prints the URL: {}",
            start.stderr
        );
        assert_eq!(curl(&url), ("hello".into(), "200".into()), "round {round}");
    }
}

#[test]
fn a_missing_command_exits_127_on_every_runtime() {
    let ctx = TestContext::new();
    let check = |run: Run, what: &str| {
        let run = run.fails(127);
        assert!(
            run.stderr
                .contains("warren: command not found: no-such-tool"),
            "{what}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("OCI"), "{what}: {}", run.stderr);
    };
    check(
        ctx.warren(&[
            "run",
            "--rm",
            "--runtime",
            "sandbox",
            "--",
            "no-such-tool",
            "x",
        ]),
        "sandbox run --rm",
    );
    assert!(ctx.ls().is_empty(), "run --rm removed the environment");
    ctx.warren(&["run", "--name", "box", "--runtime", "sandbox", "--", "true"])
        .ok();
    check(
        ctx.warren(&["exec", "box", "--", "no-such-tool"]),
        "sandbox exec",
    );
    if !require_docker() {
        return;
    }
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"image": "warren-test/busybox:latest"}"#,
    );
    ctx.commit("image");
    check(
        ctx.warren(&["run", "--rm", "--", "no-such-tool", "x"]),
        "docker run --rm (one-shot)",
    );
    ctx.warren(&["run", "--name", "ctr", "--", "true"]).ok();
    check(
        ctx.warren(&["exec", "ctr", "--", "no-such-tool"]),
        "docker exec",
    );
    let run = ctx.warren(&["exec", "ctr", "--", "/etc/passwd"]).fails(126);
    assert!(
        run.stderr.contains("warren: cannot execute /etc/passwd"),
        "{}",
        run.stderr
    );
}

#[test]
fn commits_inside_have_the_users_identity_or_a_plain_one() {
    let mut ctx = TestContext::new();
    let commit = "echo x > f && git add f && git commit -qm m && git log -1 --format='%an <%ae>'";
    progress!("no identity anywhere: a plain agent identity");
    let run = ctx
        .warren(&[
            "run",
            "--rm",
            "--name",
            "anon",
            "--runtime",
            "sandbox",
            "--",
            "sh",
            "-c",
            commit,
        ])
        .ok();
    assert_eq!(
        run.stdout.trim(),
        "warren agent anon <anon@agents.warren.localhost>"
    );
    progress!("the user's ~/.gitconfig identity");
    std::fs::write(
        ctx.home.join(".gitconfig"),
        "[user]\n\tname = Ada Lovelace\n\temail = ada@example.org\n",
    )
    .unwrap();
    let run = ctx
        .warren(&[
            "run",
            "--rm",
            "--runtime",
            "sandbox",
            "--",
            "sh",
            "-c",
            commit,
        ])
        .ok();
    assert_eq!(run.stdout.trim(), "Ada Lovelace <ada@example.org>");
    if !require_docker() {
        return;
    }
    ctx.env("GIT_AUTHOR_NAME", "");
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"image": "warren-test/git:latest"}"#,
    );
    ctx.commit("git image");
    let run = ctx.warren(&["run", "--rm", "--", "sh", "-c", commit]).ok();
    assert_eq!(
        run.stdout.trim(),
        "Ada Lovelace <ada@example.org>",
        "docker"
    );
}

#[test]
fn start_creates_a_gone_environment_again() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"image": "warren-test/busybox:latest", "postCreateCommand": "touch /tmp/created"}"#,
    );
    ctx.commit("image");
    ctx.warren(&["run", "--name", "phoenix", "--", "true"]).ok();
    let id = ctx.containers();
    assert_eq!(id.len(), 1);
    Command::new("docker")
        .args(["rm", "-f", &id[0]])
        .output()
        .unwrap();
    assert_eq!(ctx.env_json("phoenix")["state"], "gone");
    let exec = ctx.warren(&["exec", "phoenix", "--", "true"]).fails(1);
    assert!(
        exec.stderr.contains("warren start phoenix"),
        "the error says how: {}",
        exec.stderr
    );
    let start = ctx.warren(&["start", "phoenix"]).ok();
    assert!(
        start.stderr.contains("creating it again"),
        "{}",
        start.stderr
    );
    assert_eq!(ctx.env_json("phoenix")["state"], "running");
    ctx.warren(&["exec", "phoenix", "--", "test", "-e", "/tmp/created"])
        .ok();
}

#[test]
fn messages_read_right() {
    let ctx = TestContext::new();
    progress!("stop/start/rm of an unknown name");
    for verb in ["stop", "start"] {
        let run = ctx.warren(&[verb, "nosuch"]).fails(1);
        assert!(
            run.stderr.contains(&format!("cannot {verb} `nosuch`")),
            "{}",
            run.stderr
        );
    }
    progress!("the sandbox says sandbox, not container");
    let run = ctx
        .warren(&[
            "run",
            "--name",
            "one",
            "--runtime",
            "sandbox",
            "--",
            "sh",
            "-c",
            "echo x > new.txt",
        ])
        .ok();
    assert!(run.stderr.contains("creating sandbox"), "{}", run.stderr);
    assert!(!run.stderr.contains("container"), "{}", run.stderr);
    progress!("one uncommitted file is one file");
    let rm = ctx.warren(&["rm", "one"]).fails(1);
    assert!(rm.stderr.contains("(1 file)"), "{}", rm.stderr);
    ctx.warren(&["rm", "--force", "one"]).ok();
    progress!("ls --json shows a host environment's whole id");
    ctx.warren(&["run", "--name", "plain", "--runtime", "host", "--", "true"])
        .ok();
    let env = ctx.env_json("plain");
    let container = env["container"].as_str().unwrap();
    assert!(
        container.len() > 12 && container.starts_with("warren-"),
        "{container}"
    );
}

#[test]
fn a_closed_pipe_ends_any_command_quietly() {
    let ctx = TestContext::new();
    ctx.warren(&[
        "run",
        "--name",
        "piped",
        "--runtime",
        "sandbox",
        "--",
        "true",
    ])
    .ok();
    for args in [
        &["proxy", "status"][..],
        &["ls"],
        &["ls", "--json"],
        &["doctor"],
        &["validate", "--json"],
        &["agent", "ls", "--json"],
        &["completions", "bash"],
    ] {
        let mut child = ctx
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Nobody reads: the pipe closes before warren writes.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        progress!(
            "warren {} | head -c0 -> {:?}",
            args.join(" "),
            out.status.code()
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "warren {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn ls_has_a_project_column_and_filter() {
    let ctx = TestContext::new();
    ctx.warren(&[
        "run",
        "--name",
        "mine",
        "--runtime",
        "sandbox",
        "--",
        "true",
    ])
    .ok();
    let ls = ctx.warren(&["ls"]).ok().stdout;
    let header = ls.lines().next().unwrap();
    assert!(header.contains("PROJECT"), "{ls}");
    assert!(ls.lines().nth(1).unwrap().contains(" repo "), "{ls}");
    let other = ctx.warren(&["ls", "--project", "other"]).ok();
    assert!(!other.stdout.contains("mine"), "{}", other.stdout);
    assert!(other.stderr.contains("no environments of project `other`"));
    let quiet = ctx.warren(&["-q", "ls"]).ok().stdout;
    assert_eq!(quiet, "mine\n");
}

#[test]
fn completions_know_environments_types_and_tools() {
    let ctx = TestContext::new();
    ctx.write(
        ".warren.yaml",
        "types:\n  _base: {runtime: sandbox}\n  issue: {extends: _base}\n  review: {extends: _base}\n",
    );
    ctx.commit("types");
    ctx.warren(&["run", "--name", "alpha", "--type", "issue", "--", "true"])
        .ok();
    let complete = |words: &[&str]| -> Vec<String> {
        let index = (words.len() - 1).to_string();
        let out = ctx
            .cmd(&[])
            .env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", &index)
            .env("_CLAP_IFS", "\n")
            .arg("--")
            .args(words)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let names = complete(&["warren", "exec", ""]);
    assert!(names.contains(&"alpha".to_string()), "{names:?}");
    let types = complete(&["warren", "run", "--type", ""]);
    assert!(
        types.contains(&"issue".to_string()) && types.contains(&"review".to_string()),
        "{types:?}"
    );
    assert!(!types.contains(&"_base".to_string()), "{types:?}");
    let tools = complete(&["warren", "run", "--tool", ""]);
    assert!(
        tools.contains(&"claude".to_string()) && tools.contains(&"codex".to_string()),
        "{tools:?}"
    );
    let script = ctx.warren(&["completions", "bash"]).ok().stdout;
    assert!(script.contains("COMPLETE=\"bash\""), "{script}");
}

#[test]
fn doctor_probes_leave_home_alone_and_check_localhost_names() {
    let mut ctx = TestContext::new();
    // A gemini that, like the real one, writes into $HOME on --version.
    let fake = ctx.home.parent().unwrap().join("fake-gemini");
    std::fs::write(
        &fake,
        "#!/bin/sh\nmkdir -p \"$HOME/.gemini/tmp\" && touch \"$HOME/.gemini/projects.json.1.tmp\"\necho 0.61.0\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    ctx.env("WARREN_TOOL_GEMINI_BIN", &fake.to_string_lossy());
    for _ in 0..2 {
        let doctor = ctx.warren(&["doctor", "--json"]);
        let checks: Vec<serde_json::Value> = serde_json::from_str(&doctor.stdout).unwrap();
        let gemini_tool = checks
            .iter()
            .find(|c| c["section"] == "tools" && c["name"] == "gemini")
            .unwrap();
        assert_eq!(gemini_tool["ok"], true, "{gemini_tool}");
        let gemini_cred = checks
            .iter()
            .find(|c| c["section"] == "credentials" && c["name"] == "gemini")
            .unwrap();
        assert_eq!(gemini_cred["ok"], false, "{gemini_cred}");
        assert!(
            gemini_cred["detail"]
                .as_str()
                .unwrap()
                .contains("GEMINI_API_KEY"),
            "{gemini_cred}"
        );
        let localhost = checks.iter().find(|c| c["name"] == "*.localhost").unwrap();
        progress!("*.localhost: {localhost}");
        if localhost["level"] == "warn" {
            assert!(
                localhost["detail"].as_str().unwrap().contains("myhostname"),
                "{localhost}"
            );
        }
    }
    assert!(!ctx.home.join(".gemini").exists(), "doctor wrote into HOME");
}

#[test]
fn an_agent_for_a_missing_environment_or_tool_fails_with_the_reason() {
    let mut ctx = TestContext::new();
    let run = ctx.warren(&["agent", "serve", "nosuch"]).fails(1);
    assert!(
        run.stderr.contains("no environment named `nosuch`"),
        "{}",
        run.stderr
    );
    let help = ctx.warren(&["agent", "serve", "--help"]).ok().stdout;
    assert!(help.contains("credentials/agent-api.token"), "{help}");
    progress!("a tool that is not in the environment");
    ctx.warren(&[
        "run",
        "--name",
        "toolless",
        "--runtime",
        "sandbox",
        "--",
        "true",
    ])
    .ok();
    ctx.env("WARREN_TOOL_CLAUDE_BIN", "definitely-not-installed-claude");
    let started = Instant::now();
    let mut child = ctx
        .cmd(&["agent", "serve", "toolless"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("agent serve stayed up without its tool");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    progress!(
        "exited {:?} after {:?}: {stderr}",
        status.code(),
        started.elapsed()
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`definitely-not-installed-claude` is not installed"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}
