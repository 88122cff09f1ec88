//! Allowed hosts that are not granted: CONNECT becomes a byte tunnel.

use warren_egress::{EgressConfig, Mode};

use crate::support::{self, connect, get, https, send};

#[tokio::test]
async fn allowed_connect_tunnels_to_a_tls_server_untouched() {
    let up = support::upstream(&["allowed.test"]).await;
    let mut config = EgressConfig::new("fluffy-otter", Mode::Allow(vec!["allowed.test".into()]));
    config.overrides = support::overrides(&[("allowed.test", up.addr)]);
    let proxy = support::proxy(config, None).await;

    let c = connect(proxy.addr, "allowed.test:443").await;
    assert_eq!(c.status, 200, "{}", c.body);
    // The client verifies the upstream's own certificate: the proxy did not
    // touch the TLS inside the tunnel.
    let mut client = https(c.stream.unwrap(), "allowed.test", up.ca.as_ref().unwrap())
        .await
        .unwrap();
    for i in 0..3 {
        let (status, body) = send(
            &mut client,
            get(&format!("/n/{i}"), &[("host", "allowed.test")]),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body, format!("ok /n/{i}"));
    }
    drop(client);
    let entry = proxy.log.wait_for("CONNECT", "allowed.test").await;
    eprintln!("tunnel entry: {entry:?}");
    assert_eq!(entry.status, 200);
    assert_eq!(entry.port, 443);
    assert!(entry.allowed);
    assert_eq!(entry.path, None);
    assert!(entry.bytes_up > 300 && entry.bytes_down > 300, "{entry:?}");
    assert_eq!(up.connections.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn wildcard_patterns_allow_subdomains_not_the_apex() {
    let up = support::upstream(&["a.b.allowed.test"]).await;
    let mut config = EgressConfig::new("e", Mode::Allow(vec!["*.allowed.test".into()]));
    config.overrides =
        support::overrides(&[("a.b.allowed.test", up.addr), ("allowed.test", up.addr)]);
    let proxy = support::proxy(config, None).await;
    assert_eq!(
        connect(proxy.addr, "A.B.Allowed.Test.:443").await.status,
        200
    );
    let apex = connect(proxy.addr, "allowed.test:443").await;
    assert_eq!(apex.status, 403);
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_is_a_502() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = EgressConfig::new("e", Mode::Open);
    config.overrides = support::overrides(&[("down.test", port)]);
    let proxy = support::proxy(config, None).await;
    let c = connect(proxy.addr, "down.test:443").await;
    assert_eq!(c.status, 502);
    assert!(c.body.contains("cannot reach down.test:443"), "{}", c.body);
    let entry = proxy.log.wait_for("CONNECT", "down.test").await;
    assert_eq!(entry.status, 502);
    assert!(entry.allowed);
    assert!(entry.reason.unwrap().contains("connect failed"));
}
