//! `warren land` (docs/review.md "land"), through the real binary on sandbox
//! environments: rebase, squash and merge; uncommitted work committed inside;
//! a target that moved; conflicts left in the environment and `--continue`;
//! `--test` and `land: {test}`; a queue stopping at its first failure; a main
//! checkout that is dirty, mid-merge, on another branch or has untracked files
//! in the way; a branch or tree deleted behind warren's back; and the trust
//! boundary: the main repository's hooks run as for the user, nothing the
//! environment wrote into its own repository ever runs on the host. After
//! every failure the main repository's refs, HEAD and status are unchanged.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

const CONFIG: &str = "runtime: sandbox\ncommands: {test: \"test ! -f broken\"}\n";

/// git inside an environment, with an identity of its own (the agent's).
const G: &str = "git -c user.name=agent -c user.email=agent@example.invalid";

fn setup(config: &str) -> TestContext {
    let t = TestContext::new();
    t.write(".warren.yaml", config);
    t.write("shared.txt", "base\n");
    t.commit("project");
    t
}

/// An environment `name` that ran `script` (in `sh -c`) and keeps running.
fn env(t: &TestContext, name: &str, script: &str) {
    t.warren(&["run", "-n", name, "--", "sh", "-c", script])
        .ok();
}

/// The main repository as the user sees it: every ref, HEAD, the status.
fn snapshot(repo: &Path) -> (String, String, String) {
    let refs = git(repo, &["for-each-ref", "--format=%(refname) %(objectname)"]);
    let head = std::fs::read_to_string(repo.join(".git/HEAD")).unwrap();
    let status = git(repo, &["status", "--porcelain", "--untracked-files=all"]);
    (refs, head, status)
}

fn subjects(repo: &Path, rev: &str) -> Vec<String> {
    git(repo, &["log", "--format=%s", rev])
        .lines()
        .map(str::to_string)
        .collect()
}

fn tip(repo: &Path, rev: &str) -> String {
    git(repo, &["rev-parse", rev])
}

#[test]
fn lands_by_rebase_squash_and_merge() {
    let t = setup(CONFIG);
    env(
        &t,
        "a",
        &format!(
            "echo a1 > a1.txt && {G} add -A && {G} commit -qm a1 && echo a2 > a2.txt && {G} add -A && {G} commit -qm a2"
        ),
    );
    env(
        &t,
        "b",
        &format!(
            "echo b1 > b1.txt && {G} add -A && {G} commit -qm b1 && echo b2 > b2.txt && {G} add -A && {G} commit -qm b2"
        ),
    );
    env(
        &t,
        "c",
        &format!("echo c1 > c1.txt && {G} add -A && {G} commit -qm c1"),
    );
    // The target moves ahead after they were created: each is brought up to date.
    t.write("ahead.txt", "ahead\n");
    t.commit("ahead");

    progress!("rebase (the default): linear, on top of `ahead`");
    let run = t.warren(&["land", "a"]).ok();
    assert!(run.stderr.contains("Landed"), "{}", run.stderr);
    assert_eq!(
        subjects(&t.repo, "main")[..4],
        ["a2", "a1", "ahead", "project"]
    );
    assert_eq!(
        git(&t.repo, &["rev-list", "--merges", "--count", "main"]),
        "0"
    );
    // The checkout moved with it (fast-forward), clean.
    assert_eq!(
        std::fs::read_to_string(t.repo.join("a2.txt")).unwrap(),
        "a2\n"
    );
    assert_eq!(git(&t.repo, &["status", "--porcelain"]), "");
    assert_eq!(tip(&t.repo, "main"), tip(&t.repo, "warren/a"));

    progress!("squash: one commit of the tree, the old tip its only parent");
    let before = tip(&t.repo, "main");
    t.warren(&["land", "b", "--squash"]).ok();
    let parents = git(&t.repo, &["rev-list", "--parents", "-n", "1", "main"]);
    assert_eq!(
        parents.split(' ').skip(1).collect::<Vec<_>>(),
        [before.as_str()]
    );
    let msg = git(&t.repo, &["log", "-1", "--format=%B", "main"]);
    assert!(msg.contains("* b1") && msg.contains("* b2"), "{msg}");
    for f in ["a1.txt", "a2.txt", "b1.txt", "b2.txt", "ahead.txt"] {
        assert!(t.repo.join(f).exists(), "{f}");
    }

    progress!("merge: the target merged into the environment's branch, then fast-forward");
    t.warren(&["land", "c", "--merge"]).ok();
    let parents = git(&t.repo, &["rev-list", "--parents", "-n", "1", "main"]);
    assert_eq!(parents.split(' ').count(), 3, "a merge commit: {parents}");
    assert!(t.repo.join("c1.txt").exists());
    assert_eq!(git(&t.repo, &["status", "--porcelain"]), "");

    progress!("an environment keeps working after it landed; only what landed moved the target");
    let landed = tip(&t.repo, "main");
    t.warren(&[
        "exec",
        "a",
        "--",
        "sh",
        "-c",
        &format!("echo later > later.txt && {G} add -A && {G} commit -qm later"),
    ])
    .ok();
    assert_eq!(tip(&t.repo, "main"), landed);
    assert!(!t.repo.join("later.txt").exists());
    progress!("landing again: nothing new beyond the target is a no-op");
    let run = t.warren(&["land", "b", "--squash"]).ok();
    assert!(run.stderr.contains("Nothing"), "{}", run.stderr);
}

