//! `warren run/ls/exec/stop/start/rm/logs` against a real engine and real git.

use std::process::{Command, Stdio};

use crate::harness::*;

fn devcontainer(ctx: &TestContext, json: &str) {
    ctx.write(".devcontainer/devcontainer.json", json);
    ctx.commit("devcontainer");
}

fn lines_with(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.trim() == needle).count()
}

fn inspect(container: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "--format", format, container])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn run_passes_exit_code_and_sets_variables_labels_and_ports() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    devcontainer(
        &ctx,
        r#"{
          // JSONC: comments and trailing commas are fine
          "image": "warren-test/git:latest",
          "forwardPorts": [3000],
          "portsAttributes": { "3000": { "label": "Web UI" } },
        }"#,
    );
    let run = ctx
        .warren(&[
            "run",
            // The published port below: the engine's own network.
            "--network",
            "host",
            "--name",
            "alpha",
            "-e",
            "FOO=bar",
            "--",
            "sh",
            "-c",
            "env | sort; pwd; exit 7",
        ])
        .fails(7);
    let port = ctx.proxy_port;
    for want in [
        "WARREN=1".to_string(),
        "WARREN_NAME=alpha".into(),
        "WARREN_PROJECT=repo".into(),
        "WARREN_RUNTIME=docker".into(),
        "IS_SANDBOX=1".into(),
        "PORT=3000".into(),
        format!("WARREN_HOST=web-ui.alpha.localhost:{port}"),
        format!("WARREN_URL=http://web-ui.alpha.localhost:{port}"),
        format!("WARREN_URL_WEB_UI=http://web-ui.alpha.localhost:{port}"),
        format!("WARREN_HOST_WEB_UI=web-ui.alpha.localhost:{port}"),
        "FOO=bar".into(),
        "/workspace".into(),
    ] {
        assert!(
            run.stdout.lines().any(|l| l == want),
            "missing {want} in:\n{}",
            run.stdout
        );
    }

    progress!("the environment stays after the command (like docker run without --rm)");
    let env = ctx.env_json("alpha");
    assert_eq!(env["state"], "running");
    assert_eq!(env["branch"], "warren/alpha");
    assert_eq!(env["runtime"], "docker");
    let worktree = ctx.root.join("worktrees/repo/alpha");
    assert_eq!(env["worktree"], worktree.to_string_lossy().as_ref());
    assert!(worktree.join("README.md").is_file());
    assert_eq!(
        git(&ctx.repo, &["rev-parse", "--abbrev-ref", "warren/alpha"]),
        "warren/alpha"
    );

    progress!("labels and the published port");
    let ids = ctx.containers();
    assert_eq!(ids.len(), 1);
    let labels = inspect(&ids[0], "{{json .Config.Labels}}");
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["warren.managed"], "true");
    assert_eq!(labels["warren.name"], "alpha");
    assert_eq!(labels["warren.project"], "repo");
    assert_eq!(
        labels["warren.worktree"],
        worktree.to_string_lossy().as_ref()
    );
    assert!(
        labels["warren.config-hash"]
            .as_str()
            .is_some_and(|h| h.len() >= 8),
        "{labels}"
    );
    assert!(labels.get("warren.type").is_some());
    let binding = inspect(
        &ids[0],
        r#"{{(index (index .NetworkSettings.Ports "3000/tcp") 0).HostIp}}"#,
    );
    assert_eq!(binding, "127.0.0.1");
    let host_port = env["services"][0]["host_port"]
        .as_u64()
        .expect("host port recorded");
    assert!(host_port > 0);
    assert_eq!(env["services"][0]["name"], "web-ui");
}

