//! Notifications: when a session enters a state listed in `notify.on`
//! (`waiting`, `idle`, `exited` by default), run the configured command
//! and POST the webhook, saying what the agent waits for.
//!
//! Where this runs: events are written by several processes (the session
//! watcher, `warren stop`, …), so delivery is not tied to one of them.
//! [`pump`] claims the events no one has notified yet through a store
//! cursor (`Store::claim_events`), so whoever calls it — the session watcher
//! right after it records a state, or `warren events -f --notify` — delivers
//! each event exactly once, and no daemon has to exist for notifications to
//! work. The bell belongs to a terminal, so `warren events -f` rings it
//! itself.
//!
//! Event text comes from inside an environment (a question an agent printed)
//! and is attacker-controlled: it reaches the command only as environment
//! variables, stripped of control characters, and never becomes part of a
//! command line or a shell script.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use warren_config::{NotifyCommand, NotifyConfig};
use warren_store::{Event, EventKind, Store};

/// Name of the notifier's cursor in the store.
pub const CONSUMER: &str = "notify";
/// How long a command or webhook may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Events older than this are not notified (a notifier that was off for
/// an hour should not replay the hour).
pub const MAX_AGE_MS: i64 = 10 * 60 * 1000;
/// Longest text put into a variable or the webhook body.
const MAX_TEXT: usize = 2000;

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot run the notify command `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the notify command `{command}` {outcome}")]
    Command { command: String, outcome: String },
    #[error("the notify webhook `{url}` failed: {message}")]
    Webhook { url: String, message: String },
    #[error(transparent)]
    Store(#[from] warren_store::StoreError),
}

impl warren_core::Hint for NotifyError {
    fn hint(&self) -> Option<String> {
        match self {
            NotifyError::Spawn { .. } | NotifyError::Command { .. } => Some(
                "check `notify.command` in `config.yaml`; it gets the event in `WARREN_MESSAGE` and `WARREN_EVENT_*`".into(),
            ),
            NotifyError::Webhook { .. } => {
                Some("check `notify.webhook` in `config.yaml` and that its server is up".into())
            }
            NotifyError::Store(_) => None,
        }
    }
}

/// Whether `e` is a state change `config` notifies about.
pub fn wants(e: &Event, config: &NotifyConfig) -> bool {
    e.kind() == Some(EventKind::SessionState)
        && e.to.as_deref().is_some_and(|to| config.fires_on(to))
}

/// `text` as one safe, bounded line: escape sequences dropped, every other
/// control character (newlines included) a space.
pub fn plain(text: &str) -> String {
    one_line(&strip_escapes(text))
}

fn one_line(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if s.chars().count() > MAX_TEXT {
        s = s.chars().take(MAX_TEXT).collect::<String>() + "…";
    }
    s
}

/// Drops ESC-introduced sequences (CSI, OSC and the like) and control
/// characters other than newline and tab; bounded.
fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_TEXT));
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    for n in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&n) {
                            break;
                        }
                    }
                }
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    while let Some(n) = chars.next() {
                        if n == '\x07' {
                            break;
                        }
                        if n == '\x1b' {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
        if out.len() > MAX_TEXT * 4 {
            break;
        }
    }
    out
}

/// The human message: who, which state, and what it waits for, e.g.
/// `fix-login/claude is waiting: permission prompt: Allow Bash(rm -rf build)?`.
pub fn message(e: &Event) -> String {
    let who = match &e.session {
        Some(s) => format!("{}/{}", e.env, s),
        None => e.env.clone(),
    };
    let to = e.to.as_deref().unwrap_or("changed");
    let mut m = format!("{who} is {to}");
    if to == "exited" {
        m = format!("{who} exited");
    }
    for part in [&e.reason, &e.message].into_iter().flatten() {
        let part = plain(part);
        if !part.is_empty() {
            m.push_str(": ");
            m.push_str(&part);
        }
    }
    one_line(&m)
}

/// The variables a notify command gets: `WARREN_MESSAGE` (from
/// [`message`]) and `WARREN_EVENT_{ID,TIME,KIND,ENV,SESSION,FROM,TO,REASON,MESSAGE}`.
/// Values are plain text (no control characters but newlines in
/// `WARREN_EVENT_MESSAGE`); a missing field is an empty string.
pub fn command_env(e: &Event) -> Vec<(&'static str, String)> {
    let opt = |v: &Option<String>| v.as_deref().map(plain).unwrap_or_default();
    let mut text = strip_escapes(e.message.as_deref().unwrap_or(""));
    if text.chars().count() > MAX_TEXT {
        text = text.chars().take(MAX_TEXT).collect();
    }
    vec![
        ("WARREN_MESSAGE", message(e)),
        ("WARREN_EVENT_ID", e.id.to_string()),
        (
            "WARREN_EVENT_TIME",
            warren_core::time::rfc3339_ms(e.time_ms),
        ),
        ("WARREN_EVENT_KIND", plain(&e.kind)),
        ("WARREN_EVENT_ENV", plain(&e.env)),
        ("WARREN_EVENT_SESSION", opt(&e.session)),
        ("WARREN_EVENT_FROM", opt(&e.from)),
        ("WARREN_EVENT_TO", opt(&e.to)),
        ("WARREN_EVENT_REASON", opt(&e.reason)),
        ("WARREN_EVENT_MESSAGE", text),
    ]
}

/// The webhook's JSON body: `{message, event: {id, time, kind, env,
/// session, from, to, reason, message, data}}`, text fields as in
/// [`command_env`]. `text` repeats `message` for chat services that read it.
pub fn webhook_body(e: &Event) -> serde_json::Value {
    let env: std::collections::HashMap<_, _> = command_env(e).into_iter().collect();
    let field = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    serde_json::json!({
        "message": env.get("WARREN_MESSAGE"),
        "text": env.get("WARREN_MESSAGE"),
        "event": {
            "id": e.id,
            "time": field("WARREN_EVENT_TIME"),
            "kind": field("WARREN_EVENT_KIND"),
            "env": field("WARREN_EVENT_ENV"),
            "session": field("WARREN_EVENT_SESSION"),
            "from": field("WARREN_EVENT_FROM"),
            "to": field("WARREN_EVENT_TO"),
            "reason": field("WARREN_EVENT_REASON"),
            "message": field("WARREN_EVENT_MESSAGE"),
            "data": e.data,
        },
    })
}

/// Delivers one event: runs the command and POSTs the webhook (whichever
/// are configured), each bounded by [`TIMEOUT`]. Blocking; the bell is the
/// caller's (it needs a terminal). Returns each failure.
pub fn dispatch(e: &Event, config: &NotifyConfig) -> Vec<NotifyError> {
    let mut errors = Vec::new();
    if let Some(cmd) = &config.command
        && let Err(err) = run_command(cmd, e)
    {
        errors.push(err);
    }
    if let Some(url) = &config.webhook
        && let Err(err) = post(url, e)
    {
        errors.push(err);
    }
    errors
}

fn run_command(cmd: &NotifyCommand, e: &Event) -> Result<(), NotifyError> {
    let (mut command, shown) = match cmd {
        // The shell runs the user's own text; the event is only in the
        // environment, where `"$WARREN_MESSAGE"` expands without being
        // parsed again.
        NotifyCommand::Shell(s) => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(s);
            (c, s.clone())
        }
        NotifyCommand::Argv(argv) => {
            let Some((first, rest)) = argv.split_first() else {
                return Ok(());
            };
            let mut c = Command::new(first);
            c.args(rest);
            (c, argv.join(" "))
        }
    };
    command
        .envs(command_env(e))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|source| NotifyError::Spawn {
        command: shown.clone(),
        source,
    })?;
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NotifyError::Command {
                    command: shown,
                    outcome: format!("did not finish in {}s and was killed", TIMEOUT.as_secs()),
                });
            }
            Err(source) => {
                return Err(NotifyError::Spawn {
                    command: shown,
                    source,
                });
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.by_ref().take(4096).read_to_string(&mut stderr);
    }
    Err(NotifyError::Command {
        command: shown,
        outcome: format!("failed ({status}): {}", plain(&stderr)),
    })
}

