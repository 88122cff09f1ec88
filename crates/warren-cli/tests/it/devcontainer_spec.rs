//! devcontainer.json as the spec (and the reference CLI) reads it, through the
//! real binary and a real engine (issue 15): runArgs are applied or refused,
//! never dropped; an image's `devcontainer.metadata` label is merged under the
//! file; `postAttachCommand` runs on every interactive attach and
//! `initializeCommand` on every start; a start does not warn about settings
//! that did not change; Compose configs, engine sockets, `--platform` and
//! `overrideCommand: false` without a command get a clear word; the sandbox
//! says which container settings it does not apply.

use std::process::{Command, Stdio};

use crate::harness::*;

fn inspect(container: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "--format", format, container])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The one container of `ctx`.
fn only_container(ctx: &TestContext) -> String {
    let ids = ctx.containers();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].clone()
}

/// A local image built FROM the busybox test image with `label` as its
/// `devcontainer.metadata`; removed on drop.
struct LabelledImage(String);

impl LabelledImage {
    fn build(tag: &str, label: &str) -> LabelledImage {
        let dockerfile = format!("FROM {BUSYBOX}\n");
        let label = format!("devcontainer.metadata={label}");
        let mut child = Command::new("docker")
            .args(["build", "-q", "-t", tag, "--label", &label, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("docker build");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dockerfile.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "building {tag}");
        LabelledImage(tag.to_string())
    }
}

impl Drop for LabelledImage {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn run_args_cap_drop_and_workdir_are_applied_and_platform_only_warns() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(
            r#"{{"image": "{BUSYBOX}",
  "runArgs": ["--cap-drop=ALL", "--cap-add", "CHOWN", "-w", "/tmp", "--platform", "linux/amd64",
              "--add-host=db:10.0.0.2", "-h", "box", "--ulimit", "nofile=1024:2048", "-l", "x=y",
              "-e", "A=1", "--network", "bridge", "--init"]}}"#
        ),
    );
    ctx.commit("runArgs");
    let run = ctx.warren(&["run", "--name", "ra", "--", "true"]).ok();
    assert!(
        run.stderr
            .contains("runArgs: `--platform linux/amd64` is ignored"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "runArgs `--network bridge` is not applied: the environment's network is `isolated`"
        ),
        "{}",
        run.stderr
    );
    let id = only_container(&ctx);

    progress!("every other accepted flag reaches the engine");
    let hc: serde_json::Value =
        serde_json::from_str(&inspect(&id, "{{json .HostConfig}}")).unwrap();
    assert_eq!(hc["ExtraHosts"], serde_json::json!(["db:10.0.0.2"]));
    assert_eq!(hc["Init"], true);
    assert_eq!(hc["Ulimits"][0]["Name"], "nofile");
    // `-h box` is warren's own setting: ignored with one warning.
    assert_eq!(inspect(&id, "{{.Config.Hostname}}"), "ra");
    assert_eq!(
        run.stderr.matches("runArgs: `-h box` is ignored").count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(inspect(&id, "{{index .Config.Labels \"x\"}}"), "y");
    let env = inspect(&id, "{{json .Config.Env}}");
    assert!(env.contains("\"A=1\""), "{env}");

    progress!("--cap-drop=ALL leaves only what --cap-add names");
    let hc: serde_json::Value =
        serde_json::from_str(&inspect(&id, "{{json .HostConfig}}")).unwrap();
    assert_eq!(hc["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(hc["CapAdd"], serde_json::json!(["CHOWN"]));
    let caps = ctx
        .warren(&[
            "exec",
            "ra",
            "--",
            "sh",
            "-c",
            "grep CapEff /proc/self/status",
        ])
        .ok()
        .stdout;
    assert_eq!(caps.trim(), "CapEff:\t0000000000000001", "only CAP_CHOWN");

    progress!("-w sets the container's working directory; commands still start in the workspace");
    assert_eq!(inspect(&id, "{{.Config.WorkingDir}}"), "/tmp");
    let pwd = ctx.warren(&["exec", "ra", "--", "pwd"]).ok().stdout;
    assert_eq!(pwd.trim(), "/workspace");
}

#[test]
fn image_metadata_is_merged_under_the_file() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    let tag = format!(
        "warren-test/meta:{}",
        &ctx.container_filter()
            .rsplit('=')
            .next()
            .unwrap()
            .to_string()
    );
    let _image = LabelledImage::build(
        &tag,
        r#"[
  {"id": "feature-a", "containerEnv": {"FROM_IMAGE": "img", "BOTH": "img"}, "capAdd": ["SYS_PTRACE", "NET_RAW"],
   "postCreateCommand": "echo image-postcreate >> /tmp/order", "remoteUser": "root",
   "customizations": {"vscode": {"extensions": ["x"]}}},
  {"remoteUser": "dev", "remoteEnv": {"R_IMG": "r"}, "init": true,
   "postStartCommand": ["sh", "-c", "echo image-poststart >> /tmp/order"],
   "mounts": ["type=tmpfs,target=/metatmp", "type=bind,source=/etc,target=/hostetc"],
   "privileged": true, "entrypoint": "/x.sh"}
]"#,
    );
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(
            r#"{{"image": "{tag}", "containerEnv": {{"BOTH": "file"}},
  "postCreateCommand": "echo file-postcreate >> /tmp/order",
  "postStartCommand": "echo file-poststart >> /tmp/order"}}"#
        ),
    );
    // The user's grant is for what devcontainer.json asks; a label does not
    // get it (docs/SECURITY.md, "Host access").
    ctx.write(
        ".warren.yaml",
        "host_access: {capabilities: [SYS_PTRACE]}\n",
    );
    ctx.commit("metadata");
    let run = ctx.warren(&["run", "--name", "meta", "--", "true"]).ok();
    // `entrypoint` is applied now (it runs inside the container, as the
    // image's own ENTRYPOINT could): no field is left unapplied.
    assert!(
        !run.stderr.contains("which warren does not apply"),
        "{}",
        run.stderr
    );
    let container = ctx.env_json("meta")["container"]
        .as_str()
        .unwrap()
        .to_string();
    let cmd = inspect(&container, "{{json .Config.Entrypoint}}");
    assert!(
        cmd.contains("/x.sh\\n"),
        "the image's entrypoint runs first: {cmd}"
    );
    assert!(!run.stderr.contains("customizations"), "{}", run.stderr);
    // The attacker's image: host access from a label is named, never applied.
    assert!(
        run.stderr.contains(
            "label asks for `privileged`, `capAdd` (SYS_PTRACE), a bind mount of `/etc`, which warren does not take from an image"
        ),
        "{}",
        run.stderr
    );

    progress!("lifecycle: each step runs the image's commands, then the file's");
    let out = ctx
        .warren(&[
            "exec",
            "meta",
            "--",
            "sh",
            "-c",
            "cat /tmp/order; echo \"$FROM_IMAGE $BOTH $R_IMG\"; id -un",
        ])
        .ok()
        .stdout;
    assert_eq!(
        out,
        "image-postcreate\nfile-postcreate\nimage-poststart\nfile-poststart\nimg file r\ndev\n",
        "env: the file wins; remoteUser: the last entry's"
    );

    progress!("container settings: init and the image's tmpfs; no host access from a label");
    let id = only_container(&ctx);
    let hc: serde_json::Value =
        serde_json::from_str(&inspect(&id, "{{json .HostConfig}}")).unwrap();
    assert_eq!(hc["Init"], true);
    assert_eq!(hc["Privileged"], false);
    assert!(
        !hc["CapAdd"]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c == "SYS_PTRACE" || c == "CAP_SYS_PTRACE")),
        "{}",
        hc["CapAdd"]
    );
    assert!(
        hc["CapAdd"]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c == "NET_RAW" || c == "CAP_NET_RAW")),
        "a capability of Docker's default set is safe, also from a label: {}",
        hc["CapAdd"]
    );
    let mounts = inspect(&id, "{{json .Mounts}}");
    assert!(!mounts.contains("/hostetc"), "{mounts}");
    let tmpfs = hc["Tmpfs"].to_string();
    assert!(
        tmpfs.contains("/metatmp") || mounts.contains("/metatmp"),
        "{tmpfs} {mounts}"
    );

    progress!("a start runs the image's postStart again, before the file's");
    ctx.warren(&["stop", "meta"]).ok();
    ctx.warren(&["start", "meta"]).ok();
    let order = ctx
        .warren(&["exec", "meta", "--", "cat", "/tmp/order"])
        .ok()
        .stdout;
    assert_eq!(
        order,
        "image-postcreate\nfile-postcreate\nimage-poststart\nfile-poststart\nimage-poststart\nfile-poststart\n"
    );

    progress!("the file's own remoteUser beats the image's");
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(r#"{{"image": "{tag}", "remoteUser": "root"}}"#),
    );
    ctx.commit("file user");
    ctx.warren(&["run", "--name", "meta2", "--", "true"]).ok();
    let user = ctx
        .warren(&["exec", "meta2", "--", "id", "-un"])
        .ok()
        .stdout;
    assert_eq!(user, "root\n");
}

