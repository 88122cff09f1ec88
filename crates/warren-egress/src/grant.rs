//! Built-in grants: which hosts, which header, how the value is spelled, and
//! where the secret comes from. warren reads the secret on the host and
//! gives the environment only the placeholder.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::Grant;

/// How a grant's header value is made from the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// The secret itself (`x-api-key: sk-…`).
    Plain,
    /// `Bearer <secret>`.
    Bearer,
    /// `Basic base64(x-access-token:<secret>)`: what git sends to GitHub
    /// over HTTPS with a token as the password.
    BasicAccessToken,
}

impl ValueFormat {
    /// The header value for `secret`.
    pub fn value(self, secret: &str) -> String {
        match self {
            ValueFormat::Plain => secret.to_string(),
            ValueFormat::Bearer => format!("Bearer {secret}"),
            ValueFormat::BasicAccessToken => {
                format!("Basic {}", B64.encode(format!("x-access-token:{secret}")))
            }
        }
    }
}

/// Hosts that get one header spelled one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantRule {
    pub hosts: &'static [&'static str],
    pub header: &'static str,
    pub format: ValueFormat,
}

/// A file on the host that may hold the secret when no variable does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretFile {
    /// Relative to the user's home directory.
    pub path: &'static str,
    /// The key whose value is the secret (JSON field or YAML key).
    pub key: &'static str,
}

/// A built-in grant: what [`builtin_grant`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantTemplate {
    pub name: &'static str,
    /// One rule per spelling; most grants have one.
    pub rules: &'static [GrantRule],
    /// Variables on the host that supply the secret; the first one set
    /// wins.
    pub secret_env: &'static [&'static str],
    /// Where the secret may be found otherwise.
    pub secret_file: Option<SecretFile>,
    /// Variables the environment gets the placeholder in, so its tools
    /// think they have a credential and send it.
    pub placeholder_env: &'static [&'static str],
}

impl GrantTemplate {
    /// The placeholder warren gives the environment for this grant: fixed
    /// (it is not a secret) and long enough never to occur by chance.
    pub fn placeholder(&self) -> String {
        format!("warren-grant-{}-placeholder", self.name)
    }

    /// The grants for `secret`, one per rule, all named after the template.
    pub fn grants(&self, secret: &str, placeholder: &str) -> Vec<Grant> {
        self.rules
            .iter()
            .map(|rule| Grant {
                name: self.name.to_string(),
                hosts: rule.hosts.iter().map(|h| h.to_string()).collect(),
                header: rule.header.to_string(),
                value: rule.format.value(secret),
                secret: secret.to_string(),
                placeholder: placeholder.to_string(),
            })
            .collect()
    }
}

const BUILTIN: &[GrantTemplate] = &[
    GrantTemplate {
        name: "anthropic",
        rules: &[GrantRule {
            hosts: &["api.anthropic.com"],
            header: "x-api-key",
            format: ValueFormat::Plain,
        }],
        secret_env: &["ANTHROPIC_API_KEY"],
        secret_file: None,
        placeholder_env: &["ANTHROPIC_API_KEY"],
    },
    GrantTemplate {
        name: "openai",
        rules: &[GrantRule {
            hosts: &["api.openai.com"],
            header: "authorization",
            format: ValueFormat::Bearer,
        }],
        secret_env: &["OPENAI_API_KEY", "CODEX_API_KEY"],
        // Codex CLI keeps an API key there after `codex login --api-key`.
        secret_file: Some(SecretFile {
            path: ".codex/auth.json",
            key: "OPENAI_API_KEY",
        }),
        placeholder_env: &["OPENAI_API_KEY"],
    },
    GrantTemplate {
        name: "github",
        rules: &[
            // git over HTTPS sends the token as a Basic password.
            GrantRule {
                hosts: &["github.com", "codeload.github.com"],
                header: "authorization",
                format: ValueFormat::BasicAccessToken,
            },
            // The REST and GraphQL API (gh, octokit) take a Bearer token.
            GrantRule {
                hosts: &["api.github.com"],
                header: "authorization",
                format: ValueFormat::Bearer,
            },
        ],
        secret_env: &["GH_TOKEN", "GITHUB_TOKEN"],
        // gh's token, when it is not kept in the system keyring.
        secret_file: Some(SecretFile {
            path: ".config/gh/hosts.yml",
            key: "oauth_token",
        }),
        placeholder_env: &["GH_TOKEN", "GITHUB_TOKEN"],
    },
    GrantTemplate {
        name: "gemini",
        rules: &[GrantRule {
            hosts: &["generativelanguage.googleapis.com"],
            header: "x-goog-api-key",
            format: ValueFormat::Plain,
        }],
        secret_env: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        secret_file: None,
        placeholder_env: &["GEMINI_API_KEY"],
    },
];

/// The built-in grant called `name`: `anthropic`, `openai`, `github` or
/// `gemini`.
pub fn builtin_grant(name: &str) -> Option<GrantTemplate> {
    BUILTIN.iter().find(|t| t.name == name).copied()
}

/// Every built-in grant.
pub fn builtin_grants() -> &'static [GrantTemplate] {
    BUILTIN
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_configuration_knows_exactly_these_names() {
        let names: Vec<&str> = builtin_grants().iter().map(|t| t.name).collect();
        let mut config = warren_core::network::BUILTIN_GRANTS.to_vec();
        let mut ours = names.clone();
        config.sort_unstable();
        ours.sort_unstable();
        assert_eq!(ours, config);
        for t in builtin_grants() {
            assert_eq!(t.placeholder(), warren_core::network::placeholder(t.name));
        }
    }

    #[test]
    fn github_grant_speaks_basic_to_git_and_bearer_to_the_api() {
        let t = builtin_grant("github").unwrap();
        let grants = t.grants("ghp_secret123", &t.placeholder());
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[0].hosts, ["github.com", "codeload.github.com"]);
        assert_eq!(
            grants[0].value,
            format!("Basic {}", B64.encode("x-access-token:ghp_secret123"))
        );
        assert_eq!(grants[1].value, "Bearer ghp_secret123");
        assert!(builtin_grant("nope").is_none());
        for t in builtin_grants() {
            let config = crate::EgressConfig {
                grants: t.grants("secret-value-123", &t.placeholder()),
                ..crate::EgressConfig::new("e", crate::Mode::Open)
            };
            config.validate().unwrap();
        }
    }
}
