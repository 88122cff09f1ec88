//! The proxy's log says what happened in plain words, each line with an
//! RFC 3339 time: what it routes, a backend going down and coming back, an
//! environment stopping, the signal that stopped it.

use std::process::{Command, Stdio};
use std::time::Duration;

use warren_core::{EnvState, RuntimeKind};
use warren_store::NewEnvironment;

use crate::harness::*;

#[test]
fn the_log_says_what_happened() {
    let mut t = TestContext::new("the_log_says_what_happened");
    let p = t.proxy().port;
    let store = t.store();
    store
        .insert_environment(&NewEnvironment {
            name: "otter".into(),
            project: "proj".into(),
            project_path: "/src/proj".into(),
            worktree: "/w/proj/otter".into(),
            branch: "warren/otter".into(),
            env_type: None,
            runtime: RuntimeKind::Docker,
            config_hash: "h".into(),
            spec: "{}".into(),
        })
        .unwrap();
    store.set_state("otter", EnvState::Running).unwrap();
    let dead = dead_port();
    t.route("otter", "web", 0, dead);
    let url = format!("http://otter.localhost:{p}/");
    t.step("the backend is down, twice");
    assert_eq!(get(&url, &[]).0, 502);
    assert_eq!(get(&url, &[]).0, 502);
    t.step("it comes up");
    let site = t.dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "up\n").unwrap();
    t.spawn(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &dead.port().to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(&site)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_until(Duration::from_secs(10), || get(&url, &[]).0 == 200);
    t.step("it stops, and the proxy is stopped");
    store.set_state("otter", EnvState::Stopped).unwrap();
    wait_until(Duration::from_secs(5), || get(&url, &[]).0 == 503);
    warren_proxy::stop(&t.root(), Duration::from_secs(5)).unwrap();

    let log = std::fs::read_to_string(warren_proxy::log_path(&t.root())).unwrap();
    t.step(&format!("proxy log:\n{log}"));
    let lines: Vec<&str> = log.lines().collect();
    for line in &lines {
        // `2026-12-02T18:37:32.374890Z  INFO …`, as the CLI's subscriber writes.
        let time = line.split_whitespace().next().unwrap_or("");
        assert!(
            time.len() >= 20 && time.as_bytes()[10] == b'T' && time.ends_with('Z'),
            "no RFC 3339 time: {line}"
        );
    }
    let expect = [
        format!("listening on http://127.0.0.1:{p} ("),
        "holding at most".to_string(),
        format!("otter is routed: web -> {dead}"),
        "now routing 1 service of 1 environment".to_string(),
        format!("web.otter at {dead} is not answering (Connection refused"),
        format!("web.otter at {dead} answers again"),
        "otter is stopped: its route is not served".to_string(),
        "stopping: received SIGTERM".to_string(),
    ];
    let mut at = 0;
    for e in &expect {
        let found = lines[at..]
            .iter()
            .position(|l| l.contains(e.as_str()))
            .unwrap_or_else(|| panic!("no `{e}` after line {at} in\n{log}"));
        at += found + 1;
    }
    let down = lines
        .iter()
        .filter(|l| l.contains("is not answering"))
        .count();
    assert_eq!(down, 1, "said once, not at every request:\n{log}");
}
