//! Tool adapters: for each AI CLI, the interactive launch command, the
//! headless command for one prompt, and a parser that turns the tool's
//! structured output into progress events and an [`Outcome`].

mod aider;
pub mod classify;
mod claude;
mod codex;
mod custom;
mod gemini;
mod opencode;

use serde::{Deserialize, Serialize};
use warren_core::tools::ToolInfo;

pub use aider::Aider;
pub use claude::Claude;
pub use codex::Codex;
pub use custom::Custom;
pub use gemini::Gemini;
pub use opencode::OpenCode;

use crate::error::AgentError;

/// Names accepted by `--tool`.
pub const TOOL_NAMES: &[&str] = &["claude", "codex", "gemini", "aider", "opencode", "custom"];

/// One prompt to run headlessly.
#[derive(Debug, Clone, Default)]
pub struct HeadlessRequest {
    pub prompt: String,
    pub model: Option<String>,
    /// Continue this tool session.
    pub resume: Option<String>,
    /// Start a new session with this id (tools that accept one).
    pub new_session_id: Option<String>,
    /// Skip the tool's permission prompts (only inside an isolated environment).
    pub skip_permissions: bool,
    pub max_turns: Option<u32>,
    /// Instructions appended to the tool's system prompt.
    pub append_system_prompt: Option<String>,
}

/// Options of an interactive launch.
#[derive(Debug, Clone, Default)]
pub struct InteractiveOptions {
    pub model: Option<String>,
    pub resume: Option<String>,
    pub skip_permissions: bool,
    pub append_system_prompt: Option<String>,
}

/// A command line to run, with the env vars the tool needs on top of its
/// inherited environment, and how the prompt reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `argv[0]` is the binary (a name looked up on PATH, or a path).
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub input: PromptInput,
}

impl Invocation {
    /// A command with no input (stdin is `/dev/null`).
    pub fn new(argv: Vec<String>, env: Vec<(String, String)>) -> Invocation {
        Invocation {
            argv,
            env,
            input: PromptInput::None,
        }
    }

    /// `argv` for people (`/debug`, logs): the prompt file's marker shown
    /// as `{{ prompt_file }}`.
    pub fn display_argv(&self) -> Vec<String> {
        self.argv
            .iter()
            .map(|a| a.replace(PROMPT_FILE, "{{ prompt_file }}"))
            .collect()
    }
}

/// How the prompt reaches the tool. Linux caps one argument at 128 KiB
/// (`MAX_ARG_STRLEN`), so a prompt of any size travels on stdin or in a file;
/// only custom templates with `{{ prompt }}` put it into argv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PromptInput {
    /// Nothing to feed: stdin is `/dev/null`. Tools given their prompt as an
    /// argument must not see an open pipe: codex and opencode wait for its
    /// end before they start, claude waits 3 s.
    #[default]
    None,
    /// Written to the tool's stdin in one go right after it starts, then
    /// stdin is closed (claude gives up waiting for the first byte after
    /// 3 s, gemini after 500 ms).
    Stdin(String),
    /// A file holding the text; [`PROMPT_FILE`] in argv words stands for its
    /// path. On the host it is a private temp file; inside an environment,
    /// where a host file is out of reach, it is `/dev/stdin` fed like
    /// [`PromptInput::Stdin`].
    File(String),
}

/// Stands for the prompt file's path in argv words until the launcher knows
/// it. A real argument can hold no NUL (nor can a prompt: the API refuses
/// one), so the marker never collides with text.
pub const PROMPT_FILE: &str = "\0warren:prompt_file\0";

/// The longest argument warren puts on a command line. Linux refuses a
/// single argument over 128 KiB (`MAX_ARG_STRLEN`) with "Argument list too
/// long"; this leaves room for the rest.
pub const MAX_ARG_BYTES: usize = 100 * 1024;

/// Fails when an argument of `argv` is longer than [`MAX_ARG_BYTES`];
/// `what` names where the long text came from, `hint` how to avoid it.
pub(crate) fn check_arg_lengths(argv: &[String], what: &str, hint: &str) -> Result<(), AgentError> {
    match argv.iter().map(String::len).max() {
        Some(len) if len > MAX_ARG_BYTES => Err(AgentError::ArgumentTooLong {
            what: what.to_string(),
            len,
            limit: MAX_ARG_BYTES,
            hint: hint.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Token counts reported by a tool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
}

/// How a failure should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Transient (network, overload): retried with exponential backoff.
    Retryable,
    /// Usage limit or HTTP 429: not retried; the reset time is reported when known.
    RateLimit,
    /// Everything else (not logged in, bad flags, crash).
    Fatal,
}

/// A classified tool failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolFailure {
    pub class: ErrorClass,
    /// Short machine-readable cause: `not_logged_in`, `usage_error`,
    /// `resume_failed`, `crashed`, `api_error`, `network`, `rate_limited`, `no_result`.
    pub reason: String,
    pub message: String,
    /// When a rate limit resets, as the tool said it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets: Option<String>,
}

impl ToolFailure {
    /// `retryable`, `rate_limit` or `fatal`.
    pub fn class_name(&self) -> &'static str {
        match self.class {
            ErrorClass::Retryable => "retryable",
            ErrorClass::RateLimit => "rate_limit",
            ErrorClass::Fatal => "fatal",
        }
    }
}

/// What a finished tool run produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The answer (final message).
    pub result: Option<String>,
    pub session_id: Option<String>,
    pub usage: Option<Usage>,
    pub cost_usd: Option<f64>,
    pub num_turns: Option<u32>,
    /// `None` when the tool succeeded.
    pub failure: Option<ToolFailure>,
}

/// One progress event as the tool prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// `init`, `text`, `tool`, `tool_result`, `error`, `status`, `retry` (the
    /// tool retries a failed API call by itself).
    pub kind: String,
    pub text: String,
}

