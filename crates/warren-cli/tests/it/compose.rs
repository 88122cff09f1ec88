//! Docker Compose devcontainer configs (issue 15): the environment is the
//! configured service of a compose project of its own, brought up with the
//! host's compose CLI; `stop`/`rm` take the whole project. Real engine, real
//! compose CLI.

use std::process::Command;

use crate::harness::*;

/// Whether a compose CLI runs (`docker compose` or `docker-compose`); under
/// CI its absence is a failure (scripts/install-deps.sh installs it).
fn require_compose() -> bool {
    if !require_docker() {
        return false;
    }
    let runs = |argv: &[&str]| {
        Command::new(argv[0])
            .args(&argv[1..])
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if runs(&["docker", "compose"]) || runs(&["docker-compose"]) {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("no Docker Compose CLI; under CI this is a failure (run scripts/install-deps.sh)");
    }
    eprintln!("skipped: no Docker Compose CLI (run scripts/install-deps.sh)");
    false
}

/// A "database": every line sent to port 5000 is appended to a file in its
/// volume, which httpd serves on port 80.
const DB: &str = "    image: warren-test/busybox:latest\n    command: [\"sh\", \"-c\", \"mkdir -p /data && touch /data/db.txt && (while true; do nc -l -p 5000 >> /data/db.txt; done) & exec httpd -f -p 80 -h /data\"]\n    volumes:\n      - dbdata:/data\n";

/// A project with an `app` service (the environment) and the `db` above,
/// plus whatever `extra` adds to devcontainer.json.
fn project(ctx: &TestContext, extra: &str, more_services: &str) {
    ctx.write(
        ".devcontainer/devcontainer.json",
        &format!(
            r#"{{
  "dockerComposeFile": "docker-compose.yml",
  "service": "app",
  "workspaceFolder": "/workspace",
  "postCreateCommand": "touch /tmp/created"{extra}
}}"#
        ),
    );
    ctx.write(
        ".devcontainer/docker-compose.yml",
        &format!(
            "version: '3.8'\nservices:\n  app:\n    image: {BUSYBOX}\n    command: sleep infinity\n    volumes:\n      - ..:/workspace:cached\n  db:\n{DB}{more_services}volumes:\n  dbdata:\n"
        ),
    );
    ctx.commit("compose config");
}

/// The compose project of environment `name`, from its main container's label.
fn project_of(ctx: &TestContext, name: &str) -> String {
    let out = Command::new("docker")
        .args(["ps", "-a", "--filter", &ctx.container_filter()])
        .args(["--filter", &format!("label=warren.name={name}")])
        .args(["--format", "{{.Label \"warren.compose.project\"}}"])
        .output()
        .unwrap();
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!p.is_empty(), "no compose project for {name}");
    p
}

/// `docker ps -a` of a project: `service state` lines, sorted.
fn project_containers(project: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-a", "--filter"])
        .arg(format!("label=com.docker.compose.project={project}"))
        .args([
            "--format",
            "{{.Label \"com.docker.compose.service\"}} {{.State}}",
        ])
        .output()
        .unwrap();
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Networks and volumes compose made for `project`.
fn project_leftovers(project: &str) -> Vec<String> {
    let mut left = Vec::new();
    for kind in ["network", "volume"] {
        let out = Command::new("docker")
            .args([kind, "ls", "-q", "--filter"])
            .arg(format!("label=com.docker.compose.project={project}"))
            .output()
            .unwrap();
        left.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| format!("{kind} {l}")),
        );
    }
    left
}

fn sh(ctx: &TestContext, name: &str, script: &str) -> String {
    ctx.warren(&["exec", name, "--", "sh", "-c", script])
        .ok()
        .stdout
}

