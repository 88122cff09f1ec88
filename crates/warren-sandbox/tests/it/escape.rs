//! The escape suite (issue 3 item 4): a hostile script tries every escape of
//! docs/SECURITY.md inside the sandbox; the same script runs on the host as a control, so each
//! attempt is shown to work where nothing stops it (no vacuous passes). The attempts on
//! always-read-only paths run twice: on a worktree where none of them exists on the host
//! (the overlay shows them) and on one where each exists.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use warren_sandbox::Network;

use crate::common::{self, Layout, Servers};

pub const TESTS: &[crate::Test] = &[("escape::suite", suite)];

/// Attempts that need the host network namespace to be meaningful (abstract sockets
/// live in a network namespace); every other attempt runs with `network: none`.
const HOST_NET: &[&str] = &[
    "abstract_unix_socket",
    "docker_socket",
    "see_host_process",
    "signal_host_process",
    "ptrace_host_process",
    "read_parent_environ",
    "inherited_host_fd",
];

#[derive(Debug, Clone)]
struct Outcome {
    result: String,
    detail: String,
}

fn parse(stdout: &str) -> BTreeMap<String, Outcome> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (
                s("attempt"),
                Outcome {
                    result: s("result"),
                    detail: s("detail"),
                },
            )
        })
        .collect()
}

fn control(layout: &Layout, servers: &Servers, attempts: &[String]) -> BTreeMap<String, Outcome> {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(layout.worktree.join("hostile.py")).args(attempts);
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &layout.real_home);
    cmd.envs(layout.esc_env())
        .envs(servers.env())
        .env("ESC_CONTROL", "1");
    cmd.env(common::SECRET_NAME, format!("secret {}", layout.mark));
    cmd.current_dir(&layout.worktree);
    common::leak_fd(&mut cmd, &layout.warren_root.join("state.db"));
    let (code, out, err) = common::output(cmd, Duration::from_secs(120));
    assert_eq!(code, 0, "control run failed: {err}");
    parse(&out)
}

fn sandboxed(
    layout: &Layout,
    servers: &Servers,
    network: Network,
    attempts: &[String],
) -> BTreeMap<String, Outcome> {
    let policy = layout.policy(network, &servers.env());
    let script = layout.worktree.join("hostile.py");
    let mut argv = vec!["/usr/bin/python3", script.to_str().unwrap()];
    argv.extend(attempts.iter().map(String::as_str));
    let cmd = common::helper_command(layout, &policy, &argv);
    let (code, out, err) = common::output(cmd, Duration::from_secs(120));
    assert_eq!(code, 0, "sandboxed run failed ({code}): {err}");
    parse(&out)
}

/// One batch of attempts: where, on which network, against which control.
struct Run<'a> {
    label: &'static str,
    layout: &'a Layout,
    control: &'a BTreeMap<String, Outcome>,
    network: Network,
    attempts: Vec<String>,
}

