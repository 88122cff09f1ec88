//! Errors of the crate's fallible setup steps. Per-request failures are not
//! errors to callers: they become `403`/`502` answers and log entries.

use std::path::PathBuf;

/// Why warren's local CA could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot create the CA directory `{}`", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the CA key `{}` can be read by other users (mode {mode:o}); run `chmod 600 {}` if it was never exposed, else delete it and the certificate to make a new CA",
        path.display(),
        path.display()
    )]
    KeyTooOpen { path: PathBuf, mode: u32 },
    #[error("`{}` is not a usable CA key", path.display())]
    BadKey {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
    #[error("cannot make the certificate for {what}")]
    Generate {
        what: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("cannot use the certificate for {what}")]
    Tls {
        what: String,
        #[source]
        source: rustls::Error,
    },
}

/// An [`EgressConfig`](crate::EgressConfig) that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "`{pattern}` is not a host pattern: use a host name (`api.example.com`), `*.example.com` for its subdomains, or an IP address"
    )]
    Pattern { pattern: String },
    #[error("grant `{grant}`: `{header}` is not a valid header name")]
    GrantHeader { grant: String, header: String },
    #[error("grant `{grant}`: its value is not a valid header value")]
    GrantValue { grant: String },
    #[error(
        "grant `{grant}`: the placeholder must be at least 8 characters and differ from the secret"
    )]
    GrantPlaceholder { grant: String },
    #[error("grant `{grant}`: it names no hosts")]
    GrantHosts { grant: String },
    #[error("an upstream root certificate cannot be used")]
    Root(#[source] rustls::Error),
}
