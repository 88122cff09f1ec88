//! The environment's cgroup: its memory (no swap beyond it), CPU and pids limits,
//! shared by every command of the environment. The helper moves itself in before it
//! forks the sandbox's pid 1, so pid 1 and everything it forks are born inside (a move
//! after the fork would race with the command's first forks).
//!
//! Where: `<own cgroup>/warren/<name>-<hash>`, under the cgroup the caller already runs
//! in, so the limits of whoever runs warren (a systemd slice, a CI job) still apply
//! above ours. cgroup v2 when the unified hierarchy has the controllers (one directory,
//! controllers enabled in each parent's `cgroup.subtree_control`), else v1 (one
//! directory in each of the memory, pids and cpu hierarchies). The directories used are
//! recorded in the state dir (`cgroup.json`) and removed once nothing of the environment
//! runs ([`remove`]).
//!
//! Fails closed: when a limit is set and cannot be applied, the command does not run
//! (unless `resources.enforce` is false).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use warren_core::Resources;

use crate::error::{Layer, SandboxError};
use crate::policy::Policy;
use crate::probe_types::LayerStatus;

/// Directory of warren's cgroups under the caller's own.
const WARREN: &str = "warren";
/// In a delegated v2 cgroup that holds processes (a `systemd-run --scope`), they move
/// here so that controllers can be enabled for the children (v2 allows processes only
/// in leaves).
const LEAF: &str = "leaf";
/// The record of the directories an environment's cgroup uses, in its state dir.
const RECORD: &str = "cgroup.json";
/// CFS period: 100 ms, the kernel's default (quota is CPUs × period).
const CPU_PERIOD_US: u64 = 100_000;

const HINT: &str = "run warren as root, or in a cgroup delegated to you (`systemd-run --user --scope -p Delegate=yes warren …`), or set `resources: {enforce: false}` in .warren.yaml to run without these limits";

/// Which cgroup hierarchy holds the controllers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// The unified hierarchy: the caller's cgroup directory, whose
    /// `cgroup.controllers` offers every controller needed.
    V2 { base: PathBuf },
    /// Legacy hierarchies: the caller's cgroup directory in each, with its controllers.
    V1 {
        hierarchies: Vec<(Vec<String>, PathBuf)>,
    },
}

impl Host {
    fn version(&self) -> &'static str {
        match self {
            Host::V2 { .. } => "v2",
            Host::V1 { .. } => "v1",
        }
    }
}

/// The controllers `resources` needs.
fn needed(r: &Resources) -> Vec<&'static str> {
    let mut out = Vec::new();
    if r.memory.is_some() {
        out.push("memory");
    }
    if r.pids.is_some() {
        out.push("pids");
    }
    if r.millicpus.is_some() {
        out.push("cpu");
    }
    out
}

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::sys(Layer::Cgroup, what, e).with_hint(HINT)
}

/// Reads `/proc/self/mountinfo` and `/proc/self/cgroup` and finds where `controllers`
/// live for this process.
pub(crate) fn detect(controllers: &[&str]) -> Result<Host, SandboxError> {
    let read = |p: &str| fs::read_to_string(p).map_err(|e| err(format!("reading `{p}`"), e));
    let mountinfo = read("/proc/self/mountinfo")?;
    let own = read("/proc/self/cgroup")?;
    detect_from(&mountinfo, &own, controllers, &|p| {
        fs::read_to_string(p).unwrap_or_default()
    })
}

