//! The registry of running sandbox instances of one environment: one file per
//! instance, `<state_dir>/run-<pid>.json` (beside the state dir's other files rather
//! than in a directory of its own, which every environment would make and free), naming the host pid of the instance's pid 1 and
//! its start time (so a recycled pid is never mistaken for it). Killing that pid 1 makes
//! the kernel kill every process of its pid namespace, which is how `stop_all` ends
//! everything an environment started, double-forked daemons included.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Layer, SandboxError};

/// One running sandbox instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Host pid of the instance's pid 1.
    pub pid: i32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
    /// The command it runs.
    pub argv: Vec<String>,
    /// Set once the sandbox is set up: its filesystem view (the plan, as text), so that
    /// a later sandbox of the environment with the same view joins its mount namespace
    /// (one overlay of the worktree for every command that runs at the same time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// The overlay work dir that view uses (every sandbox on it holds a shared lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<PathBuf>,
    /// The environment's keeper (`linux/keeper.rs`), whose namespaces every later
    /// command joins.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keeper: bool,
}

const PREFIX: &str = "run-";
const SUFFIX: &str = ".json";

fn record(state_dir: &Path, pid: i32) -> PathBuf {
    state_dir.join(format!("{PREFIX}{pid}{SUFFIX}"))
}

/// Records an instance; returns the file to remove when it ends.
pub(crate) fn register(state_dir: &Path, instance: &Instance) -> Result<PathBuf, SandboxError> {
    let path = record(state_dir, instance.pid);
    let json = serde_json::to_vec(instance)
        .map_err(|e| SandboxError::sys(Layer::State, "encoding instance", e))?;
    fs::write(&path, json)
        .map_err(|e| SandboxError::sys(Layer::State, format!("writing `{}`", path.display()), e))?;
    Ok(path)
}

/// Rewrites an instance's record (once it is set up), atomically: a reader never sees
/// half of one (`list` removes records it cannot parse).
pub(crate) fn update(path: &Path, instance: &Instance) -> Result<(), SandboxError> {
    let json = serde_json::to_vec(instance)
        .map_err(|e| SandboxError::sys(Layer::State, "encoding instance", e))?;
    let tmp = path.with_file_name(format!(".{PREFIX}{}.tmp", instance.pid));
    fs::write(&tmp, json)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| SandboxError::sys(Layer::State, format!("writing `{}`", path.display()), e))
}

/// Start time of `pid` (field 22 of `/proc/<pid>/stat`), if it exists.
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: skip past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// Whether `pid` has exited and waits to be reaped (`Z`), or is being torn down (`X`).
fn exited(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 2..i + 3))
        .unwrap_or("");
    matches!(state, "Z" | "X")
}

/// The instance's pid 1 still runs. A zombie does not: when the pid 1 of a
/// namespace has exited, the kernel has already ended every process in it, and
/// whoever reaps the zombie (the outer keeper; after it, an init that may reap
/// late) decides nothing. Waiting for the reaping cost every `stop` its whole
/// grace period on a machine whose init reaps orphans once a second.
fn alive(instance: &Instance) -> bool {
    start_time(instance.pid) == Some(instance.start_time) && !exited(instance.pid)
}

/// Running instances of the environment whose state dir is `state_dir`; stale entries
/// (the process is gone or the pid was reused) are removed as a side effect.
pub fn list(state_dir: &Path) -> Vec<Instance> {
    let Ok(entries) = fs::read_dir(state_dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        // Only records: the state dir holds the environment's other files too, and
        // `.run-<pid>.tmp` is a record being rewritten.
        let name = entry.file_name();
        let name = name.as_encoded_bytes();
        if !(name.starts_with(PREFIX.as_bytes()) && name.ends_with(SUFFIX.as_bytes())) {
            continue;
        }
        let path = entry.path();
        let parsed: Option<Instance> = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match parsed {
            Some(inst) if alive(&inst) => out.push(inst),
            _ => {
                let _ = fs::remove_file(&path);
            }
        }
    }
    out.sort_by_key(|i| i.pid);
    out
}

/// Whether any sandboxed process of the environment runs.
pub fn is_running(state_dir: &Path) -> bool {
    !list(state_dir).is_empty()
}

/// Ends every process of the environment: SIGTERM to each instance's command (pid 1
/// forwards it), then, after `grace`, SIGKILL to each pid 1, which takes its whole pid
/// namespace down. Returns how many instances were running.
pub fn stop_all(state_dir: &Path, grace: Duration) -> Result<usize, SandboxError> {
    let instances = list(state_dir);
    for inst in &instances {
        signal_instance(inst, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while instances.iter().any(alive) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for inst in instances.iter().filter(|i| alive(i)) {
        signal_instance(inst, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while instances.iter().any(alive) {
        if Instant::now() > deadline {
            let left: Vec<String> = instances
                .iter()
                .filter(|i| alive(i))
                .map(|i| i.pid.to_string())
                .collect();
            return Err(SandboxError::layer(
                Layer::State,
                format!(
                    "sandbox instances still alive after SIGKILL: {}",
                    left.join(", ")
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for inst in &instances {
        let _ = fs::remove_file(record(state_dir, inst.pid));
    }
    // Briefly: helpers may still be exiting; a busy cgroup is reused, or removed with
    // the environment.
    #[cfg(target_os = "linux")]
    crate::linux::cgroup::remove(state_dir, Duration::from_millis(300));
    Ok(instances.len())
}

#[cfg(target_os = "linux")]
fn signal_instance(inst: &Instance, sig: i32) {
    use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
    // Open a pidfd first, then check the start time: if it still matches, the pidfd
    // refers to our pid 1 and not to a process that reused its pid.
    let Some(pid) = Pid::from_raw(inst.pid) else {
        return;
    };
    let Ok(fd) = pidfd_open(pid, PidfdFlags::empty()) else {
        return;
    };
    if !alive(inst) {
        return;
    }
    if let Some(sig) = Signal::from_named_raw(sig) {
        let _ = pidfd_send_signal(&fd, sig);
    }
}

#[cfg(not(target_os = "linux"))]
fn signal_instance(_inst: &Instance, _sig: i32) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid 1 that has exited counts as ended at once, reaped or not: `stop`
    /// does not wait its grace period for whoever reaps it.
    #[test]
    fn an_exited_process_is_not_alive_before_it_is_reaped() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let inst = Instance {
            pid,
            start_time: start_time(pid).unwrap(),
            argv: Vec::new(),
            view: None,
            work_dir: None,
            keeper: false,
        };
        assert!(alive(&inst), "running");
        let other = Instance {
            start_time: inst.start_time + 1,
            ..inst.clone()
        };
        assert!(!alive(&other), "another start time is another process");
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::Signal::KILL,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !exited(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            fs::read_to_string(format!("/proc/{pid}/stat")).is_ok(),
            "not reaped yet: a zombie"
        );
        assert!(!alive(&inst), "a zombie is not alive");
        child.wait().unwrap();
        assert!(!alive(&inst), "nor a reaped process");
    }
}
