//! `judge` on every state for every tool, without tmux.

use std::time::{Duration, SystemTime};

use warren_state::{HookEvent, HookKind, Observation, Rules, State, Verdict, judge};

use crate::{screen, screens};

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// An observation 30 s into the session, the screen still for 5 s.
fn obs(tool: Option<&str>, screen: &str, title: &str) -> Observation {
    let now = t0() + secs(30.0);
    let mut o = Observation::new(tool, screen, now);
    o.title = title.to_owned();
    o.started = t0();
    o.last_output = Some(now - secs(5.0));
    o
}

fn from_file(name: &str) -> Observation {
    let s = screen(name);
    let mut o = obs(s.tool.as_deref(), &s.body, &s.title);
    o.tool_version = s.version.clone();
    o
}

fn hook(kind: HookKind, at: f64) -> HookEvent {
    HookEvent::new(kind, t0() + secs(at))
}

fn check(v: &Verdict, state: State, reason_has: &str) {
    eprintln!("  {state:?}: {} | {}", v.reason, v.evidence.join(" · "));
    assert_eq!(
        v.state, state,
        "reason: {}\nevidence: {:#?}",
        v.reason, v.evidence
    );
    assert!(
        v.reason.contains(reason_has),
        "reason {:?} lacks {reason_has:?}",
        v.reason
    );
    assert!(v.evidence.last().unwrap().starts_with("verdict: "));
}

#[test]
fn every_screen_file_judges_as_its_header_says() {
    let rules = Rules::builtin();
    let all = screens();
    assert!(all.len() >= 15, "{} screens", all.len());
    for s in all {
        eprintln!("{} (expect {}): {}", s.name, s.expect, s.source);
        let mut o = from_file(&s.name);
        if let State::Exited(code) = s.expect {
            o.dead = Some(code);
        }
        let v = judge(&o, &rules);
        let named = match v.state {
            State::Exited(_) => "exited with status",
            State::Unknown => "no rule matched",
            _ => "(rule ",
        };
        check(&v, s.expect, named);
    }
}

#[test]
fn claude_every_state() {
    let rules = Rules::builtin();
    eprintln!("claude starting");
    let mut o = obs(Some("claude"), "", "");
    o.now = t0() + secs(2.0);
    o.last_output = Some(t0() + secs(1.0));
    check(&judge(&o, &rules), State::Starting, "nothing recognised");

    eprintln!("claude working (title spinner)");
    check(
        &judge(&from_file("claude-2.1.197-working"), &rules),
        State::Working,
        "title spinner",
    );
    eprintln!("claude working (hook only, screen unrecognised)");
    let mut o = obs(Some("claude"), "some output", "");
    o.hooks = vec![
        hook(HookKind::SessionStart, 1.0),
        hook(HookKind::UserPromptSubmit, 10.0),
        hook(HookKind::PreToolUse, 12.0),
    ];
    check(&judge(&o, &rules), State::Working, "PreToolUse hook");

    eprintln!("claude waiting (permission prompt)");
    let v = judge(&from_file("claude-2.1.197-permission-bash"), &rules);
    check(
        &v,
        State::Waiting,
        "permission prompt: Bash command rm -rf build",
    );
    let q = v.question.unwrap();
    assert!(
        q.starts_with("Bash command\nrm -rf build")
            && q.contains("Do you want to proceed?")
            && q.contains("1. Yes"),
        "{q}"
    );
    eprintln!("claude waiting (trust prompt)");
    let v = judge(&from_file("claude-2.1.197-trust-prompt"), &rules);
    check(
        &v,
        State::Waiting,
        "workspace trust prompt: <home>/proj (rule claude/trust-prompt)",
    );
    assert!(v.question.unwrap().contains("Yes, I trust this folder"));
    eprintln!("claude waiting (question dialog)");
    let v = judge(&from_file("claude-2.1.197-question"), &rules);
    check(&v, State::Waiting, "a choice is asked");
    assert!(
        v.question
            .unwrap()
            .contains("Which database should the service use?")
    );

    eprintln!("claude idle (Stop hook)");
    let mut o = obs(Some("claude"), "anything", "");
    o.hooks = vec![
        hook(HookKind::UserPromptSubmit, 10.0),
        hook(HookKind::Stop, 20.0),
    ];
    o.last_output = Some(t0() + secs(20.3));
    check(&judge(&o, &rules), State::Idle, "Stop hook");
    eprintln!("claude idle after a failed turn: no Stop fires, the title says no turn runs");
    let mut o = obs(
        Some("claude"),
        "  ⎿  API Error: 529 Overloaded",
        "✳ Claude Code",
    );
    o.hooks = vec![
        hook(HookKind::SessionStart, 1.0),
        hook(HookKind::UserPromptSubmit, 10.0),
    ];
    o.last_output = Some(t0() + secs(10.5));
    let v = judge(&o, &rules);
    check(&v, State::Idle, "title idle marker");
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("the title says no turn runs"))
    );
    eprintln!("... but while the screen moves, the hook's turn still runs");
    o.last_output = Some(o.now - secs(0.2));
    check(&judge(&o, &rules), State::Working, "UserPromptSubmit hook");

    eprintln!("claude idle (screen and title)");
    check(
        &judge(&from_file("claude-2.1.197-idle"), &rules),
        State::Idle,
        "title idle marker",
    );

    eprintln!("claude exited");
    let mut o = from_file("claude-2.1.197-permission-bash");
    o.dead = Some(137);
    check(&judge(&o, &rules), State::Exited(137), "status 137");

    eprintln!("claude unknown (silence is not idle)");
    let o = obs(
        Some("claude"),
        "Compiling…\nsomething we have no rule for",
        "",
    );
    let v = judge(&o, &rules);
    check(&v, State::Unknown, "quiet for 5.0s");
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("silence alone is not idle"))
    );
}

