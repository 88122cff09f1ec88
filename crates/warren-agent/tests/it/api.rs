//! The task API end to end with the recorded-output test tools: results,
//! sessions, failures, busy, cancel, timeout, retries, starting, SSE, shutdown.

use std::time::{Duration, Instant};

use serde_json::json;
use warren_agent::director::Client;

use crate::harness::{server, tool};

#[test]
fn task_result_session_usage_and_debug() {
    let s = server(|_| {});
    let started = s.submit(json!({ "prompt": "hello world" }));
    let session = started["session_id"].as_str().unwrap().to_string();
    assert_eq!(session.len(), 36, "claude sessions get a UUID up front");
    let t = s.wait_task(started["task_id"].as_str().unwrap());
    eprintln!("task: {t}");
    assert_eq!(t["state"], "completed");
    assert_eq!(t["output"], "echo: hello world");
    assert_eq!(t["session_id"], session.as_str());
    assert_eq!(t["exit_code"], 0);
    assert_eq!(t["token_usage"]["input_tokens"], 12);
    assert_eq!(t["cost_usd"], 0.0123);
    assert!(t["error"].is_null());
    assert!(t["duration_seconds"].as_f64().unwrap() >= 0.0);
    // The tool ran in ROOT/agents/<agent>/sessions/<session>.
    let dir = s
        .root
        .path()
        .join("agents/test-agent/sessions")
        .join(&session);
    let calls = std::fs::read_to_string(dir.join(".fake-claude-calls")).unwrap();
    assert_eq!(calls.trim(), dir.display().to_string());
    let (code, d) = s.get(&format!("/task/{}/debug", t["task_id"].as_str().unwrap()));
    assert_eq!(code, 200);
    let argv: Vec<String> = serde_json::from_value(d["argv"].clone()).unwrap();
    assert_eq!(
        &argv[1..],
        [
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--session-id",
            &session,
        ]
    );
    assert!(d["stdout"].as_str().unwrap().contains(r#""type":"result""#));
}

#[test]
fn continue_and_end_keep_one_session() {
    let s = server(|_| {});
    let first = s.run("first");
    let id = first["task_id"].as_str().unwrap();
    let session = first["session_id"].as_str().unwrap();
    // Continue: same session, same directory (the fake fails a resume elsewhere).
    let (code, c) = s.post(
        &format!("/task/{id}/continue"),
        json!({ "prompt": "second" }),
    );
    assert_eq!(code, 201, "{c}");
    assert_eq!(c["session_id"], session);
    let second = s.wait_task(c["task_id"].as_str().unwrap());
    assert_eq!(second["state"], "completed", "{second}");
    assert_eq!(second["parent_task_id"], id);
    assert_eq!(second["session_id"], session);
    // Also by session id through POST /task.
    let third = s.submit(json!({ "prompt": "third", "session_id": session }));
    let third = s.wait_task(third["task_id"].as_str().unwrap());
    assert_eq!(third["state"], "completed", "{third}");
    let dir = s
        .root
        .path()
        .join("agents/test-agent/sessions")
        .join(session);
    let prompts = std::fs::read_to_string(dir.join(".fake-sessions").join(session)).unwrap();
    assert_eq!(prompts, "first\nsecond\nthird\n");
    // End: no more continues.
    let (code, e) = s.post(&format!("/task/{id}/end"), json!({}));
    assert_eq!((code, e["ended"].clone()), (200, json!(true)), "{e}");
    let (code, e) = s.post(&format!("/task/{id}/continue"), json!({ "prompt": "x" }));
    assert_eq!(
        (code, e["error"].as_str()),
        (409, Some("already_completed"))
    );
    let (code, e) = s.post("/task", json!({ "prompt": "x", "session_id": session }));
    assert_eq!(
        (code, e["error"].as_str()),
        (409, Some("already_completed"))
    );
    // A resume of an unknown session is the recorded "No conversation found".
    let t =
        s.run_with(json!({ "prompt": "x", "session_id": "00000000-0000-4000-8000-00000000abcd" }));
    assert_eq!(t["error"]["details"]["reason"], "resume_failed", "{t}");
}

impl crate::harness::TestServer {
    fn run_with(&self, body: serde_json::Value) -> serde_json::Value {
        let v = self.submit(body);
        self.wait_task(v["task_id"].as_str().unwrap())
    }
}

#[test]
fn failures_are_classified() {
    let s = server(|c| c.retries = 0);
    let t = s.run("not logged in");
    eprintln!("not logged in: {}", t["error"]);
    assert_eq!(t["state"], "failed");
    assert_eq!(t["error"]["type"], "tool_error");
    assert_eq!(t["error"]["details"]["reason"], "not_logged_in");
    assert_eq!(t["error"]["message"], "Not logged in · Please run /login");
    assert_eq!(t["exit_code"], 1);
    let t = s.run("rate limit");
    assert_eq!(t["error"]["type"], "rate_limited", "{t}");
    assert_eq!(t["error"]["details"]["resets"], "3pm (UTC)");
    let t = s.run("crash");
    assert_eq!(t["error"]["details"]["reason"], "crashed", "{t}");
    assert_eq!(t["output"], "starting the work", "partial output kept");
    let t = s.run("usage error");
    assert_eq!(t["error"]["details"]["reason"], "usage_error", "{t}");
    let t = s.run("api error");
    assert_eq!(t["error"]["details"]["class"], "fatal", "{t}");
}

#[test]
fn busy_then_cancel_keeps_partial_output() {
    let s = server(|_| {});
    let started = s.submit(json!({ "prompt": "slow 20" }));
    let id = started["task_id"].as_str().unwrap();
    // Wait for the first step so there is partial output.
    let t0 = Instant::now();
    while !s.get(&format!("/task/{id}")).1["output"]
        .as_str()
        .unwrap()
        .contains("step 1")
    {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, b) = s.post("/task", json!({ "prompt": "other" }));
    assert_eq!(code, 409, "{b}");
    assert_eq!(b["error"], "agent_busy");
    assert_eq!(b["details"]["current_task"], id);
    let (_, st) = s.get("/status");
    assert_eq!(
        (st["state"].as_str(), st["current_task"].as_str()),
        (Some("working"), Some(id))
    );
    let (code, c) = s.post(&format!("/task/{id}/continue"), json!({ "prompt": "x" }));
    assert_eq!((code, c["error"].as_str()), (409, Some("task_in_progress")));
    let t_cancel = Instant::now();
    let (code, _) = s.post(&format!("/task/{id}/cancel"), json!({}));
    assert_eq!(code, 202);
    let t = s.wait_task(id);
    eprintln!("cancelled in {:?}: {t}", t_cancel.elapsed());
    assert!(t_cancel.elapsed() < Duration::from_secs(3));
    assert_eq!(t["state"], "cancelled");
    assert_eq!(t["error"]["type"], "cancelled");
    assert!(t["output"].as_str().unwrap().starts_with("step 1"), "{t}");
    let (code, c) = s.post(&format!("/task/{id}/cancel"), json!({}));
    assert_eq!(
        (code, c["error"].as_str()),
        (409, Some("already_completed"))
    );
    assert_eq!(s.get("/status").1["state"], "idle");
}

#[test]
fn timeout_sends_sigterm_then_sigkill_after_the_grace() {
    let s = server(|c| c.kill_grace = Duration::from_secs(1));
    let t0 = Instant::now();
    let v = s.submit(json!({ "prompt": "ignore term", "timeout_seconds": 1 }));
    let t = s.wait_task(v["task_id"].as_str().unwrap());
    let took = t0.elapsed();
    eprintln!("timed out after {took:?}: {}", t["error"]);
    assert_eq!(t["state"], "failed");
    assert_eq!(t["error"]["type"], "timeout");
    assert_eq!(t["error"]["details"]["killed"], true, "SIGTERM was ignored");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert_eq!(t["output"], "ignoring SIGTERM");
    assert_eq!(warren_agent::executor::KILL_GRACE, Duration::from_secs(10));
}

#[test]
fn retryable_failures_back_off_and_retry() {
    let s = server(|c| {
        c.retries = 2;
        c.retry_base = Duration::from_millis(200);
    });
    let t = s.run("flaky");
    eprintln!("flaky: {t}");
    assert_eq!(t["state"], "completed");
    assert_eq!(t["attempts"], 2);
    assert_eq!(t["output"], "worked on attempt 2");
    let s = server(|c| c.retries = 0);
    let t = s.run("flaky");
    assert_eq!(t["error"]["details"]["class"], "retryable", "{t}");
}

#[test]
fn starting_until_the_tool_answers_version() {
    let s = server(|c| c.tool_env.push(("FAKE_VERSION_SLEEP".into(), "1.5".into())));
    let (_, st) = s.get_anon("/status");
    assert_eq!(st["state"], "starting");
    let (code, b) = s.post("/task", json!({ "prompt": "hi" }));
    assert_eq!((code, b["error"].as_str()), (503, Some("agent_starting")));
    s.wait_ready();
    let (_, st) = s.get("/status");
    assert_eq!(st["config"]["tool_version"], "2.1.197 (Claude Code)");
}

#[test]
fn a_missing_tool_stops_the_server_with_the_reason() {
    let mut s = server(|c| c.tool_bin = Some("/nonexistent/claude".into()));
    let handle = s.handle.take().unwrap();
    let why =
        s.rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), handle.wait()).await })
            .expect("the server stops by itself")
            .expect("with a reason");
    eprintln!("{why}");
    assert!(
        matches!(&why, warren_agent::AgentError::ToolUnavailable { reason, .. }
            if reason.contains("`/nonexistent/claude` is not installed")),
        "{why:?}"
    );
    let hint = warren_core::Hint::hint(&why).unwrap();
    assert!(hint.contains("WARREN_TOOL_CLAUDE_BIN"), "{hint}");
}

