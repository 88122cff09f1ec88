//! The hook relay: the environment writes it, so it is hostile input.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use warren_state::{HookKind, MAX_EVENTS, MAX_LINE, claude_settings_json, parse_hook_relay};

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
