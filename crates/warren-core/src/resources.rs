//! [`Resources`]: the limits of one environment (`resources:` in `.warren.yaml`),
//! shared by the config that resolves them and the runtimes that enforce them
//! (Docker's HostConfig, the sandbox's cgroup and tmpfs sizes), plus the
//! parsers for their units.

use serde::{Deserialize, Serialize};

/// `pids` when nothing sets it: plenty for builds and test runners, and a
/// fork bomb stops there instead of at the host's `pid_max`.
pub const DEFAULT_PIDS: u64 = 4096;
/// `tmp_size` when nothing sets it (caps `/dev/shm` and tmpfs `/tmp`).
pub const DEFAULT_TMP_SIZE: u64 = 1 << 30;
/// The most the default `memory` ever is; on a smaller machine it is half of
/// its memory, so one environment cannot take the host down.
pub const DEFAULT_MEMORY_CAP: u64 = 8 << 30;

/// Limits of one environment. `None` means "no limit" for that resource;
/// [`Resources::default`] limits nothing (policies stored before limits
/// existed, tests), [`Resources::defaults_for`] is what an unconfigured
/// environment gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Memory in bytes, swap included (no swap beyond it).
    #[serde(default)]
    pub memory: Option<u64>,
    /// CPU time in thousandths of a CPU (`cpus: 1.5` is 1500).
    #[serde(default)]
    pub millicpus: Option<u64>,
    /// Processes and threads.
    #[serde(default)]
    pub pids: Option<u64>,
    /// Size of each tmpfs the environment writes (`/dev/shm`, a tmpfs `/tmp`).
    #[serde(default)]
    pub tmp_size: Option<u64>,
    /// Whether a runtime that cannot apply a limit must refuse to run
    /// (`true`, the default) or run without it (`enforce: false`).
    #[serde(default = "yes")]
    pub enforce: bool,
}

fn yes() -> bool {
    true
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            memory: None,
            millicpus: None,
            pids: None,
            tmp_size: None,
            enforce: true,
        }
    }
}

impl Resources {
    /// The defaults of an environment on a machine with `host_memory` bytes
    /// of RAM (unknown: the cap): memory min(8 GiB, half of RAM), 4096 pids,
    /// 1 GiB tmpfs, every CPU.
    pub fn defaults_for(host_memory: Option<u64>) -> Resources {
        let memory = host_memory
            .map(|m| (m / 2).min(DEFAULT_MEMORY_CAP))
            .unwrap_or(DEFAULT_MEMORY_CAP);
        Resources {
            memory: Some(memory),
            millicpus: None,
            pids: Some(DEFAULT_PIDS),
            tmp_size: Some(DEFAULT_TMP_SIZE),
            enforce: true,
        }
    }

    /// Whether any cgroup limit (memory, cpu, pids) is set.
    pub fn has_cgroup_limits(&self) -> bool {
        self.memory.is_some() || self.millicpus.is_some() || self.pids.is_some()
    }
}

/// Total RAM of this machine (`sysinfo(2)`), if the kernel says.
pub fn host_memory() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysinfo only writes into the struct we pass.
        let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to a sysinfo struct.
        if unsafe { libc::sysinfo(&mut info) } != 0 {
            return None;
        }
        (info.totalram as u64).checked_mul(u64::from(info.mem_unit))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The accepted forms of a size, for messages.
pub const SIZE_FORMS: &str =
    "bytes (`1073741824`) or a number with k, m, g or t (`512m`, `4g`, `1.5g`)";

/// Parses a size: a whole number of bytes, or a number with a binary unit
/// `k`, `m`, `g`, `t` (optionally followed by `b`/`ib`, any case): `512m`,
/// `4g`, `1.5GiB`. Zero and negative sizes are refused.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let (num, shift) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 10),
        Some('m') => (&t[..t.len() - 1], 20),
        Some('g') => (&t[..t.len() - 1], 30),
        Some('t') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let bad = || format!("`{text}` is not a size");
    let value: f64 = num.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("`{text}` is not a positive size"));
    }
    let bytes = value * (1u64 << shift) as f64;
    if bytes >= u64::MAX as f64 {
        return Err(format!("`{text}` is too large"));
    }
    Ok((bytes as u64).max(1))
}

/// Parses a number of CPUs (`2`, `0.5`) into thousandths of a CPU; at least
/// one thousandth.
pub fn parse_cpus(text: &str) -> Result<u64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of CPUs"))?;
    if !value.is_finite() || value <= 0.0 || value > 1_000_000.0 {
        return Err(format!("`{text}` is not a positive number of CPUs"));
    }
    Ok(((value * 1000.0).round() as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("4g"), Ok(4 << 30));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("-1g").is_err());
        assert!(parse_size("4x").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("2"), Ok(2000));
        assert_eq!(parse_cpus("0.5"), Ok(500));
        assert_eq!(parse_cpus("0.0001"), Ok(1));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("-1").is_err());
        assert!(parse_cpus("two").is_err());
    }

    #[test]
    fn defaults_follow_the_host() {
        let small = Resources::defaults_for(Some(4 << 30));
        assert_eq!(small.memory, Some(2 << 30));
        let big = Resources::defaults_for(Some(64 << 30));
        assert_eq!(big.memory, Some(DEFAULT_MEMORY_CAP));
        assert_eq!(big.pids, Some(4096));
        assert_eq!(big.tmp_size, Some(1 << 30));
        assert_eq!(big.millicpus, None);
        assert!(big.enforce && big.has_cgroup_limits());
        assert!(!Resources::default().has_cgroup_limits());
        assert!(host_memory().is_some_and(|m| m > 0));
    }

    #[test]
    fn old_json_without_enforce_enforces() {
        let r: Resources = serde_json::from_str(r#"{"memory": 1}"#).unwrap();
        assert!(r.enforce);
    }
}
