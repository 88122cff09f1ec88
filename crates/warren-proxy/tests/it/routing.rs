//! Host routing, header rewriting, errors and the landing page, through
//! curl with `*.localhost` names (curl resolves them to loopback itself).

use std::sync::atomic::Ordering;
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
fn landing_page_for_own_names_bare_404_for_foreign_ones() {
    let mut t = TestContext::new("landing_page_for_own_names_bare_404_for_foreign_ones");
    let (echo, hits) = counting_echo(&t);
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
    let backend_port = echo.port().to_string();

    for host in [
        "localhost",
        "127.0.0.1",
        &format!("localhost:{p}"),
        &format!("[::1]:{p}"),
    ] {
        let page = curl(&[
            "-s",
            "-i",
            &format!("http://127.0.0.1:{p}/"),
            "-H",
            &format!("Host: {host}"),
        ]);
        t.step(&format!("Host {host} -> landing page"));
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("text/html"), "{page}");
        for needle in [
            format!("<a href=\"http://web.otter.localhost:{p}/\">"),
            format!("<a href=\"http://api.otter.localhost:{p}/\">"),
            format!("<a href=\"http://otter.localhost:{p}/\">otter</a>"),
            "&lt;b&gt;Docs &amp; &quot;more&quot;&lt;/b&gt;".to_string(),
        ] {
            assert!(page.contains(&needle), "no {needle} in {page}");
        }
        assert!(!page.contains("<b>Docs"), "label is escaped: {page}");
        assert!(
            !page.contains(&backend_port),
            "names and links only, no backend port: {page}"
        );
    }

    for host in [
        "evil.example",
        "otter.localhost.evil.example",
        "127.0.0.2",
        "localhost.evil.example:80",
    ] {
        let page = curl(&[
            "-s",
            "-i",
            &format!("http://127.0.0.1:{p}/"),
            "-H",
            &format!("Host: {host}"),
        ]);
        t.step(&format!("Host {host} -> bare 404"));
        assert!(page.starts_with("HTTP/1.1 404"), "{page}");
        assert!(page.contains("text/plain"), "{page}");
        let body = page.split_once("\r\n\r\n").unwrap().1;
        assert_eq!(body, "404 not found\n", "lists nothing");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "foreign hosts are never forwarded"
    );
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
        crate::harness::skip("busybox is not installed");
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
