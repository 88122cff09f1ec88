//! What a hostile client cannot do, with raw requests on real sockets:
//! route on one Host while the backend reads another (two Hosts, a Host
//! that `Connection` strips, an absolute-form target), strip the headers
//! the proxy owns, or use the proxy as a tunnel.

use std::sync::atomic::Ordering;

use crate::harness::*;

#[test]
fn ambiguous_hosts_get_400_and_reach_no_backend() {
    let mut t = TestContext::new("ambiguous_hosts_get_400_and_reach_no_backend");
    let (a, a_hits) = counting_echo(&t);
    let (b, b_hits) = counting_echo(&t);
    let p = t.proxy().port;
    t.route("a", "web", 0, a);
    t.route("b", "web", 0, b);
    let (a0, b0) = (a_hits.load(Ordering::SeqCst), b_hits.load(Ordering::SeqCst));

    for (what, request) in [
        (
            "two Host headers",
            "GET / HTTP/1.1\r\nHost: a.localhost\r\nHost: b.localhost\r\n\r\n",
        ),
        (
            "Connection: close, Host",
            "GET / HTTP/1.1\r\nHost: a.localhost\r\nConnection: close, Host\r\n\r\n",
        ),
        (
            "Connection: keep-alive,host",
            "GET / HTTP/1.1\r\nHost: a.localhost\r\nConnection: keep-alive,host\r\n\r\n",
        ),
        (
            "a list in Host",
            "GET / HTTP/1.1\r\nHost: a.localhost, b.localhost\r\nConnection: close\r\n\r\n",
        ),
        ("no Host", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
    ] {
        let answer = raw(p, request);
        t.step(&format!(
            "{what} -> {}",
            answer.lines().next().unwrap_or("")
        ));
        assert!(answer.starts_with("HTTP/1.1 400"), "{what}: {answer}");
        assert!(
            answer.contains("\"error\": \"bad_request\""),
            "{what}: {answer}"
        );
    }
    assert_eq!(a_hits.load(Ordering::SeqCst), a0, "a was not reached");
    assert_eq!(b_hits.load(Ordering::SeqCst), b0, "b was not reached");

    t.step("absolute form: routed on the target, and that is the Host forwarded");
    let answer = raw(
        p,
        &format!(
            "GET http://web.a.localhost:{p}/x HTTP/1.1\r\nHost: b.localhost\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let v = json(answer.split_once("\r\n\r\n").unwrap().1);
    assert_eq!(v["headers"]["host"], format!("web.a.localhost:{p}"), "{v}");
    assert_eq!(v["path"], "/x");
    assert_eq!(b_hits.load(Ordering::SeqCst), b0, "b was not reached");

    t.step("CONNECT is refused");
    let answer = raw(
        p,
        &format!(
            "CONNECT 127.0.0.1:{} HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
            a.port()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
}

#[test]
fn connection_cannot_strip_what_the_proxy_sets() {
    let mut t = TestContext::new("connection_cannot_strip_what_the_proxy_sets");
    let (echo, _) = counting_echo(&t);
    let p = t.proxy().port;
    t.route("otter", "web", 0, echo);
    let answer = raw(
        p,
        "GET / HTTP/1.1\r\nHost: otter.localhost\r\n\
         Connection: close, X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, X-Warren-Hops, X-Secret\r\n\
         X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Host: evil.example\r\n\
         X-Forwarded-Proto: https\r\nX-Warren-Hops: 2\r\nX-Secret: hop-by-hop\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let v = json(answer.split_once("\r\n\r\n").unwrap().1);
    let h = &v["headers"];
    t.step(&format!("backend saw {h}"));
    assert_eq!(h["host"], "otter.localhost");
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-host"], "otter.localhost");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-warren-hops"], "3");
    assert!(
        h.get("x-secret").is_none(),
        "named hop-by-hop headers go: {h}"
    );

    t.step("a loop is caught even when Connection names the hop counter");
    t.route("loop", "web", 0, format!("127.0.0.1:{p}").parse().unwrap());
    let answer = raw(
        p,
        "GET / HTTP/1.1\r\nHost: loop.localhost\r\nConnection: close, X-Warren-Hops\r\nX-Warren-Hops: 5\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 508"), "{answer}");
}
