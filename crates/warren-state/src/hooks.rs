//! Hook events relayed out of the environment, and the settings that make the
//! tools write them: Claude Code's `--settings`, codex's `notify` program,
//! Gemini CLI's hooks.
//!
//! The relay file is written inside the environment, so everything in it is
//! attacker-controlled: parsing is bounded, strict, and never panics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Lines longer than this are ignored whole (a PreToolUse carrying a large
/// file write can exceed it; losing one working signal is harmless).
pub const MAX_LINE: usize = 64 * 1024;
/// Only the newest events are kept: the judge needs the last turn, not history.
pub const MAX_EVENTS: usize = 1000;
/// Messages are cut to this many characters: they end up in one-line reasons and notifications.
const MAX_MESSAGE: usize = 1000;
/// Session ids longer than this, or with other than `[A-Za-z0-9._-]`, are dropped.
const MAX_SESSION_ID: usize = 128;

/// Which hook fired (Claude Code's event names; gemini's and codex's events are
/// mapped onto them by [`parse_hook_relay`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HookKind {
    SessionStart,
    UserPromptSubmit,
    PreToolUse,
    PostToolUse,
    Notification,
    Stop,
    SessionEnd,
    /// Any other event name (sanitised, at most 64 characters).
    Other(String),
}

impl HookKind {
    fn from_name(name: &str) -> HookKind {
        match name {
            "SessionStart" => HookKind::SessionStart,
            "UserPromptSubmit" => HookKind::UserPromptSubmit,
            "PreToolUse" => HookKind::PreToolUse,
            "PostToolUse" => HookKind::PostToolUse,
            "Notification" => HookKind::Notification,
            "Stop" => HookKind::Stop,
            "SessionEnd" => HookKind::SessionEnd,
            // Gemini CLI's names for the same moments (its `HookEventName`, 0.61.0):
            // the judge stays tool-agnostic.
            "BeforeAgent" => HookKind::UserPromptSubmit,
            "BeforeTool" => HookKind::PreToolUse,
            "AfterTool" => HookKind::PostToolUse,
            "AfterAgent" => HookKind::Stop,
            other => HookKind::Other(clean(other, 64)),
        }
    }

    /// The event name as the tool spells it.
    pub fn name(&self) -> &str {
        match self {
            HookKind::SessionStart => "SessionStart",
            HookKind::UserPromptSubmit => "UserPromptSubmit",
            HookKind::PreToolUse => "PreToolUse",
            HookKind::PostToolUse => "PostToolUse",
            HookKind::Notification => "Notification",
            HookKind::Stop => "Stop",
            HookKind::SessionEnd => "SessionEnd",
            HookKind::Other(name) => name,
        }
    }
}

/// One relayed hook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEvent {
    pub kind: HookKind,
    /// When the hook ran (written by the relay command; never later than when it was parsed).
    pub time: SystemTime,
    /// The Notification text (what the tool waits for), control characters stripped.
    pub message: Option<String>,
    /// The tool's session id (to resume it).
    pub session_id: Option<String>,
    /// Claude's `notification_type` (`permission_prompt`, `idle_prompt`, `elicitation_dialog`, …).
    pub notification_type: Option<String>,
}

impl HookEvent {
    /// An event of `kind` at `time` with no other field.
    pub fn new(kind: HookKind, time: SystemTime) -> Self {
        HookEvent {
            kind,
            time,
            message: None,
            session_id: None,
            notification_type: None,
        }
    }
}

/// Parses the relay file: one JSON object per line,
/// `{"time":"<secs>[.<frac>]","hook":{<the hook's stdin JSON>}}`.
///
/// `hook` is Claude Code's or Gemini CLI's hook input (`hook_event_name`,
/// `session_id`, `message`, `notification_type`; gemini's `BeforeAgent`,
/// `BeforeTool`, `AfterTool`, `AfterAgent` become `UserPromptSubmit`,
/// `PreToolUse`, `PostToolUse`, `Stop`), or codex's `notify` payload
/// (`type`, `thread-id`, `last-assistant-message`; `agent-turn-complete` is `Stop`).
///
/// Lines that are too long, not UTF-8, not that shape, or without an event
/// name are skipped; the last [`MAX_EVENTS`] events are returned,
/// oldest first. Times in the future are clamped to now, so the environment
/// cannot pin a state by writing events ahead of time.
pub fn parse_hook_relay(bytes: &[u8]) -> Vec<HookEvent> {
    let now = SystemTime::now();
    // From the end: only the newest events are kept, so a huge file costs
    // no more than its last MAX_EVENTS valid lines (plus the invalid ones among them).
    let mut events = Vec::with_capacity(64);
    for line in bytes.rsplit(|&b| b == b'\n') {
        if events.len() == MAX_EVENTS {
            break;
        }
        if line.len() > MAX_LINE {
            continue;
        }
        if let Some(event) = parse_line(line, now) {
            events.push(event);
        }
    }
    events.reverse();
    events
}

