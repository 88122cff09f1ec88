//! Small value types shared by the config models: ordered maps, spanned
//! values, runtime choice, port ranges, mounts, build specs and hooks, with
//! their parsers (each returns a message saying what is wrong on failure).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use warren_core::RuntimeKind;

use crate::node::Span;

/// A value with the position it was declared at. Serializes as the bare value
/// (positions never reach the config hash or `--json`).
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wraps `value` declared at `span`.
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

/// A string-keyed map that keeps insertion order (YAML/JSON declaration
/// order): the first service declared is the default service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderedMap<V>(Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        OrderedMap(Vec::new())
    }

    /// Sets `key`: replaces the value in place if present, else appends.
    pub fn insert(&mut self, key: impl Into<String>, value: V) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key, value)),
        }
    }

    /// The value of `key`, inserted with `V::default()` if missing.
    pub fn entry(&mut self, key: impl Into<String>) -> &mut V
    where
        V: Default,
    {
        let key = key.into();
        let i = match self.0.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.0.push((key, V::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// Values in order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Map merge where `other` wins: existing keys keep their position.
    pub fn merge(&mut self, other: &OrderedMap<V>)
    where
        V: Clone,
    {
        for (k, v) in other.iter() {
            self.insert(k, v.clone());
        }
    }
}

impl<V> FromIterator<(String, V)> for OrderedMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        let mut m = OrderedMap::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// Which runtime to use: a specific one, or `auto` (docker if an engine
/// answers, else sandbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeChoice {
    #[default]
    Auto,
    Docker,
    Sandbox,
    Host,
}

impl RuntimeChoice {
    /// The runtime, unless `auto`.
    pub fn kind(self) -> Option<RuntimeKind> {
        match self {
            RuntimeChoice::Auto => None,
            RuntimeChoice::Docker => Some(RuntimeKind::Docker),
            RuntimeChoice::Sandbox => Some(RuntimeKind::Sandbox),
            RuntimeChoice::Host => Some(RuntimeKind::Host),
        }
    }

    /// The config spelling (`auto`, `docker`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeChoice::Auto => "auto",
            RuntimeChoice::Docker => "docker",
            RuntimeChoice::Sandbox => "sandbox",
            RuntimeChoice::Host => "host",
        }
    }

    /// Accepted spellings, for hints.
    pub const NAMES: [&'static str; 5] = ["auto", "docker", "podman", "sandbox", "host"];
}

impl From<RuntimeKind> for RuntimeChoice {
    fn from(k: RuntimeKind) -> Self {
        match k {
            RuntimeKind::Docker => RuntimeChoice::Docker,
            RuntimeKind::Sandbox => RuntimeChoice::Sandbox,
            RuntimeKind::Host => RuntimeChoice::Host,
        }
    }
}

impl FromStr for RuntimeChoice {
    type Err = String;
    /// `auto`, `docker` (or `podman`), `sandbox`, `host`.
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(RuntimeChoice::Auto);
        }
        s.parse::<RuntimeKind>()
            .map(RuntimeChoice::from)
            .map_err(|_| format!("unknown runtime `{s}`"))
    }
}

