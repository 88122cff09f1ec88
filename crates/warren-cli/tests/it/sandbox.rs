//! The `sandbox` runtime through the real binary: the same environment
//! experience as Docker (worktree, lifecycle commands, vars, services,
//! exec, ls, stop, rm) with isolation that holds.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

fn sandbox_project(ctx: &TestContext, warren_yaml: &str) {
    ctx.write(".warren.yaml", warren_yaml);
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{
          // lifecycle commands run inside the sandbox too
          "postCreateCommand": "echo pc >> \"$HOME/log\"",
          "postStartCommand": ["sh", "-c", "echo ps >> \"$HOME/log\""],
          "remoteEnv": {"GREETING": "hello ${localEnv:USER_FOR_TEST:nobody}"},
        }"#,
    );
    ctx.commit("sandbox project");
}

fn wait_for_http(url: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "1", url])
            .output()
            .ok()?;
        if out.status.success() && !out.stdout.is_empty() {
            return Some(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn a_sandbox_environment_works_like_a_container() {
    let ctx = TestContext::new();
    sandbox_project(
        &ctx,
        "name: sb\nruntime: sandbox\nnetwork: host\nport_range: 19400-19499\nservices:\n  web: 3000\n",
    );

    progress!("run: vars, cwd on the worktree, remoteEnv, git");
    let run = ctx
        .warren(&[
            "run",
            "--name",
            "box",
            "--",
            "sh",
            "-c",
            "echo name=$WARREN_NAME runtime=$WARREN_RUNTIME port=$PORT; pwd; echo $GREETING; \
             git -c user.name=a -c user.email=a@b commit -q --allow-empty -m inside && git log --oneline -1",
        ])
        .ok();
    let worktree = ctx.root.join("worktrees/sb/box");
    assert!(
        run.stdout.contains("name=box runtime=sandbox port=194"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&worktree.to_string_lossy().to_string()),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("hello nobody"), "{}", run.stdout);
    assert!(run.stdout.contains("inside"), "{}", run.stdout);
    assert!(git(&ctx.repo, &["log", "--oneline", "-1", "warren/box"]).contains("inside"));
    let env = ctx.env_json("box");
    assert_eq!(env["runtime"], "sandbox");
    assert_eq!(env["state"], "running");
    let port = env["services"][0]["host_port"].as_u64().unwrap();
    assert!((19400..=19499).contains(&port), "{env}");

    progress!("commands of one environment share /tmp and $HOME");
    ctx.warren(&["exec", "box", "--", "sh", "-c", "echo shared > /tmp/note"])
        .ok();
    let note = ctx.warren(&["exec", "box", "--", "cat", "/tmp/note", "/root/log"]);
    let note = if note.code == 0 {
        note
    } else {
        ctx.warren(&[
            "exec",
            "box",
            "--",
            "sh",
            "-c",
            "cat /tmp/note \"$HOME/log\"",
        ])
        .ok()
    };
    assert!(note.stdout.starts_with("shared\n"), "{}", note.stdout);
    assert_eq!(note.stdout.matches("pc").count(), 1, "{}", note.stdout);
    assert_eq!(note.stdout.matches("ps").count(), 1, "{}", note.stdout);

    progress!("a dev server in the sandbox answers on the host and through the proxy");
    let mut server = ctx
        .cmd(&["exec", "box", "--", "sh", "-c", "mkdir -p pub && echo served-$WARREN_NAME > pub/index.html && exec busybox httpd -f -p $PORT -h pub"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let direct = wait_for_http(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(direct.as_deref(), Some("served-box\n"));
    let proxied = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "3",
            "-H",
            "Host: web.box.localhost",
            &format!("http://127.0.0.1:{}/", ctx.proxy_port),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&proxied.stdout), "served-box\n");

    progress!("stop ends every process of the environment; start runs postStart again");
    ctx.warren(&["stop", "box"]).ok();
    let status = server.wait().unwrap();
    assert!(!status.success(), "the server was ended by stop");
    assert!(wait_for_http(&format!("http://127.0.0.1:{port}/")).is_none());
    assert_eq!(ctx.env_json("box")["state"], "stopped");
    ctx.warren(&["exec", "box", "--", "true"]).fails(1);
    ctx.warren(&["start", "box"]).ok();
    let log = ctx
        .warren(&["exec", "box", "--", "sh", "-c", "cat \"$HOME/log\""])
        .ok();
    assert_eq!(log.stdout.matches("ps").count(), 2, "{}", log.stdout);
    assert_eq!(log.stdout.matches("pc").count(), 1, "{}", log.stdout);

    progress!("rm removes the worktree and the sandbox state");
    ctx.warren(&["rm", "--force", "box"]).ok();
    assert!(!worktree.exists());
    // What is left is the overlay layers every environment shares: skeletons
    // and free work dirs, nothing of `box`.
    assert_eq!(dir_names(&ctx.root.join("local")), ["overlay"]);
    for name in dir_names(&ctx.root.join("local/overlay")) {
        assert!(
            name.starts_with("skel-") || name.starts_with("work-") || name == "slots.lock",
            "{name} left in the shared overlay dir"
        );
    }
    assert!(ctx.ls().is_empty());
}

#[test]
fn isolation_holds_through_warren() {
    let ctx = TestContext::new();
    sandbox_project(&ctx, "name: iso\n");
    escape_attempts(&ctx, "sandbox");
}

/// The same hostile attempts against the docker runtime, where they apply.
#[test]
fn isolation_holds_through_warren_on_docker() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(".warren.yaml", "name: iso\n");
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{"image": "warren-test/busybox:latest"}"#,
    );
    ctx.commit("docker project");
    escape_attempts(&ctx, "docker");
}

fn escape_attempts(ctx: &TestContext, runtime: &str) {
    std::fs::create_dir_all(ctx.home.join(".ssh")).unwrap();
    std::fs::write(ctx.home.join(".ssh/id_ed25519"), "PRIVATE KEY\n").unwrap();
    ctx.warren(&["run", "--runtime", runtime, "--name", "other", "--", "true"])
        .ok();
    let other = ctx.root.join("worktrees/iso/other");
    std::fs::write(other.join("secret.txt"), "other env's file\n").unwrap();

    let hooks_dir = ctx.repo.join(".git/hooks");
    let git_config = std::fs::read_to_string(ctx.repo.join(".git/config")).unwrap();
    // Each attempt: a script, and how to tell it escaped (what the host sees
    // or what it printed; a write that lands in the sandbox's private /tmp
    // is no escape).
    type Check = Box<dyn Fn(&std::process::Output) -> bool>;
    let printed = |needle: &'static str| -> Check {
        Box::new(move |o: &std::process::Output| {
            String::from_utf8_lossy(&o.stdout).contains(needle)
        })
    };
    let repo = ctx.repo.clone();
    let planted = repo.join("planted");
    let attempts: Vec<(&str, String, Check)> = vec![
        (
            "read the user's ssh key",
            format!("cat {}/.ssh/id_ed25519", ctx.home.display()),
            printed("PRIVATE KEY"),
        ),
        (
            "read another environment's worktree",
            format!("cat {}/secret.txt", other.display()),
            printed("other env's file"),
        ),
        (
            "read the warren state database",
            format!("head -c 15 {}/state.db", ctx.root.display()),
            printed("SQLite format"),
        ),
        (
            "read /etc/shadow",
            "cat /etc/shadow".into(),
            Box::new(|o| o.status.success()),
        ),
        (
            "write outside the workspace",
            format!("echo x > {}", planted.display()),
            Box::new(move |_| planted.exists()),
        ),
        (
            "change the main repo's git hooks",
            format!("echo evil > {}/pre-commit", hooks_dir.display()),
            Box::new(move |_| hooks_dir.join("pre-commit").exists()),
        ),
        (
            "change the main repo's git config",
            format!("echo evil >> {}/.git/config", repo.display()),
            Box::new(move |_| {
                std::fs::read_to_string(repo.join(".git/config")).unwrap() != git_config
            }),
        ),
        (
            "see host processes",
            // The engine, the test runner: processes only the host has.
            "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done 2>/dev/null | grep -q -e 'docker[d]' -e 'nextes[t]' -e 'warren-i[t]'".into(),
            Box::new(|o| o.status.success()),
        ),
        (
            "unshare a user namespace",
            "unshare -U true".into(),
            Box::new(|o| o.status.success()),
        ),
    ];
    let mut escapes = Vec::new();
    for (name, script, escaped) in &attempts {
        let out = ctx
            .cmd(&[
                "run",
                "--runtime",
                runtime,
                "--rm",
                "--",
                "sh",
                "-c",
                script,
            ])
            .output()
            .unwrap();
        let bad = escaped(&out);
        progress!(
            "{runtime}: attempt: {name}: {}",
            if bad { "ESCAPED" } else { "blocked" }
        );
        if bad {
            escapes.push(*name);
        }
    }
    progress!(
        "{runtime}: {} attempts, {} escapes",
        attempts.len(),
        escapes.len()
    );
    assert!(escapes.is_empty(), "escaped: {escapes:?}");
    ctx.warren(&["rm", "--force", "other"]).ok();
}