fn parse_line(line: &[u8], now: SystemTime) -> Option<HookEvent> {
    let line = std::str::from_utf8(line).ok()?.trim();
    if line.is_empty() {
        return None;
    }
    let value: Value = serde_json::from_str(line).ok()?;
    let object = value.as_object()?;
    let time = parse_time(object.get("time")?)?.min(now);
    let hook = object.get("hook")?.as_object()?;
    let text = |key: &str| hook.get(key).and_then(Value::as_str);
    let message = |key: &str| {
        text(key)
            .map(|m| clean(m, MAX_MESSAGE))
            .filter(|m| !m.is_empty())
    };
    let id = |key: &str| text(key).filter(|id| valid_id(id)).map(str::to_owned);
    if let Some(name) = hook.get("hook_event_name") {
        // Claude Code and Gemini CLI: the hook's stdin JSON.
        let name = name.as_str().filter(|n| !n.is_empty())?;
        return Some(HookEvent {
            kind: HookKind::from_name(name),
            time,
            message: message("message"),
            session_id: id("session_id"),
            notification_type: id("notification_type"),
        });
    }
    // Codex: its `notify` program's argument (the only type, as of 0.171.0, is
    // `agent-turn-complete`: the turn is over).
    let kind = match text("type").filter(|t| !t.is_empty())? {
        "agent-turn-complete" => HookKind::Stop,
        other => HookKind::Other(clean(other, 64)),
    };
    Some(HookEvent {
        kind,
        time,
        message: message("last-assistant-message"),
        session_id: id("thread-id"),
        notification_type: None,
    })
}

/// Seconds since the epoch, as written by `date +%s.%N` (a string) or a JSON number.
fn parse_time(value: &Value) -> Option<SystemTime> {
    let duration = match value {
        Value::String(s) => {
            let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
            if secs.is_empty() || secs.len() > 12 || !secs.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // BSD `date` prints `%N` literally: a non-numeric fraction is ignored.
            let nanos = if !frac.is_empty()
                && frac.len() <= 9
                && frac.bytes().all(|b| b.is_ascii_digit())
            {
                format!("{frac:0<9}").parse::<u32>().ok()?
            } else {
                0
            };
            Duration::new(secs.parse().ok()?, nanos)
        }
        Value::Number(n) => {
            let secs = n.as_f64()?;
            if !(0.0..1e12).contains(&secs) {
                return None;
            }
            Duration::from_secs_f64(secs)
        }
        _ => return None,
    };
    UNIX_EPOCH.checked_add(duration)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SESSION_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Drops control characters (escape sequences lose their ESC and become
/// inert text), folds line breaks and tabs to spaces, and cuts to `max` characters.
fn clean(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    let mut kept = 0;
    for c in text.chars() {
        if kept >= max {
            break;
        }
        kept += 1;
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            // C0, DEL, C1, and the bidi overrides that make text read differently than it is.
            c if c.is_control()
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c) =>
            {
                kept -= 1;
            }
            c => out.push(c),
        }
    }
    out.trim().to_owned()
}

/// The hook events warren registers for Claude Code.
const CLAUDE_EVENTS: [&str; 6] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "Notification",
    "Stop",
    "SessionEnd",
];

/// The `--settings` JSON that makes Claude Code append every hook's stdin
/// JSON, wrapped with the time, as one line to `relay` (a path inside the
/// environment).
///
/// The command is POSIX `sh`: `date +%s.%N` (GNU and busybox; BSD prints a
/// literal `N`, which the parser ignores), `tr` to fold a pretty-printed
/// payload onto one line (raw newlines in JSON are only whitespace), one
/// `printf` appending the whole line (so concurrent hooks do not interleave
/// in practice). It always exits 0 and
/// prints nothing (stderr is closed first, so even a failed redirection is
/// silent), so it never blocks or alters the tool.
pub fn claude_settings_json(relay: &str) -> Value {
    let command = format!(
        "exec 2>/dev/null; l=$(tr -d '\\n\\r'); printf '{{\"time\":\"%s\",\"hook\":%s}}\\n' \"$(date +%s.%N)\" \"$l\" >> {}; exit 0",
        shell_quote(relay)
    );
    let mut hooks = serde_json::Map::new();
    for event in CLAUDE_EVENTS {
        let mut group =
            json!({ "hooks": [{ "type": "command", "command": command, "timeout": 5 }] });
        // Tool events take a matcher; "" matches every tool.
        if event == "PreToolUse" {
            group["matcher"] = json!("");
        }
        hooks.insert(event.to_owned(), json!([group]));
    }
    json!({ "hooks": hooks })
}

/// Relayed payloads longer than this many characters are cut down to their
/// event and session id by the relay command itself (so that, even in 4-byte
/// characters, the line stays under [`MAX_LINE`]): a long answer in codex's
/// turn-complete or gemini's `AfterAgent` must not lose the turn's end.
const MAX_RELAYED_CHARS: usize = 16_000;