/// [`detect`] over the given file contents (`read` reads a v2 `cgroup.controllers`).
fn detect_from(
    mountinfo: &str,
    own: &str,
    controllers: &[&str],
    read: &dyn Fn(&Path) -> String,
) -> Result<Host, SandboxError> {
    let mounts: Vec<Mount> = mountinfo.lines().filter_map(Mount::parse).collect();
    // `id:controllers:path`; the v2 line is `0::path`.
    let own: Vec<(&str, &str)> = own
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            Some((it.next()?, it.next()?))
        })
        .collect();
    let mut v2_detail = String::from("no cgroup2 hierarchy is mounted");
    if let Some(m) = mounts.iter().find(|m| m.fstype == "cgroup2")
        && let Some((_, path)) = own.iter().find(|(c, _)| c.is_empty())
        && let Some(base) = m.dir_of(path)
    {
        let available = read(&base.join("cgroup.controllers"));
        let available: Vec<&str> = available.split_whitespace().collect();
        let missing: Vec<&str> = controllers
            .iter()
            .copied()
            .filter(|c| !available.contains(c))
            .collect();
        if missing.is_empty() {
            return Ok(Host::V2 { base });
        }
        v2_detail = format!(
            "the cgroup2 hierarchy at `{}` lacks {}",
            m.point.display(),
            missing.join(", ")
        );
    }
    let mut hierarchies: Vec<(Vec<String>, PathBuf)> = Vec::new();
    let mut missing = Vec::new();
    for c in controllers {
        let found = mounts
            .iter()
            .filter(|m| m.fstype == "cgroup" && m.options.iter().any(|o| o == c))
            .find_map(|m| {
                let (_, path) = own
                    .iter()
                    .find(|(list, _)| list.split(',').any(|x| x == *c))?;
                m.dir_of(path)
            });
        match found {
            Some(dir) => match hierarchies.iter_mut().find(|(_, d)| *d == dir) {
                Some((list, _)) => list.push((*c).to_string()),
                None => hierarchies.push((vec![(*c).to_string()], dir)),
            },
            None => missing.push(*c),
        }
    }
    if missing.is_empty() {
        return Ok(Host::V1 { hierarchies });
    }
    Err(SandboxError::layer(
        Layer::Cgroup,
        format!(
            "no cgroup hierarchy offers {} ({v2_detail}; no cgroup v1 hierarchy has {})",
            controllers.join(", "),
            missing.join(", ")
        ),
    )
    .with_hint(
        "enable the memory, pids and cpu controllers (cgroup v2, or v1 hierarchies), or set `resources: {enforce: false}` in .warren.yaml to run without these limits",
    ))
}

/// One line of `/proc/self/mountinfo`, the parts that matter here.
struct Mount {
    /// The mount's root within its filesystem (a cgroup path).
    root: String,
    point: PathBuf,
    fstype: String,
    /// Super options (v1: the controllers).
    options: Vec<String>,
}

impl Mount {
    fn parse(line: &str) -> Option<Mount> {
        let (left, right) = line.split_once(" - ")?;
        let left: Vec<&str> = left.split(' ').collect();
        let mut right = right.split(' ');
        let fstype = right.next()?.to_string();
        let _source = right.next()?;
        let options = right.next()?.split(',').map(str::to_string).collect();
        Some(Mount {
            root: unescape(left.get(3)?),
            point: PathBuf::from(unescape(left.get(4)?)),
            fstype,
            options,
        })
    }

