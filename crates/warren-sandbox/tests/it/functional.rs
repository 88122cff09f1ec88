//! The sandbox as the runtime uses it: spawn, exact env, exit codes and signals, shared
//! private dirs, git in the worktree, the worktree's overlay (no placeholders on the
//! host, writes seen on the host at once, host edits seen inside), the instance
//! registry, and failing closed.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use seccompiler::{SeccompAction, SeccompFilter, TargetArch};
use warren_sandbox::{Layer, Network, SandboxError, SandboxStdio, spawn};

use crate::common::{self, Layout, os};

pub const TESTS: &[crate::Test] = &[
    (
        "functional::exact_env_and_exit_code",
        exact_env_and_exit_code,
    ),
    (
        "functional::signals_reach_the_command",
        signals_reach_the_command,
    ),
    ("functional::command_not_found", command_not_found),
    (
        "functional::private_dirs_are_shared_by_commands",
        private_dirs_are_shared_by_commands,
    ),
    (
        "functional::git_works_in_the_worktree",
        git_works_in_the_worktree,
    ),
    (
        "functional::dropping_the_child_kills_the_tree",
        dropping_the_child_kills_the_tree,
    ),
    (
        "functional::stop_all_ends_every_instance",
        stop_all_ends_every_instance,
    ),
    (
        "functional::probe_reports_every_layer",
        probe_reports_every_layer,
    ),
    (
        "functional::fails_closed_at_every_layer",
        fails_closed_at_every_layer,
    ),
    (
        "functional::fails_closed_when_the_kernel_refuses",
        fails_closed_when_the_kernel_refuses,
    ),
    (
        "functional::symlinked_protected_path_is_refused",
        symlinked_protected_path_is_refused,
    ),
    ("functional::remove_env_cleans_up", remove_env_cleans_up),
    (
        "functional::environments_share_overlay_layers",
        environments_share_overlay_layers,
    ),
    (
        "functional::no_placeholder_is_left_in_the_host_tree",
        no_placeholder_is_left_in_the_host_tree,
    ),
    (
        "functional::files_the_agent_creates_appear_on_the_host_at_once",
        files_the_agent_creates_appear_on_the_host_at_once,
    ),
    (
        "functional::host_edits_are_seen_while_a_sandbox_runs",
        host_edits_are_seen_while_a_sandbox_runs,
    ),
    (
        "functional::sandboxes_of_one_environment_share_one_overlay",
        sandboxes_of_one_environment_share_one_overlay,
    ),
    (
        "functional::a_binary_that_is_not_a_helper_is_an_error",
        a_binary_that_is_not_a_helper_is_an_error,
    ),
    (
        "functional::the_keeper_holds_the_environment_for_its_life",
        the_keeper_holds_the_environment_for_its_life,
    ),
    (
        "functional::a_read_only_worktree_takes_no_write",
        a_read_only_worktree_takes_no_write,
    ),
];

