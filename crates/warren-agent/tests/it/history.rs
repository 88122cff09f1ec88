//! History in the store: survives restarts and `kill -9`, paginates,
//! keeps the newest N per agent.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{ServeProcess, server, server_in, wait_idle};

#[test]
fn history_survives_a_restart_and_paginates() {
    let mut s = server(|c| c.keep_tasks = 5);
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            s.run(&format!("task {i}"))["task_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let (_, page) = s.get("/history?page=1&limit=2");
    eprintln!("page 1: {page}");
    assert_eq!(page["total"], 5, "only the newest 5 are kept");
    let got: Vec<&str> = page["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[6].as_str(), ids[5].as_str()], "newest first");
    let (_, p3) = s.get("/history?page=3&limit=2");
    assert_eq!(p3["tasks"].as_array().unwrap().len(), 1);
    let (code, _) = s.get(&format!("/history/{}", ids[0]));
    assert_eq!(code, 404, "pruned");
    let (_, default) = s.get("/history");
    assert_eq!(default["limit"], 20);
    s.stop();
    let root = std::mem::replace(&mut s.root, tempfile::tempdir().unwrap());
    drop(s);
    let s2 = server_in(root, |c| c.keep_tasks = 5);
    let (code, t) = s2.get(&format!("/history/{}", ids[6]));
    assert_eq!(code, 200);
    assert_eq!(t["output"], "echo: task 6");
    assert_eq!(t["token_usage"]["output_tokens"], 7);
    assert_eq!(s2.get("/history").1["total"], 5);
}

#[test]
fn a_task_running_during_kill_9_is_interrupted_after_restart() {
    let root = tempfile::tempdir().unwrap();
    let mut p = ServeProcess::start(root.path(), &["--runtime", "host", "--name", "crashy"], &[]);
    wait_idle(&p.url);
    let client = warren_agent::director::Client::new(root.path(), &p.url).unwrap();
    let v = client
        .post("/task", &json!({ "prompt": "slow 30" }))
        .unwrap();
    let id = v["task_id"].as_str().unwrap().to_string();
    let session = v["session_id"].as_str().unwrap().to_string();
    // Wait for saved progress, then kill -9 the server.
    let t0 = Instant::now();
    while client.task(&id).unwrap().output.is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1200));
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    eprintln!("killed the server (pid {})", p.pid());
    // The orphaned fake tool (its own process group): end it. A host agent
    // works where it was started (the root, here).
    let _ = &session;
    let pid = std::fs::read_to_string(root.path().join(".fake-pid")).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", pid.trim())])
        .status()
        .unwrap();
    assert!(status.success());
    let p2 = ServeProcess::start(root.path(), &["--runtime", "host", "--name", "crashy"], &[]);
    let client = warren_agent::director::Client::new(root.path(), &p2.url).unwrap();
    let t = client.task(&id).unwrap();
    eprintln!(
        "after restart: {:?} {:?} output {:?}",
        t.state, t.error, t.output
    );
    assert_eq!(t.state.as_str(), "failed");
    assert_eq!(t.error.unwrap().kind, "interrupted");
    assert!(
        t.output.contains("step 1"),
        "progress saved before the crash is kept"
    );
    assert!(p2.log().contains(&format!("task {id} was interrupted")));
}

#[test]
fn sigterm_drains_the_running_task_before_exiting() {
    let root = tempfile::tempdir().unwrap();
    let mut p = ServeProcess::start(root.path(), &["--runtime", "host"], &[]);
    wait_idle(&p.url);
    let client = warren_agent::director::Client::new(root.path(), &p.url).unwrap();
    let v = client
        .post("/task", &json!({ "prompt": "slow 2" }))
        .unwrap();
    let id = v["task_id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let st = std::process::Command::new("kill")
        .args(["-TERM", &p.pid().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = p.child.wait().unwrap();
    eprintln!("exited {status:?} after {:?}", t0.elapsed());
    assert!(status.success());
    assert!(
        t0.elapsed() >= Duration::from_millis(1000),
        "waited for the task"
    );
    let store = warren_store::Store::open(root.path()).unwrap();
    assert_eq!(
        store.task(&id).unwrap().unwrap().state.as_str(),
        "completed"
    );
    assert!(store.agents().unwrap().is_empty(), "unregistered on exit");
}