    /// Where the cgroup `path` (from `/proc/self/cgroup`) is under this mount.
    fn dir_of(&self, path: &str) -> Option<PathBuf> {
        let rel = if self.root == "/" {
            path
        } else {
            path.strip_prefix(self.root.as_str())?
        };
        let rel = rel.trim_start_matches('/');
        if rel.split('/').any(|c| c == "..") {
            return None;
        }
        Some(if rel.is_empty() {
            self.point.clone()
        } else {
            self.point.join(rel)
        })
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && let Some(digits) = b.get(i + 1..i + 4)
            && digits.iter().all(|d| (b'0'..=b'7').contains(d))
        {
            let v = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
            out.push(v as u8);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The environment's cgroup name: its name and a hash of its state dir, so that two
/// warren roots (or projects) with an environment of the same name never share one.
fn leaf_name(policy: &Policy) -> String {
    let key = policy.state_dir.as_deref().unwrap_or(&policy.worktree);
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}-{:08x}", policy.name, h as u32)
}

/// Creates (or reuses) the environment's cgroup with the policy's limits and moves the
/// calling process into it. Nothing to do without cgroup limits; with
/// `enforce: false`, a cgroup that cannot be set up is skipped.
pub(crate) fn enter(policy: &Policy) -> Result<(), SandboxError> {
    if policy.fail_layer == Some(Layer::Cgroup) {
        return Err(SandboxError::layer(
            Layer::Cgroup,
            "failure forced by the policy's test hook",
        ));
    }
    let r = &policy.resources;
    if !r.has_cgroup_limits() {
        return Ok(());
    }
    match setup(policy).and_then(|dirs| add(&dirs, std::process::id())) {
        Err(_) if !r.enforce => Ok(()),
        other => other,
    }
}

/// Creates the cgroup directories, records them (so that they are removed with the
/// environment, also when a limit cannot be written), writes the limits; returns them.
fn setup(policy: &Policy) -> Result<Vec<PathBuf>, SandboxError> {
    let r = &policy.resources;
    let controllers = needed(r);
    let host = detect(&controllers)?;
    let name = leaf_name(policy);
    let dirs: Vec<PathBuf> = match &host {
        Host::V2 { base } => vec![base.join(WARREN).join(&name)],
        Host::V1 { hierarchies } => hierarchies
            .iter()
            .map(|(_, base)| base.join(WARREN).join(&name))
            .collect(),
    };
    if let Host::V2 { base } = &host {
        enable_v2(base, &controllers)?;
    }
    for dir in &dirs {
        if let Some(parent) = dir.parent() {
            mkdir(parent)?;
        }
        mkdir(dir)?;
    }
    if let Some(state) = &policy.state_dir {
        record(state, &dirs)?;
    }
    match &host {
        Host::V2 { base } => {
            enable(&base.join(WARREN), &controllers)?;
            for dir in &dirs {
                limits_v2(dir, r)?;
            }
        }
        Host::V1 { hierarchies } => {
            for ((list, _), dir) in hierarchies.iter().zip(&dirs) {
                for c in list {
                    limits_v1(dir, c, r)?;
                }
            }
        }
    }
    Ok(dirs)
}

/// The cgroups this process is in now, for the controllers `policy` limits (empty
/// without limits): where the environment's network daemon goes back to, so that it
/// neither counts against the environment's limits nor dies with it at an OOM.
pub(crate) fn origin(policy: &Policy) -> Vec<PathBuf> {
    let r = &policy.resources;
    if !r.has_cgroup_limits() {
        return Vec::new();
    }
    match detect(&needed(r)) {
        Ok(Host::V2 { base }) => vec![base],
        Ok(Host::V1 { hierarchies }) => hierarchies.into_iter().map(|(_, b)| b).collect(),
        Err(_) => Vec::new(),
    }
}

/// Moves `pid` into each of `dirs`.
pub(crate) fn add(dirs: &[PathBuf], pid: u32) -> Result<(), SandboxError> {
    for dir in dirs {
        write(&dir.join("cgroup.procs"), &pid.to_string())?;
    }
    Ok(())
}

/// Enables `controllers` for `base`'s children. A delegated v2 cgroup that holds
/// processes refuses (`EBUSY`: v2 allows processes only in leaves), so they move into a
/// leaf of their own first.
fn enable_v2(base: &Path, controllers: &[&str]) -> Result<(), SandboxError> {
    match enable_raw(base, controllers) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let leaf = base.join(LEAF);
            mkdir(&leaf)?;
            let procs = base.join("cgroup.procs");
            let pids = fs::read_to_string(&procs)
                .map_err(|e| err(format!("reading `{}`", procs.display()), e))?;
            for pid in pids.lines() {
                // A process that exits meanwhile is no longer in the way.
                let _ = write_raw(&leaf.join("cgroup.procs"), pid);
            }
            enable(base, controllers)
        }
        other => other.map_err(|e| enable_err(base, controllers, e)),
    }
}