#[test]
fn network_none_is_offline_and_auto_picks_the_sandbox_without_an_engine() {
    let mut ctx = TestContext::new();
    sandbox_project(&ctx, "name: net\nsandbox:\n  network: none\n");
    ctx.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "echo runtime=$WARREN_RUNTIME; busybox nc -w 2 127.0.0.1 {port} </dev/null && echo tcp=reached; \
         busybox wget -q -T 2 -O- http://example.com/ >/dev/null 2>&1 && echo dns=reached; echo done"
    );
    let run = ctx
        .warren(&["run", "--rm", "--name", "off", "--", "sh", "-c", &script])
        .ok();
    assert!(run.stdout.contains("done"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("reached"),
        "network none is offline: {}",
        run.stdout
    );
    assert!(run.stdout.contains("runtime=sandbox"), "{}", run.stdout);
    assert!(
        run.stderr.contains("sandbox runtime"),
        "auto says why: {}",
        run.stderr
    );
    assert!(ctx.ls().is_empty());
}

#[test]
fn warren_yaml_hooks_run_where_and_when_they_should() {
    let ctx = TestContext::new();
    let host_log = ctx.dir.path().join("host-hooks.log");
    ctx.write(
        ".warren.yaml",
        &format!(
            "runtime: sandbox\n\
             pre_start: [{{run: \"echo pre_start-$WARREN_NAME >> {log}\"}}]\n\
             post_start: [{{run: \"echo post_start >> $HOME/inside.log\"}}]\n\
             pre_stop: [{{run: \"echo pre_stop >> $HOME/inside.log\"}}]\n\
             post_stop: [{{run: \"echo post_stop >> {log}\"}}]\n",
            log = host_log.display()
        ),
    );
    ctx.commit("hooks");
    let host = || std::fs::read_to_string(&host_log).unwrap_or_default();
    let inside = |ctx: &TestContext| {
        ctx.warren(&["exec", "hk", "--", "sh", "-c", "cat \"$HOME/inside.log\""])
            .ok()
            .stdout
    };
    ctx.warren(&["run", "--name", "hk", "--", "true"]).ok();
    assert_eq!(host(), "pre_start-hk\n", "pre_start on the host");
    assert_eq!(inside(&ctx), "post_start\n", "post_start inside");

    progress!("stop: pre_stop inside, then post_stop on the host");
    ctx.warren(&["stop", "hk"]).ok();
    assert_eq!(host(), "pre_start-hk\npost_stop\n");
    ctx.warren(&["start", "hk"]).ok();
    assert_eq!(inside(&ctx), "post_start\npre_stop\npost_start\n");
    assert_eq!(
        host(),
        "pre_start-hk\npost_stop\npre_start-hk\n",
        "pre_start again on start"
    );

    progress!("rm of a running environment goes through the stop flow");
    ctx.warren(&["rm", "--force", "hk"]).ok();
    assert_eq!(host(), "pre_start-hk\npost_stop\npre_start-hk\npost_stop\n");
}

