//! The real CLIs from npm, started in tmux with an empty HOME and no
//! credentials: each shows a login, trust or onboarding screen, which must
//! judge `waiting`.
//!
//! The CLIs are installed once into `$CARGO_TARGET_TMPDIR/npm-clis` (or taken
//! from `WARREN_STATE_NPM_PREFIX`). Without npm or the network the test is
//! skipped with a printed reason, unless `CI` is set.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use warren_state::{
    Observation, Rules, State, Tracker, claude_settings_json, judge, parse_hook_relay,
};

use crate::tmux::Tmux;

const PACKAGES: [&str; 3] = [
    "@anthropic-ai/claude-code",
    "@openai/codex",
    "@google/gemini-cli",
];

fn skip(reason: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "real CLIs unavailable under CI: {reason}"
    );
    eprintln!("SKIP real CLIs: {reason}");
}

/// The `node_modules/.bin` holding claude, codex and gemini, installing them if needed.
fn clis() -> Result<PathBuf, String> {
    let prefix = std::env::var_os("WARREN_STATE_NPM_PREFIX")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("npm-clis"));
    let bin = prefix.join("node_modules/.bin");
    if ["claude", "codex", "gemini"]
        .iter()
        .all(|t| bin.join(t).exists())
    {
        return Ok(bin);
    }
    eprintln!(
        "installing {PACKAGES:?} into {} (a minute or two)",
        prefix.display()
    );
    std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
    let out = Command::new("timeout")
        .args([
            "600",
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(&prefix)
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

struct Case {
    name: &'static str,
    tool: &'static str,
    /// Files written into HOME before the start (path relative to HOME, contents; `{proj}` = the project dir).
    home: &'static [(&'static str, &'static str)],
    env: &'static [(&'static str, &'static str)],
    /// The verdict must name one of these rules.
    rules: &'static [&'static str],
}

const CASES: [Case; 5] = [
    Case {
        name: "claude-trust",
        tool: "claude",
        home: &[(".claude.json", r#"{"hasCompletedOnboarding":true}"#)],
        env: &[],
        rules: &["claude/trust-prompt"],
    },
    Case {
        name: "claude-not-logged-in",
        tool: "claude",
        home: &[(
            ".claude.json",
            r#"{"hasCompletedOnboarding":true,"projects":{"{proj}":{"hasTrustDialogAccepted":true}}}"#,
        )],
        env: &[],
        rules: &["claude/not-logged-in"],
    },
    Case {
        name: "codex-first-run",
        tool: "codex",
        home: &[],
        env: &[],
        rules: &["codex/sign-in"],
    },
    Case {
        name: "gemini-first-run",
        tool: "gemini",
        home: &[],
        env: &[],
        // 1 run in 6 here showed "Waiting for authentication..." first: also waiting.
        rules: &["gemini/trust-folder", "gemini/auth"],
    },
    Case {
        name: "gemini-auth",
        tool: "gemini",
        home: &[],
        env: &[("GEMINI_CLI_TRUST_WORKSPACE", "true")],
        rules: &["gemini/auth"],
    },
];

#[test]
fn real_clis_without_credentials_are_waiting() {
    let bin = match clis() {
        Ok(bin) => bin,
        Err(reason) => return skip(&reason),
    };
    let Some(tmux) = Tmux::start() else { return };
    let rules = Rules::builtin();
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
    let mut started = Vec::new();
    for case in &CASES {
        let home = tmux.dir.path().join(case.name);
        let proj = home.join("proj");
        std::fs::create_dir_all(&proj).unwrap();
        for (file, text) in case.home {
            std::fs::write(
                home.join(file),
                text.replace("{proj}", proj.to_str().unwrap()),
            )
            .unwrap();
        }
        let version = Command::new(bin.join(case.tool))
            .arg("--version")
            .env("HOME", &home)
            .output()
            .unwrap();
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        let mut argv = vec![case.tool.to_owned()];
        let relay = home.join("hooks.jsonl");
        if case.tool == "claude" {
            let settings = home.join("warren-settings.json");
            std::fs::write(
                &settings,
                claude_settings_json(relay.to_str().unwrap()).to_string(),
            )
            .unwrap();
            argv.push(format!("--settings '{}'", settings.display()));
        }
        let env: String = case.env.iter().map(|(k, v)| format!(" {k}={v}")).collect();
        let script = format!(
            "sleep 0.3; exec env -i HOME='{}' PATH='{path}' TERM=xterm-256color LANG=C.UTF-8{env} {}",
            home.display(),
            argv.join(" ")
        );
        eprintln!("{}: {} {version}", case.name, case.tool);
        tmux.new_session(case.name, &proj, &script);
        started.push((case, SystemTime::now(), version, relay));
    }
    let mut failures = Vec::new();
    for (case, start, version, relay) in started {
        let deadline = Instant::now() + Duration::from_secs(45);
        let mut tracker = Tracker::new();
        let verdict = loop {
            let cap = tmux.capture(case.name);
            let mut obs = Observation::new(Some(case.tool), cap.screen.clone(), SystemTime::now());
            obs.tool_version = Some(version.clone());
            obs.title = cap.title.clone();
            obs.dead = cap.dead;
            obs.last_output = tracker.screen(&cap.screen, obs.now);
            obs.started = start;
            obs.hooks = std::fs::read(&relay)
                .map(|b| parse_hook_relay(&b))
                .unwrap_or_default();
            let v = judge(&obs, &rules);
            if v.state == State::Waiting || cap.dead.is_some() || Instant::now() > deadline {
                break (v, cap);
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        let (v, cap) = verdict;
        eprintln!("{}: {} ({})", case.name, v.state, v.reason);
        // With the folder trusted, claude runs its hooks: the relay must have SessionStart.
        if case.name == "claude-not-logged-in" {
            let hooks = std::fs::read(&relay)
                .map(|b| parse_hook_relay(&b))
                .unwrap_or_default();
            eprintln!(
                "{}: relayed hooks {:?}",
                case.name,
                hooks.iter().map(|h| h.kind.name()).collect::<Vec<_>>()
            );
            if !hooks
                .iter()
                .any(|h| h.kind == warren_state::HookKind::SessionStart)
            {
                failures.push(format!(
                    "{}: no SessionStart in the relay {}",
                    case.name,
                    relay.display()
                ));
            }
        }
        let named = case
            .rules
            .iter()
            .any(|r| v.reason.contains(&format!("(rule {r})")));
        if v.state != State::Waiting || !named {
            failures.push(format!(
                "{}: expected waiting by {:?}, got {} ({})\n{}",
                case.name, case.rules, v.state, v.reason, cap.screen
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