#[test]
fn codex_every_state() {
    let rules = Rules::builtin();
    let mut o = obs(Some("codex"), "", "proj");
    o.now = t0() + secs(1.0);
    check(&judge(&o, &rules), State::Starting, "started");
    check(
        &judge(&from_file("codex-0.171.0-working"), &rules),
        State::Working,
        "esc to interrupt",
    );
    let v = judge(&from_file("codex-0.171.0-approval"), &rules);
    check(
        &v,
        State::Waiting,
        "approval prompt: run the following command rm -rf build",
    );
    assert!(v.question.unwrap().contains("Yes, proceed (y)"));
    check(
        &judge(&from_file("codex-0.171.0-first-run"), &rules),
        State::Waiting,
        "sign-in screen",
    );
    check(
        &judge(&from_file("codex-0.171.0-composer"), &rules),
        State::Idle,
        "composer ready",
    );
    let mut o = from_file("codex-0.171.0-composer");
    o.dead = Some(0);
    check(&judge(&o, &rules), State::Exited(0), "status 0");
    check(
        &judge(&obs(Some("codex"), "• thinking", "proj"), &rules),
        State::Unknown,
        "no rule matched",
    );
}

#[test]
fn gemini_every_state() {
    let rules = Rules::builtin();
    let mut o = obs(Some("gemini"), "", "");
    o.now = t0() + secs(3.0);
    check(&judge(&o, &rules), State::Starting, "started");
    check(
        &judge(&from_file("gemini-0.61.0-working"), &rules),
        State::Working,
        "title says working",
    );
    let v = judge(&from_file("gemini-0.61.0-confirm-shell"), &rules);
    check(
        &v,
        State::Waiting,
        "tool confirmation: Allow execution of: 'rm'?",
    );
    assert!(v.question.unwrap().contains("Allow once"));
    // The title says Ready over the trust dialog: the screen wins.
    let v = judge(&from_file("gemini-0.61.0-first-run-trust"), &rules);
    check(&v, State::Waiting, "folder trust dialog");
    assert!(
        v.evidence.iter().any(|e| e.contains("title-ready")),
        "{:?}",
        v.evidence
    );
    check(
        &judge(&from_file("gemini-0.61.0-auth"), &rules),
        State::Waiting,
        "authentication screen",
    );
    check(
        &judge(&from_file("gemini-0.61.0-input"), &rules),
        State::Idle,
        "input box ready",
    );
    let mut o = from_file("gemini-0.61.0-input");
    o.dead = Some(41);
    check(&judge(&o, &rules), State::Exited(41), "41");
    check(
        &judge(&obs(Some("gemini"), "…", ""), &rules),
        State::Unknown,
        "no rule matched",
    );
}