/// Item 1 of the network issue: a daemon started by one command (as
/// `postStartCommand` starts a dev server) lives on after it, answers the next command
/// on the environment's own loopback, is not reachable on the host's, and ends at stop.
fn the_keeper_holds_the_environment_for_its_life() {
    let layout = Layout::new(&common::unique("K"));
    let policy = layout.policy(Network::Isolated, &[]);
    let state = policy.state_dir.clone().unwrap();
    warren_sandbox::spawn_keeper(&policy, false).unwrap();
    let port = 20000 + (std::process::id() % 20000) as u16;
    let (code, out) = run_piped(
        &policy,
        &[
            "sh",
            "-c",
            &format!(
                "echo hi > /tmp/page; busybox httpd -p 127.0.0.1:{port} -h /tmp; echo started $(hostname)"
            ),
        ],
    );
    assert_eq!((code, out.trim()), (0, "started env1"));
    eprintln!("the server's command ended; asking from a second command");
    let (code, out) = run_piped(
        &policy,
        &[
            "busybox",
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://127.0.0.1:{port}/page"),
        ],
    );
    assert_eq!(
        (code, out.trim()),
        (0, "hi"),
        "the daemon died with its command"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the environment's loopback is the host's"
    );
    let needle = format!("127.0.0.1:{port}");
    assert_eq!(common::host_pids_matching(&needle).len(), 1);
    // Every command and the keeper are one instance: the keeper.
    let running = warren_sandbox::list(&state);
    assert_eq!(running.len(), 1, "{running:?}");
    assert!(running[0].keeper);
    let t = std::time::Instant::now();
    warren_sandbox::stop_all(&state, Duration::from_secs(2)).unwrap();
    eprintln!("stopped in {:?}", t.elapsed());
    assert!(warren_sandbox::list(&state).is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !common::host_pids_matching(&needle).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon outlived stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_piped(policy: &warren_sandbox::Policy, argv: &[&str]) -> (i32, String) {
    let mut child = spawn(policy, &os(argv), SandboxStdio::piped()).unwrap();
    drop(child.stdin.take());
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (child.wait().unwrap(), out)
}

fn exact_env_and_exit_code() {
    let layout = Layout::new(&common::unique("E"));
    let mut policy = layout.policy(Network::None, &[]);
    policy.env = vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("WARREN".into(), "1".into()),
    ];
    let (code, out) = run_piped(
        &policy,
        // /proc/self/environ is the exec'd block (os.environ includes Python's own LC_CTYPE).
        &[
            "/usr/bin/python3",
            "-c",
            "import json,sys; e=open('/proc/self/environ','rb').read().decode().split(chr(0)); \
             print(json.dumps(dict(x.split('=',1) for x in e if x))); sys.exit(42)",
        ],
    );
    assert_eq!(code, 42);
    let env: BTreeMap<String, String> = serde_json::from_str(out.trim()).unwrap();
    let want: BTreeMap<String, String> = policy.env.iter().cloned().collect();
    assert_eq!(
        env, want,
        "the command sees exactly the policy's environment"
    );
}

fn signals_reach_the_command() {
    let layout = Layout::new(&common::unique("S"));
    let policy = layout.policy(Network::Host, &[]);
    let mut child = spawn(&policy, &os(&["sleep", "100"]), SandboxStdio::default()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    child.signal(libc::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap(), 128 + libc::SIGTERM);
}

fn command_not_found() {
    let layout = Layout::new(&common::unique("N"));
    let policy = layout.policy(Network::Host, &[]);
    let err = spawn(
        &policy,
        &os(&["no-such-command-here"]),
        SandboxStdio::default(),
    )
    .unwrap_err();
    assert!(matches!(err, SandboxError::Exec { code: 127, .. }), "{err}");
    assert!(!err.is_sandbox_error());
}

fn private_dirs_are_shared_by_commands() {
    let layout = Layout::new(&common::unique("T"));
    let policy = layout.policy(Network::None, &[]);
    let (code, _) = run_piped(
        &policy,
        &[
            "sh",
            "-c",
            "echo shared > /tmp/note && echo home > $HOME/note",
        ],
    );
    assert_eq!(code, 0);
    let (code, out) = run_piped(
        &policy,
        &["sh", "-c", "cat /tmp/note $HOME/note; ls -a $HOME"],
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("shared\nhome\n"), "{out}");
    assert!(!out.contains(".ssh"), "the real HOME is not visible: {out}");
    assert_eq!(
        std::fs::read_to_string(policy.tmp_dir.join("note")).unwrap(),
        "shared\n"
    );
}

fn git_works_in_the_worktree() {
    let layout = Layout::new(&common::unique("G"));
    let policy = layout.policy(Network::None, &[]);
    let script = "git status --porcelain >/dev/null && echo change > file.txt && git add file.txt \
                  && git -c user.name=agent -c user.email=agent@example.invalid commit -qm from-sandbox && git log --oneline -1";
    let (code, out) = run_piped(&policy, &["sh", "-c", script]);
    assert_eq!(code, 0, "{out}");
    // The commit is in the environment's own repository (its objects there, the
    // main repository's borrowed read-only), and nothing reached the main one.
    let log = Command::new("git")
        .args(["log", "--oneline", "-1", "warren/env1"])
        .current_dir(&layout.worktree)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&log.stdout).contains("from-sandbox"));
    let main = Command::new("git")
        .args(["branch", "--list", "warren/env1"])
        .current_dir(&layout.repo)
        .output()
        .unwrap();
    assert!(main.stdout.is_empty(), "the main repository is untouched");
    // No protected path shows up in git on the host (none exists there).
    let status = Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(&layout.worktree)
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        !status.contains(".mcp.json") && !status.contains(".claude"),
        "{status}"
    );
}

