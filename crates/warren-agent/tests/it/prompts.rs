//! Prompts of any size: a 200,000-character prompt (over Linux's 128 KiB
//! limit for one argument) reaches every tool intact, on stdin or in a
//! private file; a custom `{{ prompt }}` over the limit is refused up front.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{long_prompt, measured, server_for};

const CHARS: usize = 200_000;

#[test]
fn a_200k_prompt_reaches_every_tool_intact() {
    let prompt = long_prompt(CHARS);
    assert_eq!(prompt.chars().count(), CHARS);
    assert!(prompt.len() > 128 * 1024, "over MAX_ARG_STRLEN");
    let want = measured(&prompt);
    for tool in ["claude", "codex", "gemini", "opencode", "aider"] {
        let s = server_for(tool, |c| c.retries = 0);
        let t = s.run(&prompt);
        let output = t["output"].as_str().unwrap_or("");
        eprintln!("{tool}: {} {output:.120}", t["state"]);
        assert_eq!(t["state"], "completed", "{tool}: {}", t["error"]);
        assert!(output.contains(&want), "{tool}: {output:.300}");
        if tool == "aider" {
            // The host's prompt file is private to this user.
            assert!(output.contains("mode 600"), "{output}");
        }
        // The prompt is not on the command line (`/debug` shows the argv).
        let (_, d) = s.get(&format!("/task/{}/debug", t["task_id"].as_str().unwrap()));
        let argv = d["argv"].to_string();
        assert!(argv.len() < 1000, "{tool}: {argv}");
        assert!(!argv.contains("measure this"), "{tool}: {argv}");
    }
}

#[test]
fn custom_templates_take_a_prompt_file_and_refuse_a_long_argument() {
    let prompt = long_prompt(CHARS);
    let script = r#"printf "received %s bytes, sha256 %s, mode %s" "$(wc -c < "$1" | tr -d " ")" "$(sha256sum < "$1" | cut -d" " -f1)" "$(stat -c %a "$1")"; echo "$1" > ../prompt-path"#;
    let s = server_for("custom", |c| {
        c.tool_bin = None;
        c.template = Some(format!("sh -c '{script}' sh {{{{ prompt_file }}}}"));
    });
    let t = s.run(&prompt);
    eprintln!("prompt_file: {} {}", t["state"], t["output"]);
    assert_eq!(t["state"], "completed", "{}", t["error"]);
    assert_eq!(t["output"], format!("{}, mode 600", measured(&prompt)));
    // The file was removed after the run.
    let sessions = s.root.path().join("agents/test-agent/sessions");
    let path = std::fs::read_to_string(sessions.join("prompt-path")).unwrap();
    assert!(
        !std::path::Path::new(path.trim()).exists(),
        "{path} left behind"
    );
    drop(s);

    let s = server_for("custom", |c| {
        c.tool_bin = None;
        c.template = Some("echo {{ prompt }}".into());
    });
    s.wait_ready();
    let (code, b) = s.post("/task", json!({ "prompt": prompt }));
    eprintln!("{{{{ prompt }}}} of {} bytes: {code} {b}", prompt.len());
    assert_eq!((code, b["error"].as_str()), (400, Some("validation_error")));
    let msg = b["message"].as_str().unwrap();
    assert!(msg.contains("102400"), "says the limit: {msg}");
    assert!(msg.contains("{{ prompt_file }}"), "says how: {msg}");
    assert_eq!(s.get("/history").1["total"], 0, "no task was stored");
    // Up to the limit it still goes into argv.
    let t = s.run(&"w".repeat(100 * 1024 - 10));
    assert_eq!(t["state"], "completed", "{}", t["error"]);
}

#[test]
fn a_tool_that_exits_without_reading_stdin_is_no_trouble() {
    // Like gemini without credentials: exit 41 before reading a byte, with
    // a prompt bigger than the pipe's buffer (the write gets EPIPE).
    let s = server_for("gemini", |c| {
        c.retries = 0;
        c.tool_env.push(("FAKE_GEMINI_AUTH".into(), "none".into()));
    });
    let t0 = Instant::now();
    let t = s.run(&long_prompt(CHARS));
    eprintln!("{:?}: {} {}", t0.elapsed(), t["state"], t["error"]);
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(t["exit_code"], 41);
    assert_eq!(t["error"]["details"]["reason"], "not_logged_in", "{t}");
    // The server is fine afterwards.
    assert_eq!(s.get("/status").1["state"], "idle");
}
