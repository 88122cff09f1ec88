//! devcontainer.json's variables and the fields that depend on them, as the
//! reference CLI resolves them, but per environment: `${devcontainerId}` and
//! `${localWorkspaceFolder}` are each environment's own (its id, its tree),
//! `${containerEnv:…}` reaches lifecycle commands, `remoteEnv: null` unsets,
//! `workspaceMount` mounts the environment's tree (and nothing else), and a
//! `--config` choice is remembered by later starts.

use std::process::Command;

use crate::harness::*;

fn devcontainer(ctx: &TestContext, json: &str) {
    ctx.write(".devcontainer/devcontainer.json", json);
    ctx.commit("devcontainer");
}

/// `warren exec NAME -- sh -c SCRIPT`'s stdout, trimmed.
fn sh(ctx: &TestContext, name: &str, script: &str) -> String {
    ctx.warren(&["exec", name, "--", "sh", "-c", script])
        .ok()
        .stdout
        .trim()
        .to_string()
}

/// Engine volumes a test made (the environments' `vol-${devcontainerId}`),
/// removed when it ends, also by a panic. Declared before the test's
/// context, so the context (and its containers) goes first.
struct Volumes(Vec<String>);

impl Drop for Volumes {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f", n])
                .output();
        }
    }
}

#[test]
fn devcontainer_id_and_local_workspace_folder_are_each_environments_own() {
    if !require_docker() {
        return;
    }
    let mut volumes = Volumes(Vec::new());
    let mut ctx = TestContext::new();
    // Set but empty on the host: "" (the reference's answer), not the default.
    ctx.env("EMPTY_FOR_TEST", "");
    devcontainer(
        &ctx,
        r#"{
          "image": "warren-test/busybox:latest",
          "containerEnv": {
            "DCID": "${devcontainerId}",
            "LWF": "${localWorkspaceFolder}",
            "LWFB": "${localWorkspaceFolderBasename}",
            "EMPTY": "[${localEnv:EMPTY_FOR_TEST:dflt}]",
            "GREET": "hello",
            "GONE": "still here"
          },
          "remoteEnv": {"RID": "${devcontainerId}", "GONE": null},
          "mounts": ["source=vol-${devcontainerId},target=/vol,type=volume"],
          "postCreateCommand": "echo \"pc ${containerEnv:GREET} ${containerEnv:HOSTNAME} [${GONE-unset}]\" > /tmp/pc",
          "postStartCommand": ["sh", "-c", "echo ps ${containerEnv:GREET}:${containerEnv:NOPE:dflt} >> /tmp/ps"]
        }"#,
    );
    let mut ids = Vec::new();
    for name in ["alpha", "beta"] {
        ctx.warren(&[
            "run",
            "--name",
            name,
            "--",
            "sh",
            "-c",
            &format!("echo {name} > /vol/owner"),
        ])
        .ok();
        let id = sh(&ctx, name, "echo $DCID");
        assert_eq!(id.len(), 52, "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c)),
            "{id}"
        );
        volumes.0.push(format!("vol-{id}"));
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "every environment has its own id");

    progress!("${{localWorkspaceFolder}} is the environment's tree, not the main checkout");
    let tree = ctx.root.join("worktrees/repo/alpha");
    assert_eq!(sh(&ctx, "alpha", "echo $LWF"), tree.to_string_lossy());
    assert_eq!(sh(&ctx, "alpha", "echo $LWFB"), "alpha");
    assert_eq!(sh(&ctx, "alpha", "echo $EMPTY"), "[]");

    progress!("vol-${{devcontainerId}} is not shared between agents");
    assert_eq!(sh(&ctx, "alpha", "cat /vol/owner"), "alpha");
    assert_eq!(sh(&ctx, "beta", "cat /vol/owner"), "beta");

    progress!("${{containerEnv:…}} in lifecycle commands; remoteEnv null unsets");
    assert_eq!(sh(&ctx, "alpha", "cat /tmp/pc"), "pc hello alpha [unset]");
    assert_eq!(sh(&ctx, "alpha", "cat /tmp/ps"), "ps hello:dflt");
    assert_eq!(sh(&ctx, "alpha", "echo \"[${GONE-unset}]\""), "[unset]");

    progress!("stable across restarts (remoteEnv is read again on start)");
    ctx.warren(&["stop", "alpha"]).ok();
    ctx.warren(&["start", "alpha"]).ok();
    assert_eq!(sh(&ctx, "alpha", "echo $RID"), ids[0]);
    assert_eq!(sh(&ctx, "alpha", "cat /vol/owner"), "alpha");
    assert_eq!(
        sh(&ctx, "alpha", "cat /tmp/ps"),
        "ps hello:dflt\nps hello:dflt"
    );

    ctx.warren(&["rm", "--force", "alpha", "beta"]).ok();
}

