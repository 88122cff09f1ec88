//! A tool with no credentials at all fails at once, as `not_logged_in`,
//! without being run; a key in the environment, a stored one or a login file
//! each count; custom tools are not checked.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warren_agent::director::Client;

use crate::harness::{ServeProcess, wait_idle, warren};

/// Submits `body` and polls (tightly) until the task has ended.
fn run_timed(client: &Client, body: Value) -> (Value, Duration) {
    let t0 = Instant::now();
    let v = client.post("/task", &body).unwrap();
    let id = v["task_id"].as_str().unwrap();
    loop {
        let t = client.get(&format!("/task/{id}")).unwrap();
        if t["state"] != "running" {
            return (t, t0.elapsed());
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "never ended: {t}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_tool_without_credentials_fails_at_once_without_running() {
    let root = tempfile::tempdir().unwrap();
    let p =
        ServeProcess::start_without_keys(root.path(), &["--runtime", "host", "--name", "dev"], &[]);
    wait_idle(&p.url);
    let client = Client::new(root.path(), &p.url).unwrap();
    let (t, took) = run_timed(&client, json!({ "prompt": "hello" }));
    eprintln!("failed in {took:?}: {}", t["error"]);
    assert!(took < Duration::from_millis(500), "{took:?}");
    assert_eq!(t["state"], "failed");
    assert_eq!(t["error"]["type"], "tool_error");
    assert_eq!(t["error"]["details"]["reason"], "not_logged_in");
    assert_eq!(t["error"]["details"]["class"], "fatal");
    assert_eq!(t["attempts"], 0, "not run, not retried");
    let msg = t["error"]["message"].as_str().unwrap();
    assert!(msg.contains("ANTHROPIC_API_KEY"), "{msg}");
    assert!(msg.contains("`claude /login`"), "{msg}");
    assert!(
        !root.path().join(".fake-claude-calls").exists(),
        "the tool ran"
    );
    // The server said so when it became ready.
    assert!(p.log().contains("has no credentials"), "{}", p.log());

    // `warren task` shows it once, with no second hint saying the same.
    let (code, _, err) = warren(root.path(), &["task", "hello"]);
    eprintln!("warren task: {err}");
    assert_eq!(code, 1);
    assert!(err.contains("`claude` has no credentials"), "{err}");
    assert_eq!(err.matches("claude setup-token").count(), 1, "{err}");

    // A key in the task's own env counts.
    let (t, _) = run_timed(
        &client,
        json!({ "prompt": "hello", "env": { "ANTHROPIC_API_KEY": "sk-ant-task" } }),
    );
    assert_eq!(t["state"], "completed", "{}", t["error"]);
}

#[test]
fn codex_needs_codex_api_key_not_openai_api_key() {
    let root = tempfile::tempdir().unwrap();
    let codex = crate::harness::tool("codex");
    let p = ServeProcess::start_without_keys(
        root.path(),
        &["--runtime", "host", "--tool", "codex"],
        &[
            ("WARREN_TOOL_CODEX_BIN", codex.to_str().unwrap()),
            ("OPENAI_API_KEY", "sk-openai"),
        ],
    );
    wait_idle(&p.url);
    let client = Client::new(root.path(), &p.url).unwrap();
    let (t, took) = run_timed(&client, json!({ "prompt": "hello" }));
    eprintln!("codex in {took:?}: {}", t["error"]);
    assert_eq!(t["error"]["details"]["reason"], "not_logged_in", "{t}");
    assert!(
        t["error"]["message"]
            .as_str()
            .unwrap()
            .contains("set CODEX_API_KEY"),
        "{t}"
    );
}

#[test]
fn a_stored_key_or_a_login_file_counts_and_custom_tools_are_not_checked() {
    let root = tempfile::tempdir().unwrap();
    let p =
        ServeProcess::start_without_keys(root.path(), &["--runtime", "host", "--name", "dev"], &[]);
    wait_idle(&p.url);
    let client = Client::new(root.path(), &p.url).unwrap();
    // Stored under ROOT/credentials/ (as `warren` keeps keys for environments).
    let stored = root.path().join("credentials/ANTHROPIC_API_KEY");
    std::fs::write(&stored, "sk-ant-stored").unwrap();
    let (t, _) = run_timed(&client, json!({ "prompt": "hello" }));
    assert_eq!(t["state"], "completed", "stored key: {}", t["error"]);
    std::fs::remove_file(&stored).unwrap();

    // HOME is the root. Any claude run writes ~/.claude.json: not a login.
    let dot = root.path().join(".claude.json");
    std::fs::write(&dot, r#"{"firstStartTime":"2026-12-02","userID":"u1"}"#).unwrap();
    let (t, _) = run_timed(&client, json!({ "prompt": "hello" }));
    assert_eq!(t["error"]["details"]["reason"], "not_logged_in", "{t}");
    // `/login` with an API key adds `primaryApiKey`.
    std::fs::write(&dot, r#"{"userID":"u1","primaryApiKey":"sk-ant-login"}"#).unwrap();
    let (t, _) = run_timed(&client, json!({ "prompt": "hello" }));
    assert_eq!(t["state"], "completed", "~/.claude.json: {}", t["error"]);
    std::fs::remove_file(&dot).unwrap();
    // The OAuth login's file.
    std::fs::create_dir_all(root.path().join(".claude")).unwrap();
    std::fs::write(
        root.path().join(".claude/.credentials.json"),
        r#"{"claudeAiOauth":{"accessToken":"t"}}"#,
    )
    .unwrap();
    let (t, _) = run_timed(&client, json!({ "prompt": "hello" }));
    assert_eq!(t["state"], "completed", "oauth file: {}", t["error"]);
    drop(p);

    let root = tempfile::tempdir().unwrap();
    let p = ServeProcess::start_without_keys(
        root.path(),
        &[
            "--runtime",
            "host",
            "--tool",
            "custom",
            "--command",
            "echo custom {{ prompt }}",
        ],
        &[],
    );
    wait_idle(&p.url);
    let client = Client::new(root.path(), &p.url).unwrap();
    let (t, _) = run_timed(&client, json!({ "prompt": "hello" }));
    assert_eq!(
        (t["state"].as_str(), t["output"].as_str()),
        (Some("completed"), Some("custom hello")),
        "{t}"
    );
}
