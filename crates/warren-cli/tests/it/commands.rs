//! `doctor`, `logs -f` and `postAttachCommand` through the real binary.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn doctor_reports_engine_git_sandbox_layers_tools_and_credentials() {
    if !require_docker() {
        return;
    }
    let mut ctx = TestContext::new();
    let tool = ctx.dir.path().join("fake-claude");
    std::fs::write(&tool, "#!/bin/sh\necho '2.1.0 (Claude Code)'\n").unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    ctx.env("WARREN_TOOL_CLAUDE_BIN", &tool.to_string_lossy());
    ctx.env("ANTHROPIC_API_KEY", "sk-ant-test-secret-value");
    let run = ctx.warren(&["doctor", "--json"]).ok();
    assert!(
        !run.stdout.contains("sk-ant-test-secret-value"),
        "no secret in doctor output"
    );
    let checks: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let find = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` check in {checks:#?}"))
            .clone()
    };
    let docker = find("docker");
    assert_eq!(docker["ok"], true);
    assert!(
        docker["detail"].as_str().unwrap().contains("API 1."),
        "{docker}"
    );
    assert_eq!(find("git")["ok"], true);
    let layers: Vec<_> = checks
        .iter()
        .filter(|c| c["name"].as_str().unwrap_or("").starts_with("sandbox: "))
        .collect();
    assert!(
        layers.len() >= 8,
        "every sandbox layer is reported: {layers:#?}"
    );
    assert!(
        layers.iter().any(|c| c["name"] == "sandbox: landlock"),
        "{layers:#?}"
    );
    let claude = checks
        .iter()
        .find(|c| c["section"] == "tools" && c["name"] == "claude")
        .unwrap();
    assert_eq!(claude["ok"], true, "{claude}");
    assert!(
        claude["detail"].as_str().unwrap().contains("2.1.0"),
        "{claude}"
    );
    let cred = checks
        .iter()
        .find(|c| c["section"] == "credentials" && c["name"] == "claude")
        .unwrap();
    assert_eq!(cred["ok"], true, "{cred}");
    assert!(
        cred["detail"]
            .as_str()
            .unwrap()
            .contains("ANTHROPIC_API_KEY"),
        "{cred}"
    );

    progress!("the human table says the same");
    let text = ctx.warren(&["doctor"]).ok().stdout;
    assert!(
        text.contains("docker") && text.contains("landlock"),
        "{text}"
    );
}

#[test]
fn post_attach_runs_on_attach_and_logs_follow_shows_new_lines() {
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"postStartCommand": "echo started-$WARREN_NAME", "postAttachCommand": "echo attached >> \"$HOME/attach.log\""}"#,
    );
    ctx.write(".warren.yaml", "runtime: sandbox\n");
    ctx.commit("attach");

    progress!("run without CMD opens the shell (stdin closed: it exits) after postAttach");
    ctx.warren(&["run", "--name", "att"]).ok();
    let log = ctx
        .warren(&["exec", "att", "--", "sh", "-c", "cat \"$HOME/attach.log\""])
        .ok();
    assert_eq!(log.stdout, "attached\n");
    ctx.warren(&["exec", "att", "--", "true"]).ok();
    let log = ctx
        .warren(&["exec", "att", "--", "sh", "-c", "cat \"$HOME/attach.log\""])
        .ok();
    assert_eq!(log.stdout, "attached\n", "exec is not an attach");

    progress!("logs -f prints what a restart adds, while it happens");
    let mut follow = ctx
        .cmd(&["logs", "-f", "att"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = follow.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        all
    });
    std::thread::sleep(Duration::from_millis(500));
    ctx.warren(&["restart", "att"]).ok();
    std::thread::sleep(Duration::from_millis(800));
    let deadline = Instant::now() + Duration::from_secs(10);
    ctx.warren(&["rm", "--force", "att"]).ok();
    // rm ends the follow.
    loop {
        if follow.try_wait().unwrap().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "logs -f did not end after rm");
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen = reader.join().unwrap();
    assert_eq!(
        seen.matches("[postStartCommand] started-att").count(),
        2,
        "{seen}"
    );
    assert!(
        seen.contains("stopped") && seen.contains("started"),
        "{seen}"
    );
}