#[test]
fn generic_every_state() {
    let rules = Rules::builtin();
    let prompt = "$ make\ncc -o app main.c\nuser@host:~/proj$ ";
    for tool in [None, Some("aider"), Some("")] {
        eprintln!("generic tool {tool:?}");
        let mut o = obs(tool, prompt, "");
        o.now = t0() + secs(1.0);
        o.last_output = Some(t0() + secs(0.9));
        check(&judge(&o, &rules), State::Starting, "started");
        // Output in the last 1.5 s: working, even with a prompt on screen.
        let mut o = obs(tool, prompt, "");
        o.last_output = Some(o.now - secs(1.0));
        check(&judge(&o, &rules), State::Working, "output 1.0s ago");
        // Between 1.5 s and 2 s: neither.
        o.last_output = Some(o.now - secs(1.8));
        check(&judge(&o, &rules), State::Unknown, "no rule matched");
        o.last_output = Some(o.now - secs(2.5));
        check(&judge(&o, &rules), State::Idle, "shell-like prompt");
        check(
            &judge(&obs(tool, "root@box:/# ", ""), &rules),
            State::Idle,
            "shell-like prompt",
        );
        check(
            &judge(&obs(tool, "Overwrite config? [y/N]", ""), &rules),
            State::Waiting,
            "yes/no question: Overwrite config? [y/N]",
        );
        check(
            &judge(&obs(tool, "Enter passphrase for key '/k':", ""), &rules),
            State::Waiting,
            "password prompt",
        );
        check(
            &judge(&obs(tool, "listening on :3000", ""), &rules),
            State::Unknown,
            "quiet for 5.0s",
        );
        let mut o = obs(tool, prompt, "");
        o.dead = Some(2);
        check(&judge(&o, &rules), State::Exited(2), "status 2");
    }
}

#[test]
fn stop_hook_debounce() {
    let rules = Rules::builtin();
    let screen = "no rule for this";
    let mut o = obs(Some("claude"), screen, "");
    o.hooks = vec![
        hook(HookKind::UserPromptSubmit, 10.0),
        hook(HookKind::Stop, 20.0),
    ];
    for (output_at, state, why) in [
        (19.0, State::Idle, "Stop hook"),
        (20.5, State::Idle, "Stop hook"),
        (20.99, State::Idle, "Stop hook"),
        (21.2, State::Working, "output after the Stop hook"),
        (28.0, State::Working, "output after the Stop hook"),
    ] {
        eprintln!("output at {output_at}");
        o.last_output = Some(t0() + secs(output_at));
        check(&judge(&o, &rules), state, why);
    }
    // A new Stop after the late output settles it again.
    o.hooks.push(hook(HookKind::Stop, 28.5));
    check(&judge(&o, &rules), State::Idle, "Stop hook");
}

#[test]
fn notification_hooks() {
    let rules = Rules::builtin();
    let mut n = hook(HookKind::Notification, 15.0);
    n.message = Some("Claude needs your permission to use Bash".into());
    n.notification_type = Some("permission_prompt".into());
    let mut o = obs(Some("claude"), "a screen our rules do not know", "");
    o.hooks = vec![
        hook(HookKind::UserPromptSubmit, 10.0),
        hook(HookKind::PreToolUse, 14.0),
        n.clone(),
    ];
    let v = judge(&o, &rules);
    check(
        &v,
        State::Waiting,
        "Claude needs your permission to use Bash (Notification hook, permission_prompt)",
    );
    assert_eq!(
        v.question.as_deref(),
        Some("Claude needs your permission to use Bash")
    );

    eprintln!("answered: a later hook supersedes it");
    o.hooks.push(hook(HookKind::PostToolUse, 18.0));
    check(&judge(&o, &rules), State::Working, "PostToolUse hook");

    eprintln!("answered, long tool running: spinner and output after the notification");
    o.hooks.pop();
    o.title = "⠐ Clean the build".into();
    o.last_output = Some(t0() + secs(29.0));
    check(&judge(&o, &rules), State::Working, "title spinner");
    eprintln!("spinner but no output since the notification: still waiting");
    o.last_output = Some(t0() + secs(15.5));
    check(&judge(&o, &rules), State::Waiting, "permission");

    eprintln!("idle_prompt means the turn is over");
    let mut idle = hook(HookKind::Notification, 80.0);
    idle.message = Some("Claude is waiting for your input".into());
    idle.notification_type = Some("idle_prompt".into());
    let mut o = obs(Some("claude"), "x", "");
    o.now = t0() + secs(90.0);
    o.last_output = Some(t0() + secs(20.2));
    o.hooks = vec![hook(HookKind::Stop, 20.0), idle.clone()];
    check(&judge(&o, &rules), State::Idle, "turn done");
    idle.notification_type = None;
    o.hooks = vec![hook(HookKind::Stop, 20.0), idle];
    check(&judge(&o, &rules), State::Idle, "turn done");

    eprintln!("auth_success asks nothing");
    let mut ok = hook(HookKind::Notification, 25.0);
    ok.notification_type = Some("auth_success".into());
    o.hooks = vec![hook(HookKind::Stop, 20.0), ok];
    check(&judge(&o, &rules), State::Idle, "Stop hook");

    eprintln!("the screen's question beats the hook's message");
    let mut o = from_file("claude-2.1.197-permission-bash");
    o.hooks = vec![n];
    let v = judge(&o, &rules);
    check(&v, State::Waiting, "permission prompt: Bash command");
    assert!(v.question.unwrap().contains("Do you want to proceed?"));
}