/// Leaves a double-forked, setsid'd process behind, kills its parent with SIGKILL and
/// looks for the orphan in the host's process list. Returns whether it survived.
fn orphan_survives(mut cmd: Command, needle: &str) -> bool {
    cmd.stdout(Stdio::piped()).stdin(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    assert!(
        common::wait_for_line(&mut child, "ready", Duration::from_secs(30)),
        "daemonize never got ready"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let survivors = common::host_pids_matching(needle);
    for pid in &survivors {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(*pid).unwrap(),
            rustix::process::Signal::KILL,
        );
    }
    !survivors.is_empty()
}

fn suite() {
    let mark = common::unique("M");
    // Always-read-only paths missing on the host (the usual case) ...
    let sandbox = Layout::new(&mark);
    let ctrl = Layout::new(&mark);
    // ... and all of them present.
    let existing = Layout::new(&mark);
    existing.create_protected();
    let ctrl_existing = Layout::new(&mark);
    ctrl_existing.create_protected();
    let servers = Servers::start(&mark);
    let main_git = |l: &Layout| {
        ["config", "HEAD", "packed-refs"]
            .map(|f| std::fs::read(l.git_dir.join(f)).unwrap_or_default())
    };
    let main_git_before = main_git(&sandbox);
    let tree_before = tree(&sandbox.worktree);

    let (code, out, err) = common::output(
        {
            let mut c = Command::new("/usr/bin/python3");
            c.arg(sandbox.worktree.join("hostile.py"))
                .arg("list")
                .envs(sandbox.esc_env());
            c
        },
        Duration::from_secs(20),
    );
    assert_eq!(code, 0, "{err}");
    let all: Vec<String> = out.lines().map(str::to_string).collect();
    let is_protected = |n: &String| n.starts_with("protected:");
    let protected_missing: Vec<String> = all
        .iter()
        .filter(|n| is_protected(n) && !n.starts_with("protected:remove:"))
        .cloned()
        .collect();
    let protected_existing: Vec<String> = all.iter().filter(|n| is_protected(n)).cloned().collect();
    let offline: Vec<String> = all
        .iter()
        .filter(|n| !HOST_NET.contains(&n.as_str()) && !is_protected(n))
        .chain(&protected_missing)
        .cloned()
        .collect();
    let online: Vec<String> = HOST_NET.iter().map(|s| s.to_string()).collect();
    let mut ctrl_attempts = offline.clone();
    ctrl_attempts.extend(online.iter().cloned());

    // A long-running sandbox of the environment: the runs on `sandbox` below join its
    // mount namespace (linux/join.rs), so the attempts face a joined sandbox there and
    // a freshly built one on `existing`.
    let st_dev = "import os, sys\nprint(os.stat('.').st_dev, flush=True)\nsys.stdin.read()";
    let mut background = warren_sandbox::spawn(
        &sandbox.policy(Network::None, &[]),
        &common::os(&["/usr/bin/python3", "-c", st_dev]),
        warren_sandbox::SandboxStdio::piped(),
    )
    .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(background.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let probe = common::helper_command(
        &sandbox,
        &sandbox.policy(Network::Host, &[]),
        &[
            "/usr/bin/python3",
            "-c",
            "import os; print(os.stat('.').st_dev)",
        ],
    );
    let (code, out, err) = common::output(probe, Duration::from_secs(30));
    assert_eq!(
        (code, out.trim()),
        (0, line.trim()),
        "a later run joins: {err}"
    );
    eprintln!("escape: the runs on the missing-paths worktree join a running sandbox");

    let control_missing = control(&ctrl, &servers, &ctrl_attempts);
    let control_existing = control(&ctrl_existing, &servers, &protected_existing);
    let runs = [
        Run {
            label: "network: none",
            layout: &sandbox,
            control: &control_missing,
            network: Network::None,
            attempts: offline,
        },
        Run {
            label: "network: host",
            layout: &sandbox,
            control: &control_missing,
            network: Network::Host,
            attempts: online,
        },
        Run {
            label: "network: none, protected paths exist",
            layout: &existing,
            control: &control_existing,
            network: Network::None,
            attempts: protected_existing,
        },
    ];

    let mut attempts = 0;
    let mut escapes = Vec::new();
    let mut vacuous = Vec::new();
    for run in &runs {
        let results = sandboxed(run.layout, &servers, run.network, &run.attempts);
        for name in &run.attempts {
            attempts += 1;
            let missing = || Outcome {
                result: "missing".into(),
                detail: String::new(),
            };
            let got = results.get(name).cloned().unwrap_or_else(missing);
            let ctl = run.control.get(name).cloned().unwrap_or_else(missing);
            eprintln!(
                "escape [{}] {name}: sandbox {} ({}); control {} ({})",
                run.label, got.result, got.detail, ctl.result, ctl.detail
            );
            // "n/a" inside is fine only where the control could not try either (a tool or
            // kernel feature missing on this machine).
            if got.result == "escaped"
                || got.result == "missing"
                || (got.result == "n/a" && ctl.result != "n/a")
            {
                escapes.push(format!("{name}: {} ({})", got.result, got.detail));
            }
            if ctl.result != "escaped" && ctl.result != "n/a" {
                vacuous.push(format!("{name}: control {} ({})", ctl.result, ctl.detail));
            }
        }
    }

    drop(background.stdin.take());
    assert_eq!(background.wait().unwrap(), 0);

    // The overlay's own xattrs, planted from inside (judged on the host and by the next
    // sandbox, which is where they would act).
    attempts += 1;
    let (sandbox_xattr, control_xattr) = overlay_xattrs(&mark);
    eprintln!(
        "escape [network: none] overlay_xattrs (user.overlay.opaque/redirect on the worktree and .claude): sandbox {sandbox_xattr}; control {control_xattr}"
    );
    if !sandbox_xattr.starts_with("blocked") {
        escapes.push(format!("overlay_xattrs: {sandbox_xattr}"));
    }
    if !control_xattr.starts_with("escaped") {
        vacuous.push(format!("overlay_xattrs: control {control_xattr}"));
    }

    // Orphans: a process double-forked with setsid must not outlive the sandbox.
    attempts += 1;
    let needle_c = format!("warren-orphan-{mark}c");
    let mut c = Command::new("/usr/bin/python3");
    c.arg(ctrl.worktree.join("hostile.py"))
        .arg("daemonize")
        .env("ESC_MARK", format!("{mark}c"));
    let control_orphan = orphan_survives(c, &needle_c);
    let needle_s = format!("warren-orphan-{mark}s");
    let mut policy = sandbox.policy(Network::None, &[]);
    policy.env.push(("ESC_MARK".into(), format!("{mark}s")));
    let script = sandbox.worktree.join("hostile.py");
    let cmd = common::helper_command(
        &sandbox,
        &policy,
        &["/usr/bin/python3", script.to_str().unwrap(), "daemonize"],
    );
    let sandbox_orphan = orphan_survives(cmd, &needle_s);
    eprintln!(
        "escape [network: none] outlive_parent (double fork + setsid, parent SIGKILLed): sandbox {}; control {}",
        if sandbox_orphan { "escaped" } else { "blocked" },
        if control_orphan { "escaped" } else { "blocked" }
    );
    if sandbox_orphan {
        escapes.push("outlive_parent".into());
    }
    if !control_orphan {
        vacuous.push("outlive_parent: control orphan died".into());
    }

    // The host's view after the runs: nothing written where it must not be.
    let leftovers: Vec<_> = std::fs::read_dir(&sandbox.outside)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    if !leftovers.is_empty() {
        escapes.push(format!(
            "files appeared outside the workspace: {leftovers:?}"
        ));
    }
    if main_git(&sandbox) != main_git_before {
        escapes.push("the main repository's config, HEAD or packed-refs changed".into());
    }
    for (what, path) in [
        ("hook", sandbox.git_dir.join("hooks/pre-commit")),
        ("object", sandbox.git_dir.join("objects/esc-pwned")),
        ("ref", sandbox.git_dir.join("refs/heads/esc-pwned")),
        ("other worktree", sandbox.other_wt.join("pwned")),
    ] {
        if path.exists() {
            escapes.push(format!("{what} written on the host: {}", path.display()));
        }
    }
    if !sandbox.git_dir.join("objects").is_dir() {
        escapes.push("the main repository's objects were moved".into());
    }
    for (file, want) in [
        ("state.db", format!("sqlite {mark}")),
        ("credentials/token", format!("token {mark}")),
    ] {
        if std::fs::read_to_string(sandbox.warren_root.join(file)).unwrap() != want {
            escapes.push(format!("the warren root's {file} changed"));
        }
    }
    // Where they were missing, the host tree has none of them (nor their parents):
    // no placeholder, nothing an attempt made.
    let new: Vec<String> = tree(&sandbox.worktree)
        .into_iter()
        .filter(|e| !tree_before.contains(e))
        .filter(|e| {
            warren_sandbox::PROTECTED_WORKTREE_NAMES
                .iter()
                .any(|n| e.starts_with(n.split('/').next().unwrap_or(n)))
        })
        .collect();
    if !new.is_empty() {
        escapes.push(format!("protected paths appeared on the host: {new:?}"));
    }
    let changed = existing.protected_unchanged();
    if !changed.is_empty() {
        escapes.push(format!(
            "existing protected paths changed on the host: {changed:?}"
        ));
    }

    let line = format!("{attempts} attempts, {} escapes", escapes.len());
    eprintln!("{line}");
    println!("{line}");
    assert!(escapes.is_empty(), "escapes: {escapes:#?}");
    assert!(
        vacuous.is_empty(),
        "controls that did not succeed on the host: {vacuous:#?}"
    );
}

/// Every entry under `dir`, relative, directories with a trailing `/`.
fn tree(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            out.push(format!("{rel}{}", if is_dir { "/" } else { "" }));
            if is_dir && rel != ".git" {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The xattrs overlayfs itself reads in a `userxattr` upper layer: `opaque` on a
/// directory would hide the skeleton's protected entries from the next sandbox,
/// `redirect` would send a directory elsewhere.
const OVERLAY_XATTRS: &[(&str, &[u8])] = &[
    ("user.overlay.opaque", b"y"),
    ("user.overlay.redirect", b"/elsewhere"),
];

fn overlay_xattrs_on(wt: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for rel in ["", ".claude"] {
        for (name, _) in OVERLAY_XATTRS {
            let mut buf = [0u8; 64];
            if rustix::fs::getxattr(wt.join(rel), *name, &mut buf).is_ok() {
                found.push(format!(
                    "{name} on {}",
                    if rel.is_empty() { "." } else { rel }
                ));
            }
        }
    }
    found
}

/// Returns (sandbox, control) outcomes as "escaped …"/"blocked …".
fn overlay_xattrs(mark: &str) -> (String, String) {
    let set = "import os, sys\nfor rel in ['', '.claude']:\n    for n, v in [('user.overlay.opaque', b'y'), ('user.overlay.redirect', b'/elsewhere')]:\n        try:\n            os.setxattr(os.path.join(sys.argv[1], rel), n, v)\n        except OSError:\n            pass\n";
    let control = Layout::new(mark);
    std::fs::create_dir(control.worktree.join(".claude")).unwrap();
    let status = Command::new("/usr/bin/python3")
        .args(["-c", set, control.worktree.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let found = overlay_xattrs_on(&control.worktree);
    let control_outcome = if found.is_empty() {
        "blocked (could not set them on the host)".to_string()
    } else {
        format!("escaped ({})", found.join(", "))
    };

    let layout = Layout::new(mark);
    let policy = layout.policy(Network::None, &[]);
    let wt = layout.worktree.to_str().unwrap();
    let cmd = common::helper_command(&layout, &policy, &["/usr/bin/python3", "-c", set, wt]);
    let (code, _, err) = common::output(cmd, Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    let found = overlay_xattrs_on(&layout.worktree);
    if !found.is_empty() {
        return (format!("escaped ({})", found.join(", ")), control_outcome);
    }
    // The next sandbox still shows every protected path, read-only.
    let check = "import os, sys\nfor n in os.environ['ESC_PROTECTED'].split(':'):\n    p = os.path.join(sys.argv[1], n)\n    assert os.path.isdir(p), n\n    try:\n        open(os.path.join(p, 'x'), 'w')\n        sys.exit(n + ' writable')\n    except OSError:\n        pass\n";
    let cmd = common::helper_command(&layout, &policy, &["/usr/bin/python3", "-c", check, wt]);
    let (code, _, err) = common::output(cmd, Duration::from_secs(60));
    let sandbox_outcome = if code == 0 {
        "blocked (stored escaped as user.overlay.overlay.*, or refused; the next sandbox is unaffected)".to_string()
    } else {
        format!("escaped (the next sandbox: exit {code}: {})", err.trim())
    };
    (sandbox_outcome, control_outcome)
}