/// The `-c` override (`notify=[…]`, a TOML array) that makes codex run a POSIX
/// `sh` program after each turn, appending `{"time":"<date +%s.%N>","hook":<the
/// notification JSON>}` as one line to `relay` (a path inside the environment).
///
/// Codex passes the notification JSON as the program's last argument (`$1`
/// here), one line, its keys in the order `type`, `thread-id`, `turn-id`, …
/// (`UserNotification`, codex-cli 0.171.0). A payload over
/// [`MAX_RELAYED_CHARS`] is cut to `{"type":…,"thread-id":…}`. Like the claude
/// command it prints nothing and always exits 0.
pub fn codex_notify_config(relay: &str) -> String {
    let script = format!(
        r#"exec 2>/dev/null; l=$(printf %s "$1" | tr -d '\n\r'); if [ ${{#l}} -gt {MAX_RELAYED_CHARS} ]; then l=$(printf %s "$l" | sed -n 's/^\({{"type":"[a-z-]*","thread-id":"[0-9a-f-]*"\).*/\1}}/p'); fi; [ -n "$l" ] || exit 0; printf '{{"time":"%s","hook":%s}}\n' "$(date +%s.%N)" "$l" >> {}; exit 0"#,
        shell_quote(relay)
    );
    // A JSON array of strings is a TOML inline array (same escapes).
    format!("notify={}", json!(["sh", "-c", script, "sh"]))
}

/// The hook events warren registers for Gemini CLI (its `HookEventName`, 0.61.0).
const GEMINI_EVENTS: [&str; 6] = [
    "SessionStart",
    "BeforeAgent",
    "BeforeTool",
    "Notification",
    "AfterAgent",
    "SessionEnd",
];

/// Gemini CLI settings (`{"hooks":{"EVENT":[{"hooks":[{"type":"command",…}]}]}}`)
/// whose hooks append each hook's stdin JSON, wrapped with the time, as one
/// line to `relay` (a path inside the environment).
///
/// Gemini runs the command with `bash -c` and writes `JSON.stringify(input)`
/// (one line, `session_id` its first key) to its stdin; no `matcher` matches
/// every tool. A payload over [`MAX_RELAYED_CHARS`] is cut to its session id
/// and the event's name. The command prints nothing and always exits 0.
///
/// Gemini 0.61.0 only reads a system settings or system defaults file
/// (`GEMINI_CLI_SYSTEM_SETTINGS_PATH`, `GEMINI_CLI_SYSTEM_DEFAULTS_PATH`) that
/// is owned by root, as is every directory above it, none of them writable by
/// group or others; user and workspace settings have no such check, and hooks
/// only run in a trusted folder.
pub fn gemini_settings_json(relay: &str) -> Value {
    gemini_settings_to(&shell_quote(relay))
}

/// [`gemini_settings_json`] for every gemini role of an environment at once (they
/// share `~/.gemini/settings.json`): each appends to `hooks-$WARREN_ROLE.jsonl` in
/// `dir` (inside the environment), the role's name taken from its session's
/// environment when the hook runs.
pub fn gemini_settings_json_in(dir: &str) -> Value {
    gemini_settings_to(&format!(
        "{}/hooks-\"${{WARREN_ROLE:-gemini}}\".jsonl",
        shell_quote(dir.trim_end_matches('/'))
    ))
}

/// The settings whose hooks append to `target` (already quoted for the shell).
fn gemini_settings_to(target: &str) -> Value {
    let mut hooks = serde_json::Map::new();
    for event in GEMINI_EVENTS {
        let command = format!(
            r#"exec 2>/dev/null; l=$(tr -d '\n\r'); if [ ${{#l}} -gt {MAX_RELAYED_CHARS} ]; then i=$(printf %s "$l" | sed -n 's/^{{"session_id":"\([0-9a-f-]*\)".*/\1/p'); l="{{\"session_id\":\"$i\",\"hook_event_name\":\"{event}\"}}"; fi; printf '{{"time":"%s","hook":%s}}\n' "$(date +%s.%N)" "$l" >> {target}; exit 0"#,
        );
        // Gemini's timeout is in milliseconds.
        let group =
            json!({ "hooks": [{ "type": "command", "command": command, "timeout": 5000 }] });
        hooks.insert(event.to_owned(), json!([group]));
    }
    json!({ "hooks": hooks })
}

/// Single-quotes `s` for `sh` (`'` becomes `'\''`).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn time_forms() {
        let t = parse_time(&json!("1700000000.5")).unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::from_millis(1_700_000_000_500)
        );
        assert!(parse_time(&json!("1700000000.N")).is_some());
        assert!(parse_time(&json!("-1")).is_none());
        assert!(parse_time(&json!("1e9")).is_none());
        assert!(parse_time(&json!(1e300)).is_none());
        assert!(parse_time(&json!(null)).is_none());
    }

    #[test]
    fn clean_strips_escapes() {
        assert_eq!(clean("a\u{1b}[31mred\u{7}\nb", 100), "a[31mred b");
        assert_eq!(clean("abcdef", 3), "abc");
        assert_eq!(clean("x\u{202e}y", 10), "xy");
    }

    #[test]
    fn quote() {
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}
