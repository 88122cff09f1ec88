//! Failing closed: when warren cannot prove something safe, it stops and
//! says what to do, and nothing half-done is lost.

use crate::harness::*;

#[test]
fn rm_refuses_what_it_cannot_prove_and_a_failed_removal_can_be_finished() {
    let mut ctx = TestContext::new();
    ctx.write(".warren.yaml", "runtime: sandbox\n");
    ctx.commit("sandbox");

    progress!("a branch the host cannot read: rm refuses, --force removes");
    ctx.warren(&[
        "run",
        "--name",
        "odd",
        "--",
        "sh",
        "-c",
        "echo garbage > .git/refs/heads/warren/odd",
    ])
    .ok();
    let rm = ctx.warren(&["rm", "odd"]).fails(1);
    assert!(
        rm.stderr.contains("cannot be brought back"),
        "{}",
        rm.stderr
    );
    assert!(rm.stderr.contains("warren rm --force odd"), "{}", rm.stderr);
    assert!(
        ctx.root.join("worktrees/repo/odd").exists(),
        "nothing was removed"
    );
    ctx.warren(&["rm", "--force", "odd"]).ok();

    progress!("commits made while stopped cannot come back: rm refuses");
    ctx.warren(&[
        "run",
        "--name",
        "late",
        "--",
        "sh",
        "-c",
        "echo x > x && git add x && git -c user.name=a -c user.email=a@b commit -qm late",
    ])
    .ok();
    ctx.warren(&["stop", "late"]).ok();
    // The commit came back when it stopped.
    assert!(git(&ctx.repo, &["log", "--format=%s", "warren/late"]).contains("late"));
    ctx.warren(&["rm", "late"]).ok();

    progress!("run from inside an environment's tree uses the project's configuration");
    ctx.warren(&[
        "run",
        "--name",
        "inner",
        "--",
        "sh",
        "-c",
        "printf 'runtime: host\\n' > .warren.yaml",
    ])
    .ok();
    let inner_tree = ctx.root.join("worktrees/repo/inner");
    let run = ctx
        .cmd(&["run", "--rm", "--", "sh", "-c", "echo $WARREN_RUNTIME"])
        .current_dir(&inner_tree)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "sandbox");
    ctx.warren(&["rm", "--force", "inner"]).ok();

    if !require_docker() {
        return;
    }
    progress!("the engine unreachable: rm fails, ls shows it, rm finishes later");
    ctx.write(".warren.yaml", "runtime: docker\n");
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"image": "warren-test/busybox:latest"}"#,
    );
    ctx.commit("docker");
    ctx.warren(&["run", "--name", "stuck", "--", "true"]).ok();
    ctx.warren(&["stop", "stuck"]).ok();
    ctx.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let rm = ctx.warren(&["rm", "stuck"]).fails(1);
    assert!(rm.stderr.contains("did not finish"), "{}", rm.stderr);
    assert!(rm.stderr.contains("warren rm stuck"), "{}", rm.stderr);
    ctx.env("DOCKER_HOST", "");
    assert_eq!(ctx.env_json("stuck")["state"], "failed");
    assert!(
        ctx.root.join("worktrees/repo/stuck").exists(),
        "its tree stays"
    );
    ctx.warren(&["rm", "stuck"]).ok();
    assert!(ctx.containers().is_empty());
    assert!(!ctx.root.join("worktrees/repo/stuck").exists());
}