fn dropping_the_child_kills_the_tree() {
    let mark = common::unique("D");
    let layout = Layout::new(&mark);
    let policy = layout.policy(Network::None, &[]);
    let script = layout.worktree.join("hostile.py");
    let mut child = spawn(
        &policy,
        &os(&["/usr/bin/python3", script.to_str().unwrap(), "daemonize"]),
        SandboxStdio {
            stdout: Some(std::process::Stdio::piped()),
            ..Default::default()
        },
    )
    .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    out.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    assert!(!common::host_pids_matching(&format!("warren-orphan-{mark}")).is_empty());
    drop(child);
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        common::host_pids_matching(&format!("warren-orphan-{mark}")).is_empty(),
        "orphan survived the drop"
    );
}

fn stop_all_ends_every_instance() {
    let layout = Layout::new(&common::unique("R"));
    let policy = layout.policy(Network::None, &[]);
    let state = policy.state_dir.clone().unwrap();
    let mut a = spawn(&policy, &os(&["sleep", "300"]), SandboxStdio::default()).unwrap();
    let mut b = spawn(
        &policy,
        &os(&["sh", "-c", "sleep 300 & sleep 300"]),
        SandboxStdio::default(),
    )
    .unwrap();
    let running = warren_sandbox::list(&state);
    assert_eq!(running.len(), 2, "{running:?}");
    assert!(warren_sandbox::is_running(&state));
    assert_eq!(
        warren_sandbox::stop_all(&state, Duration::from_secs(2)).unwrap(),
        2
    );
    assert!(warren_sandbox::list(&state).is_empty());
    assert_eq!(a.wait().unwrap(), 128 + libc::SIGTERM);
    let code = b.wait().unwrap();
    assert!(
        code == 128 + libc::SIGTERM || code == 128 + libc::SIGKILL,
        "{code}"
    );
}

fn probe_reports_every_layer() {
    let layers = warren_sandbox::probe();
    for status in &layers {
        eprintln!(
            "probe: {} {} {}",
            status.layer, status.available, status.detail
        );
    }
    for layer in [
        Layer::UserNamespace,
        Layer::MountNamespace,
        Layer::PidNamespace,
        Layer::NetNamespace,
        Layer::Overlay,
        Layer::Landlock,
        Layer::Seccomp,
        Layer::NoNewPrivs,
    ] {
        let s = layers.iter().find(|s| s.layer == layer).unwrap();
        assert!(s.available, "{layer}: {}", s.detail);
    }
}