#[test]
fn git_works_inside_its_own_repository_and_the_main_one_stays_read_only() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    devcontainer(&ctx, r#"{"image": "warren-test/git:latest"}"#);
    let run = ctx
        .warren(&[
            "run",
            "--name",
            "gitty",
            "--",
            "sh",
            "-c",
            "set -e; git status --short; echo hi > new.txt; git add new.txt; \
             git -c user.name=a -c user.email=a@b commit -q -m 'from inside'; \
             git log --oneline -1; git diff HEAD~1 --stat; \
             echo gitdir=$(git rev-parse --absolute-git-dir); \
             objects=$(cat .git/objects/info/alternates); \
             if touch $objects/planted 2>/dev/null; then echo OBJECTS-WRITABLE; fi; \
             main=$(dirname $objects); \
             if ls $main/config $main/hooks $main/refs 2>/dev/null; then echo MAIN-VISIBLE; fi; \
             echo refs=$(git for-each-ref --format='%(refname)' | tr '\n' ' ')",
        ])
        .ok();
    assert!(run.stdout.contains("from inside"), "{}", run.stdout);
    assert!(run.stdout.contains("new.txt | 1 +"), "{}", run.stdout);
    assert!(
        run.stdout.contains("gitdir=/workspace/.git\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("OBJECTS-WRITABLE"), "{}", run.stdout);
    assert!(!run.stdout.contains("MAIN-VISIBLE"), "{}", run.stdout);
    assert!(
        run.stdout.contains("refs=refs/heads/warren/gitty\n"),
        "only its own branch: {}",
        run.stdout
    );
    progress!("the commit is on the branch, seen from the host");
    assert!(git(&ctx.repo, &["log", "--oneline", "-1", "warren/gitty"]).contains("from inside"));
    assert!(!ctx.repo.join(".git/hooks/pre-commit").exists());
}

#[test]
fn generated_names_are_unique_and_a_taken_name_says_how_to_proceed() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    devcontainer(&ctx, r#"{"image": "warren-test/busybox:latest"}"#);
    ctx.warren(&["run", "--", "true"]).ok();
    ctx.warren(&["run", "--", "true"]).ok();
    let names: Vec<String> = ctx
        .ls()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2);
    assert_ne!(names[0], names[1]);
    for n in &names {
        let (adj, animal) = n.split_once('-').expect("adjective-animal");
        assert!(!adj.is_empty() && !animal.is_empty(), "{n}");
    }
    let taken = ctx
        .warren(&["run", "--name", &names[0], "--", "true"])
        .fails(1);
    assert!(
        taken
            .stderr
            .contains(&format!("`{}` already exists", names[0])),
        "{}",
        taken.stderr
    );
    assert!(
        taken.stderr.contains("hint:") && taken.stderr.contains("--name"),
        "{}",
        taken.stderr
    );
    let bad = ctx
        .warren(&["run", "--name", "Bad_Name", "--", "true"])
        .fails(1);
    assert!(
        bad.stderr.contains("try `--name bad-name`"),
        "{}",
        bad.stderr
    );
    let digits = ctx.warren(&["run", "--name", "42", "--", "true"]).fails(1);
    assert!(
        digits.stderr.contains("must start with a lowercase letter"),
        "{}",
        digits.stderr
    );
    assert_eq!(ctx.ls().len(), 2, "failed runs leave nothing behind");
}

#[test]
fn service_answers_on_its_published_port_from_the_host() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    devcontainer(
        &ctx,
        r#"{
          "image": "warren-test/busybox:latest",
          "forwardPorts": [8000],
          "postStartCommand": "mkdir -p /tmp/www && echo hello-from-env > /tmp/www/index.html && httpd -p 8000 -h /tmp/www"
        }"#,
    );
    // Published on the host: the engine's own network.
    ctx.warren(&["run", "--network", "host", "--name", "web", "--", "true"])
        .ok();
    let env = ctx.env_json("web");
    let host_port = env["services"][0]["host_port"].as_u64().unwrap();
    assert_eq!(env["services"][0]["name"], "8000");
    progress!("GET http://127.0.0.1:{host_port}/");
    let body = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{host_port}/"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&body.stdout).trim(),
        "hello-from-env"
    );
}

