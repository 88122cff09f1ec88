//! Host access: the one policy for every setting that shapes a container
//! (docs/SECURITY.md, "Host access"). Each setting — a `runArgs` flag, a
//! `mounts` entry, `privileged`, `capAdd`, `securityOpt`, `init`,
//! `hostRequirements`, an image label's or a Feature's contribution, a
//! Compose service's keys — is one of three classes:
//!
//! - [`Class::Safe`]: applied (volumes, tmpfs, capabilities of Docker's
//!   default set, `no-new-privileges`, `init`…);
//! - [`Class::WarrensOwn`]: warren sets it itself (`--name`, `--hostname`,
//!   `--rm`, `-d`…): ignored with one warning;
//! - [`Class::HostAccess`]: it reaches past the environment (host paths, the
//!   engine's socket, devices, GPUs, the host's network/ipc/pid/uts
//!   namespaces, `privileged`, capabilities beyond Docker's default set,
//!   seccomp/AppArmor `unconfined`). Applied only when the trusted config
//!   (`.warren.yaml` of the main checkout, or the global `config.yaml`)
//!   opts in with `host_access:` ([`HostAccessOptIn`]); otherwise `validate`
//!   and `run` fail naming the setting and the line to add.
//!
//! Callers with structured settings (Features, Compose) build a
//! [`HostAccessRequest`] and ask [`HostAccessRequest::needs`]; single values
//! go through the `classify_*` functions.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::decode::Decoder;
use crate::diagnostic::Severity;
use crate::node::{Node, Value};
use crate::values::{Mount, MountKind};

/// Docker's default capability set (what `docker run` grants without
/// `--cap-add`). A `capAdd` within it is safe: any container on the engine
/// may hold it; warren's own reduced set drops some of them, and asking for
/// one back only restores Docker's default. Anything else is host access.
pub const DOCKER_DEFAULT_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// A namespace a container can share with the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Namespace {
    Network,
    Ipc,
    Pid,
    Uts,
}

impl Namespace {
    /// The key under `host_access:` (and the docker flag without `--`).
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Network => "network",
            Namespace::Ipc => "ipc",
            Namespace::Pid => "pid",
            Namespace::Uts => "uts",
        }
    }
}

/// What one host-access setting reaches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum HostAccess {
    /// A bind mount of this host path.
    HostPath(String),
    /// A bind mount of a container engine's socket (root on the host).
    EngineSocket(String),
    /// A host device (`--device /dev/kvm`).
    Device(String),
    /// GPUs (`--gpus all`, `hostRequirements.gpu`): `all` or a count/ids.
    Gpus(String),
    /// The host's namespace.
    Namespace(Namespace),
    /// `privileged`: every capability and every device.
    Privileged,
    /// A capability beyond Docker's default set (upper case, no `CAP_`).
    Capability(String),
    /// `seccomp=unconfined`, `apparmor=unconfined`, `label=disable`,
    /// `systempaths=unconfined`.
    Unconfined(String),
}

impl HostAccess {
    /// What it gives up, in a few words (`ls`, `doctor`, the banner).
    pub fn short(&self) -> String {
        match self {
            HostAccess::HostPath(p) => format!("host path {p}"),
            HostAccess::EngineSocket(p) => format!("engine socket {p}"),
            HostAccess::Device(d) => format!("device {d}"),
            HostAccess::Gpus(g) => format!("gpus {g}"),
            HostAccess::Namespace(n) => format!("{} host", n.as_str()),
            HostAccess::Privileged => "privileged".into(),
            HostAccess::Capability(c) => format!("cap {c}"),
            HostAccess::Unconfined(o) => o.clone(),
        }
    }

    /// Why it is host access, for the error.
    pub fn why(&self) -> &'static str {
        match self {
            HostAccess::HostPath(_) => "it mounts a host path into the environment",
            HostAccess::EngineSocket(_) => {
                "it hands the environment the container engine, and with it root on this host"
            }
            HostAccess::Device(_) => "it gives the environment a host device",
            HostAccess::Gpus(_) => "it gives the environment the host's GPUs",
            HostAccess::Namespace(_) => "it shares one of the host's namespaces",
            HostAccess::Privileged => {
                "a privileged container holds every capability and every host device"
            }
            HostAccess::Capability(_) => "it adds a capability beyond Docker's default set",
            HostAccess::Unconfined(_) => {
                "it turns off a kernel confinement (seccomp, AppArmor, SELinux)"
            }
        }
    }

    /// The exact `host_access:` line that grants it.
    pub fn opt_in_line(&self) -> String {
        match self {
            HostAccess::HostPath(p) => format!("host_access: {{mounts: [\"{p}\"]}}"),
            HostAccess::EngineSocket(_) => "host_access: {docker_socket: true}".into(),
            HostAccess::Device(d) => format!("host_access: {{devices: [\"{d}\"]}}"),
            HostAccess::Gpus(g) => format!("host_access: {{gpus: {g}}}"),
            HostAccess::Namespace(n) => format!("host_access: {{{}: host}}", n.as_str()),
            HostAccess::Privileged => "host_access: {privileged: true}".into(),
            HostAccess::Capability(c) => format!("host_access: {{capabilities: [{c}]}}"),
            HostAccess::Unconfined(o) => format!("host_access: {{security_opt: [\"{o}\"]}}"),
        }
    }
}

