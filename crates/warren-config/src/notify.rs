//! `notify:` in `config.yaml`: how warren tells you a session needs you.
//!
//! ```yaml
//! notify:
//!   command: notify-send warren "$WARREN_MESSAGE"   # or a list: [notify-send, warren]
//!   webhook: http://127.0.0.1:8085/warren           # JSON POST
//!   bell: true                                      # `\a` in `warren events -f`
//!   on: [waiting, idle, exited]                     # the default
//! ```
//!
//! The command is the user's own text; the event's fields reach it only as
//! `WARREN_EVENT_*` variables (see `warren_env::notify`), never spliced into it.

use serde::Serialize;

use crate::decode::{Decoder, suggestion};
use crate::diagnostic::Severity;
use crate::node::{Node, Value};

/// Session states a notification may fire on.
pub const NOTIFY_STATES: [&str; 6] = [
    "starting", "working", "waiting", "idle", "exited", "unknown",
];

/// The command run for a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum NotifyCommand {
    /// Run by `sh -c`: the user's text, with `$WARREN_MESSAGE` and friends
    /// expanded by the shell from the environment.
    Shell(String),
    /// Run directly, no shell.
    Argv(Vec<String>),
}

/// `notify:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotifyConfig {
    pub command: Option<NotifyCommand>,
    /// `http://` URL that receives a JSON POST per notification.
    pub webhook: Option<String>,
    /// Ring the terminal bell in `warren events -f` and `warren notify`.
    pub bell: bool,
    /// States whose entry notifies (default `waiting`, `idle`, `exited`).
    pub on: Vec<String>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            command: None,
            webhook: None,
            bell: false,
            on: ["waiting", "idle", "exited"].map(String::from).to_vec(),
        }
    }
}

impl NotifyConfig {
    /// Whether anything is configured to fire.
    pub fn is_enabled(&self) -> bool {
        self.command.is_some() || self.webhook.is_some() || self.bell
    }

    /// Whether entering `state` notifies.
    pub fn fires_on(&self, state: &str) -> bool {
        self.on.iter().any(|s| s == state)
    }
}

pub(crate) fn decode(d: &mut Decoder<'_>, node: &Node) -> NotifyConfig {
    let mut c = NotifyConfig::default();
    if node.value == Value::Null {
        return c;
    }
    let Some(mut f) = d.fields(node, "notify") else {
        return c;
    };
    if let Some(n) = f.take("command") {
        c.command = match &n.value {
            Value::Str(s) if !s.trim().is_empty() => Some(NotifyCommand::Shell(s.clone())),
            Value::Seq(_) => d
                .string_list(n, "notify.command", false)
                .filter(|l| !l.is_empty())
                .map(|l| NotifyCommand::Argv(l.into_iter().map(|s| s.value).collect())),
            _ => {
                d.type_error(
                    n,
                    "notify.command",
                    "a command (a string run by `sh -c`, or a list of arguments)",
                    Some("e.g. `command: notify-send warren \"$WARREN_MESSAGE\"`".into()),
                );
                None
            }
        };
    }
    if let Some(n) = f.take("webhook")
        && let Some(url) = d.string(n, "notify.webhook")
    {
        if url.starts_with("http://") && url.len() > "http://".len() {
            c.webhook = Some(url);
        } else if url.starts_with("https://") {
            // warren's HTTP client is built without TLS.
            d.error(
                n.span,
                "`notify.webhook` must be an `http://` URL: warren does not send HTTPS webhooks",
                Some(
                    "point it at a local relay, or use `command: curl -fsS -d \"$WARREN_MESSAGE\" https://…`"
                        .into(),
                ),
            );
        } else {
            d.error(
                n.span,
                format!("`notify.webhook` is not an `http://` URL: `{url}`"),
                Some("e.g. `webhook: http://127.0.0.1:8085/warren`".into()),
            );
        }
    }
    if let Some(v) = f.take("bell").and_then(|n| d.bool(n, "notify.bell")) {
        c.bell = v;
    }
    if let Some(n) = f.take("on")
        && let Some(list) = d.string_list(n, "notify.on", true)
    {
        c.on.clear();
        for s in list {
            if NOTIFY_STATES.contains(&s.value.as_str()) {
                c.on.push(s.value);
            } else {
                d.error(
                    s.span,
                    format!("unknown session state `{}` in `notify.on`", s.value),
                    suggestion(&s.value, &NOTIFY_STATES)
                        .or_else(|| Some(format!("one of: {}", NOTIFY_STATES.join(", ")))),
                );
            }
        }
    }
    f.finish(d, Severity::Error);
    c
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use super::*;
    use crate::global::parse_global;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_and_full_form() {
        let c = parse_global(Path::new("/r/config.yaml"), "runtime: auto\n", &no_env).unwrap();
        assert_eq!(c.value.notify, NotifyConfig::default());
        assert!(!c.value.notify.is_enabled());
        let c = parse_global(
            Path::new("/r/config.yaml"),
            "notify:\n  command: notify-send warren \"$WARREN_MESSAGE\"\n  webhook: http://127.0.0.1:9/x\n  bell: true\n  on: waiting\n",
            &no_env,
        )
        .unwrap()
        .value
        .notify;
        assert_eq!(
            c.command,
            Some(NotifyCommand::Shell(
                "notify-send warren \"$WARREN_MESSAGE\"".into()
            ))
        );
        assert_eq!(c.webhook.as_deref(), Some("http://127.0.0.1:9/x"));
        assert!(c.bell && c.fires_on("waiting") && !c.fires_on("idle"));
        let c = parse_global(
            Path::new("/r/config.yaml"),
            "notify: {command: [notify-send, warren]}\n",
            &no_env,
        )
        .unwrap()
        .value
        .notify;
        assert_eq!(
            c.command,
            Some(NotifyCommand::Argv(vec![
                "notify-send".into(),
                "warren".into()
            ]))
        );
    }

    #[test]
    fn errors_are_located() {
        let err = parse_global(
            Path::new("/r/config.yaml"),
            "notify:\n  webhook: https://hooks.example/x\n  bel: true\n  on: [waitng]\n  command: 3\n",
            &no_env,
        )
        .unwrap_err();
        let got: Vec<_> = err
            .diagnostics
            .iter()
            .map(|d| (d.line, d.col, d.message.as_str(), d.hint.as_deref()))
            .collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!((got[0].0, got[0].1), (2, 12));
        assert!(got[0].2.contains("`http://`"), "{got:?}");
        assert_eq!(
            (got[1].0, got[1].1, got[1].3),
            (3, 3, Some("did you mean `bell`?"))
        );
        assert_eq!(
            (got[2].0, got[2].1, got[2].3),
            (4, 8, Some("did you mean `waiting`?"))
        );
        assert_eq!((got[3].0, got[3].1), (5, 12));
    }
}
