//! The global config `ROOT/config.yaml` (ROOT = `WARREN_ROOT` or
//! `~/.warren`) and its `WARREN_*` environment overrides.
//!
//! ```yaml
//! proxy: {port: 8080, bind: 127.0.0.1, idle_seconds: 300, autostart: true}
//! runtime: auto            # auto | docker | podman | sandbox | host
//! port_range: 9000-9100    # inclusive
//! tools:
//!   claude: {bin: /opt/claude/bin/claude, args: [--verbose], env: {FOO: bar}}
//! web: {port: 8090, bind: 127.0.0.1, tls: auto}   # tls: auto | true | false
//! notify: {command: 'notify-send warren "$WARREN_MESSAGE"', bell: true}  # see `notify`
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use warren_core::vars;

use crate::EnvLookup;
use crate::decode::{Decoder, suggestion};
use crate::diagnostic::{ConfigError, Diagnostic, Loaded, Severity, Source};
use crate::files::read_optional;
use crate::node::Node;
use crate::values::{OrderedMap, PortRange, RuntimeChoice};

/// Name of the global config file inside the warren root.
pub const GLOBAL_CONFIG_FILE: &str = "config.yaml";

/// Everything in `config.yaml`, with defaults filled in and environment
/// overrides applied.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GlobalConfig {
    pub proxy: ProxyConfig,
    /// Default runtime (`WARREN_RUNTIME`).
    pub runtime: RuntimeChoice,
    /// Ports for sandbox services and deterministic ports (`WARREN_PORT_RANGE`).
    pub port_range: PortRange,
    /// Per-tool overrides, by built-in tool name (`WARREN_TOOL_<NAME>_BIN`
    /// beats `bin:`).
    pub tools: OrderedMap<ToolOverride>,
    pub web: WebConfig,
    /// Notifications on session state changes (`notify:`).
    pub notify: crate::notify::NotifyConfig,
    /// `host_access:`: host access granted to every project's environments
    /// (added to each project's own `host_access:`).
    pub host_access: crate::host_access::HostAccessOptIn,
    /// The settings above that came from `WARREN_*` variables and beat a
    /// project's `.warren.yaml` too (the file's values only beat defaults).
    #[serde(skip)]
    pub env: EnvOverrides,
}

/// `WARREN_RUNTIME` and `WARREN_PORT_RANGE`, as set: they rank above
/// `.warren.yaml` (see `resolve`), unlike the global file's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnvOverrides {
    pub runtime: Option<RuntimeChoice>,
    pub port_range: Option<PortRange>,
}

/// The hostname proxy: where it listens and when it gives up. What the
/// proxy itself, `warren run`/`start` (which start it) and `warren proxy`
/// all use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyConfig {
    /// Listen port (default 8080; `WARREN_PROXY_PORT`).
    pub port: u16,
    /// Bind address (default 127.0.0.1; `WARREN_PROXY_BIND`).
    pub bind: IpAddr,
    /// How long the proxy runs without routes before it exits; zero means
    /// never (`idle_seconds`, default 300, fractions allowed;
    /// `WARREN_PROXY_IDLE_SECONDS`).
    pub idle: Duration,
    /// Whether environments start the proxy when they register routes
    /// (default true; `WARREN_PROXY_AUTOSTART=0` for people who run `warren
    /// proxy serve` themselves).
    pub autostart: bool,
}

impl ProxyConfig {
    /// The variables that make a child `warren proxy serve` use exactly
    /// these settings (the child reads them through the same parser).
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

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            port: 8080,
            bind: IpAddr::from([127, 0, 0, 1]),
            idle: Duration::from_secs(300),
            autostart: true,
        }
    }
}

/// Overrides for one AI tool.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ToolOverride {
    /// Binary to run instead of the one on PATH.
    pub bin: Option<String>,
    /// Extra arguments added to every invocation.
    pub args: Vec<String>,
    /// Extra environment for the tool.
    pub env: OrderedMap<String>,
}

/// The dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebConfig {
    /// Listen port (default 8090; `WARREN_WEB_PORT`).
    pub port: u16,
    /// Bind address (default 127.0.0.1; `WARREN_WEB_BIND`).
    pub bind: IpAddr,
    pub tls: TlsMode,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            port: 8090,
            bind: IpAddr::from([127, 0, 0, 1]),
            tls: TlsMode::Auto,
        }
    }
}