#[test]
fn lifecycle_once_vs_every_start_and_a_changed_command_runs_again() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    let config = |post_create: &str| {
        format!(
            r#"{{
              "image": "warren-test/busybox:latest",
              "initializeCommand": "echo init-on-host > \"$WARREN_NAME.init\"",
              "onCreateCommand": "echo oc >> /root/log",
              "updateContentCommand": ["sh", "-c", "echo uc >> /root/log"],
              "postCreateCommand": "{post_create}",
              "postStartCommand": {{ "a": "echo psa >> /root/log", "b": ["sh", "-c", "echo psb >> /root/log"] }}
            }}"#
        )
    };
    devcontainer(&ctx, &config("echo pc >> /root/log"));
    let run = ctx
        .warren(&["run", "--name", "lc", "--", "cat", "/root/log"])
        .ok();
    for (line, n) in [("oc", 1), ("uc", 1), ("pc", 1), ("psa", 1), ("psb", 1)] {
        assert_eq!(
            lines_with(&run.stdout, line),
            n,
            "{line} in:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stderr.contains("[postCreateCommand]") || run.stderr.contains("postCreateCommand"),
        "{}",
        run.stderr
    );
    assert!(
        ctx.repo.join("lc.init").exists(),
        "initializeCommand ran on the host, in the main checkout"
    );
    std::fs::remove_file(ctx.repo.join("lc.init")).unwrap();

    progress!("stop + start: postStart again, the once-per-container steps not");
    ctx.warren(&["stop", "lc"]).ok();
    assert_eq!(ctx.env_json("lc")["state"], "stopped");
    ctx.warren(&["start", "lc"]).ok();
    let log = ctx
        .warren(&["exec", "lc", "--", "cat", "/root/log"])
        .ok()
        .stdout;
    for (line, n) in [("oc", 1), ("uc", 1), ("pc", 1), ("psa", 2), ("psb", 2)] {
        assert_eq!(lines_with(&log, line), n, "{line} in:\n{log}");
    }

    progress!("a changed postCreateCommand runs again on the next start");
    devcontainer(&ctx, &config("echo pc2 >> /root/log; echo pc2-ran"));
    ctx.warren(&["restart", "lc"]).ok();
    let log = ctx
        .warren(&["exec", "lc", "--", "cat", "/root/log"])
        .ok()
        .stdout;
    for (line, n) in [("oc", 1), ("pc", 1), ("pc2", 1), ("psa", 3)] {
        assert_eq!(lines_with(&log, line), n, "{line} in:\n{log}");
    }
    let logs = ctx.warren(&["logs", "lc"]).ok().stdout;
    assert!(logs.contains("[postCreateCommand] pc2-ran"), "{logs}");
}

#[test]
fn a_failing_step_is_named_and_nothing_is_left_behind() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    devcontainer(
        &ctx,
        r#"{"image": "warren-test/busybox:latest", "postCreateCommand": "echo about-to-fail; exit 3", "postStartCommand": "echo never"}"#,
    );
    let run = ctx.warren(&["run", "--name", "bad", "--", "true"]).fails(1);
    assert!(run.stderr.contains("about-to-fail"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`postCreateCommand` failed with exit code 3"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("never"),
        "later steps do not run: {}",
        run.stderr
    );
    assert!(ctx.ls().is_empty());
    assert!(ctx.containers().is_empty(), "container removed");
    assert!(
        !ctx.root.join("worktrees/repo/bad").exists(),
        "worktree removed"
    );
    let branches = git(&ctx.repo, &["branch", "--list", "warren/bad"]);
    assert!(branches.is_empty(), "branch removed: {branches}");
    assert!(git(&ctx.repo, &["worktree", "list"]).lines().count() == 1);
}

