//! The hook relay: the environment writes it, so it is hostile input.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use warren_state::{
    HookKind, MAX_EVENTS, MAX_LINE, claude_settings_json, codex_notify_config,
    gemini_settings_json, parse_hook_relay,
};

fn line(time: &str, hook: &str) -> String {
    format!("{{\"time\":\"{time}\",\"hook\":{hook}}}\n")
}

#[test]
fn parses_the_relay_format() {
    let text = [
        line("1700000000.250000000", r#"{"hook_event_name":"SessionStart","session_id":"abc-123","source":"startup"}"#),
        line(
            "1700000001",
            r#"{"hook_event_name":"Notification","session_id":"abc-123","message":"Claude needs your permission to use Bash","notification_type":"permission_prompt"}"#,
        ),
        line("1700000002.N", r#"{"hook_event_name":"Stop","session_id":"abc-123","stop_hook_active":false}"#),
        line("1700000003", r#"{"hook_event_name":"SubagentStop"}"#),
    ]
    .concat();
    let events = parse_hook_relay(text.as_bytes());
    assert_eq!(events.len(), 4);
    assert_eq!(events[0].kind, HookKind::SessionStart);
    assert_eq!(
        events[0].time,
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_250)
    );
    assert_eq!(events[0].session_id.as_deref(), Some("abc-123"));
    assert_eq!(
        events[1].message.as_deref(),
        Some("Claude needs your permission to use Bash")
    );
    assert_eq!(
        events[1].notification_type.as_deref(),
        Some("permission_prompt")
    );
    assert_eq!(events[2].kind, HookKind::Stop);
    assert_eq!(
        events[2].time,
        UNIX_EPOCH + Duration::from_secs(1_700_000_002)
    );
    assert_eq!(events[3].kind, HookKind::Other("SubagentStop".into()));
}

#[test]
fn hostile_lines_are_skipped_or_cleaned() {
    let huge_message = "A".repeat(MAX_LINE);
    let mut text: Vec<u8> = Vec::new();
    text.extend(line("1700000000", r#"{"hook_event_name":"Stop"}"#).bytes());
    // Too long: ignored whole, even though it is valid JSON.
    text.extend(
        line(
            "1700000001",
            &format!(r#"{{"hook_event_name":"Notification","message":"{huge_message}"}}"#),
        )
        .bytes(),
    );
    // Invalid UTF-8.
    text.extend(b"{\"time\":\"1700000002\",\"hook\":{\"hook_event_name\":\"Stop\",\"message\":\"\xff\xfe\"}}\n");
    // Not the shape: no time, time wrong type, hook not an object, empty or non-string name, trailing garbage.
    for bad in [
        r#"{"hook":{"hook_event_name":"Stop"}}"#,
        r#"{"time":true,"hook":{"hook_event_name":"Stop"}}"#,
        r#"{"time":"1","hook":"Stop"}"#,
        r#"{"time":"1","hook":{"hook_event_name":""}}"#,
        r#"{"time":"1","hook":{"hook_event_name":7}}"#,
        r#"{"time":"1","hook":{"hook_event_name":"Stop"}} trailing"#,
        r#"{"time":"99999999999999999999","hook":{"hook_event_name":"Stop"}}"#,
        r#"[1,2,3]"#,
        "\u{0}\u{1b}[2J",
    ] {
        text.extend(bad.bytes());
        text.push(b'\n');
    }
    // Escape sequences and control characters in the message; a bad session id; a future time.
    text.extend(
        line(
            "99999999999",
            r#"{"hook_event_name":"Notification","message":"\u001b]2;pwned\u0007Allow\u001b[31m this?\r\nyes\u202e","session_id":"../../etc/passwd"}"#,
        )
        .bytes(),
    );
    let before = SystemTime::now();
    let events = parse_hook_relay(&text);
    eprintln!("{events:#?}");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, HookKind::Stop);
    let n = &events[1];
    assert_eq!(n.message.as_deref(), Some("]2;pwnedAllow[31m this?  yes"));
    assert!(
        n.message
            .as_deref()
            .unwrap()
            .chars()
            .all(|c| !c.is_control())
    );
    assert_eq!(n.session_id, None);
    assert!(
        n.time <= SystemTime::now() && n.time >= before,
        "a future time is clamped to now"
    );
}

#[test]
fn a_million_lines_keep_the_last_thousand() {
    let mut text = String::with_capacity(80 * 1_000_000);
    for i in 0..1_000_000u64 {
        text.push_str(&line(
            &format!("{}", 1_700_000_000 + i),
            r#"{"hook_event_name":"PreToolUse"}"#,
        ));
    }
    let start = std::time::Instant::now();
    let events = parse_hook_relay(text.as_bytes());
    eprintln!(
        "1e6 lines ({} MB) parsed in {:?}",
        text.len() / 1_000_000,
        start.elapsed()
    );
    assert_eq!(events.len(), MAX_EVENTS);
    assert_eq!(
        events[0].time,
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 1_000_000 - MAX_EVENTS as u64)
    );
    assert_eq!(
        events.last().unwrap().time,
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 999_999)
    );
}

#[test]
fn garbage_never_panics() {
    // Deterministic pseudo-random bytes, with newlines and JSON-ish pieces.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let pieces: [&[u8]; 8] = [
        b"{",
        b"}",
        b"\"time\":",
        b"\"hook\":",
        b"\"hook_event_name\":\"Stop\"",
        b"\n",
        b"\xff",
        b"1700000000",
    ];
    let mut bytes = Vec::new();
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(3) {
            bytes.extend_from_slice(pieces[(x >> 8) as usize % pieces.len()]);
        } else {
            bytes.push((x >> 16) as u8);
        }
    }
    let events = parse_hook_relay(&bytes);
    eprintln!("{} events from {} random bytes", events.len(), bytes.len());
    // One endless line with no newline.
    assert!(parse_hook_relay(&vec![b'{'; 10 * MAX_LINE]).is_empty());
    assert!(parse_hook_relay(b"").is_empty());
}