fn fails_closed_at_every_layer() {
    let layout = Layout::new(&common::unique("F"));
    let marker = layout.worktree.join("ran");
    for layer in [
        Layer::UserNamespace,
        Layer::PidNamespace,
        Layer::DeathSignal,
        Layer::MountNamespace,
        Layer::IpcNamespace,
        Layer::UtsNamespace,
        Layer::CgroupNamespace,
        Layer::NetNamespace,
        Layer::Mounts,
        Layer::Overlay,
        Layer::Landlock,
        Layer::Capabilities,
        Layer::NoNewPrivs,
        Layer::Seccomp,
    ] {
        let mut policy = layout.policy(Network::None, &[]);
        policy.fail_layer = Some(layer);
        let err = spawn(
            &policy,
            &os(&["touch", marker.to_str().unwrap()]),
            SandboxStdio::default(),
        )
        .unwrap_err();
        eprintln!("forced {layer}: {err}");
        assert_eq!(err.failed_layer(), Some(layer), "{err}");
        assert!(err.to_string().starts_with("sandbox_error: "));
        assert!(!marker.exists(), "the command ran although {layer} failed");
    }
}

/// Runs the helper under a seccomp filter that makes one syscall fail the way a
/// restricted kernel or container does, and checks the error names the layer.
fn fails_closed_when_the_kernel_refuses() {
    let layout = Layout::new(&common::unique("K"));
    let marker = layout.worktree.join("ran");
    let cases: &[(&str, libc::c_long, u32, &str)] = &[
        (
            "container seccomp profile",
            libc::SYS_unshare,
            libc::EPERM as u32,
            "sandbox_error: user_namespace",
        ),
        (
            "AppArmor userns restriction / no CAP_SYS_ADMIN",
            libc::SYS_mount,
            libc::EPERM as u32,
            "sandbox_error: mounts",
        ),
        (
            "kernel without overlayfs in user namespaces",
            libc::SYS_fsopen,
            libc::EPERM as u32,
            "sandbox_error: overlay",
        ),
        (
            "kernel without Landlock",
            libc::SYS_landlock_create_ruleset,
            libc::ENOSYS as u32,
            "sandbox_error: landlock",
        ),
        (
            "kernel without seccomp filters",
            libc::SYS_seccomp,
            libc::EINVAL as u32,
            "sandbox_error: seccomp",
        ),
    ];
    for (what, nr, errno, want) in cases {
        let mut rules = BTreeMap::new();
        rules.insert(*nr, Vec::new());
        let arch = TargetArch::try_from(std::env::consts::ARCH).unwrap();
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(*errno),
            arch,
        )
        .unwrap();
        let prog: seccompiler::BpfProgram = filter.try_into().unwrap();
        let policy = layout.policy(Network::None, &[]);
        let mut cmd =
            common::helper_command(&layout, &policy, &["touch", marker.to_str().unwrap()]);
        // SAFETY: prctl + seccomp only, on a program built before fork.
        unsafe {
            cmd.pre_exec(move || seccompiler::apply_filter(&prog).map_err(std::io::Error::other));
        }
        let (code, _, err) = common::output(cmd, Duration::from_secs(30));
        eprintln!("{what}: exit {code}: {}", err.trim());
        assert_eq!(code, 125, "{what}: {err}");
        assert!(err.contains(want), "{what}: {err}");
        assert!(!marker.exists(), "{what}: the command ran");
    }
}

fn symlinked_protected_path_is_refused() {
    let layout = Layout::new(&common::unique("L"));
    std::os::unix::fs::symlink(&layout.outside, layout.worktree.join(".vscode")).unwrap();
    let policy = layout.policy(Network::None, &[]);
    let err = spawn(&policy, &os(&["true"]), SandboxStdio::default()).unwrap_err();
    eprintln!("{err}");
    assert!(err.is_sandbox_error());
    assert!(err.to_string().contains(".vscode"), "{err}");
    assert!(
        std::fs::read_dir(&layout.outside).unwrap().next().is_none(),
        "nothing created through the link"
    );
}

