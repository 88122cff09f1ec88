//! Writing the event stream (`warren_store::events`): one call per
//! environment transition from the lifecycle code, and the functions the
//! session watcher calls for sessions. Recording is best effort: a store
//! hiccup is logged, it never fails the stop or the create that caused it.

use warren_config::NotifyConfig;
use warren_core::EnvState;
use warren_store::{EventKind, NewEvent, Store};

use crate::Warren;

/// Records `e`; its id, or `None` (logged) when the store refused it.
pub fn record(store: &Store, e: &NewEvent) -> Option<i64> {
    match store.add_event(e) {
        Ok(id) => Some(id),
        Err(err) => {
            tracing::warn!(kind = %e.kind, env = %e.env, "cannot record the event: {err}");
            None
        }
    }
}

impl Warren {
    /// Records an environment transition (`env.*`) into state `to`.
    pub(crate) fn env_event(&self, kind: EventKind, name: &str, to: EnvState) {
        record(
            &self.store,
            &NewEvent {
                to: Some(to.as_str().to_string()),
                ..NewEvent::new(kind, name)
            },
        );
    }
}

/// `session.started`: a session of `env` was launched.
pub fn session_started(store: &Store, env: &str, session: &str) -> Option<i64> {
    record(
        store,
        &NewEvent {
            session: Some(session.to_string()),
            to: Some("starting".into()),
            ..NewEvent::new(EventKind::SessionStarted, env)
        },
    )
}

/// `session.exited`: a session's process ended with `code` (when known).
/// Notifications fire on the matching `session.state` → `exited` event, so
/// the watcher records that too.
pub fn session_exited(store: &Store, env: &str, session: &str, code: Option<i32>) -> Option<i64> {
    record(
        store,
        &NewEvent {
            session: Some(session.to_string()),
            to: Some("exited".into()),
            reason: code.map(|c| format!("exit {c}")),
            data: code.map(|c| serde_json::json!({ "exit_code": c })),
            ..NewEvent::new(EventKind::SessionExited, env)
        },
    )
}

/// What a session state change says.
#[derive(Debug, Clone, Copy, Default)]
pub struct StateChange<'a> {
    pub from: Option<&'a str>,
    pub to: &'a str,
    /// Why, in a few words (`permission prompt`, `Stop hook`, `exit 1`).
    pub reason: Option<&'a str>,
    /// What the agent asks or waits for (the question, the prompt's text).
    pub message: Option<&'a str>,
}

/// `session.state`: records the change, then hands new events to the
/// notifier (`notify`) on a background thread, so a slow webhook never
/// delays the watcher. Each event is notified once across every process
/// (see [`crate::notify::pump`]).
pub fn session_state(
    store: &Store,
    notify: &NotifyConfig,
    env: &str,
    session: &str,
    change: StateChange<'_>,
) -> Option<i64> {
    let id = record(
        store,
        &NewEvent {
            session: Some(session.to_string()),
            from: change.from.map(str::to_string),
            to: Some(change.to.to_string()),
            reason: change.reason.map(str::to_string),
            message: change.message.map(str::to_string),
            ..NewEvent::new(EventKind::SessionState, env)
        },
    )?;
    if notify.fires_on(change.to) && (notify.command.is_some() || notify.webhook.is_some()) {
        crate::notify::pump_in_background(store.path(), notify);
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::{Duration, Instant};

    use warren_config::NotifyCommand;

    use super::*;

    #[test]
    fn a_state_change_is_recorded_and_notified_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let out = dir.path().join("calls");
        let config = NotifyConfig {
            command: Some(NotifyCommand::Argv(vec![
                "sh".into(),
                "-c".into(),
                format!(
                    "printf '%s|%s\\n' \"$WARREN_EVENT_TO\" \"$WARREN_MESSAGE\" >> '{}'",
                    out.display()
                ),
            ])),
            ..NotifyConfig::default()
        };
        // The notifier's cursor starts at the end of the stream.
        crate::notify::pump(&store, &config).unwrap();
        session_started(&store, "e", "claude").unwrap();
        let change = |to, message| StateChange {
            from: Some("working"),
            to,
            reason: Some("permission prompt"),
            message,
        };
        session_state(&store, &config, "e", "claude", change("working", None)).unwrap();
        session_state(
            &store,
            &config,
            "e",
            "claude",
            change("waiting", Some("Allow Bash(ls)?")),
        )
        .unwrap();
        // A second pump (another process) finds nothing left to deliver.
        crate::notify::pump(&store, &config).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !out.exists() {
            assert!(Instant::now() < deadline, "no notification");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "waiting|e/claude is waiting: permission prompt: Allow Bash(ls)?\n"
        );
        let kinds: Vec<String> = store
            .events_after(0, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["session.started", "session.state", "session.state"]);
    }
}
