//! Host routing, header rewriting, errors and the landing page, through
//! curl with `*.localhost` names (curl resolves them to loopback itself).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::harness::*;

#[test]
fn routes_by_service_and_default() {
    let mut t = TestContext::new("routes_by_service_and_default");
    let web = t.backend(|_, _| async { http::Response::new(full("web")) });
    let api = t.backend(|_, _| async { http::Response::new(full("api")) });
    let p = t.proxy().port;
    t.route("otter", "api", 1, api);
    t.route("otter", "web", 0, web);
    t.step("default service is the lowest ord; names are case-insensitive");
    assert_eq!(
        get(&format!("http://otter.localhost:{p}/"), &[]),
        (200, "web".into())
    );
    assert_eq!(
        get(&format!("http://web.otter.localhost:{p}/"), &[]),
        (200, "web".into())
    );
    assert_eq!(
        get(&format!("http://api.otter.localhost:{p}/x?y=1"), &[]),
        (200, "api".into())
    );
    assert_eq!(
        get(&format!("http://API.Otter.localhost:{p}/"), &[]),
        (200, "api".into())
    );
}

#[test]
fn forwarded_headers_and_host() {
    let mut t = TestContext::new("forwarded_headers_and_host");
    let echo = t.backend(echo_handler);
    let p = t.proxy().port;
    t.route("otter", "web", 0, echo);
    let (code, body) = get(
        &format!("http://web.otter.localhost:{p}/path?q=1"),
        &[
            "-H",
            "Connection: keep-alive, X-Secret",
            "-H",
            "X-Secret: hop-by-hop",
            "-H",
            "Keep-Alive: timeout=5",
            "-H",
            "Proxy-Authorization: Basic Zm9vOmJhcg==",
            "-H",
            "TE: trailers",
            "-H",
            "X-Forwarded-For: 203.0.113.7",
            "-H",
            "X-Custom: kept",
        ],
    );
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    let h = &v["headers"];
    t.step(&format!("backend saw {h}"));
    assert_eq!(v["path"], "/path?q=1");
    assert_eq!(
        h["host"],
        format!("web.otter.localhost:{p}"),
        "Host is preserved"
    );
    assert_eq!(h["x-forwarded-host"], format!("web.otter.localhost:{p}"));
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
    assert_eq!(h["x-warren-hops"], "1");
    assert_eq!(h["x-custom"], "kept");
    for gone in ["x-secret", "keep-alive", "proxy-authorization", "te"] {
        assert!(h.get(gone).is_none(), "{gone} must be stripped: {h}");
    }
}

#[test]
fn unknown_names_get_json_404() {
    let mut t = TestContext::new("unknown_names_get_json_404");
    let echo = t.backend(echo_handler);
    let p = t.proxy().port;
    t.route("otter", "web", 0, echo);
    t.route("otter", "api", 1, echo);
    t.route("badger", "web", 0, echo);
    let (code, body) = get(&format!("http://nope.localhost:{p}/"), &[]);
    assert_eq!(code, 404);
    let v = json(&body);
    assert_eq!(v["error"], "unknown_environment");
    assert_eq!(v["environments"], serde_json::json!(["badger", "otter"]));
    assert!(v["message"].as_str().unwrap().contains("nope"), "{v}");

    let (code, body) = get(&format!("http://db.otter.localhost:{p}/"), &[]);
    assert_eq!(code, 404);
    let v = json(&body);
    assert_eq!(v["error"], "unknown_service");
    assert_eq!(v["services"], serde_json::json!(["web", "api"]));
}

#[test]
fn dead_backend_gets_json_502() {
    let mut t = TestContext::new("dead_backend_gets_json_502");
    let p = t.proxy().port;
    let dead = dead_port();
    t.route("otter", "web", 0, dead);
    let (code, body) = get(&format!("http://otter.localhost:{p}/"), &[]);
    assert_eq!(code, 502, "{body}");
    let v = json(&body);
    assert_eq!(v["error"], "bad_gateway");
    assert_eq!(v["target"], dead.to_string());
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("refused"), "{msg}");
}

#[test]
fn route_to_itself_gets_508() {
    let mut t = TestContext::new("route_to_itself_gets_508");
    let p = t.proxy().port;
    t.route("loop", "web", 0, format!("127.0.0.1:{p}").parse().unwrap());
    let (code, body) = get(&format!("http://loop.localhost:{p}/"), &[]);
    assert_eq!(code, 508, "{body}");
    let v = json(&body);
    assert_eq!(v["error"], "loop_detected");
    assert_eq!(v["hops"], warren_proxy::MAX_HOPS);
}

