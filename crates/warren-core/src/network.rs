//! Network modes of an environment and the built-in credential grants
//! (docs/SECURITY.md, "Network"): data only, shared by the configuration, the
//! runtimes and the egress proxy.

use std::fmt;

/// The port of the egress proxy on an isolated environment's own loopback
/// (`HTTP_PROXY=http://127.0.0.1:3128` inside).
pub const EGRESS_PORT: u16 = 3128;

/// How an environment reaches the network.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Its own network namespace with only loopback; outbound only through warren's
    /// egress proxy, only to allowed domains (the default).
    #[default]
    Isolated,
    /// Like `isolated`, but the proxy lets any public domain through (still logged).
    Open,
    /// Its own network namespace with only loopback and no proxy.
    None,
    /// The host's network: no isolation; only when asked for by name.
    Host,
    /// A Docker Compose environment: its project's own bridge network, shared with
    /// the project's other services (reached by service name) and no other
    /// environment; outbound goes straight through the engine's NAT, without the
    /// egress proxy. Never configured by name: a Compose config implies it.
    Compose,
}

impl NetworkMode {
    /// Every mode, as written in configs and on the command line.
    pub const NAMES: &'static [&'static str] = &["isolated", "open", "none", "host"];

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Isolated => "isolated",
            NetworkMode::Open => "open",
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
            NetworkMode::Compose => "compose",
        }
    }

    /// Parses a mode name.
    pub fn parse(s: &str) -> Option<NetworkMode> {
        Some(match s {
            "isolated" => NetworkMode::Isolated,
            "open" => NetworkMode::Open,
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            _ => return None,
        })
    }

    /// Whether the environment has a network namespace of its own.
    pub fn own_namespace(self) -> bool {
        !matches!(self, NetworkMode::Host | NetworkMode::Compose)
    }

    /// Whether the egress proxy serves the environment.
    pub fn has_egress(self) -> bool {
        matches!(self, NetworkMode::Isolated | NetworkMode::Open)
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The grants warren knows by name. Their hosts, headers and credential sources are
/// the egress proxy's (`warren_egress::builtin_grant`, checked against this list by a
/// test there); the configuration only needs the names.
pub const BUILTIN_GRANTS: &[&str] = &["anthropic", "openai", "gemini", "github"];

/// The placeholder an environment holds instead of grant `name`'s credential: fixed
/// text, so nothing about the secret can be learnt from it.
pub fn placeholder(name: &str) -> String {
    format!("warren-grant-{name}-placeholder")
}

/// Whether `pattern` is a valid egress allow-list entry: a host name, or `*.` and a
/// host name (any subdomain).
pub fn valid_host_pattern(pattern: &str) -> bool {
    let host = pattern.strip_prefix("*.").unwrap_or(pattern);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        for name in NetworkMode::NAMES {
            assert_eq!(NetworkMode::parse(name).map(|m| m.as_str()), Some(*name));
        }
        assert_eq!(NetworkMode::default(), NetworkMode::Isolated);
    }

    #[test]
    fn host_patterns() {
        for ok in [
            "api.anthropic.com",
            "*.npmjs.org",
            "localhost",
            "a_b.example",
        ] {
            assert!(valid_host_pattern(ok), "{ok}");
        }
        for bad in [
            "", "*.", "*", "a..b", "-a.b", "a b", "http://x", "x/y", "**.a",
        ] {
            assert!(!valid_host_pattern(bad), "{bad}");
        }
    }
}

/// What an environment's network daemon is told (`ROOT/net/<name>/net.json`, 0600 in a
/// 0700 dir no environment sees): written by warren when it creates the environment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetConfig {
    /// Environment name.
    pub env: String,
    /// The warren root (its `state.db` gets the network log).
    pub root: std::path::PathBuf,
    pub mode: NetworkMode,
    /// Allowed host patterns (`isolated`), the tools' API hosts included.
    pub allow: Vec<String>,
    /// Credentials the proxy adds.
    pub grants: Vec<GrantConfig>,
    /// Test-only DNS overrides for the proxy (`host` → `ip:port`), from
    /// `WARREN_EGRESS_TEST_RESOLVE`; an overridden host skips the public-address
    /// check. Never set outside tests.
    #[serde(default)]
    pub test_resolve: Vec<(String, String)>,
    /// Test-only extra CA certificates (PEM files) the proxy trusts upstream, from
    /// `WARREN_EGRESS_TEST_UPSTREAM_CA`.
    #[serde(default)]
    pub test_upstream_ca: Vec<std::path::PathBuf>,
}

/// One grant, resolved: the real credential included (so the file is 0600).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GrantConfig {
    pub name: String,
    pub hosts: Vec<String>,
    pub header: String,
    /// The whole header value, set when a request lacks the header.
    pub value: String,
    /// The bare credential, put in place of the placeholder.
    pub secret: String,
    pub placeholder: String,
}

impl fmt::Debug for GrantConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantConfig")
            .field("name", &self.name)
            .field("hosts", &self.hosts)
            .field("header", &self.header)
            .field("secret", &"<redacted>")
            .finish()
    }
}
