//! warren's egress proxy: the only way out of an `isolated` environment.
//!
//! Every environment gets a network namespace with only its loopback. warren
//! opens a TCP listener *inside* that namespace (127.0.0.1:3128, named in the
//! environment's `HTTP_PROXY`/`HTTPS_PROXY`) and hands it to [`serve`], which
//! runs in the host's namespace: connections are accepted from the
//! environment and made to the outside world from the host. This crate knows
//! nothing about namespaces; one call to [`serve`] is one environment's proxy.
//!
//! What it does with each request:
//!
//! - **Allow-list.** `CONNECT host:port` and absolute-form plain-HTTP requests
//!   (`GET http://host/path`) are checked against the environment's
//!   [`Mode`]; a refused host gets `403` with a body that names the domain
//!   and the config line that would allow it.
//! - **DNS by the proxy, then a public-address check.** The environment has
//!   no resolver of its own; the proxy resolves the name, refuses every
//!   address that is not public (loopback, RFC 1918, CGNAT, link-local and
//!   cloud metadata, multicast, IPv6 ULA/link-local, and IPv4-mapped or
//!   embedded forms of those) and connects to the address it vetted, never
//!   re-resolving, so a DNS-rebinding answer cannot redirect it inward.
//! - **Tunnels for everything allowed, interception only for grants.** An
//!   allowed host's `CONNECT` becomes a plain byte tunnel; warren never sees
//!   inside. For a *granted* host the proxy terminates TLS with a leaf
//!   certificate from warren's local [`Ca`] (which the environment trusts),
//!   swaps the placeholder the environment holds for the real credential,
//!   and forwards over a verified TLS connection. The environment never holds
//!   the secret, and the secret never reaches any other host.
//! - **A log line per tunnel or request** through [`NetLog`], without the
//!   secret.

mod body;
mod ca;
mod error;
mod grant;
mod headers;
mod intercept;
mod net;
mod policy;
mod server;
mod tools;
mod upstream;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

pub use ca::{CERT_FILE, Ca, KEY_FILE};
pub use error::{CaError, ConfigError};
pub use grant::{GrantRule, GrantTemplate, SecretFile, ValueFormat, builtin_grant, builtin_grants};
pub use rustls::pki_types::CertificateDer;
pub use server::serve;
pub use tools::tool_hosts;

/// One environment's egress policy, handed to [`serve`].
#[derive(Clone)]
pub struct EgressConfig {
    /// The environment's name, for refusal messages.
    pub env_name: String,
    /// Which hosts may be reached.
    pub mode: Mode,
    /// Credentials the proxy adds for named hosts. A granted host is allowed
    /// in every mode: a grant for a host the environment cannot reach would
    /// be useless.
    pub grants: Vec<Grant>,
    /// Test-only DNS overrides: a host maps to this address *and port*
    /// whatever port was asked for. Overridden hosts skip the public-address
    /// check (and only they do), so tests can point a name at a local server.
    pub overrides: HashMap<String, SocketAddr>,
    /// Extra roots trusted for upstream TLS of granted hosts, on top of
    /// Mozilla's (webpki-roots).
    pub upstream_roots: Vec<CertificateDer<'static>>,
    /// Where a user adds a domain, shown in refusals. `{host}` is replaced by
    /// the refused host; without it, a `...` is replaced by the quoted host;
    /// without either the host is appended. E.g.
    /// `.warren.yaml: egress: {allow: [...]}`.
    pub config_hint: String,
}

impl EgressConfig {
    /// A configuration for `env_name` with no grants or overrides and the
    /// standard hint pointing at `.warren.yaml`.
    pub fn new(env_name: impl Into<String>, mode: Mode) -> EgressConfig {
        EgressConfig {
            env_name: env_name.into(),
            mode,
            grants: Vec::new(),
            overrides: HashMap::new(),
            upstream_roots: Vec::new(),
            config_hint: DEFAULT_CONFIG_HINT.to_string(),
        }
    }