/// Whether the dashboard serves HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// HTTPS when bound beyond loopback, HTTP on loopback.
    #[default]
    Auto,
    On,
    Off,
}

/// Loads `root/config.yaml` (defaults when it does not exist) and applies the
/// `WARREN_*` overrides read through `env`. All problems are reported at once.
pub fn load_global(root: &Path, env: EnvLookup<'_>) -> Result<Loaded<GlobalConfig>, ConfigError> {
    let path = root.join(GLOBAL_CONFIG_FILE);
    match read_optional(&path).map_err(ConfigError::one)? {
        Some(text) => parse_global(&path, &text, env),
        None => {
            let mut config = GlobalConfig::default();
            let diags = apply_env(&mut config, env);
            finish(config, diags, None)
        }
    }
}

/// Parses global config text (as if read from `path`) and applies `env`.
pub fn parse_global(
    path: &Path,
    text: &str,
    env: EnvLookup<'_>,
) -> Result<Loaded<GlobalConfig>, ConfigError> {
    let src = Source::new(path, text);
    let (mut config, mut diags) = decode_global_source(&src);
    diags.extend(apply_env(&mut config, env));
    finish(config, diags, Some(path.to_path_buf()))
}

fn finish(
    value: GlobalConfig,
    diags: Vec<Diagnostic>,
    path: Option<PathBuf>,
) -> Result<Loaded<GlobalConfig>, ConfigError> {
    if diags.iter().any(Diagnostic::is_error) {
        return Err(ConfigError::new(diags));
    }
    Ok(Loaded {
        value,
        warnings: diags,
        path,
    })
}

/// Decodes the file only (no environment), for `warren validate`.
pub(crate) fn decode_global_source(src: &Source) -> (GlobalConfig, Vec<Diagnostic>) {
    let (node, mut diags) = crate::yaml::parse(src);
    let mut d = Decoder::new(src);
    let config = match &node {
        Some(n) => decode(&mut d, n),
        None => GlobalConfig::default(),
    };
    diags.append(&mut d.diags);
    (config, diags)
}