fn remove_env_cleans_up() {
    let layout = Layout::new(&common::unique("C"));
    let policy = layout.policy(Network::None, &[]);
    // An environment made by an older warren: a placeholder in the worktree, listed in
    // the state dir. The next start takes it out.
    let old = layout.worktree.join(".mcp.json");
    std::fs::create_dir(&old).unwrap();
    std::fs::create_dir_all(&layout.env_dir).unwrap();
    std::fs::write(
        layout.env_dir.join("placeholders.json"),
        serde_json::to_vec(&[&old]).unwrap(),
    )
    .unwrap();
    warren_sandbox::prepare_env(&policy).unwrap();
    assert!(!old.exists(), "the old placeholder is gone");
    let (code, _) = run_piped(&policy, &["true"]);
    assert_eq!(code, 0);
    assert!(layout.env_dir.join("overlay").is_dir());
    warren_sandbox::remove_env(&policy).unwrap();
    assert!(!layout.env_dir.exists());
    assert!(
        layout.worktree.join("README").exists(),
        "the worktree stays"
    );
}

/// Names of the `skel-*` dirs in `dir` (none when it does not exist).
fn skeletons(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("skel-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn environments_share_overlay_layers() {
    // Two environments (two state dirs) of one worktree layout, one skeleton dir.
    let layout = Layout::new(&common::unique("K"));
    let shared = layout.env_dir.parent().unwrap().join("shared-overlay");
    let mut first = layout.policy(Network::None, &[]);
    first.overlay_dir = Some(shared.clone());
    let mut second = first.clone();
    second.state_dir = Some(layout.dir.path().join("env2"));
    second.tmp_dir = layout.dir.path().join("env2/tmp");
    second.home_dir = layout.dir.path().join("env2/home");
    // The agent tries to put something into the skeleton, the lower layer every
    // environment shares: through the protected path and through the overlay.
    let attack = "mkdir .claude/commands/x 2>/dev/null; echo p > .claude/settings.json/x 2>/dev/null; \
                  touch .mcp.json/x 2>/dev/null; \
                  if [ -e .claude/commands/x ] || [ -e .mcp.json/x ]; then echo written; else echo refused; fi";
    for policy in [&first, &second] {
        let (code, out) = run_piped(policy, &["sh", "-c", attack]);
        assert_eq!((code, out.trim()), (0, "refused"));
    }
    let names = skeletons(&shared);
    assert_eq!(names.len(), 1, "one skeleton for both: {names:?}");
    for state in [&first.state_dir, &second.state_dir] {
        let overlay = state.as_ref().unwrap().join("overlay");
        assert!(!overlay.exists(), "nothing in {overlay:?}");
    }
    // The second environment reused the work dir the first one's overlay left.
    let work: Vec<String> = std::fs::read_dir(&shared)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("work-"))
        .collect();
    assert_eq!(work, ["work-0"]);
    // Every entry of the skeleton is an empty directory, as it was made.
    let skel = shared.join(&names[0]);
    let mut stack = vec![skel.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            assert!(meta.is_dir(), "{:?} is not a directory", e.path());
            stack.push(e.path());
        }
    }
    assert!(
        !tree(&skel)
            .iter()
            .any(|p| p.ends_with("/x") || p.ends_with("/x/"))
    );
    // Removing an environment leaves the skeleton to the other.
    warren_sandbox::remove_env(&first).unwrap();
    assert_eq!(skeletons(&shared), names);
    let (code, out) = run_piped(&second, &["sh", "-c", attack]);
    assert_eq!((code, out.trim()), (0, "refused"));
    warren_sandbox::remove_env(&second).unwrap();
}

