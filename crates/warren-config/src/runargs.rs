//! devcontainer.json `runArgs`: the `docker run` flags warren understands,
//! parsed into typed values. Each is classified by [`crate::host_access`]:
//! safe flags apply, warren's own (`--name`, `--hostname`, `--rm`…) are
//! ignored with a warning, host access (`-v /host:…`, `--device`, `--gpus`,
//! `--ipc host`…) is parsed here and granted (or refused, naming the opt-in)
//! when the configuration resolves. Flags warren does not know are refused,
//! because passing them to the engine would silently weaken isolation or
//! fight warren's own bookkeeping.

use serde::Serialize;

use crate::EnvLookup;
use crate::host_access::{self, Class, HostAccess, Namespace};
use crate::values::{Mount, MountKind, OrderedMap, Spanned};

/// `--network` values warren accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunNetwork {
    Bridge,
    Host,
    None,
}

impl RunNetwork {
    /// The name the engine knows it by.
    pub fn as_str(self) -> &'static str {
        match self {
            RunNetwork::Bridge => "bridge",
            RunNetwork::Host => "host",
            RunNetwork::None => "none",
        }
    }
}

/// The accepted `runArgs`, typed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RunArgs {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    /// `-e K=V` (and `-e K`, taken from the host environment when set).
    pub env: OrderedMap<String>,
    pub labels: OrderedMap<String>,
    /// `--add-host NAME:IP`.
    pub add_hosts: Vec<String>,
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub shm_size: Option<String>,
    /// `--ulimit NAME=SOFT[:HARD]`.
    pub ulimits: Vec<String>,
    pub hostname: Option<String>,
    pub network: Option<RunNetwork>,
    pub init: bool,
    pub privileged: bool,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// `--gpus all|N|device=…` (host access).
    pub gpus: Option<String>,
    /// `--device SRC[:DST[:PERMS]]` (host access).
    pub devices: Vec<String>,
    /// `--ipc`, `--pid`, `--uts` modes (`host` is host access).
    pub ipc: Option<String>,
    pub pid: Option<String>,
    pub uts: Option<String>,
    /// `-v`/`--volume`/`--mount`: named volumes are safe, host paths are
    /// host access; merged with devcontainer `mounts`.
    pub mounts: Vec<Mount>,
}

/// Flags accepted, for hints.
pub const SUPPORTED_RUN_ARGS: &[&str] = &[
    "--cap-add",
    "--cap-drop",
    "--security-opt",
    "-e/--env",
    "-l/--label",
    "--add-host",
    "-m/--memory",
    "--cpus",
    "--shm-size",
    "--ulimit",
    "--network host|none|bridge",
    "--init",
    "-u/--user",
    "-w/--workdir",
    "-v/--volume, --mount (named volumes; host paths with `host_access`)",
    "--privileged, --device, --gpus, --ipc/--pid/--uts host (with `host_access`)",
    "--name, -h/--hostname, --rm, -d, -i, -t, --restart, --platform (ignored, with a warning)",
];

/// A flag that asks for host access, at an item of `runArgs`: granted or
/// refused once the trusted config's `host_access:` is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunArgHost {
    pub index: usize,
    /// The flag as written (`--ipc host`).
    pub shown: String,
    pub need: HostAccess,
}

/// A refused or malformed flag (or, with `warning`, one accepted but not
/// applied): message and hint, at an item of `runArgs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunArgError {
    pub index: usize,
    pub message: String,
    pub hint: String,
    /// Reported as a warning: the flag is ignored, the file still loads.
    pub warning: bool,
}