#[test]
fn uncommitted_work_is_committed_inside_as_the_user() {
    let t = setup(CONFIG);
    git(&t.repo, &["config", "user.name", "Host User"]);
    git(&t.repo, &["config", "user.email", "host@example.invalid"]);
    env(
        &t,
        "a",
        "echo changed > shared.txt && echo new > untracked.txt",
    );
    env(&t, "b", "echo b > b.txt");
    t.warren(&["land", "a", "-m", "my work"]).ok();
    assert_eq!(subjects(&t.repo, "main")[0], "my work");
    assert_eq!(
        git(&t.repo, &["log", "-1", "--format=%an <%ae>", "main"]),
        "Host User <host@example.invalid>"
    );
    assert_eq!(
        std::fs::read_to_string(t.repo.join("shared.txt")).unwrap(),
        "changed\n"
    );
    assert_eq!(
        std::fs::read_to_string(t.repo.join("untracked.txt")).unwrap(),
        "new\n"
    );
    // Without `-m`: a message naming the environment.
    t.warren(&["land", "b"]).ok();
    assert_eq!(subjects(&t.repo, "main")[0], "Work of b");
}

#[test]
fn a_conflict_stops_and_continue_finishes() {
    let t = setup(CONFIG);
    env(
        &t,
        "a",
        &format!("echo env > shared.txt && {G} commit -qam env-change"),
    );
    t.write("shared.txt", "main\n");
    t.commit("main-change");
    let before = snapshot(&t.repo);
    let run = t.warren(&["land", "a"]).fails(1);
    assert!(run.stderr.contains("conflicts in 1 file"), "{}", run.stderr);
    assert!(run.stderr.contains("shared.txt"), "{}", run.stderr);
    assert!(
        run.stderr.contains("warren land a --continue"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&t.repo), before);
    // The rebase waits inside the environment.
    let st = t.warren(&["exec", "a", "--", "git", "status"]).ok();
    assert!(st.stdout.contains("rebase"), "{}", st.stdout);

    progress!(
        "a plain land refuses while it is in progress; --continue refuses while conflicts remain"
    );
    let run = t.warren(&["land", "a"]).fails(1);
    assert!(run.stderr.contains("in progress"), "{}", run.stderr);
    let run = t.warren(&["land", "a", "--continue"]).fails(1);
    assert!(
        run.stderr.contains("unresolved conflicts"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("shared.txt"), "{}", run.stderr);
    assert_eq!(snapshot(&t.repo), before);

    progress!("resolved in the environment, --continue lands it");
    t.warren(&["exec", "a", "--", "sh", "-c", "echo resolved > shared.txt"])
        .ok();
    t.warren(&["land", "a", "--continue"]).ok();
    assert_eq!(
        subjects(&t.repo, "main")[..2],
        ["env-change", "main-change"]
    );
    assert_eq!(
        std::fs::read_to_string(t.repo.join("shared.txt")).unwrap(),
        "resolved\n"
    );
}

#[test]
fn a_failing_test_stops_the_landing() {
    let t = setup(&format!("{CONFIG}land: {{test: true}}\n"));
    env(
        &t,
        "a",
        &format!("echo x > broken && {G} add -A && {G} commit -qm broken"),
    );
    let before = snapshot(&t.repo);
    progress!("`land: {{test: true}}` runs it without the flag");
    let run = t.warren(&["land", "a"]).fails(1);
    assert!(run.stderr.contains("test of `a` failed"), "{}", run.stderr);
    assert_eq!(snapshot(&t.repo), before);
    let run = t.warren(&["land", "a", "--test"]).fails(1);
    assert!(run.stderr.contains("test of `a` failed"), "{}", run.stderr);
    assert_eq!(snapshot(&t.repo), before);
    progress!("fixed inside, it passes and lands");
    t.warren(&[
        "exec",
        "a",
        "--",
        "sh",
        "-c",
        &format!("{G} rm -q broken && {G} commit -qm fixed"),
    ])
    .ok();
    let run = t.warren(&["land", "a", "--test"]).ok();
    assert!(run.stderr.contains("tested"), "{}", run.stderr);
    assert_eq!(subjects(&t.repo, "main")[..2], ["fixed", "broken"]);
}

#[test]
fn a_queue_stops_at_its_first_failure() {
    let t = setup(CONFIG);
    env(
        &t,
        "a",
        &format!("echo a > shared.txt && {G} commit -qam from-a"),
    );
    env(
        &t,
        "b",
        &format!("echo b > shared.txt && {G} commit -qam from-b"),
    );
    env(
        &t,
        "c",
        &format!("echo c > c.txt && {G} add -A && {G} commit -qm from-c"),
    );
    let run = t.warren(&["land", "a", "b", "c"]).fails(1);
    assert!(run.stderr.contains("stopped at `b`"), "{}", run.stderr);
    assert!(run.stderr.contains("shared.txt"), "{}", run.stderr);
    assert!(run.stderr.contains("landed: `a`"), "{}", run.stderr);
    assert!(run.stderr.contains("not tried: `c`"), "{}", run.stderr);
    assert_eq!(subjects(&t.repo, "main")[..2], ["from-a", "project"]);
    assert!(!t.repo.join("c.txt").exists());
    progress!("b resolved, the rest of the queue lands, each re-tested onto the one before");
    t.warren(&["exec", "a", "--", "true"]).ok();
    t.warren(&["exec", "b", "--", "sh", "-c", "echo ab > shared.txt"])
        .ok();
    t.warren(&["land", "b", "c", "--continue", "--test"]).ok();
    assert_eq!(
        subjects(&t.repo, "main")[..4],
        ["from-c", "from-b", "from-a", "project"]
    );
}

#[test]
fn the_main_checkout_is_never_left_half_done() {
    let t = setup(CONFIG);
    env(
        &t,
        "a",
        &format!("echo new > new.txt && {G} add -A && {G} commit -qm new-file"),
    );

    progress!("dirty: a tracked file changed");
    t.write("shared.txt", "local edit\n");
    let before = snapshot(&t.repo);
    let run = t.warren(&["land", "a"]).fails(1);
    assert!(run.stderr.contains("uncommitted changes"), "{}", run.stderr);
    assert!(run.stderr.contains("shared.txt"), "{}", run.stderr);
    assert_eq!(snapshot(&t.repo), before);
    git(&t.repo, &["checkout", "--", "shared.txt"]);

    progress!("in the middle of a merge");
    git(&t.repo, &["switch", "-q", "-c", "side"]);
    t.write("shared.txt", "side\n");
    t.commit("side");
    git(&t.repo, &["switch", "-q", "main"]);
    t.write("shared.txt", "main\n");
    t.commit("main");
    let merge = Command::new("git")
        .arg("-C")
        .arg(&t.repo)
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "merge", "side"])
        .output()
        .unwrap();
    assert!(!merge.status.success());
    let before = snapshot(&t.repo);
    let run = t.warren(&["land", "a"]).fails(1);
    assert!(run.stderr.contains("middle of a merge"), "{}", run.stderr);
    assert_eq!(snapshot(&t.repo), before);
    git(&t.repo, &["merge", "--abort"]);

    progress!("an untracked file the update would overwrite");
    t.write("new.txt", "mine\n");
    let before = snapshot(&t.repo);
    let run = t.warren(&["land", "a"]).fails(1);
    assert!(run.stderr.contains("overwrite untracked"), "{}", run.stderr);
    assert!(run.stderr.contains("new.txt"), "{}", run.stderr);
    assert_eq!(snapshot(&t.repo), before);
    assert_eq!(
        std::fs::read_to_string(t.repo.join("new.txt")).unwrap(),
        "mine\n"
    );
    std::fs::remove_file(t.repo.join("new.txt")).unwrap();

    progress!("on another branch: the target moves by update-ref, the checkout stays");
    git(&t.repo, &["switch", "-q", "-c", "other"]);
    t.write("wip.txt", "untracked on other\n");
    let run = t.warren(&["land", "a", "--into", "main"]).ok();
    assert!(run.stderr.contains("Landed"), "{}", run.stderr);
    assert_eq!(subjects(&t.repo, "main")[0], "new-file");
    assert_eq!(
        std::fs::read_to_string(t.repo.join(".git/HEAD"))
            .unwrap()
            .trim(),
        "ref: refs/heads/other"
    );
    assert!(!t.repo.join("new.txt").exists());
    assert_eq!(git(&t.repo, &["status", "--porcelain"]), "?? wip.txt");
}

