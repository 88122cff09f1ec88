//! `warren task` through the real binary against `warren agent serve`.

use serde_json::Value;

use crate::harness::{ServeProcess, wait_idle, warren};

#[test]
fn task_finds_the_only_agent_streams_and_prints_the_session() {
    let root = tempfile::tempdir().unwrap();
    let (code, _, err) = warren(root.path(), &["task", "hello"]);
    eprintln!("no agent: {err}");
    assert_eq!(code, 1);
    assert!(err.contains("no agent server is running"), "{err}");

    let p = ServeProcess::start(root.path(), &["--runtime", "host", "--name", "dev"], &[]);
    wait_idle(&p.url);
    let (code, out, err) = warren(root.path(), &["task", "hello director"]);
    eprintln!("stdout: {out}\nstderr: {err}");
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "echo: hello director");
    assert!(
        err.contains("echo: hello director"),
        "progress streamed to stderr"
    );
    let session = err
        .lines()
        .find_map(|l| l.strip_prefix("session: "))
        .expect("session printed")
        .trim()
        .to_string();
    assert!(err.contains(&format!("warren task --agent dev --session {session}")));

    // Continue the session by name, with --json.
    let (code, out, _) = warren(
        root.path(),
        &[
            "task",
            "--agent",
            "dev",
            "--session",
            &session,
            "--json",
            "again",
        ],
    );
    assert_eq!(code, 0);
    let t: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (t["state"].as_str(), t["session_id"].as_str()),
        (Some("completed"), Some(session.as_str()))
    );

    // A failure exits 1 and says why.
    let (code, _, err) = warren(root.path(), &["task", "--agent", &p.url, "not logged in"]);
    eprintln!("failure: {err}");
    assert_eq!(code, 1);
    assert!(err.contains("Not logged in"), "{err}");

    // By URL, a second agent makes the bare form ambiguous.
    let p2 = ServeProcess::start(root.path(), &["--runtime", "host", "--name", "other"], &[]);
    wait_idle(&p2.url);
    let (code, _, err) = warren(root.path(), &["task", "hi"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("2 agent servers are running (dev, other)"),
        "{err}"
    );
    let (code, out, _) = warren(root.path(), &["task", "--agent", "other", "hi"]);
    assert_eq!((code, out.trim()), (0, "echo: hi"));
    let (code, out, _) = warren(root.path(), &["agent", "ls", "--json"]);
    assert_eq!(code, 0);
    let ls: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ls.as_array().unwrap().len(), 2);
    let (code, _, err) = warren(root.path(), &["task", "--agent", "nope", "hi"]);
    assert_eq!(code, 1);
    assert!(err.contains("no running agent named `nope`"), "{err}");
}

#[test]
fn serve_requires_an_environment_or_the_host_runtime() {
    let root = tempfile::tempdir().unwrap();
    let (code, _, err) = warren(root.path(), &["agent", "serve"]);
    eprintln!("{err}");
    assert_ne!(code, 0);
    assert!(
        err.contains("--env NAME") && err.contains("--runtime host"),
        "{err}"
    );
}