#[test]
fn claude_settings_register_every_hook() {
    let settings = claude_settings_json("/home/agent/.warren/hooks.jsonl");
    let hooks = settings["hooks"].as_object().unwrap();
    let mut names: Vec<_> = hooks.keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Notification",
            "PreToolUse",
            "SessionEnd",
            "SessionStart",
            "Stop",
            "UserPromptSubmit"
        ]
    );
    for (name, groups) in hooks {
        let hook = &groups[0]["hooks"][0];
        assert_eq!(hook["type"], "command", "{name}");
        assert!(
            hook["command"]
                .as_str()
                .unwrap()
                .contains("'/home/agent/.warren/hooks.jsonl'")
        );
    }
    assert_eq!(hooks["PreToolUse"][0]["matcher"], "");
}

/// The relay command itself, run by a real `sh` the way Claude Code runs it:
/// the hook's JSON on stdin (pretty-printed, to check it is folded to one line).
#[test]
fn the_relay_command_writes_lines_the_parser_reads() {
    let dir = tempfile::tempdir().unwrap();
    let relay = dir.path().join("it's a dir").join("hooks.jsonl");
    std::fs::create_dir_all(relay.parent().unwrap()).unwrap();
    let settings = claude_settings_json(relay.to_str().unwrap());
    let command = settings["hooks"]["Notification"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_owned();
    eprintln!("command: {command}");
    let before = SystemTime::now() - Duration::from_secs(1);
    for payload in [
        "{\n  \"hook_event_name\": \"Notification\",\n  \"message\": \"Claude needs your permission to use Bash\",\n  \"session_id\": \"s1\"\n}\n",
        r#"{"hook_event_name":"Stop","session_id":"s1"}"#,
    ] {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), payload.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    }
    let bytes = std::fs::read(&relay).unwrap();
    eprintln!("relay: {}", String::from_utf8_lossy(&bytes));
    let events = parse_hook_relay(&bytes);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, HookKind::Notification);
    assert_eq!(
        events[0].message.as_deref(),
        Some("Claude needs your permission to use Bash")
    );
    assert_eq!(events[1].kind, HookKind::Stop);
    assert!(events[0].time >= before && events[1].time >= events[0].time);
    // A relay path it cannot write: still exits 0, prints nothing.
    let settings = claude_settings_json("/nonexistent/dir/hooks.jsonl");
    let command = settings["hooks"]["Stop"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{out:?}"
    );
}

/// Lines written by the relay command under real Claude Code 2.1.197 (started
/// with `--settings`, no credentials; "hello" typed: SessionStart, then
/// UserPromptSubmit, and no Stop because the turn failed "Not logged in";
/// SessionEnd when the tmux server was killed).
#[test]
fn real_claude_relay_lines() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/relay/claude-2.1.197-not-logged-in.jsonl"
    ))
    .unwrap();
    let events = parse_hook_relay(&bytes);
    assert_eq!(
        events.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        [
            HookKind::SessionStart,
            HookKind::UserPromptSubmit,
            HookKind::SessionEnd
        ]
    );
    assert_eq!(
        events[0].session_id.as_deref(),
        Some("4b3b28ed-9426-4e53-9542-272e090204f4")
    );
    assert!(events[0].time < events[1].time);
}