#[test]
fn two_environments_get_two_databases_reached_by_name_and_their_own_trees() {
    if !require_compose() {
        return;
    }
    let ctx = TestContext::new();
    project(&ctx, r#", "forwardPorts": [8000]"#, "");
    // Uncommitted in the main checkout: an environment never sees it.
    ctx.write("main-only.txt", "the user's\n");
    for name in ["cmpa", "cmpb"] {
        ctx.warren(&["run", "--name", name, "--", "true"]).ok();
    }
    let (pa, pb) = (project_of(&ctx, "cmpa"), project_of(&ctx, "cmpb"));
    progress!("projects: {pa}, {pb}");
    assert_ne!(pa, pb, "one project per environment");
    for p in [&pa, &pb] {
        assert_eq!(project_containers(p), ["app running", "db running"]);
    }
    let e = ctx.env_json("cmpa");
    progress!("ls: {e}");
    assert_eq!(e["state"], "running");

    // A writes to its database by the service's name; B's stays empty.
    sh(&ctx, "cmpa", "echo row-from-a | nc -w 1 db 5000; sleep 0.3");
    let a = sh(&ctx, "cmpa", "wget -qO- http://db/db.txt");
    let b = sh(&ctx, "cmpb", "wget -qO- http://db/db.txt");
    progress!("db of a: {a:?}, db of b: {b:?}");
    assert!(a.contains("row-from-a"), "{a}");
    assert!(!b.contains("row-from-a"), "b sees a's database: {b}");

    // `..:/workspace` is the environment's own tree, not the main checkout.
    let ls = sh(
        &ctx,
        "cmpa",
        "ls /workspace; test -f /tmp/created && echo created",
    );
    assert!(ls.contains("README.md") && ls.contains("created"), "{ls}");
    assert!(
        !ls.contains("main-only.txt"),
        "the main checkout is mounted: {ls}"
    );
    sh(&ctx, "cmpa", "echo mine > /workspace/from-a.txt");
    let tree = ctx.root.join("worktrees/repo/cmpa/from-a.txt");
    assert!(tree.is_file(), "not in the tree {}", tree.display());
    assert!(
        !ctx.repo.join("from-a.txt").exists(),
        "written into the main checkout"
    );
    assert!(!sh(&ctx, "cmpb", "ls /workspace").contains("from-a.txt"));

    // The forwarded port of the main service is published on loopback.
    let url = e["services"][0]["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    progress!("route: {url}");
    assert!(url.contains("cmpa.localhost"), "{e}");

    for (name, p) in [("cmpa", &pa), ("cmpb", &pb)] {
        ctx.warren(&["rm", "--force", name]).ok();
        assert!(
            project_containers(p).is_empty(),
            "{p}: {:?}",
            project_containers(p)
        );
        assert!(
            project_leftovers(p).is_empty(),
            "{p}: {:?}",
            project_leftovers(p)
        );
    }
    assert!(
        !ctx.root.join("compose/cmpa").exists(),
        "its project file stays"
    );
}

#[test]
fn stop_start_and_rm_take_the_whole_project_and_run_services_limit_it() {
    if !require_compose() {
        return;
    }
    let ctx = TestContext::new();
    let extra = format!("  extra:\n    image: {BUSYBOX}\n    command: sleep infinity\n");
    project(&ctx, r#", "runServices": ["db"]"#, &extra);
    ctx.warren(&["run", "--name", "cmpl", "--", "true"]).ok();
    let p = project_of(&ctx, "cmpl");
    assert_eq!(
        project_containers(&p),
        ["app running", "db running"],
        "`extra` is not in runServices"
    );
    ctx.warren(&["stop", "cmpl"]).ok();
    assert_eq!(project_containers(&p), ["app exited", "db exited"]);
    assert_eq!(ctx.env_json("cmpl")["state"], "stopped");
    ctx.warren(&["start", "cmpl"]).ok();
    assert_eq!(project_containers(&p), ["app running", "db running"]);
    assert!(sh(&ctx, "cmpl", "wget -qO- http://db/db.txt; echo reached").contains("reached"));
    ctx.warren(&["rm", "--force", "cmpl"]).ok();
    assert!(
        project_containers(&p).is_empty(),
        "{:?}",
        project_containers(&p)
    );
    assert!(
        project_leftovers(&p).is_empty(),
        "{:?}",
        project_leftovers(&p)
    );
}

#[test]
fn shutdown_action_none_leaves_the_project_running_on_stop() {
    if !require_compose() {
        return;
    }
    let ctx = TestContext::new();
    project(&ctx, r#", "shutdownAction": "none""#, "");
    ctx.warren(&["run", "--name", "cmpn", "--", "true"]).ok();
    let p = project_of(&ctx, "cmpn");
    ctx.warren(&["stop", "cmpn"]).ok();
    assert_eq!(project_containers(&p), ["app running", "db running"]);
    ctx.warren(&["rm", "--force", "cmpn"]).ok();
    assert!(project_containers(&p).is_empty());
    assert!(
        project_leftovers(&p).is_empty(),
        "{:?}",
        project_leftovers(&p)
    );
}

#[test]
fn host_access_in_a_compose_file_is_refused_with_its_place_and_applied_when_granted() {
    if !require_compose() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"dockerComposeFile": "docker-compose.yml", "service": "app"}"#,
    );
    ctx.write(
        ".devcontainer/docker-compose.yml",
        &format!(
            "version: '3.8'\nservices:\n  app:\n    image: {BUSYBOX}\n    command: sleep infinity\n    volumes:\n      - /etc:/host-etc\n  db:\n    image: {BUSYBOX}\n    privileged: true\n"
        ),
    );
    ctx.commit("host access");
    let v = ctx.warren(&["validate"]).fails(1);
    progress!("validate: {}", v.stderr);
    assert!(v.stderr.contains("docker-compose.yml:7:9"), "{}", v.stderr);
    assert!(
        v.stderr.contains("docker-compose.yml:10:17"),
        "{}",
        v.stderr
    );
    for line in [
        "host_access: {mounts: [\"/etc\"]}",
        "host_access: {privileged: true}",
    ] {
        assert!(
            v.stderr.contains(line),
            "the opt-in line {line}: {}",
            v.stderr
        );
    }
    let run = ctx
        .warren(&["run", "--name", "cmph", "--", "true"])
        .fails(1);
    assert!(run.stderr.contains("host path `/etc`"), "{}", run.stderr);
    assert!(ctx.containers().is_empty(), "{:?}", ctx.containers());
    assert!(ctx.ls().is_empty());

    progress!(
        "granted in the user's .warren.yaml, a compose file's host access is applied and named"
    );
    ctx.write(
        ".devcontainer/docker-compose.yml",
        &format!(
            "version: '3.8'\nservices:\n  app:\n    image: {BUSYBOX}\n    command: sleep infinity\n    volumes:\n      - /etc:/host-etc:ro\n  db:\n    image: {BUSYBOX}\n    command: sleep infinity\n    ipc: host\n"
        ),
    );
    ctx.write(".warren.yaml", "host_access: {mounts: [/etc], ipc: host}\n");
    ctx.commit("granted");
    ctx.warren(&["validate"]).ok();
    ctx.warren(&[
        "run",
        "--name",
        "cmpg",
        "--",
        "sh",
        "-c",
        "test -f /host-etc/hostname",
    ])
    .ok();
    let ls = ctx.warren(&["ls"]).ok().stdout;
    progress!("{ls}");
    assert!(ls.contains("host path /etc"), "{ls}");
    assert!(ls.contains("ipc host"), "{ls}");
    ctx.warren(&["rm", "-f", "cmpg"]).ok();
    assert!(ctx.containers().is_empty(), "{:?}", ctx.containers());
}

/// Whether the host's compose CLI is Compose v1 (Debian's `docker-compose`
/// 1.29), as warren picks it: `docker compose` first.
fn compose_is_v1() -> bool {
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    !v2 && Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("version 1."))
}

#[test]
fn compose_v2_spellings_run_on_either_compose_and_the_files_stay_as_they_are() {
    if !require_compose() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"dockerComposeFile": ["docker-compose.yml", "more.yml"], "service": "app", "workspaceFolder": "/workspace"}"#,
    );
    ctx.write(".devcontainer/.env", "FROM_DOTENV=dotenv-ok\n");
    ctx.write(".devcontainer/app.env", "FROM_ENV_FILE=env-file-ok\n");
    let first = format!(
        "version: '3.8'\n# a Compose v2 file\nname: ${{CUSTOM_NAME}}\nservices:\n  app:\n    image: {BUSYBOX}\n    command: sleep infinity\n    ports: !reset []\n    env_file: app.env\n    environment:\n      DOTENV: ${{FROM_DOTENV}}\n    volumes:\n      - ..:/workspace:cached\n"
    );
    ctx.write(".devcontainer/docker-compose.yml", &first);
    ctx.write(
        ".devcontainer/more.yml",
        "services:\n  app:\n    environment:\n      MORE: more-ok\n",
    );
    ctx.commit("compose v2 spellings");
    let out = ctx
        .warren(&[
            "run",
            "--rm",
            "--name",
            "cmpv",
            "--",
            "sh",
            "-c",
            "echo $DOTENV $FROM_ENV_FILE $MORE; ls /workspace/.devcontainer",
        ])
        .ok();
    progress!("{}", out.stdout);
    assert!(
        out.stdout.contains("dotenv-ok env-file-ok more-ok"),
        "`.env`, env_file and the second file as compose reads them: {}",
        out.stdout
    );
    assert!(out.stdout.contains("more.yml"), "the tree: {}", out.stdout);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(ctx.repo.join(".devcontainer/docker-compose.yml")).unwrap(),
        first
    );
    assert_eq!(
        git(&ctx.repo, &["status", "--porcelain"]),
        "",
        "no copy in the tree"
    );
    assert!(ctx.containers().is_empty(), "{:?}", ctx.containers());

    if !compose_is_v1() {
        return;
    }
    progress!("Compose v1: a tag of a later file, which v1 would merge, is refused where it is");
    ctx.write(
        ".devcontainer/more.yml",
        "services:\n  app:\n    environment: !override\n      MORE: more-ok\n",
    );
    ctx.commit("override");
    let run = ctx
        .warren(&["run", "--name", "cmpr", "--", "true"])
        .fails(1);
    progress!("{}", run.stderr);
    assert!(run.stderr.contains("more.yml:3:18"), "{}", run.stderr);
    assert!(run.stderr.contains("needs Compose v2"), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: install Compose v2"),
        "{}",
        run.stderr
    );
    assert!(ctx.containers().is_empty(), "{:?}", ctx.containers());

    progress!("what Compose v1 says of a copy names the original");
    ctx.write(
        ".devcontainer/more.yml",
        "services:\n  app:\n    environment: {MORE: more-ok}\n",
    );
    ctx.write(
        ".devcontainer/docker-compose.yml",
        &first.replace("    command:", "    no_such_key: 1\n    command:"),
    );
    ctx.commit("a key v1 rejects");
    let run = ctx
        .warren(&["run", "--name", "cmpk", "--", "true"])
        .fails(1);
    progress!("{}", run.stderr);
    assert!(run.stderr.contains("no_such_key"), "{}", run.stderr);
    let original = ctx.repo.join(".devcontainer/docker-compose.yml");
    assert!(
        run.stderr.contains(&format!(
            "Compose v1 read warren's copy of `{}`",
            original.display()
        )),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("/v1/0/"),
        "the original named: {}",
        run.stderr
    );
}

