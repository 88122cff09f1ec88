//! Granted hosts: TLS interception with a leaf from warren's CA, the
//! placeholder swapped for the real credential, a verified TLS connection
//! upstream, and no secret in any log entry.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use warren_egress::{Ca, EgressConfig, Grant, Mode, builtin_grant};

use crate::support::{self, Upstream, ca_der, connect, get, https, send};

const ANTHROPIC_KEY: &str = "sk-ant-real-secret-0123456789";
const GH_TOKEN: &str = "ghp_realtoken0123456789abcdef";

struct Setup {
    up: Upstream,
    ca: Arc<Ca>,
    proxy: support::Proxy,
    _dir: tempfile::TempDir,
    anthropic_ph: String,
    github_ph: String,
}

/// The built-in anthropic and github grants, their hosts pointed at one
/// local HTTPS server whose own CA the proxy trusts for upstream TLS.
async fn setup(trust_upstream: bool) -> Setup {
    let up = support::upstream(&["api.anthropic.com", "github.com", "api.github.com"]).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Arc::new(Ca::load_or_create(dir.path()).unwrap());
    let anthropic = builtin_grant("anthropic").unwrap();
    let github = builtin_grant("github").unwrap();
    let mut config = EgressConfig::new("fluffy-otter", Mode::Allow(vec![]));
    config.grants = anthropic.grants(ANTHROPIC_KEY, &anthropic.placeholder());
    config
        .grants
        .extend(github.grants(GH_TOKEN, &github.placeholder()));
    config.overrides = support::overrides(&[
        ("api.anthropic.com", up.addr),
        ("github.com", up.addr),
        ("api.github.com", up.addr),
    ]);
    if trust_upstream {
        config.upstream_roots = vec![up.ca.clone().unwrap()];
    }
    let proxy = support::proxy(config, Some(Arc::clone(&ca))).await;
    Setup {
        up,
        ca,
        proxy,
        _dir: dir,
        anthropic_ph: anthropic.placeholder(),
        github_ph: github.placeholder(),
    }
}

fn assert_no_secret(s: &Setup) {
    for e in s.proxy.log.entries() {
        let text = format!("{e:?}");
        assert!(
            !text.contains(ANTHROPIC_KEY) && !text.contains(GH_TOKEN),
            "{text}"
        );
    }
}

#[tokio::test]
async fn granted_requests_get_the_real_credential() {
    let s = setup(true).await;
    let c = connect(s.proxy.addr, "api.anthropic.com:443").await;
    assert_eq!(c.status, 200, "{}", c.body);
    // The client trusts only warren's CA: the leaf must chain to it and name
    // the host.
    let mut client = https(c.stream.unwrap(), "api.anthropic.com", &ca_der(&s.ca))
        .await
        .unwrap();
    let ph = s.anthropic_ph.as_str();
    let cases: [(&str, &[(&str, &str)]); 4] = [
        ("/v1/messages", &[("x-api-key", ph), ("x-echo", ph)]),
        ("/v1/models", &[]),
        ("/v1/own", &[("x-api-key", "sk-their-own-key")]),
        ("/v1/bearer", &[("authorization", &format!("Bearer {ph}"))]),
    ];
    for (path, headers) in cases {
        let (status, body) = send(&mut client, get(path, headers)).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body, format!("ok {path}"));
    }
    let seen = s.up.seen();
    assert_eq!(seen.len(), 4);
    // The placeholder became the key; the header was added when absent.
    assert_eq!(seen[0].headers["x-api-key"], ANTHROPIC_KEY);
    assert_eq!(seen[1].headers["x-api-key"], ANTHROPIC_KEY);
    // The environment's own different key is left alone.
    assert_eq!(seen[2].headers["x-api-key"], "sk-their-own-key");
    // Authorization carries credentials too; other headers are not
    // rewritten (a server echoing them would hand the secret back).
    assert_eq!(
        seen[3].headers["authorization"],
        format!("Bearer {ANTHROPIC_KEY}").as_str()
    );
    assert_eq!(seen[0].headers["x-echo"], ph);
    assert_eq!(seen[0].headers["host"], "api.anthropic.com");
    // Four requests, one upstream connection.
    assert_eq!(s.up.connections.load(Ordering::SeqCst), 1);

    drop(client);
    let e = s.proxy.log.wait_for("GET", "api.anthropic.com").await;
    assert_eq!(e.grant.as_deref(), Some("anthropic"));
    assert_eq!(e.path.as_deref(), Some("/v1/messages"));
    assert_eq!(e.status, 200);
    assert_eq!(e.bytes_down, "ok /v1/messages".len() as u64);
    assert!(e.allowed);
    for _ in 0..100 {
        if s.proxy.log.entries().len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        s.proxy.log.entries().len(),
        4,
        "{:?}",
        s.proxy.log.entries()
    );
    assert_no_secret(&s);
}