#[test]
fn killing_warren_run_ends_the_whole_sandbox() {
    // `run --rm` of one command forks its sandbox helper (no re-exec); the
    // lifeline must still take every process of the sandbox down with a
    // SIGKILLed warren, including a double-forked, setsid'd one. Without
    // `--rm` the environment stays, like a container: its command dies with
    // warren, what it started in the background lives until `warren stop`.
    let ctx = TestContext::new();
    sandbox_project(&ctx, "name: kl\nruntime: sandbox\n");
    let count = |marker: &str| {
        let out = Command::new("pgrep")
            .args(["-c", "-f", &format!("^{marker}$")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .unwrap_or(0)
    };
    let wait_until = |what: &str, marker: &str, want: u32| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while count(marker) != want {
            assert!(
                Instant::now() < deadline,
                "{what}: {} process(es), not {want}",
                count(marker)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    for (rm, name) in [(true, "kl"), (false, "kl2")] {
        // A sleep of a length nothing else uses marks the sandbox's processes.
        let marker = format!(
            "sleep {}",
            200_000 + std::process::id() % 100_000 + u32::from(rm)
        );
        let script = format!("(setsid {marker} &) ; {marker}");
        let mut args = vec!["run", "--name", name];
        if rm {
            args.push("--rm");
        }
        args.extend(["--", "sh", "-c", &script]);
        let mut child = ctx
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until("the sandboxed processes did not start", &marker, 2);
        progress!("SIGKILL to warren run (pid {}, --rm: {rm})", child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        if rm {
            wait_until("sandboxed processes outlived warren run --rm", &marker, 0);
        } else {
            wait_until(
                "the command outlived warren, or its daemon did not stay",
                &marker,
                1,
            );
            ctx.warren(&["stop", name]).ok();
            assert_eq!(count(&marker), 0, "a process outlived `warren stop`");
        }
        ctx.warren(&["rm", "--force", name]).ok();
    }
}

#[test]
fn a_single_command_run_rm_gets_tmpfs_tmp_and_home() {
    // `run --rm -- CMD` with nothing before CMD: /tmp and $HOME are tmpfs that
    // end with it (no directories on disk to create and delete).
    let ctx = TestContext::new();
    sandbox_project(&ctx, "name: sc\nruntime: sandbox\n");
    // sandbox_project's devcontainer.json has lifecycle commands: the full
    // environment (directories on disk, shared by its commands).
    let run = ctx
        .warren(&[
            "run",
            "--rm",
            "--",
            "sh",
            "-c",
            "grep -c ' /tmp tmpfs ' /proc/mounts; cat $HOME/log",
        ])
        .ok();
    assert_eq!(run.stdout, "0\npc\nps\n", "{}", run.stderr);
    ctx.write(".devcontainer/devcontainer.json", "{}");
    ctx.commit("no lifecycle commands");
    let script = "grep -E ' (/tmp|'\"$HOME\"') tmpfs ' /proc/mounts | cut -d' ' -f2; \
                  echo x > /tmp/f && echo y > $HOME/g && cat /tmp/f $HOME/g";
    let run = ctx.warren(&["run", "--rm", "--", "sh", "-c", script]).ok();
    let home = ctx.home.display().to_string();
    assert_eq!(
        run.stdout,
        format!("/tmp\n{home}\nx\ny\n"),
        "{}",
        run.stderr
    );
    assert!(ctx.ls().is_empty());
}
