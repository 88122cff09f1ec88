//! `warren agent serve --env NAME`: the tool runs inside a sandbox
//! environment through `warren exec`, and cancel reaches it there.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{ServeProcess, wait_idle, warren, warren_bin};

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

struct Env<'a> {
    root: &'a Path,
    name: &'a str,
}

impl Drop for Env<'_> {
    fn drop(&mut self) {
        let _ = warren(self.root, &["rm", "--force", self.name]);
    }
}

#[test]
fn tasks_run_inside_a_sandbox_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join("tools")).unwrap();
    std::fs::create_dir_all(repo.join("fixtures")).unwrap();
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    std::fs::copy(here.join("tools/claude"), repo.join("tools/claude")).unwrap();
    for e in std::fs::read_dir(here.join("fixtures")).unwrap().flatten() {
        std::fs::copy(e.path(), repo.join("fixtures").join(e.file_name())).unwrap();
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
            "sandbox",
            "--name",
            "agentenv",
            repo.to_str().unwrap(),
            "--",
            "true",
        ],
    );
    if code != 0 {
        panic!("`warren run --runtime sandbox` failed (exit {code}): {err}");
    }
    let _env = Env {
        root: &root,
        name: "agentenv",
    };
    let p = ServeProcess::start(
        &root,
        &["--env", "agentenv", "--kill-grace", "2"],
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
    let marker = "slow twenty qzvkx";
    let v = client
        .post("/task", &json!({ "prompt": format!("slow 20 {marker}") }))
        .unwrap();
    let id = v["task_id"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    while client.task(&id).unwrap().output.is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(15), "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!processes_with(marker).is_empty());
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
