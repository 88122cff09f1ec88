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
fn a_200k_prompt_reaches_a_docker_environment() {
    if !require_docker() {
        return;
    }
    let env = TestEnv::new("dockenv", "docker");
    let prompt = long_prompt(200_000);
    let template = measuring_template();
    let p = ServeProcess::start(
        &env.root,
        &["dockenv", "--tool", "custom", "--command", &template],
        &[],
    );
    wait_idle(&p.url);
    let client = warren_agent::director::Client::new(&env.root, &p.url).unwrap();
    let v = client.post("/task", &json!({ "prompt": prompt })).unwrap();
    let t =
        warren_agent::director::wait(&client, v["task_id"].as_str().unwrap(), |_, _| {}).unwrap();
    eprintln!("docker: {} {:.120} {:?}", t.state, t.output, t.error);
    assert_eq!(t.state.as_str(), "completed", "{:?}", t.error);
    assert_eq!(t.output, measured(&prompt));
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