/// The class of one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// Applied as asked.
    Safe,
    /// warren sets this itself; ignored with one warning saying why.
    WarrensOwn(&'static str),
    /// Applied only with the trusted config's opt-in.
    HostAccess(HostAccess),
}

/// One host-access setting of a config file and the error (at its
/// file:line:col) that refuses it when the trusted config does not grant it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAccessUse {
    pub need: HostAccess,
    pub diagnostic: crate::diagnostic::Diagnostic,
}

/// A mount as any source describes it (devcontainer `mounts`, `-v`,
/// `--mount`, a Feature's or a Compose service's volumes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRequest {
    pub kind: MountKind,
    /// Host path (bind; absolute once resolved) or volume name.
    pub source: Option<String>,
    pub target: String,
}

impl From<&Mount> for MountRequest {
    fn from(m: &Mount) -> MountRequest {
        MountRequest {
            kind: m.kind,
            source: m.source.clone(),
            target: m.target.clone(),
        }
    }
}

/// Every host-relevant setting of one source, structured. Features and
/// Compose fill this from their own keys and call [`Self::needs`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostAccessRequest {
    pub mounts: Vec<MountRequest>,
    pub cap_add: Vec<String>,
    pub privileged: bool,
    /// Namespace and its mode (`host`, `private`, …).
    pub namespaces: Vec<(Namespace, String)>,
    /// Host device paths (`/dev/kvm`, `/dev/fuse:/dev/fuse:rwm` → `/dev/fuse`).
    pub devices: Vec<String>,
    /// `all`, a count or device ids.
    pub gpus: Option<String>,
    pub security_opt: Vec<String>,
}

impl HostAccessRequest {
    /// The host access this request needs, each once, in a stable order.
    pub fn needs(&self) -> Vec<HostAccess> {
        let mut out: Vec<HostAccess> = Vec::new();
        let mut push = |c: Class| {
            if let Class::HostAccess(h) = c
                && !out.contains(&h)
            {
                out.push(h);
            }
        };
        if self.privileged {
            push(Class::HostAccess(HostAccess::Privileged));
        }
        for (ns, mode) in &self.namespaces {
            push(classify_namespace(*ns, mode));
        }
        for m in &self.mounts {
            push(classify_mount(m));
        }
        for d in &self.devices {
            push(classify_device(d));
        }
        if let Some(g) = &self.gpus {
            push(Class::HostAccess(HostAccess::Gpus(g.clone())));
        }
        for c in &self.cap_add {
            push(classify_capability(c));
        }
        for o in &self.security_opt {
            push(classify_security_opt(o));
        }
        out
    }
}

/// A capability's name as Docker takes it: upper case, no `CAP_`.
pub fn normalize_capability(name: &str) -> String {
    let up = name.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").unwrap_or(&up).to_string()
}

/// `capAdd` / `--cap-add`: safe within [`DOCKER_DEFAULT_CAPABILITIES`].
pub fn classify_capability(name: &str) -> Class {
    let n = normalize_capability(name);
    if DOCKER_DEFAULT_CAPABILITIES.contains(&n.as_str()) {
        Class::Safe
    } else {
        Class::HostAccess(HostAccess::Capability(n))
    }
}

/// `securityOpt` / `--security-opt`: turning a confinement off is host
/// access; everything else (`no-new-privileges`, a label, a profile) is safe.
pub fn classify_security_opt(opt: &str) -> Class {
    let o = opt.trim();
    let (key, value) = o.split_once(['=', ':']).unwrap_or((o, ""));
    let off = match key {
        "seccomp" | "apparmor" | "systempaths" => value == "unconfined",
        "label" => value == "disable",
        _ => false,
    };
    if off {
        Class::HostAccess(HostAccess::Unconfined(format!("{key}={value}")))
    } else {
        Class::Safe
    }
}