fn decode(d: &mut Decoder<'_>, node: &Node) -> GlobalConfig {
    let mut c = GlobalConfig::default();
    let Some(mut f) = d.fields(node, "config.yaml") else {
        return c;
    };
    if let Some(n) = f.take("host_access") {
        c.host_access = crate::host_access::decode_opt_in(d, n);
    }
    if let Some(n) = f.take("proxy")
        && let Some(mut p) = d.fields(n, "proxy")
    {
        if let Some(v) = p.take("port").and_then(|n| d.port(n, "proxy.port")) {
            c.proxy.port = v;
        }
        if let Some(v) = p.take("bind").and_then(|n| ip(d, n, "proxy.bind")) {
            c.proxy.bind = v;
        }
        if let Some(n) = p.take("idle_seconds") {
            match &n.value {
                crate::node::Value::Int(i) => match parse_seconds(&i.to_string()) {
                    Ok(v) => c.proxy.idle = v,
                    Err(msg) => d.error(n.span, format!("`proxy.idle_seconds`: {msg}"), None),
                },
                crate::node::Value::Float(f) => match parse_seconds(&f.to_string()) {
                    Ok(v) => c.proxy.idle = v,
                    Err(msg) => d.error(n.span, format!("`proxy.idle_seconds`: {msg}"), None),
                },
                _ => d.type_error(
                    n,
                    "proxy.idle_seconds",
                    "a number of seconds",
                    Some("e.g. `idle_seconds: 300` (0 = never exit)".into()),
                ),
            }
        }
        if let Some(v) = p
            .take("autostart")
            .and_then(|n| d.bool(n, "proxy.autostart"))
        {
            c.proxy.autostart = v;
        }
        p.finish(d, Severity::Error);
    }
    if let Some(v) = f.take("runtime").and_then(|n| runtime(d, n, "runtime")) {
        c.runtime = v;
    }
    if let Some(v) = f
        .take("port_range")
        .and_then(|n| port_range(d, n, "port_range"))
    {
        c.port_range = v;
    }
    if let Some(n) = f.take("tools") {
        for (key, value) in d.entries(n, "tools").unwrap_or_default() {
            let what = format!("tools.{}", key.text);
            if warren_core::tools::tool(&key.text).is_none() {
                let names: Vec<&str> = warren_core::tools::tool_names().collect();
                d.error(
                    key.span,
                    format!("unknown tool `{}` in `tools`", key.text),
                    suggestion(&key.text, &names),
                );
                continue;
            }
            if value.value == crate::node::Value::Null {
                continue;
            }
            let Some(mut t) = d.fields(value, &what) else {
                continue;
            };
            let o = ToolOverride {
                bin: t
                    .take("bin")
                    .and_then(|n| d.string(n, &format!("{what}.bin"))),
                args: t
                    .take("args")
                    .and_then(|n| d.string_list(n, &format!("{what}.args"), false))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s.value)
                    .collect(),
                env: t
                    .take("env")
                    .and_then(|n| d.string_map(n, &format!("{what}.env")))
                    .unwrap_or_default(),
            };
            t.finish(d, Severity::Error);
            c.tools.insert(key.text.clone(), o);
        }
    }
    if let Some(n) = f.take("web")
        && let Some(mut w) = d.fields(n, "web")
    {
        if let Some(v) = w.take("port").and_then(|n| d.port(n, "web.port")) {
            c.web.port = v;
        }
        if let Some(v) = w.take("bind").and_then(|n| ip(d, n, "web.bind")) {
            c.web.bind = v;
        }
        if let Some(n) = w.take("tls") {
            match &n.value {
                crate::node::Value::Bool(true) => c.web.tls = TlsMode::On,
                crate::node::Value::Bool(false) => c.web.tls = TlsMode::Off,
                crate::node::Value::Str(s) if s == "auto" => c.web.tls = TlsMode::Auto,
                _ => d.error(
                    n.span,
                    "`web.tls` must be `auto`, `true` or `false`",
                    Some("`auto` serves HTTPS only when bound beyond loopback".into()),
                ),
            }
        }
        w.finish(d, Severity::Error);
    }
    if let Some(n) = f.take("notify") {
        c.notify = crate::notify::decode(d, n);
    }
    f.finish(d, Severity::Error);
    c
}

pub(crate) fn ip(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<IpAddr> {
    let s = d.string(node, what)?;
    match s.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            d.error(
                node.span,
                format!("`{what}` is `{s}`, which is not an IP address"),
                Some("use an address such as `127.0.0.1` or `0.0.0.0`".into()),
            );
            None
        }
    }
}

pub(crate) fn runtime(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<RuntimeChoice> {
    let s = d.string(node, what)?;
    match s.parse::<RuntimeChoice>() {
        Ok(r) => Some(r),
        Err(msg) => {
            d.error(
                node.span,
                format!("{msg} in `{what}`"),
                suggestion(&s, &RuntimeChoice::NAMES),
            );
            None
        }
    }
}

pub(crate) fn port_range(d: &mut Decoder<'_>, node: &Node, what: &str) -> Option<PortRange> {
    let s = d.string(node, what)?;
    match s.parse::<PortRange>() {
        Ok(r) => Some(r),
        Err(msg) => {
            d.error(
                node.span,
                msg,
                Some(format!(
                    "write `{what}: 9000-9100` (first and last port, inclusive)"
                )),
            );
            None
        }
    }
}

/// Parses one environment override; errors name the variable.
fn env_value<T>(
    env: EnvLookup<'_>,
    var: &str,
    diags: &mut Vec<Diagnostic>,
    parse: impl FnOnce(&str) -> Result<T, String>,
    hint: &str,
) -> Option<T> {
    let raw = env(var)?;
    if raw.is_empty() {
        return None;
    }
    match parse(raw.trim()) {
        Ok(v) => Some(v),
        Err(msg) => {
            diags.push(
                Diagnostic::env_error(var, format!("{var}=`{raw}` is invalid: {msg}"))
                    .with_hint(format!("{hint}, or unset {var}")),
            );
            None
        }
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err("not a port number".into()),
    }
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    IpAddr::from_str(s).map_err(|_| "not an IP address".into())
}

/// A non-negative number of seconds, fractions allowed (`1.5`).
fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e12)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| "not a number of seconds (0 or more; 0 = never exit)".into())
}