#[test]
fn landing_page_for_own_and_foreign_hosts() {
    let mut t = TestContext::new("landing_page_for_own_and_foreign_hosts");
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    let echo = t.backend(move |r, p| {
        h.fetch_add(1, Ordering::SeqCst);
        echo_handler(r, p)
    });
    let p = t.proxy().port;
    t.route("otter", "web", 0, echo);
    t.route("otter", "api", 1, echo);
    let mut labelled = t.store().routes_of("otter").unwrap()[1].clone();
    labelled.service = "docs".into();
    labelled.ord = 2;
    labelled.label = Some("<b>Docs & \"more\"</b>".into());
    t.store().add_route(&labelled).unwrap();
    wait_until(Duration::from_secs(5), || {
        curl(&["-s", &format!("http://localhost:{p}/")]).contains("docs")
    });
    let before = hits.load(Ordering::SeqCst);

    for host in [
        None,
        Some("localhost"),
        Some("127.0.0.1"),
        Some("evil.example"),
        Some("otter.localhost.evil.example"),
    ] {
        let mut args = vec![
            "-s".to_string(),
            "-i".to_string(),
            format!("http://127.0.0.1:{p}/"),
        ];
        match host {
            // `Host:` with no value makes curl send no Host header at all.
            None => args.extend(["-H".into(), "Host:".into()]),
            Some(h) => args.extend(["-H".into(), format!("Host: {h}")]),
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let page = curl(&args);
        t.step(&format!("Host {host:?} -> landing page"));
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("text/html"), "{page}");
        assert!(
            page.contains(&format!("<a href=\"http://web.otter.localhost:{p}/\">")),
            "{page}"
        );
        assert!(
            page.contains(&format!("<a href=\"http://api.otter.localhost:{p}/\">")),
            "{page}"
        );
        assert!(
            page.contains(&format!(
                "<a href=\"http://otter.localhost:{p}/\">otter</a>"
            )),
            "{page}"
        );
        assert!(
            page.contains("&lt;b&gt;Docs &amp; &quot;more&quot;&lt;/b&gt;"),
            "label is escaped: {page}"
        );
        assert!(!page.contains("<b>Docs"), "{page}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "foreign hosts are never forwarded"
    );
    // [::1] names the proxy too, even though it listens on IPv4 only here.
    let page = curl(&[
        "-s",
        &format!("http://127.0.0.1:{p}/"),
        "-H",
        &format!("Host: [::1]:{p}"),
    ]);
    assert!(page.contains("warren proxy"), "{page}");
}

#[test]
fn route_changes_apply_without_restart() {
    let mut t = TestContext::new("route_changes_apply_without_restart");
    let a = t.backend(|_, _| async { http::Response::new(full("a")) });
    let b = t.backend(|_, _| async { http::Response::new(full("b")) });
    let info = t.proxy();
    let p = info.port;
    let url = format!("http://otter.localhost:{p}/");
    assert_eq!(get(&url, &[]).0, 404);
    t.step("add");
    t.route("otter", "web", 0, a);
    assert_eq!(get(&url, &[]), (200, "a".into()));
    t.step("retarget");
    t.store()
        .set_routes(
            "otter",
            &[warren_store::Route {
                env: "otter".into(),
                service: "web".into(),
                ord: 0,
                target_host: "127.0.0.1".into(),
                target_port: b.port(),
                inner_port: None,
                label: None,
            }],
        )
        .unwrap();
    wait_until(Duration::from_secs(5), || get(&url, &[]).1 == "b");
    t.step("remove");
    t.store().remove_routes("otter").unwrap();
    wait_until(Duration::from_secs(5), || get(&url, &[]).0 == 404);
    assert_eq!(t.proxy_pid(), info.pid);
    assert!(warren_proxy_alive(info.pid), "same proxy all along");
}

#[test]
fn python_http_server_backend() {
    let mut t = TestContext::new("python_http_server_backend");
    let site = t.dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("hello.txt"), "hello from python\n").unwrap();
    let port = dead_port().port();
    t.spawn(
        std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(&site)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let p = t.proxy().port;
    t.route("py", "web", 0, format!("127.0.0.1:{port}").parse().unwrap());
    t.step("two requests on one client connection to an HTTP/1.0 backend");
    let out = curl_output(&[
        "-sv",
        &format!("http://py.localhost:{p}/hello.txt"),
        &format!("http://py.localhost:{p}/hello.txt"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout, "hello from python\nhello from python\n");
    assert!(
        stderr.contains("< HTTP/1.1 200"),
        "answers in the client's version: {stderr}"
    );
    assert!(
        stderr.contains("Re-using existing connection"),
        "client keep-alive: {stderr}"
    );
}

#[test]
fn busybox_httpd_backend() {
    let mut t = TestContext::new("busybox_httpd_backend");
    let Ok(busybox) = which("busybox") else {
        eprintln!("SKIP: busybox not installed");
        return;
    };
    let site = t.dir.path().join("www");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<h1>busybox</h1>\n").unwrap();
    let port = dead_port().port();
    t.spawn(std::process::Command::new(busybox).args([
        "httpd",
        "-f",
        "-p",
        &format!("127.0.0.1:{port}"),
        "-h",
        site.to_str().unwrap(),
    ]));
    wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let p = t.proxy().port;
    t.route("bb", "web", 0, format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(
        get(&format!("http://bb.localhost:{p}/"), &[]),
        (200, "<h1>busybox</h1>\n".into())
    );
}

pub fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
