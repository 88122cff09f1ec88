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
    /// Paths relative to `$HOME` where the tool keeps its config and login
    /// state: an environment that uses the tool gets a private, writable
    /// copy of each (never the host's own).
    pub config_paths: &'static [&'static str],
    /// The host files (relative to `$HOME`) copied into that private copy:
    /// settings, instructions and the login, never history, caches or
    /// plugins (an allow-list; nothing is ever copied back).
    pub seed_files: &'static [&'static str],
    /// Environment variables carrying credentials (and the endpoints they
    /// go with), passed through when set.
    pub credential_env: &'static [&'static str],
    /// The variables that are a login by themselves (an API key, a token,
    /// or the switch to a cloud login the tool finds itself).
    pub key_env: &'static [&'static str],
    /// Files under `$HOME` that hold a login (a tool creates its config
    /// directory, and often these very files, on any run: only the listed
    /// contents prove a login).
    pub login_files: &'static [LoginFile],
    /// How to log in, for messages: a command or the variable to set.
    pub login_hint: &'static str,
}

/// A file under `$HOME` that holds a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFile {
    /// Relative to `$HOME`.
    pub path: &'static str,
    /// Texts of which the file must hold one (a JSON key, `NAME=`); empty:
    /// the file existing is enough.
    pub any_of: &'static [&'static str],
}

const fn file(path: &'static str) -> LoginFile {
    LoginFile { path, any_of: &[] }
}

