//! Keep-alive on both sides and bodies streamed both ways: chunked
//! download, chunked upload observed chunk by chunk, a 100 MiB upload that
//! must not be buffered, and SSE events that arrive one at a time.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Bytes;

use crate::harness::*;

#[test]
fn keep_alive_both_sides() {
    let mut t = TestContext::new("keep_alive_both_sides");
    let echo = t.backend(echo_handler);
    let p = t.proxy().port;
    t.route("otter", "web", 0, echo);
    let url = format!("http://otter.localhost:{p}/");
    let out = curl_output(&["-sv", "-w", "\n", &url, &url, &url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Re-using existing connection"),
        "client side: {stderr}"
    );
    let peers: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| json(l)["peer"].as_str().unwrap().to_string())
        .collect();
    t.step(&format!("backend saw peers {peers:?}"));
    assert_eq!(peers.len(), 3);
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "one pooled upstream connection: {peers:?}"
    );
}

#[test]
fn chunked_download() {
    let mut t = TestContext::new("chunked_download");
    let backend = t.backend(|_, _| async {
        let (tx, body) = channel_body();
        tokio::spawn(async move {
            for i in 0..200u8 {
                if tx.send(Bytes::from(vec![b'a' + i % 26; 8192])).is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
        });
        http::Response::new(body)
    });
    let p = t.proxy().port;
    t.route("otter", "web", 0, backend);
    let out = curl_output(&["-sv", &format!("http://otter.localhost:{p}/big")]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
    assert!(stderr.contains("< transfer-encoding: chunked"), "{stderr}");
    assert_eq!(out.stdout.len(), 200 * 8192);
    assert!(out.stdout[..8192].iter().all(|&b| b == b'a'));
    assert!(
        out.stdout[199 * 8192..]
            .iter()
            .all(|&b| b == b'a' + 199 % 26)
    );
}

/// A backend that reads uploads frame by frame, reporting the running
/// total after each frame, and answers with the total.
fn counting_backend(t: &TestContext) -> (std::net::SocketAddr, mpsc::Receiver<u64>) {
    let (seen_tx, seen_rx) = mpsc::channel::<u64>();
    let seen_tx = Arc::new(Mutex::new(seen_tx));
    let addr = t.backend(move |req, _| {
        let seen = Arc::clone(&seen_tx);
        async move {
            let chunked = req
                .headers()
                .get("transfer-encoding")
                .is_some_and(|v| v == "chunked");
            let mut body = req.into_body();
            let mut total = 0u64;
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(d) = frame.data_ref() {
                    total += d.len() as u64;
                    let _ = seen.lock().unwrap().send(total);
                }
            }
            http::Response::new(full(format!("{total} chunked={chunked}")))
        }
    });
    (addr, seen_rx)
}

#[test]
fn chunked_upload_streams_chunk_by_chunk() {
    let mut t = TestContext::new("chunked_upload_streams_chunk_by_chunk");
    let (backend, seen) = counting_backend(&t);
    let p = t.proxy().port;
    t.route("otter", "web", 0, backend);
    let mut curl = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "30",
            "-T",
            "-",
            &format!("http://otter.localhost:{p}/upload"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = curl.stdin.take().unwrap();
    const CHUNK: usize = 64 << 10;
    for i in 1..=5u64 {
        stdin.write_all(&vec![b'x'; CHUNK]).unwrap();
        stdin.flush().unwrap();
        // The backend must see this chunk before the client sends the next:
        // a proxy that buffered the request body would stall here.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let total = seen.recv_timeout(left).unwrap_or_else(|_| {
                panic!("chunk {i} did not reach the backend while the upload was open")
            });
            if total >= i * CHUNK as u64 {
                break;
            }
        }
        t.step(&format!(
            "backend has chunk {i} while the client is still sending"
        ));
    }
    drop(stdin);
    let out = curl.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{} chunked=true", 5 * CHUNK)
    );
}

#[test]
fn large_upload_is_not_buffered() {
    let mut t = TestContext::new("large_upload_is_not_buffered");
    let (backend, seen) = counting_backend(&t);
    let info = t.proxy();
    t.route("otter", "web", 0, backend);
    let before = peak_rss_kib(info.pid);
    const MIB: usize = 1 << 20;
    const TOTAL: usize = 100;
    let mut curl = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "120",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            "@-",
            &format!("http://otter.localhost:{}/upload", info.port),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = curl.stdin.take().unwrap();
    let drain = std::thread::spawn(move || while seen.recv().is_ok() {});
    let block = vec![b'z'; MIB];
    let start = Instant::now();
    for _ in 0..TOTAL {
        stdin.write_all(&block).unwrap();
    }
    drop(stdin);
    let out = curl.wait_with_output().unwrap();
    let elapsed = start.elapsed();
    let after = peak_rss_kib(info.pid);
    t.step(&format!(
        "100 MiB in {elapsed:?}; proxy peak RSS {before} KiB -> {after} KiB"
    ));
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.starts_with(&format!("{} ", TOTAL * MIB)), "{body}");
    assert!(
        after - before < 32 * 1024,
        "proxy grew by {} KiB: the upload was buffered",
        after - before
    );
    drop(drain);
}

#[test]
fn sse_events_arrive_one_by_one() {
    let mut t = TestContext::new("sse_events_arrive_one_by_one");
    // The backend sends event N only after the test has seen event N-1.
    let (gate_tx, gate_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let gate = Arc::new(Mutex::new(Some(gate_rx)));
    let backend = t.backend(move |_, _| {
        let gate = gate.lock().unwrap().take();
        async move {
            let (tx, body) = channel_body();
            if let Some(mut gate) = gate {
                tokio::spawn(async move {
                    for i in 0..5 {
                        if gate.recv().await.is_none() {
                            return;
                        }
                        let event = format!("id: {i}\nevent: tick\ndata: event {i}\n\n");
                        if tx.send(Bytes::from(event)).is_err() {
                            return;
                        }
                    }
                });
            }
            http::Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(body)
                .unwrap()
        }
    });
    let p = t.proxy().port;
    let store = t.store();
    store
        .add_route(&warren_store::Route {
            env: "otter".into(),
            service: "events".into(),
            ord: 0,
            target_host: "127.0.0.1".into(),
            target_port: backend.port(),
            inner_port: None,
            label: None,
        })
        .unwrap();
    wait_until(Duration::from_secs(5), || {
        get(&format!("http://localhost:{p}/"), &[])
            .1
            .contains("events.otter")
    });
    let mut curl = Command::new("curl")
        .args([
            "-sN",
            "--max-time",
            "20",
            "-H",
            "Accept: text/event-stream",
            &format!("http://events.otter.localhost:{p}/stream"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(curl.stdout.take().unwrap()).lines();
    for i in 0..5 {
        let sent = Instant::now();
        gate_tx.send(()).unwrap();
        loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("stream ended before event {i} (buffered?)"))
                .unwrap();
            if line == format!("data: event {i}") {
                break;
            }
        }
        t.step(&format!(
            "event {i} observed {:?} after it was released",
            sent.elapsed()
        ));
    }
    drop(gate_tx);
    let status = curl.wait().unwrap();
    assert!(status.success(), "curl: {status}");
}
