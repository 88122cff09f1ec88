//! Resource limits (issue 12 item 5): a fork bomb, a memory hog and a `/dev/shm`
//! filler inside a sandbox stop at the environment's limits while the host stays
//! responsive, each bounded in time; the cgroup fails closed and goes with the
//! environment.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use warren_core::Resources;
use warren_sandbox::{Layer, Network, Policy, SandboxError, SandboxStdio, spawn};

use crate::common::{self, Layout, os};

pub const TESTS: &[crate::Test] = &[
    (
        "limits::fork_bomb_stops_at_pids_max",
        fork_bomb_stops_at_pids_max,
    ),
    ("limits::memory_hog_is_oom_killed", memory_hog_is_oom_killed),
    ("limits::tmpfs_fillers_get_enospc", tmpfs_fillers_get_enospc),
    ("limits::cgroup_fails_closed", cgroup_fails_closed),
];

const MIB: u64 = 1 << 20;

/// Removes the environment (its cgroup included) also when the test fails.
struct Removed(Policy);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = warren_sandbox::stop_all(
            self.0.state_dir.as_deref().unwrap(),
            Duration::from_millis(100),
        );
        let _ = warren_sandbox::remove_env(&self.0);
    }
}

fn limited(layout: &Layout, r: Resources) -> Policy {
    let mut policy = layout.policy(Network::None, &[]);
    policy.resources = r;
    policy
}

/// Whether cgroup limits can be set here. Under CI their absence is a failure (the
/// limits would go untested), elsewhere a skip.
fn cgroups_available() -> bool {
    let status = warren_sandbox::probe()
        .into_iter()
        .find(|s| s.layer == Layer::Cgroup)
        .expect("probe reports the cgroup layer");
    eprintln!("cgroup: {} {}", status.available, status.detail);
    if !status.available {
        assert!(
            std::env::var_os("CI").is_none(),
            "cgroup limits are not available under CI: {}",
            status.detail
        );
        eprintln!("skipped: cgroup limits are not available here");
    }
    status.available
}

/// The environment's cgroup directories, as recorded in its state dir.
fn cgroup_dirs(layout: &Layout) -> Vec<PathBuf> {
    let bytes = std::fs::read(layout.env_dir.join("cgroup.json")).expect("cgroup record");
    serde_json::from_slice(&bytes).unwrap()
}

