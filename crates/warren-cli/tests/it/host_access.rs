//! Host access by explicit opt-in (issue 16, docs/SECURITY.md "Host access"):
//! a devcontainer.json that asks for host access fails `validate` and `run`
//! before anything exists, naming the setting, its file:line:col and the
//! line to add; with `host_access:` in the trusted config it is applied and
//! flagged; the same key in an environment's own tree grants nothing.

use std::process::Command;

use crate::harness::*;

fn docker_inspect(id: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", format, id])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn volume_exists(name: &str) -> bool {
    Command::new("docker")
        .args(["volume", "inspect", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn branches(ctx: &TestContext) -> String {
    git(&ctx.repo, &["branch", "--format=%(refname:short)"])
}

/// Nothing of a refused run exists: no environment, container, branch or tree.
fn nothing_created(ctx: &TestContext) {
    assert!(ctx.ls().is_empty(), "an environment was recorded");
    assert!(ctx.containers().is_empty(), "a container was created");
    assert_eq!(branches(ctx).trim(), "main", "a branch was created");
    let trees = ctx.root.join("worktrees/repo");
    assert!(
        !trees.exists() || dir_names(&trees).is_empty(),
        "a tree was created"
    );
}

#[test]
fn host_access_without_opt_in_is_refused_before_anything_is_created() {
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(
            r#"{{
  "image": "{BUSYBOX}",
  "runArgs": ["--ipc=host", "--gpus", "all", "-v", "keda-gomodcache:/go/pkg", "--name", "mine"],
  "mounts": ["source=/var/run/docker.sock,target=/var/run/docker.sock,type=bind"],
  "privileged": true,
  "capAdd": ["CHOWN", "SYS_PTRACE"]
}}"#
        ),
    );
    ctx.commit("host access");

    progress!("validate names each setting, where it is, and the line to add");
    let v = ctx.warren(&["validate"]).fails(1);
    let text = format!("{}{}", v.stdout, v.stderr);
    for want in [
        "devcontainer.json:3:15",
        "runArgs `--ipc host` is host access: it shares one of the host's namespaces",
        "add to .warren.yaml:  host_access: {ipc: host}",
        "devcontainer.json:3:29",
        "host_access: {gpus: all}",
        "devcontainer.json:4:14",
        "host_access: {docker_socket: true}",
        "devcontainer.json:5:17",
        "host_access: {privileged: true}",
        "devcontainer.json:6:23",
        "host_access: {capabilities: [SYS_PTRACE]}",
        // warren's own: a warning, not an error.
        "`--name mine` is ignored",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(
        !text.contains("`-v keda-gomodcache:/go/pkg` is host access"),
        "a named volume is safe:\n{text}"
    );
    assert!(
        !text.contains("capAdd `CHOWN`"),
        "a default capability is safe:\n{text}"
    );

    progress!("run fails the same way, and nothing is created");
    let run = ctx.warren(&["run", "--name", "ha", "--", "true"]).fails(1);
    assert!(
        run.stderr.contains("host_access: {ipc: host}"),
        "{}",
        run.stderr
    );
    nothing_created(&ctx);

    progress!("a grant of one thing is not a grant of another");
    ctx.write(".warren.yaml", "host_access: {pid: host, gpus: all}\n");
    ctx.commit("grant pid");
    let v = ctx.warren(&["validate"]).fails(1);
    let text = format!("{}{}", v.stdout, v.stderr);
    assert!(text.contains("host_access: {ipc: host}"), "{text}");
    assert!(!text.contains("host_access: {gpus: all}"), "{text}");

    progress!("the global config grants too, for every project");
    std::fs::write(ctx.root.join("config.yaml"), "host_access: {ipc: host}\n").unwrap();
    let v = ctx.warren(&["validate"]).fails(1);
    let text = format!("{}{}", v.stdout, v.stderr);
    assert!(!text.contains("host_access: {ipc: host}"), "{text}");
    assert!(text.contains("host_access: {privileged: true}"), "{text}");
    std::fs::remove_file(ctx.root.join("config.yaml")).unwrap();

    progress!("an unknown host_access key is an error at its place");
    ctx.write(".warren.yaml", "host_access: {ipcc: host}\n");
    let v = ctx.warren(&["validate"]).fails(1);
    let text = format!("{}{}", v.stdout, v.stderr);
    assert!(
        text.contains(".warren.yaml:1:15") && text.contains("unknown key `ipcc`"),
        "{text}"
    );
}

#[test]
fn granted_host_access_is_applied_and_flagged() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    let shared_dir = ctx.dir.path().join("shared-x11");
    std::fs::create_dir_all(&shared_dir).unwrap();
    std::fs::write(shared_dir.join("hello"), "from the host\n").unwrap();
    let shared = shared_dir.to_string_lossy().into_owned();
    ctx.write(
        ".warren.yaml",
        &format!("host_access: {{ipc: host, pid: host, mounts: [\"{shared}\"], devices: [/dev/zero], capabilities: [SYS_PTRACE]}}\nshared_volumes: [wv-shared-{}]\n", ctx.proxy_port),
    );
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(
            r#"{{
  "image": "{BUSYBOX}",
  "runArgs": ["--ipc=host", "--pid", "host", "--device", "/dev/zero:/dev/hostzero",
              "--hostname", "box", "-v", "gocache:/go/pkg",
              "--mount", "type=volume,source=wv-shared-{port},target=/shared"],
  "capAdd": ["SYS_PTRACE"],
  "mounts": ["source={shared},target={shared},type=bind,readonly"]
}}"#,
            port = ctx.proxy_port
        ),
    );
    ctx.commit("granted");
    ctx.warren(&["validate"]).ok();

    let run = ctx
        .warren(&[
            "run",
            "--name",
            "ha",
            "--",
            "cat",
            &format!("{shared}/hello"),
        ])
        .ok();
    assert!(run.stdout.contains("from the host"), "{}", run.stdout);
    progress!("the banner names the isolation given up");
    assert!(
        run.stderr.contains(&format!(
            "runs with host access (host path {shared}, ipc host, pid host, device /dev/zero, cap SYS_PTRACE)"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("`--hostname box` is ignored").count(),
        1,
        "{}",
        run.stderr
    );

    let ids = ctx.containers();
    assert_eq!(ids.len(), 1);
    let id = &ids[0];
    assert_eq!(docker_inspect(id, "{{.HostConfig.IpcMode}}"), "host");
    assert_eq!(docker_inspect(id, "{{.HostConfig.PidMode}}"), "host");
    assert!(
        docker_inspect(id, "{{json .HostConfig.Devices}}").contains("/dev/hostzero"),
        "the granted device is missing"
    );
    assert!(docker_inspect(id, "{{json .HostConfig.CapAdd}}").contains("SYS_PTRACE"));
    let name = docker_inspect(id, "{{.Name}}");
    let name = name.trim_start_matches('/');
    progress!("a named volume is the environment's own unless shared");
    let own = format!("{name}-gocache");
    let shared_vol = format!("wv-shared-{}", ctx.proxy_port);
    assert!(volume_exists(&own), "no per-environment volume {own}");
    assert!(volume_exists(&shared_vol));
    assert!(!volume_exists("gocache"));

    progress!("ls says which isolation it gave up");
    let env = ctx.env_json("ha");
    let given: Vec<String> = env["host_access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        given,
        [
            format!("host path {shared}"),
            "ipc host".to_string(),
            "pid host".to_string(),
            "device /dev/zero".to_string(),
            "cap SYS_PTRACE".to_string(),
        ]
    );
    let ls = ctx.warren(&["ls"]).ok();
    assert!(
        ls.stdout.contains("(host access: host path"),
        "{}",
        ls.stdout
    );
    let doctor = ctx.warren(&["doctor"]);
    assert!(
        doctor
            .stdout
            .contains("this project's environments may give up"),
        "{}",
        doctor.stdout
    );

    progress!("a grant taken back: start refuses instead of giving it again");
    ctx.warren(&["stop", "ha"]).ok();
    let yaml = std::fs::read_to_string(ctx.repo.join(".warren.yaml")).unwrap();
    ctx.write(".warren.yaml", &yaml.replace("ipc: host, ", ""));
    ctx.commit("revoke ipc");
    let start = ctx.warren(&["start", "ha"]).fails(1);
    assert!(
        start
            .stderr
            .contains("was created with host access that your configuration no longer grants")
            && start.stderr.contains("host_access: {ipc: host}"),
        "{}",
        start.stderr
    );

    progress!("rm removes the environment's own volume, not the shared one");
    ctx.warren(&["rm", "--force", "ha"]).ok();
    assert!(!volume_exists(&own), "{own} outlived its environment");
    assert!(volume_exists(&shared_vol));
    Command::new("docker")
        .args(["volume", "rm", &shared_vol])
        .output()
        .unwrap();
}

/// Attacker: the agent writes `host_access` into its tree's `.warren.yaml`
/// and asks for the host's namespaces in its tree's devcontainer.json; a
/// later `start`, and a `run` from inside the tree, take neither.
#[test]
fn attacker_host_access_in_the_environments_own_tree_grants_nothing() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(r#"{{"image": "{BUSYBOX}"}}"#),
    );
    ctx.commit("plain");
    ctx.warren(&["run", "--name", "mallory", "--", "true"]).ok();
    let tree = ctx.root.join("worktrees/repo/mallory");
    assert!(tree.is_dir());
    std::fs::write(
        tree.join(".warren.yaml"),
        "host_access: {ipc: host, privileged: true, docker_socket: true}\n",
    )
    .unwrap();
    std::fs::write(
        tree.join(".devcontainer/devcontainer.json"),
        format!(
            r#"{{"image": "{BUSYBOX}", "runArgs": ["--ipc=host"], "privileged": true,
  "mounts": ["source=/var/run/docker.sock,target=/var/run/docker.sock,type=bind"]}}"#
        ),
    )
    .unwrap();
    ctx.warren(&["stop", "mallory"]).ok();
    ctx.warren(&["start", "mallory"]).ok();
    let ids = ctx.containers();
    assert_eq!(ids.len(), 1);
    assert_ne!(docker_inspect(&ids[0], "{{.HostConfig.IpcMode}}"), "host");
    assert_eq!(
        docker_inspect(&ids[0], "{{.HostConfig.Privileged}}"),
        "false"
    );

    progress!("a run from inside the tree reads the main checkout's config");
    let mut c = ctx.cmd(&[
        "run",
        "--rm",
        "--name",
        "inner",
        "--",
        "ls",
        "/var/run/docker.sock",
    ]);
    c.current_dir(&tree);
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the socket was mounted: {stderr}");
    assert!(!stderr.contains("runs with host access"), "{stderr}");
    ctx.warren(&["rm", "--force", "mallory"]).ok();
}