/// Attacker: the agent writes through a `source=${localWorkspaceFolder}`
/// mount, which must be its own tree, never the user's checkout.
#[test]
fn attacker_local_workspace_folder_mount_cannot_write_the_main_checkout() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    devcontainer(
        &ctx,
        r#"{
          "image": "warren-test/busybox:latest",
          "mounts": ["source=${localWorkspaceFolder},target=/host-tree,type=bind"]
        }"#,
    );
    let readme = std::fs::read(ctx.repo.join("README.md")).unwrap();
    ctx.warren(&[
        "run",
        "--name",
        "mallory",
        "--",
        "sh",
        "-c",
        "echo pwned > /host-tree/PWNED; echo pwned > /host-tree/README.md; \
         mkdir -p /host-tree/.git/hooks 2>/dev/null; \
         echo 'touch /tmp/x' > /host-tree/.git/hooks/post-checkout 2>/dev/null; true",
    ])
    .ok();
    assert!(
        !ctx.repo.join("PWNED").exists(),
        "wrote into the main checkout"
    );
    assert_eq!(std::fs::read(ctx.repo.join("README.md")).unwrap(), readme);
    assert!(!ctx.repo.join(".git/hooks/post-checkout").exists());
    // What it wrote landed in its own tree.
    let tree = ctx.root.join("worktrees/repo/mallory");
    assert_eq!(
        std::fs::read_to_string(tree.join("PWNED")).unwrap(),
        "pwned\n"
    );
    ctx.warren(&["rm", "--force", "mallory"]).ok();

    progress!("on the main checkout (a manager), that mount is read-only like the tree");
    ctx.write(".warren.yaml", "types:\n  manager: {}\n");
    ctx.commit("a manager type");
    ctx.warren(&["new", "manager", "boss"]).ok();
    let write = ctx.warren(&[
        "exec",
        "boss",
        "--",
        "sh",
        "-c",
        "echo pwned > /host-tree/PWNED2",
    ]);
    assert_ne!(write.code, 0, "the manager wrote through the mount");
    assert!(!ctx.repo.join("PWNED2").exists());
    ctx.warren(&["rm", "boss"]).ok();
}

#[test]
fn workspace_mount_mounts_the_tree_at_its_target_and_refuses_other_sources() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    devcontainer(
        &ctx,
        r#"{
          "image": "warren-test/busybox:latest",
          "workspaceMount": "source=${localWorkspaceFolder},target=/src/app,type=bind,consistency=cached",
          "workspaceFolder": "/src/app"
        }"#,
    );
    let run = ctx
        .warren(&[
            "run",
            "--name",
            "wm",
            "--",
            "sh",
            "-c",
            "pwd; cat /src/app/README.md; test -e /workspace && echo has-workspace; echo x > made-inside",
        ])
        .ok();
    assert_eq!(run.stdout, "/src/app\ntest project\n", "{}", run.stderr);
    assert!(ctx.root.join("worktrees/repo/wm/made-inside").is_file());
    ctx.warren(&["rm", "--force", "wm"]).ok();

    progress!("a workspaceMount of another host path is refused before anything is made");
    devcontainer(
        &ctx,
        "{\n  \"image\": \"warren-test/busybox:latest\",\n  \"workspaceFolder\": \"/w\",\n  \"workspaceMount\": \"source=${localEnv:HOME},target=/w,type=bind\"\n}\n",
    );
    let refused = ctx.warren(&["run", "--name", "wm2", "--", "true"]).fails(1);
    for want in [
        "devcontainer.json:4:21",
        "only mounts the environment's own tree",
        "hint: use `source=${localWorkspaceFolder}`",
    ] {
        assert!(refused.stderr.contains(want), "{want}: {}", refused.stderr);
    }
    assert!(ctx.ls().is_empty());
    assert!(ctx.containers().is_empty());
}