/// Why a known-but-refused flag is refused.
fn refusal(flag: &str) -> Option<(&'static str, &'static str)> {
    Some(match flag {
        "--volumes-from" => (
            "it shares another container's volumes",
            "declare the mounts you need in `mounts`",
        ),
        "-p" | "--publish" | "-P" | "--publish-all" | "--expose" => (
            "warren publishes ports itself (on 127.0.0.1, routed by name)",
            "list the port in `forwardPorts` or `appPort`",
        ),
        "--userns" | "--cgroupns" | "--cgroup-parent" => (
            "it changes the container's namespaces; sharing the host's breaks the environment's isolation",
            "remove it from `runArgs`",
        ),
        "--device-cgroup-rule" | "--device-read-bps" | "--device-write-bps" => (
            "it changes the container's device rules past warren's checks",
            "name the device with `--device` (granted by `host_access: {devices: [...]}`)",
        ),
        "--entrypoint" => (
            "warren runs its own keep-alive command in the container",
            "use `overrideCommand: false` to keep the image's entrypoint and command",
        ),
        "--env-file" => (
            "its path would be resolved on whatever machine runs the engine",
            "set the variables in `containerEnv` (use `${localEnv:VAR}` for host values)",
        ),
        "--link" | "--net-alias" | "--network-alias" | "--ip" | "--ip6" | "--mac-address"
        | "--dns" | "--dns-search" | "--dns-option" => (
            "warren does not manage custom container networking",
            "remove it from `runArgs`",
        ),
        _ => return None,
    })
}

fn valid_size(v: &str) -> bool {
    let v = v.trim_end_matches(['b', 'B']);
    let v = v.strip_suffix(['k', 'K', 'm', 'M', 'g', 'G']).unwrap_or(v);
    !v.is_empty() && v.parse::<f64>().is_ok_and(|f| f > 0.0)
}

