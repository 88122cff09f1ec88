//! Hosts and addresses the proxy refuses, and what it says.

use warren_egress::{EgressConfig, Mode};

use crate::support::{self, connect, get, send};

#[tokio::test]
async fn a_host_not_allowed_gets_403_naming_it_and_the_config_line() {
    let config = EgressConfig::new(
        "fluffy-otter",
        Mode::Allow(vec!["api.anthropic.com".into()]),
    );
    let proxy = support::proxy(config, None).await;

    let c = connect(proxy.addr, "registry.example.com:443").await;
    eprintln!("CONNECT refusal: {}", c.body);
    assert_eq!(c.status, 403);
    assert_eq!(
        c.body,
        "warren: egress to registry.example.com is not allowed for environment fluffy-otter\n\
         hint: add it to .warren.yaml: egress: {allow: [\"registry.example.com\"]}\n"
    );

    let mut client = support::plain(proxy.addr).await;
    let (status, body) = send(&mut client, get("http://registry.example.com/pkg", &[])).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("egress to registry.example.com is not allowed"),
        "{body}"
    );
    assert!(body.contains("allow: [\"registry.example.com\"]"), "{body}");

    let entries = proxy.log.entries();
    assert_eq!(entries.len(), 2);
    for e in &entries {
        assert_eq!(e.host, "registry.example.com");
        assert_eq!(e.status, 403);
        assert!(!e.allowed);
        assert_eq!(e.reason.as_deref(), Some("not in the allow-list"));
    }
    assert_eq!(entries[1].method, "GET");
    assert_eq!(entries[1].path.as_deref(), Some("/pkg"));
}

#[tokio::test]
async fn private_loopback_and_metadata_addresses_are_refused_even_when_allowed() {
    let up = support::upstream(&["localhost"]).await;
    let port = up.addr.port();
    // `localhost` is allowed by name but resolves to loopback.
    let config = EgressConfig::new("e", Mode::Allow(vec!["localhost".into(), "*.test".into()]));
    let proxy = support::proxy(config, None).await;
    let c = connect(proxy.addr, &format!("localhost:{port}")).await;
    eprintln!("{}", c.body);
    assert_eq!(c.status, 403);
    assert!(c.body.contains("a loopback address"), "{}", c.body);

    // Open mode: every public host, but no address that is not public.
    let open = support::proxy(EgressConfig::new("e", Mode::Open), None).await;
    for target in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
        "169.254.169.254:80".to_string(),
        "[fd00:ec2::254]:80".to_string(),
        "10.0.0.1:443".to_string(),
        "192.168.1.1:443".to_string(),
        "100.64.0.1:443".to_string(),
        "0.0.0.0:443".to_string(),
        "[fe80::1]:443".to_string(),
    ] {
        let c = connect(open.addr, &target).await;
        eprintln!("{target}: {} {}", c.status, c.body.trim_end());
        assert_eq!(c.status, 403, "{target}");
        assert!(
            c.body.contains("connects only to public addresses"),
            "{}",
            c.body
        );
    }
    assert_eq!(up.connections.load(std::sync::atomic::Ordering::SeqCst), 0);
    let metadata = open.log.wait_for("CONNECT", "169.254.169.254").await;
    assert!(!metadata.allowed);
    assert!(metadata.reason.unwrap().contains("link-local"));

    // Plain HTTP is held to the same rule.
    let mut client = support::plain(open.addr).await;
    let (status, body) = send(
        &mut client,
        get("http://169.254.169.254/latest/meta-data/", &[]),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // An override (tests only) points a name at a local server and skips the
    // check, for that name only.
    let mut config = EgressConfig::new("e", Mode::Open);
    config.overrides = support::overrides(&[("localhost", up.addr)]);
    let overridden = support::proxy(config, None).await;
    assert_eq!(connect(overridden.addr, "localhost:443").await.status, 200);
    assert_eq!(
        connect(overridden.addr, &format!("127.0.0.1:{port}"))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn ip_literals_are_refused_unless_listed_literally() {
    let config = EgressConfig::new(
        "e",
        Mode::Allow(vec!["example.com".into(), "*.example.com".into()]),
    );
    let proxy = support::proxy(config, None).await;
    let c = connect(proxy.addr, "93.184.215.14:443").await;
    assert_eq!(c.status, 403);
    assert!(
        c.body
            .contains("an IP address is reached only when listed literally"),
        "{}",
        c.body
    );
    assert!(c.body.contains("allow: [\"93.184.215.14\"]"), "{}", c.body);
    let c = connect(proxy.addr, "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443").await;
    assert_eq!(c.status, 403);
    let entry = proxy.log.wait_for("CONNECT", "93.184.215.14").await;
    assert_eq!(
        entry.reason.as_deref(),
        Some("IP address not listed literally")
    );
}

#[tokio::test]
async fn malformed_proxy_requests_get_400() {
    let proxy = support::proxy(EgressConfig::new("e", Mode::Open), None).await;
    let c = connect(proxy.addr, "no-port.example.com").await;
    assert_eq!(c.status, 400);
    let mut client = support::plain(proxy.addr).await;
    // Origin-form: not a proxy request at all.
    let (status, body) = send(&mut client, get("/", &[("host", "x")])).await;
    assert_eq!(status, 400);
    assert!(body.contains("egress proxy"), "{body}");
}
