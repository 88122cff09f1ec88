//! Absolute-form plain-HTTP requests: forwarded with hop-by-hop headers
//! stripped, over kept-alive upstream connections.

use std::sync::atomic::Ordering;

use warren_egress::{EgressConfig, Mode};

use crate::support::{self, get, send};

#[tokio::test]
async fn plain_http_is_forwarded_and_upstream_connections_reused() {
    let up = support::upstream(&[]).await;
    let mut config = EgressConfig::new("e", Mode::Allow(vec!["plain.test".into()]));
    config.overrides = support::overrides(&[("plain.test", up.addr)]);
    let proxy = support::proxy(config, None).await;

    let mut client = support::plain(proxy.addr).await;
    for i in 0..3 {
        let req = get(
            &format!("http://plain.test/hello/{i}?q=1"),
            &[
                ("proxy-authorization", "Basic c2VjcmV0"),
                ("proxy-connection", "keep-alive"),
                ("connection", "x-private"),
                ("x-private", "hop"),
                ("x-kept", "end-to-end"),
            ],
        );
        let (status, body) = send(&mut client, req).await;
        assert_eq!(status, 200);
        assert_eq!(body, format!("ok /hello/{i}?q=1"));
    }
    // A POST with a body streams through as well.
    let req = http::Request::post("http://plain.test/upload")
        .body(http_body_util::Full::new(hyper::body::Bytes::from_static(
            b"payload",
        )))
        .unwrap();
    let (status, body) = send(&mut client, req).await;
    assert_eq!(status, 200);
    assert_eq!(body, "ok /upload body=payload");

    let seen = up.seen();
    assert_eq!(seen.len(), 4);
    let h = &seen[0].headers;
    assert_eq!(h["host"], "plain.test");
    assert_eq!(h["x-kept"], "end-to-end");
    for gone in ["proxy-authorization", "proxy-connection", "x-private"] {
        assert!(!h.contains_key(gone), "{gone} was forwarded");
    }
    assert_eq!(seen[0].path, "/hello/0?q=1");
    assert_eq!(
        (seen[0].method.as_str(), seen[3].method.as_str()),
        ("GET", "POST")
    );
    // Four requests on one client connection: one upstream connection.
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);

    // A second client connection reuses the pooled upstream connection.
    // (Its upstream connection moves to the pool when the proxy notices the
    // client is gone.)
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut client = support::plain(proxy.addr).await;
    let (status, _) = send(&mut client, get("http://plain.test/again", &[])).await;
    assert_eq!(status, 200);
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);

    let e = proxy.log.wait_for("POST", "plain.test").await;
    assert_eq!(e.status, 200);
    assert_eq!(e.path.as_deref(), Some("/upload"));
    assert_eq!(e.bytes_up, 7);
    assert_eq!(e.bytes_down, "ok /upload body=payload".len() as u64);
    let e = proxy.log.wait_for("GET", "plain.test").await;
    // The query string is not logged.
    assert_eq!(e.path.as_deref(), Some("/hello/0"));
    assert_eq!(e.port, 80);
}
