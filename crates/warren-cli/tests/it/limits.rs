//! Resource limits through the real binary (issue 12 item 5): a Docker
//! environment gets its pids, memory and `/dev/shm` limits, no capabilities
//! beyond the documented list and `no-new-privileges`, and a fork bomb, a
//! memory hog and a `/dev/shm` filler inside it leave the host responsive; a
//! sandbox environment gets its cgroup and sized `/dev/shm`, and loses the
//! cgroup with the environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

const MIB: u64 = 1 << 20;

fn inspect(container: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "--format", format, container])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
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
        progress!("host: `true` in {took:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A `KEY value` line of `/proc/<pid>/status` (as printed by grep).
fn status_field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim_start_matches(':').trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

/// The container's pids cgroup file `file`, where the engine keeps it.
fn container_pids_file(id: &str, file: &str) -> Option<PathBuf> {
    [
        format!("/sys/fs/cgroup/pids/docker/{id}/{file}"),
        format!("/sys/fs/cgroup/system.slice/docker-{id}.scope/{file}"),
        format!("/sys/fs/cgroup/docker/{id}/{file}"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

#[test]
fn docker_environment_gets_limits_and_only_the_documented_capabilities() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".warren.yaml",
        &format!(
            "runtime: docker\nimage: {BUSYBOX}\nresources: {{memory: 256m, cpus: 1, pids: 128, tmp_size: 64m}}\n"
        ),
    );
    ctx.commit("limits");
    ctx.warren(&["run", "--name", "lim", "--", "true"]).ok();
    let ids = ctx.containers();
    assert_eq!(ids.len(), 1);
    let id = inspect(&ids[0], "{{.Id}}");

    progress!("the HostConfig");
    let hc: serde_json::Value =
        serde_json::from_str(&inspect(&id, "{{json .HostConfig}}")).unwrap();
    assert_eq!(hc["PidsLimit"], 128);
    assert_eq!(hc["Memory"], 256 * MIB);
    assert_eq!(hc["MemorySwap"], 256 * MIB, "no swap beyond the limit");
    assert_eq!(hc["NanoCpus"], 1_000_000_000u64);
    assert_eq!(hc["ShmSize"], 64 * MIB);
    assert_eq!(hc["CapDrop"], serde_json::json!(["ALL"]));
    let caps: Vec<&str> = hc["CapAdd"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(
        caps,
        [
            "CHOWN",
            "DAC_OVERRIDE",
            "FOWNER",
            "FSETID",
            "KILL",
            "SETGID",
            "SETUID",
            "NET_BIND_SERVICE",
            "AUDIT_WRITE"
        ]
    );
    assert!(
        hc["SecurityOpt"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "no-new-privileges"),
        "{}",
        hc["SecurityOpt"]
    );

    progress!("inside: the capability set, no_new_privs, chown and su still work");
    let run = ctx
        .warren(&[
            "exec",
            "lim",
            "--",
            "sh",
            "-c",
            "grep -E 'CapEff|NoNewPrivs' /proc/self/status; touch /tmp/f && chown 1000:1000 /tmp/f && stat -c 'owner %u' /tmp/f; su -s /bin/sh dev -c 'echo su-uid $(id -u)'",
        ])
        .ok();
    let eff = u64::from_str_radix(&status_field(&run.stdout, "CapEff"), 16).unwrap();
    // CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6, SETUID 7,
    // NET_BIND_SERVICE 10, AUDIT_WRITE 29.
    assert_eq!(eff, 0x2000_04fb, "CapEff {eff:#x}");
    assert_eq!(eff & (1 << 13), 0, "NET_RAW is dropped");
    assert_eq!(eff & (1 << 27), 0, "MKNOD is dropped");
    assert_eq!(status_field(&run.stdout, "NoNewPrivs"), "1");
    assert!(run.stdout.contains("owner 1000"), "{}", run.stdout);
    assert!(run.stdout.contains("su-uid 1000"), "{}", run.stdout);

    progress!("/dev/shm filler: ENOSPC at 64m");
    let run = ctx
        .warren(&[
            "exec",
            "lim",
            "--",
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/shm/x bs=1M count=200; echo rc=$?; echo size=$(wc -c < /dev/shm/x); rm /dev/shm/x",
        ])
        .ok();
    assert!(run.stdout.contains("rc=1"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!("size={}", 64 * MIB)),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("No space left on device"),
        "{}",
        run.stderr
    );

    progress!("memory hog: OOM-killed at 256m");
    let start = Instant::now();
    // `tail` keeps the last line in memory, and /dev/zero has no newline.
    let run = ctx.warren(&[
        "exec",
        "lim",
        "--",
        "sh",
        "-c",
        "head -c 1000m /dev/zero | tail > /dev/null; echo tail=$?",
    ]);
    progress!("hog ended in {:?}: {}", start.elapsed(), run.stdout.trim());
    assert!(run.stdout.contains("tail=137"), "{run:?}");
    assert!(start.elapsed() < Duration::from_secs(60));
    host_stays_responsive(3);

    progress!("fork bomb: stops at 128 processes, the host stays responsive");
    // Four shells fork `sleep` as fast as they can. busybox sh exits at its first
    // refused fork (so the classic `b() { b | b & }` dies out at the limit), but the
    // sleeps stay and keep the container at its limit.
    let mut bomb = ctx
        .cmd(&[
            "exec",
            "lim",
            "--",
            "sh",
            "-c",
            "for j in 1 2 3 4; do (while :; do sleep 300 & done) >/dev/null 2>&1 & done; wait",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    match (
        container_pids_file(&id, "pids.events"),
        container_pids_file(&id, "pids.current"),
    ) {
        (Some(events), Some(current)) => {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
                let refused: u64 = read(&events)
                    .lines()
                    .find_map(|l| l.strip_prefix("max ")?.trim().parse().ok())
                    .unwrap_or(0);
                let now: u64 = read(&current).trim().parse().unwrap_or(0);
                progress!("bomb: pids.current {now}, forks refused {refused}");
                assert!(now <= 128, "{now} processes in a container limited to 128");
                if refused > 0 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the bomb never reached its limit"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        // The engine keeps its cgroups elsewhere: give the bomb time to grow.
        _ => std::thread::sleep(Duration::from_secs(3)),
    }
    host_stays_responsive(5);
    let _ = bomb.wait();
    let start = Instant::now();
    ctx.warren(&["rm", "--force", "lim"]).ok();
    progress!("bomb: removed in {:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(ctx.containers().is_empty());
}

/// Every `cgroup.json` under `dir` (the sandbox environments' records).
fn cgroup_records(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == "cgroup.json") {
            out.push(p);
        } else if e.file_type().is_ok_and(|t| t.is_dir()) && !p.ends_with("worktrees") {
            out.extend(cgroup_records(&p));
        }
    }
    out
}

#[test]
fn sandbox_environment_gets_its_cgroup_and_a_sized_dev_shm() {
    // Under CI missing cgroup limits are a failure (they would go untested).
    let cgroup = warren_sandbox::probe()
        .into_iter()
        .find(|s| s.layer == warren_sandbox::Layer::Cgroup)
        .expect("probe reports the cgroup layer");
    progress!("cgroup: {}", cgroup.detail);
    if !cgroup.available {
        assert!(std::env::var_os("CI").is_none(), "{}", cgroup.detail);
        eprintln!("skipped: cgroup limits are not available here");
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".warren.yaml",
        "runtime: sandbox\nresources: {memory: 256m, pids: 64, tmp_size: 64m}\n",
    );
    ctx.commit("limits");
    let run = ctx
        .warren(&[
            "run",
            "--name",
            "box",
            "--",
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/shm/x bs=1M count=200 2>&1; echo size=$(wc -c < /dev/shm/x)",
        ])
        .ok();
    assert!(
        run.stdout.contains("No space left on device"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("size={}", 64 * MIB)),
        "{}",
        run.stdout
    );
    let records = cgroup_records(&ctx.root);
    assert_eq!(records.len(), 1, "{records:?}");
    let dirs: Vec<PathBuf> = serde_json::from_slice(&std::fs::read(&records[0]).unwrap()).unwrap();
    progress!("cgroup: {dirs:?}");
    let pids = dirs
        .iter()
        .find(|d| d.join("pids.max").exists())
        .expect("a pids cgroup");
    assert_eq!(
        std::fs::read_to_string(pids.join("pids.max"))
            .unwrap()
            .trim(),
        "64"
    );

    progress!("a fork bomb in the environment stops at 64 processes");
    let run = ctx
        .warren(&[
            "exec",
            "box",
            "--",
            "sh",
            "-c",
            // The bombers are started by one forked shell, so this shell forks only
            // before the limit is reached: a refused fork here would end it early.
            "sleep 3 & s=$!; (for j in 1 2 3 4; do (while :; do sleep 300 & done) & done) >/dev/null 2>&1 & wait $s; echo done",
        ])
        .ok();
    assert!(run.stdout.contains("done"));
    host_stays_responsive(2);
    let refused = std::fs::read_to_string(pids.join("pids.events")).unwrap_or_default();
    assert!(
        refused.starts_with("max ") && refused.trim() != "max 0",
        "{refused}"
    );

    ctx.warren(&["rm", "--force", "box"]).ok();
    for d in &dirs {
        assert!(!d.exists(), "`{}` outlived the environment", d.display());
    }
}