#[test]
fn progress_streams_over_sse_while_the_tool_prints() {
    let s = server(|_| {});
    let v = s.submit(json!({ "prompt": "slow 2" }));
    let id = v["task_id"].as_str().unwrap().to_string();
    let client = Client::with_token(&s.url, &s.token);
    let mut events = Vec::new();
    let mut running_when_first_step = None;
    client
        .follow(&id, |name, data| {
            if name == "progress" && data["text"] == "step 1" {
                running_when_first_step = Some(s.get(&format!("/task/{id}")).1["state"].clone());
            }
            events.push((name.to_string(), data.clone()));
        })
        .unwrap();
    eprintln!("events: {events:?}");
    assert_eq!(
        running_when_first_step,
        Some(json!("running")),
        "streamed, not buffered"
    );
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names.last(), Some(&"done"));
    assert!(events.iter().any(|e| e.1["text"] == "step 2"));
    assert_eq!(events.last().unwrap().1["state"], "completed");
    // A finished task's stream is just `done`.
    let mut again = Vec::new();
    client
        .follow(&id, |n, _| again.push(n.to_string()))
        .unwrap();
    assert_eq!(again, ["done"]);
}

#[test]
fn validation_and_not_found() {
    let s = server(|_| {});
    s.wait_ready();
    for (body, what) in [
        (json!({ "prompt": "" }), "empty prompt"),
        (json!({}), "no prompt"),
        (json!({ "prompt": 5 }), "prompt not a string"),
        (
            json!({ "prompt": "x", "timeout_seconds": 0 }),
            "zero timeout",
        ),
        (json!({ "prompt": "x", "bogus": 1 }), "unknown field"),
        (
            json!({ "prompt": "x", "env": { "1BAD": "v" } }),
            "bad env name",
        ),
        (
            json!({ "prompt": "x", "env": { "LD_PRELOAD": "/tmp/evil.so" } }),
            "a loader variable",
        ),
        (
            json!({ "prompt": "x", "env": { "WARREN_ROOT": "/tmp" } }),
            "a warren variable",
        ),
    ] {
        let (code, b) = s.post("/task", body);
        assert_eq!(
            (code, b["error"].as_str()),
            (400, Some("validation_error")),
            "{what}: {b}"
        );
    }
    let (code, _) = s.get("/history?limit=101");
    assert_eq!(code, 400);
    let (code, b) = s.get("/task/nope");
    assert_eq!((code, b["error"].as_str()), (404, Some("not_found")));
    let (code, _) = s.post("/task/nope/cancel", json!({}));
    assert_eq!(code, 404);
}

