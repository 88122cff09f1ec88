//! Where the proxy listens and when it gives up: the few knobs it has, read
//! from `WARREN_PROXY_*` variables until the global config feeds them.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use warren_core::vars;

use crate::error::ProxyError;

/// How the proxy listens and how long it stays up without routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// TCP port (`0` = any free port; the lock file records the real one).
    pub port: u16,
    /// Address to bind; loopback unless the user asks otherwise.
    pub bind: IpAddr,
    /// How long the proxy keeps running with no routes before it exits.
    /// `Duration::ZERO` means never.
    pub idle: Duration,
    /// Whether [`crate::ensure_running`] may start a proxy (`WARREN_PROXY_AUTOSTART=0`
    /// turns it off for people who run `warren proxy serve` themselves).
    pub autostart: bool,
}

impl ProxySettings {
    /// `proxy.port` default.
    pub const DEFAULT_PORT: u16 = 8080;
    /// Idle grace period default.
    pub const DEFAULT_IDLE: Duration = Duration::from_secs(300);

    /// Defaults overridden by `WARREN_PROXY_PORT`, `WARREN_PROXY_BIND`,
    /// `WARREN_PROXY_IDLE_SECONDS` and `WARREN_PROXY_AUTOSTART` from this
    /// process's environment.
    pub fn from_env() -> Result<ProxySettings, ProxyError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`ProxySettings::from_env`], reading variables through `get`
    /// (config layers and tests pass their own lookups).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<ProxySettings, ProxyError> {
        let mut s = ProxySettings::default();
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = var(vars::WARREN_PROXY_PORT) {
            s.port = v.parse().map_err(|_| {
                bad(
                    vars::WARREN_PROXY_PORT,
                    &v,
                    "expected a port number 0-65535",
                )
            })?;
        }
        if let Some(v) = var(vars::WARREN_PROXY_BIND) {
            s.bind = v.parse().map_err(|_| {
                bad(
                    vars::WARREN_PROXY_BIND,
                    &v,
                    "expected an IP address such as 127.0.0.1",
                )
            })?;
        }
        if let Some(v) = var(vars::WARREN_PROXY_IDLE_SECONDS) {
            let secs: f64 = v
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| {
                    bad(
                        vars::WARREN_PROXY_IDLE_SECONDS,
                        &v,
                        "expected a number of seconds (0 = never exit)",
                    )
                })?;
            s.idle = Duration::from_secs_f64(secs);
        }
        if let Some(v) = var(vars::WARREN_PROXY_AUTOSTART) {
            s.autostart = match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => return Err(bad(vars::WARREN_PROXY_AUTOSTART, &v, "expected 1 or 0")),
            };
        }
        Ok(s)
    }

    /// The variables that make a child `warren proxy serve` use these
    /// settings (autostart concerns the caller, not the proxy).
    pub fn to_env(&self) -> [(&'static str, String); 3] {
        [
            (vars::WARREN_PROXY_PORT, self.port.to_string()),
            (vars::WARREN_PROXY_BIND, self.bind.to_string()),
            (
                vars::WARREN_PROXY_IDLE_SECONDS,
                self.idle.as_secs_f64().to_string(),
            ),
        ]
    }
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            port: Self::DEFAULT_PORT,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            idle: Self::DEFAULT_IDLE,
            autostart: true,
        }
    }
}

fn bad(var: &'static str, value: &str, expected: &str) -> ProxyError {
    ProxyError::BadSetting {
        var,
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let s = ProxySettings::from_lookup(|_| None).unwrap();
        assert_eq!(s, ProxySettings::default());
        let s = ProxySettings::from_lookup(|k| match k {
            "WARREN_PROXY_PORT" => Some("0".into()),
            "WARREN_PROXY_BIND" => Some("::1".into()),
            "WARREN_PROXY_IDLE_SECONDS" => Some("1.5".into()),
            "WARREN_PROXY_AUTOSTART" => Some("0".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.port, 0);
        assert_eq!(s.bind.to_string(), "::1");
        assert_eq!(s.idle, Duration::from_millis(1500));
        assert!(!s.autostart);
        let back = ProxySettings::from_lookup(|k| {
            s.to_env()
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
        })
        .unwrap();
        assert_eq!(
            back,
            ProxySettings {
                autostart: true,
                ..s
            }
        );
        let err = ProxySettings::from_lookup(|k| (k == "WARREN_PROXY_PORT").then(|| "http".into()))
            .unwrap_err();
        assert!(err.to_string().contains("WARREN_PROXY_PORT"), "{err}");
    }
}