/// Enables `controllers` for the children of `dir`.
fn enable(dir: &Path, controllers: &[&str]) -> Result<(), SandboxError> {
    enable_raw(dir, controllers).map_err(|e| enable_err(dir, controllers, e))
}

fn enable_raw(dir: &Path, controllers: &[&str]) -> Result<(), io::Error> {
    let line = controllers
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    write_raw(&dir.join("cgroup.subtree_control"), &line)
}

fn enable_err(dir: &Path, controllers: &[&str], e: io::Error) -> SandboxError {
    let file = dir.join("cgroup.subtree_control");
    err(
        format!(
            "enabling {} in `{}`",
            controllers.join(", "),
            file.display()
        ),
        e,
    )
}

fn limits_v2(dir: &Path, r: &Resources) -> Result<(), SandboxError> {
    if let Some(m) = r.memory {
        write(&dir.join("memory.max"), &m.to_string())?;
        // No swap beyond the limit (absent when the kernel has no swap accounting).
        let swap = dir.join("memory.swap.max");
        if swap.exists() {
            write(&swap, "0")?;
        }
    }
    if let Some(p) = r.pids {
        write(&dir.join("pids.max"), &p.to_string())?;
    }
    if let Some(m) = r.millicpus {
        write(
            &dir.join("cpu.max"),
            &format!("{} {CPU_PERIOD_US}", quota_us(m)),
        )?;
    }
    Ok(())
}