#[test]
fn a_gpu_request_says_plainly_when_the_engine_has_no_gpu_support() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(".warren.yaml", "host_access: {gpus: all}\n");
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(r#"{{"image": "{BUSYBOX}", "hostRequirements": {{"gpu": true}}}}"#),
    );
    ctx.commit("gpu");
    ctx.warren(&["validate"]).ok();
    let run = ctx.warren(&["run", "--name", "gpu", "--", "true"]);
    if run.code == 0 {
        // A machine with a GPU toolkit: the request was served.
        progress!("this engine has GPU support; nothing to check");
        ctx.warren(&["rm", "--force", "gpu"]).ok();
        return;
    }
    assert!(
        run.stderr
            .contains("this machine's Docker engine has no GPU support"),
        "{}",
        run.stderr
    );
    assert!(
        ctx.containers().is_empty(),
        "the failed create was not undone"
    );
    assert!(ctx.ls().is_empty());
}

#[test]
fn the_sandbox_honours_host_paths_and_fails_closed_on_the_rest() {
    let ctx = TestContext::new();
    let host_dir = ctx.dir.path().join("hostdata");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("f"), "host file\n").unwrap();
    let hd = host_dir.to_string_lossy().into_owned();
    ctx.write(
        ".warren.yaml",
        &format!("runtime: sandbox\nhost_access: {{mounts: [\"{hd}\"], ipc: host}}\n"),
    );
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(
            r#"{{"mounts": ["source={hd},target={hd},type=bind,readonly"], "runArgs": ["--name", "x"]}}"#
        ),
    );
    ctx.commit("sandbox host path");
    progress!("a granted host path is mounted at its own path");
    let run = ctx
        .warren(&[
            "run",
            "--rm",
            "--name",
            "sbha",
            "--",
            "cat",
            &format!("{hd}/f"),
        ])
        .ok();
    assert!(run.stdout.contains("host file"), "{}", run.stdout);
    assert!(
        run.stderr.contains("runArgs: `--name x` is ignored"),
        "warren's own, on the sandbox too: {}",
        run.stderr
    );

    progress!("without the grant, the sandbox refuses the host path like docker");
    ctx.write(".warren.yaml", "runtime: sandbox\n");
    ctx.commit("no grant");
    let run = ctx
        .warren(&["run", "--rm", "--name", "sbno", "--", "true"])
        .fails(1);
    assert!(
        run.stderr
            .contains(&format!("host_access: {{mounts: [\"{hd}\"]}}")),
        "{}",
        run.stderr
    );
    nothing_created(&ctx);
    ctx.write(
        ".warren.yaml",
        &format!("runtime: sandbox\nhost_access: {{mounts: [\"{hd}\"], ipc: host}}\n"),
    );

    progress!("a granted host namespace it cannot give fails closed");
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"runArgs": ["--ipc=host"]}"#,
    );
    ctx.commit("sandbox ipc");
    let v = ctx.warren(&["validate"]).fails(1);
    assert!(
        format!("{}{}", v.stdout, v.stderr)
            .contains("the sandbox runtime cannot give this environment `ipc host`"),
        "validate says it too: {}",
        v.stderr
    );
    let run = ctx
        .warren(&["run", "--rm", "--name", "sbipc", "--", "true"])
        .fails(1);
    assert!(
        run.stderr
            .contains("the sandbox runtime cannot give this environment `ipc host`"),
        "{}",
        run.stderr
    );
    nothing_created(&ctx);
}