const fn file_with(path: &'static str, any_of: &'static [&'static str]) -> LoginFile {
    LoginFile { path, any_of }
}

/// Every built-in tool. What counts as a login was measured against the
/// real CLIs (claude 2.1, codex 0.171, gemini 0.61, opencode 1.18, aider 0.86).
pub const TOOLS: &[ToolInfo] = &[
    ToolInfo {
        name: "claude",
        binary: "claude",
        config_paths: &[".claude", ".claude.json"],
        seed_files: &[
            ".claude.json",
            ".claude/settings.json",
            ".claude/.credentials.json",
            ".claude/CLAUDE.md",
        ],
        credential_env: &[
            "ANTHROPIC_API_KEY",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "ANTHROPIC_AUTH_TOKEN",
            "AWS_BEARER_TOKEN_BEDROCK",
            "ANTHROPIC_BASE_URL",
        ],
        key_env: &[
            "ANTHROPIC_API_KEY",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "ANTHROPIC_AUTH_TOKEN",
            "AWS_BEARER_TOKEN_BEDROCK",
            "CLAUDE_CODE_USE_BEDROCK",
            "CLAUDE_CODE_USE_VERTEX",
            "CLAUDE_CODE_USE_FOUNDRY",
        ],
        login_files: &[
            file(".claude/.credentials.json"),
            // Created by any run; a login adds one of these keys.
            file_with(".claude.json", &["\"primaryApiKey\"", "\"oauthAccount\""]),
            file_with(
                ".claude/settings.json",
                &[
                    "\"apiKeyHelper\"",
                    "\"ANTHROPIC_API_KEY\"",
                    "\"ANTHROPIC_AUTH_TOKEN\"",
                ],
            ),
        ],
        login_hint: "set ANTHROPIC_API_KEY (or CLAUDE_CODE_OAUTH_TOKEN from `claude setup-token`), or log in with `claude /login`",
    },
    ToolInfo {
        name: "codex",
        binary: "codex",
        config_paths: &[".codex"],
        seed_files: &[".codex/config.toml", ".codex/auth.json", ".codex/AGENTS.md"],
        credential_env: &[
            "CODEX_API_KEY",
            "CODEX_ACCESS_TOKEN",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
        ],
        // `codex exec` sends no key from OPENAI_API_KEY (0.171).
        key_env: &["CODEX_API_KEY", "CODEX_ACCESS_TOKEN"],
        login_files: &[file(".codex/auth.json")],
        login_hint: "set CODEX_API_KEY (`codex exec` ignores OPENAI_API_KEY), or log in with `codex login`",
    },
    ToolInfo {
        name: "gemini",
        binary: "gemini",
        config_paths: &[".gemini"],
        seed_files: &[
            ".gemini/settings.json",
            ".gemini/oauth_creds.json",
            ".gemini/google_accounts.json",
            ".gemini/GEMINI.md",
        ],
        credential_env: &["GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT"],
        // GOOGLE_API_KEY alone is refused (exit 41); it goes with Vertex.
        key_env: &[
            "GEMINI_API_KEY",
            "GOOGLE_GENAI_USE_VERTEXAI",
            "GOOGLE_GENAI_USE_GCA",
            "GEMINI_CLI_USE_COMPUTE_ADC",
        ],
        login_files: &[
            file(".gemini/oauth_creds.json"),
            file(".gemini/gemini-credentials.json"),
            file_with(".gemini/.env", &["GEMINI_API_KEY="]),
            file_with(".env", &["GEMINI_API_KEY="]),
        ],
        login_hint: "set GEMINI_API_KEY, or log in by running `gemini` once",
    },
    ToolInfo {
        name: "aider",
        binary: "aider",
        config_paths: &[".aider.conf.yml", ".aider"],
        seed_files: &[".aider.conf.yml", ".aider/oauth-keys.env"],
        credential_env: &[
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "OPENROUTER_API_KEY",
            "DEEPSEEK_API_KEY",
        ],
        // Without one aider waits 5 minutes for an OpenRouter login in a browser.
        key_env: &[
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "OPENROUTER_API_KEY",
            "DEEPSEEK_API_KEY",
            "VERTEXAI_PROJECT",
            "AIDER_API_KEY",
            "AIDER_OPENAI_API_KEY",
            "AIDER_ANTHROPIC_API_KEY",
        ],
        login_files: &[
            file(".aider/oauth-keys.env"),
            file_with(".env", &["_API_KEY="]),
            file_with(".aider.conf.yml", &["api-key"]),
        ],
        login_hint: "set the API key of your model's provider, e.g. ANTHROPIC_API_KEY or OPENAI_API_KEY",
    },
    ToolInfo {
        name: "opencode",
        binary: "opencode",
        config_paths: &[".config/opencode", ".local/share/opencode"],
        seed_files: &[
            ".config/opencode/opencode.json",
            ".config/opencode/config.json",
            ".local/share/opencode/auth.json",
        ],
        credential_env: &[
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "OPENROUTER_API_KEY",
            "OPENCODE_API_KEY",
        ],
        key_env: &[
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "GOOGLE_GENERATIVE_AI_API_KEY",
            "OPENROUTER_API_KEY",
            "OPENCODE_API_KEY",
        ],
        login_files: &[file(".local/share/opencode/auth.json")],
        login_hint: "set the API key of your model's provider, or log in with `opencode auth login`",
    },
];

/// Looks a tool up by name.
pub fn tool(name: &str) -> Option<&'static ToolInfo> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Where `tool`'s credentials would come from here, by name only (never a
/// value): `env X`, `stored X` (`ROOT/credentials/X`), `~/FILE`. Empty when
/// the tool has none. `is_set` tells whether a variable is set.
pub fn credential_sources(
    tool: &ToolInfo,
    is_set: &dyn Fn(&str) -> bool,
    home: Option<&std::path::Path>,
    root: Option<&std::path::Path>,
) -> Vec<String> {
    let mut found = Vec::new();
    let env: Vec<&str> = tool.key_env.iter().copied().filter(|v| is_set(v)).collect();
    if !env.is_empty() {
        found.push(format!("env {}", env.join(", ")));
    }
    let stored: Vec<&str> = tool
        .key_env
        .iter()
        .copied()
        .filter(|v| root.is_some_and(|r| r.join("credentials").join(v).is_file()))
        .collect();
    if !stored.is_empty() {
        found.push(format!("stored {}", stored.join(", ")));
    }
    for f in tool.login_files {
        if let Some(h) = home
            && holds_login(&h.join(f.path), f.any_of)
        {
            found.push(format!("~/{}", f.path));
        }
    }
    found
}

/// Whether `path` is a file holding one of `any_of` (or just a file, when
/// that is empty).
fn holds_login(path: &std::path::Path, any_of: &[&str]) -> bool {
    if !path.is_file() {
        return false;
    }
    if any_of.is_empty() {
        return true;
    }
    std::fs::read(path).is_ok_and(|bytes| {
        let text = String::from_utf8_lossy(&bytes);
        any_of.iter().any(|needle| text.contains(needle))
    })
}

/// What to do when `tool` has no credentials.
pub fn how_to_log_in(tool: &ToolInfo) -> String {
    format!("none: {}", tool.login_hint)
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

    #[test]
    fn a_config_directory_is_not_a_login() {
        let home = std::env::temp_dir().join(format!("warren-tools-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".gemini/tmp")).unwrap();
        let gemini = tool("gemini").unwrap();
        let none = |_: &str| false;
        assert!(credential_sources(gemini, &none, Some(&home), None).is_empty());
        std::fs::write(home.join(".gemini/oauth_creds.json"), "{}").unwrap();
        assert_eq!(
            credential_sources(gemini, &none, Some(&home), None),
            ["~/.gemini/oauth_creds.json"]
        );
        let key = |v: &str| v == "GEMINI_API_KEY";
        assert_eq!(
            credential_sources(gemini, &key, None, None),
            ["env GEMINI_API_KEY"]
        );
        // Any claude run writes ~/.claude.json; a login adds a key to it.
        let claude = tool("claude").unwrap();
        std::fs::write(
            home.join(".claude.json"),
            r#"{"firstStartTime":"x","userID":"u"}"#,
        )
        .unwrap();
        assert!(credential_sources(claude, &none, Some(&home), None).is_empty());
        std::fs::write(
            home.join(".claude.json"),
            r#"{"userID":"u","primaryApiKey":"sk"}"#,
        )
        .unwrap();
        assert_eq!(
            credential_sources(claude, &none, Some(&home), None),
            ["~/.claude.json"]
        );
        // codex sends no key from OPENAI_API_KEY.
        let codex = tool("codex").unwrap();
        let openai = |v: &str| v == "OPENAI_API_KEY";
        assert!(credential_sources(codex, &openai, None, None).is_empty());
        let root = home.join("root");
        std::fs::create_dir_all(root.join("credentials")).unwrap();
        std::fs::write(root.join("credentials/CODEX_API_KEY"), "sk").unwrap();
        assert_eq!(
            credential_sources(codex, &none, None, Some(&root)),
            ["stored CODEX_API_KEY"]
        );
        let _ = std::fs::remove_dir_all(&home);
    }
}