#[test]
fn ls_shows_a_container_removed_behind_warrens_back_as_gone() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    devcontainer(&ctx, r#"{"image": "warren-test/busybox:latest"}"#);
    ctx.warren(&["run", "--name", "ghost", "--", "true"]).ok();
    let ids = ctx.containers();
    Command::new("docker")
        .args(["rm", "-f", &ids[0]])
        .output()
        .unwrap();
    assert_eq!(ctx.env_json("ghost")["state"], "gone");
    let table = ctx.warren(&["ls"]).ok().stdout;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ghost") && l.contains("gone")),
        "{table}"
    );
    let exec = ctx.warren(&["exec", "ghost", "--", "true"]).fails(1);
    assert!(
        exec.stderr.contains("is gone") && exec.stderr.contains("warren rm ghost"),
        "{}",
        exec.stderr
    );
    ctx.warren(&["rm", "ghost"]).ok();
    assert!(ctx.ls().is_empty());
}

#[test]
fn exec_stop_start_rm_and_the_branch() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    devcontainer(
        &ctx,
        r#"{"image": "warren-test/busybox:latest", "remoteEnv": {"GREETING": "hi ${containerEnv:HOSTNAME}"}}"#,
    );
    ctx.warren(&["run", "--name", "life", "--", "true"]).ok();
    let out = ctx
        .warren(&[
            "exec",
            "life",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; echo $GREETING; exit 4",
        ])
        .fails(4);
    assert_eq!(out.stdout, "out\nhi life\n");
    assert_eq!(out.stderr.trim(), "err");

    ctx.warren(&["stop", "life"]).ok();
    let not_running = ctx.warren(&["exec", "life", "--", "true"]).fails(1);
    assert!(
        not_running.stderr.contains("warren start life"),
        "{}",
        not_running.stderr
    );
    ctx.warren(&["start", "life"]).ok();
    assert_eq!(ctx.env_json("life")["state"], "running");

    progress!("a dirty worktree is not removed without --force");
    ctx.warren(&["exec", "life", "--", "sh", "-c", "echo x > dirty.txt"])
        .ok();
    let refused = ctx.warren(&["rm", "life"]).fails(1);
    assert!(
        refused.stderr.contains("uncommitted changes"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("dirty.txt"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("warren rm --force life"),
        "{}",
        refused.stderr
    );
    assert_eq!(ctx.ls().len(), 1);
    ctx.warren(&["rm", "--force", "life"]).ok();
    assert!(ctx.ls().is_empty() && ctx.containers().is_empty());
    assert!(!ctx.root.join("worktrees/repo/life").exists());
    assert!(
        !git(&ctx.repo, &["branch", "--list", "warren/life"]).is_empty(),
        "branch kept"
    );

    progress!("--delete-branch removes it");
    ctx.warren(&["run", "--name", "life2", "--", "true"]).ok();
    ctx.warren(&["rm", "--delete-branch", "life2"]).ok();
    assert!(git(&ctx.repo, &["branch", "--list", "warren/life2"]).is_empty());
    let missing = ctx.warren(&["rm", "nope"]).fails(1);
    assert!(
        missing.stderr.contains("no environment named `nope`"),
        "{}",
        missing.stderr
    );
}

#[test]
fn ten_concurrent_runs_get_ten_distinct_environments() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    devcontainer(&ctx, r#"{"image": "warren-test/busybox:latest"}"#);
    let children: Vec<_> = (0..10)
        .map(|_| {
            ctx.cmd(&["run", "--", "true"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let envs = ctx.ls();
    let mut names: Vec<&str> = envs.iter().map(|e| e["name"].as_str().unwrap()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(envs.iter().all(|e| e["state"] == "running"));
    assert_eq!(ctx.containers().len(), 10);
    let repos: std::collections::HashSet<String> = envs
        .iter()
        .map(|e| {
            let tree = std::path::Path::new(e["worktree"].as_str().unwrap());
            git(tree, &["rev-parse", "--absolute-git-dir"])
        })
        .collect();
    assert_eq!(repos.len(), 10, "ten repositories of their own: {repos:?}");
}

#[test]
fn build_uses_a_stable_tag_and_does_not_rebuild_unchanged() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/Dockerfile",
        "FROM warren-test/busybox:latest AS base\nARG WHO\nRUN echo \"built for $WHO\" > /built\nFROM base AS final\n",
    );
    devcontainer(
        &ctx,
        r#"{"build": {"dockerfile": "Dockerfile", "context": ".", "args": {"WHO": "tests"}, "target": "final"}}"#,
    );
    let first = ctx
        .warren(&["run", "--name", "b1", "--", "cat", "/built"])
        .ok();
    assert_eq!(first.stdout.trim(), "built for tests");
    assert!(
        first.stderr.contains("[build]"),
        "streams build output: {}",
        first.stderr
    );
    let second = ctx
        .warren(&["run", "--name", "b2", "--", "cat", "/built"])
        .ok();
    assert!(
        !second.stderr.contains("[build]"),
        "no rebuild: {}",
        second.stderr
    );
    let images: Vec<String> = ctx
        .containers()
        .iter()
        .map(|c| inspect(c, "{{.Config.Image}}"))
        .collect();
    assert_eq!(images[0], images[1]);
    assert!(images[0].starts_with("warren-repo:"), "{images:?}");

    progress!("a changed Dockerfile gets a new tag");
    ctx.write(
        ".devcontainer/Dockerfile",
        "FROM warren-test/busybox:latest\nRUN echo v2 > /built\n",
    );
    devcontainer(&ctx, r#"{"build": {"dockerfile": "Dockerfile"}}"#);
    let third = ctx
        .warren(&["run", "--name", "b3", "--", "cat", "/built"])
        .ok();
    assert_eq!(third.stdout.trim(), "v2");

    // The tags hash this test's temporary paths: drop its images, or every
    // run would leave two more behind.
    let mut built = images.clone();
    built.extend(
        ctx.containers()
            .iter()
            .map(|c| inspect(c, "{{.Config.Image}}")),
    );
    for name in ["b1", "b2", "b3"] {
        ctx.warren(&["rm", "--force", name]).ok();
    }
    built.sort();
    built.dedup();
    let st = Command::new("docker")
        .arg("rmi")
        .args(&built)
        .stdout(Stdio::null())
        .status()
        .expect("docker rmi");
    assert!(st.success(), "removing {built:?}");
}

#[test]
fn a_missing_image_is_pulled_with_progress() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    let port = free_port();
    let storage = ctx.dir.path().join("registry");
    let cfg = ctx.dir.path().join("registry.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        ),
    )
    .unwrap();
    let Ok(registry) = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        if std::env::var_os("CI").is_some() {
            panic!("docker-registry is not installed (scripts/install-deps.sh installs it)");
        }
        eprintln!("skipped: docker-registry not installed");
        return;
    };
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(registry);
    let image = format!("127.0.0.1:{port}/warren-pull-test:{}", std::process::id());
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for args in [
        vec!["tag", BUSYBOX, &image],
        vec!["push", &image],
        vec!["rmi", &image],
    ] {
        let st = Command::new("docker").args(&args).output().unwrap();
        assert!(
            st.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    devcontainer(&ctx, &format!(r#"{{"image": "{image}"}}"#));
    let run = ctx
        .warren(&["run", "--name", "pulled", "--", "echo", "pulled-ok"])
        .ok();
    assert_eq!(run.stdout.trim(), "pulled-ok");
    assert!(
        run.stderr.contains(&format!("pulling {image}")),
        "{}",
        run.stderr
    );
    ctx.warren(&["rm", "pulled"]).ok();
    let _ = Command::new("docker").args(["rmi", &image]).output();
}

#[test]
fn credentials_and_tool_config_are_opt_in_read_only_and_secrets_stay_out_of_output() {
    if !require_docker() {
        return;
    }
    let mut ctx = TestContext::new();
    let h = ctx.home.clone();
    for (p, text) in [
        (".ssh/id_ed25519", "ssh-private-key"),
        (".aws/credentials", "aws"),
        (".claude/settings.json", "{}"),
        (".claude.json", "{}"),
        (".codex/auth.json", "{}"),
        (".gnupg/x", "x"),
    ] {
        std::fs::create_dir_all(h.join(p).parent().unwrap()).unwrap();
        std::fs::write(h.join(p), text).unwrap();
    }
    ctx.write(".warren.yaml", "credentials: [ssh]\ntool: claude\n");
    devcontainer(
        &ctx,
        r#"{"image": "warren-test/busybox:latest", "postCreateCommand": "echo key=$ANTHROPIC_API_KEY"}"#,
    );
    let secret = "sk-ant-test-0123456789abcdef";
    ctx.env("ANTHROPIC_API_KEY", secret);
    let run = ctx
        .warren(&[
            "run",
            "--name",
            "creds",
            "--",
            "sh",
            "-c",
            "cat /root/.ssh/id_ed25519; echo; test -e /root/.aws && echo AWS; test -e /root/.gnupg && echo GPG; \
             test -e /root/.codex && echo CODEX; ls /root/.claude; test -f /root/.claude.json && echo CLAUDE_JSON; \
             touch /root/.ssh/new 2>/dev/null && echo SSH-WRITABLE; echo key=$ANTHROPIC_API_KEY",
        ])
        .ok();
    assert!(run.stdout.contains("ssh-private-key"), "{}", run.stdout);
    assert!(
        run.stdout.contains("settings.json") && run.stdout.contains("CLAUDE_JSON"),
        "{}",
        run.stdout
    );
    for absent in ["AWS", "GPG", "CODEX", "SSH-WRITABLE"] {
        assert!(
            !run.stdout.lines().any(|l| l == absent),
            "{absent} in:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains(&format!("key={secret}")),
        "the tool credential reaches commands inside"
    );

    progress!("the secret is in no log, no --json output, no container config");
    let ls = ctx.warren(&["ls", "--json"]).ok().stdout;
    assert!(!ls.contains(secret));
    let logs = ctx.warren(&["logs", "creds"]).ok();
    assert!(
        !logs.stdout.contains(secret) && logs.stdout.contains("key=[REDACTED]"),
        "{}",
        logs.stdout
    );
    let ids = ctx.containers();
    assert!(!inspect(&ids[0], "{{json .Config.Env}}").contains(secret));
    let db = std::fs::read(ctx.root.join("state.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(secret));
}

#[test]
fn an_interactive_exec_gets_a_tty() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    devcontainer(&ctx, r#"{"image": "warren-test/busybox:latest"}"#);
    ctx.warren(&["run", "--name", "tty", "--", "true"]).ok();
    let session = format!("warren-it-{}", std::process::id());
    let cmd = format!(
        "env -i PATH=\"$PATH\" HOME={} WARREN_ROOT={} NO_COLOR=1 {} exec tty -- sh",
        ctx.home.display(),
        ctx.root.display(),
        warren_bin().display()
    );
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().expect("tmux");
    assert!(
        tmux(&[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "120",
            "-y",
            "30",
            &cmd
        ])
        .status
        .success()
    );
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", &self.0])
                .output();
        }
    }
    let _guard = Kill(session.clone());
    std::thread::sleep(std::time::Duration::from_millis(800));
    tmux(&[
        "send-keys",
        "-t",
        &session,
        "echo answer-$((6*7)); tty; stty size",
        "Enter",
    ]);
    let mut screen = String::new();
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        screen = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout)
            .into_owned();
        if screen.contains("answer-42") && screen.contains("/dev/pts") {
            break;
        }
    }
    assert!(screen.contains("answer-42"), "{screen}");
    assert!(screen.contains("/dev/pts/"), "a TTY inside: {screen}");
    assert!(
        screen.contains("30 120"),
        "the window size follows the terminal: {screen}"
    );
}