/// Codex's `notify` argument: `UserNotification::AgentTurnComplete`, serialised
/// with `type` first and kebab-case keys (the key names are in the codex-cli
/// 0.171.0 binary: `agent-turn-complete`, `thread-id`, `turn-id`,
/// `input-messages`, `last-assistant-message`).
const CODEX_TURN: &str = r#"{"type":"agent-turn-complete","thread-id":"0199a213-81c0-7800-8aa1-bbab2a035a53","turn-id":"12345","cwd":"/work/app","input-messages":["Rename `foo` to `bar` and update the callsites."],"last-assistant-message":"Rename complete and verified `cargo build` succeeds."}"#;

#[test]
fn codex_notify_lines() {
    let text = [
        line("1700000000.5", CODEX_TURN),
        // Hostile: an id that is not one, escapes and bidi overrides in the message.
        line(
            "1700000001",
            r#"{"type":"agent-turn-complete","thread-id":"$(touch /tmp/pwned)","last-assistant-message":"done\u001b[2J\u202e\nnext"}"#,
        ),
        // A type codex may add later: kept as Other, not a turn end.
        line("1700000002", r#"{"type":"approval-requested","thread-id":"t1"}"#),
        // Not a notification: skipped.
        line("1700000003", r#"{"type":5,"thread-id":"t1"}"#),
        line("1700000004", r#"{"type":"","thread-id":"t1"}"#),
        line("1700000005", r#"{"thread-id":"t1"}"#),
        line("1700000006", r#"{"hook_event_name":5,"type":"agent-turn-complete"}"#),
    ]
    .concat();
    let events = parse_hook_relay(text.as_bytes());
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0].kind, HookKind::Stop);
    assert_eq!(
        events[0].session_id.as_deref(),
        Some("0199a213-81c0-7800-8aa1-bbab2a035a53")
    );
    assert_eq!(
        events[0].message.as_deref(),
        Some("Rename complete and verified `cargo build` succeeds.")
    );
    assert_eq!(events[0].notification_type, None);
    assert_eq!(events[1].kind, HookKind::Stop);
    assert_eq!(events[1].session_id, None);
    assert_eq!(events[1].message.as_deref(), Some("done[2J next"));
    assert_eq!(
        events[2].kind,
        HookKind::Other("approval-requested".to_owned())
    );
}

/// Gemini CLI 0.61.0's hook input: `createBaseInput` (`session_id`,
/// `transcript_path`, `cwd`, `hook_event_name`, `timestamp`) plus each event's
/// fields (`fireBeforeAgentEvent`: `prompt`; `fireNotificationEvent`:
/// `notification_type` `ToolPermission`, `message` from `getNotificationMessage`,
/// `details`; …) in bundle/chunk-JDPZ4CE3.js. The SessionStart line was relayed
/// by the real gemini 0.61.0 (empty HOME, hooks in ~/.gemini/settings.json).
#[test]
fn gemini_hook_lines() {
    let base = r#""session_id":"ec9c946e-0a5b-400d-8401-bc3d4e39edc9","transcript_path":"/home/u/.gemini/tmp/proj/chats/session-2026-12-03T04-43-ec9c946e.jsonl","cwd":"/tmp/gx/proj""#;
    let text = [
        r#"{"time":"1796273024.758910081","hook":{"session_id":"ec9c946e-0a5b-400d-8401-bc3d4e39edc9","transcript_path":"/tmp/gx/home/.gemini/tmp/proj/chats/session-2026-12-03T04-43-ec9c946e.jsonl","cwd":"/tmp/gx/proj","hook_event_name":"SessionStart","timestamp":"2026-12-03T04:43:44.746Z","source":"startup"}}"#.to_owned() + "\n",
        line("1796273030", &format!(r#"{{{base},"hook_event_name":"BeforeAgent","timestamp":"2026-12-03T04:43:50.000Z","prompt":"list the files"}}"#)),
        line("1796273031", &format!(r#"{{{base},"hook_event_name":"BeforeTool","timestamp":"2026-12-03T04:43:51.000Z","tool_name":"run_shell_command","tool_input":{{"command":"ls"}}}}"#)),
        line("1796273032", &format!(r#"{{{base},"hook_event_name":"Notification","timestamp":"2026-12-03T04:43:52.000Z","notification_type":"ToolPermission","message":"Tool Shell requires execution","details":{{"type":"exec","title":"Shell","command":"ls"}}}}"#)),
        line("1796273033", &format!(r#"{{{base},"hook_event_name":"AfterTool","timestamp":"2026-12-03T04:43:53.000Z","tool_name":"run_shell_command","tool_input":{{}},"tool_response":{{}}}}"#)),
        line("1796273034", &format!(r#"{{{base},"hook_event_name":"AfterAgent","timestamp":"2026-12-03T04:43:54.000Z","prompt":"list the files","prompt_response":"Done.","stop_hook_active":false}}"#)),
        line("1796273035", &format!(r#"{{{base},"hook_event_name":"SessionEnd","timestamp":"2026-12-03T04:43:55.000Z","reason":"exit"}}"#)),
        // Hostile: a forged id, a notification type that is not an identifier, escapes.
        line("1796273036", r#"{"session_id":"../../etc/passwd","hook_event_name":"Notification","notification_type":"Tool Permission\u001b","message":"\u001b]0;evil\u0007ok"}"#),
        line("1796273037", r#"{"session_id":"x","hook_event_name":""}"#),
    ]
    .concat();
    let events = parse_hook_relay(text.as_bytes());
    assert_eq!(
        events.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        [
            HookKind::SessionStart,
            HookKind::UserPromptSubmit,
            HookKind::PreToolUse,
            HookKind::Notification,
            HookKind::PostToolUse,
            HookKind::Stop,
            HookKind::SessionEnd,
            HookKind::Notification,
        ]
    );
    assert!(
        events[..7]
            .iter()
            .all(|e| e.session_id.as_deref() == Some("ec9c946e-0a5b-400d-8401-bc3d4e39edc9"))
    );
    assert_eq!(
        events[3].notification_type.as_deref(),
        Some("ToolPermission")
    );
    assert_eq!(
        events[3].message.as_deref(),
        Some("Tool Shell requires execution")
    );
    assert_eq!(events[7].session_id, None);
    assert_eq!(events[7].notification_type, None);
    assert_eq!(events[7].message.as_deref(), Some("]0;evilok"));
}

/// A gemini permission notification is `waiting` with its message; its turn end is `idle`.
#[test]
fn gemini_hooks_judge_like_claude_hooks() {
    use warren_state::{Observation, Rules, State, judge};
    let rules = Rules::builtin();
    let now = SystemTime::now();
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let start = now - Duration::from_secs(60);
    let at = |ago: u64| format!("{:.3}", secs(now - Duration::from_secs(ago)));
    let hook = |name: &str, extra: &str| {
        format!(
            r#"{{"session_id":"ec9c946e-0a5b-400d-8401-bc3d4e39edc9","hook_event_name":"{name}"{extra}}}"#
        )
    };
    let judged = |lines: String| {
        let mut obs = Observation::new(Some("gemini"), String::new(), now);
        obs.started = start;
        obs.last_output = Some(start);
        obs.hooks = parse_hook_relay(lines.as_bytes());
        judge(&obs, &rules)
    };
    let waiting = judged(
        line(&at(30), &hook("BeforeAgent", ""))
            + &line(
                &at(20),
                &hook(
                    "Notification",
                    r#","notification_type":"ToolPermission","message":"Tool Shell requires execution""#,
                ),
            ),
    );
    assert_eq!(waiting.state, State::Waiting, "{waiting:?}");
    assert_eq!(
        waiting.question.as_deref(),
        Some("Tool Shell requires execution")
    );
    let idle =
        judged(line(&at(30), &hook("BeforeAgent", "")) + &line(&at(20), &hook("AfterAgent", "")));
    assert_eq!(idle.state, State::Idle, "{idle:?}");
    let working = judged(line(
        &at(0),
        &hook("BeforeTool", r#","tool_name":"run_shell_command""#),
    ));
    assert_eq!(working.state, State::Working, "{working:?}");
    // Codex's turn end is a Stop too.
    let codex = {
        let mut obs = Observation::new(Some("codex"), String::new(), now);
        obs.started = start;
        obs.last_output = Some(start);
        obs.hooks = parse_hook_relay(line(&at(20), CODEX_TURN).as_bytes());
        judge(&obs, &rules)
    };
    assert_eq!(codex.state, State::Idle, "{codex:?}");
}

/// The `-c notify=[…]` value is TOML whose array is the program codex runs with
/// the notification as its last argument: run it the same way with a real `sh`.
#[test]
fn the_codex_notify_program_writes_lines_the_parser_reads() {
    let dir = tempfile::tempdir().unwrap();
    let relay = dir.path().join("it's a dir").join("hooks.jsonl");
    std::fs::create_dir_all(relay.parent().unwrap()).unwrap();
    let config = codex_notify_config(relay.to_str().unwrap());
    eprintln!("-c {config}");
    let value: toml::Table = toml::from_str(&config).unwrap();
    let argv: Vec<String> = value["notify"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(argv[..2], ["sh", "-c"]);
    let run = |argv: &[String], payload: &str| {
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .arg(payload)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "{out:?}"
        );
    };
    run(&argv, CODEX_TURN);
    // A long answer: cut to the type and the thread id, still one parseable line.
    let long = CODEX_TURN.replace("Rename complete", &"é".repeat(40_000));
    run(&argv, &long);
    // Nothing to relay.
    run(&argv, "");
    let bytes = std::fs::read(&relay).unwrap();
    assert!(bytes.len() < 1000, "{}", String::from_utf8_lossy(&bytes));
    let events = parse_hook_relay(&bytes);
    assert_eq!(events.len(), 2, "{}", String::from_utf8_lossy(&bytes));
    for e in &events {
        assert_eq!(e.kind, HookKind::Stop);
        assert_eq!(
            e.session_id.as_deref(),
            Some("0199a213-81c0-7800-8aa1-bbab2a035a53")
        );
    }
    assert!(events[1].message.is_none());
    // A relay path it cannot write: still exits 0, prints nothing.
    let config = codex_notify_config("/nonexistent/dir/hooks.jsonl");
    let value: toml::Table = toml::from_str(&config).unwrap();
    let argv: Vec<String> = value["notify"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    run(&argv, CODEX_TURN);
}

#[test]
fn gemini_settings_register_every_hook() {
    let settings = gemini_settings_json("/work/app/.git/warren/hooks-dev.jsonl");
    let hooks = settings["hooks"].as_object().unwrap();
    let mut names: Vec<_> = hooks.keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "AfterAgent",
            "BeforeAgent",
            "BeforeTool",
            "Notification",
            "SessionEnd",
            "SessionStart"
        ]
    );
    for (name, groups) in hooks {
        let group = &groups[0];
        // No matcher: every tool, every notification.
        assert!(group.get("matcher").is_none(), "{name}");
        let hook = &group["hooks"][0];
        assert_eq!(hook["type"], "command", "{name}");
        assert_eq!(hook["timeout"], 5000, "{name}");
        let command = hook["command"].as_str().unwrap();
        assert!(command.contains("'/work/app/.git/warren/hooks-dev.jsonl'"));
        // Gemini substitutes these in a command's text.
        assert!(!command.contains("$GEMINI_") && !command.contains("$CLAUDE_"));
    }
}

/// The gemini command, run the way gemini runs it (`bash -c`, the input's
/// `JSON.stringify` on stdin), with a payload over the size limit too.
#[test]
fn the_gemini_relay_command_writes_lines_the_parser_reads() {
    let dir = tempfile::tempdir().unwrap();
    let relay = dir.path().join("it's a dir").join("hooks.jsonl");
    std::fs::create_dir_all(relay.parent().unwrap()).unwrap();
    let settings = gemini_settings_json(relay.to_str().unwrap());
    let shell = if Command::new("bash").arg("-c").arg("true").status().is_ok() {
        "bash"
    } else {
        "sh"
    };
    let run = |event: &str, payload: &str| {
        let command = settings["hooks"][event][0]["hooks"][0]["command"]
            .as_str()
            .unwrap();
        let mut child = Command::new(shell)
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), payload.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "{out:?}"
        );
    };
    let id = "ec9c946e-0a5b-400d-8401-bc3d4e39edc9";
    run(
        "Notification",
        &format!(
            r#"{{"session_id":"{id}","transcript_path":"","cwd":"/w","hook_event_name":"Notification","timestamp":"2026-12-03T04:43:52.000Z","notification_type":"ToolPermission","message":"Tool Shell requires execution","details":{{}}}}"#
        ),
    );
    run(
        "AfterAgent",
        &format!(
            r#"{{"session_id":"{id}","transcript_path":"","cwd":"/w","hook_event_name":"AfterAgent","timestamp":"2026-12-03T04:43:54.000Z","prompt":"p","prompt_response":"{}","stop_hook_active":false}}"#,
            "ü".repeat(40_000)
        ),
    );
    let bytes = std::fs::read(&relay).unwrap();
    assert!(bytes.len() < 1000, "{}", String::from_utf8_lossy(&bytes));
    let events = parse_hook_relay(&bytes);
    assert_eq!(
        events.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        [HookKind::Notification, HookKind::Stop]
    );
    assert!(events.iter().all(|e| e.session_id.as_deref() == Some(id)));
    assert_eq!(
        events[0].notification_type.as_deref(),
        Some("ToolPermission")
    );
}
