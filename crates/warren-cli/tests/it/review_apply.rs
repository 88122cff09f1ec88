//! `warren apply` (into the main checkout, uncommitted, all or nothing) and
//! `warren push` (to a real remote served by `git daemon`).

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

fn project(t: &TestContext) {
    t.write(".warren.yaml", "runtime: sandbox\n");
    t.write("a.txt", "1\n2\n3\n");
    t.write("gone.txt", "bye\n");
    t.commit("project");
}

/// What must not change when an operation fails: refs, HEAD, status, files.
fn snapshot(t: &TestContext) -> String {
    let refs = git(
        &t.repo,
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    );
    let head = git(&t.repo, &["rev-parse", "HEAD"]);
    let status = git(&t.repo, &["status", "--porcelain", "--untracked-files=all"]);
    let a = std::fs::read_to_string(t.repo.join("a.txt")).unwrap_or_default();
    format!("{refs}\n{head}\n{status}\n{a}")
}

#[test]
fn apply_puts_every_change_into_the_main_checkout_uncommitted() {
    let t = TestContext::new();
    project(&t);
    t.warren(&[
        "run",
        "-n",
        "ap",
        "--",
        "sh",
        "-c",
        "echo 4 >> a.txt && git -c user.name=a -c user.email=a@a commit -qam c && rm gone.txt \
         && printf '\\000\\001bin' > b.bin && echo new > new.txt",
    ])
    .ok();
    let head = git(&t.repo, &["rev-parse", "HEAD"]);
    let out = t.warren(&["apply", "ap"]).ok();
    progress!("apply:\n{}{}", out.stdout, out.stderr);
    assert_eq!(
        git(&t.repo, &["rev-parse", "HEAD"]),
        head,
        "nothing committed"
    );
    let status = git(&t.repo, &["status", "--porcelain", "--untracked-files=all"]);
    progress!("main checkout:\n{status}");
    assert_eq!(
        std::fs::read_to_string(t.repo.join("a.txt")).unwrap(),
        "1\n2\n3\n4\n"
    );
    assert!(!t.repo.join("gone.txt").exists());
    assert_eq!(std::fs::read(t.repo.join("b.bin")).unwrap(), b"\x00\x01bin");
    assert_eq!(
        std::fs::read_to_string(t.repo.join("new.txt")).unwrap(),
        "new\n"
    );
    t.warren(&["rm", "-f", "ap"]).ok();
}

#[test]
fn apply_changes_nothing_when_a_change_does_not_fit() {
    let t = TestContext::new();
    project(&t);
    t.warren(&[
        "run",
        "-n",
        "ax",
        "--",
        "sh",
        "-c",
        "echo env > a.txt && echo env > new.txt",
    ])
    .ok();
    progress!("the main checkout changed the same lines");
    std::fs::write(t.repo.join("a.txt"), "mine\n").unwrap();
    let before = snapshot(&t);
    let r = t.warren(&["apply", "ax"]).fails(1);
    progress!("{}", r.stderr);
    assert!(r.stderr.contains("a.txt"), "{}", r.stderr);
    assert_eq!(snapshot(&t), before);

    progress!("an untracked file of the main checkout would be overwritten");
    std::fs::write(t.repo.join("a.txt"), "1\n2\n3\n").unwrap();
    std::fs::write(t.repo.join("new.txt"), "precious\n").unwrap();
    let before = snapshot(&t);
    let r = t.warren(&["apply", "ax"]).fails(1);
    assert!(r.stderr.contains("new.txt"), "{}", r.stderr);
    assert_eq!(snapshot(&t), before);
    assert_eq!(
        std::fs::read_to_string(t.repo.join("new.txt")).unwrap(),
        "precious\n"
    );
    t.warren(&["rm", "-f", "ax"]).ok();
}

/// A bare repository served by a real `git daemon` on an ephemeral port.
struct Daemon {
    child: Child,
    url: String,
    bare: std::path::PathBuf,
}

