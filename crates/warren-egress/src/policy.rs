//! Who may be reached: host names from requests, allow-list patterns, the
//! compiled grants, and resolution to vetted addresses.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use http::{HeaderName, HeaderValue};
use warren_core::redact::Redactor;

use crate::net;
use crate::{ConfigError, EgressConfig, Mode};

/// A host as a request named it, normalised: a lowercase name without a
/// trailing dot, or an IP address (IPv6 without brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    /// Parses the host part of a request's authority. Only the bytes of
    /// names and IP literals pass, so a host can be shown in a refusal or a
    /// log without escaping.
    pub(crate) fn parse(raw: &str) -> Option<Host> {
        let bracketed = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
        if let Some(inner) = bracketed {
            return inner
                .parse::<std::net::Ipv6Addr>()
                .ok()
                .map(|ip| Host::Ip(IpAddr::V6(ip)));
        }
        if let Ok(ip) = raw.parse::<IpAddr>() {
            return Some(Host::Ip(ip));
        }
        let name = raw.strip_suffix('.').unwrap_or(raw);
        if !valid_name(name) {
            return None;
        }
        Some(Host::Name(name.to_ascii_lowercase()))
    }

    /// The name or address as text (for logs, pool keys and SNI).
    pub(crate) fn text(&self) -> String {
        match self {
            Host::Name(n) => n.clone(),
            Host::Ip(ip) => ip.to_string(),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A DNS name: dot-separated labels of letters, digits, `-` and `_` (the
/// latter appears in real service names), at most 253 bytes.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A set of host patterns: exact names, `*.suffix`, and IP addresses.
#[derive(Debug, Default)]
pub(crate) struct HostSet {
    exact: HashSet<String>,
    /// Stored with their leading dot (`.npmjs.org`), so a match is one
    /// `ends_with` and the apex never matches.
    suffixes: Vec<String>,
    ips: Vec<IpAddr>,
}

impl HostSet {
    pub(crate) fn new<'a>(
        patterns: impl IntoIterator<Item = &'a String>,
    ) -> Result<HostSet, ConfigError> {
        let mut set = HostSet::default();
        for p in patterns {
            set.add(p)?;
        }
        Ok(set)
    }

    fn add(&mut self, pattern: &str) -> Result<(), ConfigError> {
        let bad = || ConfigError::Pattern {
            pattern: pattern.to_string(),
        };
        let p = pattern.trim();
        if let Some(rest) = p.strip_prefix("*.") {
            let rest = rest.strip_suffix('.').unwrap_or(rest);
            if !valid_name(rest) || rest.parse::<IpAddr>().is_ok() {
                return Err(bad());
            }
            self.suffixes
                .push(format!(".{}", rest.to_ascii_lowercase()));
            return Ok(());
        }
        match Host::parse(p).ok_or_else(bad)? {
            Host::Ip(ip) => self.ips.push(ip.to_canonical()),
            Host::Name(n) => {
                self.exact.insert(n);
            }
        }
        Ok(())
    }

    pub(crate) fn matches(&self, host: &Host) -> bool {
        match host {
            Host::Ip(ip) => self.ips.contains(&ip.to_canonical()),
            Host::Name(n) => {
                self.exact.contains(n) || self.suffixes.iter().any(|s| n.ends_with(s.as_str()))
            }
        }
    }
}

/// A grant ready to apply: header name and value parsed once.
pub(crate) struct CompiledGrant {
    pub(crate) name: String,
    pub(crate) hosts: HostSet,
    pub(crate) header: HeaderName,
    pub(crate) value: HeaderValue,
    pub(crate) secret: String,
    pub(crate) placeholder: String,
}

/// An [`EgressConfig`] compiled for serving.
pub(crate) struct Policy {
    pub(crate) env_name: String,
    open: bool,
    allow: HostSet,
    pub(crate) grants: Vec<CompiledGrant>,
    overrides: HashMap<String, SocketAddr>,
    hint: String,
    /// Knows every grant's secret and value: anything the proxy writes into
    /// a reason or an error page passes through it.
    pub(crate) redactor: Redactor,
}

impl Policy {
    pub(crate) fn new(config: &EgressConfig) -> Result<Policy, ConfigError> {
        let allow = match &config.mode {
            Mode::Allow(patterns) => HostSet::new(patterns)?,
            Mode::Open => HostSet::default(),
        };
        let mut redactor = Redactor::new();
        let mut grants = Vec::with_capacity(config.grants.len());
        for g in &config.grants {
            let name = g.name.clone();
            if g.hosts.is_empty() {
                return Err(ConfigError::GrantHosts { grant: name });
            }
            let header = HeaderName::from_bytes(g.header.trim().as_bytes()).map_err(|_| {
                ConfigError::GrantHeader {
                    grant: name.clone(),
                    header: g.header.clone(),
                }
            })?;
            let mut value =
                HeaderValue::from_str(&g.value).map_err(|_| ConfigError::GrantValue {
                    grant: name.clone(),
                })?;
            // hyper never indexes a sensitive value into HPACK tables and
            // its Debug prints `Sensitive`.
            value.set_sensitive(true);
            if HeaderValue::from_str(&g.secret).is_err() {
                return Err(ConfigError::GrantValue { grant: name });
            }
            // A short placeholder could occur by chance in a real header,
            // and one equal to the secret would make replacement a no-op
            // that hides a configuration mistake.
            if g.placeholder.len() < 8
                || g.placeholder == g.secret
                || HeaderValue::from_str(&g.placeholder).is_err()
            {
                return Err(ConfigError::GrantPlaceholder { grant: name });
            }
            redactor.add(g.secret.clone());
            redactor.add(g.value.clone());
            grants.push(CompiledGrant {
                hosts: HostSet::new(&g.hosts)?,
                name,
                header,
                value,
                secret: g.secret.clone(),
                placeholder: g.placeholder.clone(),
            });
        }
        let overrides = config
            .overrides
            .iter()
            .map(|(h, a)| {
                let host = h.trim().trim_end_matches('.').to_ascii_lowercase();
                (host, *a)
            })
            .collect();
        Ok(Policy {
            env_name: config.env_name.clone(),
            open: matches!(config.mode, Mode::Open),
            allow,
            grants,
            overrides,
            hint: config.config_hint.clone(),
            redactor,
        })
    }

    /// Whether `host` may be reached (before its addresses are vetted).
    pub(crate) fn check(&self, host: &Host) -> Result<(), Refusal> {
        if self.allow.matches(host) || self.granted(host) {
            return Ok(());
        }
        match host {
            // Open means any public *host*; an address is vetted below like
            // any resolved one.
            _ if self.open => Ok(()),
            Host::Ip(_) => Err(Refusal::IpNotListed),
            Host::Name(_) => Err(Refusal::NotAllowed),
        }
    }

    /// Whether a grant covers `host` (and so its CONNECT is intercepted).
    pub(crate) fn granted(&self, host: &Host) -> bool {
        self.grants.iter().any(|g| g.hosts.matches(host))
    }

    /// The addresses to connect to for `host:port`, every one public (or
    /// an override). The caller connects to these and never resolves again.
    pub(crate) async fn resolve(&self, host: &Host, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
        let name = match host {
            Host::Ip(ip) => {
                let ip = ip.to_canonical();
                if let Some(kind) = net::non_public(ip) {
                    return Err(Refusal::NotPublic { addr: ip, kind });
                }
                return Ok(vec![SocketAddr::new(ip, port)]);
            }
            Host::Name(n) => n,
        };
        if let Some(addr) = self.overrides.get(name) {
            return Ok(vec![*addr]);
        }
        let found = tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|e| Refusal::Dns(e.to_string()))?;
        let mut vetted = Vec::new();
        let mut first_refused = None;
        for addr in found {
            // `::ffff:10.0.0.1` is 10.0.0.1: vet and connect to the
            // canonical form.
            let ip = addr.ip().to_canonical();
            match net::non_public(ip) {
                None => {
                    let a = SocketAddr::new(ip, port);
                    if !vetted.contains(&a) {
                        vetted.push(a);
                    }
                }
                Some(kind) => {
                    first_refused.get_or_insert(Refusal::NotPublic { addr: ip, kind });
                }
            }
        }
        // A name with both public and private addresses (split-horizon DNS,
        // or a rebinding attempt) is reached at its public ones only.
        if vetted.is_empty() {
            return Err(first_refused.unwrap_or(Refusal::Dns("no addresses".to_string())));
        }
        Ok(vetted)
    }

    /// The refusal page for `host`: what happened and what to do.
    pub(crate) fn refusal_body(&self, host: &Host, refusal: &Refusal) -> String {
        let env = &self.env_name;
        match refusal {
            Refusal::NotAllowed => format!(
                "warren: egress to {host} is not allowed for environment {env}\nhint: add it to {}\n",
                self.hint_for(host)
            ),
            Refusal::IpNotListed => format!(
                "warren: egress to {host} is not allowed for environment {env}: an IP address is reached only when listed literally\nhint: add it to {}\n",
                self.hint_for(host)
            ),
            Refusal::NotPublic { addr, kind } => {
                let what = match host {
                    Host::Ip(_) => format!("{addr} is a {kind} address"),
                    Host::Name(_) => format!("it resolves to {addr}, a {kind} address"),
                };
                format!(
                    "warren: egress to {host} is not allowed for environment {env}: {what}\nhint: the egress proxy connects only to public addresses; services on this machine or network are not reachable from an isolated environment\n"
                )
            }
            Refusal::Dns(e) => format!(
                "warren: cannot resolve {host}: {}\n",
                self.redactor.redact(e)
            ),
        }
    }

    /// The config hint with `host` filled in.
    fn hint_for(&self, host: &Host) -> String {
        let quoted = format!("\"{host}\"");
        if self.hint.contains("{host}") {
            self.hint.replace("{host}", &host.to_string())
        } else if self.hint.contains("...") {
            self.hint.replacen("...", &quoted, 1)
        } else {
            format!("{} {quoted}", self.hint)
        }
    }
}

/// Why a host is not reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not in the allow-list.
    NotAllowed,
    /// An IP address in `Mode::Allow` that is not listed literally.
    IpNotListed,
    /// Resolves to (or is) an address that is not public.
    NotPublic { addr: IpAddr, kind: &'static str },
    /// Name resolution failed.
    Dns(String),
}

impl Refusal {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Refusal::Dns(_) => 502,
            _ => 403,
        }
    }

    /// Whether the policy allowed the host (a DNS failure is not a refusal).
    pub(crate) fn allowed(&self) -> bool {
        matches!(self, Refusal::Dns(_))
    }

    /// One line for the log.
    pub(crate) fn reason(&self) -> String {
        match self {
            Refusal::NotAllowed => "not in the allow-list".to_string(),
            Refusal::IpNotListed => "IP address not listed literally".to_string(),
            Refusal::NotPublic { addr, kind } => format!("{addr} is not public ({kind})"),
            Refusal::Dns(e) => format!("DNS lookup failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn set(patterns: &[&str]) -> HostSet {
        let owned: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        HostSet::new(&owned).unwrap()
    }

    fn host(s: &str) -> Host {
        Host::parse(s).unwrap()
    }

    #[test]
    fn patterns_match_exactly_or_subdomains_only() {
        let s = set(&[
            "api.anthropic.com",
            "*.npmjs.org",
            "Example.COM.",
            "140.82.112.3",
            "[2606:4700::1]",
        ]);
        assert!(s.matches(&host("api.anthropic.com")));
        assert!(s.matches(&host("API.Anthropic.com.")));
        assert!(!s.matches(&host("x.api.anthropic.com")));
        assert!(s.matches(&host("registry.npmjs.org")));
        assert!(s.matches(&host("a.b.npmjs.org")));
        assert!(!s.matches(&host("npmjs.org")));
        assert!(!s.matches(&host("evilnpmjs.org")));
        assert!(s.matches(&host("example.com")));
        assert!(s.matches(&host("140.82.112.3")));
        assert!(s.matches(&host("[2606:4700::1]")));
        assert!(s.matches(&host("::ffff:140.82.112.3")));
        assert!(!s.matches(&host("140.82.112.4")));
    }

    #[test]
    fn bad_patterns_and_hosts_are_refused() {
        for p in [
            "*",
            "*.",
            "a.*.com",
            "exa mple.com",
            "",
            "*.1.2.3.4",
            "host:443",
            "a..b",
        ] {
            assert!(HostSet::new(&vec![p.to_string()]).is_err(), "{p}");
        }
        for h in ["", "a b", "evil.com@x", "a..b", "x/y", "[::1", "[evil.com]"] {
            assert!(Host::parse(h).is_none(), "{h}");
        }
    }

    #[test]
    fn hints_fill_in_the_host() {
        let mut config = EgressConfig::new("fluffy-otter", Mode::Allow(vec![]));
        let p = Policy::new(&config).unwrap();
        let body = p.refusal_body(&host("registry.example.com"), &Refusal::NotAllowed);
        assert_eq!(
            body,
            "warren: egress to registry.example.com is not allowed for environment fluffy-otter\nhint: add it to .warren.yaml: egress: {allow: [\"registry.example.com\"]}\n"
        );
        config.config_hint = "egress.allow += {host}".to_string();
        let p = Policy::new(&config).unwrap();
        assert!(
            p.refusal_body(&host("a.b"), &Refusal::NotAllowed)
                .contains("hint: add it to egress.allow += a.b\n")
        );
    }
}
