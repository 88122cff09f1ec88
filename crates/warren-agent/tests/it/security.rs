//! Token on every route, public-only `/status`, DNS rebinding and
//! cross-site requests refused, secrets redacted from output and logs, and
//! no way to take the API offline with idle or slow connections.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

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
    // Pages on this machine: an agent's dev server behind warren's proxy
    // (`*.localhost`), any other local port, a same-site page.
    let port = addr.rsplit(':').next().unwrap();
    for origin in [
        format!("http://web.otter.localhost:{port}"),
        "http://otter.localhost".to_string(),
        "http://localhost:3000".to_string(),
        "http://127.0.0.1:5173".to_string(),
    ] {
        let (code, b) = raw(addr, &post(addr, &format!("Origin: {origin}\r\n")));
        eprintln!("{origin}: {code} {b}");
        assert_eq!(code, 403, "{origin}");
        assert!(b.contains("forbidden_origin"), "{b}");
    }
    let (code, _) = raw(addr, &post(addr, "Sec-Fetch-Site: same-site\r\n"));
    assert_eq!(code, 403);
    assert_eq!(s.get("/history").1["total"], 0, "no task was started");
    // The same request from the server's own origin works.
    let (code, b) = raw(addr, &post(addr, &format!("Origin: http://{addr}\r\n")));
    assert_eq!(code, 201, "{b}");
    let t = s.wait_task(
        serde_json::from_str::<serde_json::Value>(&b).unwrap()["task_id"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(t["state"], "completed");
    let (code, b) = raw(
        addr,
        &post(
            addr,
            &format!("Origin: http://localhost:{port}\r\nSec-Fetch-Site: same-origin\r\n"),
        ),
    );
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

/// Open descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn thousands_of_idle_connections_do_not_take_the_api_offline() {
    // A server limited to 1024 descriptors (a common default), and three
    // times as many idle connections: without a cap it runs out of
    // descriptors and stops accepting anyone.
    let root = tempfile::tempdir().unwrap();
    let p = ServeProcess::start_with_nofile(root.path(), &["--runtime", "host"], 1024);
    wait_idle(&p.url);
    let addr = p.url.trim_start_matches("http://").to_string();
    let t0 = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..3000 {
        idle.push(TcpStream::connect(&addr).unwrap());
    }
    eprintln!("3000 idle connections opened in {:?}", t0.elapsed());
    std::thread::sleep(Duration::from_millis(300));
    let fds = open_fds(p.pid());
    eprintln!("the server holds {fds} descriptors");
    assert!(fds < 400, "{fds} descriptors: connections are not capped");
    // A normal authenticated request is answered at once.
    let token = std::fs::read_to_string(root.path().join("credentials/agent-api.token")).unwrap();
    let client = warren_agent::director::Client::with_token(&p.url, token.trim());
    let quick: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let t1 = Instant::now();
    let answer = quick
        .get(&format!("{}/history", p.url))
        .header("Authorization", &format!("Bearer {}", token.trim()))
        .call();
    let took = t1.elapsed();
    eprintln!("GET /history answered in {took:?}: {answer:?}");
    assert_eq!(answer.map(|r| r.status().as_u16()).ok(), Some(200));
    assert!(took < Duration::from_secs(1), "{took:?}");
    let t = client.post("/task", &json!({ "prompt": "hello" })).unwrap();
    let t =
        warren_agent::director::wait(&client, t["task_id"].as_str().unwrap(), |_, _| {}).unwrap();
    assert_eq!(t.state.as_str(), "completed");
    // The oldest idle connections made room: the server closed them.
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        idle[0].read(&mut buf).unwrap_or(usize::MAX),
        0,
        "not closed"
    );
}

/// Reads until the server closes the connection; returns when it did
/// (from `since`) and what it sent.
fn until_closed(s: &mut TcpStream, since: Instant) -> (Duration, String) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    (since.elapsed(), String::from_utf8_lossy(&got).to_string())
}

#[test]
fn a_request_head_must_arrive_within_the_timeout() {
    assert_eq!(
        warren_agent::server::listener::HEADER_READ_TIMEOUT,
        Duration::from_secs(10)
    );
    let s = server(|c| c.header_read_timeout = Duration::from_secs(1));
    s.wait_ready();
    let addr = s.url.trim_start_matches("http://").to_string();
    // Silent.
    let t0 = Instant::now();
    let mut silent = TcpStream::connect(&addr).unwrap();
    // Half a request head.
    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(format!("GET /status HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
        .unwrap();
    // A byte every 200 ms: still not a head after the timeout.
    let mut slow = TcpStream::connect(&addr).unwrap();
    let trickle = {
        let mut slow = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for b in b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa" {
                if slow.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    for (what, conn) in [
        ("silent", &mut silent),
        ("half", &mut half),
        ("trickle", &mut slow),
    ] {
        let (after, sent) = until_closed(conn, t0);
        eprintln!("{what}: closed after {after:?} ({} bytes sent)", sent.len());
        assert!(
            after >= Duration::from_millis(900) && after < Duration::from_secs(3),
            "{what}: {after:?}"
        );
        assert!(!sent.contains("200 OK"), "{what}: {sent}");
    }
    let _ = trickle.join();
    // Between requests on a kept-alive connection too.
    let mut keep = TcpStream::connect(&addr).unwrap();
    keep.write_all(format!("GET /status HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let t1 = Instant::now();
    let (after, sent) = until_closed(&mut keep, t1);
    eprintln!("kept alive, then idle: closed after {after:?}");
    assert!(sent.starts_with("HTTP/1.1 200"), "{sent}");
    assert!(after >= Duration::from_millis(900) && after < Duration::from_secs(3));
    // And a complete request is answered as ever.
    assert_eq!(s.get("/status").0, 200);
}

#[test]
fn when_every_connection_is_busy_a_new_one_is_closed_at_once() {
    let s = server(|c| c.max_connections = 4);
    let v = s.submit(json!({ "prompt": "slow 20" }));
    let id = v["task_id"].as_str().unwrap().to_string();
    let addr = s.url.trim_start_matches("http://").to_string();
    // Four event streams in progress hold every slot.
    let mut streams = Vec::new();
    for _ in 0..4 {
        let mut c = TcpStream::connect(&addr).unwrap();
        c.write_all(
            format!(
                "GET /task/{id}/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\r\n",
                s.token
            )
            .as_bytes(),
        )
        .unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        let n = c.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        streams.push(c);
    }
    let t0 = Instant::now();
    let mut extra = TcpStream::connect(&addr).unwrap();
    let _ = extra.write_all(format!("GET /status HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes());
    let (after, sent) = until_closed(&mut extra, t0);
    eprintln!("a fifth connection: closed after {after:?}, answer {sent:?}");
    assert!(after < Duration::from_millis(500), "{after:?}");
    assert!(sent.is_empty(), "{sent}");
    // The streams end: the API answers again (the agent is still working).
    drop(streams);
    let t1 = Instant::now();
    loop {
        if let Ok(mut r) = s
            .http
            .get(&format!("{}/status", s.url))
            .header("Authorization", &format!("Bearer {}", s.token))
            .call()
        {
            let st: serde_json::Value = r.body_mut().read_json().unwrap();
            assert_eq!(st["state"], "working");
            break;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(5),
            "never answered again"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, _) = s.post(&format!("/task/{id}/cancel"), json!({}));
    assert_eq!(code, 202);
}