#[tokio::test]
async fn git_style_basic_credentials_are_rewritten_inside_the_encoding() {
    let s = setup(true).await;
    let c = connect(s.proxy.addr, "github.com:443").await;
    assert_eq!(c.status, 200);
    let mut client = https(c.stream.unwrap(), "github.com", &ca_der(&s.ca))
        .await
        .unwrap();
    let basic = format!(
        "Basic {}",
        B64.encode(format!("x-access-token:{}", s.github_ph))
    );
    let path = "/owner/repo.git/info/refs?service=git-upload-pack";
    let (status, _) = send(&mut client, get(path, &[("authorization", &basic)])).await;
    assert_eq!(status, 200);
    let (status, _) = send(&mut client, get("/owner/repo.git/HEAD", &[])).await;
    assert_eq!(status, 200);

    // The API host of the same grant takes a Bearer token.
    let c = connect(s.proxy.addr, "api.github.com:443").await;
    let mut api = https(c.stream.unwrap(), "api.github.com", &ca_der(&s.ca))
        .await
        .unwrap();
    let bearer = format!("Bearer {}", s.github_ph);
    let (status, _) = send(&mut api, get("/user", &[("authorization", &bearer)])).await;
    assert_eq!(status, 200);
    let (status, _) = send(&mut api, get("/rate_limit", &[])).await;
    assert_eq!(status, 200);

    let want_basic = format!("Basic {}", B64.encode(format!("x-access-token:{GH_TOKEN}")));
    let seen = s.up.seen();
    assert_eq!(seen[0].headers["authorization"], want_basic.as_str());
    assert_eq!(seen[1].headers["authorization"], want_basic.as_str());
    assert_eq!(
        seen[2].headers["authorization"],
        format!("Bearer {GH_TOKEN}").as_str()
    );
    assert_eq!(
        seen[3].headers["authorization"],
        format!("Bearer {GH_TOKEN}").as_str()
    );
    drop((client, api));
    let e = s.proxy.log.wait_for("GET", "github.com").await;
    assert_eq!(e.grant.as_deref(), Some("github"));
    assert_eq!(e.path.as_deref(), Some("/owner/repo.git/info/refs"));
    assert_no_secret(&s);
}

/// Runs curl through `proxy`, trusting only `ca_file`, off the test's
/// runtime thread (the proxy runs on it).
async fn curl(proxy: std::net::SocketAddr, ca_file: &std::path::Path, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-sS",
        "--fail-with-body",
        "--proxy",
        &format!("http://{proxy}"),
        "--cacert",
    ])
    .arg(ca_file)
    .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("curl runs"))
        .await
        .unwrap();
    eprintln!("curl {args:?}: {out:?}");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn curl_through_the_proxy_trusting_only_warren_ca() {
    let s = setup(true).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, s.ca.cert_pem()).unwrap();
    let api_key = format!("x-api-key: {}", s.anthropic_ph);
    let out = curl(
        s.proxy.addr,
        &ca_file,
        &["-H", &api_key, "https://api.anthropic.com/v1/curl"],
    )
    .await;
    assert_eq!(out, "ok /v1/curl");
    // git's way: a token as the Basic password.
    let user = format!("x-access-token:{}", s.github_ph);
    let out = curl(
        s.proxy.addr,
        &ca_file,
        &["-u", &user, "https://github.com/owner/repo.git/info/refs"],
    )
    .await;
    assert_eq!(out, "ok /owner/repo.git/info/refs");
    let seen = s.up.seen();
    assert_eq!(seen[0].headers["x-api-key"], ANTHROPIC_KEY);
    let want_basic = format!("Basic {}", B64.encode(format!("x-access-token:{GH_TOKEN}")));
    assert_eq!(seen[1].headers["authorization"], want_basic.as_str());
    assert_no_secret(&s);
}

