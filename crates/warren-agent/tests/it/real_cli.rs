//! The argument lists warren builds, run against the real `claude`, `codex`
//! and `gemini` from the npm registry (no credentials: each prints its real
//! not-logged-in or offline output), with the prompt on stdin as warren
//! sends it. None may be rejected as a usage error or find no prompt.
//! Installed once into `target/real-clis`; skipped, with the reason printed,
//! when npm or the registry is not reachable.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use warren_agent::adapters::{self, ExitInfo, HeadlessRequest, Invocation, PromptInput, classify};

const PACKAGES: &[&str] = &[
    "@anthropic-ai/claude-code",
    "@openai/codex",
    "@google/gemini-cli",
];

fn install_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/real-clis")
}

/// The installed CLIs' bin dir, or why there is none.
fn real_clis() -> Result<PathBuf, String> {
    let dir = install_dir();
    let bin = dir.join("node_modules/.bin");
    if ["claude", "codex", "gemini"]
        .iter()
        .all(|b| bin.join(b).exists())
    {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    eprintln!(
        "installing {} into {} (npm)",
        PACKAGES.join(" "),
        dir.display()
    );
    let out = Command::new("timeout")
        .arg("900")
        .arg("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .args(PACKAGES)
        .output()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "npm install failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    Ok(bin)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `inv` as warren's host launcher would: the prompt on stdin (written
/// at once, then closed) or in a file, stdin `/dev/null` otherwise.
fn run(inv: &Invocation, home: &Path, limit: Duration) -> Run {
    use std::io::Write;
    let file = tempfile::NamedTempFile::new().unwrap();
    let (argv, stdin) = match &inv.input {
        PromptInput::None => (inv.argv.clone(), None),
        PromptInput::Stdin(t) => (inv.argv.clone(), Some(t.clone())),
        PromptInput::File(t) => {
            std::fs::write(file.path(), t).unwrap();
            let path = file.path().display().to_string();
            let argv = inv
                .argv
                .iter()
                .map(|a| a.replace(adapters::PROMPT_FILE, &path))
                .collect();
            (argv, None)
        }
    };
    let mut cmd = Command::new("timeout");
    cmd.arg("-s")
        .arg("KILL")
        .arg(limit.as_secs().to_string())
        .args(&argv)
        .current_dir(home)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &inv.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A tool may exit without reading it (gemini when not logged in).
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

fn assert_not_usage_error(what: &str, r: &Run) {
    eprintln!(
        "{what}: exit {:?}\n  stdout: {}\n  stderr: {}",
        r.code,
        r.stdout
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join(" | ")
            .chars()
            .take(400)
            .collect::<String>(),
        r.stderr
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join(" | ")
            .chars()
            .take(400)
            .collect::<String>()
    );
    assert_ne!(r.code, Some(2), "{what}: exit 2 is a usage error");
    let text = format!("{}\n{}", r.stdout, r.stderr);
    assert!(
        !classify::is_usage_error(&text),
        "{what} was rejected:\n{text}"
    );
    // What each CLI says when the prompt did not arrive on stdin.
    for no_input in [
        "Input must be provided",
        "No prompt provided",
        "No input provided",
        "no stdin data received",
    ] {
        assert!(!text.contains(no_input), "{what}: no prompt read:\n{text}");
    }
}

fn requests() -> Vec<(&'static str, HeadlessRequest)> {
    let full = HeadlessRequest {
        prompt: "-say hello".into(),
        model: None,
        resume: None,
        new_session_id: Some(warren_agent::util::uuid_v4()),
        skip_permissions: true,
        max_turns: Some(3),
        append_system_prompt: Some("Answer briefly.".into()),
    };
    let resume = HeadlessRequest {
        prompt: "and again".into(),
        resume: Some(warren_agent::util::uuid_v4()),
        ..full.clone()
    };
    let plain = HeadlessRequest {
        prompt: "hello".into(),
        ..HeadlessRequest::default()
    };
    // Over the kernel's 128 KiB limit for one argument.
    let long = HeadlessRequest {
        prompt: crate::harness::long_prompt(200_000),
        ..HeadlessRequest::default()
    };
    vec![
        ("new session", full),
        ("resume", resume),
        ("plain", plain),
        ("200k prompt", long),
    ]
}

#[test]
fn real_clis_accept_the_argument_lists_warren_builds() {
    let bin = match real_clis() {
        Ok(b) => b,
        Err(why) => {
            crate::harness::skip(&format!("real CLI test: {why}"));
            return;
        }
    };
    let home = tempfile::tempdir().unwrap();
    for (tool, model) in [
        ("claude", "sonnet"),
        ("gemini", "gemini-2.5-flash"),
        ("codex", "gpt-5"),
    ] {
        let adapter = adapters::adapter(tool, None).unwrap();
        let exe = bin.join(tool).display().to_string();
        let v = run(
            &Invocation::new(vec![exe.clone(), "--version".into()], Vec::new()),
            home.path(),
            Duration::from_secs(60),
        );
        assert_eq!(v.code, Some(0), "{tool} --version: {}", v.stderr);
        eprintln!("{tool} {}", v.stdout.trim());
        for (label, mut req) in requests() {
            if label == "new session" {
                req.model = Some(model.into());
            }
            let inv = adapter.headless(&exe, &req).unwrap();
            // Codex retries the network for a minute: its answer so far is enough.
            let limit = Duration::from_secs(if tool == "codex" { 20 } else { 90 });
            let r = run(&inv, home.path(), limit);
            let what = format!("{tool} ({label}): {}", inv.display_argv()[1..].join(" "));
            assert_not_usage_error(&what, &r);
            let mut parser = adapter.parser();
            for l in r.stdout.lines() {
                parser.stdout_line(l);
            }
            for l in r.stderr.lines() {
                parser.stderr_line(l);
            }
            let exit = ExitInfo {
                code: r.code,
                signal: None,
            };
            let outcome = parser.finish(exit, &r.stdout, &r.stderr);
            let failure = outcome.failure.clone().expect("no credentials: must fail");
            eprintln!(
                "  -> {} / {}: {}",
                failure.reason,
                failure.class_name(),
                failure.message.lines().next().unwrap_or("")
            );
            assert_ne!(failure.reason, "usage_error", "{what}");
            match (tool, label) {
                ("claude" | "gemini", "resume") => {
                    assert_eq!(failure.reason, "resume_failed", "{what}")
                }
                ("claude", _) | ("gemini", _) => {
                    assert_eq!(failure.reason, "not_logged_in", "{what}")
                }
                ("codex", "resume") => assert_eq!(failure.reason, "resume_failed", "{what}"),
                ("codex", _) => assert!(outcome.session_id.is_some(), "{what}: thread.started"),
                _ => unreachable!(),
            }
            if tool == "claude" && label == "new session" {
                assert_eq!(
                    outcome.session_id, req.new_session_id,
                    "--session-id was honoured"
                );
            }
        }
    }
}