/// `1`/`0` and their spelled-out forms.
fn parse_switch(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected 1 or 0".into()),
    }
}

/// Reads the `WARREN_*` overrides of the global config (they beat the file).
pub(crate) fn apply_env(c: &mut GlobalConfig, env: EnvLookup<'_>) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let d = &mut diags;
    let port_hint = "set it to a port number from 1 to 65535";
    let ip_hint = "set it to an IP address such as 127.0.0.1";
    if let Some(v) = env_value(env, vars::WARREN_PROXY_PORT, d, parse_port, port_hint) {
        c.proxy.port = v;
    }
    if let Some(v) = env_value(env, vars::WARREN_PROXY_BIND, d, parse_ip, ip_hint) {
        c.proxy.bind = v;
    }
    if let Some(v) = env_value(
        env,
        vars::WARREN_PROXY_IDLE_SECONDS,
        d,
        parse_seconds,
        "set it to a number of seconds such as 300 or 1.5",
    ) {
        c.proxy.idle = v;
    }
    if let Some(v) = env_value(
        env,
        vars::WARREN_PROXY_AUTOSTART,
        d,
        parse_switch,
        "set it to 1 or 0",
    ) {
        c.proxy.autostart = v;
    }
    for tool in warren_core::tools::TOOLS {
        let var = vars::tool_bin_var(tool.name);
        if let Some(bin) = env(&var).filter(|v| !v.trim().is_empty()) {
            c.tools.entry(tool.name.to_string()).bin = Some(bin);
        }
    }
    if let Some(v) = env_value(
        env,
        vars::WARREN_RUNTIME,
        d,
        RuntimeChoice::from_str,
        "set it to auto, docker, sandbox or host",
    ) {
        c.runtime = v;
        c.env.runtime = Some(v);
    }
    if let Some(v) = env_value(
        env,
        vars::WARREN_PORT_RANGE,
        d,
        PortRange::from_str,
        "set it to `START-END`, e.g. 9000-9100",
    ) {
        c.port_range = v;
        c.env.port_range = Some(v);
    }
    if let Some(v) = env_value(env, vars::WARREN_WEB_PORT, d, parse_port, port_hint) {
        c.web.port = v;
    }
    if let Some(v) = env_value(env, vars::WARREN_WEB_BIND, d, parse_ip, ip_hint) {
        c.web.bind = v;
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn missing_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load_global(dir.path(), &no_env).unwrap();
        assert_eq!(loaded.value, GlobalConfig::default());
        assert_eq!(loaded.path, None);
        assert_eq!(loaded.value.proxy.port, 8080);
        assert_eq!(loaded.value.proxy.idle, Duration::from_secs(300));
        assert!(loaded.value.proxy.autostart);
        assert_eq!(loaded.value.port_range.to_string(), "9000-9100");
    }

    #[test]
    fn full_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            "proxy: {port: 8181, bind: 0.0.0.0, idle_seconds: 5, autostart: false}\nruntime: sandbox\nport_range: 7000-7010\ntools:\n  claude: {bin: /x/claude, args: [--verbose], env: {A: 1}}\nweb: {port: 9999, bind: ::1, tls: true}\n",
        )
        .unwrap();
        let c = load_global(dir.path(), &no_env).unwrap();
        assert_eq!(c.path, Some(dir.path().join("config.yaml")));
        let c = c.value;
        assert_eq!(c.proxy.port, 8181);
        assert_eq!(c.proxy.bind.to_string(), "0.0.0.0");
        assert_eq!(c.proxy.idle, Duration::from_secs(5));
        assert!(!c.proxy.autostart);
        assert_eq!(c.runtime, RuntimeChoice::Sandbox);
        assert_eq!(
            c.port_range,
            PortRange {
                start: 7000,
                end: 7010
            }
        );
        let claude = c.tools.get("claude").unwrap();
        assert_eq!(claude.bin.as_deref(), Some("/x/claude"));
        assert_eq!(claude.args, ["--verbose"]);
        assert_eq!(claude.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(c.web.port, 9999);
        assert_eq!(c.web.bind.to_string(), "::1");
        assert_eq!(c.web.tls, TlsMode::On);
    }

    #[test]
    fn env_overrides_beat_the_file() {
        let env = env_of(&[
            ("WARREN_PROXY_PORT", "9090"),
            ("WARREN_PROXY_BIND", "0.0.0.0"),
            ("WARREN_PROXY_IDLE_SECONDS", "1.5"),
            ("WARREN_PROXY_AUTOSTART", "0"),
            ("WARREN_TOOL_CLAUDE_BIN", "/opt/claude"),
            ("WARREN_RUNTIME", "docker"),
            ("WARREN_PORT_RANGE", "100-200"),
            ("WARREN_WEB_PORT", "81"),
            ("WARREN_WEB_BIND", "10.0.0.1"),
        ]);
        let c = parse_global(
            Path::new("/r/config.yaml"),
            "proxy: {port: 1}\nruntime: sandbox\nport_range: 1-2\n",
            &env,
        )
        .unwrap()
        .value;
        assert_eq!(c.proxy.port, 9090);
        assert_eq!(c.proxy.bind.to_string(), "0.0.0.0");
        assert_eq!(c.proxy.idle, Duration::from_millis(1500));
        assert!(!c.proxy.autostart);
        assert_eq!(
            c.tools.get("claude").and_then(|t| t.bin.as_deref()),
            Some("/opt/claude")
        );
        assert_eq!(c.runtime, RuntimeChoice::Docker);
        assert_eq!(
            c.port_range,
            PortRange {
                start: 100,
                end: 200
            }
        );
        assert_eq!(c.web.port, 81);
        assert_eq!(c.web.bind.to_string(), "10.0.0.1");
    }

    #[test]
    fn bad_env_names_the_variable() {
        let env = env_of(&[("WARREN_PROXY_PORT", "abc"), ("WARREN_RUNTIME", "vm")]);
        let err = load_global(Path::new("/nonexistent-root"), &env).unwrap_err();
        assert_eq!(err.diagnostics.len(), 2);
        let d = &err.diagnostics[0];
        assert_eq!(d.origin, crate::Origin::Env("WARREN_PROXY_PORT".into()));
        assert_eq!(
            d.message,
            "WARREN_PROXY_PORT=`abc` is invalid: not a port number"
        );
        assert_eq!(
            d.hint.as_deref(),
            Some("set it to a port number from 1 to 65535, or unset WARREN_PROXY_PORT")
        );
        assert_eq!(
            err.diagnostics[1].message,
            "WARREN_RUNTIME=`vm` is invalid: unknown runtime `vm`"
        );
    }

    #[test]
    fn file_errors_are_all_reported() {
        let err = parse_global(
            Path::new("/r/config.yaml"),
            "proxy:\n  prot: 1\n  bind: localhost\nruntime: dokcer\nport_range: 9100-9000\ntools:\n  claud: {}\nweb: {tls: maybe}\n",
            &no_env,
        )
        .unwrap_err();
        let got: Vec<_> = err
            .diagnostics
            .iter()
            .map(|d| (d.line, d.col, d.message.as_str(), d.hint.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    2,
                    3,
                    "unknown key `prot` in proxy",
                    Some("did you mean `port`?")
                ),
                (
                    3,
                    9,
                    "`proxy.bind` is `localhost`, which is not an IP address",
                    Some("use an address such as `127.0.0.1` or `0.0.0.0`")
                ),
                (
                    4,
                    10,
                    "unknown runtime `dokcer` in `runtime`",
                    Some("did you mean `docker`?")
                ),
                (
                    5,
                    13,
                    "port range `9100-9000` starts after it ends (9100 > 9000)",
                    Some("write `port_range: 9000-9100` (first and last port, inclusive)")
                ),
                (
                    7,
                    3,
                    "unknown tool `claud` in `tools`",
                    Some("did you mean `claude`?")
                ),
                (
                    8,
                    12,
                    "`web.tls` must be `auto`, `true` or `false`",
                    Some("`auto` serves HTTPS only when bound beyond loopback")
                ),
            ]
        );
    }
}
