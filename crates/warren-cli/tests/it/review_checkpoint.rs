//! Checkpoints (docs/review.md): the whole tree on a ref of warren's own without
//! touching the agent's branch, index or files; `checkpoints`, `rewind`, `fork`,
//! and `checkpoint: on_idle`.

use std::time::{Duration, Instant};

use crate::harness::*;

fn inside(t: &TestContext, name: &str, script: &str) -> String {
    t.warren(&["exec", name, "--", "sh", "-c", script])
        .ok()
        .stdout
}

fn main_ref(t: &TestContext, r: &str) -> String {
    git(&t.repo, &["rev-parse", "--verify", "--quiet", r])
}

#[test]
fn checkpoint_rewind_and_fork() {
    let t = TestContext::new();
    t.write(".warren.yaml", "runtime: sandbox\n");
    t.write("a.txt", "one\n");
    t.commit("project");
    t.warren(&[
        "run",
        "-n",
        "c1",
        "--",
        "sh",
        "-c",
        "echo two >> a.txt && git -c user.name=a -c user.email=a@a commit -qam two && echo three >> a.txt \
         && echo staged > staged.txt && git add staged.txt && echo loose > untracked.txt",
    ])
    .ok();
    let state = "git status --porcelain; git rev-parse HEAD; git diff --cached --stat";
    let before = inside(&t, "c1", state);

    progress!("checkpoint 1: everything, and nothing of the agent's touched");
    let out = t.warren(&["checkpoint", "c1", "-m", "first try"]).ok();
    progress!("{}", out.stderr);
    assert_eq!(
        inside(&t, "c1", state),
        before,
        "branch, index and files unchanged"
    );
    let cp1 = main_ref(&t, "refs/warren/checkpoints/c1/1");
    assert!(!cp1.is_empty());
    let files = git(&t.repo, &["ls-tree", "-r", "--name-only", &cp1]);
    for f in ["a.txt", "staged.txt", "untracked.txt"] {
        assert!(files.contains(f), "{f} not in checkpoint 1: {files}");
    }
    assert_eq!(
        git(&t.repo, &["show", &format!("{cp1}:a.txt")]),
        "one\ntwo\nthree"
    );
    let again = t.warren(&["checkpoint", "c1"]).ok();
    assert!(
        again.stderr.contains("not changed since checkpoint 1"),
        "{}",
        again.stderr
    );

    progress!("more work, checkpoint 2, the list");
    inside(
        &t,
        "c1",
        "echo four >> a.txt && echo later > '--later file' && rm untracked.txt",
    );
    t.warren(&["checkpoint", "c1", "-m", "second"]).ok();
    let list = t.warren(&["checkpoints", "c1"]).ok().stdout;
    progress!("checkpoints:\n{list}");
    assert!(
        list.contains("first try") && list.contains("second"),
        "{list}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&t.warren(&["checkpoints", "c1", "--json"]).ok().stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);

    progress!(
        "rewind to 1: files back, the later ones gone; the tree before is 2 (unchanged since)"
    );
    let head = inside(&t, "c1", "git rev-parse HEAD");
    let r = t.warren(&["rewind", "c1", "1"]).ok();
    progress!("{}", r.stderr);
    assert_eq!(inside(&t, "c1", "cat a.txt"), "one\ntwo\nthree\n");
    assert_eq!(inside(&t, "c1", "cat untracked.txt"), "loose\n");
    assert_eq!(
        inside(&t, "c1", "test -e '--later file' || echo gone"),
        "gone\n"
    );
    assert_eq!(
        inside(&t, "c1", "git rev-parse HEAD"),
        head,
        "its commits stay"
    );
    assert!(
        r.stderr.contains("the tree before is checkpoint 2"),
        "{}",
        r.stderr
    );
    t.warren(&["rewind", "c1", "2"]).ok();
    assert_eq!(inside(&t, "c1", "cat a.txt"), "one\ntwo\nthree\nfour\n");
    assert_eq!(inside(&t, "c1", "cat -- '--later file'"), "later\n");
    let missing = t.warren(&["rewind", "c1", "99"]).fails(1);
    assert!(
        missing.stderr.contains("no checkpoint 99"),
        "{}",
        missing.stderr
    );

    progress!("fork at 1: a second approach from there, the first untouched");
    t.warren(&["fork", "c1", "c2", "--at", "1"]).ok();
    assert_eq!(inside(&t, "c2", "cat a.txt"), "one\ntwo\nthree\n");
    assert_eq!(
        inside(&t, "c2", "cat untracked.txt staged.txt"),
        "loose\nstaged\n"
    );
    assert_eq!(inside(&t, "c1", "cat a.txt"), "one\ntwo\nthree\nfour\n");
    let diff = t.warren(&["diff", "c2", "--name-only"]).ok().stdout;
    assert!(
        diff.trim().is_empty(),
        "c2 starts at the checkpoint: {diff}"
    );
    let clash = t.warren(&["fork", "c1", "c2"]).fails(1);
    assert!(clash.stderr.contains("exists already"), "{}", clash.stderr);
    t.warren(&["rm", "-f", "c1", "c2"]).ok();
}

#[test]
fn a_checkpoint_at_every_idle() {
    let t = TestContext::new();
    t.write(
        ".warren.yaml",
        "runtime: sandbox\ncheckpoint: on_idle\nsessions:\n  shell: {command: sh}\ntypes:\n  dev: {sessions: [shell]}\n",
    );
    t.commit("project");
    t.warren(&["new", "dev", "i1"]).ok();
    t.warren(&["wait", "i1", "--until", "idle", "--timeout", "30s"])
        .ok();
    progress!("the agent (a shell here) works, then is idle again");
    t.warren(&["send", "i1", "echo done > turn.txt; sleep 1"])
        .ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = t.warren(&["checkpoints", "i1", "--json"]).ok().stdout;
        let cps: serde_json::Value = serde_json::from_str(&list).unwrap();
        let with_turn = cps.as_array().unwrap().iter().any(|c| {
            let commit = c["commit"].as_str().unwrap();
            git(&t.repo, &["ls-tree", "--name-only", commit]).contains("turn.txt")
        });
        if with_turn {
            progress!("checkpoints: {cps}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint with the turn's work: {cps}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    t.warren(&["rm", "-f", "i1"]).ok();
}