#[tokio::test]
async fn the_intercepted_connection_serves_only_its_own_host() {
    let s = setup(true).await;
    // The TLS server name must be the CONNECT target.
    let c = connect(s.proxy.addr, "api.anthropic.com:443").await;
    let err = https(c.stream.unwrap(), "github.com", &ca_der(&s.ca)).await;
    assert!(err.is_err());
    let e = s.proxy.log.wait_for("CONNECT", "api.anthropic.com").await;
    assert_eq!(e.status, 400);
    assert!(
        e.reason
            .unwrap()
            .contains("differs from the CONNECT target")
    );

    // A request naming another host inside the tunnel: 421, not forwarded.
    let c = connect(s.proxy.addr, "api.anthropic.com:443").await;
    let mut client = https(c.stream.unwrap(), "api.anthropic.com", &ca_der(&s.ca))
        .await
        .unwrap();
    let (status, body) = send(&mut client, get("/", &[("host", "github.com")])).await;
    assert_eq!(status, 421, "{body}");
    let (status, _) = send(
        &mut client,
        get("https://github.com/x", &[("host", "github.com")]),
    )
    .await;
    assert_eq!(status, 421);
    assert!(s.up.seen().is_empty());
    let e = s.proxy.log.wait_for("GET", "api.anthropic.com").await;
    assert_eq!(e.status, 421);
    assert!(!e.allowed);

    // A client that does not trust warren's CA gives up; that is logged.
    let c = connect(s.proxy.addr, "github.com:443").await;
    let err = https(c.stream.unwrap(), "github.com", s.up.ca.as_ref().unwrap()).await;
    assert!(err.is_err());
    let e = s.proxy.log.wait_for("CONNECT", "github.com").await;
    assert!(e.reason.unwrap().contains("does it trust warren's CA"));
}

#[tokio::test]
async fn an_upstream_certificate_that_does_not_verify_is_a_502() {
    let s = setup(false).await;
    let c = connect(s.proxy.addr, "api.anthropic.com:443").await;
    let mut client = https(c.stream.unwrap(), "api.anthropic.com", &ca_der(&s.ca))
        .await
        .unwrap();
    let (status, body) = send(&mut client, get("/v1/messages", &[])).await;
    eprintln!("{body}");
    assert_eq!(status, 502);
    assert!(body.contains("certificate"), "{body}");
    assert!(!body.contains(ANTHROPIC_KEY));
    assert!(s.up.seen().is_empty());
    drop(client);
    let e = s.proxy.log.wait_for("GET", "api.anthropic.com").await;
    assert_eq!(e.status, 502);
    assert!(e.reason.unwrap().contains("certificate"));
    assert_no_secret(&s);
}

#[tokio::test]
async fn plain_http_to_a_granted_host_gets_the_credential_too() {
    let up = support::upstream(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Arc::new(Ca::load_or_create(dir.path()).unwrap());
    let mut config = EgressConfig::new("e", Mode::Allow(vec![]));
    config.grants = vec![Grant {
        name: "internal".into(),
        hosts: vec!["plain-granted.test".into()],
        header: "authorization".into(),
        value: "Bearer tok-real-secret".into(),
        secret: "tok-real-secret".into(),
        placeholder: "warren-placeholder-internal".into(),
    }];
    config.overrides = support::overrides(&[("plain-granted.test", up.addr)]);
    let proxy = support::proxy(config, Some(ca)).await;
    let mut client = support::plain(proxy.addr).await;
    let req = get(
        "http://plain-granted.test/x",
        &[("authorization", "Bearer warren-placeholder-internal")],
    );
    assert_eq!(send(&mut client, req).await.0, 200);
    assert_eq!(
        send(&mut client, get("http://plain-granted.test/y", &[]))
            .await
            .0,
        200
    );
    let seen = up.seen();
    assert_eq!(seen[0].headers["authorization"], "Bearer tok-real-secret");
    assert_eq!(seen[1].headers["authorization"], "Bearer tok-real-secret");
    let e = proxy.log.wait_for("GET", "plain-granted.test").await;
    assert_eq!(e.grant.as_deref(), Some("internal"));
    assert!(!format!("{:?}", proxy.log.entries()).contains("tok-real-secret"));
}

#[tokio::test]
async fn a_client_not_speaking_tls_to_a_granted_host_gets_a_plain_tunnel() {
    // git over ssh (or anything not TLS) to a granted host: tunnelled as is,
    // without the credential.
    let up = support::upstream(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Arc::new(Ca::load_or_create(dir.path()).unwrap());
    let anthropic = builtin_grant("anthropic").unwrap();
    let mut config = EgressConfig::new("e", Mode::Allow(vec![]));
    config.grants = anthropic.grants(ANTHROPIC_KEY, &anthropic.placeholder());
    config.overrides = support::overrides(&[("api.anthropic.com", up.addr)]);
    let proxy = support::proxy(config, Some(ca)).await;
    let c = connect(proxy.addr, "api.anthropic.com:22").await;
    assert_eq!(c.status, 200);
    let mut stream = c.stream.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /raw HTTP/1.1\r\nHost: api.anthropic.com\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    assert!(out.ends_with("ok /raw"), "{out}");
    assert!(!up.seen()[0].headers.contains_key("x-api-key"));
    // The tunnel ends (and is logged) when both sides are done.
    drop(stream);
    let e = proxy.log.wait_for("CONNECT", "api.anthropic.com").await;
    assert_eq!(e.status, 200);
    assert_eq!(e.port, 22);
    assert!(e.bytes_down > 0);
}