/// `--network`/`--ipc`/`--pid`/`--uts` (and Compose's `*_mode`): `host` is
/// host access; a private mode is safe.
pub fn classify_namespace(ns: Namespace, mode: &str) -> Class {
    if mode == "host" {
        Class::HostAccess(HostAccess::Namespace(ns))
    } else {
        Class::Safe
    }
}

/// `--device SRC[:DST[:PERMS]]`: the host path.
pub fn classify_device(spec: &str) -> Class {
    let host = spec.split(':').next().unwrap_or(spec).to_string();
    Class::HostAccess(HostAccess::Device(host))
}

/// Whether a bind source is a container engine's socket.
pub fn is_engine_socket(source: &str) -> bool {
    let name = source.rsplit('/').next().unwrap_or(source);
    matches!(name, "docker.sock" | "podman.sock" | "containerd.sock")
}

/// A mount: volumes and tmpfs are safe, a bind of a host path is host
/// access (the engine's socket its own kind).
pub fn classify_mount(m: &MountRequest) -> Class {
    match m.kind {
        MountKind::Volume | MountKind::Tmpfs => Class::Safe,
        MountKind::Bind => {
            let source = m.source.clone().unwrap_or_default();
            if is_engine_socket(&source) {
                Class::HostAccess(HostAccess::EngineSocket(source))
            } else {
                Class::HostAccess(HostAccess::HostPath(source))
            }
        }
    }
}

/// A `runArgs` flag warren sets itself, with why it is ignored.
pub fn warrens_own_flag(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "--name" => {
            "warren names containers itself (`warren run --name NAME` names the environment)"
        }
        "-h" | "--hostname" => "warren sets the hostname to the environment's name",
        "--rm" | "-d" | "--detach" | "-i" | "--interactive" | "-t" | "--tty" | "-it" | "-ti"
        | "--restart" | "-a" | "--attach" => {
            "warren manages the container's lifecycle and terminal"
        }
        _ => return None,
    })
}

/// `host_access:` in `.warren.yaml` (main checkout) or the global
/// `config.yaml`: the host access the user grants. Only trusted files are
/// read for it; the key in an environment's own tree is never looked at.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct HostAccessOptIn {
    /// `gpus: all` (or a count / ids, which must match what is asked).
    pub gpus: Option<String>,
    /// Host device paths.
    pub devices: Vec<String>,
    /// Namespaces shared with the host (`ipc: host`…).
    pub namespaces: Vec<Namespace>,
    pub privileged: bool,
    /// Capabilities beyond Docker's default set (`ALL` grants every one).
    pub capabilities: Vec<String>,
    /// Host paths that may be bind-mounted (a path grants what is under it).
    pub mounts: Vec<String>,
    /// The engine's socket.
    pub docker_socket: bool,
    /// `seccomp=unconfined`… as written.
    pub security_opt: Vec<String>,
}

impl HostAccessOptIn {
    pub fn is_empty(&self) -> bool {
        *self == HostAccessOptIn::default()
    }

    /// Adds `other`'s grants (global config + project).
    pub fn merge(&mut self, other: &HostAccessOptIn) {
        if self.gpus.is_none() {
            self.gpus = other.gpus.clone();
        }
        for (into, from) in [
            (&mut self.devices, &other.devices),
            (&mut self.capabilities, &other.capabilities),
            (&mut self.mounts, &other.mounts),
            (&mut self.security_opt, &other.security_opt),
        ] {
            for x in from {
                if !into.contains(x) {
                    into.push(x.clone());
                }
            }
        }
        for n in &other.namespaces {
            if !self.namespaces.contains(n) {
                self.namespaces.push(*n);
            }
        }
        self.privileged |= other.privileged;
        self.docker_socket |= other.docker_socket;
    }

    /// Whether `need` is granted. `home` expands `~` in `mounts`.
    pub fn allows(&self, need: &HostAccess, home: Option<&Path>) -> bool {
        match need {
            HostAccess::HostPath(p) => {
                let p = normalize(Path::new(p));
                self.mounts
                    .iter()
                    .any(|g| p.starts_with(normalize(&expand_home(g, home))))
            }
            HostAccess::EngineSocket(_) => self.docker_socket,
            HostAccess::Device(d) => self.devices.iter().any(|g| g == d),
            HostAccess::Gpus(g) => self
                .gpus
                .as_deref()
                .is_some_and(|granted| granted == "all" || granted == g),
            HostAccess::Namespace(n) => self.namespaces.contains(n),
            HostAccess::Privileged => self.privileged,
            HostAccess::Capability(c) => self
                .capabilities
                .iter()
                .map(|g| normalize_capability(g))
                .any(|g| g == "ALL" || g == *c),
            HostAccess::Unconfined(o) => self
                .security_opt
                .iter()
                .any(|g| g.replacen(':', "=", 1) == *o),
        }
    }
}