#[test]
fn shutdown_drains_the_running_task() {
    let mut s = server(|_| {});
    let v = s.submit(json!({ "prompt": "slow 2" }));
    let id = v["task_id"].as_str().unwrap().to_string();
    let (code, b) = s.post("/shutdown", json!({}));
    assert_eq!(code, 202, "{b}");
    assert_eq!(b["draining_task"], id.as_str());
    let (code, b) = s.post("/task", json!({ "prompt": "late" }));
    assert_eq!((code, b["error"].as_str()), (503, Some("shutting_down")));
    let h = s.handle.take().unwrap();
    let t0 = Instant::now();
    s.rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), h.wait()).await })
        .unwrap();
    eprintln!("drained in {:?}", t0.elapsed());
    let store = warren_store::Store::open(s.root.path()).unwrap();
    assert_eq!(
        store.task(&id).unwrap().unwrap().state.as_str(),
        "completed"
    );
    assert!(store.agents().unwrap().is_empty(), "unregistered");
}

#[test]
fn forced_shutdown_cancels() {
    let mut s = server(|_| {});
    let v = s.submit(json!({ "prompt": "slow 30" }));
    let id = v["task_id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    let (code, _) = s.post("/shutdown", json!({ "force": true }));
    assert_eq!(code, 202);
    let h = s.handle.take().unwrap();
    s.rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), h.wait()).await })
        .unwrap();
    let store = warren_store::Store::open(s.root.path()).unwrap();
    assert_eq!(
        store.task(&id).unwrap().unwrap().state.as_str(),
        "cancelled"
    );
}

