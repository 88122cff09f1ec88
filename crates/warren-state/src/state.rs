//! The states, what the judge reads, and what it answers.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::hooks::HookEvent;

/// A session's state. Serialised in snake_case (`"waiting"`, `{"exited": 1}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Launched, nothing recognisable yet.
    Starting,
    /// Busy: a turn is running or output is flowing.
    Working,
    /// A human is needed: a permission prompt, a question, a login or trust screen.
    Waiting,
    /// The turn is done and nothing is asked.
    Idle,
    /// The pane's process is gone, with its exit code.
    Exited(i32),
    /// No signal decides; see the evidence.
    Unknown,
}

impl State {
    /// Whether a human should look first (`waiting` sorts before everything).
    pub fn needs_attention(self) -> bool {
        matches!(self, State::Waiting)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Starting => f.write_str("starting"),
            State::Working => f.write_str("working"),
            State::Waiting => f.write_str("waiting"),
            State::Idle => f.write_str("idle"),
            State::Exited(code) => write!(f, "exited ({code})"),
            State::Unknown => f.write_str("unknown"),
        }
    }
}

/// Everything the judge looks at for one session at one moment.
#[derive(Debug, Clone)]
pub struct Observation {
    /// `"claude"`, `"codex"`, `"gemini"`, or a custom tool / `None` (generic rules).
    pub tool: Option<String>,
    /// The tool's `--version` output (`"2.1.197 (Claude Code)"`, `"codex-cli 0.171.0"`);
    /// `None` applies every rule of the tool.
    pub tool_version: Option<String>,
    /// `tmux capture-pane -p` of the visible pane.
    pub screen: String,
    /// `#{pane_title}`.
    pub title: String,
    /// `#{pane_dead_status}` when `#{pane_dead}` is 1.
    pub dead: Option<i32>,
    /// When the screen last changed (the caller compares captures).
    pub last_output: Option<SystemTime>,
    /// Relayed hook events, oldest first.
    pub hooks: Vec<HookEvent>,
    /// When the session was started.
    pub started: SystemTime,
    /// The judging moment (a parameter so that tests and replays are exact).
    pub now: SystemTime,
}

impl Observation {
    /// An observation of `screen` for `tool` at `now`, started at `now`, with no other signal.
    pub fn new(tool: Option<&str>, screen: impl Into<String>, now: SystemTime) -> Self {
        Observation {
            tool: tool.map(str::to_owned),
            tool_version: None,
            screen: screen.into(),
            title: String::new(),
            dead: None,
            last_output: None,
            hooks: Vec::new(),
            started: now,
            now,
        }
    }
}

/// The judge's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub state: State,
    /// One line a human reads: `permission prompt: Bash(rm -rf build)`.
    pub reason: String,
    /// What the tool asks, when waiting: the prompt box's text or the hook's message.
    pub question: Option<String>,
    /// Every signal considered, in order (`warren explain`).
    pub evidence: Vec<String>,
}
