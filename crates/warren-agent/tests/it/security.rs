//! Token on every route, public-only `/status`, DNS rebinding and
//! cross-site requests refused, secrets redacted from output and logs.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::harness::{ServeProcess, raw, server, wait_idle};

#[test]
fn every_route_needs_the_token_but_status_shows_public_fields() {
    let s = server(|_| {});
    s.wait_ready();
    let (code, st) = s.get_anon("/status");
    assert_eq!(code, 200);
    let mut keys: Vec<&str> = st.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["interfaces", "state", "type", "uptime_seconds", "version"]
    );
    let (_, st) = s.get("/status");
    assert_eq!(st["config"]["tool"], "claude", "with the token: config too");
    let addr = s.url.trim_start_matches("http://");
    for (method, path) in warren_agent::server::ROUTES {
        if *path == "/status" {
            continue;
        }
        let path = path.replace("{id}", "x");
        let req = format!(
            "{} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
            method.to_uppercase()
        );
        let (code, body) = raw(addr, &req);
        assert_eq!(code, 401, "{method} {path}: {body}");
        assert!(body.contains("unauthorized"));
        let wrong = req.replace("Host:", "Authorization: Bearer nope\r\nHost:");
        assert_eq!(
            raw(addr, &wrong).0,
            401,
            "{method} {path} with a wrong token"
        );
    }
    let (code, _) = s.get_anon(&format!("/history?token={}", s.token));
    assert_eq!(code, 200, "?token= works (dashboard bookmarks)");
    let mode = std::fs::metadata(s.root.path().join("credentials/agent-api.token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn dns_rebinding_and_cross_site_posts_are_refused() {
    let s = server(|_| {});
    s.wait_ready();
    let addr = s.url.trim_start_matches("http://");
    let body = r#"{"prompt":"hello"}"#;
    let post = |host: &str, extra: &str| {
        format!(
            "POST /task HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            s.token,
            body.len()
        )
    };
    // A page on evil.example whose name was rebound to 127.0.0.1.
    let (code, b) = raw(addr, &post("evil.example:80", ""));
    eprintln!("rebinding: {code} {b}");
    assert_eq!(code, 403);
    assert!(b.contains("forbidden_host"));
    let (code, _) = raw(
        addr,
        "GET /status HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 403, "also the public status");
    // A cross-origin form/fetch POST from a web page, even with the token.
    let (code, b) = raw(addr, &post(addr, "Origin: https://evil.example\r\n"));
    eprintln!("cross-origin: {code} {b}");
    assert_eq!(code, 403);
    assert!(b.contains("forbidden_origin"));
    let (code, _) = raw(addr, &post(addr, "Origin: null\r\n"));
    assert_eq!(code, 403);
    let (code, _) = raw(addr, &post(addr, "Sec-Fetch-Site: cross-site\r\n"));
    assert_eq!(code, 403);
    assert_eq!(s.get("/history").1["total"], 0, "no task was started");
    // The same request from a local origin works.
    let (code, b) = raw(addr, &post(addr, "Origin: http://localhost:3000\r\n"));
    assert_eq!(code, 201, "{b}");
}

#[test]
fn credential_values_are_redacted_from_output_history_and_logs() {
    let root = tempfile::tempdir().unwrap();
    let key = "sk-ant-api03-SECRETSECRET0123456789";
    let p = ServeProcess::start(
        root.path(),
        &["--runtime", "host", "--retries", "0"],
        &[("ANTHROPIC_API_KEY", key)],
    );
    wait_idle(&p.url);
    let client = warren_agent::director::Client::new(root.path(), &p.url).unwrap();
    let v = client
        .post("/task", &json!({ "prompt": "leak key" }))
        .unwrap();
    let id = v["task_id"].as_str().unwrap();
    let t = warren_agent::director::wait(&client, id, |_, _| {}).unwrap();
    eprintln!("task: {:?}", t.error);
    let all = format!(
        "{} {} {}",
        serde_json::to_string(&t).unwrap(),
        client.get(&format!("/task/{id}/debug")).unwrap(),
        client.get(&format!("/history/{id}")).unwrap()
    );
    assert!(all.contains("[REDACTED]"), "{all}");
    assert!(!all.contains(key), "the key leaked into the API: {all}");
    let log = p.log();
    eprintln!("server log:\n{log}");
    assert!(
        log.contains("invalid x-api-key: [REDACTED]"),
        "the failure is logged"
    );
    assert!(!log.contains(key));
    let db = std::fs::read(root.path().join("state.db")).unwrap();
    let wal = std::fs::read(root.path().join("state.db-wal")).unwrap_or_default();
    let needle = key.as_bytes();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "key stored in the database"
        );
    }
}