    /// Checks patterns, grant headers and roots; [`serve`] does the same
    /// and fails with `InvalidInput`, this gives the typed error earlier.
    pub fn validate(&self) -> Result<(), ConfigError> {
        policy::Policy::new(self).map(|_| ())
    }
}

/// The hint used by [`EgressConfig::new`].
pub const DEFAULT_CONFIG_HINT: &str = ".warren.yaml: egress: {allow: [...]}";

impl fmt::Debug for EgressConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EgressConfig")
            .field("env_name", &self.env_name)
            .field("mode", &self.mode)
            .field("grants", &self.grants)
            .field("overrides", &self.overrides)
            .field("upstream_roots", &self.upstream_roots.len())
            .field("config_hint", &self.config_hint)
            .finish()
    }
}

/// Which hosts an environment may reach (always only at public addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Only these. `api.anthropic.com` and `npmjs.org` match exactly (any
    /// case, a trailing dot ignored); `*.npmjs.org` matches every subdomain
    /// at any depth but not `npmjs.org` itself. An IP address is allowed
    /// only when listed literally (`140.82.112.3`, `2606:4700::6810:84e5`). Any port
    /// of an allowed host may be reached: the allow-list is about who the
    /// environment talks to; git over `ssh.github.com:443`, registries on
    /// 8443 and the like need no second list.
    Allow(Vec<String>),
    /// Any host with a public address.
    Open,
}

/// A credential the proxy adds for some hosts, so the environment only ever
/// holds `placeholder`. Its `Debug` hides `value` and `secret`.
#[derive(Clone)]
pub struct Grant {
    /// Shown in logs (`anthropic`, `github`).
    pub name: String,
    /// Hosts it applies to, in the allow-list's syntax.
    pub hosts: Vec<String>,
    /// The header that carries the credential (`x-api-key`, `authorization`).
    pub header: String,
    /// The whole header value, set when a request lacks `header`
    /// (`Bearer sk-…`).
    pub value: String,
    /// The bare credential (`sk-…`) that replaces `placeholder` in the
    /// credential headers the environment sends, also inside `Basic`
    /// credentials (`x-access-token:PLACEHOLDER`).
    pub secret: String,
    /// What the environment holds instead of `secret`.
    pub placeholder: String,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("name", &self.name)
            .field("hosts", &self.hosts)
            .field("header", &self.header)
            .field("value", &warren_core::redact::REDACTED)
            .field("secret", &warren_core::redact::REDACTED)
            .field("placeholder", &self.placeholder)
            .finish()
    }
}

/// One tunnel or one request, as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetLogEntry {
    /// When it started.
    pub time: SystemTime,
    /// `CONNECT` for a tunnel, else the request's method.
    pub method: String,
    pub host: String,
    pub port: u16,
    /// The path without the query string (queries often carry tokens); only
    /// for intercepted (granted) and plain-HTTP requests: a tunnel's
    /// contents are not seen.
    pub path: Option<String>,
    /// 200 for a tunnel that opened, 403 refused, 502 upstream failure (DNS,
    /// connect, TLS), 400 a malformed request or a TLS handshake the
    /// environment gave up on, else the upstream's status.
    pub status: u16,
    /// Bytes from the environment (tunnel: raw bytes; request: body).
    pub bytes_up: u64,
    /// Bytes to the environment (tunnel: raw bytes; request: body).
    pub bytes_down: u64,
    pub allowed: bool,
    /// Why it was refused or failed.
    pub reason: Option<String>,
    /// The grant applied, for intercepted requests.
    pub grant: Option<String>,
}

/// Where the proxy reports each tunnel and request. Called from the proxy's
/// tasks: keep it quick (queue, don't write synchronously to a slow disk).
pub trait NetLog: Send + Sync {
    fn record(&self, entry: NetLogEntry);
}