fn expand_home(p: &str, home: Option<&Path>) -> PathBuf {
    match (p.strip_prefix('~'), home) {
        (Some(rest), Some(h)) => h.join(rest.trim_start_matches('/')),
        _ => PathBuf::from(p),
    }
}

/// Lexically removes `.` and `..`.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Checks a file's host-access settings against the grants: the granted
/// ones (host paths made absolute by `resolve_path`), and an error for each
/// of the others, hinting at the exact line to add to `trusted_file`.
pub fn check_uses(
    uses: &[HostAccessUse],
    opt_in: &HostAccessOptIn,
    resolve_path: &dyn Fn(&str) -> String,
    home: Option<&Path>,
    trusted_file: &str,
) -> (Vec<HostAccess>, Vec<crate::diagnostic::Diagnostic>) {
    let mut granted = Vec::new();
    let mut errors = Vec::new();
    for u in uses {
        let need = match &u.need {
            HostAccess::HostPath(p) => HostAccess::HostPath(resolve_path(p)),
            other => other.clone(),
        };
        if opt_in.allows(&need, home) {
            if !granted.contains(&need) {
                granted.push(need);
            }
        } else {
            errors.push(u.diagnostic.clone().with_hint(format!(
                "to grant it, add to {trusted_file}:  {}",
                need.opt_in_line()
            )));
        }
    }
    (granted, errors)
}