fn post(url: &str, e: &Event) -> Result<(), NotifyError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    agent
        .post(url)
        .send_json(webhook_body(e))
        .map(|_| ())
        .map_err(|err| NotifyError::Webhook {
            url: url.to_string(),
            message: err.to_string(),
        })
}

/// Claims the events not yet notified (across every process, see the
/// module docs) and dispatches those [`wants`] and recent enough. Returns
/// how many were delivered; failures are logged.
pub fn pump(store: &Store, config: &NotifyConfig) -> Result<usize, NotifyError> {
    let now = warren_core::time::now_ms();
    let mut sent = 0;
    loop {
        let batch = store.claim_events(CONSUMER, 100)?;
        for e in &batch {
            if !wants(e, config) || now - e.time_ms > MAX_AGE_MS {
                continue;
            }
            for err in dispatch(e, config) {
                tracing::warn!(event = e.id, "notification failed: {err}");
            }
            sent += 1;
        }
        if batch.len() < 100 {
            return Ok(sent);
        }
    }
}

/// [`pump`] on its own thread and connection (the caller's `Store` is not
/// `Sync`), for callers that must not wait on a webhook.
pub fn pump_in_background(db: &Path, config: &NotifyConfig) {
    let (db, config) = (db.to_path_buf(), config.clone());
    let spawned = std::thread::Builder::new()
        .name("warren-notify".into())
        .spawn(move || match Store::open_file(&db) {
            Ok(store) => {
                if let Err(err) = pump(&store, &config) {
                    tracing::warn!("notifications: {err}");
                }
            }
            Err(err) => tracing::warn!("notifications: {err}"),
        });
    if let Err(err) = spawned {
        tracing::warn!("cannot start the notifier thread: {err}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn event(message: &str) -> Event {
        Event {
            id: 7,
            time_ms: 0,
            kind: "session.state".into(),
            env: "fix-login".into(),
            session: Some("claude".into()),
            from: Some("working".into()),
            to: Some("waiting".into()),
            reason: Some("permission prompt".into()),
            message: Some(message.into()),
            data: None,
        }
    }

    #[test]
    fn messages_say_what_is_awaited_and_stay_inert() {
        let e = event("Allow Bash(rm -rf build)?\n\x1b]52;c;aGk=\x07\x1b[2J$(touch /tmp/x)\0");
        assert_eq!(
            message(&e),
            "fix-login/claude is waiting: permission prompt: Allow Bash(rm -rf build)? $(touch /tmp/x)"
        );
        let env: std::collections::HashMap<_, _> = command_env(&e).into_iter().collect();
        assert_eq!(
            env["WARREN_EVENT_MESSAGE"],
            "Allow Bash(rm -rf build)?\n$(touch /tmp/x)"
        );
        assert!(env.values().all(|v| !v.contains(['\x1b', '\0', '\x07'])));
        let body = webhook_body(&e);
        assert_eq!(body["event"]["to"], "waiting");
        assert_eq!(body["message"], message(&e).as_str());
    }

    #[test]
    fn only_configured_state_changes_notify() {
        let c = NotifyConfig::default();
        assert!(wants(&event("q"), &c));
        let mut working = event("q");
        working.to = Some("working".into());
        assert!(!wants(&working, &c));
        let mut exited = event("q");
        exited.kind = "session.exited".into();
        assert!(
            !wants(&exited, &c),
            "exits notify through their state event"
        );
    }
}