fn limits_v1(dir: &Path, controller: &str, r: &Resources) -> Result<(), SandboxError> {
    match controller {
        "memory" => {
            let Some(m) = r.memory else { return Ok(()) };
            let limit = dir.join("memory.limit_in_bytes");
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            let m = m.to_string();
            // memsw (memory + swap) may never be below the memory limit: when an
            // earlier, lower limit is in place, raise memsw first.
            if write_raw(&limit, &m).is_err() && memsw.exists() {
                write(&memsw, &m)?;
            }
            write(&limit, &m)?;
            if memsw.exists() {
                write(&memsw, &m)?;
            } else {
                // Without swap accounting only swappiness keeps the cgroup off swap.
                let _ = write_raw(&dir.join("memory.swappiness"), "0");
            }
        }
        "pids" => {
            if let Some(p) = r.pids {
                write(&dir.join("pids.max"), &p.to_string())?;
            }
        }
        "cpu" => {
            if let Some(m) = r.millicpus {
                write(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                write(&dir.join("cpu.cfs_quota_us"), &quota_us(m).to_string())?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// CPU time per period for `millicpus` (the kernel's minimum quota is 1 ms).
fn quota_us(millicpus: u64) -> u64 {
    (millicpus.saturating_mul(CPU_PERIOD_US) / 1000).max(1000)
}

fn mkdir(dir: &Path) -> Result<(), SandboxError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(format!("creating `{}`", dir.display()), e)),
    }
}

/// Writes a control file (never creating one: cgroupfs files exist or the controller
/// is missing).
fn write_raw(path: &Path, value: &str) -> Result<(), io::Error> {
    use std::io::Write;
    fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(value.as_bytes())
}

fn write(path: &Path, value: &str) -> Result<(), SandboxError> {
    write_raw(path, value).map_err(|e| err(format!("writing `{value}` to `{}`", path.display()), e))
}

fn record(state_dir: &Path, dirs: &[PathBuf]) -> Result<(), SandboxError> {
    let path = state_dir.join(RECORD);
    let json = serde_json::to_vec(dirs)
        .map_err(|e| SandboxError::sys(Layer::Cgroup, "encoding the cgroup record", e))?;
    let tmp = state_dir.join(format!(".{RECORD}.{}", std::process::id()));
    fs::write(&tmp, json)
        .and_then(|()| fs::rename(&tmp, &path))
        .map_err(|e| SandboxError::sys(Layer::State, format!("writing `{}`", path.display()), e))
}

/// Removes the environment's cgroup directories (recorded in `state_dir`) once their
/// processes are gone, waiting up to `wait` for the last ones to exit. A directory
/// that is still busy stays (the next command of the environment reuses it); only
/// directories named `warren/<…>` are ever removed.
pub(crate) fn remove(state_dir: &Path, wait: Duration) {
    let path = state_dir.join(RECORD);
    let Ok(bytes) = fs::read(&path) else {
        return;
    };
    let dirs: Vec<PathBuf> = serde_json::from_slice(&bytes).unwrap_or_default();
    let deadline = Instant::now() + wait;
    let mut all = true;
    for dir in dirs {
        if dir.parent().and_then(Path::file_name) != Some(std::ffi::OsStr::new(WARREN)) {
            continue;
        }
        loop {
            match fs::remove_dir(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => {
                    all = false;
                    break;
                }
            }
        }
    }
    if all {
        let _ = fs::remove_file(&path);
    }
}

/// What `warren doctor` shows for resource limits.
pub(crate) fn status() -> LayerStatus {
    let all = ["memory", "pids", "cpu"];
    match detect(&all) {
        Err(e) => LayerStatus::no(Layer::Cgroup, reason(&e)),
        Ok(host) => {
            let dirs: Vec<PathBuf> = match &host {
                Host::V2 { base } => vec![base.clone()],
                Host::V1 { hierarchies } => hierarchies.iter().map(|(_, d)| d.clone()).collect(),
            };
            let blocked = dirs
                .iter()
                .find(|d| rustix::fs::access(d.as_path(), rustix::fs::Access::WRITE_OK).is_err());
            match blocked {
                Some(d) => LayerStatus::no(
                    Layer::Cgroup,
                    format!(
                        "cgroup {} (memory, pids, cpu), but `{}` is not writable here ({HINT})",
                        host.version(),
                        d.display()
                    ),
                ),
                None => LayerStatus::yes(
                    Layer::Cgroup,
                    format!(
                        "cgroup {}: memory, pids and cpu limits under `{}`",
                        host.version(),
                        dirs.iter()
                            .map(|d| d.join(WARREN).display().to_string())
                            .collect::<Vec<_>>()
                            .join("`, `")
                    ),
                ),
            }
        }
    }
}

fn reason(e: &SandboxError) -> String {
    match e {
        SandboxError::Layer { reason, hint, .. } => match hint {
            Some(h) => format!("{reason} ({h})"),
            None => reason.clone(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO_V1: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const OWN_V1: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/job/42
1:cpu,cpuacct:/
0::/
";

    #[test]
    fn v1_hierarchies_with_a_co_mounted_cpu_and_an_empty_unified_one() {
        let host = detect_from(MOUNTINFO_V1, OWN_V1, &["memory", "pids", "cpu"], &|_| {
            "hugetlb\n".to_string()
        })
        .unwrap();
        assert_eq!(
            host,
            Host::V1 {
                hierarchies: vec![
                    (
                        vec!["memory".into()],
                        PathBuf::from("/sys/fs/cgroup/memory/job/42")
                    ),
                    (vec!["pids".into()], PathBuf::from("/sys/fs/cgroup/pids")),
                    (
                        vec!["cpu".into()],
                        PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
                    ),
                ]
            }
        );
    }

    #[test]
    fn v2_when_the_unified_hierarchy_has_the_controllers() {
        let mountinfo = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let own = "0::/user.slice/user-1000.slice/session-2.scope\n";
        let host = detect_from(mountinfo, own, &["memory", "pids"], &|p| {
            assert_eq!(
                p,
                Path::new(
                    "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope/cgroup.controllers"
                )
            );
            "cpu memory pids\n".to_string()
        })
        .unwrap();
        assert_eq!(
            host,
            Host::V2 {
                base: PathBuf::from("/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope")
            }
        );
    }

    #[test]
    fn missing_controllers_fail_with_what_is_missing() {
        let mountinfo = "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let err = detect_from(
            mountinfo,
            "4:memory:/\n0::/\n",
            &["memory", "pids"],
            &|_| String::new(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("sandbox_error: cgroup: no cgroup hierarchy offers memory, pids (the cgroup2 hierarchy at `/sys/fs/cgroup/unified` lacks memory, pids; no cgroup v1 hierarchy has pids)"), "{text}");
        assert!(
            warren_core::Hint::hint(&err)
                .unwrap()
                .contains("enforce: false")
        );
    }

    #[test]
    fn a_bind_mounted_hierarchy_maps_paths_below_its_root() {
        let m = Mount::parse(
            "50 40 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory",
        )
        .unwrap();
        assert_eq!(
            m.dir_of("/docker/abc/x"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/x"))
        );
        assert_eq!(m.dir_of("/other"), None);
        assert_eq!(unescape(r"/a\040b"), "/a b");
    }

    #[test]
    fn names_and_quotas() {
        let mut p = Policy::new(
            "env1",
            Path::new("/w/a"),
            Path::new("/s/a"),
            Path::new("/h"),
        );
        let a = leaf_name(&p);
        p.state_dir = Some(PathBuf::from("/s/b"));
        assert_ne!(a, leaf_name(&p));
        assert!(a.starts_with("env1-") && a.len() == "env1-".len() + 8);
        assert_eq!(quota_us(1500), 150_000);
        assert_eq!(quota_us(1), 1000);
        let r = Resources {
            memory: Some(1),
            ..Resources::default()
        };
        assert_eq!(needed(&r), ["memory"]);
    }

    #[test]
    fn v2_setup_in_a_fake_hierarchy_and_removal() {
        // A directory tree standing in for a delegated cgroup2 mount: the control files
        // exist, as the kernel would create them.
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("scope");
        let env = base.join(WARREN).join("e");
        for d in [&base, &base.join(WARREN), &env] {
            fs::create_dir_all(d).unwrap();
            for f in ["cgroup.subtree_control", "cgroup.procs"] {
                fs::write(d.join(f), "").unwrap();
            }
        }
        for f in ["memory.max", "memory.swap.max", "pids.max", "cpu.max"] {
            fs::write(env.join(f), "").unwrap();
        }
        enable_v2(&base, &["memory", "pids", "cpu"]).unwrap();
        assert_eq!(
            fs::read_to_string(base.join("cgroup.subtree_control")).unwrap(),
            "+memory +pids +cpu"
        );
        let r = Resources {
            memory: Some(256 << 20),
            millicpus: Some(500),
            pids: Some(64),
            tmp_size: None,
            enforce: true,
        };
        limits_v2(&env, &r).unwrap();
        let read = |f: &str| fs::read_to_string(env.join(f)).unwrap();
        assert_eq!(read("memory.max"), (256u64 << 20).to_string());
        assert_eq!(read("memory.swap.max"), "0");
        assert_eq!(read("pids.max"), "64");
        assert_eq!(read("cpu.max"), "50000 100000");
        add(std::slice::from_ref(&env), 1234).unwrap();
        assert_eq!(read("cgroup.procs"), "1234");
        // A control file that does not exist is an error naming it, with the hint.
        let e = write(&env.join("nope.max"), "1").unwrap_err();
        assert!(e.to_string().contains("nope.max"), "{e}");
        assert!(
            warren_core::Hint::hint(&e)
                .unwrap()
                .contains("Delegate=yes")
        );

        let state = dir.path().join("state");
        fs::create_dir_all(&state).unwrap();
        let empty = base.join(WARREN).join("gone");
        fs::create_dir(&empty).unwrap();
        record(&state, &[empty.clone(), dir.path().join("not-warren")]).unwrap();
        remove(&state, Duration::from_millis(10));
        assert!(!empty.exists());
        assert!(dir.path().join("scope").exists());
        assert!(!state.join(RECORD).exists());
    }
}