/// Decodes `host_access:`; unknown keys are errors at file:line:col.
pub(crate) fn decode_opt_in(d: &mut Decoder<'_>, node: &Node) -> HostAccessOptIn {
    let mut out = HostAccessOptIn::default();
    let Some(mut f) = d.fields(node, "host_access") else {
        return out;
    };
    if let Some(n) = f.take("gpus") {
        match &n.value {
            Value::Str(s) => out.gpus = Some(s.clone()),
            Value::Int(i) => out.gpus = Some(i.to_string()),
            _ => d.type_error(n, "host_access.gpus", "`all` or a number of GPUs", None),
        }
    }
    let list = |d: &mut Decoder<'_>, n: &Node, what: &str| -> Vec<String> {
        d.string_list(n, what, true)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.value)
            .collect()
    };
    if let Some(n) = f.take("devices") {
        out.devices = list(d, n, "host_access.devices");
    }
    if let Some(n) = f.take("capabilities") {
        out.capabilities = list(d, n, "host_access.capabilities");
    }
    if let Some(n) = f.take("mounts") {
        out.mounts = list(d, n, "host_access.mounts");
        for (m, item) in out.mounts.iter().zip(match &n.value {
            Value::Seq(items) => items.as_slice(),
            _ => std::slice::from_ref(n),
        }) {
            if !(m.starts_with('/') || m.starts_with('~')) {
                d.error(
                    item.span,
                    format!("`host_access.mounts`: `{m}` is not an absolute host path"),
                    Some("e.g. `mounts: [\"/tmp/.X11-unix\", \"~/.aws\"]`".into()),
                );
            }
        }
    }
    if let Some(n) = f.take("security_opt") {
        out.security_opt = list(d, n, "host_access.security_opt");
    }
    for (key, ns) in [
        ("network", Namespace::Network),
        ("ipc", Namespace::Ipc),
        ("pid", Namespace::Pid),
        ("uts", Namespace::Uts),
    ] {
        if let Some(n) = f.take(key) {
            match d.string(n, &format!("host_access.{key}")).as_deref() {
                Some("host") => out.namespaces.push(ns),
                Some(other) => d.error(
                    n.span,
                    format!(
                        "`host_access.{key}: {other}`: the only host access to grant is `host`"
                    ),
                    Some(format!("write `{key}: host`, or remove the key")),
                ),
                None => {}
            }
        }
    }
    if let Some(n) = f.take("privileged") {
        out.privileged = d.bool(n, "host_access.privileged").unwrap_or(false);
    }
    if let Some(n) = f.take("docker_socket") {
        out.docker_socket = d.bool(n, "host_access.docker_socket").unwrap_or(false);
    }
    f.finish(d, Severity::Error);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(src: &str) -> MountRequest {
        MountRequest {
            kind: MountKind::Bind,
            source: Some(src.into()),
            target: "/x".into(),
        }
    }

    #[test]
    fn classes() {
        assert_eq!(classify_capability("cap_chown"), Class::Safe);
        assert_eq!(classify_capability("NET_RAW"), Class::Safe);
        assert_eq!(
            classify_capability("SYS_PTRACE"),
            Class::HostAccess(HostAccess::Capability("SYS_PTRACE".into()))
        );
        assert_eq!(classify_security_opt("no-new-privileges"), Class::Safe);
        assert_eq!(
            classify_security_opt("seccomp=unconfined"),
            Class::HostAccess(HostAccess::Unconfined("seccomp=unconfined".into()))
        );
        assert_eq!(
            classify_security_opt("apparmor:unconfined"),
            Class::HostAccess(HostAccess::Unconfined("apparmor=unconfined".into()))
        );
        assert_eq!(classify_namespace(Namespace::Ipc, "private"), Class::Safe);
        assert_eq!(
            classify_namespace(Namespace::Ipc, "host"),
            Class::HostAccess(HostAccess::Namespace(Namespace::Ipc))
        );
        let vol = MountRequest {
            kind: MountKind::Volume,
            source: Some("keda-gomodcache".into()),
            target: "/go/pkg".into(),
        };
        assert_eq!(classify_mount(&vol), Class::Safe);
        assert_eq!(
            classify_mount(&bind("/var/run/docker.sock")),
            Class::HostAccess(HostAccess::EngineSocket("/var/run/docker.sock".into()))
        );
        assert_eq!(
            classify_mount(&bind("/tmp/.X11-unix")),
            Class::HostAccess(HostAccess::HostPath("/tmp/.X11-unix".into()))
        );
        assert_eq!(
            classify_device("/dev/fuse:/dev/fuse:rwm"),
            Class::HostAccess(HostAccess::Device("/dev/fuse".into()))
        );
        assert!(warrens_own_flag("--name").is_some());
        assert!(warrens_own_flag("--cap-add").is_none());
    }

    #[test]
    fn a_request_lists_each_need_once() {
        let req = HostAccessRequest {
            mounts: vec![bind("/tmp/.X11-unix"), bind("/tmp/.X11-unix")],
            cap_add: vec!["CHOWN".into(), "SYS_ADMIN".into()],
            privileged: true,
            namespaces: vec![(Namespace::Network, "host".into())],
            devices: vec!["/dev/kvm".into()],
            gpus: Some("all".into()),
            security_opt: vec!["no-new-privileges".into()],
        };
        let lines: Vec<String> = req.needs().iter().map(HostAccess::opt_in_line).collect();
        assert_eq!(
            lines,
            [
                "host_access: {privileged: true}",
                "host_access: {network: host}",
                "host_access: {mounts: [\"/tmp/.X11-unix\"]}",
                "host_access: {devices: [\"/dev/kvm\"]}",
                "host_access: {gpus: all}",
                "host_access: {capabilities: [SYS_ADMIN]}",
            ]
        );
    }

    #[test]
    fn opt_in_grants_only_what_it_names() {
        let o = HostAccessOptIn {
            gpus: Some("all".into()),
            devices: vec!["/dev/kvm".into()],
            namespaces: vec![Namespace::Ipc],
            capabilities: vec!["cap_sys_ptrace".into()],
            mounts: vec!["~/.aws".into(), "/tmp/.X11-unix".into()],
            security_opt: vec!["seccomp:unconfined".into()],
            ..Default::default()
        };
        let home = Some(Path::new("/home/me"));
        let yes = [
            HostAccess::Gpus("all".into()),
            HostAccess::Gpus("2".into()),
            HostAccess::Device("/dev/kvm".into()),
            HostAccess::Namespace(Namespace::Ipc),
            HostAccess::Capability("SYS_PTRACE".into()),
            HostAccess::HostPath("/home/me/.aws/config".into()),
            HostAccess::HostPath("/tmp/.X11-unix".into()),
            HostAccess::Unconfined("seccomp=unconfined".into()),
        ];
        for n in &yes {
            assert!(o.allows(n, home), "{n:?}");
        }
        let no = [
            HostAccess::Device("/dev/mem".into()),
            HostAccess::Namespace(Namespace::Pid),
            HostAccess::Capability("SYS_ADMIN".into()),
            HostAccess::HostPath("/home/me".into()),
            HostAccess::HostPath("/home/me/.aws/../.ssh".into()),
            HostAccess::EngineSocket("/var/run/docker.sock".into()),
            HostAccess::Privileged,
            HostAccess::Unconfined("apparmor=unconfined".into()),
        ];
        for n in &no {
            assert!(!o.allows(n, home), "{n:?}");
        }
    }
}