impl fmt::Display for RuntimeChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inclusive range of ports, written `9000-9100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl Default for PortRange {
    fn default() -> Self {
        PortRange {
            start: 9000,
            end: 9100,
        }
    }
}

impl PortRange {
    /// Number of ports in the range.
    pub fn len(&self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }

    /// Always false: a range holds at least one port.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `port` is in the range (ends included).
    pub fn contains(&self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("port range `{s}` is not of the form `START-END`"))?;
        let port = |p: &str| -> Result<u16, String> {
            match p.trim().parse::<u16>() {
                Ok(p) if p > 0 => Ok(p),
                _ => Err(format!(
                    "`{}` in port range `{s}` is not a port number (1-65535)",
                    p.trim()
                )),
            }
        };
        let (start, end) = (port(a)?, port(b)?);
        if start > end {
            return Err(format!(
                "port range `{s}` starts after it ends ({start} > {end})"
            ));
        }
        Ok(PortRange { start, end })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// What a mount attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A host path.
    Bind,
    /// A named (or anonymous, without source) engine volume.
    Volume,
    /// An in-memory filesystem.
    Tmpfs,
}

/// One mount. `source` is as written (relative paths and `~` are resolved by
/// [`crate::resolve`]); `None` for tmpfs and anonymous volumes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Mount {
    pub kind: MountKind,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
}

impl Mount {
    /// A warning when this is a bind mount of a container engine's socket
    /// (`/var/run/docker.sock`, podman's, containerd's): whoever can talk to
    /// the engine can start a privileged container with the host's `/`
    /// mounted, so the environment holds root on the host.
    pub fn engine_socket_warning(&self) -> Option<(String, String)> {
        if self.kind != MountKind::Bind {
            return None;
        }
        let source = self.source.as_deref()?;
        let name = source.rsplit('/').next().unwrap_or(source);
        let engine = matches!(name, "docker.sock" | "podman.sock" | "containerd.sock")
            || source.ends_with("/docker/docker.sock");
        engine.then(|| {
            (
                format!(
                    "mount of `{source}` gives the environment the container engine, and with it root on this host: an agent can start a privileged container with the host's `/` mounted"
                ),
                "remove the mount unless you trust everything that runs in the environment; a later warren refuses it without an explicit opt-in".to_string(),
            )
        })
    }

    /// Parses the docker `-v` short form: `SRC:DST[:ro|rw]` or `DST`
    /// (anonymous volume). A source starting with `/`, `~` or `.` is a bind
    /// mount; any other word is a named volume.
    pub fn parse_short(s: &str) -> Result<Mount, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let (source, target, opts) = match parts.as_slice() {
            [t] => (None, *t, None),
            [src, t] => (Some(*src), *t, None),
            [src, t, o] => (Some(*src), *t, Some(*o)),
            _ => {
                return Err(format!(
                    "mount `{s}` has too many `:`; expected `SOURCE:TARGET[:ro]`"
                ));
            }
        };
        if !target.starts_with('/') {
            return Err(format!(
                "mount `{s}`: target `{target}` must be an absolute path in the environment"
            ));
        }
        let mut read_only = false;
        for opt in opts.into_iter().flat_map(|o| o.split(',')) {
            match opt {
                "ro" | "readonly" => read_only = true,
                "rw" => read_only = false,
                // SELinux relabelling and macOS consistency flags: harmless, ignored.
                "z" | "Z" | "cached" | "delegated" | "consistent" => {}
                other => {
                    return Err(format!(
                        "mount `{s}`: unknown option `{other}` (expected `ro` or `rw`)"
                    ));
                }
            }
        }
        let kind = match source {
            Some("") => {
                return Err(format!("mount `{s}` has an empty source"));
            }
            Some(src) if src.starts_with(['/', '~', '.']) || src.starts_with("${") => {
                MountKind::Bind
            }
            _ => MountKind::Volume,
        };
        Ok(Mount {
            kind,
            source: source.map(str::to_string),
            target: target.to_string(),
            read_only,
        })
    }

    /// Parses the docker `--mount` form used by devcontainer.json:
    /// `type=bind,source=/a,target=/b[,readonly]` (`src`, `dst`,
    /// `destination`, `ro` are accepted too; `consistency` is ignored).
    pub fn parse_long(s: &str) -> Result<Mount, String> {
        let mut kind = None;
        let mut source = None;
        let mut target = None;
        let mut read_only = false;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (part, None),
            };
            match (k, v) {
                ("type", Some(v)) => kind = Some(parse_kind(v, s)?),
                ("source" | "src", Some(v)) => source = Some(v.to_string()),
                ("target" | "destination" | "dst", Some(v)) => target = Some(v.to_string()),
                ("readonly" | "ro", None) => read_only = true,
                ("readonly" | "ro", Some(v)) => {
                    read_only = match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(format!("mount `{s}`: `{k}={v}` must be true or false")),
                    }
                }
                ("consistency", _) => {}
                _ => {
                    return Err(format!(
                        "mount `{s}`: unsupported option `{part}` (warren understands type, source, target and readonly)"
                    ));
                }
            }
        }
        let target = target.ok_or_else(|| format!("mount `{s}` has no `target=`"))?;
        Mount::checked(
            kind.unwrap_or(MountKind::Volume),
            source,
            target,
            read_only,
            s,
        )
    }

    /// Builds a mount from its parts, checking they fit together.
    pub(crate) fn checked(
        kind: MountKind,
        source: Option<String>,
        target: String,
        read_only: bool,
        shown: &str,
    ) -> Result<Mount, String> {
        if !target.starts_with('/') {
            return Err(format!(
                "mount `{shown}`: target `{target}` must be an absolute path"
            ));
        }
        if kind == MountKind::Bind && source.as_deref().is_none_or(str::is_empty) {
            return Err(format!("bind mount `{shown}` has no source"));
        }
        Ok(Mount {
            kind,
            source,
            target,
            read_only,
        })
    }
}

pub(crate) fn parse_kind(v: &str, shown: &str) -> Result<MountKind, String> {
    match v {
        "bind" => Ok(MountKind::Bind),
        "volume" => Ok(MountKind::Volume),
        "tmpfs" => Ok(MountKind::Tmpfs),
        other => Err(format!(
            "mount `{shown}`: unknown type `{other}` (expected bind, volume or tmpfs)"
        )),
    }
}

/// How to build an image. Paths are as written, relative to `base`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BuildSpec {
    /// The directory relative paths are relative to (the devcontainer.json's
    /// folder, or the repository root for `.warren.yaml`).
    pub base: PathBuf,
    pub dockerfile: Option<String>,
    pub context: Option<String>,
    pub args: OrderedMap<String>,
    pub target: Option<String>,
    pub cache_from: Vec<String>,
}

/// A `.warren.yaml` hook entry: `{run: "make deps"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hook {
    pub run: String,
    #[serde(skip)]
    pub span: Span,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_map_keeps_order_and_merges() {
        let mut a: OrderedMap<i32> = [("x".to_string(), 1), ("y".to_string(), 2)]
            .into_iter()
            .collect();
        let b: OrderedMap<i32> = [("z".to_string(), 3), ("x".to_string(), 9)]
            .into_iter()
            .collect();
        a.merge(&b);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [("x", &9), ("y", &2), ("z", &3)]
        );
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"x":9,"y":2,"z":3}"#);
    }

    #[test]
    fn port_ranges() {
        assert_eq!(
            "9000-9100".parse::<PortRange>(),
            Ok(PortRange {
                start: 9000,
                end: 9100
            })
        );
        assert_eq!("9000-9100".parse::<PortRange>().unwrap().len(), 101);
        assert_eq!("5-5".parse::<PortRange>().unwrap().len(), 1);
        assert_eq!(
            "9100-9000".parse::<PortRange>(),
            Err("port range `9100-9000` starts after it ends (9100 > 9000)".into())
        );
        assert!(
            "9000"
                .parse::<PortRange>()
                .unwrap_err()
                .contains("START-END")
        );
        assert!("0-10".parse::<PortRange>().is_err());
        assert!("1-70000".parse::<PortRange>().is_err());
    }

    #[test]
    fn runtime_choices() {
        assert_eq!("auto".parse(), Ok(RuntimeChoice::Auto));
        assert_eq!("podman".parse(), Ok(RuntimeChoice::Docker));
        assert_eq!("sandbox".parse(), Ok(RuntimeChoice::Sandbox));
        assert_eq!(RuntimeChoice::Host.kind(), Some(RuntimeKind::Host));
        assert!("vm".parse::<RuntimeChoice>().is_err());
    }

    #[test]
    fn short_mounts() {
        let m = Mount::parse_short("~/.ssh:/home/agent/.ssh:ro").unwrap();
        assert_eq!(
            m,
            Mount {
                kind: MountKind::Bind,
                source: Some("~/.ssh".into()),
                target: "/home/agent/.ssh".into(),
                read_only: true
            }
        );
        let v = Mount::parse_short("cache:/cache").unwrap();
        assert_eq!((v.kind, v.read_only), (MountKind::Volume, false));
        let anon = Mount::parse_short("/data").unwrap();
        assert_eq!((anon.kind, anon.source), (MountKind::Volume, None));
        assert!(Mount::parse_short("a:b").unwrap_err().contains("absolute"));
        assert!(Mount::parse_short("/a:/b:xx").unwrap_err().contains("`xx`"));
        assert!(Mount::parse_short("/a:/b:ro:x").is_err());
    }

    #[test]
    fn long_mounts() {
        let m = Mount::parse_long("type=bind,source=/a,target=/b,readonly").unwrap();
        assert_eq!(
            (m.kind, m.source.as_deref(), m.target.as_str(), m.read_only),
            (MountKind::Bind, Some("/a"), "/b", true)
        );
        let v = Mount::parse_long("source=vol,target=/v,consistency=cached").unwrap();
        assert_eq!((v.kind, v.read_only), (MountKind::Volume, false));
        let t = Mount::parse_long("type=tmpfs,dst=/tmp/x,ro=false").unwrap();
        assert_eq!(t.kind, MountKind::Tmpfs);
        assert!(
            Mount::parse_long("type=bind,target=/b")
                .unwrap_err()
                .contains("has no source")
        );
        assert!(
            Mount::parse_long("type=bind,source=/a")
                .unwrap_err()
                .contains("no `target=`")
        );
        assert!(
            Mount::parse_long("type=nfs,target=/b")
                .unwrap_err()
                .contains("`nfs`")
        );
        assert!(
            Mount::parse_long("type=bind,source=/a,target=/b,bind-propagation=shared")
                .unwrap_err()
                .contains("`bind-propagation=shared`")
        );
    }
}
