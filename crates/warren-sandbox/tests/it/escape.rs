//! The escape suite (issue 3 item 4): a hostile script tries every escape of
//! docs/SECURITY.md inside the sandbox; the same script runs on the host as a control, so each
//! attempt is shown to work where nothing stops it (no vacuous passes).

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
    // Same placeholders as the sandboxed layout, so both start from the same tree.
    warren_sandbox::prepare_env(&layout.policy(Network::Host, &[])).unwrap();
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
    let sandbox = Layout::new(&mark);
    let ctrl = Layout::new(&mark);
    let servers = Servers::start(&mark);
    let main_git = |l: &Layout| {
        ["config", "HEAD", "packed-refs"]
            .map(|f| std::fs::read(l.git_dir.join(f)).unwrap_or_default())
    };
    let main_git_before = main_git(&sandbox);

    let (code, out, err) = common::output(
        {
            let mut c = Command::new("/usr/bin/python3");
            c.arg(sandbox.worktree.join("hostile.py")).arg("list");
            c
        },
        Duration::from_secs(20),
    );
    assert_eq!(code, 0, "{err}");
    let all: Vec<String> = out.lines().map(str::to_string).collect();
    let offline: Vec<String> = all
        .iter()
        .filter(|n| !HOST_NET.contains(&n.as_str()))
        .cloned()
        .collect();
    let online: Vec<String> = HOST_NET.iter().map(|s| s.to_string()).collect();

    let control_results = control(&ctrl, &servers, &all);
    let runs = vec![
        (
            "none",
            sandboxed(&sandbox, &servers, Network::None, &offline),
        ),
        (
            "host",
            sandboxed(&sandbox, &servers, Network::Host, &online),
        ),
    ];

    let mut attempts = 0;
    let mut escapes = Vec::new();
    let mut vacuous = Vec::new();
    for (net, results) in &runs {
        let names = if *net == "none" { &offline } else { &online };
        for name in names {
            attempts += 1;
            let got = results.get(name).cloned().unwrap_or(Outcome {
                result: "missing".into(),
                detail: String::new(),
            });
            let ctl = control_results.get(name).cloned().unwrap_or(Outcome {
                result: "missing".into(),
                detail: String::new(),
            });
            eprintln!(
                "escape [network: {net}] {name}: sandbox {} ({}); control {} ({})",
                got.result, got.detail, ctl.result, ctl.detail
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
    for (what, path) in [
        ("hook", sandbox.git_dir.join("hooks/pre-commit")),
        ("object", sandbox.git_dir.join("objects/esc-pwned")),
        ("ref", sandbox.git_dir.join("refs/heads/esc-pwned")),
        ("other worktree", sandbox.other_wt.join("pwned")),
        ("mcp", sandbox.worktree.join(".mcp.json/evil")),
        (
            "claude commands",
            sandbox.worktree.join(".claude/commands/evil"),
        ),
    ] {
        if path.exists() {
            escapes.push(format!("{what} written on the host: {}", path.display()));
        }
    }
    for (file, want) in [
        ("state.db", format!("sqlite {mark}")),
        ("credentials/token", format!("token {mark}")),
    ] {
        if std::fs::read_to_string(sandbox.warren_root.join(file)).unwrap() != want {
            escapes.push(format!("the warren root's {file} changed"));
        }
    }
    if main_git(&sandbox) != main_git_before {
        escapes.push("the main repository's config, HEAD or packed-refs changed".into());
    }
    if !sandbox.git_dir.join("objects").is_dir() {
        escapes.push("the main repository's objects were moved".into());
    }
    for placeholder in [".mcp.json", ".gitmodules", ".bashrc", ".claude/commands"] {
        let p = sandbox.worktree.join(placeholder);
        if !p.is_dir() || std::fs::read_dir(&p).unwrap().next().is_some() {
            escapes.push(format!("placeholder {placeholder} changed"));
        }
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