#[test]
fn hooks_from_before_the_start_are_ignored() {
    let rules = Rules::builtin();
    let mut o = obs(Some("claude"), "x", "");
    o.hooks = vec![HookEvent::new(HookKind::PreToolUse, t0() - secs(100.0))];
    let v = judge(&o, &rules);
    check(&v, State::Unknown, "no rule matched");
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("1 hook event(s) from before this start ignored"))
    );
}

#[test]
fn version_ranges_select_rules() {
    let rules = Rules::builtin();
    let mut o = from_file("claude-2.1.197-trust-prompt");
    o.tool_version = Some("2.1.197 (Claude Code)".into());
    check(&judge(&o, &rules), State::Waiting, "trust");
    // A 1.x claude: the 2.x rules do not apply.
    o.tool_version = Some("1.0.0 (Claude Code)".into());
    check(&judge(&o, &rules), State::Unknown, "no rule matched");
    // Unknown version: every rule applies.
    o.tool_version = None;
    check(&judge(&o, &rules), State::Waiting, "trust");
}

#[test]
fn user_rules_dir_adds_a_version() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("claude-9.toml"),
        r#"tool = "claude"
[[rule]]
name = "new-login"
state = "waiting"
versions = ">=9"
all = ["Log in to continue"]
reason = "login screen"
"#,
    )
    .unwrap();
    let rules = Rules::load_dir(dir.path()).unwrap();
    let mut o = obs(Some("claude"), "Welcome\nLog in to continue", "");
    o.tool_version = Some("9.0.1".into());
    check(
        &judge(&o, &rules),
        State::Waiting,
        "login screen (rule claude/new-login)",
    );
    o.tool_version = Some("2.1.197".into());
    check(&judge(&o, &rules), State::Unknown, "no rule matched");
    std::fs::write(dir.path().join("bad.toml"), "tool = 1").unwrap();
    let e = Rules::load_dir(dir.path()).unwrap_err();
    assert!(e.to_string().contains("bad.toml"), "{e}");
}

#[test]
fn state_serialises_and_displays() {
    assert_eq!(
        serde_json::to_string(&State::Waiting).unwrap(),
        r#""waiting""#
    );
    assert_eq!(
        serde_json::to_string(&State::Exited(3)).unwrap(),
        r#"{"exited":3}"#
    );
    let back: State = serde_json::from_str(r#"{"exited":3}"#).unwrap();
    assert_eq!(back, State::Exited(3));
    assert_eq!(State::Exited(3).to_string(), "exited (3)");
    assert_eq!(State::Idle.to_string(), "idle");
    assert!(State::Waiting.needs_attention() && !State::Idle.needs_attention());
}

/// The watcher judges every session on every poll (50 sessions, every 500 ms in
/// the benchmark): judging must stay far below a millisecond in release builds.
#[test]
fn judging_is_cheap() {
    let rules = Rules::builtin();
    let o = from_file("claude-2.1.197-permission-bash");
    let start = std::time::Instant::now();
    let n = 500;
    for _ in 0..n {
        assert_eq!(judge(&o, &rules).state, State::Waiting);
    }
    let each = start.elapsed() / n;
    eprintln!("judge: {each:?} per call (this build)");
    // Generous: debug builds are ~10x slower than release.
    assert!(each < Duration::from_millis(5), "{each:?}");
}
