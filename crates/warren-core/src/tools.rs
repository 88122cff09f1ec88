//! What warren knows about each AI tool without running it: binary name,
//! config paths to mount, and credential env vars to pass through. The
//! adapters that build command lines and parse output live in `warren-agent`.

/// Static facts about one AI CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolInfo {
    /// Name used in config (`tool: claude`).
    pub name: &'static str,
    /// Executable looked up on PATH.
    pub binary: &'static str,
    /// Paths relative to `$HOME` holding the tool's config and login state;
    /// mounted into environments that use the tool (when they exist).
    pub config_paths: &'static [&'static str],
    /// Environment variables carrying credentials, passed through when set.
    pub credential_env: &'static [&'static str],
}

/// Every built-in tool.
pub const TOOLS: &[ToolInfo] = &[
    ToolInfo {
        name: "claude",
        binary: "claude",
        config_paths: &[".claude", ".claude.json"],
        credential_env: &[
            "ANTHROPIC_API_KEY",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "ANTHROPIC_BASE_URL",
        ],
    },
    ToolInfo {
        name: "codex",
        binary: "codex",
        config_paths: &[".codex"],
        credential_env: &["OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL"],
    },
    ToolInfo {
        name: "gemini",
        binary: "gemini",
        config_paths: &[".gemini"],
        credential_env: &["GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT"],
    },
    ToolInfo {
        name: "aider",
        binary: "aider",
        config_paths: &[".aider.conf.yml"],
        credential_env: &["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"],
    },
    ToolInfo {
        name: "opencode",
        binary: "opencode",
        config_paths: &[".config/opencode", ".local/share/opencode"],
        credential_env: &["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"],
    },
];

/// Looks a tool up by name.
pub fn tool(name: &str) -> Option<&'static ToolInfo> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Names of every built-in tool (for "did you mean" hints).
pub fn tool_names() -> impl Iterator<Item = &'static str> {
    TOOLS.iter().map(|t| t.name)
}

/// Opt-in credential sets: name and paths relative to `$HOME`, all mounted
/// read-only. Env vars listed are passed through when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialInfo {
    pub name: &'static str,
    pub paths: &'static [&'static str],
    pub env: &'static [&'static str],
}

/// `credentials: [git, ssh, gh, gpg, npm, aws]`.
pub const CREDENTIALS: &[CredentialInfo] = &[
    CredentialInfo {
        name: "git",
        paths: &[".gitconfig", ".config/git"],
        env: &[],
    },
    CredentialInfo {
        name: "ssh",
        paths: &[".ssh"],
        env: &[],
    },
    CredentialInfo {
        name: "gh",
        paths: &[".config/gh"],
        env: &["GH_TOKEN", "GITHUB_TOKEN"],
    },
    CredentialInfo {
        name: "gpg",
        paths: &[".gnupg"],
        env: &[],
    },
    CredentialInfo {
        name: "npm",
        paths: &[".npmrc"],
        env: &["NPM_TOKEN"],
    },
    CredentialInfo {
        name: "aws",
        paths: &[".aws"],
        env: &[
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_REGION",
        ],
    },
];

/// Looks a credential set up by name.
pub fn credential(name: &str) -> Option<&'static CredentialInfo> {
    CREDENTIALS.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(
            tool("claude").unwrap().config_paths,
            &[".claude", ".claude.json"]
        );
        assert!(tool("nope").is_none());
        assert_eq!(credential("ssh").unwrap().paths, &[".ssh"]);
        assert_eq!(CREDENTIALS.len(), 6);
    }
}
