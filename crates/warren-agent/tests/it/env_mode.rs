//! `warren agent serve --env NAME`: the tool runs inside a sandbox
//! environment through `warren exec`, and cancel reaches it there.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{
    ServeProcess, long_prompt, measured, require_docker, wait_idle, warren, warren_bin,
};

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .args(["-c", "user.email=t@t", "-c", "user.name=t"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(marker) {
                found.push(format!("{}: {c}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// A git repository holding the test tools and their fixtures, and an
/// environment `name` made from it under `tmp/root` (a sandbox, or a docker
/// container of the busybox test image); removed on drop.
struct TestEnv {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    name: &'static str,
}

impl TestEnv {
    fn new(name: &'static str, runtime: &str) -> TestEnv {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join("tools")).unwrap();
        std::fs::create_dir_all(repo.join("fixtures")).unwrap();
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        for dir in ["tools", "fixtures"] {
            for e in std::fs::read_dir(here.join(dir)).unwrap().flatten() {
                std::fs::copy(e.path(), repo.join(dir).join(e.file_name())).unwrap();
            }
        }
        if runtime == "docker" {
            std::fs::create_dir_all(repo.join(".devcontainer")).unwrap();
            std::fs::write(
                repo.join(".devcontainer/devcontainer.json"),
                r#"{"image": "warren-test/busybox:latest"}"#,
            )
            .unwrap();
        }
        git(&repo, &["init", "-q"]);
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-qm", "tools"]);
        let _ = warren_bin();
        let (code, _, err) = warren(
            &root,
            &[
                "run",
                "--runtime",
                runtime,
                "--name",
                name,
                repo.to_str().unwrap(),
                "--",
                "true",
            ],
        );
        if code != 0 {
            panic!("`warren run --runtime {runtime}` failed (exit {code}): {err}");
        }
        TestEnv {
            _tmp: tmp,
            root,
            name,
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let _ = warren(&self.root, &["rm", "--force", self.name]);
    }
}

#[test]
fn tasks_run_inside_a_sandbox_environment() {
    let env = TestEnv::new("agentenv", "sandbox");
    let root = env.root.clone();
    let p = ServeProcess::start(
        &root,
        &["agentenv", "--kill-grace", "2"],
        &[("WARREN_TOOL_CLAUDE_BIN", "./tools/claude")],
    );
    wait_idle(&p.url);
    let client = warren_agent::director::Client::new(&root, &p.url).unwrap();
    let st = client.get("/status").unwrap();
    eprintln!("status: {st}");
    assert_eq!(st["config"]["runtime"], "env agentenv");
    let v = client
        .post("/task", &json!({ "prompt": "hello from the sandbox" }))
        .unwrap();
    let id = v["task_id"].as_str().unwrap().to_string();
    let t = warren_agent::director::wait(&client, &id, |_, _| {}).unwrap();
    eprintln!("task: {} {:?} {:?}", t.state, t.output, t.error);
    assert_eq!(t.state.as_str(), "completed");
    assert_eq!(t.output, "echo: hello from the sandbox");
    let debug = client.get(&format!("/task/{id}/debug")).unwrap();
    let argv: Vec<String> = serde_json::from_value(debug["argv"].clone()).unwrap();
    assert_eq!(argv[0], "./tools/claude", "{argv:?}");
    // It ran in the environment's workspace (the worktree), not on the host.
    let wt = root.join("worktrees/repo/agentenv");
    let calls = std::fs::read_to_string(wt.join(".fake-claude-calls")).unwrap();
    assert_eq!(calls.trim(), wt.display().to_string());
    assert!(
        !root.join("agents/agentenv/sessions").exists(),
        "no host session dir"
    );

    // Continue works (same workspace).
    let c = client
        .post(
            &format!("/task/{id}/continue"),
            &json!({ "prompt": "more" }),
        )
        .unwrap();
    let t2 =
        warren_agent::director::wait(&client, c["task_id"].as_str().unwrap(), |_, _| {}).unwrap();
    assert_eq!(t2.state.as_str(), "completed", "{:?}", t2.error);
    assert_eq!(t2.session_id, t.session_id);

    // Cancel reaches the tool inside the sandbox through `warren exec`.
    // The processes are found by the model's name: the prompt is on the
    // tool's stdin, in no process's argv.
    let marker = "slow-model-qzvkx";
    let prompt_marker = "slow twenty pwkjq";
    let v = client
        .post(
            "/task",
            &json!({ "prompt": format!("slow 20 {prompt_marker}"), "model": marker }),
        )
        .unwrap();
    let id = v["task_id"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    while client.task(&id).unwrap().output.is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(15), "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!processes_with(marker).is_empty());
    assert!(
        processes_with(prompt_marker).is_empty(),
        "the prompt is in argv"
    );
    let t_cancel = Instant::now();
    client
        .post(&format!("/task/{id}/cancel"), &json!({}))
        .unwrap();
    let t = warren_agent::director::wait(&client, &id, |_, _| {}).unwrap();
    eprintln!(
        "cancelled in {:?}: {:?} {:?}",
        t_cancel.elapsed(),
        t.state,
        t.error
    );
    assert_eq!(t.state.as_str(), "cancelled");
    assert!(t.output.starts_with("step 1"));
    let t0 = Instant::now();
    loop {
        let left = processes_with(marker);
        if left.is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "still running: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A custom tool (POSIX sh and busybox only) that measures its prompt file.
fn measuring_template() -> String {
    // `$1` is /dev/stdin in an environment: read it once.
    let script = r#"f=$(mktemp); cat "$1" > "$f"; printf "received %s bytes, sha256 %s" "$(wc -c < "$f" | tr -d " ")" "$(sha256sum < "$f" | cut -d" " -f1)""#;
    format!("sh -c '{script}' sh {{{{ prompt_file }}}}")
}

#[test]
fn a_200k_prompt_and_the_tasks_env_reach_a_docker_environment() {
    if !require_docker() {
        return;
    }
    let env = TestEnv::new("dockenv", "docker");
    let prompt = long_prompt(200_000);
    // The task's variables arrive through `warren exec --env-fd` here too.
    let template = measuring_template().replace(
        r#"printf "received %s bytes, sha256 %s" "#,
        r#"printf "received %s bytes, sha256 %s; note=$TASK_NOTE" "#,
    );
    let p = ServeProcess::start(
        &env.root,
        &["dockenv", "--tool", "custom", "--command", &template],
        &[],
    );
    wait_idle(&p.url);
    let client = warren_agent::director::Client::new(&env.root, &p.url).unwrap();
    let v = client
        .post(
            "/task",
            &json!({ "prompt": prompt, "env": { "TASK_NOTE": "from the task" } }),
        )
        .unwrap();
    let t =
        warren_agent::director::wait(&client, v["task_id"].as_str().unwrap(), |_, _| {}).unwrap();
    eprintln!("docker: {} {:.160} {:?}", t.state, t.output, t.error);
    assert_eq!(t.state.as_str(), "completed", "{:?}", t.error);
    assert_eq!(
        t.output,
        format!("{}; note=from the task", measured(&prompt))
    );
}

#[test]
fn a_200k_prompt_reaches_every_tool_through_warren_exec() {
    let env = TestEnv::new("promptenv", "sandbox");
    let prompt = long_prompt(200_000);
    let want = measured(&prompt);
    let template = measuring_template();
    for tool in ["claude", "codex", "gemini", "opencode", "aider", "custom"] {
        let bin_var = format!("WARREN_TOOL_{}_BIN", tool.to_uppercase());
        let bin = format!("./tools/{tool}");
        let name = format!("agent-{tool}");
        let mut args = vec!["promptenv", "--name", &name, "--tool", tool];
        if tool == "custom" {
            args.extend(["--command", &template]);
        }
        let p = ServeProcess::start(&env.root, &args, &[(bin_var.as_str(), bin.as_str())]);
        wait_idle(&p.url);
        let client = warren_agent::director::Client::new(&env.root, &p.url).unwrap();
        let v = client.post("/task", &json!({ "prompt": prompt })).unwrap();
        let t = warren_agent::director::wait(&client, v["task_id"].as_str().unwrap(), |_, _| {})
            .unwrap();
        eprintln!("{tool}: {} {:.120} {:?}", t.state, t.output, t.error);
        assert_eq!(t.state.as_str(), "completed", "{tool}: {:?}", t.error);
        assert!(t.output.contains(&want), "{tool}: {:.300}", t.output);
        if tool == "aider" {
            // Inside the environment the prompt file is its stdin.
            assert!(t.output.contains("not a regular file"), "{}", t.output);
        }
    }
}

/// `/proc/PID/environ` of every process whose argv contains all of `words`.
fn environs_of(words: &[&str]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(c) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = c
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        if words.iter().all(|w| argv.iter().any(|a| a == w))
            && let Ok(env) = std::fs::read(e.path().join("environ"))
        {
            found.push((
                argv.join(" "),
                String::from_utf8_lossy(&env).replace('\0', "\n"),
            ));
        }
    }
    found
}

#[test]
fn a_tasks_env_reaches_the_command_never_the_host_process() {
    let env = TestEnv::new("envvars", "sandbox");
    let p = ServeProcess::start(
        &env.root,
        &["envvars"],
        &[("WARREN_TOOL_CLAUDE_BIN", "./tools/claude")],
    );
    wait_idle(&p.url);
    let client = warren_agent::director::Client::new(&env.root, &p.url).unwrap();

    // The attacker's first try: a loader variable. Refused, by name.
    for name in [
        "LD_PRELOAD",
        "LD_AUDIT",
        "LD_LIBRARY_PATH",
        "GLIBC_TUNABLES",
        "WARREN_ROOT",
    ] {
        let err = client
            .post(
                "/task",
                &json!({ "prompt": "hi", "env": { name: "/tmp/evil.so" } }),
            )
            .unwrap_err();
        eprintln!("{name}: {err}");
        match err {
            warren_agent::AgentError::Api {
                status,
                code,
                message,
                ..
            } => {
                assert_eq!((status, code.as_str()), (400, "validation_error"));
                assert!(message.contains(&format!("`{name}`")), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    // Allowed variables reach the tool inside, and neither the argv nor the
    // own environment of the host-side `warren exec` that starts it. (A
    // name that does not look secret: the value is shown, not redacted.)
    let value = "note-value-7f3a9";
    let v = client
        .post(
            "/task",
            &json!({
                "prompt": "show env",
                "env": {
                    "TASK_NOTE": value,
                    "NODE_OPTIONS": format!("--require /tmp/{value}.js"),
                    "DOCKER_HOST": format!("tcp://{value}:2375"),
                }
            }),
        )
        .unwrap();
    let id = v["task_id"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    while client.task(&id).unwrap().output.is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(15), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The tool is running (it sleeps after its first line): look at every
    // `warren exec` of this environment now.
    let execs = environs_of(&["exec", "--env-fd", "envvars"]);
    eprintln!(
        "host-side processes: {:?}",
        execs.iter().map(|e| &e.0).collect::<Vec<_>>()
    );
    assert!(
        !execs.is_empty(),
        "the host-side `warren exec` was not found"
    );
    for (argv, environ) in &execs {
        assert!(!argv.contains(value), "in argv: {argv}");
        assert!(!environ.contains(value), "in the environment of {argv}");
        assert!(
            !environ.contains("TASK_NOTE="),
            "in the environment of {argv}"
        );
    }
    assert!(processes_with(value).is_empty(), "a process has it in argv");
    let t = warren_agent::director::wait(&client, &id, |_, _| {}).unwrap();
    eprintln!("inside: {}", t.output);
    assert_eq!(
        t.output,
        format!(
            "TASK_NOTE={value} NODE_OPTIONS=--require /tmp/{value}.js DOCKER_HOST=tcp://{value}:2375"
        )
    );
}

/// Past the API's name check (as if it had a hole): an `LD_PRELOAD` for the
/// command must load into the command inside the environment, never into
/// the host-side `warren exec`. A real shared object records every process
/// it is loaded into.
#[test]
fn ld_preload_for_the_command_never_loads_into_the_host_side_warren_exec() {
    use warren_agent::adapters::{self, Invocation, Progress};
    use warren_agent::executor::{self, EnvLauncher, RunLimits, RunSink};

    if Command::new("cc").arg("--version").output().is_err() {
        crate::harness::skip("no C compiler (`cc`) to build the preload library");
        return;
    }
    let env = TestEnv::new("preload", "sandbox");
    // In the worktree, which the sandbox shows at the same path: the
    // library and its log are reachable inside and out.
    let wt = env.root.join("worktrees/repo/preload");
    let so = wt.join("evil.so");
    let log = wt.join("evil.log");
    let src = wt.join("evil.c");
    std::fs::write(
        &src,
        format!(
            r#"#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void) {{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n < 0 ? 0 : n] = 0;
    FILE *f = fopen("{}", "a");
    if (f) {{ fprintf(f, "loaded into %s\n", exe); fclose(f); }}
}}
"#,
            log.display()
        ),
    )
    .unwrap();
    let st = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success(), "cc failed");
    // The library works: a host process preloading it is recorded.
    let st = Command::new("true")
        .env("LD_PRELOAD", &so)
        .status()
        .unwrap();
    assert!(st.success());
    let seen = std::fs::read_to_string(&log).unwrap();
    assert!(seen.contains("loaded into"), "{seen}");
    std::fs::remove_file(&log).unwrap();

    // `warren exec` needs this test's root: a wrapper sets it (the launcher
    // adds nothing to the host-side process's environment).
    let wrapper = wt.join("warren-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nWARREN_ROOT='{}' HOME='{}' exec '{}' \"$@\"\n",
            env.root.display(),
            env.root.display(),
            warren_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let launcher = EnvLauncher {
        warren_bin: wrapper,
        env: "preload".into(),
    };
    let inv = Invocation::new(
        vec!["sh".into(), "-c".into(), "echo preload=$LD_PRELOAD".into()],
        vec![("LD_PRELOAD".into(), so.display().to_string())],
    );
    struct Sink;
    impl RunSink for Sink {
        fn stdout_line(&mut self, _: &str) {}
        fn stderr_line(&mut self, _: &str) {}
        fn progress(&mut self, _: Progress) {}
        fn session_id(&mut self, _: &str) {}
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let adapter = adapters::adapter("custom", Some("sh {{ prompt }}")).unwrap();
    let mut parser = adapter.parser();
    let (_tx, mut rx) = tokio::sync::watch::channel(false);
    let run = rt.block_on(executor::run(
        &launcher,
        &inv,
        None,
        RunLimits {
            timeout: Duration::from_secs(30),
            kill_grace: Duration::from_secs(2),
        },
        parser.as_mut(),
        &mut Sink,
        &mut rx,
    ));
    eprintln!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        run.exit, run.stdout, run.stderr
    );
    assert_eq!(run.exit.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.trim(), format!("preload={}", so.display()));
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("the library was loaded into:\n{seen}");
    assert!(seen.contains("loaded into"), "not even the command: {seen}");
    let warren = warren_bin().canonicalize().unwrap();
    assert!(
        !seen.contains(&warren.display().to_string()),
        "loaded into the host-side warren: {seen}"
    );
}