/// The directory of `dirs` that has control file `file`.
fn with_file(dirs: &[PathBuf], file: &str) -> PathBuf {
    dirs.iter()
        .find(|d| d.join(file).exists())
        .unwrap_or_else(|| panic!("no `{file}` in {dirs:?}"))
        .clone()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// A `key value` line of a flat-keyed cgroup file.
fn keyed(path: &Path, key: &str) -> u64 {
    read(path)
        .lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Runs `true` on the host `n` times; each must finish within a second.
fn host_stays_responsive(n: usize) {
    for i in 0..n {
        let start = Instant::now();
        let status = Command::new("true").status().expect("the host can fork");
        let took = start.elapsed();
        assert!(status.success());
        assert!(
            took < Duration::from_secs(1),
            "the host took {took:?} to run `true` (attempt {i})"
        );
        eprintln!("host: `true` in {took:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn fork_bomb_stops_at_pids_max() {
    if !cgroups_available() {
        return;
    }
    let layout = Layout::new(&common::unique("P"));
    let policy = limited(
        &layout,
        Resources {
            pids: Some(64),
            memory: Some(512 * MIB),
            ..Resources::default()
        },
    );
    let _removed = Removed(policy.clone());
    // Four shells fork `sleep`s as fast as they can (the classic `b() { b | b & }`
    // can die out at the limit, as each shell exits at its first refused fork); the
    // sleeps keep the environment at its limit, and the first one keeps the
    // command, so the sandbox, up.
    let mut child = spawn(
        &policy,
        &os(&[
            "/bin/sh",
            "-c",
            "sleep 60 & s=$!; for j in 1 2 3 4; do (while :; do sleep 300 & done) & done; wait $s",
        ]),
        // Quiet: every refused fork prints "Cannot fork".
        SandboxStdio {
            stdout: Some(std::process::Stdio::null()),
            stderr: Some(std::process::Stdio::null()),
            ..SandboxStdio::default()
        },
    )
    .unwrap();
    let pids = with_file(&cgroup_dirs(&layout), "pids.max");
    assert_eq!(read(&pids.join("pids.max")), "64");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let refused = keyed(&pids.join("pids.events"), "max");
        let current: u64 = read(&pids.join("pids.current")).parse().unwrap();
        eprintln!("bomb: pids.current {current}, forks refused {refused}");
        assert!(current <= 64, "pids.current {current} above pids.max");
        if refused > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the bomb never reached pids.max");
        std::thread::sleep(Duration::from_millis(200));
    }
    host_stays_responsive(5);
    let start = Instant::now();
    child.kill().unwrap();
    let code = child.wait().unwrap();
    eprintln!("bomb: killed ({code}) in {:?}", start.elapsed());
    let deadline = Instant::now() + Duration::from_secs(10);
    while read(&pids.join("pids.current")) != "0" {
        assert!(
            Instant::now() < deadline,
            "processes of the bomb survived the kill: {}",
            read(&pids.join("pids.current"))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("bomb: every process gone after {:?}", start.elapsed());
    warren_sandbox::remove_env(&policy).unwrap();
    assert!(!pids.exists(), "the cgroup goes with the environment");
}

fn memory_hog_is_oom_killed() {
    if !cgroups_available() {
        return;
    }
    let layout = Layout::new(&common::unique("M"));
    let policy = limited(
        &layout,
        Resources {
            memory: Some(256 * MIB),
            pids: Some(256),
            ..Resources::default()
        },
    );
    let _removed = Removed(policy.clone());
    let start = Instant::now();
    // 1 GiB, every page written (`b"x" * n` fills it), in a 256 MiB cgroup.
    let mut child = spawn(
        &policy,
        &os(&[
            "/usr/bin/python3",
            "-c",
            "a = b'x' * (1 << 30); print('survived', len(a))",
        ]),
        SandboxStdio::piped(),
    )
    .unwrap();
    drop(child.stdin.take());
    let dirs = cgroup_dirs(&layout);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let code = child.wait().unwrap();
    eprintln!("hog: exit {code} after {:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(60));
    assert!(!out.contains("survived"), "the hog got its gigabyte: {out}");
    assert_eq!(code, 128 + libc::SIGKILL, "killed by the OOM killer");
    let memory = match dirs.iter().find(|d| d.join("memory.oom_control").exists()) {
        Some(v1) => keyed(&v1.join("memory.oom_control"), "oom_kill"),
        None => keyed(
            &with_file(&dirs, "memory.events").join("memory.events"),
            "oom_kill",
        ),
    };
    assert!(memory >= 1, "the cgroup recorded no OOM kill");
    host_stays_responsive(3);
    warren_sandbox::remove_env(&policy).unwrap();
}

fn tmpfs_fillers_get_enospc() {
    // Sized tmpfs needs no cgroup: this runs everywhere.
    let layout = Layout::new(&common::unique("S"));
    let mut policy = layout.policy(Network::None, &[]);
    policy.resources = Resources {
        tmp_size: Some(64 * MIB),
        ..Resources::default()
    };
    // A one-command environment: `/tmp` is a tmpfs too.
    policy.scratch = true;
    let script = "for f in /dev/shm/x /tmp/x; do
  head -c 200M /dev/zero > $f; echo \"$f rc=$? size=$(wc -c < $f)\"; rm -f $f
done
python3 -c '
import os
n = 0
try:
    while True:
        open(\"/dev/shm/f%d\" % n, \"w\").close(); n += 1
except OSError as e:
    print(\"files\", n, e.errno)
'";
    let start = Instant::now();
    let mut child = spawn(
        &policy,
        &os(&["/bin/sh", "-c", script]),
        SandboxStdio::piped(),
    )
    .unwrap();
    drop(child.stdin.take());
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let code = child.wait().unwrap();
    eprintln!("fill: exit {code} after {:?}\n{out}{err}", start.elapsed());
    assert_eq!(code, 0, "{err}");
    assert!(start.elapsed() < Duration::from_secs(60));
    for dir in ["/dev/shm", "/tmp"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{dir}/x ")))
            .unwrap_or_else(|| panic!("no line for {dir}: {out}"));
        assert!(!line.contains(" rc=0 "), "{line}");
        let size: u64 = line.rsplit("size=").next().unwrap().parse().unwrap();
        assert!(size <= 64 * MIB, "{dir} took {size} bytes");
        assert!(size >= 32 * MIB, "{dir} stopped early at {size} bytes");
    }
    assert!(
        err.contains("No space left on device"),
        "ENOSPC reported: {err}"
    );
    // Empty files take no blocks; the inode cap stops them (one per 4 KiB of size).
    let files = out.lines().find(|l| l.starts_with("files ")).unwrap();
    let n: u64 = files.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(files.ends_with(&format!(" {}", libc::ENOSPC)), "{files}");
    assert!(n < 64 * MIB / 4096 + 1, "{n} empty files");
}

fn cgroup_fails_closed() {
    let layout = Layout::new(&common::unique("X"));
    let marker = layout.worktree.join("ran");
    let mut policy = limited(
        &layout,
        Resources {
            pids: Some(64),
            ..Resources::default()
        },
    );
    policy.fail_layer = Some(Layer::Cgroup);
    let argv = os(&["/bin/sh", "-c", &format!("touch {}", marker.display())]);
    let err = spawn(&policy, &argv, SandboxStdio::default()).unwrap_err();
    eprintln!("fails closed: {err}");
    assert!(
        matches!(
            err,
            SandboxError::Layer {
                layer: Layer::Cgroup,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!marker.exists(), "the command ran without its limits");
    // Without cgroup limits there is no cgroup to fail.
    policy.resources = Resources {
        tmp_size: Some(MIB),
        ..Resources::default()
    };
    policy.fail_layer = None;
    let code = spawn(&policy, &argv, SandboxStdio::default())
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(code, 0);
    assert!(marker.exists());
    assert!(!layout.env_dir.join("cgroup.json").exists());
}