/// Removes images a test built, when it ends (also on failure).
struct Rmi(Vec<String>);
impl Drop for Rmi {
    fn drop(&mut self) {
        for i in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", i]).output();
        }
    }
}

/// The image tags a run says it built (`building TAG`).
fn built_tags(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.split("building ").nth(1))
        .map(|t| t.trim().to_string())
        .collect()
}

#[test]
fn a_feature_installs_on_the_compose_services_image_with_its_contributions() {
    if !require_compose() {
        return;
    }
    let ctx = TestContext::new();
    // The service is built from a Dockerfile (as compose would build it),
    // then the Feature is installed on that image.
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{
  "dockerComposeFile": "docker-compose.yml",
  "service": "app",
  "workspaceFolder": "/workspace",
  "features": {"./marker": {"greeting": "howdy"}},
  "postCreateCommand": "echo config-postCreate >> /tmp/order"
}"#,
    );
    ctx.write(
        ".devcontainer/Dockerfile",
        &format!("FROM {BUSYBOX}\nARG FLAVOUR\nRUN echo \"$FLAVOUR\" > /built-flavour\n"),
    );
    ctx.write(
        ".devcontainer/docker-compose.yml",
        &format!(
            "version: '3.8'\nservices:\n  app:\n    build:\n      context: .\n      dockerfile: Dockerfile\n      args:\n        FLAVOUR: compose-built\n    command: sleep infinity\n    volumes:\n      - ..:/workspace:cached\n  db:\n{DB}volumes:\n  dbdata:\n"
        ),
    );
    ctx.write(
        ".devcontainer/marker/devcontainer-feature.json",
        r#"{
  "id": "marker",
  "version": "1.0.0",
  "options": {"greeting": {"type": "string", "default": "hey"}},
  "containerEnv": {"MARKER_HOME": "/opt/marker"},
  "capAdd": ["SYS_PTRACE"],
  "postCreateCommand": "echo feature-postCreate >> /tmp/order"
}"#,
    );
    ctx.write(
        ".devcontainer/marker/install.sh",
        "#!/bin/sh\nset -e\nmkdir -p /opt/marker\necho \"greeting=$GREETING flavour=$(cat /built-flavour)\" > /opt/marker/installed\n",
    );
    ctx.commit("a compose config with a local feature");
    let v = ctx.warren(&["validate"]).ok();
    assert!(
        !v.stderr.contains("not installed"),
        "Features of a Compose config are no longer skipped: {}",
        v.stderr
    );
    let mut rmi = Rmi(Vec::new());

    progress!("host access a Feature of a Compose config asks for needs the user's grant");
    let refused = ctx
        .warren(&["run", "--name", "cmpf-refused", "--", "true"])
        .fails(1);
    rmi.0.extend(built_tags(&refused.stderr));
    progress!("{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("host_access: {capabilities: [SYS_PTRACE]}"),
        "{}",
        refused.stderr
    );
    assert!(ctx.containers().is_empty(), "{:?}", ctx.containers());
    ctx.write(
        ".warren.yaml",
        "host_access: {capabilities: [SYS_PTRACE]}\n",
    );
    ctx.commit("grant the feature's host access");

    let run = ctx.warren(&["run", "--name", "cmpf", "--", "true"]).ok();
    rmi.0.extend(built_tags(&run.stderr));
    progress!("built: {:?}", built_tags(&run.stderr));
    let p = project_of(&ctx, "cmpf");
    assert_eq!(project_containers(&p), ["app running", "db running"]);
    let out = sh(
        &ctx,
        "cmpf",
        "cat /opt/marker/installed; echo MARKER_HOME=$MARKER_HOME; cat /tmp/order; wget -qO- http://db/db.txt && echo db-reached",
    );
    progress!("{out}");
    assert!(
        out.contains("greeting=howdy flavour=compose-built"),
        "the Feature's install.sh ran, with its option, on the image built from the service's Dockerfile: {out}"
    );
    assert!(
        out.contains("MARKER_HOME=/opt/marker"),
        "containerEnv: {out}"
    );
    assert!(
        out.contains("feature-postCreate\nconfig-postCreate"),
        "a Feature's lifecycle command runs before the configuration's: {out}"
    );
    assert!(out.contains("db-reached"), "the other services: {out}");
    let short = ctx.env_json("cmpf")["container"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let inspect = |f: &str| {
        let o = Command::new("docker")
            .args(["inspect", "--format", f, &short])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert!(
        inspect("{{.HostConfig.CapAdd}}").contains("SYS_PTRACE"),
        "the granted capability"
    );
    let image = inspect("{{.Config.Image}}");
    assert!(image.starts_with("warren-features:"), "{image}");
    let ls = ctx.warren(&["ls"]).ok().stdout;
    assert!(ls.contains("host access: cap SYS_PTRACE"), "{ls}");

    ctx.warren(&["rm", "--force", "cmpf"]).ok();
    assert!(project_containers(&p).is_empty());
    assert!(
        project_leftovers(&p).is_empty(),
        "{:?}",
        project_leftovers(&p)
    );
}