#[test]
fn codex_gemini_and_custom_through_the_server() {
    let s = server(|c| {
        c.tool = "codex".into();
        c.tool_bin = Some(tool("codex").display().to_string());
        c.retries = 0;
    });
    let t = s.run("do it");
    assert_eq!(t["state"], "completed", "{t}");
    assert_eq!(t["output"], "codex did it");
    assert_eq!(t["token_usage"]["cache_read_input_tokens"], 10);
    let thread = t["session_id"].as_str().unwrap().to_string();
    let (code, c) = s.post(
        &format!("/task/{}/continue", t["task_id"].as_str().unwrap()),
        json!({ "prompt": "more" }),
    );
    assert_eq!(code, 201);
    let t2 = s.wait_task(c["task_id"].as_str().unwrap());
    assert_eq!(
        t2["session_id"],
        thread.as_str(),
        "codex exec resume keeps the thread"
    );
    let t = s.run("offline");
    assert_eq!(t["error"]["details"]["class"], "retryable", "{t}");
    drop(s);

    let s = server(|c| {
        c.tool = "gemini".into();
        c.tool_bin = Some(tool("gemini").display().to_string());
    });
    let t = s.run("hi");
    assert_eq!(
        (t["state"].as_str(), t["output"].as_str()),
        (Some("completed"), Some("gemini did it"))
    );
    let t = s.run("not logged in");
    assert_eq!(t["error"]["details"]["reason"], "not_logged_in", "{t}");
    assert_eq!(t["exit_code"], 41);
    drop(s);

    let s = server(|c| {
        c.tool = "custom".into();
        c.tool_bin = None;
        c.template =
            Some("sh -c 'echo custom: \"$1\"; test \"$1\" != fail' sh {{ prompt }}".into());
    });
    let t = s.run("hi there");
    assert_eq!(
        (t["state"].as_str(), t["output"].as_str()),
        (Some("completed"), Some("custom: hi there"))
    );
    let t = s.run("fail");
    assert_eq!(t["state"], "failed");
}

#[test]
fn cancel_then_follow_reuses_the_connection() {
    // The client pools its connection after `POST …/cancel`; the server
    // must not close it for a body it answered before reading.
    let s = server(|_| {});
    s.wait_ready();
    let client = Client::with_token(&s.url, &s.token);
    for i in 0..20 {
        let v = client
            .post("/task", &json!({ "prompt": "slow 20" }))
            .unwrap();
        let id = v["task_id"].as_str().unwrap().to_string();
        while client.task(&id).unwrap().output.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
        client
            .post(&format!("/task/{id}/cancel"), &json!({}))
            .unwrap();
        let t = warren_agent::director::wait(&client, &id, |_, _| {})
            .unwrap_or_else(|e| panic!("round {i}: {e}"));
        assert_eq!(t.state.as_str(), "cancelled");
    }
}