#[test]
fn a_config_chosen_with_dash_dash_config_is_used_by_later_starts() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    for which in ["main", "alt"] {
        ctx.write(
            &format!(".devcontainer/{which}/devcontainer.json"),
            &format!(
                r#"{{"image": "warren-test/busybox:latest",
                    "remoteEnv": {{"WHICH": "{which}"}},
                    "postStartCommand": "echo started-{which} >> /tmp/starts"}}"#
            ),
        );
    }
    ctx.commit("two configs");
    ctx.warren(&[
        "run",
        "--config",
        ".devcontainer/alt/devcontainer.json",
        "--name",
        "picky",
        "--",
        "true",
    ])
    .ok();
    ctx.warren(&["stop", "picky"]).ok();
    let start = ctx.warren(&["start", "picky"]).ok();
    assert!(
        !start.stderr.contains("no longer loads"),
        "{}",
        start.stderr
    );
    assert_eq!(sh(&ctx, "picky", "echo $WHICH"), "alt");
    assert_eq!(
        sh(&ctx, "picky", "cat /tmp/starts"),
        "started-alt\nstarted-alt"
    );
    ctx.warren(&["rm", "--force", "picky"]).ok();
}

#[test]
fn a_remote_user_the_image_lacks_gets_a_hint_about_the_user() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    devcontainer(
        &ctx,
        r#"{"image": "warren-test/busybox:latest", "remoteUser": "nodeuser", "postCreateCommand": "true"}"#,
    );
    let run = ctx
        .warren(&["run", "--name", "nouser", "--", "true"])
        .fails(1);
    assert!(
        run.stderr.contains("the user `nodeuser` does not exist"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: the image has no user `nodeuser`: set `remoteUser`"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("fix the command"), "{}", run.stderr);
    assert!(ctx.ls().is_empty());
}

#[test]
fn validate_accepts_the_references_forms_and_reports_nameless_variables() {
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        "\u{feff}{\n  \"image\": \"warren-test/busybox:latest\",\n  \"appPort\": [\"5000-5002\", 3000],\n  \"updateRemoteUserUID\": false\n}\n",
    );
    let run = ctx.warren(&["validate", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["diagnostics"].as_array().map(Vec::len), Some(0), "{v}");

    ctx.write(
        ".devcontainer/devcontainer.json",
        "{\n  \"image\": \"x\",\n  \"containerEnv\": {\"A\": \"${localEnv}\"}\n}\n",
    );
    let run = ctx.warren(&["validate"]).fails(1);
    for want in [
        "devcontainer.json:3:25",
        "`${localEnv}` cannot be resolved: it names no variable",
        "hint: write `${localEnv:NAME}`",
    ] {
        assert!(run.stderr.contains(want), "{want}: {}", run.stderr);
    }
}

#[test]
fn on_the_sandbox_the_variables_are_the_environments_and_workspace_mount_is_not_applied() {
    let ctx = TestContext::new();
    // Set for the environment, unset by remoteEnv for what runs in it.
    ctx.write(".warren.yaml", "runtime: sandbox\nenv:\n  GONE: set\n");
    devcontainer(
        &ctx,
        r#"{
          "workspaceMount": "source=${localWorkspaceFolder},target=/src,type=bind",
          "workspaceFolder": "/src",
          "remoteEnv": {"LWF": "${localWorkspaceFolder}", "DCID": "${devcontainerId}", "GONE": null},
          "postCreateCommand": "echo \"[${GONE-unset}]\" > pc.txt"
        }"#,
    );
    let run = ctx
        .warren(&[
            "run",
            "--name",
            "sbx",
            "--",
            "sh",
            "-c",
            "pwd; echo $LWF; echo ${#DCID}; echo \"[${GONE-unset}]\"; cat pc.txt",
        ])
        .ok();
    let tree = ctx.root.join("worktrees/repo/sbx");
    let tree = tree.to_string_lossy();
    assert_eq!(
        run.stdout,
        format!("{tree}\n{tree}\n52\n[unset]\n[unset]\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("`workspaceMount` is not applied by the sandbox runtime"),
        "{}",
        run.stderr
    );
    ctx.warren(&["rm", "--force", "sbx"]).ok();
}