/// Parses `runArgs` items (each one argv element). `host_env` resolves
/// `-e NAME` without a value.
pub(crate) fn parse_run_args(
    items: &[Spanned<String>],
    host_env: EnvLookup<'_>,
) -> (RunArgs, Vec<RunArgError>, Vec<RunArgHost>) {
    let mut out = RunArgs::default();
    let mut errors = Vec::new();
    let mut host = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let start = i;
        let item = items[i].value.as_str();
        i += 1;
        let (flag, inline) = match item.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (item, None),
        };
        // Short flags may carry their value glued on (`-eFOO=1`).
        let (flag, inline) = match (flag, inline) {
            (f, None)
                if f.len() > 2
                    && f.starts_with('-')
                    && !f.starts_with("--")
                    && matches!(&f[..2], "-e" | "-l" | "-m" | "-h" | "-u" | "-w" | "-v") =>
            {
                (&f[..2], Some(f[2..].to_string()))
            }
            other => other,
        };
        let err = |errors: &mut Vec<RunArgError>, message: String, hint: String| {
            errors.push(RunArgError {
                index: start,
                message,
                hint,
                warning: false,
            });
        };
        if !flag.starts_with('-') {
            err(
                &mut errors,
                format!("runArgs: `{item}` is not a flag"),
                "each item of `runArgs` is one argument, e.g. [\"--cap-add\", \"SYS_PTRACE\"] or [\"--cap-add=SYS_PTRACE\"]".into(),
            );
            continue;
        }
        if let Some(why) = host_access::warrens_own_flag(flag) {
            let takes_value = matches!(
                flag,
                "--name" | "-h" | "--hostname" | "--restart" | "-a" | "--attach"
            );
            let shown = match (takes_value && inline.is_none(), items.get(i)) {
                (true, Some(next)) => {
                    i += 1;
                    format!("{item} {}", next.value)
                }
                _ => item.to_string(),
            };
            errors.push(RunArgError {
                index: start,
                message: format!("runArgs: `{shown}` is ignored: {why}"),
                hint: "remove it from `runArgs`".into(),
                warning: true,
            });
            continue;
        }
        if let Some((why, hint)) = refusal(flag) {
            let takes_value = !matches!(
                flag,
                "--rm"
                    | "-d"
                    | "--detach"
                    | "-i"
                    | "--interactive"
                    | "-t"
                    | "--tty"
                    | "-it"
                    | "-ti"
                    | "-P"
                    | "--publish-all"
            );
            let shown = match (takes_value && inline.is_none(), items.get(i)) {
                (true, Some(next)) => {
                    i += 1;
                    format!("{item} {}", next.value)
                }
                _ => item.to_string(),
            };
            err(
                &mut errors,
                format!("runArgs: `{shown}` is not allowed: {why}"),
                hint.to_string(),
            );
            continue;
        }
        let boolean = matches!(flag, "--init" | "--privileged");
        if boolean {
            let on = match inline.as_deref() {
                None | Some("true") => true,
                Some("false") => false,
                Some(other) => {
                    err(
                        &mut errors,
                        format!("runArgs: `{flag}={other}` must be true or false"),
                        format!("write `{flag}`"),
                    );
                    continue;
                }
            };
            if flag == "--init" {
                out.init = on;
            } else {
                out.privileged = on;
                if on {
                    host.push(RunArgHost {
                        index: start,
                        shown: item.to_string(),
                        need: HostAccess::Privileged,
                    });
                }
            }
            continue;
        }
        let known = matches!(
            flag,
            "--cap-add"
                | "--cap-drop"
                | "--security-opt"
                | "-e"
                | "--env"
                | "-l"
                | "--label"
                | "--add-host"
                | "-m"
                | "--memory"
                | "--cpus"
                | "--shm-size"
                | "--ulimit"
                | "--network"
                | "-v"
                | "--volume"
                | "--mount"
                | "--device"
                | "--gpus"
                | "--ipc"
                | "--pid"
                | "--uts"
                | "--net"
                | "-u"
                | "--user"
                | "-w"
                | "--workdir"
                | "--platform"
        );
        if !known {
            // Its value, if the next item looks like one, belongs to it.
            if inline.is_none() && items.get(i).is_some_and(|n| !n.value.starts_with('-')) {
                i += 1;
            }
            err(
                &mut errors,
                format!("runArgs: `{flag}` is not supported by warren"),
                format!("supported flags: {}", SUPPORTED_RUN_ARGS.join(", ")),
            );
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => match items.get(i) {
                Some(next) => {
                    i += 1;
                    next.value.clone()
                }
                None => {
                    err(
                        &mut errors,
                        format!("runArgs: `{flag}` needs a value"),
                        format!("add the value as the next item, or write `{flag}=VALUE`"),
                    );
                    continue;
                }
            },
        };
        let mut bad = |what: &str, example: &str| {
            errors.push(RunArgError {
                index: start,
                message: format!("runArgs: `{flag} {value}`: {what}"),
                hint: format!("e.g. `{flag}={example}`"),
                warning: false,
            });
        };
        let shown = format!("{flag} {value}");
        let need = |host: &mut Vec<RunArgHost>, c: Class| {
            if let Class::HostAccess(need) = c {
                host.push(RunArgHost {
                    index: start,
                    shown: shown.clone(),
                    need,
                });
            }
        };
        match flag {
            "--cap-add" => {
                need(&mut host, host_access::classify_capability(&value));
                out.cap_add.push(value)
            }
            "--security-opt" => {
                need(&mut host, host_access::classify_security_opt(&value));
                out.security_opt.push(value)
            }
            "-v" | "--volume" | "--mount" => {
                let parsed = if flag == "--mount" {
                    Mount::parse_long(&value)
                } else {
                    Mount::parse_short(&value)
                };
                match parsed {
                    Ok(m) => {
                        if m.kind == MountKind::Bind {
                            need(
                                &mut host,
                                host_access::classify_mount(&host_access::MountRequest::from(&m)),
                            );
                        }
                        out.mounts.push(m);
                    }
                    Err(msg) => errors.push(RunArgError {
                        index: start,
                        message: format!("runArgs: `{flag} {value}`: {msg}"),
                        hint: "e.g. `-v cache:/go/pkg` (a named volume) or `--mount type=volume,source=cache,target=/go/pkg`".into(),
                        warning: false,
                    }),
                }
            }
            "--device" => {
                need(&mut host, host_access::classify_device(&value));
                out.devices.push(value);
            }
            "--gpus" => {
                need(&mut host, Class::HostAccess(HostAccess::Gpus(value.clone())));
                out.gpus = Some(value);
            }
            "--ipc" | "--pid" | "--uts" => {
                let ns = match flag {
                    "--ipc" => Namespace::Ipc,
                    "--pid" => Namespace::Pid,
                    _ => Namespace::Uts,
                };
                let ok = match ns {
                    Namespace::Ipc => matches!(value.as_str(), "host" | "private" | "shareable" | "none"),
                    _ => matches!(value.as_str(), "host" | "private" | ""),
                };
                if !ok {
                    errors.push(RunArgError {
                        index: start,
                        message: format!("runArgs: `{flag} {value}` is not supported: warren does not join other containers' namespaces"),
                        hint: format!("use `{flag}=host` (with `host_access: {{{}: host}}`) or remove it", ns.as_str()),
                        warning: false,
                    });
                    continue;
                }
                need(&mut host, host_access::classify_namespace(ns, &value));
                let slot = match ns {
                    Namespace::Ipc => &mut out.ipc,
                    Namespace::Pid => &mut out.pid,
                    _ => &mut out.uts,
                };
                *slot = Some(value);
            }
            "--cap-drop" => out.cap_drop.push(value),
            "-e" | "--env" => match value.split_once('=') {
                Some((k, v)) if !k.is_empty() => out.env.insert(k, v.to_string()),
                Some(_) => bad("the variable name is empty", "NAME=value"),
                None => {
                    if let Some(v) = host_env(&value) {
                        out.env.insert(value.clone(), v);
                    }
                }
            },
            "-l" | "--label" => match value.split_once('=') {
                Some((k, v)) => out.labels.insert(k, v.to_string()),
                None => out.labels.insert(value.clone(), String::new()),
            },
            "--add-host" => {
                let ok = value.split_once([':', '=']).is_some_and(|(h, ip)| {
                    !h.is_empty()
                        && (ip == "host-gateway" || ip.parse::<std::net::IpAddr>().is_ok())
                });
                if ok {
                    out.add_hosts.push(value);
                } else {
                    bad("expected NAME:IP", "db:10.0.0.2");
                }
            }
            "-m" | "--memory" => {
                if valid_size(&value) {
                    out.memory = Some(value);
                } else {
                    bad("not a memory size", "4g");
                }
            }
            "--shm-size" => {
                if valid_size(&value) {
                    out.shm_size = Some(value);
                } else {
                    bad("not a size", "1g");
                }
            }
            "--cpus" => {
                if value.parse::<f64>().is_ok_and(|c| c > 0.0) {
                    out.cpus = Some(value);
                } else {
                    bad("not a number of CPUs", "2");
                }
            }
            "--ulimit" => {
                let ok = value.split_once('=').is_some_and(|(name, limits)| {
                    !name.is_empty()
                        && limits
                            .split(':')
                            .all(|l| l == "-1" || l.parse::<u64>().is_ok())
                });
                if ok {
                    out.ulimits.push(value);
                } else {
                    bad("expected NAME=SOFT[:HARD]", "nofile=1024:2048");
                }
            }
            "--network" | "--net" => match value.as_str() {
                "host" => {
                    need(
                        &mut host,
                        host_access::classify_namespace(Namespace::Network, "host"),
                    );
                    out.network = Some(RunNetwork::Host)
                }
                "none" => out.network = Some(RunNetwork::None),
                "bridge" | "default" => out.network = Some(RunNetwork::Bridge),
                _ => errors.push(RunArgError {
                    index: start,
                    message: format!("runArgs: `--network {value}` is not supported"),
                    hint: "use `--network host`, `--network none` or `--network bridge`".into(),
                    warning: false,
                }),
            },
            "-u" | "--user" => out.user = Some(value),
            "-w" | "--workdir" => out.workdir = Some(value),
            // Like `build.options`: accepted with a warning, not applied. The
            // engine picks the image's variant for its own platform; a
            // foreign one needs emulation warren does not set up.
            "--platform" => errors.push(RunArgError {
                index: start,
                message: format!(
                    "runArgs: `--platform {value}` is ignored: warren creates the container for the engine's own platform"
                ),
                hint: "remove it; to run another platform, pull or build an image for it and name it in `image`".into(),
                warning: true,
            }),
            _ => {}
        }
    }
    (out, errors, host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Span;

    fn parse(args: &[&str]) -> (RunArgs, Vec<(usize, String)>) {
        let (r, errs, _) = parse_host(args);
        (r, errs)
    }

    /// (index, message or opt-in line) pairs.
    type Indexed = Vec<(usize, String)>;

    fn parse_host(args: &[&str]) -> (RunArgs, Indexed, Indexed) {
        let items: Vec<_> = args
            .iter()
            .map(|a| Spanned::new(a.to_string(), Span::default()))
            .collect();
        let env = |k: &str| (k == "FROM_HOST").then(|| "hostval".to_string());
        let (r, errs, host) = parse_run_args(&items, &env);
        (
            r,
            errs.into_iter().map(|e| (e.index, e.message)).collect(),
            host.into_iter()
                .map(|h| (h.index, h.need.opt_in_line()))
                .collect(),
        )
    }

    #[test]
    fn supported_subset() {
        let (r, errs) = parse(&[
            "--cap-add=SYS_PTRACE",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop=ALL",
            "--security-opt",
            "seccomp=unconfined",
            "-e",
            "A=1",
            "--env=B=2=3",
            "-eC=4",
            "-e",
            "FROM_HOST",
            "-e",
            "MISSING",
            "--label",
            "x=y",
            "-l",
            "flag",
            "--add-host=db:10.0.0.2",
            "--add-host",
            "gw:host-gateway",
            "--memory=4g",
            "-m",
            "512m",
            "--cpus",
            "1.5",
            "--shm-size=1g",
            "--ulimit",
            "nofile=1024:2048",
            "--network=host",
            "--init",
            "--privileged",
            "-u",
            "node",
            "--workdir",
            "/src",
        ]);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(r.cap_add, ["SYS_PTRACE", "NET_ADMIN"]);
        assert_eq!(r.cap_drop, ["ALL"]);
        assert_eq!(r.security_opt, ["seccomp=unconfined"]);
        let env: Vec<_> = r.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(env, ["A=1", "B=2=3", "C=4", "FROM_HOST=hostval"]);
        assert_eq!(r.labels.get("x").map(String::as_str), Some("y"));
        assert_eq!(r.labels.get("flag").map(String::as_str), Some(""));
        assert_eq!(r.add_hosts, ["db:10.0.0.2", "gw:host-gateway"]);
        assert_eq!(r.memory.as_deref(), Some("512m"));
        assert_eq!(r.cpus.as_deref(), Some("1.5"));
        assert_eq!(r.shm_size.as_deref(), Some("1g"));
        assert_eq!(r.ulimits, ["nofile=1024:2048"]);
        assert_eq!(r.network, Some(RunNetwork::Host));
        assert!(r.init && r.privileged);
        assert_eq!(r.user.as_deref(), Some("node"));
        assert_eq!(r.workdir.as_deref(), Some("/src"));
    }

    #[test]
    fn host_access_flags_parse_and_name_their_opt_in() {
        let (r, errs, host) = parse_host(&[
            "--gpus",
            "all",
            "--ipc=host",
            "--volume=/tmp/.X11-unix:/tmp/.X11-unix",
            "-v",
            "keda-gomodcache:/go/pkg",
            "--mount",
            "type=volume,source=cache,target=/c",
            "--device",
            "/dev/kvm",
            "--pid",
            "private",
            "--cap-add=CHOWN",
            "--cap-add=SYS_PTRACE",
            "--security-opt",
            "seccomp=unconfined",
            "--privileged",
            "--network",
            "host",
        ]);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(r.gpus.as_deref(), Some("all"));
        assert_eq!(r.ipc.as_deref(), Some("host"));
        assert_eq!(r.pid.as_deref(), Some("private"));
        assert_eq!(r.devices, ["/dev/kvm"]);
        let kinds: Vec<_> = r.mounts.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [MountKind::Bind, MountKind::Volume, MountKind::Volume]
        );
        assert_eq!(
            host,
            [
                (0, "host_access: {gpus: all}".to_string()),
                (2, "host_access: {ipc: host}".into()),
                (3, "host_access: {mounts: [\"/tmp/.X11-unix\"]}".into()),
                (8, "host_access: {devices: [\"/dev/kvm\"]}".into()),
                (13, "host_access: {capabilities: [SYS_PTRACE]}".into()),
                (
                    14,
                    "host_access: {security_opt: [\"seccomp=unconfined\"]}".into()
                ),
                (16, "host_access: {privileged: true}".into()),
                (17, "host_access: {network: host}".into()),
            ]
        );
    }

    #[test]
    fn warrens_own_flags_are_ignored_with_a_warning() {
        let items: Vec<_> = ["--name", "devc", "--hostname=box", "--rm", "-it", "--init"]
            .iter()
            .map(|a| Spanned::new(a.to_string(), Span::default()))
            .collect();
        let (r, errs, host) = parse_run_args(&items, &|_| None);
        assert!(r.init && r.hostname.is_none() && host.is_empty());
        let got: Vec<_> = errs.iter().map(|e| (e.index, e.warning)).collect();
        assert_eq!(got, [(0, true), (2, true), (3, true), (4, true)]);
        assert_eq!(
            errs[0].message,
            "runArgs: `--name devc` is ignored: warren names containers itself (`warren run --name NAME` names the environment)"
        );
    }

    #[test]
    fn refused_flags_say_why() {
        let (_, errs) = parse(&[
            "--pid=container:x",
            "--userns",
            "host",
            "--device-cgroup-rule=a",
            "--network=container:x",
            "--foo",
            "-p",
            "80:80",
            "--memory=lots",
            "--cpus",
        ]);
        let msgs: Vec<_> = errs.iter().map(|(i, m)| format!("{i} {m}")).collect();
        assert_eq!(
            msgs,
            [
                "0 runArgs: `--pid container:x` is not supported: warren does not join other containers' namespaces",
                "1 runArgs: `--userns host` is not allowed: it changes the container's namespaces; sharing the host's breaks the environment's isolation",
                "3 runArgs: `--device-cgroup-rule=a` is not allowed: it changes the container's device rules past warren's checks",
                "4 runArgs: `--network container:x` is not supported",
                "5 runArgs: `--foo` is not supported by warren",
                "6 runArgs: `-p 80:80` is not allowed: warren publishes ports itself (on 127.0.0.1, routed by name)",
                "8 runArgs: `--memory lots`: not a memory size",
                "9 runArgs: `--cpus` needs a value",
            ]
        );
    }

    #[test]
    fn platform_is_ignored_with_a_warning_not_refused() {
        let items: Vec<_> = [
            "--platform",
            "linux/amd64",
            "--platform=linux/arm64",
            "--init",
        ]
        .iter()
        .map(|a| Spanned::new(a.to_string(), Span::default()))
        .collect();
        let (r, errs, _) = parse_run_args(&items, &|_| None);
        assert!(r.init, "the flags after it still parse");
        let got: Vec<_> = errs.iter().map(|e| (e.index, e.warning)).collect();
        assert_eq!(got, [(0, true), (2, true)]);
        assert!(
            errs[0]
                .message
                .contains("`--platform linux/amd64` is ignored")
        );
    }
}