#[test]
fn a_branch_or_tree_deleted_behind_warrens_back_is_a_clear_error() {
    let t = setup(CONFIG);
    env(
        &t,
        "a",
        &format!("echo a > a.txt && {G} add -A && {G} commit -qm a"),
    );
    env(
        &t,
        "b",
        &format!("echo b > b.txt && {G} add -A && {G} commit -qm b"),
    );
    let before = snapshot(&t.repo);
    t.warren(&["exec", "a", "--", "sh", "-c", "rm .git/refs/heads/warren/a"])
        .ok();
    let run = t.warren(&["land", "a"]).fails(1);
    assert!(
        run.stderr.contains("branch `warren/a` cannot be read"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&t.repo), before);
    let tree = t.root.join("worktrees/repo/b");
    assert!(tree.is_dir(), "{}", tree.display());
    std::fs::remove_dir_all(&tree).unwrap();
    let run = t.warren(&["land", "b"]).fails(1);
    assert!(run.stderr.contains("is gone"), "{}", run.stderr);
    assert_eq!(snapshot(&t.repo), before);
}

#[test]
fn main_hooks_run_for_the_user_and_environment_hooks_never_on_the_host() {
    let t = setup(CONFIG);
    let outside = t.dir.path().join("markers");
    std::fs::create_dir_all(&outside).unwrap();
    let main_marker = outside.join("main-post-merge");
    // The user's own hook in the main repository.
    let hook = t.repo.join(".git/hooks/post-merge");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\necho ran > '{}'\n", main_marker.display()),
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&hook)
        .status()
        .unwrap();
    // The environment plants hooks and config that would leave a marker
    // outside its tree if anything ran them on the host (inside, the sandbox
    // keeps them from writing there).
    let env_marker = outside.join("from-env");
    let evil = format!(
        "#!/bin/sh\necho \"$0\" >> '{}' 2>/dev/null\nexit 0\n",
        env_marker.display()
    );
    let plant = format!(
        "mkdir -p .git/hooks && for h in pre-commit post-commit post-merge post-checkout post-rewrite \
         pre-rebase reference-transaction pre-push prepare-commit-msg commit-msg; do \
         printf '%s' \"$EVIL\" > .git/hooks/$h && chmod +x .git/hooks/$h; done && \
         printf '%s' \"$EVIL\" > .git/evil.sh && chmod +x .git/evil.sh && \
         git config core.fsmonitor \"$PWD/.git/evil.sh\" && git config core.pager \"$PWD/.git/evil.sh\" && \
         git config core.sshCommand \"$PWD/.git/evil.sh\" && \
         echo work > work.txt && {G} add -A && {G} commit -qm work && echo more > more.txt"
    );
    t.warren(&[
        "run",
        "-n",
        "a",
        "-e",
        &format!("EVIL={evil}"),
        "--",
        "sh",
        "-c",
        &plant,
    ])
    .ok();
    t.write("ahead.txt", "ahead\n");
    t.commit("ahead");
    t.warren(&["land", "a", "--test"]).ok();
    assert_eq!(
        subjects(&t.repo, "main")[..3],
        ["Work of a", "work", "ahead"]
    );
    assert!(
        main_marker.exists(),
        "the main repository's post-merge hook ran"
    );
    assert!(
        !env_marker.exists(),
        "something the environment wrote ran on the host: {}",
        std::fs::read_to_string(&env_marker).unwrap_or_default()
    );
}
