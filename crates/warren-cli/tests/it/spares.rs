//! Spare worktrees through the binary: a clean worktree of a removed
//! environment is reused by the next one, and nothing of one environment
//! (ignored files, changes, placeholders, its branch) reaches the next.

use crate::harness::*;

fn spare_count(ctx: &TestContext, project: &str) -> usize {
    std::fs::read_dir(ctx.root.join("worktrees").join(project).join(".spare"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// `git worktree prune --dry-run` would drop nothing: every worktree git
/// knows of is where git thinks it is.
fn assert_git_records_consistent(ctx: &TestContext) {
    let stale = git(&ctx.repo, &["worktree", "prune", "--dry-run", "--verbose"]);
    assert!(stale.trim().is_empty(), "stale worktree records: {stale}");
}

#[test]
fn spare_worktrees_carry_nothing_from_one_environment_to_the_next() {
    let ctx = TestContext::new();
    ctx.write(".warren.yaml", "name: sp\nruntime: sandbox\n");
    ctx.write(".gitignore", "*.log\n");
    ctx.commit("spare project");

    progress!("the first run --rm leaves its clean worktree as a spare");
    ctx.warren(&["run", "--rm", "--name", "one", "--", "true"])
        .ok();
    assert_eq!(spare_count(&ctx, "sp"), 1);
    assert!(!ctx.root.join("worktrees/sp/one").exists());
    let list = git(&ctx.repo, &["worktree", "list", "--porcelain"]);
    assert!(list.contains("/.spare/"), "{list}");
    assert!(!list.contains("warren/one"), "{list}");
    assert_eq!(
        git(&ctx.repo, &["branch", "--list", "warren/one"]).trim(),
        "",
        "the branch of a removed environment without commits is deleted"
    );
    assert_git_records_consistent(&ctx);

    progress!("the next environment takes it: on its own branch, clean");
    let run = ctx
        .warren(&[
            "run",
            "--rm",
            "--name",
            "two",
            "--",
            "sh",
            "-c",
            "git rev-parse --abbrev-ref HEAD; git status --porcelain --ignored; echo end",
        ])
        .ok();
    assert_eq!(run.stdout, "warren/two\nend\n", "{}", run.stderr);
    assert_eq!(spare_count(&ctx, "sp"), 1);
    assert_git_records_consistent(&ctx);

    progress!("an ignored file makes the worktree unfit to pass on");
    ctx.warren(&[
        "run",
        "--rm",
        "--name",
        "three",
        "--",
        "sh",
        "-c",
        "echo secret > leak.log",
    ])
    .ok();
    assert_eq!(
        spare_count(&ctx, "sp"),
        0,
        "a worktree with ignored files is deleted"
    );
    let run = ctx
        .warren(&[
            "run",
            "--rm",
            "--name",
            "four",
            "--",
            "sh",
            "-c",
            "cat leak.log 2>/dev/null || echo none",
        ])
        .ok();
    assert_eq!(run.stdout.trim(), "none");
    assert_eq!(spare_count(&ctx, "sp"), 1);

    progress!("HEAD moved on: the spare is brought to the new commit");
    ctx.write("new.txt", "second commit\n");
    ctx.commit("second");
    let run = ctx
        .warren(&[
            "run",
            "--rm",
            "--name",
            "five",
            "--",
            "sh",
            "-c",
            "cat new.txt; git status --porcelain",
        ])
        .ok();
    assert_eq!(run.stdout, "second commit\n");
    assert_eq!(spare_count(&ctx, "sp"), 1);

    progress!("a same-size rewrite in a spare taken over is caught too");
    assert_eq!(spare_count(&ctx, "sp"), 1);
    let run = ctx
        .warren(&[
            "run",
            "--rm",
            "--name",
            "six-b",
            "--",
            "sh",
            "-c",
            "printf 'TEST PROJECT\\n' > README.md",
        ])
        .ok();
    assert!(run.stderr.contains("kept `six-b`"), "{}", run.stderr);
    ctx.warren(&["rm", "--force", "six-b"]).ok();
    assert_eq!(spare_count(&ctx, "sp"), 0);

    progress!("a dirty worktree keeps its environment, and is never a spare");
    let run = ctx
        .warren(&[
            "run",
            "--rm",
            "--name",
            "six",
            "--",
            "sh",
            "-c",
            "echo changed > README.md",
        ])
        .ok();
    assert!(run.stderr.contains("kept `six`"), "{}", run.stderr);
    assert!(ctx.root.join("worktrees/sp/six").exists());
    ctx.warren(&["rm", "--force", "six"]).ok();
    assert_eq!(
        spare_count(&ctx, "sp"),
        0,
        "six took the spare, and a forced rm deletes its worktree"
    );

    progress!("a branch with commits is kept, and its worktree deleted");
    ctx.warren(&[
        "run",
        "--rm",
        "--name",
        "seven",
        "--",
        "git",
        "-c",
        "user.name=a",
        "-c",
        "user.email=a@b",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "work",
    ])
    .ok();
    assert!(!git(&ctx.repo, &["branch", "--list", "warren/seven"]).is_empty());
    assert_eq!(
        spare_count(&ctx, "sp"),
        0,
        "a worktree ahead of HEAD is not what the next environment starts from"
    );
    assert_git_records_consistent(&ctx);
}

#[test]
fn a_post_checkout_hook_means_git_creates_every_worktree() {
    let ctx = TestContext::new();
    ctx.write(".warren.yaml", "name: hk\nruntime: sandbox\n");
    ctx.commit("hook project");
    let hook = ctx.repo.join(".git/hooks/post-checkout");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho checked-out >> \"$(git rev-parse --path-format=absolute --git-common-dir)/checkouts\"\n",
    )
    .unwrap();
    let mut perm = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&hook, perm).unwrap();
    for name in ["a", "b"] {
        ctx.warren(&["run", "--rm", "--name", name, "--", "true"])
            .ok();
    }
    assert_eq!(spare_count(&ctx, "hk"), 0);
    let log = std::fs::read_to_string(ctx.repo.join(".git/checkouts")).unwrap();
    assert_eq!(log.lines().count(), 2, "the hook ran for each environment");
}

#[test]
fn a_docker_environment_gets_a_spare_without_sandbox_placeholders() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(".warren.yaml", "name: dk\n");
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"image": "warren-test/busybox:latest"}"#,
    );
    ctx.commit("docker project");
    progress!("a sandbox run leaves a spare with its placeholders in it");
    ctx.warren(&["run", "--rm", "--runtime", "sandbox", "--", "true"])
        .ok();
    assert_eq!(spare_count(&ctx, "dk"), 1);
    progress!("a docker environment takes it without them");
    let run = ctx
        .warren(&[
            "run",
            "--rm",
            "--runtime",
            "docker",
            "--",
            "ls",
            "-a",
            "/workspace",
        ])
        .ok();
    let names: Vec<&str> = run.stdout.lines().collect();
    for placeholder in [".bashrc", ".mcp.json", ".claude", ".vscode"] {
        assert!(!names.contains(&placeholder), "{placeholder} in {names:?}");
    }
    assert!(names.contains(&"README.md"), "{names:?}");
    assert_eq!(spare_count(&ctx, "dk"), 1);
}