/// Every entry under `dir` (relative, sorted), `.git` excluded (git itself writes there).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == ".git" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            out.push(format!("{rel}{}", if meta.is_dir() { "/" } else { "" }));
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn no_placeholder_is_left_in_the_host_tree() {
    let layout = Layout::new(&common::unique("P"));
    // Some protected paths exist (a parent without its protected child too), most do not.
    std::fs::create_dir_all(layout.worktree.join(".github/ISSUE_TEMPLATE")).unwrap();
    std::fs::write(layout.worktree.join(".envrc"), "export A=1\n").unwrap();
    let before = tree(&layout.worktree);
    let policy = layout.policy(Network::None, &[]);
    // Inside, every protected path exists and is read-only, also where the host has none.
    let script = r#"
import os, sys
names = os.environ["NAMES"].split(":")
for n in names:
    p = os.path.join(os.environ["ESC_WT"], n)
    assert os.path.lexists(p), f"{n} missing inside"
    try:
        target = os.path.join(p, "x") if os.path.isdir(p) else p
        open(target, "a").close()
        sys.exit(f"{n} is writable")
    except OSError:
        pass
print("ok")
"#;
    let mut policy_names = policy.clone();
    policy_names.env.push((
        "NAMES".into(),
        warren_sandbox::PROTECTED_WORKTREE_NAMES.join(":"),
    ));
    let (code, out) = run_piped(&policy_names, &["/usr/bin/python3", "-c", script]);
    assert_eq!((code, out.trim()), (0, "ok"));
    for argv in [
        &["true"][..],
        &["ls", "-laR", "."][..],
        &["git", "status"][..],
    ] {
        let (code, _) = run_piped(&policy, argv);
        assert_eq!(code, 0, "{argv:?}");
    }
    let after = tree(&layout.worktree);
    assert_eq!(before, after, "the host worktree is exactly as it was");
    assert_eq!(
        std::fs::read_to_string(layout.worktree.join(".envrc")).unwrap(),
        "export A=1\n"
    );
}

fn files_the_agent_creates_appear_on_the_host_at_once() {
    let layout = Layout::new(&common::unique("A"));
    std::fs::create_dir_all(layout.worktree.join(".github")).unwrap();
    std::fs::write(layout.worktree.join(".github/CODEOWNERS"), "* @me\n").unwrap();
    let before = tree(&layout.worktree);
    let policy = layout.policy(Network::None, &[]);
    // `.claude` exists only in the overlay's skeleton; `.github` on the host too.
    let script = "mkdir -p src .claude/skills .github/ISSUE_TEMPLATE && echo a > new.txt \
                  && echo b > .claude/notes.md && echo c > .claude/skills/s.md \
                  && echo d > .github/ISSUE_TEMPLATE/bug.md && echo e > src/lib.rs \
                  && mv new.txt renamed.txt && echo ready && (read line || true)";
    let mut child = spawn(&policy, &os(&["sh", "-c", script]), SandboxStdio::piped()).unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    // While the sandbox still runs.
    let wt = &layout.worktree;
    for (path, want) in [
        ("renamed.txt", "a\n"),
        (".claude/notes.md", "b\n"),
        (".claude/skills/s.md", "c\n"),
        (".github/ISSUE_TEMPLATE/bug.md", "d\n"),
        ("src/lib.rs", "e\n"),
        (".github/CODEOWNERS", "* @me\n"),
    ] {
        assert_eq!(
            std::fs::read_to_string(wt.join(path)).unwrap(),
            want,
            "{path}"
        );
    }
    let mut want = before.clone();
    for new in [
        ".claude/",
        ".claude/notes.md",
        ".claude/skills/",
        ".claude/skills/s.md",
        ".github/ISSUE_TEMPLATE/",
        ".github/ISSUE_TEMPLATE/bug.md",
        "renamed.txt",
        "src/",
        "src/lib.rs",
    ] {
        want.push(new.to_string());
    }
    want.sort();
    assert_eq!(
        tree(wt),
        want,
        "exactly what the agent made, no protected path"
    );
    drop(child.stdin.take());
    assert_eq!(child.wait().unwrap(), 0);
}

