//! The session-state engine: what an interactive session (an AI tool's TUI or
//! a dev server in a tmux pane) is doing, with the reason and the evidence.
//!
//! This crate judges; it does no I/O. The caller (the session watcher) reads
//! tmux (`capture-pane -p`, `#{pane_title}`, `#{pane_dead}`,
//! `#{pane_dead_status}`), tracks when the screen last changed and since when
//! a state holds (a [`Tracker`] per session), reads the hook relay file with
//! [`parse_hook_relay`], and calls [`judge`] with an [`Observation`].
//!
//! # How a state is decided
//!
//! Signals are consulted in this order; the first that decides wins, and every
//! signal considered is written to [`Verdict::evidence`]:
//!
//! 1. **Pane death** → `exited(code)`, always: nothing else can be true of a
//!    process that is gone.
//! 2. **A waiting screen rule** (permission prompt, question, login, trust or
//!    onboarding screen) → `waiting`, with the question text cut from the
//!    screen. The screen beats hooks and the title because it is what the
//!    human will see; gemini's title says "Ready" over its trust dialog.
//! 3. **A pending `Notification` hook** (one no later hook has superseded) →
//!    `waiting`, with the hook's message as the question. Claude's
//!    `idle_prompt` notification ("waiting for your input") means idle, not
//!    waiting. A notification is superseded by any later hook, or by a working
//!    title/screen signal with output more than the debounce after it (the
//!    human answered and a long tool is running).
//! 4. **A working title or screen rule** (claude's title spinner, "esc to
//!    interrupt") → `working`.
//! 5. **The last turn hook**: `UserPromptSubmit`/`PreToolUse`/`PostToolUse` →
//!    `working` (unless the title says no turn runs, the hook is older than
//!    the debounce and the screen is still: a failed turn fires no `Stop`);
//!    `Stop` (or `SessionStart`) → `idle`, unless the screen changed more than
//!    the debounce (1 s) after it: a Stop followed by more output is still
//!    `working`.
//! 6. **An idle screen rule** (the tool's empty input box; for custom tools a
//!    shell-like prompt `$ `, `# `, `> ` ending the screen) → `idle`, once the
//!    screen has been quiet for the rule's quiet time (1 s; 2 s for the generic
//!    prompt rule).
//! 7. **Within the startup grace** (8 s) with nothing recognised → `starting`.
//! 8. **Recent output** (within 1.5 s) → `working`.
//! 9. Otherwise `unknown`, saying how long the screen has been quiet.
//!
//! Silence alone never makes `idle`: a prompt the rules do not know looks
//! exactly like a finished turn, and calling a blocked session done is the
//! failure users complain about. `unknown` makes them look. Custom tools get
//! `idle` only from the generic prompt rule.
//!
//! # Screen rules
//!
//! Rules are data: one TOML file per tool (`rules/{claude,codex,gemini,generic}.toml`,
//! embedded), each rule keyed by a tool-version range. See [`Rules`] and
//! `docs/session-state.md`.

mod hooks;
mod judge;
mod rules;
mod state;
mod tracker;

pub use hooks::{
    HookEvent, HookKind, MAX_EVENTS, MAX_LINE, claude_settings_json, codex_notify_config,
    gemini_settings_json, gemini_settings_json_in, parse_hook_relay,
};
pub use judge::judge;
pub use rules::{RuleError, Rules, Timing};
pub use state::{Observation, State, Verdict};
pub use tracker::Tracker;