#[test]
fn post_attach_on_exec_it_and_initialize_on_every_start() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    let log = ctx.dir.path().join("init.log");
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(
            r#"{{"image": "{BUSYBOX}",
  "initializeCommand": "echo \"init $(pwd)\" >> {}",
  "postAttachCommand": "echo attached >> /tmp/attach.log"}}"#,
            log.display()
        ),
    );
    ctx.commit("attach");
    ctx.warren(&["run", "--name", "pa", "--", "true"]).ok();
    let main = ctx.repo.canonicalize().unwrap();
    let expect_init = |n: usize| {
        let text = std::fs::read_to_string(&log).unwrap();
        let want: String = (0..n)
            .map(|_| format!("init {}\n", main.display()))
            .collect();
        assert_eq!(text, want, "initializeCommand, in the main checkout");
    };
    expect_init(1);
    let attached = |ctx: &TestContext| {
        ctx.warren(&[
            "exec",
            "pa",
            "--",
            "sh",
            "-c",
            "cat /tmp/attach.log 2>/dev/null || true",
        ])
        .ok()
        .stdout
        .lines()
        .count()
    };

    progress!("exec without a terminal is not an attach; exec -it is");
    assert_eq!(attached(&ctx), 0);
    ctx.warren(&["exec", "-i", "-t", "pa", "--", "true"]).ok();
    assert_eq!(attached(&ctx), 1);
    ctx.warren(&["exec", "-it", "pa", "--", "true"]).ok();
    assert_eq!(attached(&ctx), 2);

    progress!("initializeCommand runs again on start");
    ctx.warren(&["stop", "pa"]).ok();
    ctx.warren(&["start", "pa"]).ok();
    expect_init(2);
}