fn host_edits_are_seen_while_a_sandbox_runs() {
    let layout = Layout::new(&common::unique("W"));
    let wt = layout.worktree.clone();
    std::fs::write(wt.join("notes.txt"), "one\n").unwrap();
    let policy = layout.policy(Network::None, &[]);
    // Prints what it is asked to read, one line per request, until stdin closes.
    let script = r#"
import sys
for line in sys.stdin:
    try:
        print(open(line.strip()).read().replace("\n", "|"), flush=True)
    except OSError as e:
        print("error", e.strerror, flush=True)
"#;
    let mut child = spawn(
        &policy,
        &os(&["/usr/bin/python3", "-c", script]),
        SandboxStdio::piped(),
    )
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut ask = |path: &Path| {
        use std::io::Write;
        writeln!(stdin, "{}", path.display()).unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        line.trim_end().to_string()
    };
    assert_eq!(ask(&wt.join("notes.txt")), "one|");
    // In place, as an editor that truncates and writes does.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(wt.join("notes.txt"))
            .unwrap();
        f.write_all(b"two\n").unwrap();
    }
    assert_eq!(ask(&wt.join("notes.txt")), "one|two|");
    std::fs::write(wt.join("notes.txt"), "three\n").unwrap();
    assert_eq!(ask(&wt.join("notes.txt")), "three|");
    // New files and directories.
    std::fs::write(wt.join("fresh.txt"), "fresh\n").unwrap();
    assert_eq!(ask(&wt.join("fresh.txt")), "fresh|");
    std::fs::create_dir_all(wt.join("docs/new")).unwrap();
    std::fs::write(wt.join("docs/new/a.md"), "a\n").unwrap();
    assert_eq!(ask(&wt.join("docs/new/a.md")), "a|");
    // The repository is bound past the overlay: a ref rewritten by rename (as git does)
    // is seen at once, even after the sandbox has read the old one.
    let head = wt.join(".git/refs/heads/warren/env1");
    let old = std::fs::read_to_string(&head).unwrap();
    assert_eq!(ask(&head), format!("{}|", old.trim()));
    std::fs::write(
        wt.join(".git/new-ref.tmp"),
        "0000000000000000000000000000000000000001\n",
    )
    .unwrap();
    std::fs::rename(wt.join(".git/new-ref.tmp"), &head).unwrap();
    assert_eq!(ask(&head), "0000000000000000000000000000000000000001|");
    drop(stdin);
    assert_eq!(child.wait().unwrap(), 0);
}

/// A sandbox started while another of the environment runs joins its mount namespace:
/// what one changes the other sees at once, by any means (rename, delete, create), and
/// inotify in one hears of writes through the other (a dev server's reload).
fn sandboxes_of_one_environment_share_one_overlay() {
    let layout = Layout::new(&common::unique("J"));
    let wt = layout.worktree.clone();
    for f in ["inplace", "renamed", "gone"] {
        std::fs::write(wt.join(f), "old\n").unwrap();
    }
    let policy = layout.policy(Network::None, &[]);
    let watcher = r#"
import ctypes, os, select, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
libc.inotify_add_watch(fd, b".", 0x2 | 0x80 | 0x100 | 0x200 | 0x40)  # modify, moved, create, delete
def rd(n):
    try:
        return open(n).read().strip()
    except FileNotFoundError:
        return "missing"
names = ["inplace", "renamed", "gone", "created"]
print(os.stat(".").st_dev, *[rd(n) for n in names], flush=True)
sys.stdin.readline()
events = 0
while select.select([fd], [], [], 0.5)[0]:
    events += len(os.read(fd, 65536))
print(events > 0, *[rd(n) for n in names], flush=True)
"#;
    let mut b = spawn(
        &policy,
        &os(&["/usr/bin/python3", "-c", watcher]),
        SandboxStdio::piped(),
    )
    .unwrap();
    let mut b_in = b.stdin.take().unwrap();
    let mut b_out = std::io::BufReader::new(b.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut b_out, &mut line).unwrap();
    let before: Vec<String> = line.split_whitespace().map(String::from).collect();
    assert_eq!(before[1..], ["old", "old", "old", "missing"]);
    let running = warren_sandbox::list(policy.state_dir.as_ref().unwrap());
    assert!(
        running.iter().any(|i| i.view.is_some()),
        "B is joinable: {running:?}"
    );

    // A: another command of the environment, while B runs.
    let marker = "joined-sandbox-marker";
    let change = format!(
        "import os\nprint(os.stat('.').st_dev)\n\
         print(any('{marker}' not in open('/proc/%s/cmdline' % p).read() and 'inotify' in open('/proc/%s/cmdline' % p).read() for p in os.listdir('/proc') if p.isdigit()))\n\
         open('inplace', 'w').write('new\\n')\n\
         open('r.tmp', 'w').write('new\\n'); os.rename('r.tmp', 'renamed')\n\
         os.remove('gone'); open('created', 'w').write('new\\n')\n"
    );
    let (code, out) = run_piped(&policy, &["/usr/bin/python3", "-c", &change, marker]);
    assert_eq!(code, 0, "{out}");
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(before[0].as_str()),
        "one overlay: the same device"
    );
    assert_eq!(lines.next(), Some("False"), "A does not see B's processes");

    use std::io::Write;
    writeln!(b_in, "go").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut b_out, &mut line).unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["True", "new", "new", "missing", "new"],
        "B sees every change and hears of it"
    );
    drop(b_in);
    assert_eq!(b.wait().unwrap(), 0);
}

