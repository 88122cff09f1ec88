//! The API and sign-in hosts each AI tool needs, allowed by default for an
//! environment that runs it. Telemetry, crash reporting and update checks
//! are left out on purpose: the tools run without them, and a user who
//! wants them adds them to the allow-list.

/// The hosts `tool` needs to work (`claude`, `codex`, `gemini`, `aider`,
/// `opencode`); empty for a tool warren does not know.
///
/// - claude: the API; `claude.ai`, `console.anthropic.com` and
///   `platform.claude.com` for signing in with an account and refreshing
///   its token (left out: `statsig.anthropic.com`, `sentry.io`).
/// - codex: the API; `auth.openai.com` for ChatGPT sign-in and token
///   refresh; `chatgpt.com` where a ChatGPT plan's requests go.
/// - gemini: the Gemini API (API key); `cloudcode-pa.googleapis.com` (Code
///   Assist, used with a Google sign-in), `oauth2.googleapis.com` (token
///   refresh), `accounts.google.com` (sign-in), `www.googleapis.com` (the
///   account's user info).
/// - aider: the providers it is most used with (through litellm):
///   Anthropic, OpenAI, OpenRouter.
/// - opencode: Anthropic (API and account sign-in), OpenAI, `models.dev`
///   (the model catalogue it loads at start) and `opencode.ai` (its own
///   model gateway and sign-in).
pub fn tool_hosts(tool: &str) -> &'static [&'static str] {
    match tool {
        "claude" => &[
            "api.anthropic.com",
            "claude.ai",
            "console.anthropic.com",
            "platform.claude.com",
        ],
        "codex" => &["api.openai.com", "auth.openai.com", "chatgpt.com"],
        "gemini" => &[
            "generativelanguage.googleapis.com",
            "cloudcode-pa.googleapis.com",
            "oauth2.googleapis.com",
            "accounts.google.com",
            "www.googleapis.com",
        ],
        "aider" => &["api.anthropic.com", "api.openai.com", "openrouter.ai"],
        "opencode" => &[
            "api.anthropic.com",
            "console.anthropic.com",
            "api.openai.com",
            "models.dev",
            "opencode.ai",
        ],
        _ => &[],
    }
}