impl Daemon {
    fn start(t: &TestContext) -> Daemon {
        let base = t.dir.path().join("served");
        let bare = base.join("remote.git");
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "--quiet", "--bare"]);
        let port = free_port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(&base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // `git daemon` runs `git-daemon` as a child: a group of their own, so
            // both go when the test ends.
            .process_group(0)
            .spawn()
            .expect("git daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Daemon {
            child,
            url: format!("git://127.0.0.1:{port}/remote.git"),
            bare,
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn push_sends_the_branch_to_a_real_remote_with_the_users_hooks_only() {
    let t = TestContext::new();
    project(&t);
    let daemon = Daemon::start(&t);
    git(&t.repo, &["remote", "add", "origin", &daemon.url]);
    progress!("remote: {}", daemon.url);
    // The user's own pre-push hook runs, as git runs it for them.
    let user_marker = t.dir.path().join("user-pre-push");
    let hook = t.repo.join(".git/hooks/pre-push");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\ntouch {}\n", user_marker.display()),
    )
    .unwrap();
    set_exec(&hook);
    // The environment plants hooks and config of its own: none of it may run on the host.
    let env_marker = t.dir.path().join("env-hook-ran");
    t.warren(&[
        "run",
        "-n",
        "pu",
        "--",
        "sh",
        "-c",
        &format!(
            "echo pushed > p.txt && git add p.txt && git -c user.name=a -c user.email=a@a commit -qm push-me \
             && mkdir -p .git/hooks && printf '#!/bin/sh\\ntouch {m}\\n' > .git/hooks/pre-push && chmod +x .git/hooks/pre-push \
             && git config core.sshCommand 'touch {m}' && git config remote.origin.url /tmp/elsewhere \
             && echo later > uncommitted.txt",
            m = env_marker.display()
        ),
    ])
    .ok();
    let out = t.warren(&["push", "pu"]).ok();
    progress!("push: {}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("not committed"), "{}", out.stderr);
    let pushed = git(&daemon.bare, &["rev-parse", "refs/heads/warren/pu"]);
    let subject = git(&daemon.bare, &["log", "-1", "--format=%s", &pushed]);
    assert_eq!(subject.trim(), "push-me");
    assert!(user_marker.exists(), "the user's pre-push hook ran");
    assert!(
        !env_marker.exists(),
        "the environment's hook or config ran on the host"
    );

    let bad = t
        .warren(&["push", "pu", "--remote=--upload-pack=touch x"])
        .fails(1);
    assert!(bad.stderr.contains("not a remote"), "{}", bad.stderr);
    t.warren(&["rm", "-f", "pu"]).ok();
}

fn set_exec(p: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A large binary file and a project with a submodule: `diff` and `apply` handle both.
#[test]
fn large_files_and_a_submodule() {
    let t = TestContext::new();
    project(&t);
    progress!("a project with a submodule (its own repository, added by path)");
    let sub = t.dir.path().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    git(&sub, &["init", "--quiet", "-b", "main"]);
    std::fs::write(sub.join("lib.txt"), "lib\n").unwrap();
    git(&sub, &["add", "-A"]);
    git(
        &sub,
        &[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@a",
            "commit",
            "--quiet",
            "-m",
            "lib",
        ],
    );
    git(
        &t.repo,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "--quiet",
            sub.to_str().unwrap(),
            "vendor/sub",
        ],
    );
    t.commit("with a submodule");
    t.warren(&[
        "run",
        "-n",
        "big",
        "--",
        "sh",
        "-c",
        "head -c 20000000 /dev/urandom > big.bin && echo 4 >> a.txt",
    ])
    .ok();
    let stat = t.warren(&["diff", "big", "--stat"]).ok().stdout;
    progress!("diff --stat:\n{stat}");
    assert!(
        stat.contains("big.bin") && stat.contains("Bin 0 -> 20000000 bytes"),
        "{stat}"
    );
    assert!(
        !stat.contains("vendor/sub"),
        "the submodule did not change: {stat}"
    );
    t.warren(&["apply", "big"]).ok();
    assert_eq!(
        std::fs::metadata(t.repo.join("big.bin")).unwrap().len(),
        20_000_000
    );
    let theirs = t
        .warren(&["exec", "big", "--", "sha256sum", "big.bin"])
        .ok()
        .stdout;
    let ours = std::process::Command::new("sha256sum")
        .arg("big.bin")
        .current_dir(&t.repo)
        .output()
        .unwrap();
    assert_eq!(
        theirs.split_whitespace().next(),
        String::from_utf8_lossy(&ours.stdout)
            .split_whitespace()
            .next()
    );
    t.warren(&["rm", "-f", "big"]).ok();
}