fn a_binary_that_is_not_a_helper_is_an_error() {
    let layout = Layout::new(&common::unique("H"));
    let policy = layout.policy(Network::None, &[]);
    let helper = std::ffi::OsStr::new("/bin/true");
    let err =
        warren_sandbox::spawn_with_helper(helper, &policy, &os(&["true"]), SandboxStdio::default())
            .unwrap_err();
    assert_eq!(err.failed_layer(), Some(Layer::Helper), "{err}");
}

/// `worktree_read_only` (the `manager` on the project's main checkout): the checkout is
/// read, nothing in it is written (`.git` included, which git on the host would trust),
/// and a `read_write` path outside it (its hooks' relay dir) stays writable.
fn a_read_only_worktree_takes_no_write() {
    let layout = Layout::new(&common::unique("R"));
    let relay = layout.warren_root.join("relay/env1");
    std::fs::create_dir_all(&relay).unwrap();
    let mut policy = layout.policy(Network::None, &[]);
    policy.worktree = layout.repo.clone();
    policy.cwd = layout.repo.clone();
    policy.worktree_read_only = true;
    policy.read_write.push(relay.clone());
    let before = tree(&layout.repo);
    let config = std::fs::read(layout.git_dir.join("config")).unwrap();
    let (code, out) = run_piped(&policy, &["cat", "README"]);
    assert_eq!((code, out.as_str()), (0, "hello\n"));
    for cmd in [
        "echo x > new.txt",
        "echo x >> README",
        "rm README",
        "mv README README2",
        "mkdir d",
        "echo evil > .git/hooks/pre-commit",
        "echo '[core] hooksPath = /tmp' >> .git/config",
        "mkdir .git/warren",
        "echo '{}' > .mcp.json",
        "git -c user.name=a -c user.email=a@b.invalid commit -qm x --allow-empty",
    ] {
        let (code, out) = run_piped(&policy, &["sh", "-c", &format!("exec 2>&1; {cmd}")]);
        assert_ne!(code, 0, "`{cmd}` succeeded in a read-only worktree: {out}");
        assert!(out.contains("Read-only file system"), "`{cmd}`: {out}");
    }
    let (code, out) = run_piped(
        &policy,
        &[
            "sh",
            "-c",
            &format!("echo relayed > {}/hooks.jsonl", relay.display()),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        std::fs::read_to_string(relay.join("hooks.jsonl")).unwrap(),
        "relayed\n"
    );
    assert_eq!(tree(&layout.repo), before, "the checkout is unchanged");
    assert_eq!(
        std::fs::read(layout.git_dir.join("config")).unwrap(),
        config
    );
    assert!(!layout.git_dir.join("hooks/pre-commit").exists());
    assert!(!layout.git_dir.join("warren").exists());
}