impl Progress {
    pub fn new(kind: &str, text: impl Into<String>) -> Progress {
        Progress {
            kind: kind.to_string(),
            text: text.into(),
        }
    }
}

/// How the tool process ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Incremental parser of one tool run's output.
pub trait OutputParser: Send {
    /// Feeds one stdout line; returns the progress it carries.
    fn stdout_line(&mut self, line: &str) -> Vec<Progress>;
    /// Feeds one stderr line.
    fn stderr_line(&mut self, _line: &str) -> Vec<Progress> {
        Vec::new()
    }
    /// The session id seen so far.
    fn session_id(&self) -> Option<String>;
    /// The result once the process has exited; `stdout`/`stderr` are the full texts.
    fn finish(&mut self, exit: ExitInfo, stdout: &str, stderr: &str) -> Outcome;
}

/// An adapter for one AI CLI.
pub trait Adapter: Send + Sync + std::fmt::Debug {
    /// `claude`, `codex`, …
    fn name(&self) -> &str;
    /// Static facts (config dirs, credential env vars) for built-in tools.
    fn info(&self) -> Option<&'static ToolInfo> {
        warren_core::tools::tool(self.name())
    }
    /// Command line of an interactive session.
    fn interactive(&self, bin: &str, opts: &InteractiveOptions) -> Invocation;
    /// Command line that runs one prompt and exits.
    fn headless(&self, bin: &str, req: &HeadlessRequest) -> Result<Invocation, AgentError>;
    /// Whether a new session can be given its id up front (`--session-id`).
    fn assigns_session_id(&self) -> bool {
        false
    }
    /// The readiness probe: a command that succeeds once the tool can run
    /// (`<bin> --version` for the built-in tools).
    fn probe(&self, bin: &str) -> Vec<String> {
        vec![bin.to_string(), "--version".into()]
    }
    /// A parser for one run's output.
    fn parser(&self) -> Box<dyn OutputParser>;
}

/// The adapter for a tool name; `custom` needs a command template.
pub fn adapter(name: &str, template: Option<&str>) -> Result<Box<dyn Adapter>, AgentError> {
    Ok(match name {
        "claude" => Box::new(Claude),
        "codex" => Box::new(Codex),
        "gemini" => Box::new(Gemini),
        "aider" => Box::new(Aider),
        "opencode" => Box::new(OpenCode),
        "custom" => {
            let t = template.ok_or(AgentError::MissingTemplate)?;
            Box::new(Custom::new(t)?)
        }
        other => {
            return Err(AgentError::UnknownTool {
                name: other.to_string(),
            });
        }
    })
}

/// The tool's own binary name (looked up on PATH where it runs); the
/// configured one comes from `warren_config::Settings::tool_bin`.
pub fn default_binary(tool: &str) -> String {
    warren_core::tools::tool(tool)
        .map(|i| i.binary.to_string())
        .unwrap_or_else(|| tool.to_string())
}

/// `argv` with `args` appended.
pub(crate) fn argv(bin: &str, args: &[&str]) -> Vec<String> {
    std::iter::once(bin.to_string())
        .chain(args.iter().map(|s| s.to_string()))
        .collect()
}

/// Pushes `flag value` when `value` is set.
pub(crate) fn push_opt(argv: &mut Vec<String>, flag: &str, value: Option<&str>) {
    if let Some(v) = value {
        argv.push(flag.to_string());
        argv.push(v.to_string());
    }
}

/// The prompt, preceded by the appended instructions for tools that have
/// no flag for them.
pub(crate) fn prompt_with_instructions(r: &HeadlessRequest) -> String {
    match &r.append_system_prompt {
        Some(extra) if !extra.is_empty() => format!("{extra}\n\n{}", r.prompt),
        _ => r.prompt.clone(),
    }
}

/// The last few non-empty lines of a text (for error messages).
pub(crate) fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A failure judged from the exit status and stderr when a tool printed
/// no structured result.
pub(crate) fn failure_from_exit(exit: ExitInfo, stdout: &str, stderr: &str) -> ToolFailure {
    if let Some(sig) = exit.signal {
        return ToolFailure {
            class: ErrorClass::Fatal,
            reason: "crashed".into(),
            message: format!(
                "the tool was killed by signal {sig}{}",
                suffix(&tail_lines(stderr, 3))
            ),
            resets: None,
        };
    }
    let text = if stderr.trim().is_empty() {
        tail_lines(stdout, 5)
    } else {
        tail_lines(stderr, 5)
    };
    let mut f = classify::classify(&text);
    if f.reason == "api_error" && classify::is_usage_error(&text) {
        f.reason = "usage_error".into();
    }
    if f.message.is_empty() {
        f.message = format!(
            "the tool exited with code {} and printed no result",
            exit.code.unwrap_or(-1)
        );
        f.reason = "no_result".into();
    }
    f
}

fn suffix(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Runs a parser over a recorded output.
    pub fn parse(
        adapter: &dyn Adapter,
        stdout: &str,
        stderr: &str,
        code: i32,
    ) -> (Vec<Progress>, Outcome) {
        let mut p = adapter.parser();
        let mut events = Vec::new();
        for l in stdout.lines() {
            events.extend(p.stdout_line(l));
        }
        for l in stderr.lines() {
            events.extend(p.stderr_line(l));
        }
        let exit = ExitInfo {
            code: Some(code),
            signal: None,
        };
        (events, p.finish(exit, stdout, stderr))
    }

    pub fn fixture(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read_to_string(&p).unwrap()
    }

    pub fn fixture_exit(name: &str) -> i32 {
        fixture(&format!("{name}.exit")).trim().parse().unwrap()
    }
}