#[test]
fn start_of_an_environment_created_without_runtime_does_not_warn() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(r#"{{"image": "{BUSYBOX}"}}"#),
    );
    ctx.commit("auto");
    ctx.warren(&["run", "--name", "auto", "--", "true"]).ok();
    ctx.warren(&["stop", "auto"]).ok();
    let start = ctx.warren(&["start", "auto"]).ok();
    assert!(
        !start.stderr.contains("changed since it was created"),
        "{}",
        start.stderr
    );

    progress!("a real change is still reported");
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(r#"{{"image": "{BUSYBOX}", "containerEnv": {{"NEW": "1"}}}}"#),
    );
    ctx.commit("changed");
    ctx.warren(&["stop", "auto"]).ok();
    let start = ctx.warren(&["start", "auto"]).ok();
    assert!(
        start.stderr.contains("changed since it was created"),
        "{}",
        start.stderr
    );
}

#[test]
fn override_command_false_without_a_command_is_a_clear_error() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    // The busybox test image has no CMD and no ENTRYPOINT.
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(r#"{{"image": "{BUSYBOX}", "overrideCommand": false}}"#),
    );
    ctx.commit("no cmd");
    let run = ctx.warren(&["run", "--name", "oc", "--", "true"]).fails(1);
    assert!(
        run.stderr.contains("`overrideCommand` is false but image")
            && run.stderr.contains("has no command")
            && run
                .stderr
                .contains("hint: remove `\"overrideCommand\": false`"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("No command specified"),
        "{}",
        run.stderr
    );
    assert!(ctx.ls().is_empty());
    assert!(ctx.containers().is_empty());
}

#[test]
fn a_missing_compose_file_and_engine_sockets_are_named_by_validate_and_run_alike() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"dockerComposeFile": "compose.yml", "service": "app", "workspaceFolder": "/workspace"}"#,
    );
    ctx.commit("compose");
    let said = "compose file `compose.yml` not found";
    let validate = ctx.warren(&["validate"]).fails(1);
    assert!(
        validate.stderr.contains(said) && validate.stderr.contains("devcontainer.json:1:"),
        "{validate:?}"
    );
    let run = ctx
        .warren(&["run", "--runtime", "docker", "--name", "cmp", "--", "true"])
        .fails(1);
    assert!(run.stderr.contains(said), "{}", run.stderr);
    assert!(
        !run.stderr.contains("no image configured"),
        "{}",
        run.stderr
    );
    assert!(ctx.ls().is_empty());

    progress!("a docker.sock bind is refused without `host_access: {{docker_socket: true}}`");
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(
            r#"{{"image": "{BUSYBOX}", "mounts": ["source=/var/run/docker.sock,target=/var/run/docker.sock,type=bind"]}}"#
        ),
    );
    ctx.commit("socket");
    let validate = ctx.warren(&["validate"]).fails(1);
    let text = format!("{}{}", validate.stdout, validate.stderr);
    assert!(
        text.contains("hands the environment the container engine, and with it root on this host")
            && text.contains("host_access: {docker_socket: true}"),
        "{text}"
    );
}

#[test]
fn the_sandbox_names_the_container_settings_it_does_not_apply_once() {
    let ctx = TestContext::new();
    ctx.write(".warren.yaml", "runtime: sandbox\n");
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"image": "x:1", "containerUser": "dev", "capAdd": ["CHOWN"],
  "workspaceFolder": "/src", "runArgs": ["--cap-drop=ALL"]}"#,
    );
    ctx.commit("sandbox");
    let line = "the sandbox runtime does not apply `image`, `containerUser`, `capAdd`, `workspaceFolder`, `runArgs` (--cap-drop)";
    let validate = ctx.warren(&["validate"]).ok();
    let text = format!("{}{}", validate.stdout, validate.stderr);
    assert_eq!(text.matches(line).count(), 1, "{text}");
    let run = ctx
        .warren(&["run", "--rm", "--name", "sb", "--", "true"])
        .ok();
    assert_eq!(run.stderr.matches(line).count(), 1, "{}", run.stderr);
}
